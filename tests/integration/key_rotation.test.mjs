// Signing keys rotated ahead of use: `keys rotate --activate-in` and [oauth]
// key_rotation_interval publish the new key in /jwks first and sign with it only later, so that
// a relying party that keeps the key set it fetched (openid-client, for one) never meets a kid
// it does not have. The old key signs until then and stays published after.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { decodeJwt, waitFor } from '../support/harness.mjs';
import { makeClient, setup, tokenRequest } from '../support/fixtures.mjs';

const servers = [];
after(async () => { await Promise.all(servers.map((s) => s.close())); });

async function start(env = {}) {
  const server = await setup({ env });
  servers.push(server);
  const client = await makeClient(server, {
    grants: ['client_credentials'], redirectUris: [], scope: 'data.read',
  });
  return { server, client };
}

// The kid of a new access token (ES256, RFC 9068).
async function tokenKid(server, client) {
  const r = await tokenRequest(server, client, { grant_type: 'client_credentials', scope: 'data.read' });
  assert.equal(r.status, 200, r.text);
  return decodeJwt(r.json().access_token).header.kid;
}

async function publishedKids(server) {
  const jwks = await (await fetch(server.url('/jwks'))).json();
  return new Set(jwks.keys.map((k) => k.kid));
}

test('keys rotate --activate-in: published at once, signs only from then on', async () => {
  const { server, client } = await start();
  const oldKid = await tokenKid(server, client);
  const out = server.cliJson(['keys', 'rotate', '--alg', 'ES256', '--activate-in', '3']);
  const next = out.rotated[0];
  assert.equal(next.alg, 'ES256');
  assert.ok(next.activates_at >= Math.floor(Date.now() / 1000) + 2, JSON.stringify(out));
  assert.ok((await publishedKids(server)).has(next.kid), 'in /jwks before it signs');
  assert.equal(await tokenKid(server, client), oldKid, 'the old key still signs');
  const listed = server.cliJson(['keys', 'list']);
  assert.equal(listed.find((k) => k.kid === next.kid).activates_at, next.activates_at);
  assert.equal(listed.find((k) => k.kid === oldKid).retired_at, next.activates_at);

  await waitFor(async () => (await tokenKid(server, client)) === next.kid,
                { what: 'the new key signing after --activate-in' });
  assert.ok((await publishedKids(server)).has(oldKid), 'the old key stays published');

  for (const bad of [['--activate-in', '-1'], ['--activate-in', 'soon']]) {
    const r = server.cli(['keys', 'rotate', ...bad]);
    assert.notEqual(r.status, 0, bad.join(' '));
  }
});

test('on schedule: every key_rotation_interval, a successor published key_publish_ahead before it signs', async () => {
  const { server, client } = await start({
    // Published 3 s ahead: the clock counts whole seconds, so a key made late in a second
    // signs a little under 3 s later (the key ring switches at activates_at itself).
    INFOBANK_OAUTH_KEY_ROTATION_INTERVAL: '4', INFOBANK_OAUTH_KEY_PUBLISH_AHEAD: '3',
    INFOBANK_OAUTH_SWEEP_INTERVAL: '1',
  });
  const first = await tokenKid(server, client);
  // Every kid seen in /jwks, with when it was first seen; then the first token of a new key.
  const seen = new Map();
  let successor;
  await waitFor(async () => {
    for (const kid of await publishedKids(server)) if (!seen.has(kid)) seen.set(kid, Date.now());
    const kid = await tokenKid(server, client);
    if (kid !== first) successor = kid;
    return Boolean(successor);
  }, { what: 'a token signed by the scheduled successor', deadlineMs: 30_000 });
  assert.ok(seen.has(successor), 'the successor was in /jwks before it signed anything');
  assert.ok(Date.now() - seen.get(successor) >= 1000,
            `published ${Date.now() - seen.get(successor)} ms before it signed, not ahead`);
  const rotated = server.cliJson(['keys', 'list']).find((k) => k.kid === successor);
  assert.equal(rotated.activates_at - rotated.created_at, 3, 'published 3 s ahead');
  assert.ok((await publishedKids(server)).has(first), 'the old key stays published');
  assert.match(server.log, /signing key rotated on schedule/);
});

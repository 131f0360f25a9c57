// RFC 7662 token introspection and RFC 7009 token revocation.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { postForm } from '../support/harness.mjs';
import {
  clientPost, getTokens, introspect, jwks, makeClient, metricCounter, setup, tokenRequest,
} from '../support/fixtures.mjs';
import { verifyJwt } from '../support/jose.mjs';

let server;
let client;
before(async () => {
  server = await setup();
  client = await makeClient(server);
});
after(async () => { await server?.close(); });

// RFC 9701: a JWT signed for the client, when its Accept header asks for one.
test('a signed introspection answer when asked for one (RFC 9701)', async () => {
  const t = await getTokens(server, client);
  const accept = { accept: 'application/token-introspection+jwt' };
  const r = await clientPost(server, client, '/introspect', { token: t.body.access_token }, accept);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('content-type'), 'application/token-introspection+jwt');
  assert.match(r.headers.get('cache-control') ?? '', /no-store/);
  const { header, payload } = await verifyJwt(r.text, await jwks(server));
  assert.equal(header.typ, 'token-introspection+jwt');
  assert.equal(payload.iss, server.base);
  assert.equal(payload.aud, client.client_id);
  assert.equal(payload.token_introspection.active, true);
  assert.equal(payload.token_introspection.sub, server.resident.sub);
  assert.deepEqual(payload.token_introspection, await introspect(server, client, t.body.access_token));
  // Errors stay the plain JSON error.
  const other = await makeClient(server);
  const bad = await postForm(server.url('/introspect'), { token: t.body.access_token },
    { headers: { ...accept, authorization: `Basic ${Buffer.from(`${other.client_id}:wrong`).toString('base64')}` } });
  assert.equal(bad.status, 401);
  assert.equal(bad.json().error, 'invalid_client');
});

const revoke = (c, token, hint) => clientPost(server, c, '/revoke', { token, token_type_hint: hint });

test('active access and refresh tokens (RFC 7662 §2.2)', async () => {
  const t = await getTokens(server, client);
  const at = await introspect(server, client, t.body.access_token);
  assert.equal(at.active, true);
  assert.equal(at.client_id, client.client_id);
  assert.equal(at.sub, server.resident.sub);
  assert.equal(at.iss, server.base);
  assert.ok(at.scope.split(' ').includes('openid'));
  assert.ok(at.exp > Date.now() / 1000);
  const rt = await introspect(server, client, t.body.refresh_token, 'refresh_token');
  assert.equal(rt.active, true);
  // A wrong hint only slows the lookup (RFC 7662 §2.1).
  assert.equal((await introspect(server, client, t.body.access_token, 'refresh_token')).active, true);
});

test('unknown and garbage tokens are inactive, with nothing else said', async () => {
  for (const token of ['nope', 'a.b.c', 'x'.repeat(2000)]) {
    const r = await introspect(server, client, token);
    assert.deepEqual(r, { active: false });
  }
});

test('introspection requires client authentication', async () => {
  const t = await getTokens(server, client);
  const r = await postForm(server.url('/introspect'), { token: t.body.access_token });
  assert.equal(r.status, 401);
  assert.ok(!r.text.includes('"active":true'));
  const bad = await postForm(server.url('/introspect'), { token: t.body.access_token, client_id: client.client_id, client_secret: 'wrong' });
  assert.equal(bad.status, 401);
  assert.equal(bad.json().error, 'invalid_client');
});

// What discovery advertises for each endpoint (discovery.test.mjs): a public client revokes its
// own tokens (RFC 7009 §2.1) but introspects nothing.
test('a public client may revoke its tokens but not introspect them', async () => {
  const pub = await makeClient(server, { auth: 'none' });
  const t = await getTokens(server, pub);
  const r = await clientPost(server, pub, '/introspect', { token: t.body.access_token });
  assert.equal(r.status, 401);
  assert.equal(r.json().error, 'invalid_client');
  assert.equal((await revoke(pub, t.body.refresh_token, 'refresh_token')).status, 200);
  const ref = await tokenRequest(server, pub, { grant_type: 'refresh_token', refresh_token: t.body.refresh_token });
  assert.equal(ref.status, 400, 'revoked');
  assert.equal(ref.json().error, 'invalid_grant');
});

test('revoking a refresh token ends it and the grant (RFC 7009 §2.1)', async () => {
  const t = await getTokens(server, client);
  const r = await revoke(client, t.body.refresh_token, 'refresh_token');
  assert.equal(r.status, 200);
  assert.equal((await introspect(server, client, t.body.refresh_token)).active, false);
  const ref = await tokenRequest(server, client, { grant_type: 'refresh_token', refresh_token: t.body.refresh_token });
  assert.equal(ref.status, 400);
  assert.equal(ref.json().error, 'invalid_grant');
});

test('revoking an access token makes introspection say inactive (RFC 7009 §2, SHOULD)', async () => {
  const t = await getTokens(server, client);
  assert.equal((await revoke(client, t.body.access_token, 'access_token')).status, 200);
  assert.equal((await introspect(server, client, t.body.access_token)).active, false);
});

test('unknown tokens and unknown hints still answer 200 (RFC 7009 §2.2)', async () => {
  assert.equal((await revoke(client, 'no-such-token')).status, 200);
  const t = await getTokens(server, client);
  assert.equal((await revoke(client, t.body.refresh_token, 'something_else')).status, 200);
  assert.equal((await introspect(server, client, t.body.refresh_token)).active, false);
});

test("a client cannot revoke another client's token", async () => {
  const other = await makeClient(server);
  const t = await getTokens(server, client);
  const r = await revoke(other, t.body.refresh_token);
  assert.ok([200, 400].includes(r.status));
  assert.equal((await introspect(server, client, t.body.refresh_token)).active, true, 'nothing changed');
});

test('revocation requires client authentication', async () => {
  const t = await getTokens(server, client);
  const r = await postForm(server.url('/revoke'), { token: t.body.refresh_token });
  assert.equal(r.status, 401);
  assert.equal(r.json().error, 'invalid_client');
  assert.equal((await introspect(server, client, t.body.refresh_token)).active, true);
});

// An introspection answer read once is given again from memory on SQLite, while no write that a
// token's answer depends on has committed; a change made by another process (the CLI removing
// the token's client) is seen at once, not after some delay.
test('answers kept in memory end with any change, also one made by another process', async () => {
  const counter = (name) => metricCounter(server, name);
  const metric = 'infobank_introspections_from_memory_total';
  const owner = await makeClient(server, {
    auth: 'client_secret_basic', grants: ['client_credentials'], redirectUris: [], scope: 'data.read',
  });
  const issued = await tokenRequest(server, owner, { grant_type: 'client_credentials' });
  assert.equal(issued.status, 200, issued.text);
  const token = issued.json().access_token;
  const first = await introspect(server, client, token);
  assert.equal(first.active, true);
  assert.equal(first.client_id, owner.client_id);
  const before = await counter(metric);
  // Tokens issued meanwhile only add rows: the kept answer stays good.
  assert.equal((await tokenRequest(server, owner, { grant_type: 'client_credentials' })).status, 200);
  assert.deepEqual(await introspect(server, client, token), first);
  assert.deepEqual(await introspect(server, client, token), first);
  const kept = await counter(metric);
  if (server.backend === 'sqlite') assert.ok(kept - before >= 1, `from memory: ${kept - before} of 2`);
  else assert.equal(kept, before, 'PostgreSQL gives no signal of other nodes\' writes: never kept');

  const removed = server.cli(['client', 'remove', owner.client_id]);
  assert.equal(removed.status, 0, removed.stderr);
  assert.deepEqual(await introspect(server, client, token), { active: false });
  assert.equal(await counter(metric), kept);
});

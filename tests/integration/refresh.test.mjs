// RFC 6749 §6 refresh; RFC 9700 §4.14.2 refresh token rotation with reuse detection.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { getTokens, introspect, makeClient, setup, tokenRequest } from '../support/fixtures.mjs';

let server;
before(async () => { server = await setup(); });
after(async () => { await server?.close(); });

const refresh = (client, token, extra = {}) =>
  tokenRequest(server, client, { grant_type: 'refresh_token', refresh_token: token, ...extra });

for (const auth of ['client_secret_basic', 'none']) {
  test(`rotation (${auth}): each refresh returns a new refresh token and retires the old one`, async () => {
    const client = await makeClient(server, { auth });
    const t = await getTokens(server, client);
    const r1 = await refresh(client, t.body.refresh_token);
    assert.equal(r1.status, 200, r1.text);
    const b1 = r1.json();
    assert.ok(b1.access_token);
    assert.ok(b1.refresh_token);
    assert.notEqual(b1.refresh_token, t.body.refresh_token, 'rotated');
    assert.match(r1.headers.get('cache-control') ?? '', /no-store/);

    const r2 = await refresh(client, b1.refresh_token);
    assert.equal(r2.status, 200, r2.text);
  });
}

test('reuse of a rotated refresh token revokes the whole family (RFC 9700 §4.14.2)', async () => {
  const client = await makeClient(server);
  const t = await getTokens(server, client);
  const old = t.body.refresh_token;
  const b1 = (await refresh(client, old)).json();
  assert.ok(b1.refresh_token);

  const replay = await refresh(client, old);
  assert.equal(replay.status, 400);
  assert.equal(replay.json().error, 'invalid_grant');

  const current = await refresh(client, b1.refresh_token);
  assert.equal(current.status, 400, 'the newest refresh token of the family is revoked too');
  assert.equal(current.json().error, 'invalid_grant');
  assert.equal((await introspect(server, client, b1.refresh_token)).active, false);
});

test('scope may narrow but not widen on refresh (RFC 6749 §6)', async () => {
  const client = await makeClient(server);
  const t = await getTokens(server, client, { scope: 'openid profile offline_access' });
  const wide = await refresh(client, t.body.refresh_token, { scope: 'openid profile email offline_access' });
  assert.equal(wide.status, 400);
  assert.equal(wide.json().error, 'invalid_scope');
  // A refused request must not have consumed the refresh token.
  const narrow = await refresh(client, t.body.refresh_token, { scope: 'openid' });
  assert.equal(narrow.status, 200, narrow.text);
  const at = JSON.parse(Buffer.from(narrow.json().access_token.split('.')[1], 'base64url'));
  assert.equal(at.scope, 'openid');
});

test('a refresh token is bound to its client', async () => {
  const a = await makeClient(server);
  const b = await makeClient(server);
  const t = await getTokens(server, a);
  const r = await refresh(b, t.body.refresh_token);
  assert.equal(r.status, 400);
  assert.equal(r.json().error, 'invalid_grant');
  assert.equal((await refresh(a, t.body.refresh_token)).status, 200, 'still valid for its owner');
});

test('no refresh token without offline_access', async () => {
  const client = await makeClient(server);
  const t = await getTokens(server, client, { scope: 'openid profile' });
  assert.equal(t.body.refresh_token, undefined);
});

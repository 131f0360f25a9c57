// OpenID Connect Core §5.3 UserInfo with RFC 6750 bearer tokens.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { postForm, request } from '../support/harness.mjs';
import { getTokens, makeClient, setup, tokenRequest } from '../support/fixtures.mjs';

let server;
let client;
let tokens;
before(async () => {
  server = await setup();
  client = await makeClient(server);
  tokens = (await getTokens(server, client)).body;
});
after(async () => { await server?.close(); });

const bearer = (t) => ({ authorization: `Bearer ${t}` });

test('GET and POST with a bearer token return the resident\'s claims', async () => {
  const g = await request(server.url('/userinfo'), { headers: bearer(tokens.access_token) });
  assert.equal(g.status, 200, g.text);
  assert.match(g.headers.get('content-type') ?? '', /^application\/json/);
  const claims = g.json();
  assert.equal(claims.sub, server.resident.sub);
  assert.equal(claims.name, 'Alice Example', 'profile scope');
  assert.equal(claims.email, 'alice@example.test', 'email scope');
  const p = await request(server.url('/userinfo'), { method: 'POST', headers: bearer(tokens.access_token) });
  assert.equal(p.status, 200);
  assert.equal(p.json().sub, server.resident.sub);
});

test('only the claims of the granted scopes', async () => {
  const t = (await getTokens(server, client, { scope: 'openid' })).body;
  const r = await request(server.url('/userinfo'), { headers: bearer(t.access_token) });
  assert.equal(r.status, 200);
  const c = r.json();
  assert.equal(c.sub, server.resident.sub);
  assert.equal(c.email, undefined);
  assert.equal(c.name, undefined);
});

test('no token: 401 with WWW-Authenticate: Bearer (RFC 6750 §3)', async () => {
  const r = await request(server.url('/userinfo'));
  assert.equal(r.status, 401);
  assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/i);
});

test('invalid or tampered token: 401 invalid_token', async () => {
  const parts = tokens.access_token.split('.');
  const payload = JSON.parse(Buffer.from(parts[1], 'base64url'));
  payload.sub = 'someone-else';
  const forged = `${parts[0]}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${parts[2]}`;
  for (const t of ['garbage', forged, `${parts[0]}.${parts[1]}.`]) {
    const r = await request(server.url('/userinfo'), { headers: bearer(t) });
    assert.equal(r.status, 401);
    assert.match(r.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  }
});

test('access token in the URL query is not accepted (RFC 9700 §4.3.2, RFC 6750 §2.3)', async () => {
  const r = await request(server.url(`/userinfo?access_token=${encodeURIComponent(tokens.access_token)}`));
  assert.ok([400, 401].includes(r.status), `status ${r.status}`);
  assert.ok(!r.text.includes(server.resident.sub));
});

test('a client_credentials token (no resident, no openid) gets no userinfo', async () => {
  const cc = await makeClient(server, { grants: ['client_credentials'], redirectUris: [], scope: 'data.read' });
  const t = (await tokenRequest(server, cc, { grant_type: 'client_credentials' })).json();
  const r = await request(server.url('/userinfo'), { headers: bearer(t.access_token) });
  assert.ok([401, 403].includes(r.status), `status ${r.status}`);
});

test('a revoked access token gets no userinfo', async () => {
  const t = (await getTokens(server, client)).body;
  await postForm(server.url('/revoke'), { token: t.access_token, client_id: client.client_id, client_secret: client.client_secret });
  const r = await request(server.url('/userinfo'), { headers: bearer(t.access_token) });
  assert.equal(r.status, 401);
});

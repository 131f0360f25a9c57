// RFC 6749 §4.1.3/§4.4/§5 token endpoint: authorization_code and client_credentials with each
// client authentication method; RFC 9068 JWT access tokens; OIDC Core §2 ID tokens.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { basicAuth, decodeJwt, postForm } from '../support/harness.mjs';
import {
  RESIDENT, clientPost, getCode, getTokens, jwks, makeClient, metricCounter, setup, tokenRequest,
} from '../support/fixtures.mjs';
import { verifyJwt } from '../support/jose.mjs';

let server;
before(async () => { server = await setup(); });
after(async () => { await server?.close(); });

function assertTokenHeaders(r) {
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  assert.match(r.headers.get('cache-control') ?? '', /no-store/, 'RFC 6749 §5.1');
}

async function assertAccessToken(at, { sub, clientId, scope }) {
  const { header, payload } = await verifyJwt(at, await jwks(server));
  assert.ok(['at+jwt', 'application/at+jwt'].includes(header.typ), `typ ${header.typ} (RFC 9068 §2.1)`);
  assert.equal(payload.iss, server.base);
  assert.equal(payload.client_id, clientId);
  if (sub) assert.equal(payload.sub, sub);
  assert.ok(payload.aud, 'aud (RFC 9068 §2.2)');
  assert.ok(payload.jti);
  assert.ok(Number.isInteger(payload.iat) && Number.isInteger(payload.exp) && payload.exp > payload.iat);
  if (scope) assert.deepEqual(payload.scope.split(' ').sort(), scope.split(' ').sort());
  return payload;
}

for (const auth of ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']) {
  test(`authorization_code with ${auth}`, async () => {
    const client = await makeClient(server, { auth });
    if (auth.startsWith('client_secret')) assert.ok(client.client_secret);
    else assert.equal(client.client_secret, undefined, 'no secret for ' + auth);
    const t = await getTokens(server, client);
    assertTokenHeaders(t.response);
    const b = t.body;
    assert.equal(b.token_type.toLowerCase(), 'bearer');
    assert.ok(Number.isInteger(b.expires_in) && b.expires_in > 0);
    assert.ok(b.refresh_token, 'offline_access + refresh_token grant → refresh token');
    const at = await assertAccessToken(b.access_token, { sub: server.resident.sub, clientId: client.client_id });
    assert.ok(at.scope.split(' ').includes('openid'));

    const id = await verifyJwt(b.id_token, await jwks(server));
    assert.equal(id.payload.iss, server.base);
    assert.equal(id.payload.sub, server.resident.sub);
    const aud = [].concat(id.payload.aud);
    assert.ok(aud.includes(client.client_id));
    assert.equal(id.payload.nonce, t.params.nonce);
    assert.ok(Number.isInteger(id.payload.auth_time));
    assert.ok(id.payload.exp > id.payload.iat);
    assert.notEqual(id.header.typ, 'at+jwt', 'an ID token is not an access token (RFC 9068 §4)');
  });
}

test('client_credentials with private_key_jwt and with client_secret_basic', async () => {
  for (const auth of ['private_key_jwt', 'client_secret_basic']) {
    const client = await makeClient(server, {
      auth, grants: ['client_credentials'], redirectUris: [], scope: 'data.read data.write',
      extra: ['--audience', 'https://rs.example.test'],
    });
    const r = await tokenRequest(server, client, { grant_type: 'client_credentials', scope: 'data.read' });
    assert.equal(r.status, 200, r.text);
    assertTokenHeaders(r);
    const b = r.json();
    assert.equal(b.refresh_token, undefined, 'RFC 6749 §4.4.3: no refresh token');
    assert.equal(b.id_token, undefined);
    const at = await assertAccessToken(b.access_token, { sub: client.client_id, clientId: client.client_id, scope: 'data.read' });
    assert.ok([].concat(at.aud).includes('https://rs.example.test'));

    const bad = await tokenRequest(server, client, { grant_type: 'client_credentials', scope: 'data.admin' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json().error, 'invalid_scope');
  }
});

// A client_credentials token is issued on the I/O thread once its client is cached (the first
// request reads it from storage on a worker); either way the answer is the same, and the token
// is stored before it is answered: introspection finds it at once.
test('client_credentials tokens are issued without a worker once the client is cached', async () => {
  const counter = (name) => metricCounter(server, name);
  const client = await makeClient(server, {
    auth: 'client_secret_basic', grants: ['client_credentials'], redirectUris: [], scope: 'data.read',
  });
  const before = await counter('infobank_tokens_issued_on_io_thread_total');
  const tokens = [];
  for (let i = 0; i < 3; i++) {
    const r = await tokenRequest(server, client, { grant_type: 'client_credentials' });
    assert.equal(r.status, 200, r.text);
    assertTokenHeaders(r);
    tokens.push(r.json().access_token);
    const shown = await clientPost(server, client, '/introspect', { token: r.json().access_token });
    assert.equal(shown.json().active, true);
    assert.equal(shown.json().client_id, client.client_id);
  }
  assert.equal(new Set(tokens).size, 3);
  const after = await counter('infobank_tokens_issued_on_io_thread_total');
  // The first read the new client from storage; the next two (within the cache's 2 s) did not.
  assert.ok(after - before >= 2, `issued on the I/O thread: ${after - before} of 3`);
  // A wrong secret for the cached client is refused there too, and stores nothing.
  const wrong = await tokenRequest(server, { ...client, client_secret: 'not-the-secret' },
                                   { grant_type: 'client_credentials' });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.json().error, 'invalid_client');
  assert.equal(await counter('infobank_tokens_issued_on_io_thread_total'), after);
});

test('a public client cannot use client_credentials', async () => {
  const client = await makeClient(server, { auth: 'none' });
  const r = await tokenRequest(server, client, { grant_type: 'client_credentials' });
  assert.ok([400, 401].includes(r.status));
  assert.ok(['unauthorized_client', 'invalid_client'].includes(r.json().error));
});

test('grant types the client may not use: unauthorized_client', async () => {
  const client = await makeClient(server, { grants: ['authorization_code'] });
  const r = await tokenRequest(server, client, { grant_type: 'client_credentials' });
  assert.equal(r.status, 400);
  assert.equal(r.json().error, 'unauthorized_client');
});

test('password and implicit-style grants are unsupported_grant_type', async () => {
  const client = await makeClient(server);
  for (const g of ['password', 'urn:example:unknown']) {
    const r = await tokenRequest(server, client, { grant_type: g, username: RESIDENT.username, password: RESIDENT.password });
    assert.equal(r.status, 400, g);
    assertTokenHeaders(r);
    assert.equal(r.json().error, 'unsupported_grant_type', g);
  }
});

test('invalid_grant: unknown code, code of another client, redirect_uri differs', async () => {
  const a = await makeClient(server);
  const b = await makeClient(server);
  let r = await tokenRequest(server, a, { grant_type: 'authorization_code', code: 'nope', redirect_uri: a.redirectUri, code_verifier: 'x'.repeat(43) });
  assert.equal(r.status, 400);
  assert.equal(r.json().error, 'invalid_grant');

  const c = await getCode(server, a);
  r = await tokenRequest(server, b, { grant_type: 'authorization_code', code: c.code, redirect_uri: a.redirectUri, code_verifier: c.verifier });
  assert.equal(r.status, 400);
  assert.equal(r.json().error, 'invalid_grant', 'RFC 6749 §4.1.3: code bound to the client');

  const d = await getCode(server, a);
  r = await tokenRequest(server, a, { grant_type: 'authorization_code', code: d.code, redirect_uri: a.redirectUri + 'x', code_verifier: d.verifier });
  assert.equal(r.status, 400);
  assert.equal(r.json().error, 'invalid_grant', 'RFC 6749 §4.1.3: redirect_uri must match');
});

test('missing parameters: invalid_request', async () => {
  const client = await makeClient(server);
  const r = await tokenRequest(server, client, { grant_type: 'authorization_code' });
  assert.equal(r.status, 400);
  assert.equal(r.json().error, 'invalid_request');
  const r2 = await tokenRequest(server, client, {});
  assert.equal(r2.status, 400);
  assert.equal(r2.json().error, 'invalid_request');
});

test('invalid_client: 401 with WWW-Authenticate when Basic was used (RFC 6749 §5.2)', async () => {
  const client = await makeClient(server);
  const r = await postForm(server.url('/token'), { grant_type: 'client_credentials' },
    { headers: { authorization: basicAuth(client.client_id, 'not-the-secret') } });
  assert.equal(r.status, 401);
  assert.equal(r.json().error, 'invalid_client');
  assert.match(r.headers.get('www-authenticate') ?? '', /^Basic/i);
});

test('two client authentication methods at once: invalid_request (RFC 6749 §2.3)', async () => {
  const client = await makeClient(server);
  const r = await postForm(server.url('/token'), {
    grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret,
  }, { headers: { authorization: basicAuth(client.client_id, client.client_secret) } });
  assert.ok([400, 401].includes(r.status));
  assert.ok(['invalid_request', 'invalid_client'].includes(r.json().error));
});

test('access token is a JWT whose header names a published key', async () => {
  const client = await makeClient(server);
  const t = await getTokens(server, client);
  const { header } = decodeJwt(t.body.access_token);
  assert.equal(header.alg, 'ES256');
  const set = await jwks(server);
  assert.ok(set.keys.some((k) => k.kid === header.kid));
});

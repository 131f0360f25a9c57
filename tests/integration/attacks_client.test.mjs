// RFC 9700 §4.x client impersonation and hostile input at the back-channel endpoints:
// wrong secrets, forged client assertions (RFC 7523 §3), malformed bodies, wrong content
// types, repeated parameters (RFC 6749 §3.2) and oversize bodies. Nothing may change.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { basicAuth, formBody, postForm, request } from '../support/harness.mjs';
import { getCode, introspect, makeClient, setup, tokenRequest } from '../support/fixtures.mjs';
import { ASSERTION_TYPE, clientAssertion, generateKey, now } from '../support/jose.mjs';

let server;
let jwtClient;
let secretClient;
before(async () => {
  server = await setup();
  jwtClient = await makeClient(server, { auth: 'private_key_jwt', grants: ['client_credentials', 'authorization_code'] });
  secretClient = await makeClient(server, { auth: 'client_secret_post', grants: ['client_credentials', 'authorization_code', 'refresh_token'] });
});
after(async () => { await server?.close(); });

const tokenUrl = () => server.url('/token');

async function assertionRequest(assertion, clientId = jwtClient.client_id) {
  return postForm(tokenUrl(), { grant_type: 'client_credentials', client_id: clientId,
    client_assertion_type: ASSERTION_TYPE, client_assertion: assertion });
}

function assertInvalidClient(r, what) {
  assert.equal(r.status, 401, `${what}: ${r.text}`);
  assert.equal(r.json().error, 'invalid_client', what);
  assert.equal(r.json().access_token, undefined);
}

test('wrong client secret (basic and post): invalid_client', async () => {
  assertInvalidClient(await postForm(tokenUrl(), { grant_type: 'client_credentials' },
    { headers: { authorization: basicAuth(secretClient.client_id, secretClient.client_secret + 'x') } }), 'basic');
  assertInvalidClient(await postForm(tokenUrl(), { grant_type: 'client_credentials',
    client_id: secretClient.client_id, client_secret: secretClient.client_secret.slice(0, -1) }), 'post');
  assertInvalidClient(await postForm(tokenUrl(), { grant_type: 'client_credentials',
    client_id: secretClient.client_id }), 'no secret');
});

test('private_key_jwt control: a good assertion works', async () => {
  const md = await server.metadata();
  const r = await assertionRequest(await clientAssertion(jwtClient.key, { clientId: jwtClient.client_id, audience: md.issuer }));
  assert.equal(r.status, 200, r.text);
});

test('private_key_jwt signed by another key, or otherwise forged: invalid_client', async () => {
  const md = await server.metadata();
  const other = await generateKey();
  const cases = {
    'other key': await clientAssertion(other, { clientId: jwtClient.client_id, audience: md.issuer }),
    'other key, same kid': await clientAssertion(other, { clientId: jwtClient.client_id, audience: md.issuer, header: { kid: jwtClient.key.kid } }),
    'wrong aud': await clientAssertion(jwtClient.key, { clientId: jwtClient.client_id, audience: 'https://attacker.example.test' }),
    expired: await clientAssertion(jwtClient.key, { clientId: jwtClient.client_id, audience: md.issuer, overrides: { iat: now() - 600, exp: now() - 300 } }),
    'iss differs': await clientAssertion(jwtClient.key, { clientId: jwtClient.client_id, audience: md.issuer, overrides: { iss: secretClient.client_id } }),
    'alg none': `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: jwtClient.client_id, sub: jwtClient.client_id, aud: md.issuer, exp: now() + 60, jti: 'x' })).toString('base64url')}.`,
    'HS256 with the public key': await (async () => {
      const { createHmac } = await import('node:crypto');
      const h = Buffer.from('{"alg":"HS256"}').toString('base64url');
      const p = Buffer.from(JSON.stringify({ iss: jwtClient.client_id, sub: jwtClient.client_id, aud: md.issuer, exp: now() + 60, jti: 'y' })).toString('base64url');
      const sig = createHmac('sha256', JSON.stringify(jwtClient.key.jwk)).update(`${h}.${p}`).digest('base64url');
      return `${h}.${p}.${sig}`;
    })(),
    'not a JWT': 'abc',
  };
  for (const [what, assertion] of Object.entries(cases)) {
    assertInvalidClient(await assertionRequest(assertion), what);
  }
  // Someone else's assertion presented for a secret client.
  assertInvalidClient(await assertionRequest(
    await clientAssertion(other, { clientId: secretClient.client_id, audience: md.issuer }), secretClient.client_id),
  'assertion for a client_secret_post client');
});

test('a replayed client assertion (same jti) is refused (RFC 7523 §3 item 7)', async () => {
  const md = await server.metadata();
  const a = await clientAssertion(jwtClient.key, { clientId: jwtClient.client_id, audience: md.issuer });
  assert.equal((await assertionRequest(a)).status, 200);
  assertInvalidClient(await assertionRequest(a), 'replay');
});

test('JSON instead of a form at /token: invalid_request (RFC 6749 §3.2)', async () => {
  const r = await request(tokenUrl(), { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'client_credentials', client_id: secretClient.client_id, client_secret: secretClient.client_secret }) });
  assert.equal(r.status, 400);
  assert.equal(r.json().error, 'invalid_request');
});

test('no content type, or a GET: refused', async () => {
  const body = formBody({ grant_type: 'client_credentials', client_id: secretClient.client_id, client_secret: secretClient.client_secret });
  const r = await request(tokenUrl(), { method: 'POST', body, headers: { 'content-type': 'text/plain' } });
  assert.equal(r.status, 400);
  assert.equal(r.json().error, 'invalid_request');
  const g = await request(`${tokenUrl()}?${body}`);
  assert.ok([400, 405].includes(g.status), `status ${g.status}`);
});

test('repeated parameters: invalid_request (RFC 6749 §3.2)', async () => {
  const r = await postForm(tokenUrl(), [['grant_type', 'client_credentials'], ['grant_type', 'client_credentials'],
    ['client_id', secretClient.client_id], ['client_secret', secretClient.client_secret]]);
  assert.equal(r.status, 400);
  assert.equal(r.json().error, 'invalid_request');
});

test('malformed percent-encoding and NUL bytes: invalid_request', async () => {
  for (const body of [`grant_type=client_credentials&client_id=${secretClient.client_id}&client_secret=%zz`,
                      `grant_type=client_credentials%00&client_id=${secretClient.client_id}&client_secret=${secretClient.client_secret}`]) {
    const r = await request(tokenUrl(), { method: 'POST', body,
      headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(r.status, 400, body);
    assert.match(r.json().error, /^(invalid_request|invalid_client|unsupported_grant_type)$/);
  }
});

test('oversize body at /token: refused and the code is still usable', async () => {
  const c = await getCode(server, secretClient);
  const fields = { grant_type: 'authorization_code', code: c.code, redirect_uri: secretClient.redirectUri,
    code_verifier: c.verifier, client_id: secretClient.client_id, client_secret: secretClient.client_secret,
    padding: 'x'.repeat(256 * 1024) };
  const r = await postForm(tokenUrl(), fields).catch((e) => ({ status: 'closed', error: e }));
  assert.ok([400, 413, 'closed'].includes(r.status), `status ${r.status}`);
  const ok = await tokenRequest(server, secretClient, { grant_type: 'authorization_code', code: c.code,
    redirect_uri: secretClient.redirectUri, code_verifier: c.verifier });
  assert.equal(ok.status, 200, 'nothing changed: the refused request did not consume the code');
});

test('oversize headers: 431 or closed', async () => {
  const r = await request(server.url('/healthz'), { headers: { 'x-big': 'y'.repeat(64 * 1024) } })
    .catch((e) => ({ status: 'closed', error: e }));
  assert.ok([400, 431, 'closed'].includes(r.status), `status ${r.status}`);
  assert.equal((await request(server.url('/healthz'))).status, 200, 'still serving');
});

test('a token issued to one client cannot be introspected as active with another client secret', async () => {
  const t = await tokenRequest(server, secretClient, { grant_type: 'client_credentials' });
  assert.equal(t.status, 200);
  const r = await postForm(server.url('/introspect'), { token: t.json().access_token,
    client_id: secretClient.client_id, client_secret: 'guess' });
  assert.equal(r.status, 401);
  assert.equal((await introspect(server, secretClient, t.json().access_token)).active, true);
});

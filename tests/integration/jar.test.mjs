// RFC 9101 (JAR): authorization requests as request objects signed by the client, sent by
// value to /authorize or pushed to /par (RFC 9126 §3); a client may be required to sign.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';

import { authorizeFlow, authorizeUrl, b64url, request } from '../support/harness.mjs';
import { RESIDENT, authParams, clientPost, makeClient, setup, tokenRequest } from '../support/fixtures.mjs';
import { generateKey, now, signJwt } from '../support/jose.mjs';

let server;
let signer;  // a private_key_jwt client that must send signed request objects
let plain;   // a client_secret_basic client without keys

before(async () => {
  server = await setup();
  signer = await makeClient(server, { auth: 'private_key_jwt', extra: ['--require-signed-request-object'] });
  plain = await makeClient(server);
});
after(async () => { await server?.close(); });

/** A request object for `client` carrying `params` (JWT claims may be overridden). */
function requestObject(client, params, { key = client.key, claims = {}, header = {} } = {}) {
  const t = now();
  return signJwt({ alg: 'ES256', typ: 'oauth-authz-req+jwt', kid: key.kid, ...header }, {
    iss: client.client_id, aud: server.base, client_id: client.client_id, exp: t + 300, nbf: t,
    iat: t, jti: randomUUID(), ...params, ...claims,
  }, key.privateKey);
}

test('discovery advertises request objects by value and their algorithms', async () => {
  const md = await server.metadata();
  assert.equal(md.request_parameter_supported, true);
  assert.ok(md.request_object_signing_alg_values_supported.includes('ES256'));
  assert.equal(md.request_uri_parameter_supported, false, 'only /par request_uris are taken');
});

test('a request object by value: only its parameters count, and the code flow completes', async () => {
  const { params, pkce } = authParams(signer);
  const jwt = await requestObject(signer, params);
  // The query's own state and scope are ignored (RFC 9101 §5).
  const f = await authorizeFlow(server, {
    params: { client_id: signer.client_id, request: jwt, state: 'from-the-query', scope: 'openid' },
    ...RESIDENT,
  });
  assert.equal(f.params.get('state'), params.state);
  assert.equal(f.params.get('iss'), server.base);
  const code = f.params.get('code');
  assert.ok(code, `HTTP ${f.response.status}`);
  const t = await tokenRequest(server, signer, { grant_type: 'authorization_code', code,
    redirect_uri: params.redirect_uri, code_verifier: pkce.verifier });
  assert.equal(t.status, 200, t.text);
  assert.equal(t.json().scope, params.scope, 'the scope the object asked for was granted');
});

test('a pushed request object: /authorize needs only client_id and the request_uri', async () => {
  const { params, pkce } = authParams(signer);
  const r = await clientPost(server, signer, '/par', { request: await requestObject(signer, params) });
  assert.equal(r.status, 201, r.text);
  const f = await authorizeFlow(server, {
    params: { client_id: signer.client_id, request_uri: r.json().request_uri }, ...RESIDENT,
  });
  assert.equal(f.params.get('state'), params.state);
  const code = f.params.get('code');
  assert.ok(code);
  const t = await tokenRequest(server, signer, { grant_type: 'authorization_code', code,
    redirect_uri: params.redirect_uri, code_verifier: pkce.verifier });
  assert.equal(t.status, 200, t.text);
});

test('a client that must sign cannot send a plain request, by query or pushed', async () => {
  const { params } = authParams(signer);
  const a = await request(authorizeUrl(server, params));
  assert.equal(a.status, 303);
  assert.equal(a.location().searchParams.get('error'), 'invalid_request');
  assert.equal(a.location().searchParams.get('state'), params.state);
  const p = await clientPost(server, signer, '/par', params);
  assert.equal(p.status, 400);
  assert.equal(p.json().error, 'invalid_request');
});

// RFC 9101 §6.3: an object that does not verify is answered on the page, never by a redirect
// to the redirect_uri it names; nothing is stored (no request_uri, no pending request).
test('objects that do not verify are refused with invalid_request_object, never redirected', async () => {
  const other = await generateKey();
  const { params } = authParams(signer, { redirect_uri: signer.redirectUri });
  const t = now();
  const cases = [
    ['signed by another key', await requestObject(signer, params, { key: other, header: { kid: signer.key.kid } })],
    ['for another server', await requestObject(signer, params, { claims: { aud: 'https://other.example.test' } })],
    ['from another client', await requestObject(signer, params, { claims: { iss: plain.client_id } })],
    ['expired', await requestObject(signer, params, { claims: { exp: t - 600, nbf: t - 900 } })],
    ['alg none', `${b64url(JSON.stringify({ alg: 'none' }))}.${b64url(JSON.stringify({ ...params, iss: signer.client_id, aud: server.base, client_id: signer.client_id, exp: t + 60 }))}.`],
    ['a DPoP proof', await requestObject(signer, params, { header: { typ: 'dpop+jwt' } })],
  ];
  for (const [why, jwt] of cases) {
    const a = await request(authorizeUrl(server, { client_id: signer.client_id, request: jwt }));
    assert.equal(a.status, 400, `${why}: HTTP ${a.status}`);
    assert.equal(a.location(), null, `${why}: not redirected`);
    assert.match(a.text, /invalid_request_object/, why);
    const p = await clientPost(server, signer, '/par', { request: jwt });
    assert.equal(p.status, 400, `${why} (pushed)`);
    assert.equal(p.json().error, 'invalid_request_object', `${why} (pushed)`);
    assert.equal(p.json().request_uri, undefined);
  }
  // A client without registered keys has nothing to verify an object with.
  const { params: mine } = authParams(plain);
  const unsigned = await requestObject({ ...plain, key: other }, mine);
  const a = await request(authorizeUrl(server, { client_id: plain.client_id, request: unsigned }));
  assert.equal(a.status, 400);
  assert.match(a.text, /invalid_request_object/);
});

test('registration: require_signed_request_object needs keys; it is stored and echoed', async () => {
  const token = server.initialAccessToken;
  const register = (meta) => request(server.url('/register'), {
    method: 'POST', body: JSON.stringify(meta),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
  });
  const refused = await register({ redirect_uris: ['https://rp.example.test/cb'],
    require_signed_request_object: true });
  assert.equal(refused.status, 400);
  assert.equal(refused.json().error, 'invalid_client_metadata');
  const wrongType = await register({ redirect_uris: ['https://rp.example.test/cb'],
    token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [signer.key.jwk] },
    require_signed_request_object: 'yes' });
  assert.equal(wrongType.status, 400);
  const ok = await register({ redirect_uris: ['https://rp.example.test/cb'],
    token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [signer.key.jwk] },
    require_signed_request_object: true });
  assert.equal(ok.status, 201, ok.text);
  assert.equal(ok.json().require_signed_request_object, true);
  const shown = server.cliJson(['client', 'show', ok.json().client_id]);
  assert.equal(shown.require_signed_request_object, true);
});

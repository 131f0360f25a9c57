// [oauth] require_sender_constrained_tokens (FAPI 2.0 Security Profile §5.3.2.1): no bearer
// tokens at all. A token request that would get one is refused with invalid_request and spends
// nothing; with a DPoP proof the same request succeeds. (Certificate binding, the other way,
// is in mtls.test.mjs and the unit tests.) With [oauth] default_signing_alg = "PS256", as a
// FAPI 2.0 deployment sets it (Security Profile §5.4.1 forbids RS256), a client that names no
// algorithm gets PS256 for its ID tokens, JARM responses and signed introspection answers.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { decodeJwt } from '../support/harness.mjs';
import { getCode, makeClient, setup, tokenRequest } from '../support/fixtures.mjs';
import { dpopProof, generateKey, verifyJwt } from '../support/jose.mjs';

let server;
before(async () => {
  server = await setup({ env: { INFOBANK_OAUTH_REQUIRE_SENDER_CONSTRAINED_TOKENS: 'true',
                                INFOBANK_OAUTH_DEFAULT_SIGNING_ALG: 'PS256' } });
});
after(async () => { await server?.close(); });

const tokenUrl = () => server.url('/token');

// A relying party keeps the key set it fetched: the key every client gets without asking is
// published by serve, before any client exists.
test('serve publishes a PS256 key, the configured default, before any client asks for it', async () => {
  const jwks = await (await fetch(server.url('/jwks'))).json();
  assert.deepEqual([...new Set(jwks.keys.map((k) => k.alg))].sort(), ['ES256', 'PS256', 'RS256']);
});

test('client_credentials: refused without a binding, bound with DPoP', async () => {
  const client = await makeClient(server, { grants: ['client_credentials'], redirectUris: [], scope: 'data.read' });
  const plain = await tokenRequest(server, client, { grant_type: 'client_credentials' });
  assert.equal(plain.status, 400, plain.text);
  assert.equal(plain.json().error, 'invalid_request');
  assert.match(plain.json().error_description, /sender-constrained/);
  assert.match(plain.headers.get('cache-control') ?? '', /no-store/);

  const key = await generateKey();
  const bound = await tokenRequest(server, client, { grant_type: 'client_credentials' },
    { dpop: await dpopProof(key, { htm: 'POST', htu: tokenUrl() }) });
  assert.equal(bound.status, 200, bound.text);
  assert.equal(bound.json().token_type, 'DPoP');
  assert.ok(decodeJwt(bound.json().access_token).payload.cnf.jkt);
});

test('a code redeemed without a binding stays redeemable, then with DPoP gives bound tokens', async () => {
  const client = await makeClient(server, { auth: 'none' });
  const code = await getCode(server, client);
  const fields = { grant_type: 'authorization_code', code: code.code, redirect_uri: client.redirectUri,
    code_verifier: code.verifier };
  const plain = await tokenRequest(server, client, fields);
  assert.equal(plain.status, 400, plain.text);
  assert.equal(plain.json().error, 'invalid_request');

  const key = await generateKey();
  const bound = await tokenRequest(server, client, fields,
    { dpop: await dpopProof(key, { htm: 'POST', htu: tokenUrl() }) });
  assert.equal(bound.status, 200, `the code was not spent by the refusal: ${bound.text}`);
  assert.equal(bound.json().token_type, 'DPoP');

  // The refresh token is bound to the key too (a public client's): refreshing without the
  // proof is refused, with it the new access token is bound again.
  const refreshPlain = await tokenRequest(server, client,
    { grant_type: 'refresh_token', refresh_token: bound.json().refresh_token });
  assert.equal(refreshPlain.status, 400, refreshPlain.text);
  const refreshed = await tokenRequest(server, client,
    { grant_type: 'refresh_token', refresh_token: bound.json().refresh_token },
    { dpop: await dpopProof(key, { htm: 'POST', htu: tokenUrl() }) });
  assert.equal(refreshed.status, 200, refreshed.text);
  assert.equal(refreshed.json().token_type, 'DPoP');
});

test('clients that name no signing algorithm get the configured PS256, and a PS256 ID token', async () => {
  const client = await makeClient(server, { auth: 'none', scope: 'openid' });
  const shown = server.cliJson(['client', 'show', client.client_id]);
  for (const field of ['id_token_signed_response_alg', 'authorization_signed_response_alg',
    'introspection_signed_response_alg']) assert.equal(shown[field], 'PS256', field);
  const named = await makeClient(server, { extra: ['--id-token-signed-response-alg', 'ES256'] });
  assert.equal(server.cliJson(['client', 'show', named.client_id]).id_token_signed_response_alg, 'ES256');

  const code = await getCode(server, client, { scope: 'openid' });
  const key = await generateKey();
  const t = await tokenRequest(server, client, { grant_type: 'authorization_code', code: code.code,
    redirect_uri: client.redirectUri, code_verifier: code.verifier },
  { dpop: await dpopProof(key, { htm: 'POST', htu: tokenUrl() }) });
  assert.equal(t.status, 200, t.text);
  const jwks = await (await fetch(server.url('/jwks'))).json();
  const id = await verifyJwt(t.json().id_token, jwks);
  assert.equal(id.header.alg, 'PS256');
  assert.equal(id.payload.aud, client.client_id);
});

// RFC 9449 §8 and §9 with [oauth] dpop_require_nonce: every DPoP proof carries a nonce this
// server gave out in a DPoP-Nonce header; without one, the token endpoint answers 400
// use_dpop_nonce and a resource 401 with the DPoP challenge, each with the nonce to use.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { request } from '../support/harness.mjs';
import { authParams, clientPost, getCode, makeClient, setup, tokenRequest } from '../support/fixtures.mjs';
import { dpopProof, generateKey } from '../support/jose.mjs';

let server;
let client;
before(async () => {
  server = await setup({ env: { INFOBANK_OAUTH_DPOP_REQUIRE_NONCE: 'true' } });
  client = await makeClient(server);
});
after(async () => { await server?.close(); });

const tokenUrl = () => server.url('/token');
const userinfoUrl = () => server.url('/userinfo');

async function codeRequest(proof) {
  const code = await getCode(server, client);
  return tokenRequest(server, client, { grant_type: 'authorization_code', code: code.code,
    redirect_uri: client.redirectUri, code_verifier: code.verifier }, proof ? { dpop: proof } : {});
}

test('the token endpoint asks for a nonce, gives it, and takes a proof that carries it', async () => {
  const key = await generateKey();
  const first = await codeRequest(await dpopProof(key, { htm: 'POST', htu: tokenUrl() }));
  assert.equal(first.status, 400, first.text);
  assert.equal(first.json().error, 'use_dpop_nonce');
  const nonce = first.headers.get('dpop-nonce');
  assert.match(nonce ?? '', /^[A-Za-z0-9_-]{43}$/);
  assert.match(first.headers.get('cache-control') ?? '', /no-store/);

  const wrong = await codeRequest(await dpopProof(key, { htm: 'POST', htu: tokenUrl(), nonce: 'not-ours' }));
  assert.equal(wrong.status, 400);
  assert.equal(wrong.json().error, 'use_dpop_nonce');

  const ok = await codeRequest(await dpopProof(key, { htm: 'POST', htu: tokenUrl(), nonce }));
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json().token_type, 'DPoP');
  // The nonce to use next: the same one until its 5-minute window turns.
  assert.match(ok.headers.get('dpop-nonce') ?? '', /^[A-Za-z0-9_-]{43}$/);

  // A proof that fails for another reason is not invited to try again with a nonce.
  const bad = await codeRequest(await dpopProof(key, { htm: 'GET', htu: tokenUrl(), nonce }));
  assert.equal(bad.status, 400);
  assert.equal(bad.json().error, 'invalid_dpop_proof');

  // Requests without DPoP are untouched: no nonce asked, none given.
  const plain = await codeRequest(undefined);
  assert.equal(plain.status, 200, plain.text);
  assert.equal(plain.headers.get('dpop-nonce'), null);
});

test('a DPoP proof at PAR needs the nonce too (RFC 9449 §10.1)', async () => {
  const key = await generateKey();
  const push = async (nonce) => clientPost(server, client, '/par', authParams(client).params,
    { dpop: await dpopProof(key, { htm: 'POST', htu: server.url('/par'), nonce }) });
  const first = await push(undefined);
  assert.equal(first.status, 400, first.text);
  assert.equal(first.json().error, 'use_dpop_nonce');
  const again = await push(first.headers.get('dpop-nonce'));
  assert.equal(again.status, 201, again.text);
});

test('a resource answers 401 use_dpop_nonce with the DPoP challenge, then serves the proof with it', async () => {
  const key = await generateKey();
  const first = await codeRequest(await dpopProof(key, { htm: 'POST', htu: tokenUrl() }));
  const nonce = first.headers.get('dpop-nonce');
  const t = (await codeRequest(await dpopProof(key, { htm: 'POST', htu: tokenUrl(), nonce }))).json();
  const get = async (proofNonce) => request(userinfoUrl(), { headers: {
    authorization: `DPoP ${t.access_token}`,
    dpop: await dpopProof(key, { htm: 'GET', htu: userinfoUrl(), accessToken: t.access_token,
      nonce: proofNonce }),
  } });
  const without = await get(undefined);
  assert.equal(without.status, 401, without.text);
  assert.match(without.headers.get('www-authenticate') ?? '', /^DPoP .*error="use_dpop_nonce"/);
  const given = without.headers.get('dpop-nonce');
  assert.match(given ?? '', /^[A-Za-z0-9_-]{43}$/);
  assert.ok(!without.text.includes(server.resident.sub));
  const ok = await get(given);
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json().sub, server.resident.sub);
});

test('a browser client on a registered origin may read the nonce header (CORS)', async () => {
  const key = await generateKey();
  const r = await request(tokenUrl(), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://rp.example.test',
      dpop: await dpopProof(key, { htm: 'POST', htu: tokenUrl() }) },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client.client_id }).toString(),
  });
  assert.ok(r.headers.get('dpop-nonce'));
  assert.equal(r.headers.get('access-control-allow-origin'), 'https://rp.example.test');
  assert.match(r.headers.get('access-control-expose-headers') ?? '', /\bDPoP-Nonce\b/i);
});

// RFC 9449 DPoP: sender-constrained access and refresh tokens.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { decodeJwt, postForm, request } from '../support/harness.mjs';
import { getCode, introspect, makeClient, setup, tokenRequest } from '../support/fixtures.mjs';
import { dpopProof, generateKey, thumbprint, withDpopNonce } from '../support/jose.mjs';

let server;
let client;
before(async () => {
  server = await setup();
  client = await makeClient(server, { auth: 'none' });
});
after(async () => { await server?.close(); });

const tokenUrl = () => server.url('/token');
const userinfoUrl = () => server.url('/userinfo');

async function dpopTokens(key, c = client) {
  const code = await getCode(server, c);
  const r = await withDpopNonce(key, { htm: 'POST', htu: tokenUrl() }, (proof) =>
    tokenRequest(server, c, { grant_type: 'authorization_code', code: code.code,
                              redirect_uri: c.redirectUri, code_verifier: code.verifier }, { dpop: proof }));
  assert.equal(r.status, 200, r.text);
  return r.json();
}

function userinfo(key, at, { proofKey = key, scheme = 'DPoP', overrides } = {}) {
  return withDpopNonce(proofKey, { htm: 'GET', htu: userinfoUrl(), accessToken: at }, async (proof) => {
    if (overrides) proof = await dpopProof(proofKey, { htm: 'GET', htu: userinfoUrl(), accessToken: at, overrides });
    return request(userinfoUrl(), { headers: { authorization: `${scheme} ${at}`, dpop: proof } });
  });
}

test('a DPoP token request yields a DPoP-bound access token (cnf.jkt)', async () => {
  const key = await generateKey();
  const t = await dpopTokens(key);
  assert.equal(t.token_type, 'DPoP');
  const at = decodeJwt(t.access_token).payload;
  assert.equal(at.cnf?.jkt, thumbprint(key.jwk), 'RFC 9449 §6.1');
  const r = await userinfo(key, t.access_token);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json().sub, server.resident.sub);
  const info = await introspect(server, await makeClient(server), t.access_token);
  assert.equal(info.cnf?.jkt, thumbprint(key.jwk), 'RFC 9449 §6.2');
});

test('a DPoP-bound token is refused as a Bearer token or with another key', async () => {
  const key = await generateKey();
  const t = await dpopTokens(key);
  const asBearer = await request(userinfoUrl(), { headers: { authorization: `Bearer ${t.access_token}` } });
  assert.equal(asBearer.status, 401, 'RFC 9449 §7.2: no downgrade to Bearer');
  // Nor as a form parameter (RFC 6750 §2.2 is Bearer's), even with a good proof beside it.
  const proof = await dpopProof(key, { htm: 'POST', htu: userinfoUrl(), accessToken: t.access_token });
  const inBody = await postForm(userinfoUrl(), { access_token: t.access_token }, { headers: { dpop: proof } });
  assert.equal(inBody.status, 401, inBody.text);
  assert.ok(!inBody.text.includes(server.resident.sub));
  const other = await generateKey();
  const r = await userinfo(key, t.access_token, { proofKey: other });
  assert.equal(r.status, 401);
  assert.match(r.headers.get('www-authenticate') ?? '', /invalid_(token|dpop_proof)/);
});

test('proofs with the wrong method, URL, ath, age or a replayed jti are refused', async () => {
  const key = await generateKey();
  const t = await dpopTokens(key);
  for (const overrides of [
    { htm: 'POST' }, { htu: server.url('/elsewhere') }, { ath: 'AAAA' },
    { iat: Math.floor(Date.now() / 1000) - 3600 }, { iat: Math.floor(Date.now() / 1000) + 3600 },
  ]) {
    const r = await userinfo(key, t.access_token, { overrides });
    assert.equal(r.status, 401, JSON.stringify(overrides));
  }
  const proof = await dpopProof(key, { htm: 'GET', htu: userinfoUrl(), accessToken: t.access_token });
  const headers = { authorization: `DPoP ${t.access_token}`, dpop: proof };
  const first = await request(userinfoUrl(), { headers });
  if (first.status === 200) {
    const again = await request(userinfoUrl(), { headers });
    assert.equal(again.status, 401, 'RFC 9449 §11.1: jti replay');
  }
});

test('malformed proofs at the token endpoint: invalid_dpop_proof', async () => {
  const key = await generateKey();
  const hs = `${Buffer.from('{"typ":"dpop+jwt","alg":"none"}').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.`;
  const withPrivate = await dpopProof(key, { htm: 'POST', htu: tokenUrl(), header: { jwk: { ...key.jwk, d: 'AAAA' } } });
  const wrongTyp = await dpopProof(key, { htm: 'POST', htu: tokenUrl(), header: { typ: 'JWT' } });
  for (const proof of ['not-a-jwt', hs, withPrivate, wrongTyp]) {
    const code = await getCode(server, client);
    const r = await tokenRequest(server, client, { grant_type: 'authorization_code', code: code.code,
      redirect_uri: client.redirectUri, code_verifier: code.verifier }, { dpop: proof });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json().error, 'invalid_dpop_proof');
  }
});

test("a public client's DPoP-bound refresh token needs the same key (RFC 9449 §5)", async () => {
  const key = await generateKey();
  const t = await dpopTokens(key);
  assert.ok(t.refresh_token);
  const other = await generateKey();
  const bad = await withDpopNonce(other, { htm: 'POST', htu: tokenUrl() }, (proof) =>
    tokenRequest(server, client, { grant_type: 'refresh_token', refresh_token: t.refresh_token }, { dpop: proof }));
  assert.equal(bad.status, 400);
  assert.match(bad.json().error, /^(invalid_grant|invalid_dpop_proof)$/);
  const noProof = await tokenRequest(server, client, { grant_type: 'refresh_token', refresh_token: t.refresh_token });
  assert.equal(noProof.status, 400);
  const good = await withDpopNonce(key, { htm: 'POST', htu: tokenUrl() }, (proof) =>
    tokenRequest(server, client, { grant_type: 'refresh_token', refresh_token: t.refresh_token }, { dpop: proof }));
  assert.equal(good.status, 200, good.text);
  assert.equal(good.json().token_type, 'DPoP');
});

test('--require-dpop: a token request without a proof is refused', async () => {
  const c = await makeClient(server, { auth: 'none', extra: ['--require-dpop'] });
  const code = await getCode(server, c);
  const r = await tokenRequest(server, c, { grant_type: 'authorization_code', code: code.code,
    redirect_uri: c.redirectUri, code_verifier: code.verifier });
  assert.equal(r.status, 400);
  assert.match(r.json().error, /^(invalid_request|invalid_dpop_proof)$/);
});

test('client_credentials with DPoP', async () => {
  const c = await makeClient(server, { auth: 'client_secret_post', grants: ['client_credentials'], redirectUris: [], scope: 'data.read' });
  const key = await generateKey();
  const r = await withDpopNonce(key, { htm: 'POST', htu: tokenUrl() }, (proof) =>
    postForm(tokenUrl(), { grant_type: 'client_credentials', client_id: c.client_id, client_secret: c.client_secret },
             { headers: { dpop: proof } }));
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json().token_type, 'DPoP');
  assert.equal(decodeJwt(r.json().access_token).payload.cnf?.jkt, thumbprint(key.jwk));
});

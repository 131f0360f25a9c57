// RFC 9126 pushed authorization requests.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { authorizeFlow, authorizeUrl, postForm, request } from '../support/harness.mjs';
import { RESIDENT, authParams, clientPost, makeClient, setup, tokenRequest } from '../support/fixtures.mjs';
import { dpopProof, generateKey, thumbprint } from '../support/jose.mjs';

let server;
let client;
before(async () => {
  server = await setup();
  client = await makeClient(server);
});
after(async () => { await server?.close(); });

async function push(c, overrides = {}, headers = {}) {
  const { params, pkce } = authParams(c, overrides);
  for (const k of Object.keys(params)) if (params[k] === undefined) delete params[k];
  const r = await clientPost(server, c, '/par', params, headers);
  return { r, params, pkce };
}

test('push, then authorize with only client_id and request_uri, then exchange the code', async () => {
  const { r, params, pkce } = await push(client);
  assert.equal(r.status, 201, r.text);
  assert.match(r.headers.get('cache-control') ?? '', /no-store/);
  const b = r.json();
  assert.match(b.request_uri, /^urn:ietf:params:oauth:request_uri:/);
  assert.ok(Number.isInteger(b.expires_in) && b.expires_in > 0);

  const f = await authorizeFlow(server, { params: { client_id: client.client_id, request_uri: b.request_uri }, ...RESIDENT });
  assert.equal(f.params.get('state'), params.state);
  assert.equal(f.params.get('iss'), server.base);
  const code = f.params.get('code');
  assert.ok(code, `HTTP ${f.response.status}`);
  const t = await tokenRequest(server, client, { grant_type: 'authorization_code', code,
    redirect_uri: params.redirect_uri, code_verifier: pkce.verifier });
  assert.equal(t.status, 200, t.text);
});

test('a request_uri is bound to its client', async () => {
  const other = await makeClient(server);
  const { r } = await push(client);
  const uri = r.json().request_uri;
  const a = await request(authorizeUrl(server, { client_id: other.client_id, request_uri: uri }));
  assert.ok(!(a.location()?.searchParams.get('code')));
  if (a.status !== 400) assert.ok(a.location()?.searchParams.get('error'), `status ${a.status}`);
});

test('an unknown request_uri is refused', async () => {
  const a = await request(authorizeUrl(server, { client_id: client.client_id,
    request_uri: 'urn:ietf:params:oauth:request_uri:not-issued' }));
  assert.ok(!(a.location()?.searchParams.get('code')));
  if (a.status !== 400) assert.equal(a.location()?.searchParams.get('error'), 'invalid_request_uri');
});

test('pushed requests are checked like authorization requests (RFC 9126 §2.3)', async () => {
  for (const [overrides, error] of [
    [{ redirect_uri: 'https://attacker.example.test/cb' }, 'invalid_request'],
    [{ code_challenge: undefined, code_challenge_method: undefined }, 'invalid_request'],
    [{ response_type: 'token' }, 'unsupported_response_type'],
    [{ request_uri: 'urn:ietf:params:oauth:request_uri:x' }, 'invalid_request'],
    [{ scope: 'openid not_a_scope' }, 'invalid_scope'],
  ]) {
    const { r } = await push(client, overrides);
    assert.equal(r.status, 400, `${JSON.stringify(overrides)}: ${r.text}`);
    assert.equal(r.json().error, error, JSON.stringify(overrides));
  }
});

test('PAR requires client authentication', async () => {
  const { params } = authParams(client);
  const r = await postForm(server.url('/par'), params);
  assert.equal(r.status, 401);
  assert.equal(r.json().error, 'invalid_client');
  const w = await postForm(server.url('/par'), { ...params, client_secret: 'wrong' });
  assert.equal(w.status, 401);
});

test('--require-par: a plain authorization request is refused', async () => {
  const c = await makeClient(server, { extra: ['--require-par'] });
  const { params } = authParams(c);
  const r = await request(authorizeUrl(server, params));
  assert.ok(!(r.location()?.searchParams.get('code')));
  if (r.status !== 400) assert.equal(r.location()?.searchParams.get('error'), 'invalid_request');
  const { r: pushed } = await push(c);
  assert.equal(pushed.status, 201);
});

// RFC 9449 §10.1: a DPoP proof sent with the pushed request binds the code to its key, as
// dpop_jkt would; the code is then redeemed only with a proof of that key.
test('a DPoP proof at PAR binds the code to its key', async () => {
  const key = await generateKey();
  const other = await generateKey();
  const pushedCode = async () => {
    const { r, params, pkce } = await push(client, {},
      { dpop: await dpopProof(key, { htm: 'POST', htu: server.url('/par') }) });
    assert.equal(r.status, 201, r.text);
    const f = await authorizeFlow(server, { params: { client_id: client.client_id,
      request_uri: r.json().request_uri }, ...RESIDENT });
    return { code: f.params.get('code'), params, pkce };
  };
  const redeem = async ({ code, params, pkce }, proofKey) => tokenRequest(server, client,
    { grant_type: 'authorization_code', code, redirect_uri: params.redirect_uri, code_verifier: pkce.verifier },
    proofKey ? { dpop: await dpopProof(proofKey, { htm: 'POST', htu: server.url('/token') }) } : {});

  const wrongKey = await redeem(await pushedCode(), other);
  assert.equal(wrongKey.status, 400, wrongKey.text);
  assert.equal(wrongKey.json().error, 'invalid_dpop_proof');
  const noProof = await redeem(await pushedCode(), undefined);
  assert.equal(noProof.status, 400, 'a bound code needs the proof');
  const ok = await redeem(await pushedCode(), key);
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json().token_type, 'DPoP');
});

test('at PAR, a DPoP proof and dpop_jkt must name one key; a bad proof is refused', async () => {
  const key = await generateKey();
  const other = await generateKey();
  const parUrl = server.url('/par');
  const mismatch = await push(client, { dpop_jkt: thumbprint(other.jwk) },
    { dpop: await dpopProof(key, { htm: 'POST', htu: parUrl }) });
  assert.equal(mismatch.r.status, 400);
  assert.equal(mismatch.r.json().error, 'invalid_request');
  const same = await push(client, { dpop_jkt: thumbprint(key.jwk) },
    { dpop: await dpopProof(key, { htm: 'POST', htu: parUrl }) });
  assert.equal(same.r.status, 201, same.r.text);
  const bad = await push(client, {}, { dpop: await dpopProof(key, { htm: 'GET', htu: parUrl }) });
  assert.equal(bad.r.status, 400);
  assert.equal(bad.r.json().error, 'invalid_dpop_proof');
});

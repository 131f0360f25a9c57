// JWT Secured Authorization Response Mode (JARM): response_mode jwt and query.jwt put the
// authorization response in one signed `response` parameter.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { authorizeFlow, authorizeUrl, request } from '../support/harness.mjs';
import { RESIDENT, authParams, jwks, makeClient, setup, tokenRequest } from '../support/fixtures.mjs';
import { verifyJwt } from '../support/jose.mjs';

let server;
let client;
before(async () => {
  server = await setup();
  client = await makeClient(server);
});
after(async () => { await server?.close(); });

/** The verified claims of a JARM redirect, which must carry nothing but `response`. */
async function responseClaims(location) {
  assert.deepEqual([...location.searchParams.keys()], ['response'], location.href);
  const { payload } = await verifyJwt(location.searchParams.get('response'), await jwks(server));
  assert.equal(payload.iss, server.base);
  assert.equal(payload.aud, client.client_id);
  assert.ok(payload.exp > Date.now() / 1000, 'not expired');
  return payload;
}

test('discovery advertises the JWT response modes and their algorithm', async () => {
  const md = await server.metadata();
  assert.deepEqual(md.response_modes_supported, ['query', 'form_post', 'jwt', 'query.jwt', 'form_post.jwt']);
  assert.deepEqual(md.authorization_signing_alg_values_supported, ['ES256', 'RS256', 'PS256', 'EdDSA']);
});

for (const mode of ['jwt', 'query.jwt']) {
  test(`response_mode=${mode}: code and state in a signed response; the code redeems`, async () => {
    const { params, pkce } = authParams(client, { response_mode: mode });
    const f = await authorizeFlow(server, { params, ...RESIDENT });
    assert.ok(f.location?.href.startsWith(client.redirectUri), `HTTP ${f.response.status}`);
    const claims = await responseClaims(f.location);
    assert.equal(claims.state, params.state);
    assert.ok(claims.code);
    const t = await tokenRequest(server, client, { grant_type: 'authorization_code', code: claims.code,
      redirect_uri: params.redirect_uri, code_verifier: pkce.verifier });
    assert.equal(t.status, 200, t.text);
  });
}

test('errors are signed too: a refused consent and a malformed request', async () => {
  // prompt=consent: the earlier tests' grant would skip the consent page.
  const { params } = authParams(client, { response_mode: 'jwt', prompt: 'consent' });
  const denied = await authorizeFlow(server, { params, ...RESIDENT, decision: 'deny' });
  const claims = await responseClaims(denied.location);
  assert.equal(claims.error, 'access_denied');
  assert.equal(claims.state, params.state);
  assert.equal(claims.code, undefined);

  const { params: bad } = authParams(client, { response_mode: 'jwt', code_challenge_method: 'plain' });
  const r = await request(authorizeUrl(server, bad));
  assert.equal(r.status, 303);
  const err = await responseClaims(r.location());
  assert.equal(err.error, 'invalid_request');
  assert.equal(err.state, bad.state);
});

test('an unknown response mode is answered in the query, which every client reads', async () => {
  const { params } = authParams(client, { response_mode: 'fragment' });
  const r = await request(authorizeUrl(server, params));
  assert.equal(r.status, 303);
  assert.equal(r.location().searchParams.get('error'), 'invalid_request');
  assert.equal(r.location().searchParams.get('iss'), server.base);
  assert.equal(r.location().searchParams.get('response'), null);
});

// RFC 9700 §4.5 (code injection / replay), §4.8 (PKCE downgrade), §4.4 (mix-up, RFC 9207).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { authorizeFlow } from '../support/harness.mjs';
import {
  RESIDENT, authParams, getCode, introspect, makeClient, setup, tokenRequest,
} from '../support/fixtures.mjs';

let server;
let client;
before(async () => {
  server = await setup();
  client = await makeClient(server);
});
after(async () => { await server?.close(); });

const exchange = (c, code, verifier, extra = {}) => tokenRequest(server, c, {
  grant_type: 'authorization_code', code, redirect_uri: c.redirectUri, code_verifier: verifier, ...extra,
});

test('code replay fails and revokes the tokens issued from the code (RFC 6749 §4.1.2, RFC 9700 §4.5)', async () => {
  const c = await getCode(server, client);
  const first = await exchange(client, c.code, c.verifier);
  assert.equal(first.status, 200, first.text);
  const t = first.json();
  const again = await exchange(client, c.code, c.verifier);
  assert.equal(again.status, 400);
  assert.equal(again.json().error, 'invalid_grant');
  assert.equal((await introspect(server, client, t.access_token)).active, false, 'access token revoked');
  assert.equal((await introspect(server, client, t.refresh_token)).active, false, 'refresh token revoked');
  const ref = await tokenRequest(server, client, { grant_type: 'refresh_token', refresh_token: t.refresh_token });
  assert.equal(ref.status, 400);
});

test('PKCE: missing, wrong or malformed code_verifier is invalid_grant / invalid_request (RFC 7636 §4.6)', async () => {
  for (const [verifier, errors] of [
    [undefined, ['invalid_grant', 'invalid_request']],
    ['A'.repeat(43), ['invalid_grant']],
    ['short', ['invalid_grant', 'invalid_request']],
    ['~'.repeat(129), ['invalid_grant', 'invalid_request']],
  ]) {
    const c = await getCode(server, client);
    const r = await exchange(client, c.code, verifier);
    assert.equal(r.status, 400, `${verifier}: ${r.text}`);
    assert.ok(errors.includes(r.json().error), `${verifier}: ${r.json().error}`);
    assert.equal(r.json().access_token, undefined);
  }
});

test('PKCE: the challenge itself is not accepted as verifier (plain downgrade)', async () => {
  const { params } = authParams(client);
  const f = await authorizeFlow(server, { params, ...RESIDENT });
  const r = await exchange(client, f.params.get('code'), params.code_challenge);
  assert.equal(r.status, 400);
  assert.equal(r.json().error, 'invalid_grant');
});

test('PKCE: a public client cannot skip PKCE, and plain is refused (RFC 9700 §2.1.1)', async () => {
  const pub = await makeClient(server, { auth: 'none' });
  for (const overrides of [{ code_challenge: undefined, code_challenge_method: undefined },
                           { code_challenge_method: 'plain' }]) {
    const { params } = authParams(pub, overrides);
    for (const k of Object.keys(params)) if (params[k] === undefined) delete params[k];
    const f = await authorizeFlow(server, { params, ...RESIDENT });
    assert.equal(f.params.get('code'), null);
    assert.equal(f.params.get('error'), 'invalid_request');
  }
});

test('mix-up defence: iss on success and on error equals the issuer (RFC 9207 §2, RFC 9700 §4.4)', async () => {
  const md = await server.metadata();
  const ok = await getCode(server, client);
  assert.equal(ok.flow.params.get('iss'), md.issuer);
  const { params } = authParams(client);
  const denied = await authorizeFlow(server, { params, ...RESIDENT, decision: 'deny' });
  assert.equal(denied.params.get('iss'), md.issuer);
});

test('a code is bound to its PKCE challenge and client even when a valid verifier of another flow is used', async () => {
  const a = await getCode(server, client);
  const b = await getCode(server, client);
  const r = await exchange(client, a.code, b.verifier);
  assert.equal(r.status, 400);
  assert.equal(r.json().error, 'invalid_grant');
});

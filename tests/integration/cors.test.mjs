// CORS for browser-based clients: discovery and the JWK Set for any origin; the token, PAR,
// revocation and userinfo endpoints only for the origin of a redirect URI the named client
// registered; never on the resident's pages.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { basicAuth, postForm, request } from '../support/harness.mjs';
import { getCode, getTokens, makeClient, setup } from '../support/fixtures.mjs';

const SPA = 'https://spa.example.test';
const EVIL = 'https://evil.example.test';

let server;
let spa;
before(async () => {
  server = await setup();
  spa = await makeClient(server, { auth: 'none', redirectUris: [`${SPA}/cb`] });
});
after(async () => { await server?.close(); });

const allowed = (r) => r.headers.get('access-control-allow-origin');

function preflight(path, origin = SPA, method = 'POST') {
  return request(server.url(path), {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': method,
               'access-control-request-headers': 'content-type, dpop' },
  });
}

test('a preflight to the token endpoint says what a page may send', async () => {
  const r = await preflight('/token');
  assert.equal(r.status, 204);
  assert.equal(allowed(r), SPA);
  assert.equal(r.headers.get('access-control-allow-methods'), 'POST');
  const headers = (r.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/,\s*/);
  for (const h of ['authorization', 'content-type', 'dpop']) assert.ok(headers.includes(h), h);
  assert.equal(r.headers.get('access-control-allow-credentials'), null, 'never with cookies');
  assert.match(r.headers.get('vary') ?? '', /Origin/);
  assert.equal((await preflight('/userinfo', SPA, 'GET')).headers.get('access-control-allow-methods'), 'GET, POST');
});

test('the token endpoint answers the client\'s own origin, and no other', async () => {
  const c = await getCode(server, spa);
  const fields = {
    grant_type: 'authorization_code', code: c.code, redirect_uri: c.params.redirect_uri,
    code_verifier: c.verifier, client_id: spa.client_id,
  };
  // Another site's page may send (a preflight cannot know the client) but not read.
  const evil = await postForm(server.url('/token'), { ...fields, code: 'not-a-code' }, { headers: { origin: EVIL } });
  assert.equal(evil.status, 400);
  assert.equal(allowed(evil), null);
  const r = await postForm(server.url('/token'), fields, { headers: { origin: SPA } });
  assert.equal(r.status, 200, r.text);
  assert.equal(allowed(r), SPA);
  assert.match(r.headers.get('vary') ?? '', /Origin/);
  assert.match(r.headers.get('cache-control') ?? '', /no-store/);

  const access = r.json().access_token;
  const info = await request(server.url('/userinfo'), { headers: { authorization: `Bearer ${access}`, origin: SPA } });
  assert.equal(info.status, 200, `${info.text} ${info.headers.get('www-authenticate')}`);
  assert.equal(allowed(info), SPA);
  const stolen = await request(server.url('/userinfo'), { headers: { authorization: `Bearer ${access}`, origin: EVIL } });
  assert.equal(allowed(stolen), null);

  // The broker's client API is the client's too (a bearer token, no cookie).
  const contracts = await request(server.url('/contracts'), { headers: { authorization: `Bearer ${access}`, origin: SPA } });
  assert.equal(allowed(contracts), SPA);
  assert.equal((await preflight('/transfers/t-1', SPA, 'GET')).headers.get('access-control-allow-methods'), 'GET');
  assert.equal((await preflight('/transfers')).headers.get('access-control-allow-methods'), 'POST');

  const revoke = await postForm(server.url('/revoke'), { token: access, client_id: spa.client_id }, { headers: { origin: SPA } });
  assert.equal(allowed(revoke), SPA);

  // An error is readable by the client's page too (here: the code was used).
  const again = await postForm(server.url('/token'), fields, { headers: { origin: SPA } });
  assert.equal(again.status, 400);
  assert.equal(again.json().error, 'invalid_grant');
  assert.equal(allowed(again), SPA);
});

test('a confidential client\'s origin is found from its Basic credentials; default ports are no part of an origin', async () => {
  const rp = await makeClient(server, { redirectUris: ['https://rp.example.test:443/cb', 'com.example.app:/cb'] });
  const { body } = await getTokens(server, rp);
  const r = await postForm(server.url('/revoke'), { token: body.refresh_token },
    { headers: { origin: 'https://rp.example.test', authorization: basicAuth(rp.client_id, rp.client_secret) } });
  assert.equal(r.status, 200);
  assert.equal(allowed(r), 'https://rp.example.test');
  const other = await postForm(server.url('/revoke'), { token: body.access_token },
    { headers: { origin: 'https://rp.example.test:8443', authorization: basicAuth(rp.client_id, rp.client_secret) } });
  assert.equal(allowed(other), null);
});

test('discovery and the JWK Set are public data for any page', async () => {
  for (const p of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/jwks']) {
    const r = await request(server.url(p), { headers: { origin: EVIL } });
    assert.equal(r.status, 200, p);
    assert.equal(allowed(r), '*', p);
    const pre = await preflight(p, EVIL, 'GET');
    assert.equal(pre.status, 204, p);
    assert.equal(allowed(pre), '*', p);
  }
});

test('the resident\'s pages and the other APIs never answer a cross-origin read', async () => {
  for (const p of ['/authorize', '/account', '/logout', '/introspect', '/register', '/audit/v1/sth']) {
    const r = await request(server.url(p), { headers: { origin: SPA } });
    assert.equal(allowed(r), null, p);
    const pre = await preflight(p, SPA, 'POST');
    assert.notEqual(pre.status, 204, p);
    assert.equal(allowed(pre), null, p);
  }
});

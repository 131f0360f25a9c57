// RFC 6749 §4.1 authorization endpoint with the resident sign-in and consent pages, driven by
// plain HTTP; RFC 9207 iss; OpenID Connect Core §3.1.2 prompt / max_age / nonce.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  CookieJar, authorizeFlow, authorizeUrl, consentForm, follow, loginForm, postForm, request,
} from '../support/harness.mjs';
import { RESIDENT, authParams, makeClient, setup, tokenRequest } from '../support/fixtures.mjs';

let server;
let client;
before(async () => {
  server = await setup();
  client = await makeClient(server);
});
after(async () => { await server?.close(); });

function assertPageHeaders(r, what) {
  const csp = r.headers.get('content-security-policy') ?? '';
  assert.match(csp, /frame-ancestors 'none'/, `${what}: CSP frame-ancestors (RFC 9700 §4.16)`);
  assert.equal((r.headers.get('x-frame-options') ?? '').toUpperCase(), 'DENY', `${what}: X-Frame-Options`);
  assert.match(r.headers.get('content-type') ?? '', /^text\/html/, what);
  assert.match(r.headers.get('cache-control') ?? '', /no-store/, `${what}: not cached`);
}

test('approve: sign-in page, consent page, 303 to redirect_uri with code, state and iss', async () => {
  const { params } = authParams(client);
  const jar = new CookieJar();
  let r = await follow(server, await request(authorizeUrl(server, params), { jar }), jar);
  assert.equal(r.status, 200);
  assertPageHeaders(r, 'sign-in page');
  const login = loginForm(r.text);
  assert.ok(login, 'sign-in form');
  assert.equal(login.method, 'post');
  assert.ok(login.fields.handle, 'hidden handle');
  assert.ok(login.fields.csrf_token, 'hidden csrf_token');
  assert.ok(login.inputs.some((i) => i.name === 'username'));

  r = await follow(server, await postForm(new URL(login.action, r.url).href,
    { ...login.fields, username: RESIDENT.username, password: RESIDENT.password }, { jar }), jar);
  assert.equal(r.status, 200, r.text.slice(0, 300));
  assertPageHeaders(r, 'consent page');
  const consent = consentForm(r.text);
  assert.ok(consent, 'consent form');
  assert.ok(consent.fields.handle && consent.fields.csrf_token);
  const values = consent.buttons.filter((b) => b.name === 'decision').map((b) => b.value).sort();
  assert.deepEqual(values, ['approve', 'deny']);

  r = await postForm(new URL(consent.action, r.url).href, { ...consent.fields, decision: 'approve' }, { jar });
  assert.equal(r.status, 303);
  const loc = r.location();
  assert.equal(`${loc.origin}${loc.pathname}`, client.redirectUri);
  assert.ok(loc.searchParams.get('code'));
  assert.equal(loc.searchParams.get('state'), params.state);
  assert.equal(loc.searchParams.get('iss'), server.base, 'RFC 9207 §2');
  assert.equal(loc.hash, '');
});

test('deny: access_denied with state and iss, no code', async () => {
  // prompt=consent: an earlier test's grant would otherwise skip the consent page.
  const { params } = authParams(client, { prompt: 'consent' });
  const f = await authorizeFlow(server, { params, ...RESIDENT, decision: 'deny' });
  assert.equal(f.response.status, 303);
  assert.equal(f.params.get('error'), 'access_denied');
  assert.equal(f.params.get('state'), params.state);
  assert.equal(f.params.get('iss'), server.base);
  assert.equal(f.params.get('code'), null);
});

test('wrong password: the sign-in page again, nothing sent to the client', async () => {
  const { params } = authParams(client);
  const f = await authorizeFlow(server, { params, username: RESIDENT.username, password: 'wrong password!' });
  assert.notEqual(f.response.status, 303);
  assert.ok([200, 400, 401, 429].includes(f.response.status), `status ${f.response.status}`);
  assert.ok(loginForm(f.response.text), 'sign-in form shown again');
  assert.ok(!f.trail.includes('consent'));
});

test('unknown resident is indistinguishable from a wrong password', async () => {
  const { params } = authParams(client);
  const a = await authorizeFlow(server, { params, username: 'nobody-here', password: 'x'.repeat(12) });
  const b = await authorizeFlow(server, { params: authParams(client).params, username: RESIDENT.username, password: 'x'.repeat(12) });
  assert.equal(a.response.status, b.response.status);
  assert.ok(loginForm(a.response.text));
});

test('a signed-in session skips the sign-in page; prompt=login, max_age=0 and prompt=select_account ask again', async () => {
  const jar = new CookieJar();
  const first = await authorizeFlow(server, { params: authParams(client).params, ...RESIDENT, jar });
  assert.ok(first.params.get('code'));
  assert.deepEqual(first.trail.slice(0, 1), ['login']);

  const again = await authorizeFlow(server, { params: authParams(client).params, ...RESIDENT, jar });
  assert.ok(again.params.get('code'), 'code without signing in again');
  assert.ok(!again.trail.includes('login'), `trail ${again.trail}`);

  for (const extra of [{ prompt: 'login' }, { max_age: '0' }, { prompt: 'select_account' }]) {
    const forced = await authorizeFlow(server, { params: authParams(client, extra).params, ...RESIDENT, jar });
    assert.equal(forced.trail[0], 'login', JSON.stringify(extra));
    assert.ok(forced.params.get('code'));
  }
});

test('prompt=none without a session: login_required (OIDC Core §3.1.2.6)', async () => {
  const { params } = authParams(client, { prompt: 'none' });
  const r = await request(authorizeUrl(server, params));
  assert.ok([302, 303].includes(r.status), `status ${r.status}`);
  const loc = r.location();
  assert.equal(`${loc.origin}${loc.pathname}`, client.redirectUri);
  assert.equal(loc.searchParams.get('error'), 'login_required');
  assert.equal(loc.searchParams.get('state'), params.state);
  assert.equal(loc.searchParams.get('iss'), server.base);
});

for (const [name, overrides, error] of [
  ['response_type=token', { response_type: 'token' }, 'unsupported_response_type'],
  ['response_type missing', { response_type: undefined }, 'invalid_request'],
  ['code_challenge missing', { code_challenge: undefined, code_challenge_method: undefined }, 'invalid_request'],
  ['code_challenge_method=plain', { code_challenge_method: 'plain' }, 'invalid_request'],
  ['unknown scope', { scope: 'openid wire_all_the_money' }, 'invalid_scope'],
  ['malformed authorization_details', { authorization_details: '{not json' }, 'invalid_authorization_details'],
]) {
  test(`error redirected to the client: ${name} → ${error}`, async () => {
    const { params } = authParams(client, overrides);
    for (const k of Object.keys(params)) if (params[k] === undefined) delete params[k];
    const r = await request(authorizeUrl(server, params));
    assert.ok([302, 303].includes(r.status), `status ${r.status}: ${r.text.slice(0, 200)}`);
    const loc = r.location();
    assert.equal(`${loc.origin}${loc.pathname}`, client.redirectUri);
    assert.equal(loc.searchParams.get('error'), error);
    assert.equal(loc.searchParams.get('state'), params.state);
    assert.equal(loc.searchParams.get('iss'), server.base);
    assert.equal(loc.searchParams.get('code'), null);
  });
}

test('unknown or missing client_id: 400 page, no redirect (RFC 6749 §4.1.2.1)', async () => {
  for (const overrides of [{ client_id: 'no-such-client' }, { client_id: undefined }]) {
    const { params } = authParams(client, overrides);
    for (const k of Object.keys(params)) if (params[k] === undefined) delete params[k];
    const r = await request(authorizeUrl(server, params));
    assert.equal(r.status, 400, JSON.stringify(overrides));
    assert.equal(r.headers.get('location'), null);
    assertPageHeaders(r, 'error page');
  }
});

test('missing redirect_uri in an OpenID request: a 400 page, never a redirect (OIDC Core §3.1.2.1)', async () => {
  const { params } = authParams(client);
  assert.ok(params.scope.split(' ').includes('openid'));
  delete params.redirect_uri;
  const r = await request(authorizeUrl(server, params));
  assert.equal(r.status, 400);
  assert.equal(r.headers.get('location'), null);
  assert.match(r.text, /redirect_uri is missing/);
});

// RFC 6749 §3.1.2.3 and §4.1.3: a plain OAuth request of a client with one registered URI may
// leave redirect_uri out; the code goes there, and the token request need not name it either.
test('missing redirect_uri in a plain OAuth request: the one registered URI, not asked for again', async () => {
  const { params, pkce } = authParams(client, { scope: 'profile', nonce: undefined });
  delete params.redirect_uri;
  delete params.nonce;
  const f = await authorizeFlow(server, { params, ...RESIDENT });
  assert.ok(f.location, `HTTP ${f.response.status}`);
  assert.equal(`${f.location.origin}${f.location.pathname}`, client.redirectUri);
  const code = f.params.get('code');
  assert.ok(code);
  const t = await tokenRequest(server, client, { grant_type: 'authorization_code', code,
    code_verifier: pkce.verifier });
  assert.equal(t.status, 200, t.text);
  assert.equal(t.json().scope, 'profile');

  // A client with two registered URIs must say which.
  const two = await makeClient(server, { redirectUris: [client.redirectUri, `${client.redirectUri}/2`] });
  const { params: p2 } = authParams(two, { scope: 'profile' });
  delete p2.redirect_uri;
  delete p2.nonce;
  const r = await request(authorizeUrl(server, p2));
  assert.equal(r.status, 400);
  assert.equal(r.headers.get('location'), null);
});

test('authorization_details (RFC 9396) are shown on the consent page', async () => {
  const details = [{ type: 'personal_data_provision', datasets: ['address'], purpose: 'child-care' }];
  const { params } = authParams(client, { authorization_details: JSON.stringify(details) });
  const jar = new CookieJar();
  let r = await follow(server, await request(authorizeUrl(server, params), { jar }), jar);
  const login = loginForm(r.text);
  assert.ok(login, `sign-in form (HTTP ${r.status}) ${r.headers.get('location') ?? ''}`);
  r = await follow(server, await postForm(new URL(login.action, r.url).href,
    { ...login.fields, ...RESIDENT }, { jar }), jar);
  assert.ok(consentForm(r.text));
  assert.match(r.text, /child-care/);
});

test('ui_locales picks the pages\' language over Accept-Language; login_hint fills in the name (OIDC Core §3.1.2.1)', async () => {
  const md = (await request(server.url('/.well-known/openid-configuration'))).json();
  assert.deepEqual(md.ui_locales_supported, ['en', 'ja']);
  const { params } = authParams(client, { ui_locales: 'fr-CA JA-jp en', login_hint: RESIDENT.username,
                                          prompt: 'consent' });
  const jar = new CookieJar();
  const headers = { 'accept-language': 'en' };
  let r = await follow(server, await request(authorizeUrl(server, params), { jar, headers }), jar);
  assert.equal(r.status, 200);
  assert.match(r.text, /<html lang="ja">/, 'the first supported ui_locales tag wins, case-insensitively');
  const login = loginForm(r.text);
  assert.equal(login.fields.username, RESIDENT.username, 'login_hint prefills the name');
  // A failed attempt keeps the language; the consent page has it too.
  r = await postForm(new URL(login.action, r.url).href,
                     { ...login.fields, password: 'wrong password for sure' }, { jar, headers });
  assert.equal(r.status, 401);
  assert.match(r.text, /<html lang="ja">/);
  r = await follow(server, await postForm(new URL(login.action, r.url).href,
                                          { ...loginForm(r.text).fields, password: RESIDENT.password },
                                          { jar, headers }), jar);
  assert.ok(consentForm(r.text), 'consent page');
  assert.match(r.text, /<html lang="ja">/);

  // Without a tag we have, Accept-Language decides; malformed values are refused.
  const other = authParams(client, { ui_locales: 'fr de-CH' }).params;
  const fresh = new CookieJar();
  r = await follow(server, await request(authorizeUrl(server, other), { jar: fresh, headers }), fresh);
  assert.match(r.text, /<html lang="en">/);
  for (const bad of [{ ui_locales: 'ja;q=1' }, { login_hint: 'x'.repeat(257) }]) {
    const p = authParams(client, bad).params;
    const refused = await request(authorizeUrl(server, p));
    assert.equal(refused.status, 303, JSON.stringify(bad));
    assert.equal(refused.location().searchParams.get('error'), 'invalid_request');
  }
});

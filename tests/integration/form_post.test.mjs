// OAuth 2.0 Form Post Response Mode and JARM's form_post.jwt: the authorization response is a
// page that posts it to the redirect URI. Chromium submitting that page under its CSP is in
// tests/e2e/openid_client.e2e.mjs; here, over HTTP, what the page is and says.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';

import { authorizeFlow, authorizeUrl, parseForms, request } from '../support/harness.mjs';
import { RESIDENT, authParams, jwks, makeClient, setup, tokenRequest } from '../support/fixtures.mjs';
import { verifyJwt } from '../support/jose.mjs';

let server;
let client;
before(async () => {
  server = await setup();
  client = await makeClient(server);
});
after(async () => { await server?.close(); });

/** The form_post page's one form, after checking the response around it. */
function postedForm(r) {
  assert.equal(r.status, 200, r.text);
  assert.equal(r.location(), null, 'no redirect');
  assert.match(r.headers.get('content-type'), /^text\/html/);
  assert.match(r.headers.get('cache-control') ?? '', /no-store/);
  const csp = r.headers.get('content-security-policy') ?? '';
  // The one script the page runs is the one the CSP names by hash, and nothing else may load,
  // run or frame it.
  const script = r.text.match(/<script>([\s\S]*?)<\/script>/);
  assert.ok(script, 'a script submits the form');
  const hash = createHash('sha256').update(script[1]).digest('base64');
  assert.match(csp, new RegExp(`script-src 'sha256-${hash.replace(/[+/]/g, '\\$&')}'`), csp);
  assert.doesNotMatch(csp, /form-action/, 'the client may redirect on to another of its origins');
  assert.ok(csp.includes("default-src 'none'") && csp.includes("frame-ancestors 'none'"), csp);
  const forms = parseForms(r.text);
  assert.equal(forms.length, 1);
  assert.equal(forms[0].method, 'post');
  assert.equal(forms[0].action, client.redirectUri);
  return forms[0];
}

test('discovery lists form_post and form_post.jwt', async () => {
  const md = await server.metadata();
  assert.ok(md.response_modes_supported.includes('form_post'));
  assert.ok(md.response_modes_supported.includes('form_post.jwt'));
});

test('form_post: code, state and iss are posted, not put in the URL; the code redeems', async () => {
  const { params, pkce } = authParams(client, { response_mode: 'form_post' });
  const f = await authorizeFlow(server, { params, ...RESIDENT });
  assert.deepEqual(f.trail, ['login', 'consent']);
  const form = postedForm(f.response);
  assert.deepEqual(Object.keys(form.fields).sort(), ['code', 'iss', 'state']);
  assert.equal(form.fields.state, params.state);
  assert.equal(form.fields.iss, server.base);
  const t = await tokenRequest(server, client, { grant_type: 'authorization_code', code: form.fields.code,
    redirect_uri: params.redirect_uri, code_verifier: pkce.verifier });
  assert.equal(t.status, 200, t.text);
});

test('form_post.jwt: one signed response field; a refusal is posted the same way', async () => {
  const { params } = authParams(client, { response_mode: 'form_post.jwt', prompt: 'consent' });
  const f = await authorizeFlow(server, { params, ...RESIDENT, decision: 'deny' });
  const form = postedForm(f.response);
  assert.deepEqual(Object.keys(form.fields), ['response']);
  const { payload } = await verifyJwt(form.fields.response, await jwks(server));
  assert.equal(payload.iss, server.base);
  assert.equal(payload.aud, client.client_id);
  assert.equal(payload.error, 'access_denied');
  assert.equal(payload.state, params.state);
});

test('an error in the request is posted too, with the page in the language asked for', async () => {
  const { params } = authParams(client, { response_mode: 'form_post', code_challenge_method: 'plain',
    ui_locales: 'ja' });
  const r = await request(authorizeUrl(server, params));
  const form = postedForm(r);
  assert.equal(form.fields.error, 'invalid_request');
  assert.equal(form.fields.state, params.state);
  assert.equal(form.fields.iss, server.base);
  assert.match(r.text, /<html lang="ja">/);
});

test('a redirect URI a browser cannot post to gets the error in its query instead', async () => {
  const app = await makeClient(server, { auth: 'none', redirectUris: ['com.example.app:/cb'] });
  const { params } = authParams(app, { response_mode: 'form_post' });
  const r = await request(authorizeUrl(server, params));
  assert.equal(r.status, 303);
  const location = new URL(r.headers.get('location'));
  assert.equal(location.protocol, 'com.example.app:');
  assert.equal(location.searchParams.get('error'), 'invalid_request');
  assert.match(location.searchParams.get('error_description'), /form_post/);
});

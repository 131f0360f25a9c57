// OpenID Connect RP-Initiated Logout 1.0 at the end_session_endpoint, and id_token_hint at
// /authorize (OIDC Core §3.1.2.1), against the real server over HTTP.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  CookieJar, authorizeFlow, authorizeUrl, decodeJwt, follow, loginForm, parseForms, postForm, request,
} from '../support/harness.mjs';
import { RESIDENT, RP_CB, authParams, makeClient, setup, tokenRequest } from '../support/fixtures.mjs';

const BYE = 'https://rp.example.test/bye';
const BOB = { username: 'bob', password: 'another correct horse battery' };

let server;
let client;
before(async () => {
  server = await setup();
  client = await makeClient(server, { extra: ['--post-logout-redirect-uri', BYE] });
  server.addResident(BOB.username, BOB.password, ['--name', 'Bob Example']);
});
after(async () => { await server?.close(); });

/** A browser signed in through a code flow as `who`; its jar and the tokens it received. */
async function signedIn(who = RESIDENT, overrides = {}, as = client, jar = undefined) {
  const { params, pkce } = authParams(as, overrides);
  const flow = await authorizeFlow(server, { params, ...who, jar });
  const code = flow.params.get('code');
  assert.ok(code, `code (trail ${flow.trail.join(',')})`);
  const r = await tokenRequest(server, as, {
    grant_type: 'authorization_code', code, redirect_uri: params.redirect_uri,
    code_verifier: pkce.verifier,
  });
  assert.equal(r.status, 200, r.text);
  return { jar: flow.jar, tokens: r.json() };
}

async function isSignedIn(jar) {
  const r = await request(server.url('/account'), { jar });
  assert.equal(r.status, 200);
  return !loginForm(r.text);
}

function logoutUrl(fields) {
  const u = new URL(server.url('/logout'));
  for (const [k, v] of Object.entries(fields)) u.searchParams.set(k, v);
  return u.href;
}

async function confirmationPage(jar, fields) {
  const r = await request(logoutUrl(fields), { jar });
  assert.equal(r.status, 200, r.text.slice(0, 300));
  const form = parseForms(r.text).find((f) => 'csrf_token' in f.fields);
  assert.ok(form, 'a confirmation form');
  return { r, form, action: new URL(form.action, r.url).href };
}

test('discovery names the end-session endpoint', async () => {
  const md = await server.metadata();
  assert.equal(md.end_session_endpoint, `${server.base}/logout`);
});

test('logout with id_token_hint asks to confirm, then ends the session and goes back with state', async () => {
  const { jar, tokens } = await signedIn();
  const page = await confirmationPage(jar, {
    id_token_hint: tokens.id_token, post_logout_redirect_uri: BYE, state: 'st-1',
  });
  // The confirmation's answer redirects to the client, which may redirect on to another of its
  // origins: no form-action (browsers hold those redirects to it too); the rest stays strict.
  const csp = page.r.headers.get('content-security-policy') ?? '';
  assert.doesNotMatch(csp, /form-action/);
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(page.form.fields.post_logout_redirect_uri, BYE);
  assert.equal(page.form.fields.client_id, client.client_id);
  assert.ok(await isSignedIn(jar), 'asking is not signing out');

  const r = await postForm(page.action, page.form.fields, { jar });
  assert.equal(r.status, 303);
  assert.equal(r.headers.get('location'), `${BYE}?state=st-1`);
  assert.match(r.headers.get('set-cookie') ?? '', /Max-Age=0/i);
  assert.equal(await isSignedIn(jar), false);
});

test('the account page signs out to the account page', async () => {
  const { jar } = await signedIn();
  const account = await request(server.url('/account'), { jar });
  const form = parseForms(account.text).find((f) => f.action === '/logout');
  assert.ok(form, 'sign-out form');
  const r = await postForm(server.url('/logout'), form.fields, { jar });
  assert.equal(r.status, 303);
  assert.equal(r.headers.get('location'), '/account');
  assert.equal(await isSignedIn(jar), false);
});

test('the session ends at the server: its cookie no longer signs anyone in', async () => {
  const { jar } = await signedIn();
  const stolen = new CookieJar();
  for (const [name, cookie] of jar.cookies) stolen.cookies.set(name, { ...cookie });
  const page = await confirmationPage(jar, { client_id: client.client_id });
  assert.equal((await postForm(page.action, page.form.fields, { jar })).status, 303);
  assert.equal(await isSignedIn(stolen), false);
});

for (const [what, change] of [
  ['without csrf_token', (f) => { f.csrf_token = undefined; }],
  ['with a wrong csrf_token', (f) => { f.csrf_token = 'A'.repeat(43); }],
]) {
  test(`a confirmation ${what} is not one: the session stays`, async () => {
    const { jar, tokens } = await signedIn();
    const page = await confirmationPage(jar, {
      id_token_hint: tokens.id_token, post_logout_redirect_uri: BYE, state: 's',
    });
    const fields = { ...page.form.fields };
    change(fields);
    for (const k of Object.keys(fields)) if (fields[k] === undefined) delete fields[k];
    const r = await postForm(page.action, fields, { jar });
    // Without the token the POST is a new logout request: asked again as a GET, not obeyed.
    if (!('csrf_token' in fields)) {
      assert.equal(r.status, 303);
      assert.ok(r.headers.get('location').startsWith('/logout?'), r.headers.get('location'));
    } else {
      assert.equal(r.status, 403);
      assert.equal(r.headers.get('location'), null);
    }
    assert.ok(await isSignedIn(jar));
  });
}

test('only a registered post_logout_redirect_uri is followed; others are shown, and nothing ends', async () => {
  const { jar, tokens } = await signedIn();
  const other = await makeClient(server, { extra: ['--post-logout-redirect-uri', 'https://other.example.test/bye'] });
  for (const [what, fields] of [
    ['prefix', { client_id: client.client_id, post_logout_redirect_uri: 'https://rp.example.test/by' }],
    ['suffix', { client_id: client.client_id, post_logout_redirect_uri: `${BYE}/x` }],
    ['other port', { client_id: client.client_id, post_logout_redirect_uri: 'https://rp.example.test:8443/bye' }],
    ['fragment', { client_id: client.client_id, post_logout_redirect_uri: `${BYE}#x` }],
    ['the sign-in redirect URI', { client_id: client.client_id, post_logout_redirect_uri: RP_CB }],
    ['another client\'s', { client_id: client.client_id, post_logout_redirect_uri: 'https://other.example.test/bye' }],
    ['no client named', { post_logout_redirect_uri: BYE }],
    ['client_id against the hint', { client_id: other.client_id, id_token_hint: tokens.id_token }],
    ['an access token as hint', { id_token_hint: tokens.access_token, post_logout_redirect_uri: BYE }],
    ['a forged hint', { id_token_hint: `${tokens.id_token.slice(0, -4)}AAAA`, post_logout_redirect_uri: BYE }],
  ]) {
    const r = await request(logoutUrl(fields), { jar });
    assert.equal(r.status, 400, what);
    assert.equal(r.headers.get('location'), null, what);
    assert.match(r.text, /invalid_request/, what);
    assert.ok(!parseForms(r.text).some((f) => 'csrf_token' in f.fields), what);
  }
  assert.ok(await isSignedIn(jar));
});

test('a logout request POSTed from the client is asked again as a GET, which carries the session', async () => {
  const { jar, tokens } = await signedIn();
  // A cross-site form POST: the SameSite=Lax session cookie is not sent with it.
  const r = await postForm(server.url('/logout'), {
    id_token_hint: tokens.id_token, post_logout_redirect_uri: BYE, state: 'p',
  });
  assert.equal(r.status, 303);
  const next = new URL(r.headers.get('location'), server.base);
  assert.equal(next.pathname, '/logout');
  assert.equal(next.searchParams.get('post_logout_redirect_uri'), BYE);
  assert.equal(next.searchParams.get('state'), 'p');
  const page = await follow(server, r, jar);
  assert.equal(page.status, 200);
  assert.ok(parseForms(page.text).some((f) => 'csrf_token' in f.fields));
  assert.ok(await isSignedIn(jar));
});

test('with nobody signed in, a valid logout goes back at once', async () => {
  const r = await request(logoutUrl({
    client_id: client.client_id, post_logout_redirect_uri: BYE, state: 'z',
  }), { jar: new CookieJar() });
  assert.equal(r.status, 303);
  assert.equal(r.headers.get('location'), `${BYE}?state=z`);
});

test('id_token_hint: only the resident it names completes the request', async () => {
  const alice = await signedIn();
  const hint = alice.tokens.id_token;
  const bob = await signedIn(BOB);

  // prompt=none with the named resident signed in: a code.
  const { params } = authParams(client, { id_token_hint: hint, prompt: 'none' });
  let r = await follow(server, await request(authorizeUrl(server, params), { jar: alice.jar }), alice.jar);
  assert.equal(r.status, 303);
  assert.ok(r.location().searchParams.get('code'), r.headers.get('location'));

  // prompt=none with someone else signed in: login_required, with state and iss.
  const none = authParams(client, { id_token_hint: hint, prompt: 'none' }).params;
  r = await follow(server, await request(authorizeUrl(server, none), { jar: bob.jar }), bob.jar);
  assert.equal(r.status, 303);
  let back = r.location();
  assert.equal(back.origin + back.pathname, RP_CB);
  assert.equal(back.searchParams.get('error'), 'login_required');
  assert.equal(back.searchParams.get('state'), none.state);
  assert.equal(back.searchParams.get('iss'), server.base);

  // Without prompt=none, someone else signed in is asked to sign in; signing in as someone
  // else again ends the request with login_required and no code.
  const asked = authParams(client, { id_token_hint: hint }).params;
  const flow = await authorizeFlow(server, { params: asked, ...BOB, jar: bob.jar });
  assert.deepEqual(flow.trail, ['login']);
  back = flow.location;
  assert.equal(back.searchParams.get('error'), 'login_required');
  assert.equal(back.searchParams.get('code'), null);

  // A hint that is not this server's ID token for this client: an error, redirected.
  const bad = authParams(client, { id_token_hint: alice.tokens.access_token }).params;
  r = await request(authorizeUrl(server, bad), { jar: alice.jar });
  assert.equal(r.status, 303);
  assert.equal(r.location().searchParams.get('error'), 'invalid_request');
});

// OpenID Connect Front-Channel Logout 1.0: ending the session answers with a page that loads the
// front-channel logout URI of each client signed in within it (iss and sid for the one that
// asked), allows exactly their origins to be framed, and goes on to the client by itself.
test('ending the session loads the front-channel logout pages of the clients signed in within it', async () => {
  const front = await makeClient(server, {
    extra: ['--post-logout-redirect-uri', BYE,
      '--frontchannel-logout-uri', 'https://rp.example.test/front?tenant=7',
      '--frontchannel-logout-session-required'],
  });
  const plain = await makeClient(server, {
    redirectUris: ['https://other.example.test/cb'],
    extra: ['--frontchannel-logout-uri', 'https://other.example.test/front'],
  });
  const md = await server.metadata();
  assert.equal(md.frontchannel_logout_supported, true);
  assert.equal(md.frontchannel_logout_session_supported, true);

  // Another port of the same host is another origin, with a frame-src source of its own.
  const port = await makeClient(server, {
    redirectUris: ['https://rp.example.test:8443/cb'],
    extra: ['--frontchannel-logout-uri', 'https://rp.example.test:8443/front'],
  });
  const { jar, tokens } = await signedIn(RESIDENT, {}, front);
  await signedIn(RESIDENT, {}, plain, jar);  // the same browser: the same session
  await signedIn(RESIDENT, {}, port, jar);
  const { sid } = decodeJwt(tokens.id_token).payload;
  assert.ok(sid);
  const page = await confirmationPage(jar, {
    id_token_hint: tokens.id_token, post_logout_redirect_uri: BYE, state: 'st-front',
  });
  const r = await postForm(page.action, page.form.fields, { jar });
  assert.equal(r.status, 200, 'a page, not a redirect: the iframes must load first');
  assert.match(r.headers.get('set-cookie') ?? '', /Max-Age=0/i);
  assert.equal(await isSignedIn(jar), false);
  const frames = [...r.text.matchAll(/<iframe hidden title="logout" src="([^"]+)"><\/iframe>/g)]
    .map((m) => new URL(m[1].replaceAll('&amp;', '&')));
  assert.equal(frames.length, 3, r.text);
  const mine = frames.find((u) => u.host === 'rp.example.test');
  assert.equal(frames.find((u) => u.host === 'rp.example.test:8443')?.pathname, '/front');
  assert.equal(mine.pathname, '/front');
  assert.equal(mine.searchParams.get('tenant'), '7');
  assert.equal(mine.searchParams.get('iss'), server.base);
  assert.equal(mine.searchParams.get('sid'), sid);
  const other = frames.find((u) => u.host === 'other.example.test');
  assert.equal(other.href, 'https://other.example.test/front', 'no iss and sid unless asked for');
  // Only those origins may be framed; the page itself still may not be.
  const csp = r.headers.get('content-security-policy') ?? '';
  const frameSrc = csp.split(';').map((d) => d.trim()).find((d) => d.startsWith('frame-src '));
  assert.deepEqual(frameSrc?.split(' ').slice(1).sort(),
    ['https://other.example.test', 'https://rp.example.test', 'https://rp.example.test:8443']);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.match(csp, /default-src 'none'/);
  // Then on to the client, by itself (no script) or by the link.
  assert.ok(r.text.includes(`<meta http-equiv="refresh" content="2;url=${BYE}?state=st-front">`),
    r.text);
  assert.ok(r.text.includes(`<a href="${BYE}?state=st-front">`));

  // Registration refuses a URI of another origin than the redirect URIs.
  assert.throws(() => server.addClient(['--name', 'bad front', '--redirect-uri', RP_CB,
    '--frontchannel-logout-uri', 'https://elsewhere.example.test/front']), /frontchannel_logout_uri/);
});

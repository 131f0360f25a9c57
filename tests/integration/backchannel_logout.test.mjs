// OpenID Connect Back-Channel Logout 1.0 against the real server over HTTP: the ID token's
// sid, the logout token POSTed to a client listening on loopback when the session ends, its
// retry after a failed answer, and the metadata's rules at registration.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createPublicKey, verify } from 'node:crypto';
import { after, before, test } from 'node:test';

import { decodeJwt, loginForm, parseForms, postForm, request, waitFor } from '../support/harness.mjs';
import {
  getCode, getTokens, jwks, makeClient, setup, tokenRequest,
} from '../support/fixtures.mjs';

const EVENT = 'http://schemas.openid.net/event/backchannel-logout';

// A relying party's back-channel endpoint: records every request; answers with the statuses
// queued for its path (200 once they are used up).
let rp;
const received = [];
const answers = new Map();
let server;

before(async () => {
  rp = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      received.push({ path: req.url, method: req.method, type: req.headers['content-type'], body });
      const queued = answers.get(req.url) ?? [];
      res.statusCode = queued.length > 0 ? queued.shift() : 200;
      res.setHeader('cache-control', 'no-store');
      res.end();
    });
  });
  await new Promise((resolve) => rp.listen(0, '127.0.0.1', resolve));
  server = await setup();
});
after(async () => {
  await server?.close();
  await new Promise((resolve) => rp?.close(resolve));
});

const rpUri = (path) => `http://127.0.0.1:${rp.address().port}${path}`;
const to = (path) => received.filter((r) => r.path === path);

/** A client told at `path`, a browser signed in through it, and the tokens it received. */
async function signedIn(path) {
  const client = await makeClient(server, { extra: ['--backchannel-logout-uri', rpUri(path)] });
  const { body, flow } = await getTokens(server, client);
  return { client, jar: flow.jar, tokens: body };
}

/** Confirms a logout on the end-session page, as the resident would. */
async function logOut(jar) {
  const page = await request(server.url('/logout'), { jar });
  assert.equal(page.status, 200);
  const form = parseForms(page.text).find((f) => 'csrf_token' in f.fields);
  assert.ok(form, 'a confirmation form');
  const r = await postForm(new URL(form.action, page.url).href, form.fields, { jar });
  assert.equal(r.status, 303);
}

async function verified(token) {
  const jwt = decodeJwt(token);
  const keys = await jwks(server);
  const jwk = keys.keys.find((k) => k.kid === jwt.header.kid);
  assert.ok(jwk, 'signed with a published key');
  const ok = verify('sha256', Buffer.from(jwt.signingInput),
                    { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' },
                    jwt.signature);
  assert.ok(ok, 'the signature verifies');
  return jwt;
}

test('discovery says back-channel logout and its sid are supported', async () => {
  const md = await server.metadata();
  assert.equal(md.backchannel_logout_supported, true);
  assert.equal(md.backchannel_logout_session_supported, true);
  assert.ok(md.claims_supported.includes('sid'));
});

test('ending the session POSTs a logout token naming the session to the client signed in within it', async () => {
  const a = await signedIn('/bc-a');
  // A second session, elsewhere, with another client: it stays, and its client is not told.
  const b = await signedIn('/bc-b');
  const idA = decodeJwt(a.tokens.id_token).payload;
  const idB = decodeJwt(b.tokens.id_token).payload;
  assert.match(idA.sid, /^[A-Za-z0-9_-]{16,}$/);
  assert.notEqual(idA.sid, idB.sid, 'a sid per session');
  assert.equal(to('/bc-a').length, 0, 'nothing before the logout');

  await logOut(a.jar);
  await waitFor(() => to('/bc-a').length === 1, { what: 'the logout token at /bc-a' });
  const [call] = to('/bc-a');
  assert.equal(call.method, 'POST');
  assert.equal(call.type, 'application/x-www-form-urlencoded');
  const form = new URLSearchParams(call.body);
  assert.deepEqual([...form.keys()], ['logout_token']);
  const jwt = await verified(form.get('logout_token'));
  assert.equal(jwt.header.typ, 'logout+jwt');
  // §2.4: signed as the client's ID tokens are (RS256, the default its registration kept).
  assert.equal(jwt.header.alg, 'RS256');
  const claims = jwt.payload;
  assert.equal(claims.iss, server.base);
  assert.equal(claims.aud, a.client.client_id);
  assert.equal(claims.sub, idA.sub);
  assert.equal(claims.sid, idA.sid);
  assert.deepEqual(claims.events, { [EVENT]: {} });
  assert.equal(typeof claims.jti, 'string');
  assert.ok(claims.exp > claims.iat && claims.exp - claims.iat <= 120);
  assert.equal('nonce' in claims, false, 'a logout token is never an ID token');
  assert.equal(to('/bc-b').length, 0, 'the other session goes on, its client is not told');

  // The other session's end tells the other client, once.
  await logOut(b.jar);
  await waitFor(() => to('/bc-b').length === 1, { what: 'the logout token at /bc-b' });
  const other = decodeJwt(new URLSearchParams(to('/bc-b')[0].body).get('logout_token')).payload;
  assert.equal(other.sid, idB.sid);
  assert.equal(to('/bc-a').length, 1, 'the first client is not told twice');
});

// A resident removed by the operator (`resident remove`) loses every session; the clients
// signed in within them are told as at a logout, and the log does not name the resident again.
test('removing a resident tells the clients signed in within their sessions', async () => {
  const who = { username: 'dora', password: 'dora has a long enough password' };
  server.addResident(who.username, who.password);
  const client = await makeClient(server, { extra: ['--backchannel-logout-uri', rpUri('/bc-removed')] });
  const c = await getCode(server, client, {}, who);
  const r = await tokenRequest(server, client, {
    grant_type: 'authorization_code', code: c.code, redirect_uri: c.params.redirect_uri,
    code_verifier: c.verifier,
  });
  assert.equal(r.status, 200, r.text);
  const id = decodeJwt(r.json().id_token).payload;
  assert.equal(to('/bc-removed').length, 0);

  const removed = server.cli(['resident', 'remove', who.username]);
  assert.equal(removed.status, 0, removed.stderr);
  await waitFor(() => to('/bc-removed').length === 1, { what: 'the logout token at /bc-removed' });
  const jwt = await verified(new URLSearchParams(to('/bc-removed')[0].body).get('logout_token'));
  assert.equal(jwt.payload.sid, id.sid);
  assert.equal(jwt.payload.sub, id.sub);
  assert.equal(jwt.payload.aud, client.client_id);
  // The session is gone: its cookie signs nobody in.
  const account = await request(server.url('/account'), { jar: c.flow.jar });
  assert.ok(loginForm(account.text), 'signed out');
});

test('signing in again (prompt=login) keeps the session: same sid, and no client is told', async () => {
  const s = await signedIn('/bc-again');
  const c = await getCode(server, s.client, { prompt: 'login' }, { jar: s.jar });
  assert.ok(c.flow.trail.includes('login'), `asked to sign in again (${c.flow.trail.join(',')})`);
  const r = await tokenRequest(server, s.client, {
    grant_type: 'authorization_code', code: c.code, redirect_uri: c.params.redirect_uri,
    code_verifier: c.verifier,
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(decodeJwt(r.json().id_token).payload.sid, decodeJwt(s.tokens.id_token).payload.sid);
  // The session goes on under its new cookie; ending it tells the client once.
  await logOut(s.jar);
  await waitFor(() => to('/bc-again').length === 1, { what: 'the logout token at /bc-again' });
});

test('a client that answers 503 is tried again until it answers 200', async () => {
  answers.set('/bc-retry', [503]);
  const s = await signedIn('/bc-retry');
  await logOut(s.jar);
  await waitFor(() => to('/bc-retry').length === 2, { what: 'a second attempt' });
  const sids = to('/bc-retry').map((c) => decodeJwt(new URLSearchParams(c.body).get('logout_token')).payload.sid);
  assert.deepEqual(sids, [decodeJwt(s.tokens.id_token).payload.sid, decodeJwt(s.tokens.id_token).payload.sid]);
});

test('registration takes backchannel_logout_uri only where the server may call it', async () => {
  const register = (body) => request(server.url('/register'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${server.initialAccessToken}` },
    body: JSON.stringify({ redirect_uris: ['https://rp.example.test/cb'], ...body }),
  });
  const before = server.cliJson(['client', 'list']).length;
  for (const uri of ['http://rp.example.test/logout', 'https://rp.example.test/logout#f', 'logout']) {
    const r = await register({ backchannel_logout_uri: uri });
    assert.equal(r.status, 400, uri);
    assert.equal(r.json().error, 'invalid_client_metadata', uri);
  }
  const notBool = await register({ backchannel_logout_uri: 'https://rp.example.test/logout',
                                   backchannel_logout_session_required: 'yes' });
  assert.equal(notBool.status, 400);
  assert.equal(server.cliJson(['client', 'list']).length, before, 'nothing registered');

  const ok = await register({ backchannel_logout_uri: 'https://rp.example.test/logout',
                              backchannel_logout_session_required: true });
  assert.equal(ok.status, 201, ok.text);
  assert.equal(ok.json().backchannel_logout_uri, 'https://rp.example.test/logout');
  assert.equal(ok.json().backchannel_logout_session_required, true);
  const shown = server.cliJson(['client', 'show', ok.json().client_id]);
  assert.equal(shown.backchannel_logout_uri, 'https://rp.example.test/logout');
});

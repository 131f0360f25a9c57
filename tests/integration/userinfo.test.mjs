// OpenID Connect Core §5.3 UserInfo with RFC 6750 bearer tokens.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { postForm, request } from '../support/harness.mjs';
import { clientPost, getTokens, jwks, makeClient, setup, tokenRequest } from '../support/fixtures.mjs';
import { verifyJwt } from '../support/jose.mjs';

let server;
let client;
let tokens;
before(async () => {
  server = await setup();
  client = await makeClient(server);
  tokens = (await getTokens(server, client)).body;
});
after(async () => { await server?.close(); });

const bearer = (t) => ({ authorization: `Bearer ${t}` });

test('GET and POST with a bearer token return the resident\'s claims', async () => {
  const g = await request(server.url('/userinfo'), { headers: bearer(tokens.access_token) });
  assert.equal(g.status, 200, g.text);
  assert.match(g.headers.get('content-type') ?? '', /^application\/json/);
  const claims = g.json();
  assert.equal(claims.sub, server.resident.sub);
  assert.equal(claims.name, 'Alice Example', 'profile scope');
  assert.equal(claims.email, 'alice@example.test', 'email scope');
  const p = await request(server.url('/userinfo'), { method: 'POST', headers: bearer(tokens.access_token) });
  assert.equal(p.status, 200);
  assert.equal(p.json().sub, server.resident.sub);
});

// RFC 6750 §2.2, kept by OAuth 2.1: the token as a form parameter of a POST, for clients that
// cannot set the header; one method only, and never with another content type.
test('POST with the token as the form parameter access_token (RFC 6750 §2.2)', async () => {
  const p = await postForm(server.url('/userinfo'), { access_token: tokens.access_token });
  assert.equal(p.status, 200, p.text);
  assert.equal(p.json().sub, server.resident.sub);
  assert.equal(p.json().email, 'alice@example.test');

  const both = await postForm(server.url('/userinfo'), { access_token: tokens.access_token },
    { headers: bearer(tokens.access_token) });
  assert.equal(both.status, 400, 'header and body at once (RFC 6750 §2)');
  assert.equal(both.json().error, 'invalid_request');
  const twice = await request(server.url('/userinfo'), { method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `access_token=${tokens.access_token}&access_token=${tokens.access_token}` });
  assert.equal(twice.status, 400);
  assert.equal(twice.json().error, 'invalid_request');
  const json = await request(server.url('/userinfo'), { method: 'POST',
    headers: { 'content-type': 'application/json' }, body: JSON.stringify({ access_token: tokens.access_token }) });
  assert.equal(json.status, 400);
  assert.ok(!json.text.includes(server.resident.sub));
  const bad = await postForm(server.url('/userinfo'), { access_token: 'garbage' });
  assert.equal(bad.status, 401);
  assert.match(bad.headers.get('www-authenticate') ?? '', /^Bearer .*error="invalid_token"/);
  const none = await postForm(server.url('/userinfo'), { other: 'x' });
  assert.equal(none.status, 400);
  assert.equal(none.json().error, 'invalid_request');
});

// OIDC Core §5.3.2: a client registered with userinfo_signed_response_alg gets a signed JWT.
test('a client that registered signed answers gets a JWT with iss and aud (OIDC Core §5.3.2)', async () => {
  const signed = await makeClient(server, { extra: ['--userinfo-signed-response-alg', 'ES256'] });
  assert.equal(server.cliJson(['client', 'show', signed.client_id]).userinfo_signed_response_alg, 'ES256');
  const t = (await getTokens(server, signed)).body;
  const r = await request(server.url('/userinfo'), { headers: bearer(t.access_token) });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('content-type'), 'application/jwt');
  assert.match(r.headers.get('cache-control') ?? '', /no-store/);
  const { payload } = await verifyJwt(r.text, await jwks(server));
  assert.equal(payload.iss, server.base);
  assert.equal(payload.aud, signed.client_id);
  assert.equal(payload.sub, server.resident.sub);
  assert.equal(payload.email, 'alice@example.test');
  // Errors stay the plain JSON error with the challenge; other clients get plain JSON.
  const bad = await request(server.url('/userinfo'), { headers: bearer('garbage') });
  assert.equal(bad.status, 401);
  const plain = await request(server.url('/userinfo'), { headers: bearer(tokens.access_token) });
  assert.match(plain.headers.get('content-type') ?? '', /^application\/json/);
  // RS256 and PS256 too; another algorithm is refused at registration, by the CLI as by
  // /register.
  const rs = await makeClient(server, { extra: ['--userinfo-signed-response-alg', 'RS256'] });
  const rsTokens = (await getTokens(server, rs)).body;
  const rsAnswer = await request(server.url('/userinfo'), { headers: bearer(rsTokens.access_token) });
  assert.equal(rsAnswer.headers.get('content-type'), 'application/jwt');
  const verified = await verifyJwt(rsAnswer.text, await jwks(server));
  assert.equal(verified.header.alg, 'RS256');
  assert.equal(verified.payload.aud, rs.client_id);
  const ps = await makeClient(server, { extra: ['--userinfo-signed-response-alg', 'PS256'] });
  const psTokens = (await getTokens(server, ps)).body;
  const psAnswer = await request(server.url('/userinfo'), { headers: bearer(psTokens.access_token) });
  assert.equal((await verifyJwt(psAnswer.text, await jwks(server))).header.alg, 'PS256');
  assert.notEqual(server.cli(['client', 'add', '--name', 'es', '--redirect-uri', 'https://rp.example.test/cb',
    '--userinfo-signed-response-alg', 'ES384']).status, 0);
  assert.notEqual(server.cli(['client', 'add', '--name', 'ps', '--redirect-uri', 'https://rp.example.test/cb',
    '--id-token-signed-response-alg', 'none']).status, 0);
});

test('only the claims of the granted scopes', async () => {
  const t = (await getTokens(server, client, { scope: 'openid' })).body;
  const r = await request(server.url('/userinfo'), { headers: bearer(t.access_token) });
  assert.equal(r.status, 200);
  const c = r.json();
  assert.equal(c.sub, server.resident.sub);
  assert.equal(c.email, undefined);
  assert.equal(c.name, undefined);
});

// OIDC Core §5.5: the claims parameter asks for claims in the ID token too; only those the
// scope grants are given, and a malformed one is refused at the redirect URI.
test('the claims parameter puts granted claims in the ID token', async () => {
  const md = await server.metadata();
  assert.equal(md.claims_parameter_supported, true);
  const claims = JSON.stringify({ id_token: { email: { essential: true }, name: null },
    userinfo: { email: null } });
  const t = (await getTokens(server, client, { scope: 'openid email', claims })).body;
  const { payload } = await verifyJwt(t.id_token, await jwks(server));
  assert.equal(payload.email, 'alice@example.test');
  assert.equal(payload.name, undefined, 'the profile scope was not asked for');
  const u = await request(server.url('/userinfo'), { headers: bearer(t.access_token) });
  assert.equal(u.json().email, 'alice@example.test');

  const bad = await getTokens(server, client, { claims: '{"id_token": []}' }).catch((e) => e);
  assert.ok(bad instanceof Error);
  assert.match(bad.message, /error=invalid_request/);
});

test('no token: 401 with WWW-Authenticate: Bearer (RFC 6750 §3)', async () => {
  const r = await request(server.url('/userinfo'));
  assert.equal(r.status, 401);
  assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/i);
});

test('invalid or tampered token: 401 invalid_token', async () => {
  const parts = tokens.access_token.split('.');
  const payload = JSON.parse(Buffer.from(parts[1], 'base64url'));
  payload.sub = 'someone-else';
  const forged = `${parts[0]}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${parts[2]}`;
  for (const t of ['garbage', forged, `${parts[0]}.${parts[1]}.`]) {
    const r = await request(server.url('/userinfo'), { headers: bearer(t) });
    assert.equal(r.status, 401);
    assert.match(r.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  }
});

test('access token in the URL query is not accepted (RFC 9700 §4.3.2, RFC 6750 §2.3)', async () => {
  const r = await request(server.url(`/userinfo?access_token=${encodeURIComponent(tokens.access_token)}`));
  assert.ok(!r.text.includes(server.resident.sub));
  // RFC 6750 §3: no usable token, so the Bearer challenge, with invalid_request (§3.1) and its
  // 400. Authlib's token_placement='uri' sends the token there (tests/interop).
  assert.equal(r.status, 400);
  assert.equal(r.json().error, 'invalid_request');
  assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer realm="infobank", error="invalid_request"/);
  // The same for the other requests whose token this endpoint cannot take.
  const both = await postForm(server.url('/userinfo'), { access_token: tokens.access_token },
                              { headers: bearer(tokens.access_token) });
  const missing = await postForm(server.url('/userinfo'), { other: 'x' });
  for (const bad of [both, missing]) {
    assert.equal(bad.status, 400);
    assert.match(bad.headers.get('www-authenticate') ?? '', /^Bearer realm="infobank", error="invalid_request"/);
  }
});

test('a client_credentials token (no resident, no openid) gets no userinfo', async () => {
  const cc = await makeClient(server, { grants: ['client_credentials'], redirectUris: [], scope: 'data.read' });
  const t = (await tokenRequest(server, cc, { grant_type: 'client_credentials' })).json();
  const r = await request(server.url('/userinfo'), { headers: bearer(t.access_token) });
  assert.ok([401, 403].includes(r.status), `status ${r.status}`);
});

test('a revoked access token gets no userinfo', async () => {
  const t = (await getTokens(server, client)).body;
  await postForm(server.url('/revoke'), { token: t.access_token, client_id: client.client_id, client_secret: client.client_secret });
  const r = await request(server.url('/userinfo'), { headers: bearer(t.access_token) });
  assert.equal(r.status, 401);
});

test('pairwise clients (OIDC Core §8) see a sub of their own sector, the same everywhere they look', async () => {
  const at = (host) => makeClient(server, { redirectUris: [`https://${host}/cb`], extra: ['--subject-type', 'pairwise'] });
  const [a1, a2, b] = [await at('a.example.test'), await at('a.example.test'), await at('b.example.test')];
  assert.equal(server.cliJson(['client', 'show', a1.client_id]).subject_type, 'pairwise');
  const subs = [];
  for (const c of [a1, a2, b]) {
    const t = (await getTokens(server, c)).body;
    const idSub = JSON.parse(Buffer.from(t.id_token.split('.')[1], 'base64url')).sub;
    const atSub = JSON.parse(Buffer.from(t.access_token.split('.')[1], 'base64url')).sub;
    const info = (await request(server.url('/userinfo'), { headers: bearer(t.access_token) })).json();
    const intro = (await clientPost(server, c, '/introspect', { token: t.access_token })).json();
    assert.equal(atSub, idSub);
    assert.equal(info.sub, idSub);
    assert.equal(intro.active, true);
    assert.equal(intro.sub, idSub);
    assert.match(idSub, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(idSub, server.resident.sub, 'not the resident id');
    subs.push(idSub);
  }
  assert.equal(subs[0], subs[1], 'one sector, one sub');
  assert.notEqual(subs[0], subs[2], 'another sector, another sub');

  // Registration takes subject_type; a pairwise client on two hosts is refused.
  const reg = (body) => request(server.url('/register'), {
    method: 'POST', body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${server.initialAccessToken}` },
  });
  const ok = await reg({ redirect_uris: ['https://c.example.test/cb'], subject_type: 'pairwise' });
  assert.equal(ok.status, 201, ok.text);
  assert.equal(ok.json().subject_type, 'pairwise');
  const two = await reg({ redirect_uris: ['https://c.example.test/cb', 'https://d.example.test/cb'], subject_type: 'pairwise' });
  assert.equal(two.status, 400);
  assert.equal(two.json().error, 'invalid_client_metadata');
  const md = await server.metadata();
  assert.deepEqual(md.subject_types_supported, ['public', 'pairwise']);
});

// RFC 7591 dynamic client registration, protected by an initial access token (§3).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { decodeJwt, request } from '../support/harness.mjs';
import { getTokens, setup, tokenRequest } from '../support/fixtures.mjs';
import { generateKey, verifyJwt } from '../support/jose.mjs';

let server;
before(async () => { server = await setup(); });
after(async () => { await server?.close(); });

function register(body, { token = server.initialAccessToken, contentType = 'application/json' } = {}) {
  const headers = { 'content-type': contentType };
  if (token) headers.authorization = `Bearer ${token}`;
  return request(server.url('/register'), {
    method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const clientCount = () => server.cliJson(['client', 'list']).length;

test('registers a confidential client that can then sign in a resident', async () => {
  const r = await register({
    client_name: 'Registered RP', redirect_uris: ['https://rp.example.test/cb'],
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
    scope: 'openid profile offline_access',
  });
  assert.equal(r.status, 201, r.text);
  assert.match(r.headers.get('cache-control') ?? '', /no-store/);
  const c = r.json();
  assert.ok(c.client_id);
  assert.ok(c.client_secret);
  assert.deepEqual(c.redirect_uris, ['https://rp.example.test/cb']);
  assert.equal(c.token_endpoint_auth_method, 'client_secret_basic');
  assert.ok(Number.isInteger(c.client_id_issued_at));
  // What the server signs for the client, said in the answer: RS256, the default where these
  // are defined (OIDC Registration §2, JARM §3, RFC 9701 §6), since the client named none.
  assert.equal(c.id_token_signed_response_alg, 'RS256');
  assert.equal(c.authorization_signed_response_alg, 'RS256');
  assert.equal(c.introspection_signed_response_alg, 'RS256');
  assert.equal(server.cliJson(['client', 'show', c.client_id]).id_token_signed_response_alg, 'RS256');
  // The RS256 key is published from the registration on, before anything is signed with it.
  const jwks = await (await fetch(server.url('/jwks'))).json();
  const rsa = jwks.keys.filter((k) => k.alg === 'RS256');
  assert.equal(rsa.length, 1);
  assert.equal(rsa[0].kty, 'RSA');
  assert.equal(Buffer.from(rsa[0].n, 'base64url').length, 256, 'a 2048-bit modulus');
  const t = await getTokens(server, { ...c, auth: 'client_secret_basic', redirectUri: 'https://rp.example.test/cb' },
                            { scope: 'openid profile offline_access' });
  assert.ok(t.body.access_token);
  const id = await verifyJwt(t.body.id_token, jwks);
  assert.equal(id.header.alg, 'RS256');
  assert.equal(id.header.kid, rsa[0].kid);
  assert.equal(id.payload.aud, c.client_id);
  assert.equal(decodeJwt(t.body.access_token).header.alg, 'ES256', 'access tokens stay ES256');
});

test('a client that asks for ES256 (or RS256, or PS256) where the server signs is registered', async () => {
  const r = await register({
    redirect_uris: ['https://rp.example.test/cb'], id_token_signed_response_alg: 'ES256',
    authorization_signed_response_alg: 'ES256', introspection_signed_response_alg: 'ES256',
    userinfo_signed_response_alg: 'ES256',
  });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json().id_token_signed_response_alg, 'ES256');
  // Signed UserInfo answers have no default (plain JSON), so only a client that asked has one.
  assert.equal(r.json().userinfo_signed_response_alg, 'ES256');
  assert.equal(server.cliJson(['client', 'show', r.json().client_id]).userinfo_signed_response_alg, 'ES256');
  const plain = await register({ redirect_uris: ['https://rp.example.test/cb'] });
  assert.equal(plain.json().userinfo_signed_response_alg, undefined);
  const rs = await register({ redirect_uris: ['https://rp.example.test/cb'], userinfo_signed_response_alg: 'RS256' });
  assert.equal(rs.status, 201, rs.text);
  assert.equal(rs.json().userinfo_signed_response_alg, 'RS256');
});

// FAPI 2.0 (Security Profile §5.4.1) allows PS256, ES256 and EdDSA, not RS256: a FAPI client
// asks for PS256 or EdDSA, and its ID tokens are signed so (RSASSA-PSS, Ed25519) with a key of
// its own algorithm, made and published when the first client that asks for it is registered.
for (const [alg, kty] of [['PS256', 'RSA'], ['EdDSA', 'OKP']]) {
  test(`a client that asks for ${alg} gets ID tokens and UserInfo signed with ${alg}`, async () => {
    const keysOf = (jwks) => jwks.keys.filter((k) => k.alg === alg);
    const before = keysOf(await (await fetch(server.url('/jwks'))).json());
    const r = await register({
      redirect_uris: ['https://rp.example.test/cb'], token_endpoint_auth_method: 'client_secret_basic',
      scope: 'openid', id_token_signed_response_alg: alg, userinfo_signed_response_alg: alg,
    });
    assert.equal(r.status, 201, r.text);
    const c = r.json();
    assert.equal(c.id_token_signed_response_alg, alg);
    assert.equal(c.authorization_signed_response_alg, 'RS256', 'what it did not name keeps the default');
    const jwks = await (await fetch(server.url('/jwks'))).json();
    const own = keysOf(jwks);
    assert.equal(own.length, Math.max(1, before.length));
    assert.equal(own[0].kty, kty);
    assert.ok(!jwks.keys.some((k) => k.alg !== alg && k.kid === own[0].kid), 'a key of its own');
    const t = await getTokens(server, { ...c, auth: 'client_secret_basic', redirectUri: 'https://rp.example.test/cb' },
                              { scope: 'openid' });
    const id = await verifyJwt(t.body.id_token, jwks);
    assert.equal(id.header.alg, alg);
    assert.equal(id.header.kid, own[0].kid);
    assert.equal(id.payload.aud, c.client_id);
    const info = await request(server.url('/userinfo'),
                               { headers: { authorization: `Bearer ${t.body.access_token}` } });
    assert.equal(info.status, 200, info.text);
    assert.match(info.headers.get('content-type'), /^application\/jwt/);
    const signed = await verifyJwt(info.text, jwks);
    assert.equal(signed.header.alg, alg);
    assert.equal(signed.payload.sub, id.payload.sub);
  });
}

test('registers a private_key_jwt client with an inline JWKS', async () => {
  const key = await generateKey();
  const r = await register({
    client_name: 'Machine', token_endpoint_auth_method: 'private_key_jwt',
    grant_types: ['client_credentials'], jwks: { keys: [{ ...key.jwk, kid: key.kid, alg: 'ES256', use: 'sig' }] },
  });
  assert.equal(r.status, 201, r.text);
  const c = r.json();
  assert.equal(c.client_secret, undefined);
  const t = await tokenRequest(server, { ...c, auth: 'private_key_jwt', key }, { grant_type: 'client_credentials' });
  assert.equal(t.status, 200, t.text);
});

test('token_endpoint_auth_signing_alg (OIDC Registration §2) is kept, echoed and the only alg taken', async () => {
  const key = await generateKey();  // ES256
  const jwks = { keys: [{ ...key.jwk, kid: key.kid, alg: 'ES256', use: 'sig' }] };
  const base = { token_endpoint_auth_method: 'private_key_jwt', grant_types: ['client_credentials'], jwks };
  const same = await register({ ...base, token_endpoint_auth_signing_alg: 'ES256' });
  assert.equal(same.status, 201, same.text);
  assert.equal(same.json().token_endpoint_auth_signing_alg, 'ES256');
  const ok = await tokenRequest(server, { ...same.json(), auth: 'private_key_jwt', key }, { grant_type: 'client_credentials' });
  assert.equal(ok.status, 200, ok.text);

  const other = await register({ ...base, token_endpoint_auth_signing_alg: 'EdDSA', request_object_signing_alg: 'PS256' });
  assert.equal(other.status, 201, other.text);
  assert.equal(other.json().request_object_signing_alg, 'PS256');
  const read = await fetch(other.json().registration_client_uri, {
    headers: { authorization: `Bearer ${other.json().registration_access_token}` },
  });
  assert.equal(read.status, 200);
  const kept = await read.json();
  assert.equal(kept.token_endpoint_auth_signing_alg, 'EdDSA');
  assert.equal(kept.request_object_signing_alg, 'PS256');
  // Its own key, but ES256 where it registered EdDSA.
  const refused = await tokenRequest(server, { ...other.json(), auth: 'private_key_jwt', key }, { grant_type: 'client_credentials' });
  assert.equal(refused.status, 401, refused.text);
  assert.equal(refused.json().error, 'invalid_client');
});

test('without or with a wrong initial access token: 401, nothing registered', async () => {
  const n = clientCount();
  const body = { redirect_uris: ['https://rp.example.test/cb'], client_name: 'x' };
  const a = await register(body, { token: null });
  assert.equal(a.status, 401);
  const b = await register(body, { token: 'wrong-token' });
  assert.equal(b.status, 401);
  assert.match(b.headers.get('www-authenticate') ?? '', /^Bearer/i);
  assert.equal(clientCount(), n);
});

for (const [name, body, error] of [
  ['redirect URI with a fragment', { redirect_uris: ['https://rp.example.test/cb#x'] }, 'invalid_redirect_uri'],
  ['relative redirect URI', { redirect_uris: ['/cb'] }, 'invalid_redirect_uri'],
  ['plain http to a non-loopback host', { redirect_uris: ['http://rp.example.test/cb'] }, 'invalid_redirect_uri'],
  ['implicit grant', { redirect_uris: ['https://rp.example.test/cb'], grant_types: ['implicit'], response_types: ['token'] }, 'invalid_client_metadata'],
  ['password grant', { redirect_uris: ['https://rp.example.test/cb'], grant_types: ['password'] }, 'invalid_client_metadata'],
  ['unknown auth method', { redirect_uris: ['https://rp.example.test/cb'], token_endpoint_auth_method: 'client_secret_jwt_plus' }, 'invalid_client_metadata'],
  ['redirect_uris not an array', { redirect_uris: 'https://rp.example.test/cb' }, 'invalid_redirect_uri|invalid_client_metadata'],
  ['ID tokens signed with ES384', { redirect_uris: ['https://rp.example.test/cb'], id_token_signed_response_alg: 'ES384' }, 'invalid_client_metadata'],
  ['unsigned ID tokens', { redirect_uris: ['https://rp.example.test/cb'], id_token_signed_response_alg: 'none' }, 'invalid_client_metadata'],
  ['an algorithm that is not a string', { redirect_uris: ['https://rp.example.test/cb'], id_token_signed_response_alg: 256 }, 'invalid_client_metadata'],
  ['JARM responses signed with HS256', { redirect_uris: ['https://rp.example.test/cb'], authorization_signed_response_alg: 'HS256' }, 'invalid_client_metadata'],
  ['introspection answers signed with RS384', { redirect_uris: ['https://rp.example.test/cb'], introspection_signed_response_alg: 'RS384' }, 'invalid_client_metadata'],
  ['encrypted ID tokens', { redirect_uris: ['https://rp.example.test/cb'], id_token_encrypted_response_alg: 'RSA-OAEP-256' }, 'invalid_client_metadata'],
  ['UserInfo answers signed with Ed448', { redirect_uris: ['https://rp.example.test/cb'], userinfo_signed_response_alg: 'Ed448' }, 'invalid_client_metadata'],
  ['ID tokens signed with a lower-case eddsa', { redirect_uris: ['https://rp.example.test/cb'], id_token_signed_response_alg: 'eddsa' }, 'invalid_client_metadata'],
  ['client assertions MACed with HS256', { redirect_uris: ['https://rp.example.test/cb'], token_endpoint_auth_signing_alg: 'HS256' }, 'invalid_client_metadata'],
  ['unsigned request objects', { redirect_uris: ['https://rp.example.test/cb'], request_object_signing_alg: 'none' }, 'invalid_client_metadata'],
]) {
  test(`rejects ${name}: ${error} (RFC 7591 §3.2.2), nothing registered`, async () => {
    const n = clientCount();
    const r = await register(body);
    assert.equal(r.status, 400, r.text);
    assert.match(r.json().error, new RegExp(`^(${error})$`));
    assert.equal(clientCount(), n);
  });
}

test('malformed JSON, wrong content type and oversize bodies change nothing', async () => {
  const n = clientCount();
  const bad = await register('{"redirect_uris": [');
  assert.equal(bad.status, 400);
  assert.match(bad.json().error, /^(invalid_request|invalid_client_metadata)$/);
  const form = await register('redirect_uris=https%3A%2F%2Frp.example.test%2Fcb',
                              { contentType: 'application/x-www-form-urlencoded' });
  assert.ok([400, 415].includes(form.status), `status ${form.status}`);
  // RFC 9110 §15.5.14: 413, or the server may close the connection.
  const big = await register({ redirect_uris: ['https://rp.example.test/cb'], client_name: 'x'.repeat(200_000) })
    .catch((e) => ({ status: 'closed', error: e }));
  assert.ok([400, 413, 'closed'].includes(big.status), `status ${big.status}`);
  assert.equal(clientCount(), n);
});

test('post_logout_redirect_uris (RP-Initiated Logout §3.1) are registered like redirect URIs', async () => {
  const uris = ['https://rp.example.test/bye', 'https://rp.example.test/bye?from=register'];
  const r = await register({ redirect_uris: ['https://rp.example.test/cb'], post_logout_redirect_uris: uris });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(r.json().post_logout_redirect_uris, uris);
  assert.deepEqual(server.cliJson(['client', 'show', r.json().client_id]).post_logout_redirect_uris, uris);

  const before = clientCount();
  for (const bad of [['https://rp.example.test/bye#x'], ['javascript:alert(1)'], 'https://rp.example.test/bye', [7]]) {
    const refused = await register({ redirect_uris: ['https://rp.example.test/cb'], post_logout_redirect_uris: bad });
    assert.equal(refused.status, 400, JSON.stringify(bad));
    assert.equal(refused.json().error, 'invalid_client_metadata', JSON.stringify(bad));
  }
  assert.equal(clientCount(), before);
});

// Front-Channel Logout §2: a page on the origin of one of the client's redirect URIs.
test('frontchannel_logout_uri is registered only on the origin of a redirect URI', async () => {
  const before = clientCount();
  for (const body of [{ frontchannel_logout_uri: 'https://elsewhere.example.test/front' },
    { frontchannel_logout_uri: 'http://rp.example.test/front' },
    { frontchannel_logout_uri: 'https://rp.example.test/front#x' },
    { frontchannel_logout_uri: 7 },
    { frontchannel_logout_uri: 'https://rp.example.test/front', frontchannel_logout_session_required: 'yes' },
    { frontchannel_logout_session_required: true }]) {
    const refused = await register({ redirect_uris: ['https://rp.example.test/cb'], ...body });
    assert.equal(refused.status, 400, JSON.stringify(body));
    assert.equal(refused.json().error, 'invalid_client_metadata', JSON.stringify(body));
  }
  assert.equal(clientCount(), before, 'nothing registered');

  const ok = await register({ redirect_uris: ['https://rp.example.test/cb'],
    frontchannel_logout_uri: 'https://rp.example.test/front', frontchannel_logout_session_required: true });
  assert.equal(ok.status, 201, ok.text);
  assert.equal(ok.json().frontchannel_logout_uri, 'https://rp.example.test/front');
  assert.equal(ok.json().frontchannel_logout_session_required, true);
  const shown = server.cliJson(['client', 'show', ok.json().client_id]);
  assert.equal(shown.frontchannel_logout_uri, 'https://rp.example.test/front');
  assert.equal(shown.frontchannel_logout_session_required, true);
});

// RFC 7592: the registration access token reads, replaces and deletes the registration.
test('a registered client reads, updates and deletes its registration (RFC 7592)', async () => {
  const r = await register({ client_name: 'Managed', redirect_uris: ['https://rp.example.test/cb'],
    scope: 'openid profile offline_access' });
  assert.equal(r.status, 201, r.text);
  const c = r.json();
  assert.ok(c.registration_access_token);
  assert.equal(c.registration_client_uri, server.url(`/register/${c.client_id}`));
  const manage = (method, { token = c.registration_access_token, body, contentType = 'application/json' } = {}) => {
    const headers = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = contentType;
    return request(c.registration_client_uri, {
      method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
  };

  const read = await manage('GET');
  assert.equal(read.status, 200, read.text);
  assert.match(read.headers.get('cache-control') ?? '', /no-store/);
  assert.equal(read.json().client_name, 'Managed');
  assert.equal(read.json().client_secret, undefined, 'the secret is stored hashed, never shown again');

  for (const token of [null, 'wrong-token', server.initialAccessToken]) {
    const denied = await manage('GET', { token });
    assert.equal(denied.status, 401, `token ${token}`);
    assert.match(denied.headers.get('www-authenticate') ?? '', /^Bearer/i);
  }
  const other = await request(server.url('/register/not-a-client'), {
    headers: { authorization: `Bearer ${c.registration_access_token}` } });
  assert.equal(other.status, 401, 'an unknown id answers as a wrong token does');

  const wrongType = await manage('PUT', { body: { client_id: c.client_id }, contentType: 'text/plain' });
  assert.equal(wrongType.status, 400);
  const mismatch = await manage('PUT', { body: { client_id: 'someone-else', redirect_uris: ['https://rp.example.test/cb'] } });
  assert.equal(mismatch.status, 400);
  assert.equal(mismatch.json().error, 'invalid_request');
  assert.equal((await manage('GET')).json().client_name, 'Managed', 'a refused update changes nothing');

  const put = await manage('PUT', { body: { client_id: c.client_id, client_name: 'Renamed',
    redirect_uris: ['https://rp.example.test/cb2'], scope: 'openid' } });
  assert.equal(put.status, 200, put.text);
  const shown = server.cliJson(['client', 'show', c.client_id]);
  assert.equal(shown.client_name, 'Renamed');
  assert.deepEqual(shown.redirect_uris, ['https://rp.example.test/cb2']);
  // The secret still authenticates, at the new redirect URI.
  const t = await getTokens(server, { ...c, auth: 'client_secret_basic', redirectUri: 'https://rp.example.test/cb2' },
                            { scope: 'openid' });
  assert.ok(t.body.access_token);

  const post = await manage('POST', { body: {} });
  assert.equal(post.status, 405);
  assert.match(post.headers.get('allow') ?? '', /DELETE/);

  const del = await manage('DELETE');
  assert.equal(del.status, 204);
  assert.equal(del.text, '');
  assert.throws(() => server.cliJson(['client', 'show', c.client_id]));
  assert.equal((await manage('GET')).status, 401);
  const after = await tokenRequest(server, { ...c, auth: 'client_secret_basic' }, { grant_type: 'client_credentials' });
  assert.equal(after.status, 401, 'a deleted client cannot authenticate');
});

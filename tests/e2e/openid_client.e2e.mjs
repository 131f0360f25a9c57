// End to end: a second, independently written OAuth client, openid-client 5 (its own
// implementation on jose; version 6 is built on oauth4webapi, which oauth4webapi.e2e.mjs already
// drives, so it would prove nothing new), with Debian's Chromium for the resident's pages, against
// infobank serving TLS with a test CA. Everything the relying party does goes through
// openid-client's own API; the test reads the wire only to assert on it. Started by run.mjs,
// which sets NODE_EXTRA_CA_CERTS: node's https module, openid-client 5's transport, then trusts
// the test CA without any TLS option in the client.
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { custom, errors, generators, Issuer } from 'openid-client';
import { chromium } from 'playwright-core';

import {
  authorizeInBrowser, closeStage, requireEnv, startStage, withOwnServer,
} from '../support/e2e_browser.mjs';
import { decodeJwt, makeClientCert } from '../support/harness.mjs';
import { thumbprint } from '../support/jose.mjs';

const { OPError, RPError } = errors;

const RESIDENT = { username: 'hanako', password: 'openid-client e2e password, long enough' };
const SCOPE = 'openid profile email offline_access';

// openid-client gives each request 3.5 s by default; ctest runs other suites beside this one on
// the same cores, and a slow answer is not what these tests are about.
custom.setHttpOptionsDefaults({ timeout: 15_000 });

let server;
let browser;
let page;
let callback;
let issuer;
let residentSub;
const state = {};

/** The resident's part in Chromium, up to the redirect_uri; returns the callback URL. */
function inBrowser(authorizationUrl, opts = {}) {
  return authorizeInBrowser(page, callback, authorizationUrl,
    { resident: RESIDENT, screenshot: 'openid-client-consent.png', ...opts });
}

/** The checks client.callback() compares the response with, fresh for one request. */
function freshChecks() {
  return {
    state: generators.state(),
    nonce: generators.nonce(),
    code_verifier: generators.codeVerifier(),
    response_type: 'code',
  };
}

/**
 * Pushes an authorization request (RFC 9126) for `client` with PKCE S256 and `extra`
 * parameters, has the resident sign in and consent in Chromium, and returns the callback's
 * parameters as openid-client reads them, with the checks that go with them.
 */
async function pushedCodeFlow(client, extra = {}) {
  const checks = freshChecks();
  const { request_uri: requestUri, expires_in: expiresIn } = await client.pushedAuthorizationRequest({
    scope: SCOPE, state: checks.state, nonce: checks.nonce,
    code_challenge: generators.codeChallenge(checks.code_verifier), code_challenge_method: 'S256',
    ...extra,
  });
  assert.match(requestUri, /^urn:ietf:params:oauth:request_uri:/);
  assert.ok(expiresIn > 0);
  const cb = await inBrowser(client.authorizationUrl({ request_uri: requestUri }));
  return { params: client.callbackParams(cb.href), checks };
}

/** An ES256 key pair: the private JWK for openid-client, and a JWK Set file for `--jwks-file`. */
function clientKey(kid) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwksFile = path.join(server.dir, `${kid}-jwks.json`);
  fs.writeFileSync(jwksFile, JSON.stringify({
    keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' }],
  }));
  return { privateJwk: { ...privateKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' }, jwksFile };
}

/** A predicate for assert.rejects: an OPError (the server's answer) with this `error`. */
function opError(code) {
  return (e) => {
    assert.ok(e instanceof OPError, `expected an OPError ${code}, got ${e?.name}: ${e?.message}`);
    assert.equal(e.error, code);
    return true;
  };
}

before(async () => {
  ({ server, residentSub, callback, browser, page } = await startStage(chromium, RESIDENT,
    ['--name', 'Hanako Yamada', '--email', 'hanako@example.test']));
});

after(() => closeStage({ server, callback, browser }));

test('discovery: Issuer.discover on the issuer URL over TLS, and the JWKS', async () => {
  issuer = await Issuer.discover(server.base);
  assert.equal(issuer.issuer, server.base);
  assert.equal(issuer.authorization_response_iss_parameter_supported, true);
  assert.ok(issuer.id_token_signing_alg_values_supported.includes('ES256'));
  assert.deepEqual(issuer.code_challenge_methods_supported, ['S256']);
  assert.equal(issuer.pushed_authorization_request_endpoint, `${server.base}/par`);
  assert.equal(issuer.end_session_endpoint, `${server.base}/logout`);

  // The RFC 8414 document, named by its well-known URL, describes the same server.
  const oauth = await Issuer.discover(`${server.base}/.well-known/oauth-authorization-server`);
  for (const name of ['issuer', 'authorization_endpoint', 'token_endpoint', 'jwks_uri',
    'introspection_endpoint', 'revocation_endpoint', 'pushed_authorization_request_endpoint']) {
    assert.equal(oauth[name], issuer[name], name);
  }

  // openid-client fetches the key set itself (and fails on a document that is not one); the ID
  // token tests below verify signatures with what it fetched. The set must hold only public
  // ES256 signing keys, each with a kid to choose it by.
  await issuer.reloadJwksUri();
  const jwks = await (await fetch(issuer.jwks_uri)).json();
  assert.ok(jwks.keys.length >= 1);
  // OIDC Discovery §3: RS256 among the ID token algorithms, beside ES256, PS256 and EdDSA (the
  // three FAPI 2.0 allows).
  assert.deepEqual(issuer.id_token_signing_alg_values_supported,
                   ['ES256', 'RS256', 'PS256', 'EdDSA']);
  for (const key of jwks.keys) {
    if (key.alg === 'RS256' || key.alg === 'PS256') {
      assert.equal(key.kty, 'RSA');
    } else if (key.alg === 'EdDSA') {
      assert.equal(key.kty, 'OKP');
      assert.equal(key.crv, 'Ed25519');
    } else {
      assert.equal(key.alg, 'ES256');
      assert.equal(key.kty, 'EC');
      assert.equal(key.crv, 'P-256');
    }
    assert.ok(key.kid, 'every key has a kid');
    assert.equal(key.use ?? 'sig', 'sig');
    assert.equal(key.d, undefined, 'no private part');
  }
});

test('PAR + authorization code + PKCE S256 through the sign-in and consent pages in Chromium', async () => {
  const reg = server.addClient(['--name', 'openid-client relying party', '--auth-method', 'client_secret_basic',
    '--redirect-uri', callback.redirectUri, '--grant-type', 'authorization_code',
    '--grant-type', 'refresh_token', '--scope', SCOPE, '--post-logout-redirect-uri', callback.byeUri]);
  // openid-client's defaults: ID tokens signed with RS256, as the specification has it when a
  // client names no algorithm, and as a client made by the CLI without one gets them.
  const client = new issuer.Client({
    client_id: reg.client_id, client_secret: reg.client_secret,
    redirect_uris: [callback.redirectUri], post_logout_redirect_uris: [callback.byeUri],
    response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic',
  });
  assert.equal(client.id_token_signed_response_alg, 'RS256', "openid-client's default");
  state.client = client;
  state.secret = reg.client_secret;

  const { params, checks } = await pushedCodeFlow(client);
  assert.equal(params.iss, server.base, 'RFC 9207: the response names the issuer');
  assert.equal(params.state, checks.state);
  assert.ok(params.code);

  // openid-client enforces RFC 9207 because discovery advertises it: without iss, or with
  // another one, it stops before the token request (so the code is still unspent below).
  const withoutIss = { ...params };
  delete withoutIss.iss;
  await assert.rejects(client.callback(callback.redirectUri, withoutIss, { ...checks }),
    (e) => e instanceof RPError && /iss missing/.test(e.message));
  await assert.rejects(client.callback(callback.redirectUri, { ...params, iss: 'https://mix-up.example.test' }, { ...checks }),
    (e) => e instanceof RPError && /iss mismatch/.test(e.message));

  // Checks state, iss and response_type, redeems the code with the verifier, then validates
  // the ID token: RS256 signature against the JWKS, iss, aud, azp, exp, nonce and at_hash.
  const tokens = await client.callback(callback.redirectUri, params, checks);
  assert.equal(tokens.token_type, 'Bearer');
  assert.ok(tokens.access_token);
  assert.ok(tokens.refresh_token, 'offline_access asks for a refresh token');
  assert.ok(tokens.expires_at > Math.floor(Date.now() / 1000));
  assert.equal(decodeJwt(tokens.id_token).header.alg, 'RS256');
  const claims = tokens.claims();
  assert.equal(claims.sub, residentSub);
  assert.equal(claims.nonce, checks.nonce);
  assert.equal(claims.iss, server.base);
  assert.equal(claims.aud, client.client_id);
  assert.ok(claims.at_hash, 'at_hash was there for openid-client to check');
  state.tokens = tokens;
});

test('userinfo', async () => {
  // Given the TokenSet, openid-client also checks that userinfo's sub is the ID token's.
  const info = await state.client.userinfo(state.tokens);
  assert.equal(info.sub, residentSub);
  assert.equal(info.name, 'Hanako Yamada');
  assert.equal(info.preferred_username, RESIDENT.username);
  assert.equal(info.email, 'hanako@example.test');
});

// OIDC Core §5.3.2: a client registered with userinfo_signed_response_alg gets a JWT, which
// openid-client verifies (signature against the JWKS, iss, aud) before reading it. These are
// FAPI 2.0 clients (Security Profile §5.4.1: PS256, ES256 or EdDSA, never RS256): their ID
// tokens and UserInfo answers are PS256 (RSASSA-PSS) or EdDSA (Ed25519), checked by
// openid-client's own JOSE code. The key is made when the first such client is registered; the
// relying party, configured after that, discovers the issuer and fetches the key set then, as a
// new deployment does.
for (const alg of ['PS256', 'EdDSA']) {
  test(`${alg} ID token and signed userinfo: openid-client verifies both`, async () => {
    const reg = server.addClient(['--name', `openid-client ${alg} userinfo`,
      '--auth-method', 'client_secret_basic', '--redirect-uri', callback.redirectUri,
      '--grant-type', 'authorization_code', '--scope', SCOPE,
      '--userinfo-signed-response-alg', alg, '--id-token-signed-response-alg', alg]);
    const fapi = await Issuer.discover(server.base);
    assert.ok(fapi.userinfo_signing_alg_values_supported.includes(alg));
    const client = new fapi.Client({
      client_id: reg.client_id, client_secret: reg.client_secret, redirect_uris: [callback.redirectUri],
      response_types: ['code'], id_token_signed_response_alg: alg, userinfo_signed_response_alg: alg,
    });
    const { params, checks } = await pushedCodeFlow(client);
    const tokens = await client.callback(callback.redirectUri, params, checks);
    assert.equal(decodeJwt(tokens.id_token).header.alg, alg);
    assert.equal(tokens.claims().sub, residentSub);
    const info = await client.userinfo(tokens);
    assert.equal(info.sub, residentSub);
    assert.equal(info.iss, server.base);
    assert.equal(info.aud, reg.client_id);
    assert.equal(info.email, 'hanako@example.test');
    // The same answer to a client expecting plain JSON is refused by openid-client: it is a JWT.
    const expectsJson = new issuer.Client({ ...client.metadata, userinfo_signed_response_alg: undefined });
    await assert.rejects(expectsJson.userinfo(tokens));
  });
}

test('introspection says active; after client.revoke of the access token, inactive', async () => {
  const { client, tokens } = state;
  const info = await client.introspect(tokens.access_token, 'access_token');
  assert.equal(info.active, true);
  assert.equal(info.client_id, client.client_id);
  assert.equal(info.sub, residentSub);
  assert.equal(info.iss, server.base);
  assert.equal(info.token_type, 'Bearer');
  assert.ok(info.exp > Math.floor(Date.now() / 1000));

  await client.revoke(tokens.access_token, 'access_token');
  assert.equal((await client.introspect(tokens.access_token, 'access_token')).active, false);
  // RFC 7009 §2.1: revoking an access token may leave its refresh token alone, and here does.
  assert.equal((await client.introspect(tokens.refresh_token, 'refresh_token')).active, true);
});

test('refresh rotates; the old refresh token replayed is invalid_grant and revokes the family', async () => {
  const { client, tokens } = state;
  const fresh = await client.refresh(tokens);
  assert.ok(fresh.access_token);
  assert.notEqual(fresh.access_token, tokens.access_token);
  assert.ok(fresh.refresh_token);
  assert.notEqual(fresh.refresh_token, tokens.refresh_token, 'the refresh token rotated');
  assert.equal((await client.introspect(fresh.access_token)).active, true);

  await assert.rejects(client.refresh(tokens.refresh_token), opError('invalid_grant'));
  // RFC 9700 §4.14.2: the replay shows the token leaked, so the whole family is revoked: the
  // token that replaced it and the access token issued with it no longer work either.
  await assert.rejects(client.refresh(fresh.refresh_token), opError('invalid_grant'));
  assert.equal((await client.introspect(fresh.access_token)).active, false);
});

test('revoking a refresh token with client.revoke ends it and the access tokens of its grant', async () => {
  const { client } = state;
  const { params, checks } = await pushedCodeFlow(client);
  const tokens = await client.callback(callback.redirectUri, params, checks);
  assert.equal((await client.introspect(tokens.refresh_token, 'refresh_token')).active, true);

  await client.revoke(tokens.refresh_token, 'refresh_token');
  assert.equal((await client.introspect(tokens.refresh_token, 'refresh_token')).active, false);
  // RFC 7009 §2.1: the access tokens of the same grant go too.
  assert.equal((await client.introspect(tokens.access_token, 'access_token')).active, false);
  await assert.rejects(client.refresh(tokens), opError('invalid_grant'));
});

test('DPoP-bound tokens (RFC 9449) with a KeyObject', async () => {
  const reg = server.addClient(['--name', 'openid-client DPoP client', '--auth-method', 'client_secret_basic',
    '--redirect-uri', callback.redirectUri, '--grant-type', 'authorization_code',
    '--grant-type', 'refresh_token', '--scope', SCOPE, '--require-dpop', '--id-token-signed-response-alg', 'ES256']);
  const client = new issuer.Client({
    client_id: reg.client_id, client_secret: reg.client_secret, redirect_uris: [callback.redirectUri],
    response_types: ['code'], id_token_signed_response_alg: 'ES256',
  });
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jkt = thumbprint(publicKey.export({ format: 'jwk' }));

  // openid-client 5 sends no proof with a pushed request; RFC 9449 §10 binds the code to the
  // key instead, with dpop_jkt, so only this key can redeem it.
  const stolen = await pushedCodeFlow(client, { dpop_jkt: jkt });
  const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  await assert.rejects(client.callback(callback.redirectUri, stolen.params, stolen.checks, { DPoP: otherKey }),
    opError('invalid_dpop_proof'));

  const { params, checks } = await pushedCodeFlow(client, { dpop_jkt: jkt });
  // infobank asks for no DPoP nonce (no DPoP-Nonce header); if it did, openid-client would
  // retry once with it by itself (use_dpop_nonce).
  const tokens = await client.callback(callback.redirectUri, params, checks, { DPoP: privateKey });
  assert.equal(tokens.token_type, 'DPoP');
  assert.equal(decodeJwt(tokens.access_token).payload.cnf?.jkt, jkt);
  assert.equal(tokens.claims().sub, residentSub);

  const info = await client.introspect(tokens.access_token);
  assert.equal(info.active, true);
  assert.equal(info.token_type, 'DPoP');
  assert.deepEqual(info.cnf, { jkt });

  const user = await client.userinfo(tokens, { DPoP: privateKey });
  assert.equal(user.sub, residentSub);
  // RFC 9449 §7.1: presented as a plain bearer token, without a proof, it is refused, and the
  // challenge (which openid-client reads the error from) says DPoP.
  await assert.rejects(client.userinfo(tokens.access_token), (e) => {
    opError('invalid_token')(e);
    assert.equal(e.response.statusCode, 401);
    assert.match(e.response.headers['www-authenticate'], /^DPoP /);
    return true;
  });

  const refreshed = await client.refresh(tokens, { DPoP: privateKey });
  assert.equal(refreshed.token_type, 'DPoP');
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
  assert.equal(decodeJwt(refreshed.access_token).payload.cnf?.jkt, jkt);
  assert.equal((await client.userinfo(refreshed.access_token, { DPoP: privateKey })).sub, residentSub);
});

// RFC 8705 through openid-client's own mutual-TLS support: a tls_client_auth client with
// certificate-bound tokens, its certificate given as the client's http_options; openid-client
// then sends the token, PAR, userinfo and introspection requests to mtls_endpoint_aliases.
test('mutual TLS: tls_client_auth, certificate-bound tokens, and the same token refused without the certificate', async () => {
  const ca = { dir: requireEnv('INFOBANK_TEST_CA_DIR'), ca: requireEnv('INFOBANK_TEST_CA') };
  const cert = makeClientCert(ca, 'openid-client-mtls', { subject: '/O=Example/CN=openid-client.test',
    san: 'DNS:openid-client.test' });
  const opts = { tls: { ca: ca.ca }, mtls: true, residentArgs: ['--email', 'hanako@example.test'] };
  await withOwnServer(browser, RESIDENT, opts, async ({ server: mtlsServer, context }) => {
    const mIssuer = await Issuer.discover(mtlsServer.base);
    assert.equal(mIssuer.mtls_endpoint_aliases.token_endpoint, `${mtlsServer.mtlsBase}/token`);
    const reg = mtlsServer.addClient(['--name', 'openid-client mutual TLS', '--auth-method', 'tls_client_auth',
      '--tls-client-auth-san-dns', 'openid-client.test', '--tls-client-certificate-bound-access-tokens',
      '--redirect-uri', callback.redirectUri, '--grant-type', 'authorization_code', '--grant-type', 'refresh_token',
      '--scope', SCOPE, '--id-token-signed-response-alg', 'ES256']);
    const metadata = {
      client_id: reg.client_id, redirect_uris: [callback.redirectUri], response_types: ['code'],
      token_endpoint_auth_method: 'tls_client_auth', tls_client_certificate_bound_access_tokens: true,
      id_token_signed_response_alg: 'ES256',
    };
    const client = new mIssuer.Client(metadata);
    const pem = { cert: fs.readFileSync(cert.cert), key: fs.readFileSync(cert.key) };
    client[custom.http_options] = (url, options) => ({ ...options, ...pem });

    const checks = freshChecks();
    // OIDC Core §5.5 on the way: the email in the ID token.
    const { request_uri: requestUri } = await client.pushedAuthorizationRequest({
      scope: SCOPE, state: checks.state, nonce: checks.nonce,
      code_challenge: generators.codeChallenge(checks.code_verifier), code_challenge_method: 'S256',
      claims: JSON.stringify({ id_token: { email: { essential: true } } }),
    });
    const cb = await authorizeInBrowser(await context.newPage(), callback,
      client.authorizationUrl({ request_uri: requestUri }), { resident: RESIDENT });
    const tokens = await client.callback(callback.redirectUri, client.callbackParams(cb.href), checks);
    const x5t = createHash('sha256').update(cert.der).digest('base64url');
    assert.deepEqual(decodeJwt(tokens.access_token).payload.cnf, { 'x5t#S256': x5t });
    assert.equal(tokens.claims().email, 'hanako@example.test', 'asked for with the claims parameter');
    const info = await client.userinfo(tokens);
    assert.equal(info.email, 'hanako@example.test');

    // openid-client will not send a bound token without the certificate; on the wire, the
    // token without it is refused, at either listener.
    const bare = new mIssuer.Client(metadata);
    await assert.rejects(bare.userinfo(tokens.access_token), /certificate and key not set/);
    for (const base of [mtlsServer.base, mtlsServer.mtlsBase]) {
      const r = await fetch(`${base}/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      assert.equal(r.status, 401, base);
      assert.match(r.headers.get('www-authenticate') ?? '', /error="invalid_token"/, base);
    }

    const refreshed = await client.refresh(tokens);
    assert.deepEqual(decodeJwt(refreshed.access_token).payload.cnf, { 'x5t#S256': x5t });
    const introspected = await client.introspect(refreshed.access_token);
    assert.equal(introspected.active, true);
    assert.deepEqual(introspected.cnf, { 'x5t#S256': x5t });
  });
});

test('client_credentials with private_key_jwt (RFC 7523), the client key given to new issuer.Client', async () => {
  const { privateJwk, jwksFile } = clientKey('openid-client-machine');
  const reg = server.addClient(['--name', 'openid-client machine client', '--auth-method', 'private_key_jwt',
    '--grant-type', 'client_credentials', '--scope', 'data.read', '--jwks-file', jwksFile]);
  const metadata = {
    client_id: reg.client_id, token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
  };
  const client = new issuer.Client(metadata, { keys: [privateJwk] });
  const tokens = await client.grant({ grant_type: 'client_credentials', scope: 'data.read' });
  assert.equal(tokens.token_type, 'Bearer');
  assert.equal(tokens.refresh_token, undefined);
  assert.equal(tokens.id_token, undefined);
  const at = decodeJwt(tokens.access_token).payload;
  assert.equal(at.client_id, reg.client_id);
  assert.equal(at.sub, reg.client_id);
  assert.equal(at.scope, 'data.read');

  // openid-client authenticates at introspection the way it does at the token endpoint.
  const info = await client.introspect(tokens.access_token);
  assert.equal(info.active, true);
  assert.equal(info.client_id, reg.client_id);

  // An assertion signed by a key the client never registered, under the same kid, is refused.
  const impostor = new issuer.Client(metadata, { keys: [clientKey('openid-client-machine').privateJwk] });
  await assert.rejects(impostor.grant({ grant_type: 'client_credentials', scope: 'data.read' }),
    opError('invalid_client'));
});

// The authorization request as a request object (RFC 9101) signed by openid-client, pushed
// (RFC 9126) by a private_key_jwt client that infobank requires to do both, and the response
// signed (JARM), checked by openid-client too.
test('a request object signed by client.requestObject, sent through PAR, answered with JARM', async () => {
  const { privateJwk, jwksFile } = clientKey('openid-client-jar');
  const reg = server.addClient(['--name', 'openid-client signed-request client', '--auth-method', 'private_key_jwt',
    '--redirect-uri', callback.redirectUri, '--grant-type', 'authorization_code', '--scope', SCOPE,
    '--jwks-file', jwksFile, '--require-par', '--require-signed-request-object',
    '--id-token-signed-response-alg', 'ES256', '--authorization-signed-response-alg', 'ES256']);
  assert.equal(issuer.request_parameter_supported, true);
  assert.ok(issuer.request_object_signing_alg_values_supported.includes('ES256'));
  const client = new issuer.Client({
    client_id: reg.client_id, redirect_uris: [callback.redirectUri], response_types: ['code'],
    token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'ES256',
    request_object_signing_alg: 'ES256', id_token_signed_response_alg: 'ES256',
    authorization_signed_response_alg: 'ES256',
  }, { keys: [privateJwk] });

  const checks = { ...freshChecks(), max_age: 600, jarm: true };
  const parameters = {
    redirect_uri: callback.redirectUri, response_type: 'code', scope: 'openid email',
    state: checks.state, nonce: checks.nonce, code_challenge: generators.codeChallenge(checks.code_verifier),
    code_challenge_method: 'S256', response_mode: 'jwt',
  };
  // Unsigned, the same request is refused: this client must sign.
  await assert.rejects(client.pushedAuthorizationRequest({ ...parameters, max_age: '600' }),
    opError('invalid_request'));

  // In a request object max_age is a number (RFC 9101 §4: claims as in the JSON of OIDC Core).
  const request = await client.requestObject({ ...parameters, max_age: 600 });
  const { header, payload } = decodeJwt(request);
  assert.equal(header.alg, 'ES256');
  assert.equal(header.typ, 'oauth-authz-req+jwt');
  assert.equal(header.kid, 'openid-client-jar');
  assert.equal(payload.iss, reg.client_id);
  assert.equal(payload.aud, server.base);

  const { request_uri: requestUri } = await client.pushedAuthorizationRequest({ request });
  const cb = await inBrowser(client.authorizationUrl({ request_uri: requestUri }));
  const params = client.callbackParams(cb.href);
  assert.ok(params.response, 'the response is one signed JWT');
  assert.equal(params.code, undefined);

  // Verifies the JARM response (ES256, iss, aud, exp) before the checks and the code exchange;
  // max_age makes it require auth_time in the ID token.
  const tokens = await client.callback(callback.redirectUri, params, checks);
  assert.equal(tokens.scope, 'openid email', 'the scope the signed request asked for');
  const claims = tokens.claims();
  assert.equal(claims.aud, reg.client_id);
  assert.equal(claims.sub, residentSub);
  assert.equal(claims.nonce, checks.nonce);
  assert.equal(typeof claims.auth_time, 'number');
});

// OAuth 2.0 Form Post Response Mode: Chromium runs the page's one script under its CSP, which
// posts the response to the redirect URI; openid-client reads the posted body.
for (const mode of ['form_post', 'form_post.jwt']) {
  test(`response_mode=${mode}: Chromium posts the response, openid-client reads and redeems it`, async () => {
    // The same registration (RS256, the CLI's default, which is also openid-client's for JARM);
    // openid-client checks a JARM response's alg against its metadata.
    const client = new issuer.Client({ ...state.client.metadata, authorization_signed_response_alg: 'RS256' });
    const checks = { ...freshChecks(), ...(mode === 'form_post.jwt' ? { jarm: true } : {}) };
    const posted = callback.posts.length;
    // prompt=consent: the page before is the consent page, so the post is the browser's own
    // submission of the form_post page, not a redirect.
    await inBrowser(client.authorizationUrl({
      scope: SCOPE, state: checks.state, nonce: checks.nonce, response_mode: mode, prompt: 'consent',
      code_challenge: generators.codeChallenge(checks.code_verifier), code_challenge_method: 'S256',
    }));
    assert.equal(callback.posts.length, posted + 1, 'the callback received a POST');
    const request = callback.posts[callback.posts.length - 1];
    assert.equal(request.url, new URL(callback.redirectUri).pathname, 'nothing in the URL');
    const params = client.callbackParams(request);
    if (mode === 'form_post') {
      assert.deepEqual(Object.keys(params).sort(), ['code', 'iss', 'state']);
    } else {
      assert.deepEqual(Object.keys(params), ['response']);
    }
    const tokens = await client.callback(callback.redirectUri, params, checks);
    assert.ok(tokens.access_token);
    assert.equal(tokens.claims().nonce, checks.nonce);
  });
}

// A client whose callback sends the browser on to another of its origins, after the consent
// page's form and after the form_post page's: Chromium applies a page's CSP form-action to every
// redirect after its form was sent, so such a policy would stop the browser short of the client.
for (const mode of ['query', 'form_post']) {
  test(`after consent (${mode}), the client's own redirect to another of its origins goes through`, async () => {
    const reg = server.addClient(['--name', 'openid-client with a hop', '--auth-method', 'client_secret_basic',
      '--redirect-uri', callback.hopUri, '--grant-type', 'authorization_code', '--scope', SCOPE,
      '--id-token-signed-response-alg', 'ES256']);
    const client = new issuer.Client({ client_id: reg.client_id, client_secret: reg.client_secret,
      redirect_uris: [callback.hopUri], response_types: ['code'], id_token_signed_response_alg: 'ES256' });
    const checks = freshChecks();
    const before = callback.landed.length;
    // The landing page stands in for the callback: the browser must get there.
    const landing = { redirectUri: callback.hopUri.replace('127.0.0.1', 'localhost').replace('/hop', '/landed'),
      hits: callback.landed };
    await authorizeInBrowser(page, landing, client.authorizationUrl({
      scope: SCOPE, state: checks.state, nonce: checks.nonce, prompt: 'consent', response_mode: mode,
      code_challenge: generators.codeChallenge(checks.code_verifier), code_challenge_method: 'S256',
    }), { resident: RESIDENT });
    assert.equal(callback.landed.length, before + 1, 'the browser reached the other origin');
  });
}

test('negative: a tampered state is refused by client.callback before the code is redeemed', async () => {
  const { client } = state;
  const { params, checks } = await pushedCodeFlow(client);
  await assert.rejects(client.callback(callback.redirectUri, params, { ...checks, state: generators.state() }),
    (e) => e instanceof RPError && /state mismatch/.test(e.message));
  await assert.rejects(client.callback(callback.redirectUri, { ...params, state: generators.state() }, { ...checks }),
    (e) => e instanceof RPError && /state mismatch/.test(e.message));
  // The refusals were the state's alone: with it intact the same response is redeemed.
  const tokens = await client.callback(callback.redirectUri, params, checks);
  assert.equal(tokens.claims().nonce, checks.nonce);
});

test('negative: a replayed code gets invalid_grant and revokes what the code gave', async () => {
  const { client } = state;
  const { params, checks } = await pushedCodeFlow(client);
  const tokens = await client.callback(callback.redirectUri, params, { ...checks });
  assert.equal((await client.introspect(tokens.access_token)).active, true);
  await assert.rejects(client.callback(callback.redirectUri, params, { ...checks }), opError('invalid_grant'));
  // RFC 9700 §4.5: a replayed code means it leaked; the tokens issued from it stop working.
  assert.equal((await client.introspect(tokens.access_token)).active, false);
  await assert.rejects(client.refresh(tokens), opError('invalid_grant'));
});

test('negative: a wrong client secret gets invalid_client', async () => {
  const { client } = state;
  const wrong = new issuer.Client({ ...client.metadata, client_secret: `${state.secret}x` });
  const { params, checks } = await pushedCodeFlow(client);
  await assert.rejects(wrong.callback(callback.redirectUri, params, { ...checks }), (e) => {
    opError('invalid_client')(e);
    // RFC 6749 §5.2: 401 with a Basic challenge when the client tried HTTP Basic.
    assert.equal(e.response.statusCode, 401);
    assert.match(e.response.headers['www-authenticate'], /^Basic /);
    return true;
  });
  await assert.rejects(wrong.introspect('any token'), opError('invalid_client'));
  // The refusal was the secret's: the right one redeems the same code.
  const tokens = await client.callback(callback.redirectUri, params, checks);
  assert.equal(tokens.claims().sub, residentSub);
});

test('RP-initiated logout through client.endSessionUrl in Chromium; then prompt=none is login_required', async () => {
  const { client } = state;
  const st = generators.state();
  const url = new URL(client.endSessionUrl({ id_token_hint: state.tokens, state: st }));
  // openid-client fills in the one registered post_logout_redirect_uri and the client_id.
  assert.equal(url.searchParams.get('post_logout_redirect_uri'), callback.byeUri);
  assert.equal(url.searchParams.get('client_id'), client.client_id);
  assert.equal(url.searchParams.get('id_token_hint'), state.tokens.id_token);
  await page.goto(url.href);
  // The page asks the resident to confirm; Chromium then follows the redirect to the client.
  await page.locator('form:has(input[name=csrf_token]) [type=submit]').click();
  await page.waitForURL((u) => u.href.startsWith(callback.byeUri), { timeout: 15_000 });
  assert.equal(new URL(page.url()).searchParams.get('state'), st);

  // Signed out: a silent request comes back as an error, which openid-client raises as an
  // OPError once state and iss have checked out.
  const checks = freshChecks();
  const { request_uri: requestUri } = await client.pushedAuthorizationRequest({
    scope: 'openid', state: checks.state, nonce: checks.nonce, prompt: 'none',
    code_challenge: generators.codeChallenge(checks.code_verifier), code_challenge_method: 'S256',
  });
  await page.goto(client.authorizationUrl({ request_uri: requestUri }));
  await page.waitForURL((u) => u.href.startsWith(callback.redirectUri), { timeout: 15_000 });
  const params = client.callbackParams(page.url());
  assert.equal(params.code, undefined);
  await assert.rejects(client.callback(callback.redirectUri, params, checks), opError('login_required'));
});

// End to end: a real third-party OAuth client (oauth4webapi) and a real browser (Debian's
// Chromium, driven by playwright-core) against infobank serving TLS with a test CA.
// Started by run.mjs, which makes the CA and sets NODE_EXTRA_CA_CERTS so that node's fetch —
// and so oauth4webapi, which is used without allowInsecureRequests — trusts it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { after, before, test } from 'node:test';

import * as oauth from 'oauth4webapi';
import { chromium } from 'playwright-core';

import {
  authorizeInBrowser, closeStage, requireEnv, startStage, withOwnServer,
} from '../support/e2e_browser.mjs';
import { decodeJwt, makeClientCert } from '../support/harness.mjs';

const RESIDENT = { username: 'erika', password: 'e2e password, long enough' };
const SCOPE = 'openid profile email offline_access';

let server;
let browser;
let page;
let callback;
let as;
const state = {};

/** The resident's part in Chromium, up to the redirect_uri; returns the callback URL. */
function inBrowser(authorizationUrl, { decision = 'approve' } = {}) {
  return authorizeInBrowser(page, callback, authorizationUrl, { resident: RESIDENT, decision });
}

/**
 * An authorization request by query (no PAR) for `clientId`: code + PKCE S256 with the
 * callback as redirect_uri and scope openid, plus `extra` parameters.
 */
async function authorizationUrl(clientId, st, verifier, extra = {}) {
  const url = new URL(as.authorization_endpoint);
  for (const [k, v] of Object.entries({
    client_id: clientId, redirect_uri: callback.redirectUri, response_type: 'code',
    scope: 'openid', state: st, code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256', ...extra,
  })) url.searchParams.set(k, v);
  return url;
}

/** A client's ES256 key pair and a JWK Set file with its public key, for `--jwks-file`. */
async function clientKey(kid) {
  const keyPair = await oauth.generateKeyPair('ES256', { extractable: true });
  const jwk = await crypto.subtle.exportKey('jwk', keyPair.publicKey);
  const jwksFile = path.join(server.dir, `${kid}-jwks.json`);
  fs.writeFileSync(jwksFile, JSON.stringify({ keys: [{ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, kid, alg: 'ES256', use: 'sig' }] }));
  return { keyPair, kid, jwksFile };
}

/** Retries once when the server asks for a DPoP nonce (RFC 9449 §8); counts in `asked.count`. */
async function withNonceRetry(fn, asked) {
  try {
    return await fn();
  } catch (e) {
    if (!oauth.isDPoPNonceError(e)) throw e;
    if (asked) asked.count += 1;
    return fn();
  }
}

before(async () => {
  ({ server, callback, browser, page } = await startStage(chromium, RESIDENT,
    ['--name', 'Erika Mustermann', '--email', 'erika@example.test']));
});

after(() => closeStage({ server, callback, browser }));

test('discovery (RFC 8414 and OpenID Connect) over TLS', async () => {
  const issuer = new URL(server.base);
  as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oidc' }));
  assert.equal(as.issuer, server.base);
  const as2 = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2' }));
  assert.equal(as2.token_endpoint, as.token_endpoint);
  assert.ok(as.pushed_authorization_request_endpoint);
  assert.equal(as.authorization_response_iss_parameter_supported, true);
});

test('PAR + authorization code + PKCE through the sign-in and consent pages in Chromium', async () => {
  const reg = server.addClient(['--name', 'e2e relying party', '--auth-method', 'client_secret_basic',
    '--redirect-uri', callback.redirectUri, '--grant-type', 'authorization_code',
    '--grant-type', 'refresh_token', '--scope', SCOPE, '--post-logout-redirect-uri', callback.byeUri,
    '--frontchannel-logout-uri', callback.frontLogoutUri, '--frontchannel-logout-session-required']);
  // RS256: what a client made by the CLI without an algorithm gets, the specification's default.
  state.client = { client_id: reg.client_id, id_token_signed_response_alg: 'RS256' };
  state.auth = oauth.ClientSecretBasic(reg.client_secret);

  const verifier = oauth.generateRandomCodeVerifier();
  const st = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const par = await oauth.processPushedAuthorizationResponse(as, state.client,
    await oauth.pushedAuthorizationRequest(as, state.client, state.auth, {
      redirect_uri: callback.redirectUri, response_type: 'code', scope: SCOPE, state: st, nonce,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }));
  assert.match(par.request_uri, /^urn:ietf:params:oauth:request_uri:/);

  const url = new URL(as.authorization_endpoint);
  url.searchParams.set('client_id', state.client.client_id);
  url.searchParams.set('request_uri', par.request_uri);
  const cb = await inBrowser(url.href);

  // Checks state and, since the server advertises RFC 9207, iss.
  const params = oauth.validateAuthResponse(as, state.client, cb, st);
  const response = await oauth.authorizationCodeGrantRequest(as, state.client, state.auth, params,
    callback.redirectUri, verifier);
  // Validates the ID token: RS256 signature from jwks_uri, iss, aud, exp, iat, nonce.
  const tokens = await oauth.processAuthorizationCodeResponse(as, state.client, response, { expectedNonce: nonce });
  assert.equal(tokens.token_type, 'bearer');
  assert.ok(tokens.refresh_token);
  const claims = oauth.getValidatedIdTokenClaims(tokens);
  assert.equal(claims.iss, server.base);
  assert.equal(claims.aud, state.client.client_id);
  assert.equal(JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url')).alg, 'RS256');
  state.tokens = tokens;
  state.sub = claims.sub;
});

test('the access token validates as an RFC 9068 JWT at a resource server', async () => {
  const { header, payload } = decodeJwt(state.tokens.access_token);
  assert.ok(['at+jwt', 'application/at+jwt'].includes(header.typ));
  const audience = [].concat(payload.aud)[0];
  const req = new Request('https://rs.example.test/data', { headers: { authorization: `Bearer ${state.tokens.access_token}` } });
  const claims = await oauth.validateJwtAccessToken(as, req, audience);
  assert.equal(claims.sub, state.sub);
  assert.equal(claims.client_id, state.client.client_id);
});

test('userinfo', async () => {
  const r = await oauth.userInfoRequest(as, state.client, state.tokens.access_token);
  const info = await oauth.processUserInfoResponse(as, state.client, state.sub, r);
  assert.equal(info.name, 'Erika Mustermann');
  assert.equal(info.email, 'erika@example.test');
});

test('refresh with rotation; the old refresh token is then refused', async () => {
  const old = state.tokens.refresh_token;
  const fresh = await oauth.processRefreshTokenResponse(as, state.client,
    await oauth.refreshTokenGrantRequest(as, state.client, state.auth, old));
  assert.ok(fresh.access_token);
  assert.ok(fresh.refresh_token);
  assert.notEqual(fresh.refresh_token, old);
  state.rotated = fresh;
  state.oldRefresh = old;
});

test('introspection', async () => {
  const info = await oauth.processIntrospectionResponse(as, state.client,
    await oauth.introspectionRequest(as, state.client, state.auth, state.rotated.access_token));
  assert.equal(info.active, true);
  assert.equal(info.client_id, state.client.client_id);
  assert.equal(info.sub, state.sub);
  // RFC 9701: the same answer as a JWT, which oauth4webapi verifies against the JWKS.
  const signed = await oauth.processIntrospectionResponse(as, state.client,
    await oauth.introspectionRequest(as, state.client, state.auth, state.rotated.access_token,
      { requestJwtResponse: true }));
  assert.deepEqual(signed, info);
});

test('revocation, then introspection says inactive', async () => {
  await oauth.processRevocationResponse(
    await oauth.revocationRequest(as, state.client, state.auth, state.rotated.refresh_token));
  const info = await oauth.processIntrospectionResponse(as, state.client,
    await oauth.introspectionRequest(as, state.client, state.auth, state.rotated.refresh_token));
  assert.equal(info.active, false);
  await assert.rejects(async () => oauth.processRefreshTokenResponse(as, state.client,
    await oauth.refreshTokenGrantRequest(as, state.client, state.auth, state.rotated.refresh_token)),
  (e) => e.error === 'invalid_grant');
});

test('DPoP-bound tokens for a public client (RFC 9449)', async () => {
  const reg = server.addClient(['--name', 'e2e public DPoP client', '--auth-method', 'none',
    '--redirect-uri', callback.redirectUri, '--grant-type', 'authorization_code',
    '--grant-type', 'refresh_token', '--scope', SCOPE, '--require-dpop', '--id-token-signed-response-alg', 'ES256']);
  const client = { client_id: reg.client_id, id_token_signed_response_alg: 'ES256' };
  const auth = oauth.None();
  const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));

  const verifier = oauth.generateRandomCodeVerifier();
  const st = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const par = await withNonceRetry(async () => oauth.processPushedAuthorizationResponse(as, client,
    await oauth.pushedAuthorizationRequest(as, client, auth, {
      redirect_uri: callback.redirectUri, response_type: 'code', scope: SCOPE, state: st, nonce,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }, { DPoP })));
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set('client_id', client.client_id);
  url.searchParams.set('request_uri', par.request_uri);
  const params = oauth.validateAuthResponse(as, client, await inBrowser(url.href), st);

  const tokens = await withNonceRetry(async () => oauth.processAuthorizationCodeResponse(as, client,
    await oauth.authorizationCodeGrantRequest(as, client, auth, params, callback.redirectUri, verifier, { DPoP }),
    { expectedNonce: nonce }));
  assert.equal(tokens.token_type, 'dpop');
  assert.ok(decodeJwt(tokens.access_token).payload.cnf?.jkt);

  const info = await withNonceRetry(async () => oauth.processUserInfoResponse(as, client, oauth.skipSubjectCheck,
    await oauth.userInfoRequest(as, client, tokens.access_token, { DPoP })));
  assert.equal(info.sub, state.sub);

  const refreshed = await withNonceRetry(async () => oauth.processRefreshTokenResponse(as, client,
    await oauth.refreshTokenGrantRequest(as, client, auth, tokens.refresh_token, { DPoP })));
  assert.equal(refreshed.token_type, 'dpop');
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
});

// RFC 9449 §8, §9 on a server started with [oauth] dpop_require_nonce: oauth4webapi's DPoP
// handle takes the nonce from the use_dpop_nonce answer, and the one retry goes through.
test('DPoP nonces: oauth4webapi retries with the nonce the server asks for', async () => {
  const opts = { env: { INFOBANK_OAUTH_DPOP_REQUIRE_NONCE: 'true' } };
  await withOwnServer(browser, RESIDENT, opts, async ({ server: nonceServer, context }) => {
    const issuer = new URL(nonceServer.base);
    const nas = await oauth.processDiscoveryResponse(issuer,
      await oauth.discoveryRequest(issuer, { algorithm: 'oidc' }));
    const reg = nonceServer.addClient(['--name', 'e2e DPoP nonce client', '--auth-method', 'none',
      '--redirect-uri', callback.redirectUri, '--grant-type', 'authorization_code',
      '--grant-type', 'refresh_token', '--scope', SCOPE, '--require-dpop', '--id-token-signed-response-alg', 'ES256']);
    const client = { client_id: reg.client_id, id_token_signed_response_alg: 'ES256' };
    const auth = oauth.None();
    const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
    const asked = { count: 0 };

    const verifier = oauth.generateRandomCodeVerifier();
    const st = oauth.generateRandomState();
    const par = await withNonceRetry(async () => oauth.processPushedAuthorizationResponse(nas, client,
      await oauth.pushedAuthorizationRequest(nas, client, auth, {
        redirect_uri: callback.redirectUri, response_type: 'code', scope: SCOPE, state: st,
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      }, { DPoP })), asked);
    assert.equal(asked.count, 1, 'the first proof had no nonce: asked for one, once');
    const url = new URL(nas.authorization_endpoint);
    url.searchParams.set('client_id', client.client_id);
    url.searchParams.set('request_uri', par.request_uri);
    const cb = await authorizeInBrowser(await context.newPage(), callback, url.href, { resident: RESIDENT });
    const params = oauth.validateAuthResponse(nas, client, cb, st);
    const tokens = await withNonceRetry(async () => oauth.processAuthorizationCodeResponse(nas, client,
      await oauth.authorizationCodeGrantRequest(nas, client, auth, params, callback.redirectUri, verifier,
        { DPoP })), asked);
    assert.equal(tokens.token_type, 'dpop');
    const info = await withNonceRetry(async () => oauth.processUserInfoResponse(nas, client, oauth.skipSubjectCheck,
      await oauth.userInfoRequest(nas, client, tokens.access_token, { DPoP })), asked);
    assert.ok(info.sub);
    assert.equal(asked.count, 1, 'the nonce it kept was good at the token endpoint and at userinfo');
  });
});

/**
 * A fetch for oauth4webapi's customFetch that presents the client certificate `cert` (PEM
 * paths) in the TLS handshake, as RFC 8705 clients do; node's fetch cannot. Trusts the test CA
 * through NODE_EXTRA_CA_CERTS like the rest of the file.
 */
function fetchWithCertificate(cert) {
  return (url, options = {}) => new Promise((resolve, reject) => {
    const body = options.body === undefined || options.body === null ? undefined : String(options.body);
    const req = https.request(url, {
      method: options.method ?? 'GET',
      headers: Object.fromEntries(new Headers(options.headers)),
      cert: fs.readFileSync(cert.cert),
      key: fs.readFileSync(cert.key),
      agent: false,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) headers.set(k, [].concat(v).join(', '));
        const empty = [204, 304].includes(res.statusCode);
        resolve(new Response(empty ? null : Buffer.concat(chunks), { status: res.statusCode, headers }));
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.end(body); else req.end();
  });
}

// RFC 8705 on a server that also listens for mutual TLS: oauth4webapi as a tls_client_auth
// client (TlsClientAuth, use_mtls_endpoint_aliases) whose certificate the test CA signed, with
// certificate-bound access tokens, through PAR, Chromium, the token endpoint, userinfo,
// refresh and introspection.
test('mutual TLS: tls_client_auth and certificate-bound tokens (RFC 8705)', async () => {
  const caDir = requireEnv('INFOBANK_TEST_CA_DIR');
  const ca = { dir: caDir, ca: requireEnv('INFOBANK_TEST_CA') };
  const cert = makeClientCert(ca, 'e2e-mtls-client', { subject: '/O=Example/CN=e2e.client.test',
    san: 'DNS:e2e.client.test' });
  const opts = { tls: { ca: ca.ca }, mtls: true };
  await withOwnServer(browser, RESIDENT, opts, async ({ server: mtlsServer, context }) => {
    const issuer = new URL(mtlsServer.base);
    const mas = await oauth.processDiscoveryResponse(issuer,
      await oauth.discoveryRequest(issuer, { algorithm: 'oidc' }));
    assert.equal(mas.tls_client_certificate_bound_access_tokens, true);
    assert.equal(mas.mtls_endpoint_aliases.token_endpoint, `${mtlsServer.mtlsBase}/token`);
    const reg = mtlsServer.addClient(['--name', 'e2e mutual-TLS client', '--auth-method', 'tls_client_auth',
      '--tls-client-auth-subject-dn', 'CN=e2e.client.test,O=Example',
      '--tls-client-certificate-bound-access-tokens', '--redirect-uri', callback.redirectUri,
      '--grant-type', 'authorization_code', '--grant-type', 'refresh_token', '--scope', SCOPE, '--id-token-signed-response-alg', 'ES256']);
    const client = { client_id: reg.client_id, use_mtls_endpoint_aliases: true, id_token_signed_response_alg: 'ES256' };
    const auth = oauth.TlsClientAuth();
    const withCert = { [oauth.customFetch]: fetchWithCertificate(cert) };
    const thumbprint = createHash('sha256').update(cert.der).digest('base64url');

    const verifier = oauth.generateRandomCodeVerifier();
    const st = oauth.generateRandomState();
    const nonce = oauth.generateRandomNonce();
    const par = await oauth.processPushedAuthorizationResponse(mas, client,
      await oauth.pushedAuthorizationRequest(mas, client, auth, {
        redirect_uri: callback.redirectUri, response_type: 'code', scope: SCOPE, state: st, nonce,
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      }, withCert));
    const url = new URL(mas.authorization_endpoint);
    url.searchParams.set('client_id', client.client_id);
    url.searchParams.set('request_uri', par.request_uri);
    const cb = await authorizeInBrowser(await context.newPage(), callback, url.href, { resident: RESIDENT });
    const params = oauth.validateAuthResponse(mas, client, cb, st);
    const tokens = await oauth.processAuthorizationCodeResponse(mas, client,
      await oauth.authorizationCodeGrantRequest(mas, client, auth, params, callback.redirectUri, verifier, withCert),
      { expectedNonce: nonce });
    assert.equal(tokens.token_type, 'bearer');
    assert.deepEqual(decodeJwt(tokens.access_token).payload.cnf, { 'x5t#S256': thumbprint });

    const info = await oauth.processUserInfoResponse(mas, client, oauth.skipSubjectCheck,
      await oauth.userInfoRequest(mas, client, tokens.access_token, withCert));
    assert.ok(info.sub);
    // The same token without the certificate (node's own fetch presents none) is refused.
    await assert.rejects(async () => oauth.processUserInfoResponse(mas, client, oauth.skipSubjectCheck,
      await oauth.userInfoRequest(mas, client, tokens.access_token)),
    (e) => e instanceof oauth.WWWAuthenticateChallengeError &&
      e.cause.some((c) => c.parameters.error === 'invalid_token'));
    // And so is the token request of a client that does not present it: 401 invalid_client.
    const noCertificate = await oauth.refreshTokenGrantRequest(mas, client, auth, tokens.refresh_token);
    assert.equal(noCertificate.status, 401);
    assert.equal((await noCertificate.json()).error, 'invalid_client');

    const refreshed = await oauth.processRefreshTokenResponse(mas, client,
      await oauth.refreshTokenGrantRequest(mas, client, auth, tokens.refresh_token, withCert));
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
    assert.deepEqual(decodeJwt(refreshed.access_token).payload.cnf, { 'x5t#S256': thumbprint });
    const introspected = await oauth.processIntrospectionResponse(mas, client,
      await oauth.introspectionRequest(mas, client, auth, refreshed.access_token, withCert));
    assert.equal(introspected.active, true);
    assert.deepEqual(introspected.cnf, { 'x5t#S256': thumbprint });
  });
});

test('client_credentials with private_key_jwt (RFC 7523)', async () => {
  const { keyPair, kid, jwksFile } = await clientKey('e2e-key-1');
  const reg = server.addClient(['--name', 'e2e machine client', '--auth-method', 'private_key_jwt',
    '--grant-type', 'client_credentials', '--scope', 'data.read', '--jwks-file', jwksFile]);
  const client = { client_id: reg.client_id };
  const auth = oauth.PrivateKeyJwt({ key: keyPair.privateKey, kid });
  const tokens = await oauth.processClientCredentialsResponse(as, client,
    await oauth.clientCredentialsGrantRequest(as, client, auth, { scope: 'data.read' }));
  assert.equal(tokens.token_type, 'bearer');
  assert.equal(tokens.refresh_token, undefined);
  const at = decodeJwt(tokens.access_token).payload;
  assert.equal(at.client_id, reg.client_id);
  assert.equal(at.sub, reg.client_id);
});

// FAPI 2.0 Message Signing's authorization request and response: the request is a request
// object (RFC 9101) that oauth4webapi signs, pushed (RFC 9126) by a private_key_jwt client that
// the server requires to do both; the response comes back signed (JARM, response_mode=jwt).
test('a signed request object pushed by a private_key_jwt client, a signed response, through Chromium', async () => {
  const { keyPair, kid, jwksFile } = await clientKey('e2e-jar-key');
  const reg = server.addClient(['--name', 'e2e signed-request client', '--auth-method', 'private_key_jwt',
    '--redirect-uri', callback.redirectUri, '--grant-type', 'authorization_code', '--scope', SCOPE,
    '--jwks-file', jwksFile, '--require-par', '--require-signed-request-object', '--id-token-signed-response-alg', 'ES256']);
  const client = { client_id: reg.client_id, id_token_signed_response_alg: 'ES256' };
  const auth = oauth.PrivateKeyJwt({ key: keyPair.privateKey, kid });
  assert.equal(as.request_parameter_supported, true);
  assert.ok(as.request_object_signing_alg_values_supported.includes('ES256'));

  const verifier = oauth.generateRandomCodeVerifier();
  const st = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const parameters = {
    redirect_uri: callback.redirectUri, response_type: 'code', scope: 'openid email', state: st,
    nonce, max_age: '600', code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256', response_mode: 'jwt',
  };
  // Unsigned, the same request is refused: this client must sign.
  const refused = await oauth.pushedAuthorizationRequest(as, client, auth, parameters);
  assert.equal(refused.status, 400);
  assert.equal((await refused.json()).error, 'invalid_request');

  const requestObject = await oauth.issueRequestObject(as, client, parameters, { key: keyPair.privateKey, kid });
  const par = await oauth.processPushedAuthorizationResponse(as, client,
    await oauth.pushedAuthorizationRequest(as, client, auth, { request: requestObject }));
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set('client_id', client.client_id);
  url.searchParams.set('request_uri', par.request_uri);
  // The response comes back signed (JARM); oauth4webapi checks it against the JWKS.
  const params = await oauth.validateJwtAuthResponse(as, client, await inBrowser(url.href), st);
  const tokens = await oauth.processAuthorizationCodeResponse(as, client,
    await oauth.authorizationCodeGrantRequest(as, client, auth, params, callback.redirectUri, verifier),
    { expectedNonce: nonce, maxAge: 600 });
  assert.equal(tokens.scope, 'openid email', 'the scope the signed request asked for');
  const claims = oauth.getValidatedIdTokenClaims(tokens);
  assert.equal(claims.aud, client.client_id);
  assert.equal(claims.sub, state.sub);
  assert.ok(claims.auth_time, 'max_age in the request object asks for auth_time');
});

// A resident who double-clicks "approve": Chromium sends the consent form once (a second
// submission while the first navigates is dropped), and the client gets its code. (A browser
// that sent it twice and showed the second answer would show "already answered": see the
// README's consent section.)
test('approve double-clicked in Chromium: the client still receives a code that redeems', async () => {
  const verifier = oauth.generateRandomCodeVerifier();
  const st = oauth.generateRandomState();
  const url = await authorizationUrl(state.client.client_id, st, verifier, { prompt: 'consent' });
  const cb = await authorizeInBrowser(page, callback, url.href,
    { resident: RESIDENT, decision: 'approve', doubleClick: true });
  const params = oauth.validateAuthResponse(as, state.client, cb, st);
  const response = await oauth.authorizationCodeGrantRequest(as, state.client, state.auth, params,
    callback.redirectUri, verifier);
  const tokens = await oauth.processAuthorizationCodeResponse(as, state.client, response);
  assert.ok(tokens.access_token);
});

test('a denied consent comes back as access_denied with state and iss', async () => {
  const verifier = oauth.generateRandomCodeVerifier();
  const st = oauth.generateRandomState();
  const url = await authorizationUrl(state.client.client_id, st, verifier, { prompt: 'consent' });
  const cb = await inBrowser(url.href, { decision: 'deny' });
  assert.throws(() => oauth.validateAuthResponse(as, state.client, cb, st),
    (e) => e.error === 'access_denied' || e.cause?.get?.('error') === 'access_denied');
});

test('RP-initiated logout in Chromium: confirmed, the front-channel logout page of the client loaded, back at the registered URI with state, signed out', async () => {
  assert.equal(as.end_session_endpoint, `${server.base}/logout`);
  assert.equal(as.frontchannel_logout_supported, true);
  assert.equal(as.frontchannel_logout_session_supported, true);
  const { sid } = JSON.parse(Buffer.from(state.tokens.id_token.split('.')[1], 'base64url'));
  assert.ok(sid, 'the ID token names the session');
  const frontBefore = callback.frontHits.length;
  const st = oauth.generateRandomState();
  const logout = new URL(as.end_session_endpoint);
  logout.searchParams.set('id_token_hint', state.tokens.id_token);
  logout.searchParams.set('post_logout_redirect_uri', callback.byeUri);
  logout.searchParams.set('state', st);
  await page.goto(logout.href);
  // The page asks; Chromium then follows the POST's redirect to the client (CSP form-action).
  await page.locator('form:has(input[name=csrf_token]) [type=submit]').click();
  await page.waitForURL((u) => u.href.startsWith(callback.byeUri), { timeout: 15_000 });
  assert.equal(new URL(page.url()).searchParams.get('state'), st);
  // On the way, the signed-out page loaded the client's front-channel logout page in an
  // iframe (Front-Channel Logout 1.0 §3), with the issuer and the session it ended.
  const front = callback.frontHits.slice(frontBefore);
  assert.equal(front.length, 1, 'the front-channel logout page was loaded once');
  assert.equal(front[0].searchParams.get('iss'), server.base);
  assert.equal(front[0].searchParams.get('sid'), sid);

  // Signed out: prompt=none with the ID token as hint now answers login_required.
  const verifier = oauth.generateRandomCodeVerifier();
  const st2 = oauth.generateRandomState();
  const url = await authorizationUrl(state.client.client_id, st2, verifier,
    { prompt: 'none', id_token_hint: state.tokens.id_token });
  await page.goto(url.href);
  await page.waitForURL((u) => u.href.startsWith(callback.redirectUri), { timeout: 15_000 });
  assert.throws(() => oauth.validateAuthResponse(as, state.client, new URL(page.url()), st2),
    (e) => e.error === 'login_required' || e.cause?.get?.('error') === 'login_required');
});

test('a browser-based public client redeems its code with fetch() from its own page; another origin cannot read (CORS)', async () => {
  const reg = server.addClient(['--name', 'e2e single-page app', '--auth-method', 'none',
    '--redirect-uri', callback.redirectUri, '--grant-type', 'authorization_code', '--scope', 'openid']);
  const verifier = oauth.generateRandomCodeVerifier();
  const st = oauth.generateRandomState();
  const url = await authorizationUrl(reg.client_id, st, verifier);
  const cb = await inBrowser(url.href);
  assert.equal(cb.searchParams.get('state'), st);
  const body = new URLSearchParams({
    grant_type: 'authorization_code', code: cb.searchParams.get('code'),
    redirect_uri: callback.redirectUri, code_verifier: verifier, client_id: reg.client_id,
  }).toString();
  const exchange = ({ endpoint, form }) => fetch(endpoint, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form,
  }).then(async (r) => ({ status: r.status, json: await r.json() }), (e) => ({ blocked: String(e) }));

  // Another origin (localhost is not 127.0.0.1) may not read the answer: fetch() rejects.
  await page.goto(callback.redirectUri.replace('127.0.0.1', 'localhost').replace('/cb', '/other'));
  const foreign = await page.evaluate(exchange, { endpoint: as.token_endpoint, form: body.replace(/code=[^&]*/, 'code=x') });
  assert.ok(foreign.blocked, JSON.stringify(foreign));

  // The client's own origin reads the tokens.
  await page.goto(cb.href);
  const own = await page.evaluate(exchange, { endpoint: as.token_endpoint, form: body });
  assert.equal(own.status, 200, JSON.stringify(own));
  assert.equal(own.json.token_type, 'Bearer');
  const info = await page.evaluate(({ endpoint, token }) => fetch(endpoint, { headers: { authorization: `Bearer ${token}` } })
    .then((r) => r.json()), { endpoint: as.userinfo_endpoint, token: own.json.access_token });
  assert.equal(info.sub, state.sub);
});

// Interoperability with a third client library, from another ecosystem: Python's Authlib as
// Debian 12 packages it (python3-authlib 1.2.0, python3-requests), run with Debian's own
// interpreter. tests/interop/authlib_client.py is the relying party: discovery, code + PKCE
// S256 through the real sign-in and consent pages, token requests with client_secret_basic and
// client_secret_post, ID tokens verified by authlib.jose in each algorithm the server signs
// with, refresh rotation, revocation, introspection, userinfo, and client_credentials with an
// assertion signed by Authlib's PrivateKeyJWT; each part with the server's refusal that Authlib
// surfaces. This file registers the clients, runs the program once and asserts on its report.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { randomToken } from '../support/harness.mjs';
import { makeClient, RESIDENT, RP_CB, SCOPES, setup } from '../support/fixtures.mjs';

// Debian's interpreter, the one python3-authlib installs into; another python3 may come first
// on PATH and have no Authlib, or another one.
const PYTHON = '/usr/bin/python3';
const CLIENT = fileURLToPath(new URL('../interop/authlib_client.py', import.meta.url));
const RUN_DEADLINE_MS = 90_000;

let server;
let clients;
let run;        // {code, signal, stdout, stderr, ms}
let report;     // the program's JSON

/** Runs the program without blocking the event loop (the server's log pipes must drain). */
function runClient(configFile) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(PYTHON, [CLIENT, configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_DEADLINE_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** The client's private JWK (the fixture's P-256 key), for Authlib's PrivateKeyJWT. */
async function privateJwk(key) {
  const jwk = await webcrypto.subtle.exportKey('jwk', key.privateKey);
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, d: jwk.d, kid: key.kid };
}

before(async () => {
  // Fails, never skips, without Authlib: the test exists to run it.
  const probe = spawnSync(PYTHON, ['-c', 'import authlib, requests; print(authlib.__version__)'],
                          { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(`${PYTHON} cannot import authlib and requests ` +
                    `(${probe.error?.message ?? probe.stderr.trim()}): run ` +
                    'deploy/install-deps.sh (it installs python3-authlib and python3-requests)');
  }
  server = await setup();
  const alg = (a) => ['--id-token-signed-response-alg', a];
  const secret = (c, idTokenAlg) => ({ client_id: c.client_id, client_secret: c.client_secret,
                                      id_token_alg: idTokenAlg });
  const basic = await makeClient(server, { auth: 'client_secret_basic', extra: alg('ES256') });
  const post = await makeClient(server, { auth: 'client_secret_post', extra: alg('ES256') });
  const pkjwt = await makeClient(server, {
    auth: 'private_key_jwt', grants: ['client_credentials'], redirectUris: [],
    scope: 'data.read data.write', extra: ['--audience', 'https://rs.example.test'],
  });
  clients = {
    basic: secret(basic, 'ES256'),
    post: secret(post, 'ES256'),
    pkjwt: { client_id: pkjwt.client_id, private_jwk: await privateJwk(pkjwt.key) },
  };
  for (const a of ['ES256', 'RS256', 'PS256', 'EdDSA']) {
    clients[`alg_${a}`] = secret(await makeClient(server, { extra: alg(a) }), a);
  }
  clients.deny = secret(await makeClient(server, { extra: alg('ES256') }), 'ES256');
  // RFC 6749 Appendix A.1: a client_id may hold any VSCHAR, ':' and ' ' among them.
  clients.odd_id = secret(await makeClient(server, {
    extra: [...alg('ES256'), '--id', `authlib:rp ${randomToken(4)}`],
  }), 'ES256');
  // Registered with no algorithm: OIDC Registration §2's default, RS256, which an RP that
  // asked for nothing expects.
  clients.alg_default = secret(await makeClient(server), 'RS256');

  const configFile = path.join(server.dir, 'authlib-config.json');
  fs.writeFileSync(configFile, JSON.stringify({
    issuer: server.base, resident: RESIDENT, redirect_uri: RP_CB, scope: SCOPES, clients,
  }));
  run = await runClient(configFile);
  try {
    report = JSON.parse(run.stdout);
  } catch {
    report = null;
  }
});
after(async () => { await server?.close(); });

/** The part's report, failing with the program's stderr when it raised. */
function part(name) {
  assert.ok(report, `the client printed no JSON (exit ${run.code}, ` +
                    `${run.signal ?? 'no signal'}):\n${run.stderr.slice(-4000)}\n` +
                    run.stdout.slice(0, 2000));
  const p = report[name];
  assert.ok(p, `no report for ${name}`);
  assert.equal(p.exception, undefined, `${name}: ${p.exception}\n${run.stderr.slice(-4000)}`);
  return p;
}

test('the Authlib client runs to the end and exits 0', () => {
  assert.ok(report, `no JSON on stdout:\n${run.stderr.slice(-4000)}`);
  assert.deepEqual(report.failed_parts, [], run.stderr.slice(-4000));
  assert.equal(run.code, 0, run.stderr.slice(-4000));
  assert.equal(report.authlib_version, '1.2.0', 'the Debian 12 package this test was written for');
  console.log(`authlib client: ${run.ms} ms; gaps: ${JSON.stringify(report.authlib_gaps)}`);
});

const FAILS = (p, error) => assert.equal(p.error, error, JSON.stringify(p));

test('discovery: Authlib reads both metadata documents and the key set', () => {
  const d = part('discovery');
  assert.equal(d.issuer, server.base);
  assert.ok(d.issuer_matches && d.oauth_issuer_matches, 'OIDC Discovery §4.3, RFC 8414 §3.3');
  assert.match(d.content_type, /^application\/json/);
  for (const [k, v] of Object.entries(d.endpoints)) assert.ok(v?.startsWith(server.base), k);
  assert.deepEqual(d.code_challenge_methods_supported, ['S256']);
  assert.deepEqual(d.problems['oauth-authorization-server'], {},
                   'RFC 8414 §2 as Authlib checks it');
  // The one rule Authlib finds broken is a SHOULD of Discovery §3 ("Servers SHOULD support none
  // and RS256") that Authlib 1.2 enforces as a MUST; RS256 is listed, "none" is refused on
  // purpose (RFC 9101 §6.2 wants request objects signed, asymmetrically here).
  assert.deepEqual(Object.keys(d.problems['openid-configuration']),
                   ['request_object_signing_alg_values_supported']);
  assert.match(d.problems['openid-configuration'].request_object_signing_alg_values_supported,
               /SHOULD support none and RS256/);
  assert.deepEqual(d.jwks_imported.map(([kty]) => kty), ['EC', 'OKP', 'RSA', 'RSA'],
                   'ES256, EdDSA, RS256 and PS256 keys, each imported by authlib.jose');
});

test('code + PKCE S256 with client_secret_basic: pages, tokens, ID token, userinfo', () => {
  const b = part('client_secret_basic');
  assert.deepEqual(b.steps.map((s) => s.step), ['login', 'consent']);
  for (const s of b.steps) {
    assert.ok(s.csrf_fields.length > 0, `${s.step} form carries a CSRF field`);
  }
  assert.equal(b.code_challenge_method, 'S256');
  assert.equal(b.iss, server.base, 'RFC 9207');
  assert.equal(b.token.token_type, 'Bearer');
  assert.ok(b.token.has_refresh_token && b.token.has_id_token);
  assert.ok(Number.isInteger(b.token.expires_at), 'Authlib computed expires_at from expires_in');
  assert.equal(b.id_token.verified, true);
  assert.equal(b.id_token.alg, 'ES256');
  assert.equal(b.id_token.at_hash_checked_by, 'authlib');
  assert.equal(b.id_token.claims.sub, server.resident.sub);
  assert.equal(b.id_token.claims.aud, clients.basic.client_id);
  assert.equal(b.userinfo.status, 200);
  assert.equal(b.userinfo.body.sub, server.resident.sub);
  assert.equal(b.userinfo.body.email, 'alice@example.test');
});

test('refresh rotation through Authlib; the rotated-out token is invalid_grant', () => {
  const r = part('client_secret_basic').refresh;
  assert.ok(r.rotated && r.new_access_token);
  assert.ok(r.token.has_refresh_token);
  assert.equal(r.userinfo_status, 200, 'the session uses the new access token');
  FAILS(r.old_refresh_token, 'invalid_grant');
  // RFC 9700 §4.14.2: the reuse revoked the family.
  FAILS(r.rotated_after_reuse, 'invalid_grant');
});

test('refusals Authlib surfaces at the token endpoint', () => {
  const b = part('client_secret_basic');
  FAILS(b.replayed_code, 'invalid_grant');
  FAILS(b.wrong_secret, 'invalid_client');
  FAILS(b.wrong_verifier, 'invalid_grant');
  assert.equal(b.wrong_state.raised, 'MismatchingStateException', 'Authlib checks state itself');
});

test('client_secret_post: tokens, introspection and revocation through Authlib', () => {
  const p = part('client_secret_post');
  assert.deepEqual(p.steps.map((s) => s.step), ['consent'], 'signed in already');
  assert.equal(p.id_token.verified, true);
  const a = p.introspect_access;
  assert.equal(a.status, 200);
  assert.match(a.cache_control ?? '', /no-store/);
  assert.equal(a.body.active, true);
  assert.equal(a.body.client_id, clients.post.client_id);
  assert.equal(a.body.sub, server.resident.sub);
  assert.equal(p.introspect_refresh.body.active, true);
  for (const k of ['introspect_wrong_secret', 'revoke_wrong_secret']) {
    assert.equal(p[k].status, 401, k);
    assert.equal(p[k].error, 'invalid_client', k);
  }
  assert.equal(p.revoke_access.status, 200);
  assert.deepEqual(p.introspect_after_revoke.body, { active: false });
  assert.equal(p.userinfo_after_revoke.status, 401);
  assert.equal(p.userinfo_after_revoke.error, 'invalid_token');
  assert.match(p.userinfo_after_revoke.www_authenticate, /^Bearer .*error="invalid_token"/);
  assert.equal(p.revoke_refresh.status, 200);
  FAILS(p.refresh_after_revoke, 'invalid_grant');
  assert.equal(p.revoke_again.status, 200, 'RFC 7009 §2.2');
});

test('ID tokens in ES256, RS256, PS256 and EdDSA verified by authlib.jose', () => {
  const algs = part('id_token_algs');
  for (const alg of ['ES256', 'RS256', 'PS256', 'EdDSA', 'default']) {
    const t = algs[alg];
    assert.equal(t.exception, undefined, `${alg}: ${t.exception}`);
    assert.equal(t.verified, true, alg);
    assert.equal(t.alg, alg === 'default' ? 'RS256' : alg,
                 'signed as registered (RS256 by default)');
    assert.equal(t.claims.iss, server.base);
    assert.equal(t.claims.sub, server.resident.sub);
    assert.deepEqual(t.claims.amr, ['pwd']);
    assert.equal(t.other_alg_refused.raised, 'UnsupportedAlgorithmError', `${alg} pinned`);
    // Authlib 1.2 knows no hash for EdDSA's at_hash (its create_half_hash reads the hash size
    // from the alg's name); the program checks SHA-512's half, as OIDC Core errata set 2 says.
    assert.equal(t.at_hash_checked_by.startsWith('authlib'), alg !== 'EdDSA', t.at_hash_checked_by);
  }
  assert.equal(algs.wrong_nonce.error, 'invalid_claim');
  assert.match(algs.wrong_nonce.description, /nonce/);
  assert.equal(algs.tampered_signature.raised, 'BadSignatureError');
});

test('errors in the authorization response: access_denied and PKCE required', () => {
  const e = part('authorization_errors');
  assert.deepEqual(e.denied.steps, ['consent']);
  assert.equal(e.denied.error_in_redirect, 'access_denied');
  assert.ok(e.denied.state_in_redirect);
  // Authlib 1.2 does not raise the redirect's error: without a code it guesses the grant and
  // asks for client_credentials, which this client may not use.
  FAILS(e.denied.authlib, 'unauthorized_client');
  assert.equal(e.no_pkce.challenge_sent, false);
  assert.equal(e.no_pkce.status, 303);
  assert.equal(e.no_pkce.error_in_redirect, 'invalid_request', 'RFC 9700 §2.1.1: PKCE required');
  FAILS(e.no_pkce.authlib, 'unauthorized_client');
});

test('client_secret_basic with an id that form-urlencoding changes (RFC 6749 §2.3.1)', () => {
  const b = part('basic_encoding');
  assert.equal(b.client_id, clients.odd_id.client_id);
  // Authlib 1.2 puts the id in the header unencoded: the ':' in it ends the id early.
  FAILS(b.authlib_basic, 'invalid_client');
  assert.ok(b.rfc_basic.has_id_token, 'encoded as the RFC says, the same request succeeds');
});

test('bearer token placement: header and form body accepted, URI refused with a challenge', () => {
  const p = part('bearer_placement');
  assert.equal(p.header.status, 200);
  assert.equal(p.header.sub, server.resident.sub);
  assert.equal(p.body.status, 200, 'RFC 6750 §2.2');
  assert.equal(p.body.sub, server.resident.sub);
  assert.equal(p.uri.status, 400, 'RFC 9700 §4.3.2: never in the URL');
  assert.match(p.uri.www_authenticate ?? '', /^Bearer realm="infobank", error="invalid_request"/,
               'RFC 6750 §3');
});

test('client_credentials with Authlib PrivateKeyJWT (RFC 7523), an RFC 9068 access token', () => {
  const k = part('private_key_jwt');
  assert.equal(k.token.token_type, 'Bearer');
  assert.ok(!k.token.has_refresh_token && !k.token.has_id_token, 'RFC 6749 §4.4.3');
  assert.equal(k.token.scope, 'data.read');
  assert.equal(k.access_token.typ, 'at+jwt');
  assert.equal(k.access_token.alg, 'ES256');
  assert.equal(k.access_token.aud, 'https://rs.example.test');
  assert.ok(k.second_token, 'a fresh jti each time');
  FAILS(k.wrong_audience, 'invalid_client');
  FAILS(k.unregistered_key, 'invalid_client');
  FAILS(k.scope_not_allowed, 'invalid_scope');
  // Authlib signs assertions that live exactly an hour, the longest infobank takes: from a
  // client whose clock runs 2 s ahead, the hour counts from the assertion's iat (within the
  // tolerated skew), not from the server's now, which made it "live too long".
  assert.equal(k.clock_ahead_2s.status, 'token', JSON.stringify(k.clock_ahead_2s));
});

test('what Authlib 1.2 leaves to the client, or gets wrong, is what this file expects', () => {
  assert.ok(report, run.stderr);
  const gaps = report.authlib_gaps.join('\n');
  for (const g of [/RFC 9207 iss/, /at_hash with EdDSA/, /form-urlencode the client id/,
                   /not raised by Authlib 1.2 fetch_token/, /request_object_signing_alg/]) {
    assert.match(gaps, g);
  }
  assert.equal(report.authlib_gaps.length, 5, gaps);
});

// RFC 8414 server metadata, OpenID Connect Discovery 1.0, JWKS (RFC 7517), health endpoints.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { startInfobank } from '../support/harness.mjs';

let server;
before(async () => { server = await startInfobank(); });
after(async () => { await server?.close(); });

test('health, readiness and metrics', async () => {
  for (const p of ['/healthz', '/readyz']) {
    const r = await server.get(p);
    assert.equal(r.status, 200, p);
  }
  const m = await server.get('/metrics');
  assert.equal(m.status, 200);
  assert.match(m.headers.get('content-type') ?? '', /^text\/plain/);
  assert.match(m.text, /^# (HELP|TYPE) /m, 'Prometheus text exposition format');
});

test('RFC 8414 metadata describes the server', async () => {
  const r = await server.get('/.well-known/oauth-authorization-server');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  const md = r.json();
  // RFC 8414 §3.3: issuer must be identical to the URL the metadata was fetched under.
  assert.equal(md.issuer, server.base);
  for (const k of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'registration_endpoint',
                   'introspection_endpoint', 'revocation_endpoint',
                   'pushed_authorization_request_endpoint']) {
    assert.equal(typeof md[k], 'string', k);
    assert.ok(md[k].startsWith(server.base + '/'), `${k} = ${md[k]}`);
  }
  assert.deepEqual(md.response_types_supported, ['code']);
  assert.ok(md.grant_types_supported.includes('authorization_code'));
  assert.ok(md.grant_types_supported.includes('refresh_token'));
  assert.ok(md.grant_types_supported.includes('client_credentials'));
  assert.ok(!md.grant_types_supported.includes('password'), 'no ROPC (RFC 9700 §2.4)');
  assert.ok(!md.grant_types_supported.includes('implicit'), 'no implicit (RFC 9700 §2.1.2)');
  assert.deepEqual(md.code_challenge_methods_supported, ['S256'], 'RFC 9700 §2.1.1');
  for (const m of ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']) {
    assert.ok(md.token_endpoint_auth_methods_supported.includes(m), m);
  }
  assert.ok(md.token_endpoint_auth_signing_alg_values_supported?.includes('ES256'));
  // A public client may revoke its tokens (RFC 7009 §2.1) but not introspect: only what is
  // accepted is advertised (introspect_revoke.test.mjs refuses the public client).
  assert.ok(md.revocation_endpoint_auth_methods_supported.includes('none'));
  assert.deepEqual(md.introspection_endpoint_auth_methods_supported,
    ['client_secret_basic', 'client_secret_post', 'private_key_jwt']);
  assert.equal(md.authorization_response_iss_parameter_supported, true, 'RFC 9207 §3');
  assert.ok(md.dpop_signing_alg_values_supported?.includes('ES256'), 'RFC 9449 §5.1');
  assert.ok(Array.isArray(md.authorization_details_types_supported), 'RFC 9396 §10');
});

test('OpenID Connect discovery', async () => {
  const r = await server.get('/.well-known/openid-configuration');
  assert.equal(r.status, 200);
  const md = r.json();
  assert.equal(md.issuer, server.base);
  assert.ok(md.userinfo_endpoint.startsWith(server.base + '/'));
  assert.ok(md.scopes_supported.includes('openid'));
  assert.ok(md.subject_types_supported.length > 0);
  // OIDC Discovery §3: "The algorithm RS256 MUST be included".
  // PS256 for FAPI 2.0 clients (Security Profile §5.4.1 forbids RS256).
  assert.deepEqual(md.id_token_signing_alg_values_supported, ['ES256', 'RS256', 'PS256', 'EdDSA']);
  assert.deepEqual(md.userinfo_signing_alg_values_supported, ['ES256', 'RS256', 'PS256', 'EdDSA'],
                   'OIDC Core §5.3.2');
  assert.deepEqual(md.response_types_supported, ['code']);
});

test('JWKS publishes only public signing keys: EC P-256 for ES256, RSA for RS256 and PS256', async () => {
  const md = (await server.get('/.well-known/oauth-authorization-server')).json();
  const r = await fetch(md.jwks_uri);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^application\/(jwk-set\+)?json/);
  const set = await r.json();
  assert.ok(set.keys.length >= 1);
  for (const k of set.keys) {
    if (k.alg === 'ES256') {
      assert.equal(k.kty, 'EC');
      assert.equal(k.crv, 'P-256');
    } else {
      assert.ok(k.alg === 'RS256' || k.alg === 'PS256', k.alg);
      assert.equal(k.kty, 'RSA');
      assert.ok(Buffer.from(k.n, 'base64url').length >= 256, 'at least 2048 bits');
      for (const p of ['p', 'q', 'dp', 'dq', 'qi']) assert.ok(!(p in k), `no ${p}`);
    }
    assert.equal(typeof k.kid, 'string');
    assert.ok(k.kid.length > 0);
    assert.ok(!('d' in k), 'no private key material');
    assert.equal(k.use, 'sig');
  }
});

test('keys rotate: the new key is published beside the old one', async () => {
  const before = server.cliJson(['keys', 'list']);
  const rotated = server.cliJson(['keys', 'rotate']);
  assert.equal(typeof rotated.kid, 'string');
  // Each algorithm that has a key gets a new one; the others' stay as they were.
  const algs = [...new Set(before.map((k) => k.alg))].sort();
  assert.deepEqual(rotated.rotated.map((r) => r.alg).sort(), algs);
  const list = server.cliJson(['keys', 'list']);
  assert.equal(list.length, before.length + algs.length);
  for (const r of rotated.rotated) assert.ok(list.some((k) => k.kid === r.kid && k.alg === r.alg && k.retired_at === 0));
  for (const alg of algs) assert.equal(list.filter((k) => k.alg === alg && k.retired_at === 0).length, 1, alg);
  const only = server.cliJson(['keys', 'rotate', '--alg', 'ES256']);
  assert.deepEqual(only.rotated.map((r) => r.alg), ['ES256']);
  assert.equal(server.cliJson(['keys', 'list']).length, list.length + 1);
  assert.notEqual(server.cli(['keys', 'rotate', '--alg', 'HS256']).status, 0);
  for (const k of list) assert.ok('created_at' in k && 'retired_at' in k);
  // A restarted server certainly reads the key set again.
  await server.stop();
  await server.start();
  const md = (await server.get('/.well-known/oauth-authorization-server')).json();
  const set = await (await fetch(md.jwks_uri)).json();
  const kids = set.keys.map((k) => k.kid);
  assert.ok(kids.includes(rotated.kid), 'new key published');
  for (const k of before) assert.ok(kids.includes(k.kid), `old key ${k.kid} still published`);
});

test('unknown path is 404 and HEAD/OPTIONS do not crash', async () => {
  const r = await server.get('/no-such-endpoint');
  assert.equal(r.status, 404);
});

test('SIGTERM stops the server gracefully', async () => {
  const r = await server.stop();
  assert.deepEqual(r, { code: 0, signal: null });
  await server.start();
});

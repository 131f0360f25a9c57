// RFC 8705 over real TLS: the mutual-TLS listener beside the HTTPS one, clients that
// authenticate with a certificate (tls_client_auth against a test CA, and
// self_signed_tls_client_auth), certificate-bound access tokens at a resource, and the
// refusals. Certificates are made with the openssl CLI at test time.
import assert from 'node:assert/strict';
import { createHash, createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import { after, before, test } from 'node:test';

import {
  formBody, makeClientCert, makeTestCa, startInfobank, tlsRequest,
} from '../support/harness.mjs';

let server;
let ca;
let pki;        // signed by the CA, O=Example CN=pki.client.test
let impostor;   // self-signed with the same subject
let stranger;   // signed by the CA, another subject
before(async () => {
  ca = makeTestCa();
  pki = makeClientCert(ca, 'pki', { subject: '/O=Example/CN=pki.client.test', san: 'DNS:pki.client.test' });
  impostor = makeClientCert(ca, 'impostor', { subject: '/O=Example/CN=pki.client.test', selfSigned: true });
  stranger = makeClientCert(ca, 'stranger', { subject: '/O=Example/CN=stranger.test' });
  server = await startInfobank({ tls: { cert: ca.cert, key: ca.key, ca: ca.ca }, mtls: true });
});
after(async () => {
  await server?.close();
  if (ca && !process.env.INFOBANK_KEEP_TMP) fs.rmSync(ca.dir, { recursive: true, force: true });
});

const x5t = (der) => createHash('sha256').update(der).digest('base64url');
const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));

function post(base, path, fields, { cert, headers = {} } = {}) {
  return tlsRequest(`${base}${path}`, {
    ca: ca.ca, cert: cert?.cert, key: cert?.key, method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: formBody(fields),
  });
}

let clients = 0;
function addClient(args) {
  clients += 1;
  return server.addClient(['--name', `mtls client ${clients}`, '--grant-type', 'client_credentials',
    '--scope', 'audit.read', ...args]);
}

test('discovery names the mutual-TLS endpoints and the certificate methods (RFC 8705 §3.3, §5)', async () => {
  const r = await tlsRequest(`${server.base}/.well-known/oauth-authorization-server`, { ca: ca.ca });
  assert.equal(r.status, 200);
  const md = JSON.parse(r.text);
  assert.equal(md.tls_client_certificate_bound_access_tokens, true);
  assert.equal(md.token_endpoint, `${server.base}/token`);
  assert.equal(md.mtls_endpoint_aliases.token_endpoint, `${server.mtlsBase}/token`);
  assert.equal(md.mtls_endpoint_aliases.introspection_endpoint, `${server.mtlsBase}/introspect`);
  assert.equal(md.mtls_endpoint_aliases.revocation_endpoint, `${server.mtlsBase}/revoke`);
  assert.equal(md.mtls_endpoint_aliases.userinfo_endpoint, `${server.mtlsBase}/userinfo`);
  assert.equal(md.mtls_endpoint_aliases.pushed_authorization_request_endpoint, `${server.mtlsBase}/par`);
  for (const m of ['tls_client_auth', 'self_signed_tls_client_auth']) {
    assert.ok(md.token_endpoint_auth_methods_supported.includes(m), m);
    assert.ok(md.introspection_endpoint_auth_methods_supported.includes(m), m);
  }
});

test('tls_client_auth: a chain to the CA that names the client (RFC 8705 §2.1)', async () => {
  const c = addClient(['--auth-method', 'tls_client_auth',
    '--tls-client-auth-subject-dn', 'CN=pki.client.test,O=Example']);
  assert.equal(c.client_secret, undefined, 'no secret for a certificate client');
  const ask = (base, cert) => post(base, '/token', { grant_type: 'client_credentials', client_id: c.client_id }, { cert });
  const ok = await ask(server.mtlsBase, pki);
  assert.equal(ok.status, 200, ok.text);
  assert.match(ok.headers['cache-control'], /no-store/);
  assert.equal(JSON.parse(ok.text).token_type, 'Bearer');
  for (const [cert, why] of [[impostor, 'self-signed, same subject'], [stranger, 'trusted, another subject'],
    [null, 'no certificate']]) {
    const r = await ask(server.mtlsBase, cert);
    assert.equal(r.status, 401, why);
    assert.equal(JSON.parse(r.text).error, 'invalid_client', why);
  }
  // The HTTPS listener never asks, so the same client cannot authenticate there.
  const plain = await ask(server.base, pki);
  assert.equal(plain.status, 401);
  assert.equal(JSON.parse(plain.text).error, 'invalid_client');
});

test('a resumed TLS session keeps the client certificate it was made with', async () => {
  const c = addClient(['--auth-method', 'tls_client_auth', '--tls-client-auth-san-dns', 'pki.client.test']);
  const { port } = new URL(server.mtlsBase);
  const creds = { ca: fs.readFileSync(ca.ca), cert: fs.readFileSync(pki.cert), key: fs.readFileSync(pki.key) };
  // A first connection, only for the session ticket the server gives after the handshake.
  const session = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no TLS session ticket within 5 s')), 5000);
    const socket = tls.connect({ host: '127.0.0.1', port, ...creds }, () => socket.write('\r\n'));
    socket.once('session', (s) => { clearTimeout(timer); socket.destroy(); resolve(s); });
    socket.on('error', () => {});
  });
  const body = formBody({ grant_type: 'client_credentials', client_id: c.client_id });
  const r = await new Promise((resolve, reject) => {
    const req = https.request(`${server.mtlsBase}/token`, {
      method: 'POST', agent: false, session, ...creds,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, text, reused: res.socket.isSessionReused() }));
    });
    req.on('error', reject);
    req.end(body);
  });
  assert.equal(r.reused, true, 'the session was resumed');
  assert.equal(r.status, 200, r.text);
});

test('self_signed_tls_client_auth through /register: the certificate in its jwks (RFC 8705 §2.2)', async () => {
  const me = makeClientCert(ca, 'selfie', { subject: '/CN=selfie.test', selfSigned: true });
  const jwk = { kty: 'EC', use: 'sig', x5c: [me.der.toString('base64')],
    ...createPublicKey(fs.readFileSync(me.cert)).export({ format: 'jwk' }) };
  const meta = {
    token_endpoint_auth_method: 'self_signed_tls_client_auth', grant_types: ['client_credentials'],
    scope: 'audit.read', jwks: { keys: [jwk] }, tls_client_certificate_bound_access_tokens: true,
  };
  const reg = await tlsRequest(`${server.base}/register`, {
    ca: ca.ca, method: 'POST', body: JSON.stringify(meta),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${server.initialAccessToken}` },
  });
  assert.equal(reg.status, 201, reg.text);
  const client = JSON.parse(reg.text);
  assert.equal(client.token_endpoint_auth_method, 'self_signed_tls_client_auth');
  assert.equal(client.tls_client_certificate_bound_access_tokens, true);
  const ask = (cert) => post(server.mtlsBase, '/token', { grant_type: 'client_credentials', client_id: client.client_id }, { cert });
  const ok = await ask(me);
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(claims(JSON.parse(ok.text).access_token).cnf, { 'x5t#S256': x5t(me.der) });
  const other = await ask(pki);
  assert.equal(other.status, 401, 'a certificate the client did not register, even a trusted one');
  assert.equal(JSON.parse(other.text).error, 'invalid_client');

  // Registration without a certificate in the jwks is refused, and nothing is stored.
  const bad = await tlsRequest(`${server.base}/register`, {
    ca: ca.ca, method: 'POST', body: JSON.stringify({ ...meta, jwks: { keys: [{ ...jwk, x5c: undefined }] } }),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${server.initialAccessToken}` },
  });
  assert.equal(bad.status, 400, bad.text);
  assert.equal(JSON.parse(bad.text).error, 'invalid_client_metadata');
});

test('a certificate-bound token works only with its certificate (RFC 8705 §3)', async () => {
  const c = addClient(['--auth-method', 'tls_client_auth', '--tls-client-auth-san-dns', 'pki.client.test',
    '--tls-client-certificate-bound-access-tokens']);
  const t = await post(server.mtlsBase, '/token', { grant_type: 'client_credentials', client_id: c.client_id, scope: 'audit.read' }, { cert: pki });
  assert.equal(t.status, 200, t.text);
  const token = JSON.parse(t.text).access_token;
  assert.deepEqual(claims(token).cnf, { 'x5t#S256': x5t(pki.der) });

  const sth = (base, cert) => tlsRequest(`${base}/audit/v1/sth`, {
    ca: ca.ca, cert: cert?.cert, key: cert?.key, headers: { authorization: `Bearer ${token}` },
  });
  const ok = await sth(server.mtlsBase, pki);
  assert.equal(ok.status, 200, ok.text);
  for (const [base, cert, why] of [[server.base, null, 'the HTTPS listener'],
    [server.mtlsBase, null, 'no certificate'], [server.mtlsBase, stranger, 'another certificate']]) {
    const r = await sth(base, cert);
    assert.equal(r.status, 401, why);
    assert.match(r.headers['www-authenticate'], /^Bearer .*error="invalid_token"/, why);
  }

  // Introspection shows the binding.
  const i = await post(server.mtlsBase, '/introspect', { token, client_id: c.client_id }, { cert: pki });
  assert.equal(i.status, 200, i.text);
  assert.deepEqual(JSON.parse(i.text).cnf, { 'x5t#S256': x5t(pki.der) });

  // Asked for on the HTTPS listener, where no certificate can come: refused, nothing issued.
  const secretClient = addClient(['--tls-client-certificate-bound-access-tokens']);
  const basic = `Basic ${Buffer.from(`${secretClient.client_id}:${secretClient.client_secret}`).toString('base64')}`;
  const refused = await post(server.base, '/token', { grant_type: 'client_credentials' }, { headers: { authorization: basic } });
  assert.equal(refused.status, 400, refused.text);
  assert.equal(JSON.parse(refused.text).error, 'invalid_request');
  const bound = await post(server.mtlsBase, '/token', { grant_type: 'client_credentials' },
    { cert: impostor, headers: { authorization: basic } });
  assert.equal(bound.status, 200, 'a secret client binds to the certificate it presents');
  assert.deepEqual(claims(JSON.parse(bound.text).access_token).cnf, { 'x5t#S256': x5t(impostor.der) });
});

test('the CLI refuses a certificate client it cannot serve', () => {
  const two = server.cli(['client', 'add', '--name', 'refused', '--auth-method', 'tls_client_auth', '--grant-type', 'client_credentials',
    '--tls-client-auth-san-dns', 'a.test', '--tls-client-auth-san-uri', 'https://a.test']);
  assert.equal(two.status, 2);
  assert.match(two.stderr, /only one/);
  const none = server.cli(['client', 'add', '--name', 'refused', '--auth-method', 'tls_client_auth', '--grant-type', 'client_credentials']);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /invalid_client_metadata/);
  const badDn = server.cli(['client', 'add', '--name', 'refused', '--auth-method', 'tls_client_auth', '--grant-type', 'client_credentials',
    '--tls-client-auth-subject-dn', 'CN=a;b']);
  assert.equal(badDn.status, 2);
});

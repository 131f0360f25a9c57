// [server] mtls_client_crl: tls_client_auth with certificate revocation lists (RFC 5280). A
// revoked certificate does not authenticate; a new list is read without a restart; a list out
// of date makes every certificate of its authority untrusted; a connection kept open is
// checked again under the new list; a list no authority signed (or a file that holds none)
// stops serve, and one that appears later leaves the previous lists in use. Certificates and
// lists are made with the openssl CLI at test time.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
  formBody, makeClientCert, makeTestCa, makeTempDir, startInfobank, tlsRequest, waitFor,
} from '../support/harness.mjs';

let server;
let ca;
let crlFile;
const certs = {};

function openssl(dir, args) {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

// A CA database for `openssl ca`, which revokes certificates and writes the lists.
function caDatabase(authority) {
  fs.writeFileSync(path.join(authority.dir, 'index.txt'), '');
  fs.writeFileSync(path.join(authority.dir, 'crlnumber'), '01\n');
  fs.writeFileSync(path.join(authority.dir, 'ca.cnf'),
    '[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\n');
}
const caArgs = (authority) => ['ca', '-config', 'ca.cnf', '-keyfile', 'ca.key', '-cert', authority.ca];

function revoke(authority, cert) {
  openssl(authority.dir, [...caArgs(authority), '-revoke', cert.cert]);
}

// The authority's list written to `file` as an operator publishes it: a new file renamed over
// the old one. `validity` is openssl's: ['-crldays', '1'] or ['-crlsec', '1'].
function publishCrl(authority, file, validity = ['-crldays', '1']) {
  const fresh = `${file}.new`;
  openssl(authority.dir, [...caArgs(authority), '-gencrl', ...validity, '-out', fresh]);
  fs.renameSync(fresh, file);
}

before(async () => {
  ca = makeTestCa();
  caDatabase(ca);
  for (const name of ['good', 'revoked', 'later', 'kept']) {
    certs[name] = makeClientCert(ca, name, { subject: `/O=Example/CN=${name}.client.test` });
  }
  revoke(ca, certs.revoked);
  crlFile = path.join(ca.dir, 'client-ca.crl.pem');
  publishCrl(ca, crlFile);
  server = await startInfobank({
    tls: { cert: ca.cert, key: ca.key, ca: ca.ca }, mtls: true,
    env: { INFOBANK_SERVER_MTLS_CLIENT_CRL: crlFile, INFOBANK_SERVER_MTLS_TRUST_RELOAD_INTERVAL: '1' },
  });
});
after(async () => {
  await server?.close();
  if (ca && !process.env.INFOBANK_KEEP_TMP) fs.rmSync(ca.dir, { recursive: true, force: true });
});

const clients = {};
function clientFor(name) {
  clients[name] ??= server.addClient(['--name', `crl client ${name}`, '--grant-type', 'client_credentials',
    '--scope', 'audit.read', '--auth-method', 'tls_client_auth',
    '--tls-client-auth-subject-dn', `CN=${name}.client.test,O=Example`]);
  return clients[name];
}

// A token request authenticated by `name`'s certificate only: on a new connection, or with
// `agent` on one it kept open.
function askToken(name, agent) {
  const c = clientFor(name);
  return tlsRequest(`${server.mtlsBase}/token`, {
    agent, ca: ca.ca, cert: certs[name].cert, key: certs[name].key, method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: formBody({ grant_type: 'client_credentials', client_id: c.client_id }),
  });
}

test('a revoked certificate does not authenticate; one that is not revoked does', async () => {
  const ok = await askToken('good');
  assert.equal(ok.status, 200, ok.text);
  const refused = await askToken('revoked');
  assert.equal(refused.status, 401, refused.text);
  assert.equal(JSON.parse(refused.text).error, 'invalid_client');
});

test('a new list is read without a restart: a certificate revoked now stops working', async () => {
  assert.equal((await askToken('later')).status, 200);
  revoke(ca, certs.later);
  publishCrl(ca, crlFile);
  await waitFor(async () => (await askToken('later')).status === 401,
                { what: 'the new revocation list in use' });
  assert.equal((await askToken('good')).status, 200, 'the others still authenticate');
  await waitFor(() => /revocation lists read again/.test(server.log), { what: 'the reload logged' });
});

test('a connection kept open is checked again: a certificate revoked meanwhile stops working on it', async () => {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const first = await askToken('kept', agent);
    assert.equal(first.status, 200, first.text);
    revoke(ca, certs.kept);
    publishCrl(ca, crlFile);
    await waitFor(async () => (await askToken('kept')).status === 401,
                  { what: 'the new list refusing the certificate on a new connection' });
    const again = await askToken('kept', agent);
    assert.equal(again.reused, true, 'the request went on the connection opened before');
    assert.equal(again.status, 401, again.text);
    assert.equal(JSON.parse(again.text).error, 'invalid_client');
    const good = await askToken('good', agent);
    assert.equal(good.status, 200, 'another certificate that is not revoked still works');
  } finally {
    agent.destroy();
  }
});

test('a list past its nextUpdate makes its authority\'s certificates untrusted', async () => {
  publishCrl(ca, crlFile, ['-crlsec', '1']);
  await waitFor(async () => (await askToken('good')).status === 401,
                { what: 'the out-of-date list refusing every certificate' });
  publishCrl(ca, crlFile);
  await waitFor(async () => (await askToken('good')).status === 200,
                { what: 'a current list again' });
});

test('a list that no authority signed: serve refuses to start; later, the previous lists stay', async () => {
  const other = makeTestCa(makeTempDir('infobank-other-ca-'));
  try {
    caDatabase(other);
    const foreign = path.join(other.dir, 'foreign.crl.pem');
    publishCrl(other, foreign);
    const garbage = path.join(other.dir, 'garbage.crl.pem');
    fs.writeFileSync(garbage, '-----BEGIN X509 CRL-----\nbm90IGEgbGlzdA==\n-----END X509 CRL-----\n');
    const empty = path.join(other.dir, 'empty.crl.pem');
    fs.writeFileSync(empty, '');
    for (const [file, why] of [[foreign, /not signed by an authority/], [garbage, /malformed/],
      [empty, /holds no certificate revocation list/], [path.join(other.dir, 'none.pem'), /cannot read/]]) {
      const r = spawnSync(server.bin, ['serve'], {
        env: { ...server.env, INFOBANK_DATA_DIR: path.join(other.dir, 'data'),
               INFOBANK_SERVER_PORT_FILE: path.join(other.dir, 'port'),
               INFOBANK_SERVER_MTLS_PORT_FILE: path.join(other.dir, 'mtls-port'),
               INFOBANK_SERVER_MTLS_CLIENT_CRL: file },
        encoding: 'utf8', timeout: 30_000,
      });
      assert.notEqual(r.status, 0, `serve must not start with ${path.basename(file)}`);
      assert.match(r.stderr + r.stdout, why);
      assert.equal(fs.existsSync(path.join(other.dir, 'mtls-port')), false, 'never listened');
    }

    // The running server is handed the foreign list: it says so and keeps its own lists.
    fs.copyFileSync(foreign, `${crlFile}.new`);
    fs.renameSync(`${crlFile}.new`, crlFile);
    await waitFor(() => /not read again/.test(server.log), { what: 'the refusal logged' });
    assert.equal((await askToken('good')).status, 200);
    assert.equal((await askToken('revoked')).status, 401);
  } finally {
    publishCrl(ca, crlFile);
    if (!process.env.INFOBANK_KEEP_TMP) fs.rmSync(other.dir, { recursive: true, force: true });
  }
});

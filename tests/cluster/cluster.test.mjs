// Two infobank nodes on one PostgreSQL database behind a real nginx on loopback: what one node
// does, the other honours. Node A and node B have their own data directory, port and broker
// node id, and share the database, the master key file and the issuer (nginx's URL). Where
// the test must pick the node, it talks to that node's own port; the last tests go through
// nginx, round robin over both.
//
// Needs INFOBANK_TEST_PG_URL (tests/support/pg.sh; ctest skips the test without it), nginx
// (INFOBANK_NGINX, default `nginx` on PATH), INFOBANK_BIN and INFOBANK_SAMPLE_SERVICE_BIN.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPublicKey, verify as verifySignature } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';

import {
  Infobank, STOP_DEADLINE_MS, basicAuth, createTestDatabase, decodeJwt, makeTempDir, postForm,
  request, waitFor,
} from '../support/harness.mjs';
import { RESIDENT, getCode, getTokens, introspect, makeClient, tokenRequest } from '../support/fixtures.mjs';
import { SampleService } from '../support/services.mjs';
import {
  decide, registerService, requestTransfer, showTransfer, signIn, waitForEnd, withoutNotCarried,
} from '../support/transfers.mjs';

// The nodes share one database that this file creates; the harness must not make one per node.
process.env.INFOBANK_TEST_BACKEND = 'sqlite';

const LEASE_SECONDS = 5;
const PAGE_SIZE = 10;
const ITEMS = 300;

let dir;
let database;
let lb;       // nginx: {base, url(), metadata(), ...} usable where the fixtures take a server
let nginx;
let a;
let b;
const services = [];

/** A TCP port free on 127.0.0.1 now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function makeNode(name) {
  return new Infobank({
    env: {
      INFOBANK_STORAGE_BACKEND: 'postgres',
      INFOBANK_STORAGE_POSTGRES_URL: database.url,
      INFOBANK_STORAGE_MASTER_KEY_FILE: path.join(dir, 'master.key'),
      INFOBANK_OAUTH_ISSUER: lb.base,
      INFOBANK_BROKER_NODE_ID: name,
      INFOBANK_BROKER_LEASE_SECONDS: String(LEASE_SECONDS),
      INFOBANK_BROKER_PAGE_SIZE: String(PAGE_SIZE),
    },
  });
}

/** nginx as this user: generated config in `dir`, upstream = both nodes, round robin. */
class Nginx {
  constructor(root, port, upstreams) {
    this.dir = root;
    this.port = port;
    this.base = `http://127.0.0.1:${port}`;
    fs.mkdirSync(root, { recursive: true });
    fs.chmodSync(root, 0o755);  // run as root, nginx's workers are `nobody`
    const conf = path.join(root, 'nginx.conf');
    fs.writeFileSync(conf, `worker_processes 1;
error_log ${root}/error.log info;
events { worker_connections 256; }
http {
  access_log ${root}/access.log;
  client_body_temp_path ${root}/client_body;
  proxy_temp_path ${root}/proxy;
  fastcgi_temp_path ${root}/fastcgi;
  uwsgi_temp_path ${root}/uwsgi;
  scgi_temp_path ${root}/scgi;
  upstream infobank {
${upstreams.map((u) => `    server ${u};`).join('\n')}
    keepalive 8;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://infobank;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_next_upstream error timeout;
      add_header X-Upstream $upstream_addr always;
    }
  }
}
`);
    this.args = ['-p', `${root}/`, '-c', conf, '-e', `${root}/error.log`,
                 '-g', `daemon off; pid ${root}/nginx.pid;`];
  }

  async start() {
    const bin = process.env.INFOBANK_NGINX || 'nginx';
    const child = spawn(bin, this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.log = '';
    child.stdout.on('data', (d) => { this.log += d; });
    child.stderr.on('data', (d) => { this.log += d; });
    let exitInfo = null;
    this.exited = new Promise((resolve) => {
      child.on('error', (e) => { exitInfo = { error: e.message }; resolve(exitInfo); });
      child.on('exit', (code, signal) => { exitInfo = { code, signal }; resolve(exitInfo); });
    });
    await waitFor(async () => {
      if (exitInfo) throw new Error(`nginx (${bin}) exited: ${JSON.stringify(exitInfo)} ${this.log} ${this.errorLog()}`);
      const r = await fetch(`${this.base}/healthz`);
      await r.arrayBuffer();
      return r.status === 200;
    }, { what: 'nginx to answer /healthz' });
  }

  errorLog() {
    try { return fs.readFileSync(path.join(this.dir, 'error.log'), 'utf8'); } catch { return ''; }
  }

  async stop() {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGQUIT');  // graceful shutdown
    const r = await Promise.race([this.exited, delay(STOP_DEADLINE_MS, 'timeout')]);
    if (r === 'timeout') {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

before(async () => {
  dir = makeTempDir('infobank-cluster-');
  database = createTestDatabase();
  const lbPort = await freePort();
  lb = {
    base: `http://127.0.0.1:${lbPort}`,
    url(p) { return new URL(p, this.base).href; },
    async metadata() {
      const r = await fetch(this.url('/.well-known/oauth-authorization-server'));
      return r.json();
    },
  };
  a = makeNode('node-a');
  b = makeNode('node-b');
  await a.start();  // migrates and creates the master key file
  await b.start();
  assert.notEqual(a.port, b.port);
  nginx = new Nginx(path.join(dir, 'nginx'), lbPort, [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`]);
  await nginx.start();
  a.resident = a.addResident(RESIDENT.username, RESIDENT.password,
                             ['--name', 'Alice Example', '--email', 'alice@example.test']);
});

after(async () => {
  for (const s of services) await s.close().catch(() => {});
  await nginx?.stop();
  for (const n of [a, b]) await n?.close().catch(() => {});
  if (!process.env.INFOBANK_KEEP_TMP) {
    database?.drop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a code issued through node A is redeemed at node B, once', async () => {
  const client = await makeClient(a);
  const c = await getCode(a, client);
  assert.equal(c.flow.params.get('iss'), lb.base, 'node A speaks for the shared issuer');
  const fields = { grant_type: 'authorization_code', code: c.code, redirect_uri: c.params.redirect_uri,
                   code_verifier: c.verifier };
  const r = await tokenRequest(b, client, fields);
  assert.equal(r.status, 200, r.text);
  const body = r.json();
  assert.equal(decodeJwt(body.access_token).payload.iss, lb.base);
  assert.equal(decodeJwt(body.id_token).payload.iss, lb.base);
  // The code is single-use across nodes: A refuses it now.
  const again = await tokenRequest(a, client, fields);
  assert.equal(again.status, 400, again.text);
  assert.equal(again.json().error, 'invalid_grant');
});

test('a refresh token rotated at A and reused at B revokes the family', async () => {
  const client = await makeClient(a);
  const first = (await getTokens(a, client)).body;
  assert.ok(first.refresh_token);
  const rotated = await tokenRequest(a, client, { grant_type: 'refresh_token', refresh_token: first.refresh_token });
  assert.equal(rotated.status, 200, rotated.text);
  const second = rotated.json();
  assert.notEqual(second.refresh_token, first.refresh_token);
  assert.equal((await introspect(b, client, second.access_token)).active, true);

  const reuse = await tokenRequest(b, client, { grant_type: 'refresh_token', refresh_token: first.refresh_token });
  assert.equal(reuse.status, 400, reuse.text);
  assert.equal(reuse.json().error, 'invalid_grant');
  // The whole family is gone, on either node.
  const next = await tokenRequest(a, client, { grant_type: 'refresh_token', refresh_token: second.refresh_token });
  assert.equal(next.status, 400, next.text);
  assert.equal(next.json().error, 'invalid_grant');
  assert.equal((await introspect(a, client, second.refresh_token, 'refresh_token')).active, false);
  assert.equal((await introspect(b, client, second.access_token)).active, false);
});

test('a key rotated through A is served by B and signs B\'s tokens', async () => {
  const client = await makeClient(a, { grants: ['client_credentials'], scope: 'portability.export' });
  const { kid } = a.cliJson(['keys', 'rotate']);
  assert.ok(kid);
  const jwksOf = async (node) => (await request(node.url('/jwks'))).json();
  // B reloads its keys every few seconds.
  await waitFor(async () => (await jwksOf(b)).keys.some((k) => k.kid === kid),
                { deadlineMs: 15_000, what: `node B's /jwks to publish ${kid}` });
  const token = await waitFor(async () => {
    const r = await tokenRequest(b, client, { grant_type: 'client_credentials' });
    assert.equal(r.status, 200, r.text);
    const at = r.json().access_token;
    return decodeJwt(at).header.kid === kid ? at : null;
  }, { deadlineMs: 15_000, what: `node B to sign with ${kid}` });
  // The token verifies with the key as A publishes it. A's server learns of the rotation the
  // way B does (the CLI that rotated is another process), on its own reload timer: wait for it.
  const jwk = await waitFor(async () => (await jwksOf(a)).keys.find((k) => k.kid === kid),
                            { deadlineMs: 15_000, what: `node A's /jwks to publish ${kid}` });
  assert.ok(jwk, 'A publishes the new key too');
  const jws = decodeJwt(token);
  const key = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, format: 'jwk' });
  assert.ok(verifySignature('sha256', Buffer.from(jws.signingInput), { key, dsaEncoding: 'ieee-p1363' },
                            jws.signature));
});

test('through nginx: discovery, both nodes in turn, the code flow and the token endpoint', async () => {
  for (const doc of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
    const r = await request(lb.url(doc));
    assert.equal(r.status, 200);
    const md = r.json();
    assert.equal(md.issuer, lb.base);
    assert.equal(md.token_endpoint, `${lb.base}/token`);
    assert.equal(md.jwks_uri.startsWith(lb.base), true);
  }
  // Round robin: both nodes answer.
  const seen = new Set();
  for (let i = 0; i < 6; i++) {
    const r = await request(lb.url('/healthz'));
    assert.equal(r.status, 200);
    seen.add(r.headers.get('x-upstream'));
  }
  assert.deepEqual([...seen].sort(), [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`].sort());

  // The whole code flow through nginx: sign-in, consent and token may each land on either node.
  const client = await makeClient(a, { grants: ['authorization_code', 'refresh_token', 'client_credentials'] });
  const { body } = await getTokens(lb, client);
  assert.equal(decodeJwt(body.access_token).payload.iss, lb.base);
  assert.equal((await introspect(lb, client, body.access_token)).active, true);
  const refreshed = await tokenRequest(lb, client, { grant_type: 'refresh_token', refresh_token: body.refresh_token });
  assert.equal(refreshed.status, 200, refreshed.text);
  const upstreams = new Set();
  for (let i = 0; i < 4; i++) {
    const r = await postForm(lb.url('/token'), { grant_type: 'client_credentials' },
                             { headers: { authorization: basicAuth(client.client_id, client.client_secret) } });
    assert.equal(r.status, 200, r.text);
    upstreams.add(r.headers.get('x-upstream'));
  }
  assert.equal(upstreams.size, 2, 'token requests went to both nodes');
});

/** A Google Takeout location history of `count` points, for the source's seed. */
function writeLocations(file, count) {
  const locations = [];
  for (let i = 0; i < count; i++) {
    locations.push({ latitudeE7: 350000000 + i * 1000, longitudeE7: 1390000000 + i * 1000, accuracy: 10 + (i % 50),
                     source: 'GPS', timestamp: new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString() });
  }
  fs.writeFileSync(file, JSON.stringify({ locations }));
  return file;
}

async function service(format, opts) {
  // Tokens carry the shared issuer; the services fetch its metadata and keys through nginx.
  const s = new SampleService({ format, issuer: lb.base, ...opts });
  services.push(s);
  await s.start();
  return s;
}

test('a transfer running on A continues on B after A is killed, nothing lost or doubled', async () => {
  // B is stopped while A takes the transfer, and comes back (same port, so nginx keeps it)
  // once A has committed pages: then A holds the lease and B can only take over.
  const bPort = b.port;
  await b.stop();
  b.env.INFOBANK_SERVER_PORT = String(bPort);

  const source = await service('takeout-records', {
    seed: writeLocations(path.join(dir, 'locations.json'), ITEMS), resident: RESIDENT.username });
  // A slow destination keeps the transfer running for seconds.
  const destination = await service('geojson', { faults: { delayRate: 1, delayMs: 60, seed: 7 } });
  registerService(a, 'loc-a', source, 'Location source');
  registerService(a, 'loc-b', destination, 'Location destination');
  a.cliJson(['contract', 'add', '--resident', RESIDENT.username, '--service', 'loc-a']);
  const before = source.dump(RESIDENT.username);
  assert.equal(before.length, ITEMS);

  const jar = await signIn(a, RESIDENT.username, RESIDENT.password);
  const { id, page } = await requestTransfer(a, jar, {
    source: 'loc-a', destination: 'loc-b', datasets: ['location_points'], mode: 'switch' });
  assert.equal((await decide(a, jar, page, 'approve')).status, 303);
  await waitFor(() => showTransfer(a, id).datasets[0].pages_done >= 3,
                { deadlineMs: 30_000, what: 'node A to commit 3 pages' });

  await b.start();
  await waitFor(() => showTransfer(b, id).datasets[0].pages_done >= 5,
                { deadlineMs: 30_000, what: 'node A to go on while B is up' });
  a.kill();
  await a.exited;
  const atKill = showTransfer(b, id);
  assert.notEqual(atKill.state, 'completed', 'A was killed in the middle of the transfer');
  const pagesAtKill = atKill.datasets[0].pages_done;
  assert.ok(pagesAtKill < ITEMS / PAGE_SIZE, JSON.stringify(atKill));

  // B takes the transfer over once A's lease has expired, and finishes it.
  const t = await waitForEnd(b, id, 90_000);
  assert.equal(t.state, 'completed', JSON.stringify(t));
  const d = t.datasets[0];
  assert.equal(d.items_done, ITEMS);
  assert.ok(d.pages_done > pagesAtKill);
  assert.equal(d.verified, true);
  assert.equal(d.deleted_at_source, true);

  const after = destination.dump(RESIDENT.username);
  assert.equal(after.length, ITEMS, 'every item once at the destination');
  assert.equal(new Set(after).size, ITEMS, 'no item twice');
  assert.deepEqual(withoutNotCarried(after, d.not_carried).sort(),
                   withoutNotCarried(before, d.not_carried).sort());
  assert.deepEqual(source.dump(RESIDENT.username), [], 'deleted at the source');
  const contracts = b.cliJson(['contract', 'list', '--resident', RESIDENT.username]);
  assert.equal(contracts.find((c) => c.service === 'loc-a').status, 'terminated');
  assert.equal(contracts.find((c) => c.service === 'loc-b').status, 'active');

  // One audit log for the cluster, consistent after the kill; every page recorded once.
  const exportFile = path.join(dir, 'audit.jsonl');
  const ex = b.cli(['audit', 'export', '--out', exportFile]);
  assert.equal(ex.status, 0, ex.stderr);
  const v = b.cli(['audit', 'verify', exportFile]);
  assert.equal(v.status, 0, v.stdout);
  assert.equal(JSON.parse(v.stdout).ok, true);
  const entries = fs.readFileSync(exportFile, 'utf8').trimEnd().split('\n').slice(1).map((l) => JSON.parse(l));
  const detail = (e) => (typeof e.detail === 'string' ? JSON.parse(e.detail) : e.detail ?? {});
  const pages = entries.filter((e) => e.action === 'transfer.page' && detail(e).transfer === id)
    .map((e) => detail(e).page);
  assert.deepEqual(pages, Array.from({ length: d.pages_done }, (_, i) => i + 1),
                   'each page committed exactly once, in order');
});

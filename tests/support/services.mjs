// Third-party services for the portability tests (Node 20, built-ins only).
//
// SampleService starts the real `sample-service` binary (path from INFOBANK_SAMPLE_SERVICE_BIN,
// which ctest passes) with its own SQLite file in a temporary directory, on 127.0.0.1 port 0;
// it waits for the port file and for GET /healthz == 200 against a deadline, like
// harness.mjs's Infobank. One instance = one service = one native format.
//
// TestIssuer is a minimal stand-in for an authorization server: RFC 8414 metadata, a JWK Set,
// and RFC 9068 at+jwt access tokens signed with ES256, for tests that run before (or without)
// infobank's broker. The portability API itself is in docs/portability-api.md.

import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  START_DEADLINE_MS, makeTempDir, stopChild, waitFor,
} from './harness.mjs';
import { generateKey, now, signJwt } from './jose.mjs';

export const API = '/portability/v1';
export const TRANSFER_TYPE = 'personal_data_transfer';

/** The shared sample files (the repo is checked out with `shared/` beside it). */
export const SAMPLES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)),
                                        '../../../shared/samples');

export function sampleServiceBin() {
  const bin = process.env.INFOBANK_SAMPLE_SERVICE_BIN;
  if (!bin) {
    throw new Error('INFOBANK_SAMPLE_SERVICE_BIN is not set (ctest sets it to the built sample-service)');
  }
  if (!fs.existsSync(bin)) throw new Error(`INFOBANK_SAMPLE_SERVICE_BIN does not exist: ${bin}`);
  return bin;
}

export class SampleService {
  /**
   * @param {object} opts
   * @param {string} opts.format native format name, e.g. 'blogger-atom'
   * @param {string} opts.issuer the authorization server whose tokens count
   * @param {string} [opts.audience] default: the service's own http://127.0.0.1:PORT
   * @param {string} [opts.seed] native export file loaded for `resident` at start
   * @param {string} [opts.resident]
   * @param {object} [opts.faults] {failRate, delayRate, delayMs, cutRate, unauthorizedOnce, seed}
   * @param {number} [opts.maxBodyBytes]
   * @param {{cert: string, key: string}} [opts.tls] serve HTTPS with this certificate
   * @param {string[]} [opts.args] more command-line arguments
   * @param {string} [opts.dir] reuse a directory (and its database), e.g. to restart a service
   */
  constructor(opts) {
    this.bin = sampleServiceBin();
    this.opts = opts;
    this.ownsDir = !opts.dir;
    this.dir = opts.dir ?? makeTempDir('sample-service-');
    this.db = path.join(this.dir, 'service.db');
    this.portFile = path.join(this.dir, 'port');
    this.child = null;
    this.log = '';
    this.port = 0;
    this.base = '';
  }

  args() {
    const o = this.opts;
    const a = ['serve', '--format', o.format, '--db', this.db, '--port', '0',
               '--port-file', this.portFile, '--address', '127.0.0.1', '--issuer', o.issuer];
    if (o.audience) a.push('--audience', o.audience);
    if (o.seed) a.push('--seed', o.seed, '--resident', o.resident);
    if (o.maxBodyBytes) a.push('--max-body-bytes', String(o.maxBodyBytes));
    if (o.tls) a.push('--tls-cert', o.tls.cert, '--tls-key', o.tls.key);
    const f = o.faults ?? {};
    if (f.failRate !== undefined) a.push('--fail-rate', String(f.failRate));
    if (f.delayRate !== undefined) a.push('--delay-rate', String(f.delayRate));
    if (f.delayMs !== undefined) a.push('--delay-ms', String(f.delayMs));
    if (f.cutRate !== undefined) a.push('--cut-rate', String(f.cutRate));
    if (f.unauthorizedOnce) a.push('--unauthorized-once');
    if (f.seed !== undefined) a.push('--fault-seed', String(f.seed));
    return [...a, ...(o.args ?? [])];
  }

  async start({ deadlineMs = START_DEADLINE_MS } = {}) {
    if (this.child) throw new Error('already started');
    fs.rmSync(this.portFile, { force: true });
    this.log = '';
    const child = spawn(this.bin, this.args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout.on('data', (d) => { this.log += d; });
    child.stderr.on('data', (d) => {
      this.log += d;
      if (process.env.INFOBANK_TEST_VERBOSE) process.stderr.write(d);
    });
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    let exitInfo = null;
    this.exited.then((e) => { exitInfo = e; });
    const fail = (e) => { this.kill(); throw new Error(`${e.message}\n${this.log}`); };

    this.port = await waitFor(() => {
      if (exitInfo) throw new Error(`sample-service exited early (${JSON.stringify(exitInfo)})`);
      if (!fs.existsSync(this.portFile)) return 0;
      const text = fs.readFileSync(this.portFile, 'utf8').trim();
      return /^[0-9]+$/.test(text) && Number(text) > 0 ? Number(text) : 0;
    }, { what: 'the port file', deadlineMs }).catch(fail);
    this.base = `${this.opts.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
    await waitFor(async () => {
      if (exitInfo) throw new Error(`sample-service exited early (${JSON.stringify(exitInfo)})`);
      // This process does not trust a test CA: over HTTPS, the service's own word that it is
      // ready (its log line) stands in for GET /healthz.
      if (this.opts.tls) return this.log.includes('"msg":"ready"');
      const r = await fetch(`${this.base}/healthz`);
      await r.arrayBuffer();
      return r.status === 200;
    }, { what: 'GET /healthz == 200', deadlineMs }).catch(fail);
    return this;
  }

  /** The audience tokens for this service must carry. */
  get audience() {
    return this.opts.audience ?? this.base;
  }

  get dataset() {
    return DATASET_OF[this.opts.format];
  }

  kill() {
    if (this.child && this.child.exitCode === null) this.child.kill('SIGKILL');
  }

  /** SIGTERM, then waits for the exit; returns {code, signal} (see stopChild). */
  async stop() {
    if (!this.child) return null;
    const child = this.child;
    this.child = null;
    return stopChild(child, this.exited, 'sample-service', () => this.log);
  }

  /** Stops the service and removes its directory (unless it was given one). */
  async close() {
    try {
      await this.stop();
    } finally {
      if (this.ownsDir && !process.env.INFOBANK_KEEP_TMP) {
        fs.rmSync(this.dir, { recursive: true, force: true });
      }
    }
  }

  url(p) {
    return new URL(p, this.base).href;
  }

  /** `sample-service dump`: the resident's items as canonical common-model JSON lines. */
  dump(resident) {
    const r = spawnSync(this.bin, ['dump', '--db', this.db, '--resident', resident],
                        { encoding: 'utf8', timeout: 60_000, maxBuffer: 1 << 30 });
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`sample-service dump exited ${r.status}: ${r.stderr}`);
    return r.stdout.split('\n').filter((l) => l !== '');
  }

  /** A request to the API; resolves to {status, headers, text, json()}. */
  async call(p, { method = 'GET', token, headers = {}, body } = {}) {
    const h = { ...headers };
    if (token) h.authorization = `Bearer ${token}`;
    const res = await fetch(this.url(p), { method, headers: h, body });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, res, json() { return JSON.parse(text); } };
  }

  /** Every page of an export under `transfer`: {pages: [{status, headers, text}], documents}. */
  async exportAll(token, transfer, { limit } = {}) {
    const pages = [];
    let cursor;
    for (let i = 0; i < 100_000; i++) {
      const q = new URLSearchParams({ transfer });
      if (cursor !== undefined) q.set('cursor', cursor);
      if (limit !== undefined) q.set('limit', String(limit));
      const r = await this.call(`${API}/datasets/${this.dataset}/export?${q}`, { token });
      if (r.status !== 200) throw new Error(`export: HTTP ${r.status}: ${r.text}`);
      pages.push(r);
      cursor = r.headers.get('portability-next-cursor') ?? undefined;
      if (cursor === undefined) return pages;
    }
    throw new Error('export did not end');
  }
}

export async function startSampleService(opts) {
  const s = new SampleService(opts);
  await s.start();
  return s;
}

/** Dataset of each registered format (formats.hpp). */
export const DATASET_OF = {
  'blogger-atom': 'blog_posts',
  'dtp-social-post': 'blog_posts',
  icalendar: 'calendar_events',
  jscalendar: 'calendar_events',
  'apple-health': 'health_records',
  'open-mhealth': 'health_records',
  'takeout-records': 'location_points',
  geojson: 'location_points',
};

/**
 * The order-independent digest of formats.hpp's Digest, computed here independently: the sum
 * modulo 2^256 of SHA-256 over each canonical item line, as 64 lowercase hex digits.
 */
export function digestOf(canonicalLines) {
  const mod = 1n << 256n;
  let sum = 0n;
  for (const line of canonicalLines) {
    sum = (sum + BigInt(`0x${createHash('sha256').update(line, 'utf8').digest('hex')}`)) % mod;
  }
  return sum.toString(16).padStart(64, '0');
}

/**
 * A stand-in authorization server on 127.0.0.1: RFC 8414 metadata at
 * /.well-known/oauth-authorization-server, its JWK Set at /jwks, and ES256 at+jwt tokens
 * (RFC 9068) bound to one transfer by an RFC 9396 authorization_details entry.
 */
export class TestIssuer {
  constructor() {
    this.keys = [];        // [{privateKey, jwk, kid}] published in the JWKS
    this.jwksFetches = 0;
    this.server = null;
    this.issuer = '';
  }

  async start() {
    this.keys.push(await generateKey());
    this.server = http.createServer((req, res) => {
      const send = (status, body, type = 'application/json') => {
        res.writeHead(status, { 'content-type': type });
        res.end(JSON.stringify(body));
      };
      if (req.url === '/.well-known/oauth-authorization-server') {
        return send(200, { issuer: this.issuer, jwks_uri: `${this.issuer}/jwks`,
                           token_endpoint: `${this.issuer}/token` });
      }
      if (req.url === '/jwks') {
        this.jwksFetches++;
        return send(200, { keys: this.keys.map((k) => ({ ...k.jwk, kid: k.kid, use: 'sig', alg: 'ES256' })) },
                    'application/jwk-set+json');
      }
      return send(404, { error: 'not_found' });
    });
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.issuer = `http://127.0.0.1:${this.server.address().port}`;
    return this;
  }

  async close() {
    if (!this.server) return;
    this.server.closeAllConnections?.();
    await new Promise((resolve) => this.server.close(resolve));
    this.server = null;
  }

  /** Publishes one more key (as after a rotation) and returns it. */
  async rotate() {
    const key = await generateKey();
    this.keys.push(key);
    return key;
  }

  /**
   * An access token for `audience`, subject `sub`, with `scope`, bound to `transfer`.
   * `claims` override or add claims (undefined removes one); `header` overrides the JOSE
   * header; `key` signs (default: the first published key).
   */
  async token({ audience, sub, scope, transfer, claims = {}, header = {}, key = this.keys[0] }) {
    const iat = now();
    const payload = {
      iss: this.issuer, sub, aud: audience, scope, client_id: 'infobank-broker',
      iat, exp: iat + 300, jti: randomUUID(),
      authorization_details: [{ type: TRANSFER_TYPE, identifier: transfer, actions: ['export'] }],
      ...claims,
    };
    for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
    return signJwt({ alg: 'ES256', typ: 'at+jwt', kid: key.kid, ...header }, payload, key.privateKey);
  }
}

export async function startTestIssuer() {
  const i = new TestIssuer();
  await i.start();
  return i;
}

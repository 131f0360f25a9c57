// Shared harness for the integration and end-to-end tests (Node 20, built-ins only).
//
// Infobank starts the real `infobank` binary (path from INFOBANK_BIN, which ctest passes) in a
// temporary data directory, configured only through INFOBANK_* environment variables, on
// 127.0.0.1 port 0; it waits for the port file and for GET /readyz == 200, polling every
// 20 ms against a deadline instead of sleeping. The rest are small helpers to drive the OAuth
// endpoints and the resident pages by plain HTTP.
//
// The storage back end comes from the environment: SQLite in the data directory by default;
// with INFOBANK_TEST_BACKEND=postgres, a fresh database per Infobank on the server named by
// INFOBANK_TEST_PG_URL (tests/support/pg.sh starts one), created with psql and dropped by
// close().

import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

export const POLL_MS = 20;
export const START_DEADLINE_MS = 15_000;
export const STOP_DEADLINE_MS = 10_000;

export function b64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

export function randomToken(bytes = 16) {
  return b64url(randomBytes(bytes));
}

export function makeTempDir(prefix = 'infobank-test-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function infobankBin() {
  const bin = process.env.INFOBANK_BIN;
  if (!bin) throw new Error('INFOBANK_BIN is not set (ctest sets it to the built infobank binary)');
  if (!fs.existsSync(bin)) throw new Error(`INFOBANK_BIN does not exist: ${bin}`);
  return bin;
}

/** RFC 7636 §4.1/§4.2: a 43-character verifier and its S256 challenge. */
export function pkcePair() {
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  return { verifier, challenge, method: 'S256' };
}

/** Polls `fn` every POLL_MS until it returns a truthy value or the deadline passes. */
export async function waitFor(fn, { deadlineMs = START_DEADLINE_MS, what = 'condition' } = {}) {
  const end = Date.now() + deadlineMs;
  let lastError;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > end) {
      throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}` +
                      (lastError ? `: ${lastError.message}` : ''));
    }
    await delay(POLL_MS);
  }
}

/**
 * Stops a server process of ours: SIGTERM unless it has already exited (killed by a test, say),
 * then waits for its exit for at most STOP_DEADLINE_MS (SIGKILL after). A process that was
 * running must exit with status 0: a graceful shutdown, and, in a sanitizer build, no leak and
 * no error report (AddressSanitizer and LeakSanitizer end the process with another status); one
 * that had exited must not have died of a signal other than SIGKILL.
 * Returns {code, signal}; `log()` gives its output for the error.
 */
export async function stopChild(child, exited, what, log) {
  const running = child.exitCode === null && child.signalCode === null;
  if (running) child.kill('SIGTERM');
  const ac = new AbortController();
  const timeout = delay(STOP_DEADLINE_MS, 'timeout', { signal: ac.signal }).catch(() => null);
  const r = await Promise.race([exited, timeout]);
  ac.abort();
  if (r === 'timeout') {
    child.kill('SIGKILL');
    await exited;
    throw new Error(`${what} did not exit within ${STOP_DEADLINE_MS} ms of SIGTERM\n${log()}`);
  }
  if (running && (r.code !== 0 || r.signal !== null)) {
    throw new Error(`${what} exited ${JSON.stringify(r)} on SIGTERM, not 0:\n${log().slice(-4000)}`);
  }
  // Gone before: by a test's SIGKILL, or by a failed start (status 1), but never by a crash (a
  // sanitizer's abort is SIGABRT).
  if (!running && r.signal !== null && r.signal !== 'SIGKILL') {
    throw new Error(`${what} died of ${r.signal}:\n${log().slice(-4000)}`);
  }
  return r;
}

/** The back end the tests run on: 'sqlite' (default) or 'postgres'. */
export function testBackend() {
  const backend = process.env.INFOBANK_TEST_BACKEND || 'sqlite';
  if (backend !== 'sqlite' && backend !== 'postgres') {
    throw new Error(`INFOBANK_TEST_BACKEND must be sqlite or postgres, not ${backend}`);
  }
  return backend;
}

/** Runs one SQL command with psql against `url`; throws with psql's message on failure. */
function psql(url, sql) {
  const r = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql],
                      { encoding: 'utf8', timeout: 30_000 });
  if (r.error) {
    throw new Error(r.error.code === 'ENOENT'
      ? 'psql is not on PATH (apt-get install postgresql-client)' : `psql: ${r.error.message}`);
  }
  if (r.status !== 0) throw new Error(`psql ${sql}: ${r.stderr.trim()}`);
}

/** `url` (a postgresql:// URI or a keyword/value conninfo) naming database `name` instead. */
export function withDatabase(url, name) {
  if (/^postgres(ql)?:\/\//.test(url)) {
    const u = new URL(url);
    u.pathname = `/${name}`;
    return u.href;
  }
  return `${url} dbname=${name}`;  // a later keyword overrides an earlier one
}

/**
 * A fresh PostgreSQL database for one server: {url, drop()}. The name is random (tests run in
 * parallel, one database each) and needs no quoting.
 */
export function createTestDatabase() {
  const admin = process.env.INFOBANK_TEST_PG_URL;
  if (!admin) throw new Error('INFOBANK_TEST_BACKEND=postgres needs INFOBANK_TEST_PG_URL (see tests/support/pg.sh)');
  const name = `infobank_it_${process.pid}_${randomBytes(6).toString('hex')}`;
  psql(admin, `CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8'`);
  return {
    name,
    url: withDatabase(admin, name),
    // FORCE: a server killed by a failed test must not keep the database alive.
    drop() { psql(admin, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`); },
  };
}

export class Infobank {
  /**
   * @param {object} [opts]
   * @param {{cert: string, key: string, ca?: string}} [opts.tls] PEM file paths: serve HTTPS
   *   (readiness is then checked trusting `ca`, when given, rather than the process's CAs)
   * @param {boolean} [opts.mtls] also serve the mutual-TLS listener (RFC 8705), trusting
   *   client certificates of opts.tls.ca for tls_client_auth; its URL is `mtlsBase`
   * @param {Record<string,string>} [opts.env] extra INFOBANK_* variables
   */
  constructor(opts = {}) {
    this.bin = infobankBin();
    this.dir = makeTempDir();
    this.dataDir = path.join(this.dir, 'data');
    this.portFile = path.join(this.dir, 'port');
    this.mtlsPortFile = path.join(this.dir, 'mtls-port');
    this.mtls = Boolean(opts.mtls);
    this.initialAccessToken = randomToken(24);
    this.tls = opts.tls;
    this.backend = testBackend();
    this.database = this.backend === 'postgres' ? createTestDatabase() : null;
    this.env = {
      ...process.env,
      INFOBANK_DATA_DIR: this.dataDir,
      INFOBANK_SERVER_ADDRESS: '127.0.0.1',
      INFOBANK_SERVER_PORT: '0',
      INFOBANK_SERVER_PORT_FILE: this.portFile,
      INFOBANK_OAUTH_INITIAL_ACCESS_TOKEN: this.initialAccessToken,
      ...(opts.tls ? { INFOBANK_SERVER_TLS_CERT: opts.tls.cert,
                       INFOBANK_SERVER_TLS_KEY: opts.tls.key } : {}),
      ...(opts.mtls ? { INFOBANK_SERVER_MTLS_PORT: '0',
                        INFOBANK_SERVER_MTLS_PORT_FILE: this.mtlsPortFile,
                        INFOBANK_SERVER_MTLS_CLIENT_CA: opts.tls.ca } : {}),
      ...(this.database ? { INFOBANK_STORAGE_BACKEND: 'postgres',
                            INFOBANK_STORAGE_POSTGRES_URL: this.database.url } : {}),
      ...(opts.env ?? {}),
    };
    this.child = null;
    this.log = '';
    this.port = 0;
    this.base = '';
  }

  /** Runs one CLI command; returns {status, stdout, stderr}. */
  cli(args, { input = '' } = {}) {
    const r = spawnSync(this.bin, args, { env: this.env, input, encoding: 'utf8', timeout: 60_000,
                              maxBuffer: 1 << 30 });
    if (r.error) throw r.error;
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** Runs one CLI command that must succeed and print JSON. */
  cliJson(args, opts) {
    const r = this.cli(args, opts);
    if (r.status !== 0) {
      throw new Error(`infobank ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    }
    try {
      return JSON.parse(r.stdout);
    } catch {
      throw new Error(`infobank ${args.join(' ')} printed no JSON: ${JSON.stringify(r.stdout)}`);
    }
  }

  /** `client add ...args` → {client_id, client_secret?}. */
  addClient(args) {
    return this.cliJson(['client', 'add', ...args]);
  }

  /** `resident add USER` with the password on stdin → {sub}. */
  addResident(username, password, extra = []) {
    return this.cliJson(['resident', 'add', username, ...extra], { input: `${password}\n` });
  }

  async start() {
    if (this.child) throw new Error('already started');
    fs.rmSync(this.portFile, { force: true });
    this._metadata = undefined;
    const m = this.cli(['migrate']);
    if (m.status !== 0) throw new Error(`infobank migrate exited ${m.status}: ${m.stderr}`);
    this.log = '';
    const child = spawn(this.bin, ['serve'], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout.on('data', (d) => { this.log += d; });
    child.stderr.on('data', (d) => {
      this.log += d;
      if (process.env.INFOBANK_TEST_VERBOSE) process.stderr.write(d);
    });
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    let exitInfo = null;
    this.exited.then((e) => { exitInfo = e; });

    const port = await waitFor(() => {
      if (exitInfo) throw new Error(`infobank serve exited early (${JSON.stringify(exitInfo)}):\n${this.log}`);
      if (!fs.existsSync(this.portFile)) return 0;
      const text = fs.readFileSync(this.portFile, 'utf8').trim();
      return /^[0-9]+$/.test(text) && Number(text) > 0 ? Number(text) : 0;
    }, { what: 'the port file' }).catch((e) => { this.kill(); throw new Error(`${e.message}\n${this.log}`); });
    this.port = port;
    this.base = `${this.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    if (this.mtls) {
      // Written before the main port file.
      const mtlsPort = Number(fs.readFileSync(this.mtlsPortFile, 'utf8').trim());
      this.mtlsBase = `https://127.0.0.1:${mtlsPort}`;
    }
    await waitFor(async () => {
      if (exitInfo) throw new Error(`infobank serve exited early (${JSON.stringify(exitInfo)})`);
      if (this.tls?.ca) return (await tlsRequest(`${this.base}/readyz`, { ca: this.tls.ca })).status === 200;
      const r = await fetch(`${this.base}/readyz`);
      await r.arrayBuffer();
      return r.status === 200;
    }, { what: 'GET /readyz == 200' }).catch((e) => { this.kill(); throw new Error(`${e.message}\n${this.log}`); });
    return this;
  }

  kill() {
    if (this.child && this.child.exitCode === null) this.child.kill('SIGKILL');
  }

  /**
   * SIGTERM, then waits for the exit; returns {code, signal}. Throws when a server that was
   * running does not exit with status 0 (see stopChild).
   */
  async stop() {
    if (!this.child) return null;
    const child = this.child;
    this.child = null;
    return stopChild(child, this.exited, 'infobank serve', () => this.log);
  }

  /** Stops the server and removes the temporary directory (and the PostgreSQL database). */
  async close() {
    try {
      await this.stop();
    } finally {
      if (!process.env.INFOBANK_KEEP_TMP) {
        fs.rmSync(this.dir, { recursive: true, force: true });
        this.database?.drop();
        this.database = null;
      }
    }
  }

  url(p) {
    return new URL(p, this.base).href;
  }

  /** Server metadata (RFC 8414), cached. */
  async metadata() {
    if (!this._metadata) {
      const r = await fetch(this.url('/.well-known/oauth-authorization-server'));
      if (r.status !== 200) throw new Error(`metadata: HTTP ${r.status}`);
      this._metadata = await r.json();
    }
    return this._metadata;
  }

  /** GET without following redirects. */
  get(p, { headers = {}, jar } = {}) {
    return request(this.url(p), { method: 'GET', headers, jar });
  }

  /** POST application/x-www-form-urlencoded without following redirects. */
  postForm(p, fields, { headers = {}, jar } = {}) {
    return postForm(this.url(p), fields, { headers, jar });
  }
}

/** Starts a server; the returned object is ready. */
export async function startInfobank(opts) {
  const s = new Infobank(opts);
  await s.start();
  return s;
}

/** Minimal cookie jar for one origin: enough for the session/CSRF cookies of the pages. */
export class CookieJar {
  constructor() {
    this.cookies = new Map();
  }

  /** Reads every Set-Cookie of a response. */
  store(res) {
    const list = typeof res.headers.getSetCookie === 'function' ? res.headers.getSetCookie() : [];
    for (const line of list) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => {
        const [k, v = ''] = a.split('=').map((x) => x.trim());
        if (k.toLowerCase() === 'max-age') return Number(v) <= 0;
        if (k.toLowerCase() === 'expires') return Date.parse(v) < Date.now();
        return false;
      });
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, { value, attrs: attrs.map((a) => a.trim()) });
    }
  }

  /** Attributes as sent, for assertions (HttpOnly, SameSite, Secure). */
  attributes(name) {
    return this.cookies.get(name)?.attrs ?? [];
  }

  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v.value}`).join('; ');
  }

  get size() {
    return this.cookies.size;
  }
}

/** fetch() with redirect: 'manual', optional cookie jar; resolves to {status, headers, text, res}. */
export async function request(url, { method = 'GET', headers = {}, body, jar } = {}) {
  const h = new Headers(headers);
  if (jar && jar.size && !h.has('cookie')) h.set('cookie', jar.header());
  const res = await fetch(url, { method, headers: h, body, redirect: 'manual' });
  if (jar) jar.store(res);
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, res, url,
           json() { return JSON.parse(text); },
           location() { const l = res.headers.get('location'); return l ? new URL(l, url) : null; } };
}

/** Encodes an object or an array of [name, value] pairs (repeats allowed) as a form body. */
export function formBody(fields) {
  const p = new URLSearchParams();
  const pairs = Array.isArray(fields) ? fields : Object.entries(fields);
  for (const [k, v] of pairs) {
    if (v === undefined || v === null) continue;
    p.append(k, String(v));
  }
  return p.toString();
}

export function postForm(url, fields, { headers = {}, jar } = {}) {
  return request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: formBody(fields), jar,
  });
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before base64. */
export function basicAuth(clientId, clientSecret) {
  const enc = (s) => encodeURIComponent(s).replace(/%20/g, '+');
  return 'Basic ' + Buffer.from(`${enc(clientId)}:${enc(clientSecret)}`).toString('base64');
}

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", '#39': "'", '#x27': "'", '#x2F': '/', '#x2f': '/' };
export function decodeEntities(s) {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (m, e) => {
    if (ENTITIES[e] !== undefined) return ENTITIES[e];
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10));
    return m;
  });
}

function attributesOf(tag) {
  const attrs = {};
  const re = /([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  const inner = tag.replace(/^<\s*[a-zA-Z]+/, '').replace(/\/?>$/, '');
  let m;
  while ((m = re.exec(inner))) {
    attrs[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return attrs;
}

/**
 * The forms of a page: [{action, method, fields: {name: value}, inputs: [...], buttons: [...]}].
 * `fields` holds the hidden/text inputs' values; `buttons` the named submit buttons.
 */
export function parseForms(html) {
  const forms = [];
  const formRe = /<form\b[^>]*>([\s\S]*?)<\/form>/gi;
  let m;
  while ((m = formRe.exec(html))) {
    const open = m[0].match(/^<form\b[^>]*>/i)[0];
    const a = attributesOf(open);
    const form = { action: a.action ?? '', method: (a.method ?? 'get').toLowerCase(),
                   fields: {}, inputs: [], buttons: [] };
    for (const t of m[1].match(/<input\b[^>]*>/gi) ?? []) {
      const ia = attributesOf(t);
      form.inputs.push(ia);
      const type = (ia.type ?? 'text').toLowerCase();
      if (type === 'submit') {
        if (ia.name) form.buttons.push({ name: ia.name, value: ia.value ?? '' });
      } else if (ia.name) {
        form.fields[ia.name] = ia.value ?? '';
      }
    }
    for (const t of m[1].match(/<button\b[^>]*>/gi) ?? []) {
      const ba = attributesOf(t);
      if (ba.name && (ba.type ?? 'submit').toLowerCase() === 'submit') {
        form.buttons.push({ name: ba.name, value: ba.value ?? '' });
      }
    }
    forms.push(form);
  }
  return forms;
}

export function loginForm(html) {
  return parseForms(html).find((f) => f.inputs.some((i) => i.name === 'password'));
}

export function consentForm(html) {
  return parseForms(html).find((f) => f.buttons.some((b) => b.name === 'decision'));
}

/** Builds the /authorize URL for a code + PKCE request. */
export function authorizeUrl(server, params) {
  const u = new URL(server.url('/authorize'));
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null) u.searchParams.set(k, v);
  }
  return u.href;
}

function sameOrigin(a, b) {
  return new URL(a).origin === new URL(b).origin;
}

/** Follows redirects that stay on the server's origin (GET); stops at a page or a foreign redirect. */
export async function follow(server, r, jar, maxHops = 10) {
  for (let i = 0; i < maxHops && r.status >= 300 && r.status < 400; i++) {
    const loc = r.location();
    if (!loc || !sameOrigin(loc.href, server.base)) return r;
    r = await request(loc.href, { jar });
  }
  return r;
}

/**
 * Drives /authorize → sign-in → consent by plain HTTP, as a browser would.
 * Returns {response, location, params} where response is the last one (normally the 303
 * to the redirect_uri) and params the query of its Location.
 */
export async function authorizeFlow(server, {
  params, username, password, decision = 'approve', jar = new CookieJar(),
}) {
  let r = await follow(server, await request(authorizeUrl(server, params), { jar }), jar);
  const trail = [];
  for (let step = 0; step < 6 && r.status === 200; step++) {
    const login = loginForm(r.text);
    const consent = consentForm(r.text);
    let form;
    let fields;
    if (login) {
      form = login;
      fields = { ...login.fields, username, password };
      trail.push('login');
    } else if (consent) {
      form = consent;
      fields = { ...consent.fields, decision };
      trail.push('consent');
    } else {
      break;
    }
    const action = new URL(form.action || r.url, r.url).href;
    r = await follow(server, await postForm(action, fields, { jar }), jar);
  }
  const location = r.status >= 300 && r.status < 400 ? r.location() : null;
  return { response: r, location, params: location ? location.searchParams : new URLSearchParams(),
           jar, trail };
}

/** Parses a compact JWS without verifying it. */
export function decodeJwt(jwt) {
  const parts = String(jwt).split('.');
  if (parts.length !== 3) throw new Error('not a compact JWS');
  return {
    header: JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')),
    signingInput: `${parts[0]}.${parts[1]}`,
    signature: Buffer.from(parts[2], 'base64url'),
  };
}

/**
 * Test CA made with the openssl CLI at test time: an EC P-256 CA and a server certificate
 * for 127.0.0.1 and localhost signed by it. Returns paths and the server's SPKI SHA-256
 * (base64), which Chromium's --ignore-certificate-errors-spki-list pins.
 */
export function makeTestCa(dir = makeTempDir('infobank-ca-')) {
  const run = (args) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const p = (f) => path.join(dir, f);
  run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key']);
  run(['req', '-x509', '-new', '-key', 'ca.key', '-sha256', '-days', '2', '-subj', '/CN=infobank test CA',
       '-addext', 'basicConstraints=critical,CA:TRUE',
       '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', 'ca.pem']);
  run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'server.key']);
  run(['req', '-new', '-key', 'server.key', '-subj', '/CN=localhost', '-out', 'server.csr']);
  fs.writeFileSync(p('server.ext'), [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '',
  ].join('\n'));
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
       '-days', '2', '-sha256', '-extfile', 'server.ext', '-out', 'server.pem']);
  const spki = new X509Certificate(fs.readFileSync(p('server.pem'))).publicKey
    .export({ type: 'spki', format: 'der' });
  return {
    dir,
    ca: p('ca.pem'),
    cert: p('server.pem'),
    key: p('server.key'),
    spkiSha256: createHash('sha256').update(spki).digest('base64'),
  };
}

/**
 * A client certificate made with the openssl CLI in `ca.dir`: signed by the test CA, or
 * self-signed with `selfSigned`. `subject` as openssl's -subj writes it ("/O=Example/CN=a"),
 * `san` as its subjectAltName ("DNS:a.test"). Returns PEM paths and the DER.
 */
export function makeClientCert(ca, name, { subject, san, selfSigned = false }) {
  const run = (args) => {
    const r = spawnSync('openssl', args, { cwd: ca.dir, encoding: 'utf8' });
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const p = (f) => path.join(ca.dir, f);
  const ext = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=clientAuth',
    ...(san ? [`subjectAltName=${san}`] : []),
    '',
  ].join('\n');
  fs.writeFileSync(p(`${name}.ext`), ext);
  run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`]);
  run(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`]);
  const sign = selfSigned
    ? ['-signkey', `${name}.key`]
    : ['-CA', ca.ca, '-CAkey', path.join(ca.dir, 'ca.key'), '-CAcreateserial'];
  run(['x509', '-req', '-in', `${name}.csr`, ...sign, '-days', '2', '-sha256',
       '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
  const der = new X509Certificate(fs.readFileSync(p(`${name}.pem`))).raw;
  return { cert: p(`${name}.pem`), key: p(`${name}.key`), der };
}

/**
 * One HTTPS request with node:https, trusting `ca` (a PEM path) and presenting the client
 * certificate `cert`/`key` (PEM paths) when given. Resolves {status, headers, text}.
 */
// With `agent` (an https.Agent with keepAlive), the request may go on a connection the agent
// kept open; the answer's `reused` says whether it did.
export function tlsRequest(url, { ca, cert, key, method = 'GET', headers = {}, body, agent } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, {
      method,
      headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) },
      ca: ca ? fs.readFileSync(ca) : undefined,
      cert: cert ? fs.readFileSync(cert) : undefined,
      key: key ? fs.readFileSync(key) : undefined,
      agent: agent ?? false,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
                                    text: Buffer.concat(chunks).toString('utf8'),
                                    reused: req.reusedSocket }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

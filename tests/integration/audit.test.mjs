// The auditor's API over the audit log (docs/audit.md, docs/openapi/audit.yaml): entries with
// each filter after real flows, the audit.read scope and audience checks (RFC 6750 §3.1,
// RFC 9068 §4), and, in JavaScript alone, the RFC 9162 §2.1 proofs and the ES256 signature of
// the tree heads, so the server's own verifier is not the only one that agrees with it.
import assert from 'node:assert/strict';
import {
  createHash, createPublicKey, generateKeyPairSync, verify as verifySignature,
} from 'node:crypto';
import { after, before, test } from 'node:test';

import {
  CookieJar, authorizeFlow, decodeJwt, randomToken, request,
} from '../support/harness.mjs';
import {
  RESIDENT, authParams, clientPost, getCode, makeClient, setup, tokenRequest,
} from '../support/fixtures.mjs';

// ---- helpers (kept here: this file's own vocabulary for the audit API) ----

const BOB = { username: 'bob', password: 'bob has a different long password' };

function makeAuditor(server, { auth = 'private_key_jwt', scope = 'audit.read', extra = [] } = {}) {
  return makeClient(server, {
    auth, grants: ['client_credentials'], redirectUris: [], scope, extra,
    name: `auditor ${auth} ${randomToken(4)}`,
  });
}

async function clientCredentialsToken(server, client, fields = { scope: 'audit.read' }) {
  const r = await tokenRequest(server, client, { grant_type: 'client_credentials', ...fields });
  assert.equal(r.status, 200, `client_credentials: ${r.text}`);
  return r.json().access_token;
}

function auditGet(server, token, apiPath, headers = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  return request(server.url(apiPath), { headers: h });
}

async function getJson(server, token, apiPath) {
  const r = await auditGet(server, token, apiPath);
  assert.equal(r.status, 200, `GET ${apiPath}: ${r.text}`);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  return r.json();
}

/** One page of entries; `filters` are query parameters. */
async function entriesPage(server, token, filters) {
  return getJson(server, token, `/audit/v1/entries?${new URLSearchParams(filters)}`);
}

/** Every entry matching `filters`, following next_after. */
async function allEntries(server, token, filters = {}) {
  const out = [];
  let afterSeq = 0;
  for (let page = 0; page < 1000; page++) {
    const body = await entriesPage(server, token, { ...filters, after: afterSeq, limit: 1000 });
    out.push(...body.entries);
    if (body.next_after === undefined) return out;
    afterSeq = body.next_after;
  }
  throw new Error('next_after never ended');
}

/** Code flow as `who` for `client` (with optional authorization_details) up to the tokens. */
async function tokensAs(server, client, who, overrides = {}) {
  const c = await getCode(server, client, overrides, who);
  const r = await tokenRequest(server, client, {
    grant_type: 'authorization_code', code: c.code, redirect_uri: c.params.redirect_uri,
    code_verifier: c.verifier,
  });
  assert.equal(r.status, 200, r.text);
  return { ...r.json(), code: c.code, verifier: c.verifier, jar: c.flow.jar };
}

// RFC 9162 §2.1: SHA-256 with 0x00 before a leaf and 0x01 before two child hashes.
const sha256 = (...parts) => createHash('sha256').update(Buffer.concat(parts)).digest();
const nodeHash = (l, r) => sha256(Buffer.from([1]), l, r);
const b64 = (s) => Buffer.from(s, 'base64');

/** RFC 9162 §2.1.1 MTH over leaf hashes (Buffers). */
function merkleRoot(leaves) {
  if (leaves.length === 0) return sha256(Buffer.alloc(0));
  if (leaves.length === 1) return leaves[0];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(merkleRoot(leaves.slice(0, k)), merkleRoot(leaves.slice(k)));
}

/** RFC 9162 §2.1.3.2: verifying an inclusion proof. Sizes are small: plain numbers suffice. */
function verifyInclusion(leafIndex, treeSize, leafHash, path, root) {
  if (leafIndex >= treeSize) return false;
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = leafHash;
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}

/** RFC 9162 §2.1.4.2: verifying a consistency proof. */
function verifyConsistency(first, second, firstHash, secondHash, consistency) {
  if (first > second) return false;
  if (first === second) return consistency.length === 0 && firstHash.equals(secondHash);
  if (first === 0) return consistency.length === 0;
  if (consistency.length === 0) return false;
  const path = (first & (first - 1)) === 0 ? [firstHash, ...consistency] : [...consistency];
  let fn = first - 1;
  let sn = second - 1;
  while (fn % 2 === 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return fr.equals(firstHash) && sr.equals(secondHash) && sn === 0;
}

/** Whether a tree head's compact JWS verifies with the log key (ES256: JOSE r||s, RFC 7518 §3.4). */
function treeHeadSignatureOk(sth, jwk) {
  const key = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, format: 'jwk' });
  const jws = decodeJwt(sth.signature);
  return verifySignature('sha256', Buffer.from(jws.signingInput), { key, dsaEncoding: 'ieee-p1363' },
                         jws.signature);
}

/** Asserts a tree head is signed by the log key over exactly its own three fields. */
function assertTreeHead(sth, jwk) {
  const jws = decodeJwt(sth.signature);
  assert.equal(jws.header.alg, 'ES256');
  assert.equal(jws.header.typ, 'sth+jwt');
  assert.equal(jws.header.kid, jwk.kid);
  assert.equal(sth.kid, jwk.kid);
  assert.equal(jws.signature.length, 64, 'r||s, not DER');
  assert.ok(treeHeadSignatureOk(sth, jwk), 'the tree head signature verifies with the log key');
  // What was signed is exactly the canonical {"root_hash","timestamp","tree_size"}.
  const payloadText = Buffer.from(jws.signingInput.split('.')[1], 'base64url').toString('utf8');
  assert.equal(payloadText, JSON.stringify({
    root_hash: sth.root_hash, timestamp: sth.timestamp, tree_size: sth.tree_size,
  }));
}

// ---- set-up ----

let server;
let auditor;
let token;
let rp;
let alice;
let bob;
const secrets = [];

before(async () => {
  server = await setup();
  server.bob = server.addResident(BOB.username, BOB.password, ['--name', 'Bob Example']);
  secrets.push(RESIDENT.password, BOB.password);
  auditor = await makeAuditor(server);
  token = await clientCredentialsToken(server, auditor);
  secrets.push(token);
  rp = await makeClient(server, { name: `Alice RP ${randomToken(4)}` });
  secrets.push(rp.client_secret);
  // A real sign-in, consent and code exchange as alice; then a refresh and a revocation.
  alice = await tokensAs(server, rp, {});
  secrets.push(alice.access_token, alice.refresh_token, alice.id_token, alice.code, alice.verifier);
  const refreshed = await tokenRequest(server, rp, { grant_type: 'refresh_token', refresh_token: alice.refresh_token });
  assert.equal(refreshed.status, 200, refreshed.text);
  alice.refreshed = refreshed.json();
  secrets.push(alice.refreshed.access_token, alice.refreshed.refresh_token);
  const md = await server.metadata();
  const rv = await clientPost(server, rp, new URL(md.revocation_endpoint).pathname,
                              { token: alice.refreshed.access_token });
  assert.equal(rv.status, 200, rv.text);
});
after(async () => { await server?.close(); });

// ---- access control ----

const PROTECTED = ['/audit/v1/entries', '/audit/v1/sth', '/audit/v1/proof/inclusion?seq=1',
                   '/audit/v1/proof/consistency?first=1&second=2'];

test('no token: 401 with a Bearer challenge (RFC 6750 §3.1) on every protected endpoint', async () => {
  for (const p of PROTECTED) {
    const r = await auditGet(server, null, p);
    assert.equal(r.status, 401, p);
    assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer\b/, p);
  }
});

test('a malformed or unknown token: 401 invalid_token', async () => {
  for (const bad of ['not-a-jwt', `${token.slice(0, -4)}AAAA`]) {
    const r = await auditGet(server, bad, '/audit/v1/entries');
    assert.equal(r.status, 401, bad);
    assert.match(r.headers.get('www-authenticate') ?? '', /invalid_token/);
  }
});

test('a token without audit.read: 403 insufficient_scope (RFC 6750 §3.1)', async () => {
  const other = await makeAuditor(server, { scope: 'data.read' });
  const t = await clientCredentialsToken(server, other, { scope: 'data.read' });
  for (const p of PROTECTED) {
    const r = await auditGet(server, t, p);
    assert.equal(r.status, 403, `${p}: ${r.text}`);
    assert.equal(r.json().error, 'insufficient_scope');
    assert.match(r.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
  }
});

test('an audit.read token meant for another resource: 401 invalid_token (RFC 9068 §4)', async () => {
  for (const how of ['--audience', 'resource']) {
    const c = await makeAuditor(server, { extra: how === '--audience' ? ['--audience', 'https://rs.example.test'] : [] });
    const t = await clientCredentialsToken(server, c, how === 'resource'
      ? { scope: 'audit.read', resource: 'https://rs.example.test/' } : { scope: 'audit.read' });
    assert.ok([].concat(decodeJwt(t).payload.aud).every((a) => a !== server.base), 'aud is not the issuer');
    const r = await auditGet(server, t, '/audit/v1/entries');
    assert.equal(r.status, 401, `${how}: ${r.text}`);
    assert.equal(r.json().error, 'invalid_token');
  }
});

test('an auditor with client_secret_basic reads the log as well', async () => {
  const c = await makeAuditor(server, { auth: 'client_secret_basic' });
  secrets.push(c.client_secret);
  const t = await clientCredentialsToken(server, c);
  const body = await entriesPage(server, t, { limit: 1 });
  assert.equal(body.entries.length, 1);
});

test('GET /audit/v1/key needs no token and is a public P-256 key', async () => {
  const r = await request(server.url('/audit/v1/key'));
  assert.equal(r.status, 200);
  const jwk = r.json();
  assert.equal(jwk.kty, 'EC');
  assert.equal(jwk.crv, 'P-256');
  assert.equal(jwk.alg, 'ES256');
  assert.ok(jwk.kid);
  assert.equal(jwk.d, undefined, 'no private member');
  const tokenKeys = (await (await fetch((await server.metadata()).jwks_uri)).json()).keys;
  assert.ok(!tokenKeys.some((k) => k.x === jwk.x), 'the log key is not a token signing key');
});

// ---- filters ----

test('resident filter: the sign-in, consent and tokens of a real flow, under a pseudonym', async () => {
  const mine = await allEntries(server, token, { resident: server.resident.sub });
  const actions = mine.map((e) => e.action);
  for (const a of ['resident.added', 'login.success', 'consent.granted', 'token.issued', 'token.refreshed', 'token.revoked']) {
    assert.ok(actions.includes(a), `${a} in ${actions.join(',')}`);
  }
  const pseudonyms = new Set(mine.map((e) => e.resident));
  assert.equal(pseudonyms.size, 1, 'one pseudonym per resident');
  const [pseudonym] = pseudonyms;
  assert.ok(pseudonym && pseudonym !== server.resident.sub, 'the log holds a pseudonym, not the subject');
  for (const e of mine.filter((x) => x.action.startsWith('token.') || x.action.startsWith('consent.'))) {
    assert.equal(e.client_id, rp.client_id, e.action);
  }
  const issued = mine.find((e) => e.action === 'token.issued');
  assert.equal(issued.detail.jti, decodeJwt(alice.access_token).payload.jti, 'the jti names the token');
  // Ascending seq, and bob (who did nothing yet but be added) is not in alice's list.
  assert.deepEqual(mine.map((e) => e.seq), [...mine.map((e) => e.seq)].sort((a, b) => a - b));
  const bobs = await allEntries(server, token, { resident: server.bob.sub });
  assert.ok(bobs.length >= 1 && bobs.every((e) => e.resident !== pseudonym));
  const nobody = await entriesPage(server, token, { resident: 'no-such-subject' });
  assert.deepEqual(nobody.entries, []);
});

test('entries have every documented member with its type', async () => {
  const { entries } = await entriesPage(server, token, { limit: 50 });
  assert.ok(entries.length > 5);
  for (const e of entries) {
    assert.ok(Number.isInteger(e.seq) && e.seq >= 1);
    assert.ok(Number.isInteger(e.time) && e.time > 1_600_000_000);
    for (const k of ['actor', 'action', 'resident', 'client_id', 'purpose', 'outcome', 'request_id']) {
      assert.equal(typeof e[k], 'string', `${k} of ${e.seq}`);
    }
    assert.ok(Array.isArray(e.datasets));
    assert.ok(e.detail !== undefined);
    assert.equal(b64(e.leaf_hash).length, 32, 'leaf_hash is base64 of 32 bytes');
  }
  assert.deepEqual(entries.map((e) => e.seq), entries.map((_, i) => i + 1), 'seq runs 1..n');
});

test('client_id filter', async () => {
  const list = await allEntries(server, token, { client_id: rp.client_id });
  assert.ok(list.length >= 5);
  assert.ok(list.every((e) => e.client_id === rp.client_id));
  assert.ok(list.some((e) => e.action === 'client.registered' && e.actor === 'operator'));
  // The auditor's own queries are on the log under its client_id.
  const queried = await allEntries(server, token, { client_id: auditor.client_id, action: 'audit.queried' });
  assert.ok(queried.length >= 1);
});

test('action filter', async () => {
  const list = await allEntries(server, token, { action: 'token.issued' });
  assert.ok(list.length >= 2, 'the auditor token and alice token');
  assert.ok(list.every((e) => e.action === 'token.issued'));
  assert.ok(list.some((e) => e.client_id === auditor.client_id && e.actor === 'client'));
  const none = await entriesPage(server, token, { action: 'no.such.action' });
  assert.deepEqual(none.entries, []);
});

test('purpose and dataset filters from authorization_details (RFC 9396) personal_data_provision', async () => {
  const purpose = `child-care support ${randomToken(4)}`;
  const details = [{ type: 'personal_data_provision', datasets: ['address', 'children'], purpose,
                     recipient: 'city', retention_until: '2030-03-31' }];
  const client = await makeClient(server);
  const t = await tokensAs(server, client, {}, { authorization_details: JSON.stringify(details) });
  secrets.push(client.client_secret, t.access_token, t.refresh_token, t.id_token, t.code);

  const byPurpose = await allEntries(server, token, { purpose });
  assert.deepEqual(byPurpose.map((e) => e.action), ['consent.granted', 'token.issued']);
  for (const e of byPurpose) {
    assert.equal(e.purpose, purpose);
    assert.deepEqual(e.datasets, ['address', 'children']);
    assert.equal(e.client_id, client.client_id);
  }
  const byDataset = await allEntries(server, token, { dataset: 'children', client_id: client.client_id });
  assert.deepEqual(byDataset.map((e) => e.seq), byPurpose.map((e) => e.seq));
  // A dataset matches as a whole name, not as a prefix or substring.
  for (const partial of ['child', 'hildren', 'address,children']) {
    const r = await entriesPage(server, token, { dataset: partial });
    assert.deepEqual(r.entries, [], partial);
  }
  const otherPurpose = await entriesPage(server, token, { purpose: purpose.slice(0, -1) });
  assert.deepEqual(otherPurpose.entries, []);
});

test('time range: from is inclusive, until exclusive, in seconds', async () => {
  const everything = await allEntries(server, token);
  const bound = everything.at(-1).seq;
  const t = everything[Math.floor(everything.length / 2)].time;
  const within = (list) => list.filter((e) => e.seq <= bound).map((e) => e.seq);
  const at = await allEntries(server, token, { from: t, until: t + 1 });
  assert.ok(at.length >= 1);
  assert.deepEqual(within(at), everything.filter((e) => e.time === t).map((e) => e.seq));
  const before = await allEntries(server, token, { until: t });
  assert.deepEqual(within(before), everything.filter((e) => e.time < t).map((e) => e.seq));
  const since = await allEntries(server, token, { from: t });
  assert.deepEqual(within(since), everything.filter((e) => e.time >= t).map((e) => e.seq));
  const future = await entriesPage(server, token, { from: Math.floor(Date.now() / 1000) + 3600 });
  assert.deepEqual(future.entries, []);
});

test('pagination with after and next_after', async () => {
  const whole = (await entriesPage(server, token, { limit: 1000 })).entries;
  const bound = whole.at(-1).seq;
  const paged = [];
  let afterSeq = 0;
  let pages = 0;
  for (;;) {
    const body = await entriesPage(server, token, { after: afterSeq, limit: 3 });
    pages++;
    assert.ok(body.entries.length <= 3);
    paged.push(...body.entries.filter((e) => e.seq <= bound));
    if (body.next_after === undefined || body.next_after >= bound) {
      if (body.next_after !== undefined) assert.equal(body.next_after, body.entries.at(-1).seq);
      break;
    }
    assert.equal(body.entries.length, 3, 'next_after only on a full page');
    assert.equal(body.next_after, body.entries.at(-1).seq);
    afterSeq = body.next_after;
  }
  assert.ok(pages > 2);
  assert.deepEqual(paged.map((e) => e.seq), whole.map((e) => e.seq));
  assert.deepEqual(paged.map((e) => e.leaf_hash), whole.map((e) => e.leaf_hash));
  const last = await entriesPage(server, token, { after: 1_000_000_000 });
  assert.deepEqual(last.entries, []);
  assert.equal(last.next_after, undefined);
});

test('JSON Lines with format=jsonl and with Accept: application/jsonl', async () => {
  const json = (await entriesPage(server, token, { limit: 20 })).entries;
  for (const how of ['query', 'accept']) {
    const r = how === 'query'
      ? await auditGet(server, token, '/audit/v1/entries?limit=20&format=jsonl')
      : await auditGet(server, token, '/audit/v1/entries?limit=20', { accept: 'application/jsonl' });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type') ?? '', /^application\/jsonl/, how);
    assert.ok(r.text.endsWith('\n'), 'each line ends with a newline');
    const lines = r.text.trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines, json, how);
  }
});

test('malformed numbers: 400 invalid_request', async () => {
  const bad = ['limit=0', 'limit=1001', 'limit=ten', 'after=-1', 'after=1.5', 'from=1e9', 'until=%20', 'after=1&after=2'];
  for (const q of bad) {
    const r = await auditGet(server, token, `/audit/v1/entries?${q}`);
    assert.equal(r.status, 400, `${q}: ${r.text}`);
    assert.equal(r.json().error, 'invalid_request', q);
  }
  for (const p of ['/audit/v1/proof/inclusion?seq=abc', '/audit/v1/proof/inclusion', '/audit/v1/proof/inclusion?seq=0',
                   '/audit/v1/proof/inclusion?seq=1000000', '/audit/v1/proof/inclusion?seq=1&tree_size=1000000',
                   '/audit/v1/proof/consistency?first=x&second=2', '/audit/v1/proof/consistency?first=3&second=2',
                   '/audit/v1/proof/consistency?first=1&second=1000000']) {
    const r = await auditGet(server, token, p);
    assert.equal(r.status, 400, `${p}: ${r.text}`);
    assert.equal(r.json().error, 'invalid_request', p);
  }
});

// ---- signed tree heads and proofs, checked in JavaScript ----

test('the signed tree head verifies with /audit/v1/key and covers the entries', async () => {
  const jwk = (await request(server.url('/audit/v1/key'))).json();
  const sth = await getJson(server, token, '/audit/v1/sth');
  assert.ok(Number.isInteger(sth.tree_size) && sth.tree_size > 5);
  assert.ok(Math.abs(sth.timestamp - Date.now() / 1000) < 300, 'timestamp is now, in seconds');
  assert.equal(b64(sth.root_hash).length, 32);
  assert.deepEqual(sth.log_key, jwk);
  assertTreeHead(sth, jwk);

  // The root over the entries' leaf hashes (RFC 9162 §2.1.1) is the signed root.
  const entries = (await allEntries(server, token)).filter((e) => e.seq <= sth.tree_size);
  assert.equal(entries.length, sth.tree_size);
  assert.ok(merkleRoot(entries.map((e) => b64(e.leaf_hash))).equals(b64(sth.root_hash)));

  // The check can fail: another key, or a signature over a different head, does not verify.
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const otherJwk = { ...publicKey.export({ format: 'jwk' }), kid: jwk.kid };
  assert.ok(!treeHeadSignatureOk(sth, otherJwk));
  const [h, , sig] = sth.signature.split('.');
  const lied = Buffer.from(JSON.stringify({ root_hash: sth.root_hash, timestamp: sth.timestamp,
                                            tree_size: sth.tree_size + 1 })).toString('base64url');
  assert.ok(!treeHeadSignatureOk({ ...sth, signature: `${h}.${lied}.${sig}` }, jwk));
});

test('inclusion proofs (RFC 9162 §2.1.3) verify against the signed root', async () => {
  const sth = await getJson(server, token, '/audit/v1/sth');
  const entries = (await allEntries(server, token)).filter((e) => e.seq <= sth.tree_size);
  const n = sth.tree_size;
  const seqs = [...new Set([1, 2, Math.ceil(n / 2), n - 1, n])].filter((s) => s >= 1);
  for (const seq of seqs) {
    const p = await getJson(server, token, `/audit/v1/proof/inclusion?seq=${seq}&tree_size=${n}`);
    assert.equal(p.seq, seq);
    assert.equal(p.leaf_index, seq - 1);
    assert.equal(p.tree_size, n);
    const leaf = b64(entries[seq - 1].leaf_hash);
    const path = p.audit_path.map(b64);
    assert.ok(verifyInclusion(p.leaf_index, n, leaf, path, b64(sth.root_hash)), `seq ${seq} of ${n}`);
    // A different leaf, or a path with one hash flipped, does not verify.
    const other = b64(entries[seq === 1 ? 1 : 0].leaf_hash);
    assert.ok(!verifyInclusion(p.leaf_index, n, other, path, b64(sth.root_hash)), `wrong leaf ${seq}`);
    if (path.length) {
      const flipped = path.map((h, i) => (i === 0 ? Buffer.from(h.map((x, j) => (j === 0 ? x ^ 1 : x))) : h));
      assert.ok(!verifyInclusion(p.leaf_index, n, leaf, flipped, b64(sth.root_hash)), `flipped path ${seq}`);
    }
  }
  // Without tree_size: the current tree, whose size the answer states.
  const cur = await getJson(server, token, '/audit/v1/proof/inclusion?seq=1');
  assert.ok(cur.tree_size >= n);
});

test('a consistency proof (RFC 9162 §2.1.4) links two signed tree heads', async () => {
  const jwk = (await request(server.url('/audit/v1/key'))).json();
  const first = await getJson(server, token, '/audit/v1/sth');
  // More events: a sign-in failure, a new client, a token.
  const flow = await authorizeFlow(server, { params: authParams(rp).params, username: RESIDENT.username,
                                             password: 'wrong password for the log' });
  assert.equal(flow.params.get('code'), null);
  secrets.push('wrong password for the log');
  await makeClient(server);
  secrets.push(await clientCredentialsToken(server, auditor));
  const second = await getJson(server, token, '/audit/v1/sth');
  assert.ok(second.tree_size > first.tree_size);
  assertTreeHead(first, jwk);
  assertTreeHead(second, jwk);

  const c = await getJson(server, token,
    `/audit/v1/proof/consistency?first=${first.tree_size}&second=${second.tree_size}`);
  assert.equal(c.first, first.tree_size);
  assert.equal(c.second, second.tree_size);
  const proof = c.consistency.map(b64);
  assert.ok(proof.length > 0);
  assert.ok(verifyConsistency(first.tree_size, second.tree_size, b64(first.root_hash), b64(second.root_hash), proof));
  // It fails for a root that was not the earlier one, or a shortened proof.
  assert.ok(!verifyConsistency(first.tree_size, second.tree_size, b64(second.root_hash), b64(second.root_hash), proof));
  assert.ok(!verifyConsistency(first.tree_size, second.tree_size, b64(first.root_hash), b64(second.root_hash), proof.slice(1)));

  // Every earlier size, including powers of two (where the proof omits the first root).
  const entries = (await allEntries(server, token)).filter((e) => e.seq <= second.tree_size).map((e) => b64(e.leaf_hash));
  for (let m = 1; m <= second.tree_size; m++) {
    const r = await getJson(server, token, `/audit/v1/proof/consistency?first=${m}&second=${second.tree_size}`);
    assert.ok(verifyConsistency(m, second.tree_size, merkleRoot(entries.slice(0, m)), b64(second.root_hash),
                                r.consistency.map(b64)), `first=${m}`);
  }
  const same = await getJson(server, token, `/audit/v1/proof/consistency?first=${first.tree_size}&second=${first.tree_size}`);
  assert.deepEqual(same.consistency, []);
});

// ---- the resident's own view ----

test("/account shows the resident's own entries and not another resident's", async () => {
  const alicePurpose = `alice purpose ${randomToken(4)}`;
  const bobPurpose = `bob purpose ${randomToken(4)}`;
  const aliceClient = await makeClient(server, { name: `Alice City App ${randomToken(4)}` });
  const bobClient = await makeClient(server, { name: `Bob Clinic App ${randomToken(4)}` });
  const detail = (purpose) => JSON.stringify([{ type: 'personal_data_provision', datasets: ['address'], purpose }]);
  const a = await tokensAs(server, aliceClient, {}, { authorization_details: detail(alicePurpose) });
  const b = await tokensAs(server, bobClient, { username: BOB.username, password: BOB.password },
                           { authorization_details: detail(bobPurpose) });
  secrets.push(a.access_token, a.refresh_token, b.access_token, b.refresh_token, aliceClient.client_secret, bobClient.client_secret);

  const aliceClientName = (server.cliJson(['client', 'show', aliceClient.client_id])).client_name;
  const bobClientName = (server.cliJson(['client', 'show', bobClient.client_id])).client_name;
  for (const [jar, mine, theirs, mineName, theirName] of [
    [a.jar, alicePurpose, bobPurpose, aliceClientName, bobClientName],
    [b.jar, bobPurpose, alicePurpose, bobClientName, aliceClientName]]) {
    const page = await request(server.url('/account'), { jar, headers: { 'accept-language': 'en' } });
    assert.equal(page.status, 200);
    assert.match(page.text, /Who used your data/);
    const table = page.text.slice(page.text.indexOf('Who used your data'));
    assert.match(table, /<table>/);
    assert.ok(table.includes(mine), `own purpose ${mine}`);
    assert.ok(table.includes(mineName), `own client ${mineName}`);
    assert.match(table, /consent\.granted/);
    assert.match(table, /token\.issued/);
    assert.ok(!page.text.includes(theirs), `not the other resident's purpose ${theirs}`);
    assert.ok(!page.text.includes(theirName), `not the other resident's client ${theirName}`);
  }
  const ja = await request(server.url('/account'), { jar: a.jar, headers: { 'accept-language': 'ja' } });
  assert.match(ja.text, /あなたのデータの利用記録/);
  const signedOut = await request(server.url('/account'), { jar: new CookieJar() });
  assert.ok(!signedOut.text.includes(alicePurpose), 'nothing without a session');
});

// ---- no secrets ----

test('no entry holds a password, client secret, code, or token string', async () => {
  const r = await auditGet(server, token, '/audit/v1/entries?limit=1000&format=jsonl');
  assert.equal(r.status, 200);
  const lines = r.text.trimEnd().split('\n');
  assert.ok(lines.length > 20 && lines.length < 1000, `the whole log in one page (${lines.length})`);
  const values = secrets.filter((s) => typeof s === 'string' && s.length >= 8);
  assert.ok(values.length >= 15, `enough values to look for (${values.length})`);
  for (const s of values) {
    assert.ok(!r.text.includes(s), `the log contains ${s.slice(0, 12)}...`);
    // Nor the signature part of a JWT (the unique part of it) on its own.
    if (s.split('.').length === 3) assert.ok(!r.text.includes(s.split('.')[2]));
  }
  // Sign-in failures name no password either (the failed attempt above).
  const failures = await allEntries(server, token, { action: 'login.failure' });
  assert.ok(failures.length >= 1);
  assert.ok(failures.every((e) => e.outcome === 'failure'));
});

// ---- erasure ----

// authz/audit.hpp: the pseudonym is random and the mapping is erased with the resident, so
// nothing leads from their subject to their entries afterwards.
test('after `resident remove`, the subject no longer finds the entries', async () => {
  const carol = server.addResident('carol', 'carol has a long enough password');
  const c = await makeClient(server);
  await tokensAs(server, c, { username: 'carol', password: 'carol has a long enough password' });
  const before = await allEntries(server, token, { resident: carol.sub });
  assert.ok(before.some((e) => e.action === 'token.issued'), 'carol is on the log');
  const removed = server.cli(['resident', 'remove', 'carol']);
  assert.equal(removed.status, 0, removed.stderr);
  // The entries stay (the log is append-only) but no longer answer to carol's subject.
  const after = await allEntries(server, token, { resident: carol.sub });
  assert.deepEqual(after.map((e) => e.seq), [], 'erased resident still found by subject');
});

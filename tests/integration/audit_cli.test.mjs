// `infobank audit tree-head | export | verify` (docs/audit.md): an export verifies, a later
// export is consistent with a tree head saved earlier (RFC 9162 §2.1.4), and rows changed,
// deleted or added behind the log's back with the sqlite3 shell are named by seq.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, verify as verifySignature } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { decodeJwt, randomToken, request } from '../support/harness.mjs';
import { getTokens, makeClient, setup, tokenRequest } from '../support/fixtures.mjs';

const SQLITE3 = process.env.SQLITE3 ?? 'sqlite3';
const haveSqlite = (() => {
  const r = spawnSync(SQLITE3, ['-version'], { encoding: 'utf8' });
  return !r.error && r.status === 0;
})();
const NO_SQLITE = `the sqlite3 command-line shell is not on PATH (apt-get install sqlite3)`;

let server;
let client;
let keyFile;
let logKey;

before(async () => {
  server = await setup();
  client = await makeClient(server);
  await getTokens(server, client);
  logKey = (await request(server.url('/audit/v1/key'))).json();
  // The key an auditor pins, obtained out of band (here: from /audit/v1/key).
  keyFile = file('log-key.json');
  fs.writeFileSync(keyFile, JSON.stringify(logKey));
});
after(async () => { await server?.close(); });

function file(name) {
  return path.join(server.dir, name);
}

/** `infobank audit export --out FILE` → the file's lines, parsed. */
function exportTo(name, env) {
  const out = file(name);
  const r = cli(['audit', 'export', '--out', out], env);
  assert.equal(r.status, 0, `export: ${r.stderr}`);
  const lines = fs.readFileSync(out, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
  return { path: out, header: lines[0], entries: lines.slice(1) };
}

/** `infobank audit verify ...` → {status, report}. */
function verify(args, env) {
  const r = cli(['audit', 'verify', ...args], env);
  let report;
  try {
    report = JSON.parse(r.stdout);
  } catch {
    assert.fail(`verify printed no JSON (exit ${r.status}): ${r.stdout} ${r.stderr}`);
  }
  return { status: r.status, report };
}

/** The CLI against the server's database, or against another data directory's. */
function cli(args, dataDir) {
  if (!dataDir) return server.cli(args);
  // A copy of the database is readable only with the master key it was sealed under (the
  // log's own signing key is stored sealed), as with a restored backup: point at the server's.
  const r = spawnSync(server.bin, args, {
    env: { ...server.env, INFOBANK_DATA_DIR: dataDir,
           INFOBANK_STORAGE_MASTER_KEY_FILE: path.join(server.dataDir, 'master.key') },
    encoding: 'utf8', timeout: 30_000,
  });
  if (r.error) throw r.error;
  return r;
}

function sqlite(db, sql) {
  return spawnSync(SQLITE3, ['-batch', '-bail', db, sql], { encoding: 'utf8', timeout: 30_000 });
}

/** A copy of the live database in a data directory of its own, for the tampering tests. */
function copyOfDatabase() {
  const dir = file(`tampered-${randomToken(4)}`);
  fs.mkdirSync(dir);
  const copy = path.join(dir, 'infobank.db');
  const r = sqlite(path.join(server.dataDir, 'infobank.db'), `.backup '${copy}'`);
  assert.equal(r.status, 0, `sqlite3 .backup: ${r.stderr}`);
  return { dir, db: copy };
}

test('export, then verify: ok, with the pinned key and without it', async () => {
  const ex = exportTo('export-1.jsonl');
  assert.ok(ex.header.tree_head, 'first line: the tree head');
  assert.deepEqual(ex.header.log_key, logKey, 'and the log key, the same as /audit/v1/key');
  const head = ex.header.tree_head;
  assert.equal(head.tree_size, ex.entries.length);
  assert.deepEqual(ex.entries.map((e) => e.seq), ex.entries.map((_, i) => i + 1));
  assert.ok(ex.entries.some((e) => e.action === 'token.issued' && e.client_id === client.client_id));

  const pinned = verify([ex.path, '--key', keyFile]);
  assert.equal(pinned.status, 0, JSON.stringify(pinned.report));
  assert.equal(pinned.report.ok, true);
  assert.equal(pinned.report.entries, head.tree_size);
  assert.equal(pinned.report.problem, undefined);
  assert.equal(pinned.report.warning, undefined, 'no warning with a pinned key');

  const unpinned = verify([ex.path]);
  assert.equal(unpinned.status, 0);
  assert.equal(unpinned.report.ok, true);
  assert.match(unpinned.report.warning ?? '', /--key/, 'warns that the key came from the export');

  // Standard output carries the same export.
  const stdout = server.cli(['audit', 'export']);
  assert.equal(stdout.status, 0);
  const lines = stdout.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.slice(1, ex.entries.length + 1), ex.entries);
});

test('verify against a key that is not the log key: exit 1', async () => {
  const ex = exportTo('export-wrong-key.jsonl');
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const other = file('other-key.json');
  fs.writeFileSync(other, JSON.stringify({ ...publicKey.export({ format: 'jwk' }), kid: logKey.kid, alg: 'ES256' }));
  const r = verify([ex.path, '--key', other]);
  assert.equal(r.status, 1);
  assert.equal(r.report.ok, false);
  assert.match(r.report.problem, /signature/);
});

test('tree-head: a signed head; a later export is consistent with it (--previous)', async () => {
  const saved = server.cli(['audit', 'tree-head']);
  assert.equal(saved.status, 0, saved.stderr);
  const head = JSON.parse(saved.stdout);
  const headFile = file('head-1.json');
  fs.writeFileSync(headFile, saved.stdout);
  // The head is the same JWS as the API's: check it here with node:crypto (ES256, r||s).
  const jws = decodeJwt(head.signature);
  assert.equal(jws.header.typ, 'sth+jwt');
  const key = createPublicKey({ key: { kty: logKey.kty, crv: logKey.crv, x: logKey.x, y: logKey.y }, format: 'jwk' });
  assert.ok(verifySignature('sha256', Buffer.from(jws.signingInput), { key, dsaEncoding: 'ieee-p1363' }, jws.signature));
  assert.deepEqual(jws.payload, { root_hash: head.root_hash, timestamp: head.timestamp, tree_size: head.tree_size });

  // More requests: a second client, a code flow, a client_credentials token.
  const more = await makeClient(server, { grants: ['authorization_code', 'refresh_token', 'client_credentials'] });
  await getTokens(server, more);
  const cc = await tokenRequest(server, more, { grant_type: 'client_credentials' });
  assert.equal(cc.status, 200, cc.text);

  const ex = exportTo('export-2.jsonl');
  assert.ok(ex.header.tree_head.tree_size > head.tree_size);
  const r = verify([ex.path, '--previous', headFile, '--key', keyFile]);
  assert.equal(r.status, 0, JSON.stringify(r.report));
  assert.equal(r.report.ok, true);
  assert.equal(r.report.entries, ex.header.tree_head.tree_size);

  // An export older than the saved head: the log would have shrunk.
  const older = exportTo('export-older.jsonl');
  const laterHead = file('head-later.json');
  const sizeNow = older.header.tree_head.tree_size;
  await makeClient(server);
  fs.writeFileSync(laterHead, server.cli(['audit', 'tree-head']).stdout);
  const shrank = verify([older.path, '--previous', laterHead, '--key', keyFile]);
  assert.equal(shrank.status, 1);
  assert.match(shrank.report.problem, /shrank/);
  assert.equal(shrank.report.first_bad_seq, sizeNow + 1);

  // A saved head whose fields were changed after signing is refused.
  const forged = file('head-forged.json');
  fs.writeFileSync(forged, JSON.stringify({ ...head, tree_size: head.tree_size - 1 }));
  const bad = verify([ex.path, '--previous', forged, '--key', keyFile]);
  assert.equal(bad.status, 1);
  assert.equal(bad.report.ok, false);
  assert.match(bad.report.problem, /earlier tree head/);
});

test('tampering: the append-only triggers refuse UPDATE and DELETE', async (t) => {
  if (!haveSqlite) {
    t.skip(NO_SQLITE);
    return;
  }
  const { db } = copyOfDatabase();
  for (const sql of ["UPDATE audit_entries SET outcome = 'failure' WHERE seq = 2;",
                     'DELETE FROM audit_entries WHERE seq = 2;',
                     'DELETE FROM audit_tree WHERE leaf = 1;']) {
    const r = sqlite(db, sql);
    assert.notEqual(r.status, 0, sql);
    assert.match(r.stderr, /append-only/, sql);
  }
});

test('tampering: an entry edited with the triggers dropped is named by seq', async (t) => {
  if (!haveSqlite) {
    t.skip(NO_SQLITE);
    return;
  }
  const { dir, db } = copyOfDatabase();
  const target = exportTo('before-edit.jsonl', dir).entries.find((e) => e.action === 'token.issued');
  assert.ok(target);
  const r = sqlite(db, `DROP TRIGGER audit_entries_no_update;
    UPDATE audit_entries SET outcome = 'failure' WHERE seq = ${target.seq};`);
  assert.equal(r.status, 0, r.stderr);
  const ex = exportTo('edited.jsonl', dir);
  assert.equal(ex.entries.find((e) => e.seq === target.seq).outcome, 'failure', 'the edit reached the export');
  const v = verify([ex.path, '--key', keyFile]);
  assert.equal(v.status, 1, JSON.stringify(v.report));
  assert.equal(v.report.ok, false);
  assert.equal(v.report.first_bad_seq, target.seq);
  assert.match(v.report.problem, new RegExp(`\\b${target.seq}\\b.*altered|altered.*\\b${target.seq}\\b`));
});

test('tampering: a deleted entry is named by seq', async (t) => {
  if (!haveSqlite) {
    t.skip(NO_SQLITE);
    return;
  }
  const { dir, db } = copyOfDatabase();
  const target = exportTo('before-delete.jsonl', dir).entries.find((e) => e.action === 'login.success');
  assert.ok(target);
  const r = sqlite(db, `DROP TRIGGER audit_entries_no_delete;
    DELETE FROM audit_entries WHERE seq = ${target.seq};`);
  assert.equal(r.status, 0, r.stderr);
  const ex = exportTo('deleted.jsonl', dir);
  assert.ok(!ex.entries.some((e) => e.seq === target.seq), 'the row is gone from the export');
  const v = verify([ex.path, '--key', keyFile]);
  assert.equal(v.status, 1, JSON.stringify(v.report));
  assert.equal(v.report.first_bad_seq, target.seq);
  assert.match(v.report.problem, new RegExp(`\\b${target.seq}\\b.*missing`));
});

test('tampering: the newest entry deleted (truncation) is named by seq', async (t) => {
  if (!haveSqlite) {
    t.skip(NO_SQLITE);
    return;
  }
  const { dir, db } = copyOfDatabase();
  const last = exportTo('before-truncate.jsonl', dir).entries.at(-1);
  const r = sqlite(db, `DROP TRIGGER audit_entries_no_delete; DELETE FROM audit_entries WHERE seq = ${last.seq};`);
  assert.equal(r.status, 0, r.stderr);
  const v = verify([exportTo('truncated.jsonl', dir).path, '--key', keyFile]);
  assert.equal(v.status, 1, JSON.stringify(v.report));
  assert.equal(v.report.first_bad_seq, last.seq);
});

test('tampering: a row added behind the log\'s back is named by seq', async (t) => {
  if (!haveSqlite) {
    t.skip(NO_SQLITE);
    return;
  }
  const { dir, db } = copyOfDatabase();
  const size = exportTo('before-insert.jsonl', dir).header.tree_head.tree_size;
  // A copy of entry 1 under the next seq: it has no leaf in the tree.
  const r = sqlite(db, `INSERT INTO audit_entries
    SELECT (SELECT MAX(seq) + 1 FROM audit_entries), time, actor, 'consent.granted', resident,
           client_id, purpose, datasets, outcome, detail, request_id
    FROM audit_entries WHERE seq = 1;`);
  assert.equal(r.status, 0, r.stderr);
  const ex = exportTo('inserted.jsonl', dir);
  assert.equal(ex.header.tree_head.tree_size, size, 'the tree did not grow');
  assert.equal(ex.entries.at(-1).seq, size + 1, 'the added row is in the export');
  const v = verify([ex.path, '--key', keyFile]);
  assert.equal(v.status, 1, JSON.stringify(v.report));
  assert.equal(v.report.first_bad_seq, size + 1);
  assert.ok(!('leaf_hash' in ex.entries.at(-1)), 'it has no leaf hash: it is no leaf of the tree');
  assert.match(v.report.problem, new RegExp(`\\b${size + 1}\\b.*not covered`));
});

// `infobank backup --out FILE`: SQLite's online backup API run by the CLI against a running,
// busy server. The copy opens as a database of its own (the same binary reads it when
// INFOBANK_STORAGE_DATABASE names it) with the clients and residents, and its audit log
// verifies and is a prefix of the live log. On PostgreSQL the command refuses and points to
// pg_dump.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { request, testBackend, waitFor } from '../support/harness.mjs';
import { RESIDENT, getTokens, makeClient, setup, tokenRequest } from '../support/fixtures.mjs';

const onSqlite = testBackend() === 'sqlite';
let server;
let client;
let keyFile;

before(async () => {
  server = await setup();
  client = await makeClient(server, {
    grants: ['authorization_code', 'refresh_token', 'client_credentials'],
  });
  await getTokens(server, client);
  // The log's key, pinned as an auditor would (it also makes the log create its key now: the
  // copy must carry the same one).
  keyFile = path.join(server.dir, 'log-key.json');
  fs.writeFileSync(keyFile, (await request(server.url('/audit/v1/key'))).text);
});
after(async () => { await server?.close(); });

/** Runs the CLI without blocking the event loop (requests go on meanwhile). */
function cliAsync(args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(server.bin, args, { env: { ...server.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

async function cliJson(args, env) {
  const r = await cliAsync(args, env);
  assert.equal(r.status, 0, `infobank ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** `audit export` of the database `env` names; returns {path, header, entries}. */
async function exportLog(name, env = {}) {
  const out = path.join(server.dir, name);
  const r = await cliAsync(['audit', 'export', '--out', out], env);
  assert.equal(r.status, 0, `audit export: ${r.stderr}`);
  const lines = fs.readFileSync(out, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
  return { path: out, header: lines[0], entries: lines.slice(1) };
}

async function verify(args) {
  const r = await cliAsync(['audit', 'verify', ...args]);
  return { status: r.status, report: JSON.parse(r.stdout) };
}

test('backup of a busy server: the copy holds clients, residents and a consistent log',
     { skip: !onSqlite && 'SQLite only (PostgreSQL is backed up with pg_dump)' }, async () => {
  // Token requests all along: each writes a token and an audit entry.
  let stop = false;
  let issued = 0;
  const failures = [];
  const traffic = (async () => {
    while (!stop) {
      const r = await tokenRequest(server, client, { grant_type: 'client_credentials' });
      if (r.status === 200) issued++;
      else failures.push(`${r.status} ${r.text}`);
    }
  })();
  try {
    await waitFor(() => issued >= 20, { what: '20 tokens before the backup' });
    const dir = path.join(server.dir, 'backups');
    fs.mkdirSync(dir);
    const out = path.join(dir, 'infobank-copy.db');
    const atStart = issued;
    const r = await cliAsync(['backup', '--out', out]);
    assert.equal(r.status, 0, `backup: ${r.stderr}`);
    const report = JSON.parse(r.stdout);
    assert.equal(report.out, out);
    assert.ok(report.pages > 0);
    assert.equal(fs.statSync(out).size, report.bytes, 'the copy is the pages it reports');
    assert.deepEqual(fs.readdirSync(dir), ['infobank-copy.db'], 'one file, no journal or temporary');
    assert.match(report.not_included, /master\.key$/, 'it says the master key is not in the copy');
    // The server kept serving: more tokens after the backup than when it started.
    const atEnd = issued;
    await waitFor(() => issued >= atEnd + 10, { what: 'tokens after the backup' });
    assert.ok(issued > atStart);

    // The copy, read by the same binary (same data dir, so the same master key).
    const copy = { INFOBANK_STORAGE_DATABASE: out };
    const clients = await cliJson(['client', 'list'], copy);
    assert.ok(clients.some((c) => c.client_id === client.client_id), 'the client is in the copy');
    const residents = await cliJson(['resident', 'list'], copy);
    const alice = residents.find((x) => x.username === RESIDENT.username);
    assert.ok(alice, 'the resident is in the copy');
    assert.equal(alice.name, 'Alice Example', 'sealed personal data opens with the master key');

    const copied = await exportLog('copy-export.jsonl', copy);
    const copyHead = copied.header.tree_head;
    assert.ok(copyHead.tree_size >= atStart, 'the copy holds the log up to the backup');
    const ok = await verify([copied.path, '--key', keyFile]);
    assert.equal(ok.status, 0, JSON.stringify(ok.report));
    assert.equal(ok.report.ok, true);
    assert.equal(ok.report.entries, copyHead.tree_size);

    // The live log went on from there: the copy's head is a prefix of it.
    stop = true;
    await traffic;
    const live = await exportLog('live-export.jsonl');
    assert.ok(live.header.tree_head.tree_size > copyHead.tree_size, 'the live log grew after the backup');
    const headFile = path.join(server.dir, 'copy-head.json');
    fs.writeFileSync(headFile, JSON.stringify(copyHead));
    const consistent = await verify([live.path, '--previous', headFile, '--key', keyFile]);
    assert.equal(consistent.status, 0, JSON.stringify(consistent.report));
    assert.equal(consistent.report.ok, true);
    assert.deepEqual(copied.entries, live.entries.slice(0, copied.entries.length),
                     'the copy\'s entries are the live log\'s first entries, unchanged');
  } finally {
    stop = true;
    await traffic;
  }
  assert.deepEqual(failures, [], 'no request failed during the backup');
});

test('backup refuses to write over the live database', { skip: !onSqlite && 'SQLite only' }, async () => {
  const db = path.join(server.dataDir, 'infobank.db');
  assert.ok(fs.existsSync(db));
  const r = await cliAsync(['backup', '--out', db]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /the database itself/);
  const ready = await fetch(server.url('/readyz'));
  assert.equal(ready.status, 200);
  assert.ok((await cliJson(['client', 'list'])).some((c) => c.client_id === client.client_id));
});

test('on PostgreSQL, backup refuses and points to pg_dump', { skip: onSqlite && 'PostgreSQL only' }, async () => {
  const out = path.join(server.dir, 'copy.db');
  const r = await cliAsync(['backup', '--out', out]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /pg_dump/);
  assert.equal(fs.existsSync(out), false);
});

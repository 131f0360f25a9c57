// The portability broker killed at random instants. A switch transfer of 10,000 blog posts
// (Blogger Atom -> DTP social posts) runs while infobank is killed with SIGKILL at N random
// moments (N = INFOBANK_CRASH_KILLS, default 20; tests/crash/crash_200.sh runs 200) and
// restarted each time on the same data directory. After each kill, with infobank down, the
// invariant "nothing deleted before verify" is checked: if the source holds fewer items than
// at the start, every dataset of the transfer is already verified; and the destination never
// holds an item twice. At the end the transfer is completed, the destination holds exactly the
// 10,000 source items once each, the source holds none, and the end state equals that of a
// second, uninterrupted transfer of the same export.
//
// The loop stops killing if the transfer completed early, and the test then fails: every kill
// must land while the transfer runs.
// INFOBANK_CRASH_SEED makes the kill moments reproducible (printed at the start otherwise).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, test } from 'node:test';

import { makeTempDir, waitFor } from '../support/harness.mjs';
import { RESIDENT, setup } from '../support/fixtures.mjs';
import {
  showTransfer, startApprovedTransfer, startService, transferEvents, waitForEnd,
  withoutNotCarried, writeBloggerExport,
} from '../support/transfers.mjs';

const POSTS = 10_000;
const KILLS = Number(process.env.INFOBANK_CRASH_KILLS ?? 20);
const SEED = Number(process.env.INFOBANK_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
// Each kill waits for the transfer to pass a random point of its progress (so every kill lands
// while it runs, however fast the machine), then a random 0-40 ms more (so it falls at any
// instant of a page: exporting, converting, importing or committing).
const JITTER_MS = 40;
const END_DEADLINE_MS = 120_000;

// A small PRNG (mulberry32), so that a seed replays the same kill moments.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const tmp = makeTempDir('transfer-crash-');
const exportFile = path.join(tmp, 'posts.xml');
let server;
const services = [];

before(async () => {
  if (!Number.isInteger(KILLS) || KILLS < 0) throw new Error(`INFOBANK_CRASH_KILLS=${process.env.INFOBANK_CRASH_KILLS}`);
  writeBloggerExport(exportFile, POSTS, { bodyBytes: 40 });
  // Small pages (INFOBANK_CRASH_PAGE_SIZE, default 10: 1,000 pages) make the transfer long
  // enough for every kill to land before it completes; crash_200.sh uses smaller ones still.
  const pageSize = process.env.INFOBANK_CRASH_PAGE_SIZE ?? '10';
  server = await setup({ env: { INFOBANK_BROKER_PAGE_SIZE: pageSize } });
  // Restarts keep the port, hence the issuer the sample services trust (tokens' iss, JWKS).
  server.env.INFOBANK_SERVER_PORT = String(server.port);
});
after(async () => {
  for (const s of services) await s.close();
  await server?.close();
  if (!process.env.INFOBANK_KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true });
});

/** SIGKILL, wait for the exit, forget the child so that start() may run again. */
async function killHard(s) {
  const child = s.child;
  s.kill();
  const exit = await s.exited;
  s.child = null;
  assert.equal(exit.signal, 'SIGKILL', `infobank exited by itself: ${JSON.stringify(exit)}\n${s.log}`);
  assert.equal(child.signalCode, 'SIGKILL');
}

async function pair() {
  const source = await startService(server, 'blogger-atom',
                                    { seed: exportFile, resident: RESIDENT.username });
  const destination = await startService(server, 'dtp-social-post');
  services.push(source, destination);
  return { source, destination };
}

/** What a finished transfer leaves behind, independent of its id and of how it got there. */
function endState(t, source, destination) {
  const d = t.datasets[0];
  const r = t.report.datasets[0];
  return {
    state: t.state,
    items: d.items_done,
    verified: d.verified,
    deleted: d.deleted_at_source,
    pages: r.pages,
    digest: r.digest,
    not_carried: d.not_carried,
    source: source.dump(RESIDENT.username),
    destination: destination.dump(RESIDENT.username).sort(),
  };
}

test(`switch of ${POSTS} posts survives ${KILLS} SIGKILLs; same end state as without`, async (t) => {
  t.diagnostic(`INFOBANK_CRASH_SEED=${SEED} INFOBANK_CRASH_KILLS=${KILLS}`);
  const random = prng(SEED);

  // --- interrupted ---
  const a = await pair();
  const initial = a.source.dump(RESIDENT.username);
  assert.equal(initial.length, POSTS);
  const id = await startApprovedTransfer(server, RESIDENT, a.source, a.destination,
                                         ['blog-crash-src', 'blog-crash-dst']);
  const seenStates = new Set();
  let kills = 0;
  let killsAfterVerify = 0;
  // Random points of progress, ascending, over the first 70% of the export. The last 30%
  // (300 pages) leave time for the kill itself: from the progress seen to the kill there are
  // two CLI calls and the jitter, a few hundred ms on PostgreSQL, and a fast broker moves
  // the last few pages, verifies and deletes in less than that (with 85%, one run in a few
  // dozen saw the transfer complete before its last kill). Kills still fall in verifying and
  // deleting when a restart lands the transfer there.
  const points = Array.from({ length: KILLS }, () => Math.floor(random() * POSTS * 0.7)).sort((x, y) => x - y);
  for (; kills < KILLS; kills++) {
    await waitFor(() => {
      const tr = showTransfer(server, id);
      return !['consented', 'exporting', 'importing'].includes(tr.state) ||
             tr.datasets[0].items_done >= points[kills];
    }, { deadlineMs: END_DEADLINE_MS, what: `progress past ${points[kills]} items` });
    await delay(Math.floor(random() * (JITTER_MS + 1)));  // the kill moment itself
    const before = showTransfer(server, id).state;
    if (before === 'completed' || before === 'failed') break;
    await killHard(server);

    // Down: storage and both services are still. Source first, then the transfer: a deletion
    // seen at the source must have been preceded by a committed verify.
    const atSource = a.source.dump(RESIDENT.username).length;
    const tr = showTransfer(server, id);
    seenStates.add(tr.state);
    if (atSource < POSTS) {
      killsAfterVerify++;
      assert.ok(tr.datasets.every((d) => d.verified),
                `kill ${kills + 1}: the source holds ${atSource} < ${POSTS} items but the transfer ` +
                `is not verified: ${JSON.stringify(tr)}`);
      assert.ok(['deleting', 'completed'].includes(tr.state), tr.state);
    }
    assert.notEqual(tr.state, 'failed', `kill ${kills + 1}: ${JSON.stringify(tr)}`);
    const atDestination = a.destination.dump(RESIDENT.username);
    assert.equal(new Set(atDestination).size, atDestination.length,
                 `kill ${kills + 1}: an item is stored twice at the destination`);
    assert.ok(atDestination.length <= POSTS);
    assert.ok(atDestination.length >= tr.datasets[0].items_done,
              `kill ${kills + 1}: committed progress (${tr.datasets[0].items_done}) is ahead of ` +
              `the destination (${atDestination.length})`);

    await server.start();
  }
  const done = await waitForEnd(server, id, END_DEADLINE_MS);
  t.diagnostic(`${kills} kills (${killsAfterVerify} after deletion began); states at kills: ` +
               `${[...seenStates].join(', ')}`);
  assert.equal(kills, KILLS, 'every kill landed before the transfer completed (smaller pages ' +
               'with INFOBANK_CRASH_PAGE_SIZE if not)');
  assert.equal(done.state, 'completed', JSON.stringify(done));

  const got = endState(done, a.source, a.destination);
  assert.equal(got.items, POSTS);
  assert.equal(got.destination.length, POSTS, 'the destination holds exactly the source items');
  assert.equal(new Set(got.destination).size, POSTS, 'each once');
  assert.deepEqual(withoutNotCarried(got.destination, got.not_carried).sort(),
                   withoutNotCarried(initial, got.not_carried).sort(),
                   'the destination holds what the source held, in the common model');
  assert.deepEqual(got.source, [], 'the source holds none');
  assert.equal(transferEvents(server, id, 'transfer.completed').length, 1,
               'completed once, whatever the restarts');
  const contracts = server.cliJson(['contract', 'list', '--resident', RESIDENT.username]);
  assert.equal(contracts.find((c) => c.service === 'blog-crash-src').status, 'terminated');
  assert.equal(contracts.find((c) => c.service === 'blog-crash-dst').status, 'active');

  // --- uninterrupted, same export ---
  const b = await pair();
  const id2 = await startApprovedTransfer(server, RESIDENT, b.source, b.destination,
                                          ['blog-calm-src', 'blog-calm-dst']);
  const calm = await waitForEnd(server, id2, END_DEADLINE_MS);
  assert.equal(calm.state, 'completed', JSON.stringify(calm));
  assert.deepEqual(got, endState(calm, b.source, b.destination),
                   'the interrupted run ends where an uninterrupted one does');
});

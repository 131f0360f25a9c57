// The portability broker killed at random instants. A switch transfer of 10,000 blog posts
// (Blogger Atom -> DTP social posts) runs while infobank is killed with SIGKILL at N random
// moments (N = INFOBANK_CRASH_KILLS, default 20; tests/crash/crash_200.sh runs 200) and
// restarted each time on the same data directory. DTP cannot carry a Blogger post's update
// time, so after verify the switch waits for the resident's decision about deletion at the
// source (awaiting_confirmation). After each kill, with infobank down, the invariants are
// checked: nothing is deleted at the source before verify and the resident's decision (the
// source holds all its items until then), and the destination never holds an item twice.
// Once it waits, infobank is killed once more (it must still wait after the restart), the
// resident decides "delete anyway", and infobank is killed right after that decision (it lands
// while deleting or after). At the end the transfer is completed, the destination holds
// exactly the 10,000 source items once each, the source holds none, and the end state equals
// that of a second, uninterrupted transfer of the same export.
//
// The loop stops killing if the transfer ended early, and the test then fails: every kill
// must land before the transfer ends.
// INFOBANK_CRASH_SEED makes the kill moments reproducible (printed at the start otherwise).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, test } from 'node:test';

import { makeTempDir, waitFor } from '../support/harness.mjs';
import { RESIDENT, setup } from '../support/fixtures.mjs';
import {
  decideDeletion, finishSwitch, showTransfer, signIn, startApprovedTransfer, startService,
  transferEvents, waitForDecisionOrEnd, waitForEnd, withoutNotCarried, writeBloggerExport,
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

/**
 * With infobank down: the source holds everything until the resident decided, and deletes
 * only after verify; the destination holds no item twice and at least the committed progress.
 */
function checkDown(a, id, decided, what) {
  const atSource = a.source.dump(RESIDENT.username).length;
  const tr = showTransfer(server, id);
  if (!decided) {
    assert.equal(atSource, POSTS, `${what}: the source lost items before the resident decided: ` +
                 JSON.stringify(tr));
  } else if (atSource < POSTS) {
    assert.ok(tr.datasets.every((d) => d.verified),
              `${what}: the source holds ${atSource} < ${POSTS} items but the transfer is not ` +
              `verified: ${JSON.stringify(tr)}`);
    assert.ok(['deleting', 'completed'].includes(tr.state), tr.state);
  }
  assert.notEqual(tr.state, 'failed', `${what}: ${JSON.stringify(tr)}`);
  const atDestination = a.destination.dump(RESIDENT.username);
  assert.equal(new Set(atDestination).size, atDestination.length,
               `${what}: an item is stored twice at the destination`);
  assert.ok(atDestination.length <= POSTS);
  assert.ok(atDestination.length >= tr.datasets[0].items_done,
            `${what}: committed progress (${tr.datasets[0].items_done}) is ahead of ` +
            `the destination (${atDestination.length})`);
  return tr;
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
  // Random points of progress, ascending, over the first 70% of the export. The last 30%
  // (300 pages) leave time for the kill itself: from the progress seen to the kill there are
  // two CLI calls and the jitter, a few hundred ms on PostgreSQL, and a fast broker moves
  // the last few pages, verifies and deletes in less than that (with 85%, one run in a few
  // dozen saw the transfer complete before its last kill). Kills still fall in verifying when a
  // restart lands the transfer there, and in awaiting_confirmation once it waits.
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
    // Down: storage and both services are still.
    seenStates.add(checkDown(a, id, false, `kill ${kills + 1}`).state);
    await server.start();
  }
  assert.equal(kills, KILLS, 'every kill landed before the transfer ended (smaller pages ' +
               'with INFOBANK_CRASH_PAGE_SIZE if not)');

  // Waiting for the resident: killed there, it still waits after the restart.
  const paused = await waitForDecisionOrEnd(server, id, END_DEADLINE_MS);
  assert.equal(paused.state, 'awaiting_confirmation', JSON.stringify(paused));
  assert.deepEqual(paused.datasets[0].not_carried, ['updated']);
  await killHard(server);
  assert.equal(checkDown(a, id, false, 'kill while waiting').state, 'awaiting_confirmation');
  await server.start();
  assert.equal(showTransfer(server, id).state, 'awaiting_confirmation');

  // "Delete anyway", and a kill right after it: while deleting at the source, or after.
  const jar = await signIn(server, RESIDENT.username, RESIDENT.password);
  assert.equal((await decideDeletion(server, jar, id, 'delete')).status, 303);
  await killHard(server);
  seenStates.add(checkDown(a, id, true, 'kill after the decision').state);
  await server.start();

  const done = await waitForEnd(server, id, END_DEADLINE_MS);
  t.diagnostic(`${kills} kills while it ran, then one while it waited and one after the ` +
               `decision; states at kills: ${[...seenStates].join(', ')}`);
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
  assert.equal(transferEvents(server, id, 'transfer.awaiting_confirmation').length, 1,
               'stopped for the resident once');
  assert.equal(transferEvents(server, id, 'transfer.deletion_confirmed').length, 1);
  const contracts = server.cliJson(['contract', 'list', '--resident', RESIDENT.username]);
  assert.equal(contracts.find((c) => c.service === 'blog-crash-src').status, 'terminated');
  assert.equal(contracts.find((c) => c.service === 'blog-crash-dst').status, 'active');

  // --- uninterrupted, same export ---
  const b = await pair();
  const id2 = await startApprovedTransfer(server, RESIDENT, b.source, b.destination,
                                          ['blog-calm-src', 'blog-calm-dst']);
  const { paused: calmPaused, done: calm } =
    await finishSwitch(server, RESIDENT, id2, { deadlineMs: END_DEADLINE_MS });
  assert.ok(calmPaused, 'the uninterrupted switch waited for the resident too');
  assert.equal(calm.state, 'completed', JSON.stringify(calm));
  assert.deepEqual(got, endState(calm, b.source, b.destination),
                   'the interrupted run ends where an uninterrupted one does');
});

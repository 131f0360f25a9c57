// A switch that could not carry everything waits in `awaiting_confirmation` for the resident's
// decision about deletion at the source, but not forever: past broker.confirmation_timeout_seconds
// (here a few seconds, through INFOBANK_BROKER_CONFIRMATION_TIMEOUT_SECONDS) it is decided as
// "keep": completed as a copy, nothing deleted at the source, the source contract kept, and
// `transfer.deletion_declined` logged by the system with the reason `timeout`. The wait counts
// from the pause, in storage: a node killed while the transfer waits does not restart it, and
// with two nodes (PostgreSQL) each transfer is decided once.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';

import { RESIDENT, setup } from '../support/fixtures.mjs';
import { Infobank, request, testBackend, waitFor } from '../support/harness.mjs';
import {
  decide, registerService, requestTransfer, showTransfer, signIn, startService, transferEvents,
  waitForDecisionOrEnd, waitForEnd,
} from '../support/transfers.mjs';

const LIMIT_ENV = 'INFOBANK_BROKER_CONFIRMATION_TIMEOUT_SECONDS';

const cleanup = [];
after(async () => {
  for (const c of cleanup.reverse()) await c.close();
});

async function server(limitSeconds) {
  const s = await setup({ env: { [LIMIT_ENV]: String(limitSeconds) } });
  cleanup.push(s);
  return s;
}

/** Alice's Blogger -> DTP switch between two new services (`ids`), approved. */
async function approvedSwitch(s, ids) {
  const source = await startService(s, 'blogger-atom',
                                    { seed: 'blogger-export.xml', resident: RESIDENT.username });
  const destination = await startService(s, 'dtp-social-post');
  cleanup.push(source, destination);
  registerService(s, ids[0], source, `Source ${ids[0]}`);
  registerService(s, ids[1], destination, `Destination ${ids[1]}`);
  s.cliJson(['contract', 'add', '--resident', RESIDENT.username, '--service', ids[0]]);
  const before = source.dump(RESIDENT.username);
  assert.ok(before.length > 0, 'the source holds posts');
  const jar = await signIn(s, RESIDENT.username, RESIDENT.password);
  const { id, page } = await requestTransfer(s, jar, {
    source: ids[0], destination: ids[1], datasets: ['blog_posts'], mode: 'switch' });
  assert.equal((await decide(s, jar, page, 'approve')).status, 303);
  return { id, source, destination, before };
}

/** The one audit entry of `action` for transfer `id`. */
function onlyEvent(s, id, action) {
  const found = transferEvents(s, id, action);
  assert.equal(found.length, 1, `${action} of ${id}: ${JSON.stringify(found)}`);
  return found[0];
}

function contractStatus(s, service) {
  const contracts = s.cliJson(['contract', 'list', '--resident', RESIDENT.username]);
  return contracts.find((c) => c.service === service)?.status ?? 'none';
}

/** Everything a switch kept at the source by the time limit shows. */
function assertKeptByTimeout(s, sw, ids, limitSeconds) {
  const t = showTransfer(s, sw.id);
  assert.equal(t.state, 'completed', JSON.stringify(t));
  assert.equal(t.step, 'completed as a copy: nothing was deleted at the source, because the ' +
    `resident did not decide within ${limitSeconds} second${limitSeconds === 1 ? '' : 's'} ` +
    'whether to delete there what could ' +
    'not be carried to the destination');
  assert.equal(t.report.deletion_declined, true);
  assert.equal(t.report.delete_at_source, true, 'what was asked stays on record');
  assert.equal(t.datasets[0].deleted_at_source, false);
  assert.deepEqual(sw.source.dump(RESIDENT.username), sw.before, 'the source keeps every item');
  assert.equal(contractStatus(s, ids[0]), 'active', 'the source contract is not ended');
  assert.equal(contractStatus(s, ids[1]), 'active', 'the destination contract starts');

  const paused = onlyEvent(s, sw.id, 'transfer.awaiting_confirmation');
  const declined = onlyEvent(s, sw.id, 'transfer.deletion_declined');
  assert.equal(declined.actor, 'system');
  assert.equal(declined.outcome, 'refused');
  assert.equal(declined.detail.reason, 'timeout');
  assert.ok(declined.detail.waited_seconds > limitSeconds, JSON.stringify(declined));
  assert.ok(declined.time - paused.time >= limitSeconds && declined.seq > paused.seq,
            `decided ${declined.time - paused.time} s after the pause`);
  onlyEvent(s, sw.id, 'transfer.completed');
  assert.equal(transferEvents(s, sw.id, 'transfer.deletion_confirmed').length, 0);
  assert.equal(transferEvents(s, sw.id, 'transfer.deleted_at_source').length, 0);
  assert.equal(transferEvents(s, sw.id, 'contract.ended').length, 0);
  return { paused, declined };
}

test('an undecided switch completes as a copy once the time limit has passed', async () => {
  const limit = 3;
  const s = await server(limit);
  const ids = ['late-src', 'late-dst'];
  const sw = await approvedSwitch(s, ids);
  // It pauses first (the limit counts from there) and ends only by the time limit.
  await waitForEnd(s, sw.id, 60_000);
  assertKeptByTimeout(s, sw, ids, limit);
  // Decided: the resident's page shows why, and offers no decision any more.
  const jar = await signIn(s, RESIDENT.username, RESIDENT.password);
  const page = await request(s.url(`/account/transfers/${sw.id}`), { jar });
  assert.equal(page.status, 200);
  assert.match(page.text, /did not decide within 3 seconds/);
  assert.doesNotMatch(page.text, /name="decision"/);
});

test('a node killed while the switch waits: the wait goes on from the pause', async () => {
  // Long enough to see the pause and kill the node within it.
  const limit = 8;
  const s = await server(limit);
  const ids = ['kill-src', 'kill-dst'];
  const sw = await approvedSwitch(s, ids);
  const t = await waitForDecisionOrEnd(s, sw.id);
  assert.equal(t.state, 'awaiting_confirmation', JSON.stringify(t));
  // The page says until when the resident may decide (minutes are what it shows).
  const deadline = new Date((t.updated_at + limit) * 1000).toISOString();
  const page = await request(s.url(`/account/transfers/${sw.id}`),
                             { jar: await signIn(s, RESIDENT.username, RESIDENT.password) });
  assert.match(page.text, new RegExp(`Without your decision by ${deadline.slice(0, 10)} ` +
                                     `${deadline.slice(11, 16)} UTC, nothing is deleted`));
  s.kill();
  const exit = await s.exited;
  s.child = null;
  assert.equal(exit.signal, 'SIGKILL');
  assert.equal(showTransfer(s, sw.id).state, 'awaiting_confirmation', 'the kill left it waiting');

  // Down until the limit has passed since the pause; at its start the node decides at once,
  // not a whole limit later.
  const pausedAt = onlyEvent(s, sw.id, 'transfer.awaiting_confirmation').time;
  await waitFor(() => Date.now() / 1000 > pausedAt + limit + 1,
                { deadlineMs: (limit + 5) * 1000, what: 'the time limit to pass' });
  const restartedAt = Math.floor(Date.now() / 1000);
  await s.start();
  await waitForEnd(s, sw.id, 30_000);
  const { declined } = assertKeptByTimeout(s, sw, ids, limit);
  assert.ok(declined.time < restartedAt + limit,
            `decided ${declined.time - restartedAt} s after the restart: the wait went on`);
});

test('two nodes: each waiting switch is decided once', { skip: testBackend() !== 'postgres' &&
  'several nodes share one database on PostgreSQL only' }, async () => {
  // Node A pauses two switches under a long limit and stops; then A and a second node B start at
  // once, both with a limit already passed, so both look for overdue switches at their start.
  const a = await server(86_400);
  const switches = [];
  for (const ids of [['two-src-1', 'two-dst-1'], ['two-src-2', 'two-dst-2']]) {
    const sw = await approvedSwitch(a, ids);
    const t = await waitForDecisionOrEnd(a, sw.id);
    assert.equal(t.state, 'awaiting_confirmation', JSON.stringify(t));
    switches.push({ sw, ids });
  }
  await a.stop();
  const b = new Infobank({ env: {
    INFOBANK_STORAGE_POSTGRES_URL: a.database.url,
    INFOBANK_STORAGE_MASTER_KEY_FILE: path.join(a.dataDir, 'master.key'),
    INFOBANK_BROKER_NODE_ID: 'node-b',
    [LIMIT_ENV]: '1',
  } });
  cleanup.push(b);
  assert.ok(fs.existsSync(path.join(a.dataDir, 'master.key')));
  a.env[LIMIT_ENV] = '1';
  const lastPause = Math.max(...switches.map(({ sw }) =>
    onlyEvent(a, sw.id, 'transfer.awaiting_confirmation').time));
  await waitFor(() => Date.now() / 1000 > lastPause + 2,
                { deadlineMs: 10_000, what: 'the one-second limit to pass' });
  await Promise.all([a.start(), b.start()]);
  for (const { sw, ids } of switches) {
    await waitForEnd(a, sw.id, 30_000);
    assertKeptByTimeout(a, sw, ids, 1);
    onlyEvent(a, sw.id, 'contract.started');
  }
});

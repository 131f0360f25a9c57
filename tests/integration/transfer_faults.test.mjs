// The portability broker under faults. A switch transfer of a few hundred blog posts, 20 per
// page, between two sample services, with each injected fault at the source and at the
// destination (500s, slow answers, answers past the broker's deadline, connections cut
// mid-body, a 401 for a good token): it completes, the destination holds every source item
// exactly once, the source holds none, and the audit log shows the retries that got it there.
// (DTP cannot carry a Blogger post's update time, so each switch waits after verify until the
// resident, signed in on the transfer page, deletes anyway: the deletion still meets the
// source's faults.)
// Then the failures that must not be retried or must end the transfer: a 413 from the
// destination, a destination that always fails or always answers too late, a source export
// that does not parse or whose item count disagrees with its items. In every failure nothing
// is deleted at the source. Last, the inputs
// that must pass: a seed with a UTF-8 byte-order mark and an empty export.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { makeTempDir, makeTestCa } from '../support/harness.mjs';
import { RESIDENT, setup } from '../support/fixtures.mjs';
import {
  finishSwitch, showTransfer, startApprovedTransfer, startService, transferEvents,
  withoutNotCarried, writeBloggerExport, writeICalendarExport,
} from '../support/transfers.mjs';

const PAGE_SIZE = 20;
const POSTS = 300;  // 15 pages
const END_DEADLINE_MS = 60_000;

const tmp = makeTempDir('transfer-faults-');
const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  if (!process.env.INFOBANK_KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true });
});

const seeds = {};
/** A generated seed file, written once per name. */
function seedFile(name, write) {
  if (!seeds[name]) {
    seeds[name] = path.join(tmp, name);
    write(seeds[name]);
  }
  return seeds[name];
}
const postsSeed = () => seedFile('posts.xml', (f) => writeBloggerExport(f, POSTS));

/**
 * Its own infobank (page size 20, `env` on top), a source seeded with `seed` and a destination,
 * then an approved transfer between them, run to its end (a switch that stops because not
 * everything could be carried: with the resident's "delete anyway"). Returns everything the
 * checks need.
 */
async function run({
  sourceFormat = 'blogger-atom', destinationFormat = 'dtp-social-post', seed = postsSeed(),
  source: sourceOpts = {}, destination: destinationOpts = {}, env = {}, mode = 'switch',
  rewriteItemCount,
}) {
  const server = await setup({ env: { INFOBANK_BROKER_PAGE_SIZE: String(PAGE_SIZE), ...env } });
  cleanups.push(() => server.close());
  const source = await startService(server, sourceFormat,
                                    { seed, resident: RESIDENT.username, ...sourceOpts });
  cleanups.push(() => source.close());
  const destination = await startService(server, destinationFormat, destinationOpts);
  cleanups.push(() => destination.close());
  const before = source.dump(RESIDENT.username);
  const started = Date.now();
  const seen = rewriteItemCount ? await itemCountRewriter(source, rewriteItemCount) : source;
  const id = await startApprovedTransfer(server, RESIDENT, seen, destination, ['src', 'dst'],
                                         { mode });
  const { done: t } = await finishSwitch(server, RESIDENT, id, { deadlineMs: END_DEADLINE_MS });
  return { server, source, destination, before, id, t, elapsedMs: Date.now() - started };
}

/**
 * A proxy in front of `service` that passes everything through but rewrites the
 * Portability-Item-Count of its answers with `rewrite(value)`: the service as the broker sees it.
 */
async function itemCountRewriter(service, rewrite) {
  const target = new URL(service.base);
  const proxy = http.createServer((req, res) => {
    const upstream = http.request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method,
        headers: req.headers },
      (answer) => {
        const headers = { ...answer.headers };
        const count = headers['portability-item-count'];
        if (count !== undefined) headers['portability-item-count'] = rewrite(count);
        res.writeHead(answer.statusCode, headers);
        answer.pipe(res);
      });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => {
    proxy.closeAllConnections();
    proxy.close(resolve);
  }));
  return { base: `http://127.0.0.1:${proxy.address().port}`, audience: service.audience,
           dataset: service.dataset, opts: service.opts };
}

/** Completed; the destination holds each source item once; the source holds none. */
function assertMovedOnce({ t, before, source, destination }) {
  assert.equal(t.state, 'completed', JSON.stringify(t));
  const d = t.datasets[0];
  assert.equal(d.items_done, before.length, 'items_done counts every source item');
  assert.equal(d.verified, true);
  assert.equal(d.deleted_at_source, true);
  const after = destination.dump(RESIDENT.username);
  assert.equal(after.length, before.length, 'the destination holds as many items as the source held');
  assert.equal(new Set(after).size, after.length, 'no item is stored twice at the destination');
  assert.deepEqual(withoutNotCarried(after, d.not_carried).sort(),
                   withoutNotCarried(before, d.not_carried).sort(),
                   'the destination holds what the source held, in the common model');
  assert.deepEqual(source.dump(RESIDENT.username), [], 'the source holds none of it');
}

/** Failed with a reason matching `reason`; nothing deleted at the source or marked so. */
function assertFailedNothingDeleted({ server, t, before, source }, reason) {
  assert.equal(t.state, 'failed', JSON.stringify(t));
  assert.match(t.error, reason);
  assert.equal(t.datasets[0].deleted_at_source, false);
  assert.deepEqual(source.dump(RESIDENT.username), before, 'the source still holds everything');
  const contracts = server.cliJson(['contract', 'list', '--resident', RESIDENT.username]);
  assert.equal(contracts.find((c) => c.service === 'src').status, 'active',
               'a failed switch keeps the source contract');
}

/**
 * A sample service's requests answered and connections accepted so far, from its /metrics
 * (over HTTPS trusting `ca`, a PEM file, when given).
 */
async function connectionFigures(service, ca) {
  const text = await new Promise((resolve, reject) => {
    const get = ca ? https.get : http.get;
    get(service.url('/metrics'), ca ? { ca: fs.readFileSync(ca) } : {}, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(body))));
    }).on('error', reject);
  });
  const sum = (name) => text.split('\n').filter((l) => l.startsWith(name))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return { requests: sum('http_requests_total'), connections: sum('http_connections_accepted_total') };
}

/** The broker kept its connections: each service took its requests on a few connections. */
async function assertConnectionsReused(r, ca) {
  for (const service of [r.source, r.destination]) {
    const f = await connectionFigures(service, ca);
    assert.ok(f.requests >= POSTS / PAGE_SIZE, `${service.base}: ${JSON.stringify(f)}`);
    assert.ok(f.connections <= 5, `connections were reused: ${JSON.stringify(f)}`);
  }
}

const FAULTS = [
  { name: '--fail-rate 0.3', faults: { failRate: 0.3, seed: 11 }, retries: true },
  { name: '--delay-rate 0.5 --delay-ms 200', faults: { delayRate: 0.5, delayMs: 200, seed: 12 },
    retries: false, slow: true },
  { name: '--cut-rate 0.3', faults: { cutRate: 0.3, seed: 13 }, retries: true },
  { name: '--unauthorized-once', faults: { unauthorizedOnce: true }, retries: false },
  // Answers that would come after the broker's deadline: each such call is cut at 500 ms and
  // retried (with a deadline that did not hold, they would simply arrive late, unretried).
  { name: '--delay-rate 0.2 --delay-ms 2500 past a 500 ms deadline',
    faults: { delayRate: 0.2, delayMs: 2500, seed: 14 },
    env: { INFOBANK_BROKER_REQUEST_TIMEOUT_MS: '500' }, retries: true },
];

describe('each fault, at each side: the switch completes, every item once', { concurrency: 2 }, () => {
  for (const side of ['source', 'destination']) {
    for (const f of FAULTS) {
      test(`${f.name} at the ${side}`, async () => {
        const r = await run({ [side]: { faults: f.faults }, env: f.env ?? {} });
        assertMovedOnce(r);
        assert.ok(r.t.datasets[0].pages_done >= POSTS / PAGE_SIZE, 'several pages');
        const retries = transferEvents(r.server, r.id, 'transfer.retry');
        if (f.retries) {
          assert.ok(retries.length > 0, 'the fault made the broker retry (transfer.retry audited)');
          for (const e of retries) assert.equal(e.outcome, 'retry');
        } else {
          // A slow answer is not a failure, and a 401 gets one fresh token, not a retry.
          assert.equal(retries.length, 0, JSON.stringify(retries.map((e) => e.detail)));
        }
        if (f.slow) {
          assert.ok(r.elapsedMs >= f.faults.delayMs, `some request was delayed (${r.elapsedMs} ms)`);
        }
        assert.equal(transferEvents(r.server, r.id, 'transfer.completed').length, 1);
      });
    }
  }
});

describe('failures: nothing is deleted at the source', { concurrency: 2 }, () => {
  test('a 413 from the destination fails the transfer at once, naming it', async () => {
    // Posts of ~3 KB, a 2 KiB body limit: no page of them fits.
    const seed = seedFile('big-posts.xml', (f) => writeBloggerExport(f, 40, { bodyBytes: 3000 }));
    const r = await run({ seed, destination: { maxBodyBytes: 2048 } });
    assertFailedNothingDeleted(r, /413/);
    assert.match(r.t.error, /blog_posts page 1/, 'the reason names the page');
    assert.equal(transferEvents(r.server, r.id, 'transfer.retry').length, 0,
                 'a 413 is not retried');
    assert.deepEqual(r.destination.dump(RESIDENT.username), []);
  });

  test('a destination that always fails: given up after the retries', async () => {
    const r = await run({ destination: { faults: { failRate: 1 } },
                          env: { INFOBANK_BROKER_MAX_RETRIES: '2' } });
    assertFailedNothingDeleted(r,
                               /gave up after 2 retries: .*HTTP 500/);
    assert.equal(transferEvents(r.server, r.id, 'transfer.retry').length, 2);
    assert.equal(transferEvents(r.server, r.id, 'transfer.failed').length, 1);
    assert.deepEqual(r.destination.dump(RESIDENT.username), []);
  });

  test('a destination that answers only after the deadline: cut each time, then given up', async () => {
    // Every answer of the destination comes 6 s late, and the broker cuts each call at 1.5 s.
    // The deadline holds for every call, the healthy source's too, so it must not be tight:
    // the source's first answer waits for its own fetch of infobank's metadata and keys, which
    // on a loaded machine has taken longer than 300 ms (the deadline this test once had), and
    // the broker retried the source's listing (an extra transfer.retry), or gave up because of
    // the source's export instead of the destination.
    const r = await run({ destination: { faults: { delayRate: 1, delayMs: 6000 } },
                          env: { INFOBANK_BROKER_REQUEST_TIMEOUT_MS: '1500',
                                 INFOBANK_BROKER_MAX_RETRIES: '1' } });
    // Given up because of the destination's import, cut at the deadline both times.
    const destination = new URL(r.destination.base).host.replace(/\./g, '\\.');
    assertFailedNothingDeleted(
      r, new RegExp(`gave up after 1 retries: POST ${destination}: .*timeout`, 'i'));
    const retries = transferEvents(r.server, r.id, 'transfer.retry');
    assert.equal(retries.filter((e) => e.detail.step === 'blog_posts page 1').length, 1,
                 JSON.stringify(retries.map((e) => e.detail)));
    // A slow moment of the healthy source may cost a retry of its listing, nothing else.
    for (const e of retries) {
      assert.ok(['blog_posts page 1', "listing the source's datasets"].includes(e.detail.step),
                JSON.stringify(e.detail));
    }
  });

  test('broken XML in the middle of page 3 of the export', async () => {
    const item = 2 * PAGE_SIZE + 7;  // the 7th item of page 3
    const r = await run({ source: { args: ['--corrupt-item', String(item)] } });
    assertFailedNothingDeleted(r, /malformed XML/);
    assert.match(r.t.error, /blog_posts page 3/, 'the reason names the page');
    assert.equal(r.t.datasets[0].pages_done, 2, 'the pages before it were moved');
    assert.equal(r.destination.dump(RESIDENT.username).length, 2 * PAGE_SIZE);
    assert.equal(transferEvents(r.server, r.id, 'transfer.retry').length, 0,
                 'a broken document is not retried');
  });

  test('broken XML in the middle of a page: the reason names the broken entry', async () => {
    const item = 2 * PAGE_SIZE + 7;
    const r = await run({ source: { args: ['--corrupt-item', String(item)] } });
    assertFailedNothingDeleted(r, new RegExp(`post-${item}\\b`));
    assert.match(r.t.error, /blog_posts page 3/);
  });

  // A source that counts more items in a page than the page holds (one it would record as
  // exported, and delete, though it never reached the destination) fails the switch before
  // that page is imported, naming the dataset, the page and both counts.
  test('a page whose item count disagrees with its items: failed, nothing deleted', async () => {
    const item = 2 * PAGE_SIZE + 7;  // the 7th item of page 3
    const r = await run({ source: { args: ['--miscount-item', String(item)] } });
    assertFailedNothingDeleted(r, new RegExp(
      'blog_posts page 3: the source counts 21 items in the page \\(Portability-Item-Count\\), ' +
      'but 20 were read from it; nothing was deleted at the source'));
    assert.equal(r.t.datasets[0].pages_done, 2, 'the pages before it were moved');
    assert.equal(r.t.datasets[0].verified, false);
    assert.equal(r.destination.dump(RESIDENT.username).length, 2 * PAGE_SIZE,
                 'the miscounted page was not imported');
    assert.equal(transferEvents(r.server, r.id, 'transfer.retry').length, 0,
                 'a miscount is not retried: the same cursor gives the same page');
    assert.equal(transferEvents(r.server, r.id, 'transfer.deleted_at_source').length, 0);
  });

  test('an item count that is not a plain decimal: failed, nothing deleted', async () => {
    const r = await run({ rewriteItemCount: (count) => `+${count}` });
    assertFailedNothingDeleted(r, new RegExp(
      'blog_posts page 1: the source\'s Portability-Item-Count "\\+20" is not a number of ' +
      'items; nothing was deleted at the source'));
    assert.equal(r.t.datasets[0].pages_done, 0);
    assert.deepEqual(r.destination.dump(RESIDENT.username), []);
  });

  test('the proxy that rewrites item counts passes correct ones through: completed', async () => {
    assertMovedOnce(await run({ rewriteItemCount: (count) => count }));
  });

  test('broken iCalendar in the middle of a page: the reason names the event', async () => {
    const seed = seedFile('events.ics', (f) => writeICalendarExport(f, 100));
    const item = PAGE_SIZE + 10;  // the 10th event of page 2
    const r = await run({ sourceFormat: 'icalendar', destinationFormat: 'jscalendar', seed,
                          source: { args: ['--corrupt-item', String(item)] } });
    assertFailedNothingDeleted(r,
                               new RegExp(`event-${item}@infobank\\.test`));
    assert.match(r.t.error, /calendar_events page 2/);
    assert.equal(r.t.datasets[0].pages_done, 1);
    assert.equal(r.destination.dump(RESIDENT.username).length, PAGE_SIZE);
  });
});

describe('connections', () => {
  test('the broker keeps its connections: a page does not cost a TCP connect', async () => {
    const r = await run({ mode: 'copy' });
    assert.equal(r.t.state, 'completed', JSON.stringify(r.t));
    await assertConnectionsReused(r);
  });
});

describe('services over HTTPS', { concurrency: 2 }, () => {
  const caIn = (name) => {
    fs.mkdirSync(path.join(tmp, name));
    return makeTestCa(path.join(tmp, name));
  };
  const ca = caIn('ca');
  const tls = { cert: ca.cert, key: ca.key };

  test('both services over HTTPS, their CA trusted: the switch completes', async () => {
    const r = await run({ source: { tls }, destination: { tls },
                          env: { SSL_CERT_FILE: ca.ca } });
    assert.match(r.source.base, /^https:/);
    assertMovedOnce(r);
    await assertConnectionsReused(r, ca.ca);  // and a page does not cost a TLS handshake
  });

  test('a destination whose certificate is not trusted: nothing is sent, nothing deleted', async () => {
    // The source's CA is trusted, the destination's is the system's business: it is not.
    const other = caIn('other-ca');
    const r = await run({ source: { tls }, destination: { tls: { cert: other.cert, key: other.key } },
                          env: { SSL_CERT_FILE: ca.ca, INFOBANK_BROKER_MAX_RETRIES: '1' } });
    assertFailedNothingDeleted(r, /gave up after 1 retries: .*certificate verify failed/);
    assert.deepEqual(r.destination.dump(RESIDENT.username), []);
  });
});

describe('inputs that must pass', { concurrency: 2 }, () => {
  test('a seed with a UTF-8 byte-order mark transfers fine', async () => {
    const seed = seedFile('bom.xml', (f) => writeBloggerExport(f, 45, { bom: true }));
    assert.deepEqual([...fs.readFileSync(seed).subarray(0, 3)], [0xef, 0xbb, 0xbf]);
    const r = await run({ seed });
    assert.equal(r.before.length, 45);
    assertMovedOnce(r);
  });

  test('an empty export completes with 0 items and ends the source contract', async () => {
    const seed = seedFile('empty.xml', (f) => writeBloggerExport(f, 0));
    const r = await run({ seed });
    assert.equal(r.before.length, 0);
    assert.equal(r.t.state, 'completed', JSON.stringify(r.t));
    const d = r.t.datasets[0];
    assert.equal(d.items_done, 0);
    assert.equal(d.verified, true);
    assert.deepEqual(r.destination.dump(RESIDENT.username), []);
    const contracts = r.server.cliJson(['contract', 'list', '--resident', RESIDENT.username]);
    const src = contracts.find((c) => c.service === 'src');
    const dst = contracts.find((c) => c.service === 'dst');
    assert.equal(src.status, 'terminated');
    assert.equal(src.transfer, r.id);
    assert.equal(dst.status, 'active');
    assert.equal(showTransfer(r.server, r.id).report.datasets[0].items, 0);
  });
});

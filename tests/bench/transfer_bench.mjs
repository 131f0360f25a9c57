// Throughput of the portability broker, by hand (not part of ctest):
//
//   INFOBANK_BIN=build-rel/server/infobank INFOBANK_SAMPLE_SERVICE_BIN=build-rel/server/sample-service \
//     node tests/bench/transfer_bench.mjs
//
// 100,000 blog posts of about 1 KB (a ~100 MB Blogger Atom export, generated in a temporary
// directory) are copied from one local sample service (blogger-atom) to another
// (dtp-social-post) by infobank, once per page size. For each run it prints items/s, MB/s
// (of the source's native bytes) and infobank's peak RSS (VmHWM, read from /proc before
// stopping it), next to a plain loopback copy of the same export file (a node HTTP server
// streaming it to a node client on 127.0.0.1 that discards it). Only the transfer is timed:
// from the resident's approval to "completed"; seeding the source is not.
//
// Environment: BENCH_POSTS (default 100000), BENCH_BODY_BYTES (default 700, ~1 KB entries),
// BENCH_PAGE_SIZES (default "100,1000"), BENCH_MODE (copy | switch; default copy: the source
// is seeded once and read again by every run; switch reseeds it per run).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

import { makeTempDir, request } from '../support/harness.mjs';
import { SampleService } from '../support/services.mjs';
import { RESIDENT, setup } from '../support/fixtures.mjs';
import {
  decide, decideDeletion, registerService, requestTransfer, showTransfer, signIn, startService,
  writeBloggerExport,
} from '../support/transfers.mjs';

const POSTS = Number(process.env.BENCH_POSTS ?? 100_000);
const BODY_BYTES = Number(process.env.BENCH_BODY_BYTES ?? 700);
const PAGE_SIZES = (process.env.BENCH_PAGE_SIZES ?? '100,1000').split(',').map(Number);
const MODE = process.env.BENCH_MODE ?? 'copy';
const MB = 1e6;

function vmHWM(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = status.match(/^VmHWM:\s+(\d+) kB/m);
  return m ? Number(m[1]) * 1024 : NaN;
}

/** A node HTTP server streams `file`; a client on 127.0.0.1 reads and discards it. Best of 3. */
async function loopbackCopy(file) {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/atom+xml',
                         'content-length': fs.statSync(file).size });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  let best = Infinity;
  let bytes = 0;
  for (let i = 0; i < 3; i++) {
    const start = process.hrtime.bigint();
    bytes = await new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/' }, (res) => {
        let n = 0;
        res.on('data', (chunk) => { n += chunk.length; });
        res.on('end', () => resolve(n));
        res.on('error', reject);
      }).on('error', reject);
    });
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
  }
  server.close();
  return { seconds: best, bytes };
}

/**
 * Polls the resident's transfer page over HTTP every 50 ms until it stops refreshing itself
 * (the transfer ended, or a switch waits for the resident), then reads the transfer once with
 * `transfer show` (a CLI process per poll would cost the machine more CPU than the broker's
 * own bookkeeping).
 */
async function waitEnd(server, jar, id, deadlineMs = 3_600_000) {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const r = await request(server.url(`/account/transfers/${id}`), { jar });
    if (r.status !== 200) throw new Error(`transfer page: HTTP ${r.status}`);
    if (!/http-equiv="refresh"/.test(r.text)) {
      const t = showTransfer(server, id);
      if (['completed', 'failed', 'cancelled'].includes(t.state)) return t;
      // A switch that could not carry everything waits for the resident: she deletes anyway
      // at once (the time it waited is counted).
      if (t.state === 'awaiting_confirmation') {
        const r = await decideDeletion(server, jar, id, 'delete');
        if (r.status !== 303) throw new Error(`decision: HTTP ${r.status}`);
      }
    }
    if (Date.now() > end) throw new Error(`transfer ${id} did not end`);
    await delay(50);
  }
}

const tmp = makeTempDir('transfer-bench-');
const cleanups = [];
try {
  const file = path.join(tmp, 'posts.xml');
  let t0 = Date.now();
  const fileBytes = writeBloggerExport(file, POSTS, { bodyBytes: BODY_BYTES });
  console.error(`generated ${POSTS} posts, ${(fileBytes / MB).toFixed(1)} MB in ${Date.now() - t0} ms`);

  const plain = await loopbackCopy(file);
  const plainMBs = plain.bytes / MB / plain.seconds;

  const server = await setup();
  cleanups.push(() => server.close());
  // Restarts (one per page size) keep the port, hence the issuer the services trust.
  server.env.INFOBANK_SERVER_PORT = String(server.port);

  let source;
  const seedSource = async (n) => {
    t0 = Date.now();
    // Seeding happens before the port file is written: a deadline for 100 MB, not 15 s.
    source = new SampleService({ format: 'blogger-atom', issuer: server.base, seed: file,
                                 resident: RESIDENT.username,
                                 args: ['--max-body-bytes', String(64 << 20)] });
    await source.start({ deadlineMs: 30 * 60_000 });
    cleanups.push(() => source.close());
    registerService(server, `src${n}`, source, `Source ${n}`);
    server.cliJson(['contract', 'add', '--resident', RESIDENT.username, '--service', `src${n}`]);
    console.error(`seeded the source in ${Date.now() - t0} ms`);
  };

  const rows = [];
  for (const [n, pageSize] of PAGE_SIZES.entries()) {
    if (n === 0 || MODE === 'switch') await seedSource(n);
    await server.stop();
    server.env.INFOBANK_BROKER_PAGE_SIZE = String(pageSize);
    await server.start();
    const destination = await startService(server, 'dtp-social-post',
                                           { args: ['--max-body-bytes', String(64 << 20)] });
    cleanups.push(() => destination.close());
    registerService(server, `dst${n}`, destination, `Destination ${n}`);
    const jar = await signIn(server, RESIDENT.username, RESIDENT.password);
    const { id, page } = await requestTransfer(server, jar, {
      source: `src${MODE === 'switch' ? n : 0}`, destination: `dst${n}`,
      datasets: ['blog_posts'], mode: MODE });
    // Peak RSS of the transfer alone: the sign-in's argon2id hash has already raised VmHWM, so
    // reset it ("5" to clear_refs, Linux >= 4.0) just before the approval.
    const rssBefore = vmHWM(server.child.pid);
    let reset = true;
    try {
      fs.writeFileSync(`/proc/${server.child.pid}/clear_refs`, '5');
    } catch {
      reset = false;
    }
    const start = process.hrtime.bigint();
    await decide(server, jar, page, 'approve');
    const t = await waitEnd(server, jar, id);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const rss = vmHWM(server.child.pid);
    if (t.state !== 'completed') throw new Error(`transfer failed: ${JSON.stringify(t)}`);
    const d = t.datasets[0];
    if (d.items_done !== POSTS) throw new Error(`moved ${d.items_done} of ${POSTS}`);
    rows.push({ what: `infobank ${MODE}, page ${pageSize}`, seconds, items: d.items_done,
                bytes: d.bytes_total, rss, rssBefore, reset, pages: d.pages_done });
    await destination.close();
  }

  const pad = (s, n) => String(s).padStart(n);
  console.log(`\n${POSTS} posts, export ${(fileBytes / MB).toFixed(1)} MB; ` +
              `plain loopback copy of the file: ${plainMBs.toFixed(1)} MB/s`);
  console.log(['run'.padEnd(28), pad('pages', 6), pad('seconds', 9), pad('items/s', 9),
               pad('MB/s', 7), pad('% plain', 8), pad('peak RSS MB', 12), pad('(before)', 9)].join(' '));
  console.log(['plain loopback copy'.padEnd(28), pad('-', 6), pad(plain.seconds.toFixed(2), 9),
               pad((POSTS / plain.seconds).toFixed(0), 9), pad(plainMBs.toFixed(1), 7),
               pad('100%', 8), pad('-', 12)].join(' '));
  for (const r of rows) {
    const mbs = r.bytes / MB / r.seconds;
    console.log([r.what.padEnd(28), pad(r.pages, 6), pad(r.seconds.toFixed(2), 9),
                 pad((r.items / r.seconds).toFixed(0), 9), pad(mbs.toFixed(1), 7),
                 pad(`${((100 * mbs) / plainMBs).toFixed(1)}%`, 8),
                 pad(`${(r.rss / 2 ** 20).toFixed(1)}${r.reset ? '' : '*'}`, 12),
                 pad((r.rssBefore / 2 ** 20).toFixed(1), 9)].join(' '));
  }
  console.log('peak RSS = VmHWM during the transfer (reset at approval; * = could not reset, ' +
              'whole process); (before) = VmHWM of the process up to the approval, sign-in included');
  console.log('targets: MB/s >= 50% of the plain copy; peak RSS < 64 MB');
} finally {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  if (!process.env.INFOBANK_KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true });
}

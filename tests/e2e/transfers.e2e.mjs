// End to end: a resident moves data between two real services (sample-service processes
// speaking the portability API) with a real browser (Debian's Chromium, driven by
// playwright-core) on infobank's own pages: sign in at /account, fill "Move your data",
// read the consent page, press "Move my data", and follow the progress page (it reloads
// itself through a meta refresh) until it says Completed. A switch whose formats cannot carry
// everything stops after verify and the page asks, listing what deleting at the source would
// lose: the resident reads the list and presses "Delete anyway". After each move: the
// destination holds what the source held in the common model, the source holds none of it, the
// contracts changed, the report is complete, and /account shows the contracts with their
// reasons.
//
// infobank serves plain HTTP on 127.0.0.1 here: sample-service fetches the issuer's keys over
// http:// only (server/sample_service/http_fetch.cpp). Started by run.mjs like the other e2e
// files; the test CA it makes is not used.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import { randomToken, startInfobank } from '../support/harness.mjs';
import {
  decide, finishSwitch, registerService, requestTransfer, showTransfer, signIn, startService,
  withoutNotCarried,
} from '../support/transfers.mjs';

const PASSWORD = 'a resident password, long enough';
// Small pages, so that every move takes several export/import rounds.
const PAGE_SIZE = 3;
const MOVE_DEADLINE_MS = 60_000;
// The state a switch shows while it waits for the resident's decision about deletion.
const WAITING = 'Waiting for your decision about deletion at the source';

let server;
let browser;
const services = [];

before(async () => {
  server = await startInfobank({ env: { INFOBANK_BROKER_PAGE_SIZE: String(PAGE_SIZE) } });
  browser = await chromium.launch({
    executablePath: process.env.INFOBANK_CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  for (const s of services) await s.close();
  await server?.close();
});

/** A new resident with an active contract at a seeded source, and an empty destination. */
async function setUp({ sourceFormat, seed, destinationFormat, ids, destinationFaults }) {
  const username = `res-${randomToken(6).replace(/[^A-Za-z0-9]/g, 'x').toLowerCase()}`;
  server.addResident(username, PASSWORD);
  const source = await startService(server, sourceFormat, { seed, resident: username });
  services.push(source);
  const destination = await startService(server, destinationFormat, { faults: destinationFaults });
  services.push(destination);
  const names = [`Source ${ids[0]}`, `Destination ${ids[1]}`];
  registerService(server, ids[0], source, names[0]);
  registerService(server, ids[1], destination, names[1]);
  server.cliJson(['contract', 'add', '--resident', username, '--service', ids[0]]);
  return {
    username, source, destination,
    from: { id: ids[0], name: names[0] }, to: { id: ids[1], name: names[1] },
  };
}

/** The <dd> after the <dt> named `term` (first match) in `scope`. */
async function ddOf(scope, term) {
  const dt = scope.locator('dt', { hasText: new RegExp(`^${term}$`) }).first();
  return (await dt.locator('xpath=following-sibling::dd[1]').innerText()).trim();
}

/**
 * Drives one move in a fresh browser context; returns {id, progress: [{state, refresh}], asked,
 * page, context}. `progress` lists the progress page as the browser loaded it after the
 * decision, one entry per load: what it said and whether it asked to be reloaded. `asked` is
 * the list the page showed when the switch stopped to ask about deletion at the source (each
 * entry's text), or null when it did not stop.
 */
async function moveInBrowser(s, dataset, mode = 'switch') {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);

  // Sign in.
  await page.goto(server.url('/account'));
  await page.fill('input[name=username]', s.username);
  await page.fill('input[name=password]', PASSWORD);
  await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    page.locator('form:has(input[name=password]) [type=submit]').first().click(),
  ]);
  await page.locator('select[name=source]').waitFor();
  assert.equal(new URL(page.url()).pathname, '/account');

  // "Move your data".
  const sourceOptions = await page.locator('select[name=source] option').evaluateAll(
    (os) => os.map((o) => o.value));
  assert.deepEqual(sourceOptions, [s.from.id], 'only services with a contract can be the source');
  await page.selectOption('select[name=source]', s.from.id);
  await page.selectOption('select[name=destination]', s.to.id);
  await page.check(`input[name=datasets][value=${dataset}]`);
  await page.check(`input[name=mode][value=${mode}]`);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL(/\/account\/transfers\/[^/]+$/);
  const id = new URL(page.url()).pathname.split('/').pop();

  // The consent page: what moves from where to where, and what happens at the source.
  await page.locator('h1', { hasText: 'Move your data?' }).waitFor();
  assert.equal(await ddOf(page, 'From'), s.from.name);
  assert.equal(await ddOf(page, 'To'), s.to.name);
  const shown = (await page.locator('section.detail h3').allInnerTexts()).map((x) => x.trim());
  assert.deepEqual(shown, [dataset], 'the consent page names the dataset');
  const warning = page.locator('p.warn');
  if (mode === 'switch') {
    assert.match(await warning.innerText(), /will be deleted at the source and your contract with it will end/);
  } else {
    assert.equal(await warning.count(), 0);
    await page.getByText('The source keeps its copy.').waitFor();
  }
  assert.equal(await page.locator('meta[http-equiv=refresh]').count(), 0, 'the consent page does not reload itself');
  assert.equal(showTransfer(server, id).state, 'requested', 'nothing moves before the resident decides');

  // Every load of the progress page from now on.
  const progressPath = `/account/transfers/${id}`;
  const loads = [];  // in the order the responses arrived; bodies are read asynchronously
  page.on('response', (r) => {
    if (r.request().method() !== 'GET' || new URL(r.url()).pathname !== progressPath) return;
    loads.push(r.text().then((html) => ({
      state: /<dt>State<\/dt>\s*<dd>([^<]*)<\/dd>/.exec(html)?.[1],
      refresh: /<meta http-equiv="refresh" content="2">/.test(html),
    }), () => null));  // a body the browser dropped (page already replaced): not counted

  });

  await page.locator('button[name=decision][value=approve]').click();
  await page.locator('h1', { hasText: 'Moving your data' }).waitFor();
  // The page reloads itself every 2 s while the transfer runs: no reload from the test. A
  // switch that cannot carry everything stops and asks (and the page stops reloading).
  const completed = page.locator('dd', { hasText: /^Completed$/ });
  const asks = page.locator('h1', { hasText: 'Delete at the source?' });
  await completed.or(asks).waitFor({ timeout: MOVE_DEADLINE_MS });
  let asked = null;
  if (await asks.count() > 0) {
    assert.equal(mode, 'switch', 'only a switch asks about deletion');
    assert.equal(await ddOf(page, 'State'), WAITING);
    assert.equal(await page.locator('meta[http-equiv=refresh]').count(), 0,
                 'the page does not reload while the resident reads');
    asked = (await page.locator('ul.lost li').allInnerTexts()).map((x) => x.trim());
    assert.equal(showTransfer(server, id).state, 'awaiting_confirmation');
    await page.locator('button[name=decision][value=delete]').click();
    await completed.waitFor({ timeout: MOVE_DEADLINE_MS });
  }
  const progress = (await Promise.all(loads)).filter((p) => p !== null);
  return { id, progress, asked, page, context };
}

/** Everything that must hold after a completed switch (or copy) of `dataset`. */
async function checkAfterMove(tc, s, { id, progress, asked, page }, dataset, sourceBefore,
                              mode = 'switch') {
  const t = showTransfer(server, id);
  const rep = t.report?.datasets?.[0] ?? {};
  tc.diagnostic(`${rep.source_format} -> ${rep.destination_format}: ${rep.items} items in ${rep.pages} pages, ` +
                `not carried: [${(rep.not_carried ?? []).join(', ')}], ` +
                `not read: [${(rep.not_read ?? []).join(', ')}]; progress page loads: ` +
                progress.map((p) => `${p.state}${p.refresh ? ' (refresh)' : ''}`).join(' | '));
  assert.equal(t.state, 'completed', JSON.stringify(t));

  // The progress page, as the browser shows it at the end.
  assert.ok(progress.length >= 1, 'the browser loaded the progress page');
  assert.equal(progress.at(-1).state, 'Completed');
  assert.equal(progress.at(-1).refresh, false, 'a completed transfer stops reloading');
  for (const p of progress.slice(0, -1)) {
    assert.equal(p.refresh, p.state !== WAITING,
                 `a running transfer's page reloads itself, one waiting for the resident does not (${p.state})`);
  }
  assert.equal(await page.locator('meta[http-equiv=refresh]').count(), 0);
  const n = sourceBefore.length;
  const section = page.locator('section.detail', { has: page.locator('h3', { hasText: dataset }) });
  assert.equal(await ddOf(section, 'Items moved'), `${n} / ${n}`);
  assert.equal(await ddOf(section, 'Confirmed by the destination'), 'Yes');
  if (mode === 'switch') assert.equal(await ddOf(section, 'Deleted at the source'), 'Yes');

  // The report.
  assert.equal(t.report.delete_at_source, mode === 'switch');
  assert.equal(t.report.datasets.length, 1);
  const r = t.report.datasets[0];
  assert.equal(r.dataset, dataset);
  assert.equal(r.items, n, 'every item of the source moved');
  assert.equal(r.pages, Math.ceil(n / PAGE_SIZE) || 1, `pages of ${PAGE_SIZE}`);
  assert.equal(r.verified, true);
  assert.equal(r.deleted_at_source, mode === 'switch');
  const d = t.datasets[0];
  assert.equal(d.items_done, n);
  assert.equal(d.items_total, n);
  assert.deepEqual(d.not_carried, r.not_carried);
  // What the source held that the model has no field for is named, each name once.
  assert.ok(Array.isArray(r.not_read), 'the report says what was not read');
  assert.deepEqual(d.not_read, r.not_read);
  assert.equal(new Set(r.not_read).size, r.not_read.length);
  // A switch that could not carry everything asked first, listing exactly that; one that
  // carried everything, and a copy, did not ask.
  const lost = [...r.not_read.map((n) => `${dataset} ${n} — not read from the source`),
                ...r.not_carried.map((n) => `${dataset} ${n} — not carried by the destination's format`)];
  if (mode === 'switch' && lost.length > 0) {
    assert.deepEqual(asked, lost, 'the page listed what deleting at the source would lose');
    assert.ok(progress.some((p) => p.state === WAITING), 'the browser saw the transfer wait');
  } else {
    assert.equal(asked, null, 'nothing to lose: no question');
  }

  // The data: the destination holds what the source held, in the common model.
  const held = s.destination.dump(s.username);
  assert.equal(held.length, n);
  assert.deepEqual(withoutNotCarried(held, r.not_carried).sort(),
                   withoutNotCarried(sourceBefore, r.not_carried).sort(),
                   'the destination holds what the source held, in the common model');
  if (mode === 'switch') {
    assert.deepEqual(s.source.dump(s.username), [], 'the source holds none of it');
  } else {
    assert.deepEqual(s.source.dump(s.username), sourceBefore, 'the source keeps its copy');
  }

  // The contracts.
  const contracts = server.cliJson(['contract', 'list', '--resident', s.username]);
  const src = contracts.filter((c) => c.service === s.from.id);
  const dst = contracts.filter((c) => c.service === s.to.id);
  assert.equal(src.length, 1, JSON.stringify(contracts));
  assert.equal(dst.length, 1, JSON.stringify(contracts));
  if (mode === 'switch') {
    assert.equal(src[0].status, 'terminated');
    assert.equal(src[0].transfer, id);
    assert.ok(src[0].until >= src[0].since && src[0].until > 0);
  } else {
    assert.equal(src[0].status, 'active');
  }
  assert.equal(dst[0].status, 'active');
  assert.equal(dst[0].transfer, id);
  return t;
}

/** /account in the browser lists the contracts with their state and reason, and the transfer. */
async function checkAccountPage(s, { id, page }, mode = 'switch') {
  await page.goto(server.url('/account'));
  const card = (name) => page.locator('section.detail', { has: page.locator('h3', { hasText: new RegExp(`^${name}$`) }) });
  const src = card(s.from.name);
  const dst = card(s.to.name);
  assert.equal(await src.count(), 1, `a contract card for ${s.from.name}`);
  assert.equal(await dst.count(), 1, `a contract card for ${s.to.name}`);
  if (mode === 'switch') {
    assert.equal(await ddOf(src, 'Status'), 'Ended');
    assert.equal(await ddOf(src, 'Why'), `switched to ${s.to.name} by transfer ${id}`);
    assert.notEqual(await ddOf(src, 'Until'), '');
  } else {
    assert.equal(await ddOf(src, 'Status'), 'Active');
  }
  assert.equal(await ddOf(dst, 'Status'), 'Active');
  assert.equal(await ddOf(dst, 'Why'), `data moved from ${s.from.name} by transfer ${id}`);
  const link = page.locator(`a[href="/account/transfers/${id}"]`);
  assert.equal(await link.count(), 1, 'the transfer is listed');
  assert.equal((await link.innerText()).trim(), `${s.from.name} → ${s.to.name}`);
  assert.equal((await page.locator('li', { has: link }).locator('code').innerText()).trim(), 'completed');
  // The ended source is no longer offered as a source.
  const sources = await page.locator('select[name=source] option').evaluateAll((os) => os.map((o) => o.value));
  if (mode === 'switch') {
    assert.ok(!sources.includes(s.from.id), 'an ended contract is not a source any more');
    assert.ok(sources.includes(s.to.id), 'the new contract is');
  }
}

async function switchPair(tc, opts, dataset) {
  const s = await setUp(opts);
  const sourceBefore = s.source.dump(s.username);
  assert.ok(sourceBefore.length > 0, 'the seed gave the source items');
  const run = await moveInBrowser(s, dataset);
  try {
    const t = await checkAfterMove(tc, s, run, dataset, sourceBefore);
    await checkAccountPage(s, run);
    return { s, t, run };
  } finally {
    await run.context.close();
  }
}

test('Blogger Atom -> DTP social-post JSON: switch in the browser', async (tc) => {
  await switchPair(tc, { sourceFormat: 'blogger-atom', seed: 'blogger-export.xml',
                     destinationFormat: 'dtp-social-post', ids: ['blogger-a', 'dtp-b'] }, 'blog_posts');
});

test('iCalendar -> JSCalendar: switch in the browser', async (tc) => {
  await switchPair(tc, { sourceFormat: 'icalendar', seed: 'calendar-example.ics',
                     destinationFormat: 'jscalendar', ids: ['ical-a', 'jscal-b'] }, 'calendar_events');
});

test('Apple Health -> Open mHealth: switch in the browser, followed while it runs', async (tc) => {
  // Every destination call waits 0.7 s (6 imports of 3 items and a verify): the browser sees
  // the transfer running and reloads itself (meta refresh) until it completes.
  const { run } = await switchPair(tc, {
    sourceFormat: 'apple-health', seed: 'apple-health-export.xml', destinationFormat: 'open-mhealth',
    ids: ['health-a', 'mhealth-b'], destinationFaults: { delayRate: 1, delayMs: 700 },
  }, 'health_records');
  assert.ok(run.progress.length >= 2, `the page reloaded itself: ${JSON.stringify(run.progress)}`);
  assert.ok(run.progress.some((p) => p.refresh && p.state !== 'Completed'),
            `the browser saw the transfer running: ${JSON.stringify(run.progress)}`);
});

test('Takeout Records -> GeoJSON: switch in the browser', async (tc) => {
  await switchPair(tc, { sourceFormat: 'takeout-records', seed: 'location-records.json',
                     destinationFormat: 'geojson', ids: ['takeout-a', 'geojson-b'] }, 'location_points');
});

test('JSCalendar -> iCalendar (reverse): the calendar moved back in the browser', async (tc) => {
  // The seed of the reverse move is the forward move's result: iCalendar -> JSCalendar first
  // (over plain HTTP, deleting anyway if it asks), then the resident, now under contract with
  // the JSCalendar service, moves it on to a second iCalendar service in the browser.
  const s1 = await setUp({ sourceFormat: 'icalendar', seed: 'calendar-example.ics',
                           destinationFormat: 'jscalendar', ids: ['ical-c', 'jscal-d'] });
  const original = s1.source.dump(s1.username);
  const jar = await signIn(server, s1.username, PASSWORD);
  const first = await requestTransfer(server, jar, {
    source: 'ical-c', destination: 'jscal-d', datasets: ['calendar_events'], mode: 'switch' });
  assert.equal((await decide(server, jar, first.page, 'approve')).status, 303);
  const { done: forward } = await finishSwitch(
    server, { username: s1.username, password: PASSWORD }, first.id, { deadlineMs: MOVE_DEADLINE_MS });
  assert.equal(forward.state, 'completed', JSON.stringify(forward));

  const back = await startService(server, 'icalendar');
  services.push(back);
  registerService(server, 'ical-e', back, 'Destination ical-e');
  const s = { username: s1.username, source: s1.destination, destination: back,
              from: s1.to, to: { id: 'ical-e', name: 'Destination ical-e' } };
  const sourceBefore = s.source.dump(s.username);
  assert.equal(sourceBefore.length, original.length, 'the forward move carried every event');
  const run = await moveInBrowser(s, 'calendar_events');
  try {
    const t = await checkAfterMove(tc, s, run, 'calendar_events', sourceBefore);
    await checkAccountPage(s, run);
    assert.equal(t.datasets[0].source_format, 'jscalendar');
    assert.equal(t.datasets[0].destination_format, 'icalendar');
    // Round trip: what survives both conversions equals the original calendar.
    const lost = [...new Set([...forward.report.datasets[0].not_carried, ...t.report.datasets[0].not_carried])];
    assert.deepEqual(withoutNotCarried(back.dump(s.username), lost).sort(),
                     withoutNotCarried(original, lost).sort(),
                     'iCalendar -> JSCalendar -> iCalendar keeps what both formats carry');
  } finally {
    await run.context.close();
  }
  // The first iCalendar contract ended with the forward move, the JSCalendar one with the reverse.
  const contracts = server.cliJson(['contract', 'list', '--resident', s.username]);
  const by = Object.fromEntries(contracts.map((c) => [c.service, c]));
  assert.equal(by['ical-c'].status, 'terminated');
  assert.equal(by['ical-c'].transfer, first.id);
  assert.equal(by['jscal-d'].status, 'terminated');
  assert.equal(by['jscal-d'].transfer, run.id);
  assert.equal(by['ical-e'].status, 'active');
});

test('copy in the browser: the source keeps its data and its contract', async (tc) => {
  const s = await setUp({ sourceFormat: 'takeout-records', seed: 'location-records.json',
                          destinationFormat: 'geojson', ids: ['takeout-c', 'geojson-d'] });
  const sourceBefore = s.source.dump(s.username);
  const run = await moveInBrowser(s, 'location_points', 'copy');
  try {
    await checkAfterMove(tc, s, run, 'location_points', sourceBefore, 'copy');
    await checkAccountPage(s, run, 'copy');
  } finally {
    await run.context.close();
  }
});

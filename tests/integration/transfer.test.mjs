// The portability broker, pattern 1, driven over HTTP: a resident moves blog posts from a
// Blogger-Atom blog to a DTP-JSON blog; DTP cannot carry everything a Blogger post holds, so
// the switch waits after verify until the resident, shown what would be lost, deletes anyway;
// then the destination holds the source's items in the common model, the source none, and the
// contracts change with the transfer's completion.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { RESIDENT, setup } from '../support/fixtures.mjs';
import { request } from '../support/harness.mjs';
import {
  decide, decideDeletion, registerService, requestTransfer, showTransfer, signIn, startService,
  waitForDecisionOrEnd, waitForEnd, withoutNotCarried,
} from '../support/transfers.mjs';

let server;
const services = [];
before(async () => {
  server = await setup();
});
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'infobank-transfer-'));
after(async () => {
  for (const s of services) await s.close();
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function pair(sourceFormat, sourceSeed, destinationFormat, ids) {
  const source = await startService(server, sourceFormat, { seed: sourceSeed, resident: RESIDENT.username });
  const destination = await startService(server, destinationFormat);
  services.push(source, destination);
  registerService(server, ids[0], source, `Source ${ids[0]}`);
  registerService(server, ids[1], destination, `Destination ${ids[1]}`);
  server.cliJson(['contract', 'add', '--resident', RESIDENT.username, '--service', ids[0]]);
  return { source, destination };
}

test('switch: consent, move, verify, the resident deletes anyway, contracts changed', async () => {
  const { source, destination } = await pair('blogger-atom', 'blogger-export.xml',
                                             'dtp-social-post', ['blog-x', 'blog-y']);
  const before = source.dump(RESIDENT.username);
  assert.ok(before.length > 0, 'the source holds posts');

  const jar = await signIn(server, RESIDENT.username, RESIDENT.password);
  const { id, page } = await requestTransfer(server, jar, {
    source: 'blog-x', destination: 'blog-y', datasets: ['blog_posts'], mode: 'switch' });
  assert.equal(showTransfer(server, id).state, 'requested', 'nothing runs before consent');
  assert.match(page.text, /deleted at the source/);
  const r = await decide(server, jar, page, 'approve');
  assert.equal(r.status, 303);

  // Labels, the update time and the +09:00 offsets do not fit DTP: nothing is deleted until the
  // resident has read that on the page and chosen.
  const paused = await waitForDecisionOrEnd(server, id);
  assert.equal(paused.state, 'awaiting_confirmation', JSON.stringify(paused));
  assert.ok(paused.datasets[0].not_carried.includes('labels'), JSON.stringify(paused));
  assert.equal(paused.datasets[0].verified, true);
  assert.deepEqual(source.dump(RESIDENT.username), before, 'nothing deleted before the decision');
  const shown = await request(server.url(`/account/transfers/${id}`), { jar });
  assert.match(shown.text, /<code>blog_posts<\/code> <code>labels<\/code>/);
  assert.equal((await decideDeletion(server, jar, id, 'delete')).status, 303);

  const t = await waitForEnd(server, id);
  assert.equal(t.state, 'completed', JSON.stringify(t));
  const d = t.datasets[0];
  assert.equal(d.items_done, before.length);
  assert.equal(d.items_total, before.length, 'the source announced its count');
  assert.ok(d.bytes_done > 0 && d.bytes_total > 0);
  // Counted like the source counts them (items, not page wrappers): close to its total.
  assert.ok(Math.abs(d.bytes_done - d.bytes_total) < d.bytes_total / 2,
            `bytes ${d.bytes_done} of ${d.bytes_total}`);
  assert.equal(d.verified, true);
  assert.equal(d.deleted_at_source, true);
  assert.deepEqual(t.report.datasets[0].items, before.length);

  const after = destination.dump(RESIDENT.username);
  assert.deepEqual(withoutNotCarried(after, d.not_carried).sort(),
                   withoutNotCarried(before, d.not_carried).sort(),
                   'the destination holds what the source held, in the common model');
  assert.deepEqual(source.dump(RESIDENT.username), [], 'the source holds none of it');

  const contracts = server.cliJson(['contract', 'list', '--resident', RESIDENT.username]);
  const x = contracts.find((c) => c.service === 'blog-x');
  const y = contracts.find((c) => c.service === 'blog-y');
  assert.equal(x.status, 'terminated');
  assert.equal(x.transfer, id);
  assert.equal(y.status, 'active');
  assert.equal(y.transfer, id);
});

test('deny: the transfer is cancelled and nothing moves', async () => {
  const { source, destination } = await pair('takeout-records', 'location-records.json',
                                             'geojson', ['loc-a', 'loc-b']);
  const jar = await signIn(server, RESIDENT.username, RESIDENT.password);
  const { id, page } = await requestTransfer(server, jar, {
    source: 'loc-a', destination: 'loc-b', datasets: ['location_points'], mode: 'copy' });
  assert.equal((await decide(server, jar, page, 'deny')).status, 303);
  assert.equal(showTransfer(server, id).state, 'cancelled');
  assert.deepEqual(destination.dump(RESIDENT.username), []);
  assert.ok(source.dump(RESIDENT.username).length > 0);
  // A second answer changes nothing.
  const again = await decide(server, jar, page, 'approve');
  assert.equal(again.status, 409);
  assert.equal(showTransfer(server, id).state, 'cancelled');
});

// What the source's items hold that the common model has no field for (here an attendee's
// guest count and a property nobody knows) is named in the report and on the resident's page,
// not dropped silently; so is what the destination's format cannot hold (an alarm's own text:
// JSCalendar alerts have none).
test('the report names what the model could not read from the source', async () => {
  const seed = path.join(tmp, 'events-with-attendees.ics');
  fs.writeFileSync(seed, [
    'BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//infobank tests//EN',
    'BEGIN:VEVENT', 'UID:meeting-1@infobank.test', 'DTSTAMP:20240101T000000Z',
    'DTSTART:20240105T090000Z', 'DTEND:20240105T100000Z', 'SUMMARY:Planning',
    'ATTENDEE;CN=Ken;X-NUM-GUESTS=2:mailto:ken@example.jp', 'X-INFOBANK-TEST-UNKNOWN:kept at the source',
    'BEGIN:VALARM', 'ACTION:DISPLAY', 'TRIGGER:-PT15M', 'DESCRIPTION:Planning', 'END:VALARM',
    'END:VEVENT',
    'BEGIN:VEVENT', 'UID:meeting-2@infobank.test', 'DTSTAMP:20240101T000000Z',
    'DTSTART:20240106T090000Z', 'DTEND:20240106T100000Z', 'SUMMARY:Review',
    'ATTENDEE;CN=Aiko:mailto:aiko@example.jp', 'END:VEVENT',
    'END:VCALENDAR', ''].join('\r\n'));
  const { source, destination } = await pair('icalendar', seed, 'jscalendar', ['cal-a', 'cal-b']);
  const jar = await signIn(server, RESIDENT.username, RESIDENT.password);
  const { id, page } = await requestTransfer(server, jar, {
    source: 'cal-a', destination: 'cal-b', datasets: ['calendar_events'], mode: 'copy' });
  assert.equal((await decide(server, jar, page, 'approve')).status, 303);
  const t = await waitForEnd(server, id);
  assert.equal(t.state, 'completed', JSON.stringify(t));
  // Each name once, however many items held it, in the report and in the progress rows.
  assert.deepEqual(t.report.datasets[0].not_read,
                   ['ATTENDEE;X-NUM-GUESTS', 'X-INFOBANK-TEST-UNKNOWN']);
  assert.deepEqual(t.datasets[0].not_read, t.report.datasets[0].not_read);
  assert.deepEqual(t.report.datasets[0].not_carried, ['alerts.description', 'timestamp']);
  assert.deepEqual(t.datasets[0].not_carried, t.report.datasets[0].not_carried);
  const moved = destination.dump(RESIDENT.username);
  assert.equal(moved.length, 2);
  // The attendees themselves were carried (JSCalendar participants).
  assert.deepEqual(moved.map((l) => JSON.parse(l).participants.map((p) => [p.address, p.name])).sort(),
                   [[['mailto:aiko@example.jp', 'Aiko']], [['mailto:ken@example.jp', 'Ken']]]);
  // The alarm itself was carried (the destination's items, in the common model): an alert 15
  // minutes before the start, without its text.
  const planning = moved.map((l) => JSON.parse(l)).find((e) => e.uid === 'meeting-1@infobank.test');
  assert.deepEqual(planning.alerts, [{
    action: 'display', offset: '-PT15M', relative_to: 'start', at: null, acknowledged: null,
    description: '', summary: '', recipients: [] }]);
  assert.equal(source.dump(RESIDENT.username).length, 2, 'a copy leaves the source as it was');
  const shown = await request(server.url(`/account/transfers/${id}`), { jar });
  assert.equal(shown.status, 200);
  assert.match(shown.text, /Not read from the source/);
  assert.match(shown.text, /ATTENDEE;X-NUM-GUESTS, X-INFOBANK-TEST-UNKNOWN/);
  assert.match(shown.text, /Not carried by the destination&#39;s format[^]*alerts\.description/);
});

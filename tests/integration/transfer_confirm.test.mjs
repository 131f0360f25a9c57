// A switch whose formats cannot carry everything (Blogger Atom -> DTP social posts drops
// labels, the update time and UTC offsets) does not delete at the source on its own: after
// verify it waits in `awaiting_confirmation`, its page lists what deleting would lose, and the
// resident decides over the page's CSRF-protected form: `keep` (completed as a copy, nothing
// deleted, the source contract stays) or `delete` (deleted, contracts switched). Decisions
// without the form's token, in another state, by another resident or with another value are
// refused and change nothing. A restart leaves a waiting transfer waiting.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { RESIDENT, setup } from '../support/fixtures.mjs';
import { postForm, request } from '../support/harness.mjs';
import {
  decide, decideDeletion, registerService, requestTransfer, showTransfer, signIn, startService,
  transferEvents, waitForDecisionOrEnd, waitForEnd, withoutNotCarried,
} from '../support/transfers.mjs';

const BOB = { username: 'bob', password: 'another resident password, long enough' };

let server;
const services = [];
before(async () => {
  server = await setup();
  server.addResident(BOB.username, BOB.password);
});
after(async () => {
  for (const s of services) await s.close();
  await server?.close();
});

/** Text as the page writes it (HTML-escaped), as a regular expression source. */
function inHtml(text) {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&#39;').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Alice's Blogger -> DTP switch between two new services (`ids`), consented. */
async function consentedSwitch(ids) {
  const source = await startService(server, 'blogger-atom',
                                    { seed: 'blogger-export.xml', resident: RESIDENT.username });
  const destination = await startService(server, 'dtp-social-post');
  services.push(source, destination);
  registerService(server, ids[0], source, `Source ${ids[0]}`);
  registerService(server, ids[1], destination, `Destination ${ids[1]}`);
  server.cliJson(['contract', 'add', '--resident', RESIDENT.username, '--service', ids[0]]);
  const before = source.dump(RESIDENT.username);
  assert.ok(before.length > 0, 'the source holds posts');
  const jar = await signIn(server, RESIDENT.username, RESIDENT.password);
  const { id, page } = await requestTransfer(server, jar, {
    source: ids[0], destination: ids[1], datasets: ['blog_posts'], mode: 'switch' });
  return { id, page, jar, source, destination, before };
}

/** The same, run until it waits for Alice's decision about deletion at the source. */
async function pausedSwitch(ids) {
  const s = await consentedSwitch(ids);
  assert.equal((await decide(server, s.jar, s.page, 'approve')).status, 303);
  s.t = await waitForDecisionOrEnd(server, s.id);
  assert.equal(s.t.state, 'awaiting_confirmation', JSON.stringify(s.t));
  return s;
}

/** The contract status of Alice's contract with `service`. */
function contractStatus(service) {
  const contracts = server.cliJson(['contract', 'list', '--resident', RESIDENT.username]);
  return contracts.find((c) => c.service === service)?.status ?? 'none';
}

/** Nothing moved on: still waiting, nothing deleted, no decision logged. */
function assertStillWaiting(s) {
  const t = showTransfer(server, s.id);
  assert.equal(t.state, 'awaiting_confirmation', JSON.stringify(t));
  assert.equal(t.datasets[0].deleted_at_source, false);
  assert.deepEqual(s.source.dump(RESIDENT.username), s.before, 'the source holds everything');
  for (const action of ['transfer.deletion_confirmed', 'transfer.deletion_declined',
                        'transfer.deleted_at_source', 'transfer.completed']) {
    assert.equal(transferEvents(server, s.id, action).length, 0, action);
  }
}

test('waits after verify; the page lists what deleting would lose; a restart keeps it waiting', async () => {
  const s = await pausedSwitch(['wait-src', 'wait-dst']);
  const d = s.t.datasets[0];
  assert.equal(s.t.step, 'verified; some data could not be carried; waiting for the resident ' +
                         'to decide about deletion at the source');
  assert.equal(d.verified, true);
  assert.equal(d.items_done, s.before.length);
  assert.ok(d.not_carried.includes('labels') && d.not_carried.includes('updated'),
            JSON.stringify(d));
  assert.deepEqual(s.t.report.datasets[0].not_carried, d.not_carried);
  assert.equal(s.destination.dump(RESIDENT.username).length, s.before.length);
  assertStillWaiting(s);
  assert.equal(transferEvents(server, s.id, 'transfer.awaiting_confirmation').length, 1);
  assert.equal(contractStatus('wait-src'), 'active');
  assert.equal(contractStatus('wait-dst'), 'none');

  const page = await request(server.url(`/account/transfers/${s.id}`), { jar: s.jar });
  assert.equal(page.status, 200);
  assert.match(page.text, /<h1>Delete at the source\?<\/h1>/);
  for (const name of d.not_read) {
    assert.match(page.text, new RegExp(`<li><code>blog_posts</code> <code>${inHtml(name)}</code> — not read`));
  }
  for (const name of d.not_carried) {
    assert.match(page.text, new RegExp(`<li><code>blog_posts</code> <code>${inHtml(name)}</code> — not carried`));
  }
  assert.equal([...page.text.matchAll(/<ul class="lost">[\s\S]*?<\/ul>/g)][0][0]
    .split('<li>').length - 1, d.not_read.length + d.not_carried.length,
  'exactly what would be lost, once each');
  assert.match(page.text, /name="decision" value="keep"/);
  assert.match(page.text, /name="decision" value="delete"/);
  assert.doesNotMatch(page.text, /http-equiv="refresh"/, 'no reload while the resident reads');
  const ja = await request(server.url(`/account/transfers/${s.id}`),
                           { jar: s.jar, headers: { 'accept-language': 'ja' } });
  assert.match(ja.text, /移行元で削除しますか？/);
  assert.match(ja.text, /それでも削除する/);

  // A restart (leases released, workers start again) leaves it waiting; the decision still
  // works afterwards.
  await server.stop();
  await server.start();
  assertStillWaiting(s);
  assert.equal((await decideDeletion(server, s.jar, s.id, 'keep')).status, 303);
  assert.equal(showTransfer(server, s.id).state, 'completed');
});

test('keep at the source: completed as a copy, nothing deleted, the source contract stays', async () => {
  const s = await pausedSwitch(['keep-src', 'keep-dst']);
  const r = await decideDeletion(server, s.jar, s.id, 'keep');
  assert.equal(r.status, 303);
  assert.equal(r.headers.get('location'), `/account/transfers/${s.id}`);

  const t = showTransfer(server, s.id);
  assert.equal(t.state, 'completed', JSON.stringify(t));
  assert.match(t.step, /completed as a copy: the resident declined deletion at the source, because some data could not be carried/);
  assert.equal(t.report.deletion_declined, true);
  assert.equal(t.report.delete_at_source, true, 'what was asked stays on record');
  assert.equal(t.datasets[0].deleted_at_source, false);
  assert.deepEqual(s.source.dump(RESIDENT.username), s.before, 'the source keeps every item');
  const held = s.destination.dump(RESIDENT.username);
  assert.deepEqual(withoutNotCarried(held, t.datasets[0].not_carried).sort(),
                   withoutNotCarried(s.before, t.datasets[0].not_carried).sort());
  assert.equal(contractStatus('keep-src'), 'active', 'the source contract is not ended');
  assert.equal(contractStatus('keep-dst'), 'active', 'the destination contract starts');

  const declined = transferEvents(server, s.id, 'transfer.deletion_declined');
  assert.equal(declined.length, 1);
  assert.equal(declined[0].actor, 'resident');
  assert.equal(declined[0].outcome, 'refused');
  assert.equal(transferEvents(server, s.id, 'transfer.deleted_at_source').length, 0);
  assert.equal(transferEvents(server, s.id, 'contract.ended').length, 0);
  assert.equal(transferEvents(server, s.id, 'transfer.completed').length, 1);

  const page = await request(server.url(`/account/transfers/${s.id}`), { jar: s.jar });
  assert.match(page.text, /<dd>Completed<\/dd>/);
  assert.match(page.text, /declined deletion at the source/);
  assert.doesNotMatch(page.text, /name="decision"/, 'decided: no form any more');
});

test('delete anyway: deleted at the source, contracts switched', async () => {
  const s = await pausedSwitch(['del-src', 'del-dst']);
  assert.equal((await decideDeletion(server, s.jar, s.id, 'delete')).status, 303);
  const t = await waitForEnd(server, s.id);
  assert.equal(t.state, 'completed', JSON.stringify(t));
  assert.equal(t.report.deletion_declined, false);
  assert.equal(t.datasets[0].deleted_at_source, true);
  assert.deepEqual(s.source.dump(RESIDENT.username), [], 'the source holds none of it');
  assert.equal(s.destination.dump(RESIDENT.username).length, s.before.length);
  assert.equal(contractStatus('del-src'), 'terminated');
  assert.equal(contractStatus('del-dst'), 'active');
  const confirmed = transferEvents(server, s.id, 'transfer.deletion_confirmed');
  assert.equal(confirmed.length, 1);
  assert.equal(confirmed[0].actor, 'resident');
  assert.equal(transferEvents(server, s.id, 'transfer.deleted_at_source').length, 1);
});

test('refused decisions change nothing: no or a wrong CSRF token, wrong state, value or resident', async () => {
  const s = await pausedSwitch(['no-src', 'no-dst']);
  const action = server.url(`/account/transfers/${s.id}/decision`);
  const form = (await request(server.url(`/account/transfers/${s.id}`), { jar: s.jar })).text;
  const csrf = /name="csrf_token" value="([^"]+)"/.exec(form)[1];

  let r = await postForm(action, { decision: 'delete' }, { jar: s.jar });
  assert.equal(r.status, 403, 'no CSRF token');
  r = await postForm(action, { decision: 'delete', csrf_token: `${csrf}x` }, { jar: s.jar });
  assert.equal(r.status, 403, 'a wrong CSRF token');
  r = await postForm(action, { decision: 'delete', csrf_token: csrf });
  assert.equal(r.status, 303, 'no session: to the sign-in page');
  assert.equal(r.headers.get('location'), '/account');
  for (const decision of ['approve', 'deny']) {
    r = await postForm(action, { decision, csrf_token: csrf }, { jar: s.jar });
    assert.equal(r.status, 409, `${decision} while awaiting the deletion decision`);
  }
  r = await postForm(action, { decision: 'erase', csrf_token: csrf }, { jar: s.jar });
  assert.equal(r.status, 400, 'an unknown decision');
  const bobJar = await signIn(server, BOB.username, BOB.password);
  const bobPage = await request(server.url('/account'), { jar: bobJar });
  const bobCsrf = /name="csrf_token" value="([^"]+)"/.exec(bobPage.text)[1];
  r = await postForm(action, { decision: 'delete', csrf_token: bobCsrf }, { jar: bobJar });
  assert.equal(r.status, 404, "another resident's transfer");
  assertStillWaiting(s);

  // Decided once: neither answer is taken again.
  assert.equal((await decideDeletion(server, s.jar, s.id, 'keep')).status, 303);
  for (const decision of ['delete', 'keep']) {
    r = await postForm(action, { decision, csrf_token: csrf }, { jar: s.jar });
    assert.equal(r.status, 409, `${decision} after the decision`);
  }
  assert.equal(showTransfer(server, s.id).state, 'completed');
  assert.deepEqual(s.source.dump(RESIDENT.username), s.before);
  assert.equal(transferEvents(server, s.id, 'transfer.deletion_declined').length, 1);
  assert.equal(transferEvents(server, s.id, 'transfer.deletion_confirmed').length, 0);
});

test('a deletion decision before consent is refused and the transfer still waits for consent', async () => {
  const s = await consentedSwitch(['early-src', 'early-dst']);
  const r = await decide(server, s.jar, s.page, 'delete');
  assert.equal(r.status, 409);
  assert.match(r.text, /not waiting for a decision about deletion at the source/);
  assert.equal(showTransfer(server, s.id).state, 'requested');
  assert.deepEqual(s.source.dump(RESIDENT.username), s.before);
  assert.deepEqual(s.destination.dump(RESIDENT.username), []);
});

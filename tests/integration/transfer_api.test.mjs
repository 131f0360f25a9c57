// The portability broker's client API (pattern 1): a relying party that the resident authorized
// with an RFC 9396 personal_data_transfer detail asks for the transfer with POST /transfers,
// follows it with GET /transfers/{id} and reads the resident's contracts with GET /contracts.
// Next to the working path, every refusal: its status and RFC error code, and that it stored
// no transfer. Last, a transfer the resident starts in the browser in "copy" mode.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { RESIDENT, getCode, getTokens, makeClient, setup, tokenRequest } from '../support/fixtures.mjs';
import { request } from '../support/harness.mjs';
import {
  decide, getContracts, getTransfer, listTransferIds, postTransfer, registerService,
  decideDeletion, requestTransfer, showTransfer, signIn, startService, transferDetails,
  waitForApiEnd, waitForApiState, waitForEnd, withoutNotCarried,
} from '../support/transfers.mjs';

const BOB = { username: 'bob', password: 'bob has a long password too' };
const SCOPE = 'openid contracts.read';
// What the positive test asks for; the negative tests vary one member at a time.
const SWITCH = { source: 'blog-x', destination: 'blog-y', datasets: ['blog_posts'], delete_at_source: true };

let server;
let client;         // authorization_code client with contracts.read
let otherClient;    // a second relying party, same scopes
let machine;        // client_credentials only
const services = [];
const svc = {};
let aliceJar;
let bobJar;

before(async () => {
  server = await setup();
  server.addResident(BOB.username, BOB.password);
  const scope = `${SCOPE} profile`;
  client = await makeClient(server, { scope, name: 'transfer app' });
  otherClient = await makeClient(server, { scope, name: 'another app' });
  machine = await makeClient(server, { grants: ['client_credentials'], scope: 'contracts.read', name: 'machine' });

  // blog-x: alice's Blogger blog (contract); blog-y: a DTP blog (no contract);
  // blog-z: a Blogger blog alice has no contract with; bob has a contract with blog-x too.
  svc.x = await startService(server, 'blogger-atom', { seed: 'blogger-export.xml', resident: RESIDENT.username });
  svc.y = await startService(server, 'dtp-social-post');
  svc.z = await startService(server, 'blogger-atom');
  // The copy test's pair.
  svc.h1 = await startService(server, 'apple-health', { seed: 'apple-health-export.xml', resident: RESIDENT.username });
  svc.h2 = await startService(server, 'open-mhealth');
  services.push(...Object.values(svc));
  registerService(server, 'blog-x', svc.x, 'Blog X');
  registerService(server, 'blog-y', svc.y, 'Blog Y');
  registerService(server, 'blog-z', svc.z, 'Blog Z');
  registerService(server, 'health-a', svc.h1, 'Health A');
  registerService(server, 'health-b', svc.h2, 'Health B');
  server.cliJson(['contract', 'add', '--resident', RESIDENT.username, '--service', 'blog-x']);
  server.cliJson(['contract', 'add', '--resident', BOB.username, '--service', 'blog-x']);
  server.cliJson(['contract', 'add', '--resident', RESIDENT.username, '--service', 'health-a']);
  aliceJar = await signIn(server, RESIDENT.username, RESIDENT.password);
  bobJar = await signIn(server, BOB.username, BOB.password);
});

after(async () => {
  for (const s of services) await s?.close();
  await server?.close();
});

/** Alice's access token from `c` for `detail` (authorization_details JSON or undefined). */
async function tokenFor(c, { detail, scope = SCOPE, who } = {}) {
  const overrides = { scope };
  if (detail !== undefined) overrides.authorization_details = detail;
  if (who) {
    // getTokens signs in as alice; for another resident run the same flow with its password.
    const code = await getCode(server, c, overrides, who);
    const r = await tokenRequest(server, c, {
      grant_type: 'authorization_code', code: code.code, redirect_uri: code.params.redirect_uri,
      code_verifier: code.verifier,
    });
    assert.equal(r.status, 200, r.text);
    return r.json().access_token;
  }
  const t = await getTokens(server, c, overrides);
  return t.body.access_token;
}

/** Every transfer stored for alice and bob, as the account pages list them. */
async function allTransfers() {
  return [...await listTransferIds(server, aliceJar), ...await listTransferIds(server, bobJar)].sort();
}

/** Asserts an RFC 6749 §5.2 / RFC 6750 §3.1 style JSON error. */
function assertError(r, status, error, what) {
  assert.equal(r.status, status, `${what}: HTTP ${r.status} ${r.text}`);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/, what);
  assert.equal(r.json().error, error, `${what}: ${r.text}`);
}

/** Runs `fn` (a refused request) and asserts that no transfer was stored by it. */
async function storesNothing(fn) {
  const before = await allTransfers();
  const r = await fn();
  assert.deepEqual(await allTransfers(), before, 'a refused request stores no transfer');
  return r;
}

let switched;  // {id, token} of the positive test's transfer

test('POST /transfers with a granted personal_data_transfer detail: 201, runs to completion, contracts change', async () => {
  const sourceBefore = svc.x.dump(RESIDENT.username);
  assert.ok(sourceBefore.length > 0, 'the source holds posts');
  const token = await tokenFor(client, { detail: transferDetails(SWITCH) });
  const before = await listTransferIds(server, aliceJar);

  const r = await postTransfer(server, token, SWITCH);
  assert.equal(r.status, 201, r.text);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  const t = r.json();
  assert.match(t.id, /^[A-Za-z0-9_-]{16,}$/);
  assert.equal(r.headers.get('location'), `/transfers/${t.id}`);
  // The token carried the consent: no consent page ("requested"), straight to "consented". The
  // broker is woken as the transfer is stored, so a worker may already have begun by the time
  // the answer is read (a small transfer may even have completed): any later state is the
  // same answer, but never "requested" (waiting for consent) or an ending other than success.
  assert.ok(['consented', 'exporting', 'importing', 'verifying', 'awaiting_confirmation']
    .includes(t.state), `state ${t.state}`);
  assert.equal(t.retries, 0);
  assert.equal(t.source, 'blog-x');
  assert.equal(t.destination, 'blog-y');
  assert.equal(t.mode, 'switch');
  assert.equal(t.delete_at_source, true);
  assert.deepEqual(t.datasets.map((d) => d.dataset), ['blog_posts']);
  assert.equal(t.datasets[0].source_format, 'blogger-atom');
  assert.equal(t.datasets[0].destination_format, 'dtp-social-post');
  assert.deepEqual((await listTransferIds(server, aliceJar)).sort(), [...before, t.id].sort(),
                   'exactly this transfer more');

  // DTP cannot carry everything the Blogger posts hold: the client sees the switch wait for the
  // resident (and what would be lost) until the resident decides on their transfer page.
  const waiting = await waitForApiState(server, token, t.id,
                                        ['awaiting_confirmation', 'completed', 'failed']);
  assert.equal(waiting.state, 'awaiting_confirmation', JSON.stringify(waiting));
  assert.match(waiting.step, /waiting for the resident to decide about deletion at the source/);
  assert.ok(waiting.datasets[0].not_carried.length > 0, JSON.stringify(waiting));
  assert.deepEqual(waiting.report.datasets[0].not_carried, waiting.datasets[0].not_carried);
  assert.equal(waiting.datasets[0].deleted_at_source, false);
  assert.deepEqual(svc.x.dump(RESIDENT.username), sourceBefore, 'nothing deleted yet');
  assert.equal((await decideDeletion(server, aliceJar, t.id, 'delete')).status, 303);

  const done = await waitForApiEnd(server, token, t.id);
  assert.equal(done.state, 'completed', JSON.stringify(done));
  const d = done.datasets[0];
  assert.equal(d.items_done, sourceBefore.length);
  assert.equal(d.items_total, sourceBefore.length);
  assert.equal(d.verified, true);
  assert.equal(d.deleted_at_source, true);
  assert.equal(done.report.datasets[0].items, sourceBefore.length);
  assert.equal(done.report.datasets[0].verified, true);
  assert.equal(done.report.datasets[0].deleted_at_source, true);
  assert.deepEqual(withoutNotCarried(svc.y.dump(RESIDENT.username), d.not_carried).sort(),
                   withoutNotCarried(sourceBefore, d.not_carried).sort(),
                   'the destination holds what the source held, in the common model');
  assert.deepEqual(svc.x.dump(RESIDENT.username), [], 'the source holds none of it');
  // The CLI's view and the API's agree.
  assert.equal(showTransfer(server, t.id).state, 'completed');

  const c = await getContracts(server, token);
  assert.equal(c.status, 200, c.text);
  const contracts = c.json().contracts;
  const x = contracts.find((k) => k.service === 'blog-x');
  const y = contracts.find((k) => k.service === 'blog-y');
  assert.ok(x && y, JSON.stringify(contracts));
  assert.equal(x.status, 'terminated');
  assert.equal(x.transfer, t.id);
  assert.ok(x.until >= x.since, 'an ended contract has an end');
  assert.match(x.reason, new RegExp(`Blog Y.*${t.id}`));
  assert.equal(y.status, 'active');
  assert.equal(y.transfer, t.id);
  assert.equal(y.until, undefined, 'an active contract has no end');
  assert.match(y.reason, new RegExp(`Blog X.*${t.id}`));
  // Only alice's contracts.
  assert.ok(contracts.every((k) => k.service !== 'health-b'));
  switched = { id: t.id, token };
});

test('the same request again: the source contract has ended, so 400 and nothing stored', async (t) => {
  if (!switched) return t.skip('needs the positive test');
  const r = await storesNothing(() => postTransfer(server, switched.token, SWITCH));
  assertError(r, 400, 'invalid_request', 'second switch');
  assert.match(r.json().error_description ?? '', /contract/);
});

test('no token: 401 with a Bearer challenge, nothing stored', async () => {
  const r = await storesNothing(() => postTransfer(server, undefined, SWITCH));
  assertError(r, 401, 'invalid_token', 'no token');
  assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer\b/);
  const g = await getTransfer(server, undefined, switched?.id ?? 'x');
  assert.equal(g.status, 401);
  assert.match(g.headers.get('www-authenticate') ?? '', /^Bearer\b/);
  const c = await getContracts(server, undefined);
  assert.equal(c.status, 401);
  assert.match(c.headers.get('www-authenticate') ?? '', /^Bearer\b/);
});

test('no token: a bare challenge without an error code (RFC 6750 §3.1)', async () => {
  const r = await postTransfer(server, undefined, SWITCH);
  assert.equal(r.status, 401);
  const challenge = r.headers.get('www-authenticate') ?? '';
  assert.match(challenge, /^Bearer realm="infobank"/);
  assert.doesNotMatch(challenge, /error=/, `RFC 6750 §3.1: no error code without credentials: ${challenge}`);
});

test('no token and a malformed body: 401 first, the body is not judged for strangers', async () => {
  const r = await storesNothing(() => request(server.url('/transfers'), {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' }));
  assert.equal(r.status, 401);
  assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer realm="infobank"/);
});

test('a method a transfer resource does not take: 405 with Allow (RFC 9110 §15.5.6)', async () => {
  for (const [p, method, allow] of [['/transfers/abc', 'DELETE', 'GET, HEAD'],
                                    ['/contracts', 'POST', 'GET, HEAD'],
                                    ['/transfers', 'GET', 'POST']]) {
    const r = await request(server.url(p), { method });
    assert.equal(r.status, 405, `${method} ${p}`);
    assert.equal(r.headers.get('allow'), allow, `${method} ${p}`);
  }
});

test('an invalid token: 401 invalid_token, nothing stored', async () => {
  const r = await storesNothing(() => postTransfer(server, 'not-a-token', SWITCH));
  assertError(r, 401, 'invalid_token', 'bad token');
  assert.match(r.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
});

test('a client_credentials token: 403, nothing stored', async () => {
  const tr = await tokenRequest(server, machine, { grant_type: 'client_credentials', scope: 'contracts.read' });
  assert.equal(tr.status, 200, tr.text);
  const token = tr.json().access_token;
  const r = await storesNothing(() => postTransfer(server, token, SWITCH));
  assertError(r, 403, 'insufficient_scope', 'client_credentials POST /transfers');
  assert.match(r.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
  const c = await getContracts(server, token);
  assertError(c, 403, 'insufficient_scope', 'client_credentials GET /contracts');
});

const NOT_COVERED = [
  ['a token without any authorization detail', undefined],
  ['a token for another destination', transferDetails({ ...SWITCH, destination: 'blog-z' })],
  ['a token for another source', transferDetails({ ...SWITCH, source: 'blog-z' })],
  ['a token granting a copy (delete_at_source false)', transferDetails({ ...SWITCH, delete_at_source: false })],
  ['a token granting another dataset', transferDetails({ ...SWITCH, datasets: ['calendar_events'] })],
  ['a token with a personal_data_provision detail only',
   JSON.stringify([{ type: 'personal_data_provision', datasets: ['blog_posts'], purpose: 'reading' }])],
];
for (const [name, detail] of NOT_COVERED) {
  test(`${name}: 403 insufficient_scope, nothing stored`, async () => {
    const token = await tokenFor(client, { detail });
    // blog-z -> blog-y would be refused by the broker (no contract) with 400; a source with a
    // contract is used so that only the token can be the reason.
    const body = { source: 'health-a', destination: 'health-b', datasets: ['health_records'], delete_at_source: true };
    for (const b of [SWITCH, body]) {
      const r = await storesNothing(() => postTransfer(server, token, b));
      assertError(r, 403, 'insufficient_scope', `${name} ${JSON.stringify(b)}`);
      assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer .*error="insufficient_scope"/);
    }
  });
}

test('a request for more datasets than granted: 403 insufficient_scope, nothing stored', async () => {
  const token = await tokenFor(client, { detail: transferDetails(SWITCH) });
  const r = await storesNothing(() => postTransfer(server, token, { ...SWITCH, datasets: ['blog_posts', 'calendar_events'] }));
  assertError(r, 403, 'insufficient_scope', 'more datasets');
});

test('a copy asked with a switch grant (delete_at_source false vs true): 403, nothing stored', async () => {
  const token = await tokenFor(client, { detail: transferDetails(SWITCH) });
  const r = await storesNothing(() => postTransfer(server, token, { ...SWITCH, delete_at_source: false }));
  assertError(r, 403, 'insufficient_scope', 'copy with a switch grant');
  // delete_at_source absent means false: also not what was granted.
  const { delete_at_source: _, ...noDelete } = SWITCH;
  const r2 = await storesNothing(() => postTransfer(server, token, noDelete));
  assertError(r2, 403, 'insufficient_scope', 'delete_at_source absent with a switch grant');
});

const BAD_BODIES = [
  ['malformed JSON', '{"source":"blog-x",', 'application/json'],
  ['a JSON array', '[]', 'application/json'],
  ['a form body (wrong content type)', 'source=blog-x&destination=blog-y&datasets=blog_posts', 'application/x-www-form-urlencoded'],
  ['JSON as text/plain', JSON.stringify(SWITCH), 'text/plain'],
  ['an unknown member', JSON.stringify({ ...SWITCH, purpose: 'x' }), 'application/json'],
  ['missing datasets', JSON.stringify({ source: 'blog-x', destination: 'blog-y', delete_at_source: true }), 'application/json'],
  ['empty datasets', JSON.stringify({ ...SWITCH, datasets: [] }), 'application/json'],
  ['datasets as a string', JSON.stringify({ ...SWITCH, datasets: 'blog_posts' }), 'application/json'],
  ['a non-string dataset', JSON.stringify({ ...SWITCH, datasets: [1] }), 'application/json'],
  ['delete_at_source as a string', JSON.stringify({ ...SWITCH, delete_at_source: 'true' }), 'application/json'],
  ['missing source', JSON.stringify({ destination: 'blog-y', datasets: ['blog_posts'] }), 'application/json'],
];
test('malformed bodies: 400 invalid_request, nothing stored', async () => {
  const token = await tokenFor(client, { detail: transferDetails(SWITCH) });
  for (const [name, body, type] of BAD_BODIES) {
    const r = await storesNothing(() => postTransfer(server, token, body, { contentType: type }));
    assertError(r, 400, 'invalid_request', name);
  }
});

test('an unknown service: 400 invalid_request, nothing stored', async () => {
  for (const detail of [{ ...SWITCH, source: 'no-such-blog' }, { ...SWITCH, destination: 'no-such-blog' }]) {
    const token = await tokenFor(client, { detail: transferDetails(detail) });
    const r = await storesNothing(() => postTransfer(server, token, detail));
    assertError(r, 400, 'invalid_request', JSON.stringify(detail));
    assert.match(r.json().error_description ?? '', /unknown/);
  }
});

test('a source the resident has no contract with: 400 invalid_request, nothing stored', async () => {
  const detail = { ...SWITCH, source: 'blog-z', destination: 'blog-y' };
  const token = await tokenFor(client, { detail: transferDetails(detail) });
  const r = await storesNothing(() => postTransfer(server, token, detail));
  assertError(r, 400, 'invalid_request', 'no contract');
  assert.match(r.json().error_description ?? '', /no active contract with Blog Z/);
});

test("GET /transfers/{id}: another resident's, another client's or the browser's transfer is 404", async (t) => {
  if (!switched) return t.skip('needs the positive test');
  // The owner sees it.
  assert.equal((await getTransfer(server, switched.token, switched.id)).status, 200);
  // Bob, same client.
  const bobToken = await tokenFor(client, { who: BOB });
  const a = await getTransfer(server, bobToken, switched.id);
  assertError(a, 404, 'not_found', "another resident's transfer");
  // Alice, another client.
  const otherToken = await tokenFor(otherClient);
  const b = await getTransfer(server, otherToken, switched.id);
  assertError(b, 404, 'not_found', "another client's transfer");
  assert.doesNotMatch(b.text, /blog-x|blog-y/, 'a 404 tells nothing about the transfer');
  // An id that does not exist: the same answer.
  const c = await getTransfer(server, switched.token, 'no-such-transfer');
  assertError(c, 404, 'not_found', 'unknown id');
  // A transfer alice started in the browser belongs to no client.
  const { id } = await requestTransfer(server, aliceJar, {
    source: 'health-a', destination: 'health-b', datasets: ['health_records'], mode: 'copy' });
  const d = await getTransfer(server, switched.token, id);
  assertError(d, 404, 'not_found', "the browser's transfer");
  // Bob cannot decide on it either (his own session and CSRF token): 404, still requested.
  const bobAccount = await request(server.url('/account'), { jar: bobJar });
  const bobCsrf = /name="csrf_token" value="([^"]+)"/.exec(bobAccount.text)?.[1];
  assert.ok(bobCsrf, "bob's CSRF token on his account page");
  const e = await request(server.url(`/account/transfers/${id}/decision`), {
    method: 'POST', jar: bobJar, headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf_token: bobCsrf, decision: 'approve' }).toString() });
  assert.equal(e.status, 404, "bob deciding on alice's transfer");
  assert.equal((await request(server.url(`/account/transfers/${id}`), { jar: bobJar })).status, 404);
  assert.equal(showTransfer(server, id).state, 'requested');
  // Left in "requested": cancel it so the copy test below starts from a clean slate.
  const jarPage = await request(server.url(`/account/transfers/${id}`), { jar: aliceJar });
  assert.equal((await decide(server, aliceJar, jarPage, 'deny')).status, 303);
  assert.equal(showTransfer(server, id).state, 'cancelled');
});

test('GET /contracts without contracts.read: 403 insufficient_scope', async () => {
  const token = await tokenFor(client, { scope: 'openid profile' });
  const r = await getContracts(server, token);
  assertError(r, 403, 'insufficient_scope', 'no contracts.read');
  assert.match(r.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
  // With it: 200 and only the token's resident's contracts.
  const bobToken = await tokenFor(client, { who: BOB });
  const b = await getContracts(server, bobToken);
  assert.equal(b.status, 200, b.text);
  const bob = b.json().contracts;
  assert.equal(bob.length, 1, JSON.stringify(bob));
  assert.equal(bob[0].service, 'blog-x');
  assert.equal(bob[0].status, 'active', "alice's switch did not end bob's contract");
});

test('POST /transfers with a query string: 400 invalid_request, nothing stored', async () => {
  const token = await tokenFor(client, { detail: transferDetails(SWITCH) });
  const r = await storesNothing(() => request(server.url('/transfers?x=1'), {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(SWITCH) }));
  assertError(r, 400, 'invalid_request', 'query on POST /transfers');
});

test('copy in the browser: completes, the source keeps its items and its active contract, a destination contract starts', async () => {
  const sourceBefore = svc.h1.dump(RESIDENT.username);
  assert.ok(sourceBefore.length > 0, 'the source holds health records');
  const { id, page } = await requestTransfer(server, aliceJar, {
    source: 'health-a', destination: 'health-b', datasets: ['health_records'], mode: 'copy' });
  assert.equal(showTransfer(server, id).state, 'requested', 'nothing runs before consent');
  assert.match(page.text, /The source keeps its copy/);
  assert.doesNotMatch(page.text, /will be deleted at the source/);
  assert.equal((await decide(server, aliceJar, page, 'approve')).status, 303);

  const t = await waitForEnd(server, id);
  assert.equal(t.state, 'completed', JSON.stringify(t));
  assert.equal(t.mode, 'copy');
  assert.equal(t.delete_at_source, false);
  const d = t.datasets[0];
  assert.equal(d.items_done, sourceBefore.length);
  assert.equal(d.verified, true);
  assert.equal(d.deleted_at_source, false);
  assert.equal(t.report.delete_at_source, false);
  assert.equal(t.report.datasets[0].deleted_at_source, false);
  assert.deepEqual(svc.h1.dump(RESIDENT.username), sourceBefore, 'the source keeps every item');
  assert.deepEqual(withoutNotCarried(svc.h2.dump(RESIDENT.username), d.not_carried).sort(),
                   withoutNotCarried(sourceBefore, d.not_carried).sort());

  const contracts = server.cliJson(['contract', 'list', '--resident', RESIDENT.username]);
  const a = contracts.filter((c) => c.service === 'health-a');
  const b = contracts.filter((c) => c.service === 'health-b');
  assert.equal(a.length, 1);
  assert.equal(a[0].status, 'active', 'a copy does not end the source contract');
  assert.notEqual(a[0].transfer, id);
  assert.equal(b.length, 1);
  assert.equal(b[0].status, 'active');
  assert.equal(b[0].transfer, id);
  assert.match(b[0].reason, new RegExp(`Health A.*${id}`));
});

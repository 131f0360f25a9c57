// Helpers for the portability broker's tests: registering sample services with infobank,
// signing a resident in, starting a transfer from the account page and consenting to it, and
// waiting for it to end.
import assert from 'node:assert/strict';
import path from 'node:path';

import { CookieJar, parseForms, postForm, request, waitFor } from './harness.mjs';
import { SAMPLES_DIR, SampleService } from './services.mjs';

/** Starts a sample service whose tokens come from `server`. */
export async function startService(server, format,
                                   { seed, resident, faults, maxBodyBytes, args, tls } = {}) {
  const s = new SampleService({
    format, issuer: server.base, seed: seed && path.resolve(SAMPLES_DIR, seed), resident,
    faults, maxBodyBytes, args, tls,
  });
  await s.start();
  return s;
}

/** `infobank service add` for a running sample service. */
export function registerService(server, id, service, name = id) {
  return server.cliJson(['service', 'add', id, '--name', name, '--url', service.base,
                         '--audience', service.audience,
                         '--dataset', `${service.dataset}:${service.opts.format}`]);
}

/** Signs the resident in through the account page; returns the cookie jar. */
export async function signIn(server, username, password) {
  const jar = new CookieJar();
  let r = await request(server.url('/account'), { jar });
  const login = parseForms(r.text).find((f) => f.inputs.some((i) => i.name === 'password'));
  assert.ok(login, 'sign-in form on /account');
  r = await postForm(new URL(login.action, server.base).href,
                     { ...login.fields, username, password }, { jar });
  assert.equal(r.status, 303, `sign-in: ${r.status}`);
  return jar;
}

/** Starts a transfer from /account and returns {id, consentPage, jar}. */
export async function requestTransfer(server, jar, { source, destination, datasets, mode = 'switch' }) {
  const account = await request(server.url('/account'), { jar });
  const form = parseForms(account.text).find((f) => f.action === '/account/transfers');
  assert.ok(form, 'transfer form on /account');
  const body = new URLSearchParams({ csrf_token: form.fields.csrf_token, source, destination, mode });
  for (const d of datasets) body.append('datasets', d);
  const r = await request(server.url('/account/transfers'), {
    method: 'POST', jar,
    headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString(),
  });
  assert.equal(r.status, 303, `POST /account/transfers: ${r.status} ${r.text}`);
  const location = r.headers.get('location');
  const id = location.split('/').pop();
  const page = await request(server.url(location), { jar });
  assert.equal(page.status, 200);
  return { id, page };
}

/** Answers the consent form of a transfer page. */
export async function decide(server, jar, page, decision) {
  const form = parseForms(page.text).find((f) => f.action.endsWith('/decision'));
  assert.ok(form, 'decision form on the transfer page');
  return postForm(server.url(form.action), { csrf_token: form.fields.csrf_token, decision }, { jar });
}

/** `infobank transfer show` as JSON. */
export function showTransfer(server, id) {
  return server.cliJson(['transfer', 'show', '--', id]);
}

const ENDED = ['completed', 'failed', 'cancelled'];

/** Waits until the transfer is in one of `states` (`infobank transfer show`); returns it. */
export async function waitForState(server, id, states, deadlineMs = 60_000) {
  return waitFor(() => {
    const t = showTransfer(server, id);
    return states.includes(t.state) ? t : null;
  }, { deadlineMs, what: `transfer ${id} to be ${states.join(' or ')}` });
}

/** Waits until the transfer is completed, failed or cancelled; returns it. */
export async function waitForEnd(server, id, deadlineMs = 60_000) {
  return waitForState(server, id, ENDED, deadlineMs);
}

/**
 * Waits until a switch stops for its resident's decision about deletion at the source
 * (`awaiting_confirmation`: some data could not be carried) or ends; returns it.
 */
export async function waitForDecisionOrEnd(server, id, deadlineMs = 60_000) {
  return waitForState(server, id, ['awaiting_confirmation', ...ENDED], deadlineMs);
}

/**
 * The resident's decision about deletion at the source ('delete' or 'keep'), as a browser
 * makes it: loads the transfer page and posts its decision form with the form's CSRF token.
 */
export async function decideDeletion(server, jar, id, decision) {
  const page = await request(server.url(`/account/transfers/${id}`), { jar });
  assert.equal(page.status, 200, `GET /account/transfers/${id}: ${page.status}`);
  return decide(server, jar, page, decision);
}

/**
 * Runs a switch to its end as its resident would: when it stops because not everything could
 * be carried, the resident signs in and decides `decision` on the transfer page. Returns
 * {paused: the transfer as it waited (null when it did not), done: the ended transfer}.
 */
export async function finishSwitch(server, resident, id,
                                   { decision = 'delete', deadlineMs = 60_000 } = {}) {
  const t = await waitForDecisionOrEnd(server, id, deadlineMs);
  if (t.state !== 'awaiting_confirmation') return { paused: null, done: t };
  const jar = await signIn(server, resident.username, resident.password);
  const r = await decideDeletion(server, jar, id, decision);
  assert.equal(r.status, 303, `decision ${decision}: ${r.status} ${r.text}`);
  return { paused: t, done: await waitForEnd(server, id, deadlineMs) };
}

/**
 * Removes the fields the report lists as not carried from canonical model lines. "X.offset"
 * means the time stamp X kept its instant but lost its UTC offset: X is compared as an instant.
 */
export function withoutNotCarried(lines, notCarried) {
  return lines.map((line) => {
    const item = JSON.parse(line);
    for (const field of notCarried) {
      if (field.endsWith('.offset')) {
        const name = field.slice(0, -'.offset'.length);
        if (typeof item[name] === 'string') item[name] = new Date(item[name]).toISOString();
        continue;
      }
      const parts = field.split('.');
      let o = item;
      for (let i = 0; o && i < parts.length - 1; i++) o = o[parts[i]];
      if (o && typeof o === 'object') delete o[parts[parts.length - 1]];
    }
    return JSON.stringify(item);
  });
}

// --- Generated exports, audit counts and a whole-transfer driver (fault, crash and bench tests) ---

// (Import declarations are hoisted; a name of its own so that other appended sections may not clash.)
import * as genFs from 'node:fs';

/** Escapes text for XML character data and attribute values. */
function xmlEscape(s) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/**
 * Writes a Blogger Atom export of `count` posts to `file`, streaming (a 100 MB file is fine):
 * post i has the id tag:blogger.com,1999:blog-7.post-<i>, a title, labels and an HTML body of
 * about `bodyBytes` bytes. `bom` prefixes a UTF-8 byte-order mark. Returns the file's size.
 */
export function writeBloggerExport(file, count, { bodyBytes = 60, bom = false } = {}) {
  const fd = genFs.openSync(file, 'w');
  try {
    const chunks = [];
    let size = 0;
    const put = (s) => {
      chunks.push(s);
      if (chunks.length >= 512) flush();
    };
    const flush = () => {
      const buf = Buffer.from(chunks.join(''), 'utf8');
      chunks.length = 0;
      genFs.writeSync(fd, buf);
      size += buf.length;
    };
    if (bom) put('\uFEFF');
    put("<?xml version='1.0' encoding='UTF-8'?>\n" +
        "<feed xmlns='http://www.w3.org/2005/Atom'>\n" +
        '  <id>tag:blogger.com,1999:blog-7.archive</id>\n' +
        '  <updated>2024-06-01T00:00:00.000Z</updated>\n' +
        "  <title type='text'>Generated blog</title>\n");
    const filler = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. ';
    for (let i = 1; i <= count; i++) {
      const day = String(1 + (i % 28)).padStart(2, '0');
      const month = String(1 + (i % 12)).padStart(2, '0');
      let text = `Post ${i}: `;
      while (text.length < bodyBytes) text += filler;
      text = text.slice(0, Math.max(bodyBytes, 8));
      put('  <entry>\n' +
          `    <id>tag:blogger.com,1999:blog-7.post-${i}</id>\n` +
          `    <published>2023-${month}-${day}T10:00:00.000Z</published>\n` +
          `    <updated>2023-${month}-${day}T10:00:00.000Z</updated>\n` +
          "    <category scheme='http://schemas.google.com/g/2005#kind' term='http://schemas.google.com/blogger/2008/kind#post'/>\n" +
          `    <title type='text'>${xmlEscape(`Title ${i} & more`)}</title>\n` +
          `    <content type='html'>${xmlEscape(`<p>${text}</p>`)}</content>\n` +
          '  </entry>\n');
    }
    put('</feed>\n');
    flush();
    return size;
  } finally {
    genFs.closeSync(fd);
  }
}

/** Writes an iCalendar export of `count` all-day events to `file` (CRLF lines). */
export function writeICalendarExport(file, count) {
  const lines = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//infobank tests//EN'];
  for (let i = 1; i <= count; i++) {
    const d = new Date(Date.UTC(2024, 0, 1) + i * 86_400_000);
    const ymd = d.toISOString().slice(0, 10).replace(/-/g, '');
    lines.push('BEGIN:VEVENT', `UID:event-${i}@infobank.test`, `DTSTAMP:20240101T000000Z`,
               `DTSTART;VALUE=DATE:${ymd}`, `SUMMARY:Event ${i}`, 'END:VEVENT');
  }
  lines.push('END:VCALENDAR', '');
  genFs.writeFileSync(file, lines.join('\r\n'));
}

/** The audit log's entries (`infobank audit export`), without the tree head line. */
export function auditEntries(server) {
  const r = server.cli(['audit', 'export']);
  if (r.status !== 0) throw new Error(`infobank audit export exited ${r.status}: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l))
    .filter((e) => e.action !== undefined);
}

/** Audit entries of one transfer with `action` (e.g. transfer.retry). */
export function transferEvents(server, id, action) {
  return auditEntries(server).filter((e) => e.action === action && e.detail?.transfer === id);
}

/**
 * Registers `source` and `destination` as `ids`, gives the resident a contract with the
 * source, requests the transfer on /account and approves it. Returns the transfer id.
 */
export async function startApprovedTransfer(server, resident, source, destination, ids,
                                            { mode = 'switch' } = {}) {
  registerService(server, ids[0], source, `Source ${ids[0]}`);
  registerService(server, ids[1], destination, `Destination ${ids[1]}`);
  server.cliJson(['contract', 'add', '--resident', resident.username, '--service', ids[0]]);
  const jar = await signIn(server, resident.username, resident.password);
  const { id, page } = await requestTransfer(server, jar, {
    source: ids[0], destination: ids[1], datasets: [source.dataset], mode });
  const r = await decide(server, jar, page, 'approve');
  assert.equal(r.status, 303, `approve: ${r.status}`);
  return id;
}

// --- Client API (POST /transfers, GET /transfers/{id}, GET /contracts) ---------------------------

/** RFC 9396 authorization_details asking for one personal_data_transfer, as a JSON string. */
export function transferDetails({ source, destination, datasets, delete_at_source = true }) {
  return JSON.stringify([{ type: 'personal_data_transfer', source, destination, datasets,
                           delete_at_source }]);
}

/**
 * POST /transfers with `token` (omit for none). `body` is sent as JSON unless it is a string;
 * `contentType` overrides application/json.
 */
export function postTransfer(server, token, body, { contentType = 'application/json', headers = {} } = {}) {
  const h = { 'content-type': contentType, ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  return request(server.url('/transfers'), {
    method: 'POST', headers: h, body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** GET /transfers/{id} with `token`. */
export function getTransfer(server, token, id) {
  return request(server.url(`/transfers/${encodeURIComponent(id)}`),
                 { headers: token ? { authorization: `Bearer ${token}` } : {} });
}

/** GET /contracts with `token`. */
export function getContracts(server, token) {
  return request(server.url('/contracts'), { headers: token ? { authorization: `Bearer ${token}` } : {} });
}

/** Polls GET /transfers/{id} until the transfer is in one of `states`; returns its JSON. */
export async function waitForApiState(server, token, id, states, deadlineMs = 60_000) {
  return waitFor(async () => {
    const r = await getTransfer(server, token, id);
    if (r.status !== 200) throw new Error(`GET /transfers/${id}: HTTP ${r.status} ${r.text}`);
    const t = r.json();
    return states.includes(t.state) ? t : null;
  }, { deadlineMs, what: `transfer ${id} to be ${states.join(' or ')} (GET /transfers/{id})` });
}

/** Polls GET /transfers/{id} until the transfer is completed, failed or cancelled; returns its JSON. */
export async function waitForApiEnd(server, token, id, deadlineMs = 60_000) {
  return waitForApiState(server, token, id, ENDED, deadlineMs);
}

/**
 * The ids of the resident's transfers as the account page lists them (links to
 * /account/transfers/{id}), for asserting that a refused request stored nothing.
 */
export async function listTransferIds(server, jar) {
  const r = await request(server.url('/account'), { jar });
  assert.equal(r.status, 200, `GET /account: ${r.status}`);
  const ids = [];
  for (const m of r.text.matchAll(/href="\/account\/transfers\/([^"/]+)"/g)) ids.push(m[1]);
  return ids;
}

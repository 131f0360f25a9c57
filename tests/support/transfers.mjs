// Helpers for the portability broker's tests: registering sample services with infobank,
// signing a resident in, starting a transfer from the account page and consenting to it, and
// waiting for it to end.
import assert from 'node:assert/strict';
import path from 'node:path';

import { CookieJar, parseForms, postForm, request, waitFor } from './harness.mjs';
import { SAMPLES_DIR, SampleService } from './services.mjs';

/** Starts a sample service whose tokens come from `server`. */
export async function startService(server, format, { seed, resident, faults, maxBodyBytes, args } = {}) {
  const s = new SampleService({
    format, issuer: server.base, seed: seed && path.resolve(SAMPLES_DIR, seed), resident,
    faults, maxBodyBytes, args,
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
  return server.cliJson(['transfer', 'show', id]);
}

/** Waits until the transfer is completed, failed or cancelled; returns it. */
export async function waitForEnd(server, id, deadlineMs = 60_000) {
  return waitFor(() => {
    const t = showTransfer(server, id);
    return ['completed', 'failed', 'cancelled'].includes(t.state) ? t : null;
  }, { deadlineMs, what: `transfer ${id} to end` });
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

// The two ways a consent ends, on the real server. The resident withdraws it on /account (a
// form with a CSRF token). Or its authorization details say when (retention_until, RFC 9396
// details of type personal_data_provision): with the sweep every second, tokens never outlive
// it, the sweep ends the grant with its tokens and logs consent.expired once, and the
// resident's page stops listing the permission and says why in "who used my data".
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  authorizeFlow, parseForms, postForm, randomToken, request, waitFor,
} from '../support/harness.mjs';
import {
  RESIDENT, authParams, clientPost, getCode, makeClient, setup, tokenRequest,
} from '../support/fixtures.mjs';

let server;
let auditorToken;

before(async () => {
  server = await setup({ env: { INFOBANK_OAUTH_SWEEP_INTERVAL: '1' } });
  const auditor = await makeClient(server, {
    auth: 'client_secret_basic', grants: ['client_credentials'], redirectUris: [],
    scope: 'audit.read', name: `auditor ${randomToken(4)}`,
  });
  const r = await tokenRequest(server, auditor, { grant_type: 'client_credentials', scope: 'audit.read' });
  assert.equal(r.status, 200, r.text);
  auditorToken = r.json().access_token;
});
after(async () => { await server?.close(); });

async function entries(filters) {
  const r = await request(server.url(`/audit/v1/entries?${new URLSearchParams({ limit: '1000', ...filters })}`),
                          { headers: { authorization: `Bearer ${auditorToken}` } });
  assert.equal(r.status, 200, r.text);
  return r.json().entries;
}

/** RFC 3339 in UTC, whole seconds, `seconds` from now. */
function inSeconds(seconds) {
  return new Date((Math.floor(Date.now() / 1000) + seconds) * 1000).toISOString().replace('.000Z', 'Z');
}

function provision(purpose, until) {
  const detail = { type: 'personal_data_provision', datasets: ['address'], purpose };
  if (until) detail.retention_until = until;
  return JSON.stringify([detail]);
}

test('a consent ends at its retention_until: tokens expire with it, the sweep logs consent.expired once', async () => {
  const name = `Parcel App ${randomToken(4)}`;
  const rp = await makeClient(server, { name });
  const purpose = `parcel delivery ${randomToken(4)}`;
  const until = inSeconds(10);  // room for a slow sign-in on a loaded machine
  const endsAt = Date.parse(until) / 1000;
  const c = await getCode(server, rp, { authorization_details: provision(purpose, until) });
  const r = await tokenRequest(server, rp, {
    grant_type: 'authorization_code', code: c.code, redirect_uri: c.params.redirect_uri,
    code_verifier: c.verifier,
  });
  assert.equal(r.status, 200, r.text);
  const tokens = r.json();
  const now = Math.floor(Date.now() / 1000);
  assert.ok(tokens.expires_in <= endsAt - now + 1 && tokens.expires_in > 0,
            `expires_in ${tokens.expires_in} is within the consent (ends in ${endsAt - now} s)`);
  const introspect = async (token) => {
    const i = await clientPost(server, rp, '/introspect', { token });
    assert.equal(i.status, 200, i.text);
    return i.json();
  };
  const refreshInfo = await introspect(tokens.refresh_token);
  assert.equal(refreshInfo.active, true);
  assert.equal(refreshInfo.exp, endsAt, 'the refresh token ends with the consent, not in 30 days');

  // While it is in force, the resident's page lists it with its end.
  const jar = c.flow.jar;
  const before = await request(server.url('/account'), { jar, headers: { 'accept-language': 'en' } });
  const permissions = before.text.slice(0, before.text.indexOf('Who used your data'));
  assert.ok(permissions.includes(name), 'the permission is listed');
  assert.ok(permissions.includes(until.slice(0, 10)), 'with the day it ends');

  // The sweep (every second) ends it once its end has come.
  const expired = await waitFor(async () => {
    const found = await entries({ action: 'consent.expired', client_id: rp.client_id });
    return found.length > 0 ? found : null;
  }, { deadlineMs: 30_000, what: 'a consent.expired entry' });
  assert.equal(expired.length, 1);
  assert.equal(expired[0].actor, 'system');
  assert.equal(expired[0].purpose, purpose);
  assert.deepEqual(expired[0].datasets, ['address']);
  assert.equal(expired[0].detail.expired_at, endsAt);
  assert.ok(expired[0].time >= endsAt, 'not before its end');
  const metrics = await request(server.url('/metrics'));
  assert.match(metrics.text, /^infobank_consents_expired_total 1$/m);

  const refreshed = await tokenRequest(server, rp, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
  assert.equal(refreshed.status, 400);
  assert.equal(refreshed.json().error, 'invalid_grant');
  assert.equal((await introspect(tokens.access_token)).active, false);
  assert.equal((await introspect(tokens.refresh_token)).active, false);

  const afterPage = await request(server.url('/account'), { jar, headers: { 'accept-language': 'en' } });
  const split = afterPage.text.indexOf('Who used your data');
  assert.ok(!afterPage.text.slice(0, split).includes(name), 'no longer listed as a permission');
  assert.ok(afterPage.text.slice(split).includes('Your consent ended on the date you agreed to'));

  // Sweeps run every second: three seconds after the entry there is still exactly one.
  await waitFor(() => Date.now() / 1000 > expired[0].time + 3 || null,
                { deadlineMs: 10_000, what: 'three more sweeps' });
  assert.equal((await entries({ action: 'consent.expired', client_id: rp.client_id })).length, 1);
});

test('a consent without an end, or with an end already past, is not expired', async () => {
  const rp = await makeClient(server, { name: `Open App ${randomToken(4)}` });
  const c = await getCode(server, rp, { authorization_details: provision('no end') });
  const r = await tokenRequest(server, rp, {
    grant_type: 'authorization_code', code: c.code, redirect_uri: c.params.redirect_uri,
    code_verifier: c.verifier,
  });
  assert.equal(r.status, 200, r.text);
  const info = await clientPost(server, rp, '/introspect', { token: r.json().refresh_token });
  assert.ok(info.json().exp - Math.floor(Date.now() / 1000) > 29 * 24 * 3600, 'the usual 30 days');

  // Asking for a consent whose end has passed is refused at /authorize (RFC 9396 §5).
  const past = new URLSearchParams({
    response_type: 'code', client_id: rp.client_id, redirect_uri: rp.redirectUri, scope: 'openid',
    state: 's', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256', authorization_details: provision('too late', inSeconds(-60)),
  });
  const refused = await request(server.url(`/authorize?${past}`));
  assert.equal(refused.status, 303);
  const location = new URL(refused.headers.get('location'));
  assert.equal(location.searchParams.get('error'), 'invalid_authorization_details');
  assert.equal((await entries({ action: 'consent.expired', client_id: rp.client_id })).length, 0);
});

test('the resident withdraws a consent on /account: only with the form\'s CSRF token', async () => {
  const name = `Diary App ${randomToken(4)}`;
  const rp = await makeClient(server, { name });
  const c = await getCode(server, rp, { authorization_details: provision('diary') });
  const r = await tokenRequest(server, rp, {
    grant_type: 'authorization_code', code: c.code, redirect_uri: c.params.redirect_uri,
    code_verifier: c.verifier,
  });
  assert.equal(r.status, 200, r.text);
  const tokens = r.json();
  const jar = c.flow.jar;
  const active = async () => (await clientPost(server, rp, '/introspect', { token: tokens.refresh_token })).json().active;

  const page = await request(server.url('/account'), { jar, headers: { 'accept-language': 'en' } });
  // The grant's own form: the first after the client's name.
  const section = page.text.slice(page.text.indexOf(name));
  const [form] = parseForms(section.slice(0, section.indexOf('</form>') + '</form>'.length));
  assert.ok(form, 'a withdraw form for the grant');
  assert.equal(form.action, '/account/grants/revoke');
  assert.equal(form.method, 'post');
  assert.ok(form.fields.grant_id && form.fields.csrf_token);

  // Without the token, with another one, or not as a form: refused, nothing changes.
  for (const [fields, headers] of [
    [{ grant_id: form.fields.grant_id }, {}],
    [{ grant_id: form.fields.grant_id, csrf_token: 'x'.repeat(43) }, {}],
    [JSON.stringify(form.fields), { 'content-type': 'application/json' }],
  ]) {
    const refused = typeof fields === 'string'
      ? await request(server.url('/account/grants/revoke'), { method: 'POST', headers, body: fields, jar })
      : await postForm(server.url('/account/grants/revoke'), fields, { jar });
    assert.equal(refused.status, 403, refused.text.slice(0, 200));
    assert.equal(await active(), true);
  }
  assert.equal((await entries({ action: 'consent.withdrawn', client_id: rp.client_id })).length, 0);

  const done = await postForm(server.url('/account/grants/revoke'), form.fields, { jar });
  assert.equal(done.status, 303);
  assert.equal(done.location().pathname, '/account');
  assert.equal(await active(), false);
  assert.equal((await clientPost(server, rp, '/introspect', { token: tokens.access_token })).json().active, false);
  const withdrawn = await entries({ action: 'consent.withdrawn', client_id: rp.client_id });
  assert.equal(withdrawn.length, 1);
  assert.equal(withdrawn[0].purpose, 'diary');
  assert.equal(withdrawn[0].detail.authorization_details[0].purpose, 'diary');

  const after = await request(server.url('/account'), { jar, headers: { 'accept-language': 'en' } });
  const split = after.text.indexOf('Who used your data');
  assert.ok(!after.text.slice(0, split).includes(name), 'no longer listed as a permission');
  assert.ok(after.text.slice(split).includes('You withdrew consent'));
  // Sending the same form again changes nothing more.
  const again = await postForm(server.url('/account/grants/revoke'), form.fields, { jar });
  assert.equal(again.status, 303);
  assert.equal((await entries({ action: 'consent.withdrawn', client_id: rp.client_id })).length, 1);
});

test('a refusal is the resident\'s own entry, with what was asked, and shows on /account', async () => {
  const rp = await makeClient(server, { name: `Refused App ${randomToken(4)}` });
  const purpose = `declined ${randomToken(4)}`;
  const { params } = authParams(rp, { authorization_details: provision(purpose) });
  const f = await authorizeFlow(server, { params, ...RESIDENT, decision: 'deny' });
  assert.equal(f.params.get('error'), 'access_denied');
  const refused = await entries({ action: 'consent.refused', client_id: rp.client_id });
  assert.equal(refused.length, 1);
  assert.equal(refused[0].outcome, 'refused');
  assert.equal(refused[0].purpose, purpose);
  assert.equal(refused[0].detail.authorization_details[0].purpose, purpose);
  // The same pseudonym as the resident's own sign-in.
  const mine = await entries({ resident: server.resident.sub, action: 'login.success' });
  assert.ok(mine.length > 0);
  assert.equal(refused[0].resident, mine[0].resident);
  const page = await request(server.url('/account'), { jar: f.jar, headers: { 'accept-language': 'en' } });
  const activity = page.text.slice(page.text.indexOf('Who used your data'));
  assert.ok(activity.includes(purpose), 'the refusal is in the resident\'s activity');
});

// RFC 9700 §4.7 CSRF on the resident pages (sign-in and consent), §4.16 clickjacking, and
// session cookie hygiene.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  CookieJar, authorizeUrl, consentForm, follow, loginForm, postForm, request,
} from '../support/harness.mjs';
import { RESIDENT, authParams, makeClient, setup } from '../support/fixtures.mjs';

let server;
let client;
before(async () => {
  server = await setup();
  client = await makeClient(server);
});
after(async () => { await server?.close(); });

async function loginPage(jar = new CookieJar()) {
  // prompt=consent: an earlier test's grant would otherwise skip the consent page.
  const { params } = authParams(client, { prompt: 'consent' });
  const r = await follow(server, await request(authorizeUrl(server, params), { jar }), jar);
  const form = loginForm(r.text);
  assert.ok(form, `sign-in form (HTTP ${r.status})`);
  return { r, form, jar, action: new URL(form.action, r.url).href };
}

async function consentPage() {
  const p = await loginPage();
  const r = await follow(server, await postForm(p.action, { ...p.form.fields, ...RESIDENT }, { jar: p.jar }), p.jar);
  const form = consentForm(r.text);
  assert.ok(form, `consent form (HTTP ${r.status})`);
  return { r, form, jar: p.jar, action: new URL(form.action, r.url).href };
}

function assertNoCode(r) {
  const loc = r.headers.get('location');
  assert.ok(!loc || !/[?&]code=/.test(loc), `no code: ${loc}`);
}

for (const [what, mutate] of [
  ['missing csrf_token', (f) => { delete f.csrf_token; }],
  ['wrong csrf_token', (f) => { f.csrf_token = 'A'.repeat(f.csrf_token.length || 43); }],
  ['empty csrf_token', (f) => { f.csrf_token = ''; }],
]) {
  test(`sign-in with ${what}: 403, not signed in`, async () => {
    const p = await loginPage();
    const fields = { ...p.form.fields, ...RESIDENT };
    mutate(fields);
    const r = await postForm(p.action, fields, { jar: p.jar });
    assert.equal(r.status, 403);
    assertNoCode(r);
    assert.ok(!consentForm(r.text));
  });

  test(`consent with ${what}: 403 and no code`, async () => {
    const c = await consentPage();
    const fields = { ...c.form.fields, decision: 'approve' };
    mutate(fields);
    const r = await postForm(c.action, fields, { jar: c.jar });
    assert.equal(r.status, 403);
    assertNoCode(r);
  });
}

test("a csrf_token from another browser's session is refused", async () => {
  const victim = await consentPage();
  const attacker = await consentPage();
  const fields = { ...victim.form.fields, csrf_token: attacker.form.fields.csrf_token, decision: 'approve' };
  const r = await postForm(victim.action, fields, { jar: victim.jar });
  assert.equal(r.status, 403);
  assertNoCode(r);
});

test('consent posted without the session cookie is refused', async () => {
  const c = await consentPage();
  const r = await postForm(c.action, { ...c.form.fields, decision: 'approve' });
  assert.ok([400, 401, 403].includes(r.status), `status ${r.status}`);
  assertNoCode(r);
});

test('a consent handle cannot be approved twice', async () => {
  const c = await consentPage();
  const first = await postForm(c.action, { ...c.form.fields, decision: 'approve' }, { jar: c.jar });
  assert.equal(first.status, 303);
  const second = await postForm(c.action, { ...c.form.fields, decision: 'approve' }, { jar: c.jar });
  assert.notEqual(second.status, 303);
  assertNoCode(second);
});

test('an unknown decision value does not approve', async () => {
  const c = await consentPage();
  const r = await postForm(c.action, { ...c.form.fields, decision: 'yes please' }, { jar: c.jar });
  assertNoCode(r);
});

test('pages forbid framing (RFC 9700 §4.16) and cookies are HttpOnly + SameSite', async () => {
  const p = await loginPage();
  for (const r of [p.r, (await consentPage()).r]) {
    assert.match(r.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    assert.equal((r.headers.get('x-frame-options') ?? '').toUpperCase(), 'DENY');
    assert.equal((r.headers.get('x-content-type-options') ?? '').toLowerCase(), 'nosniff');
    assert.ok(!/<script/i.test(r.text), 'no script on the pages');
  }
  const c = await consentPage();
  for (const [name] of c.jar.cookies) {
    const attrs = c.jar.attributes(name).map((a) => a.toLowerCase());
    assert.ok(attrs.includes('httponly'), `${name} HttpOnly`);
    assert.ok(attrs.some((a) => a.startsWith('samesite=')), `${name} SameSite`);
  }
});

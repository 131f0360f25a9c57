// RFC 9700 §4.1 redirect URI manipulation and §4.11 open redirection; §4.16 clickjacking.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { authorizeUrl, request } from '../support/harness.mjs';
import { authParams, makeClient, setup } from '../support/fixtures.mjs';

const REGISTERED = 'https://rp.example.test:8443/cb';
let server;
let client;
before(async () => {
  server = await setup();
  client = await makeClient(server, { redirectUris: [REGISTERED, 'http://127.0.0.1:53124/cb'] });
});
after(async () => { await server?.close(); });

function assertShownNotRedirected(r, what) {
  assert.equal(r.status, 400, `${what}: status ${r.status} location ${r.headers.get('location')}`);
  assert.equal(r.headers.get('location'), null, `${what}: no Location`);
  assert.match(r.headers.get('content-type') ?? '', /^text\/html/, what);
  assert.match(r.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/, what);
  assert.equal((r.headers.get('x-frame-options') ?? '').toUpperCase(), 'DENY', what);
  assert.ok(!r.text.includes('attacker.example.test'), `${what}: not linked to the bad URI`);
}

// RFC 9700 §4.1.3 / OAuth 2.1 §2.3.1: exact string matching, except the port of loopback
// redirect URIs (RFC 8252 §7.3), which is the only variation allowed.
for (const [what, uri] of [
  ['prefix', 'https://rp.example.test:8443/c'],
  ['suffix path', 'https://rp.example.test:8443/cb/extra'],
  ['suffix characters', 'https://rp.example.test:8443/cbx'],
  ['added query', 'https://rp.example.test:8443/cb?next=https://attacker.example.test'],
  ['trailing slash', 'https://rp.example.test:8443/cb/'],
  ['different port', 'https://rp.example.test:9443/cb'],
  ['default port', 'https://rp.example.test/cb'],
  ['path traversal', 'https://rp.example.test:8443/cb/../x'],
  ['encoded traversal', 'https://rp.example.test:8443/cb/%2e%2e/x'],
  ['fragment', 'https://rp.example.test:8443/cb#frag'],
  ['userinfo', 'https://rp.example.test:8443@attacker.example.test/cb'],
  ['other host', 'https://attacker.example.test/cb'],
  ['subdomain', 'https://rp.example.test.attacker.example.test:8443/cb'],
  ['scheme downgrade', 'http://rp.example.test:8443/cb'],
  ['upper-case host', 'https://RP.example.test:8443/cb'],
  ['javascript:', 'javascript:alert(1)'],
  ['loopback other path', 'http://127.0.0.1:53124/cbx'],
]) {
  test(`redirect_uri ${what} is shown as an error page, never redirected to`, async () => {
    const { params } = authParams(client, { redirect_uri: uri });
    assertShownNotRedirected(await request(authorizeUrl(server, params)), what);
  });
}

test('open redirect: unknown client with any redirect_uri is never redirected (RFC 9700 §4.11.1)', async () => {
  const { params } = authParams(client, { client_id: 'evil-client', redirect_uri: 'https://attacker.example.test/cb' });
  assertShownNotRedirected(await request(authorizeUrl(server, params)), 'unknown client');
});

test('open redirect: a bad redirect_uri with another error still is not redirected', async () => {
  const { params } = authParams(client, { redirect_uri: 'https://attacker.example.test/cb', scope: 'nope', response_type: 'token' });
  assertShownNotRedirected(await request(authorizeUrl(server, params)), 'bad scope and bad redirect');
});

test('the registered URI works (control)', async () => {
  const { params } = authParams(client, { redirect_uri: REGISTERED, prompt: 'none' });
  const r = await request(authorizeUrl(server, params));
  assert.ok([302, 303].includes(r.status), `status ${r.status}`);
  assert.ok(r.headers.get('location').startsWith(REGISTERED + '?'));
});

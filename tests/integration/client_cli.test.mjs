// `infobank client update`: the operator changes a registered client in place. What is given
// replaces that setting, the rest stays; a bad change is refused and changes nothing; the
// running server follows within its client cache's two seconds.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { authorizeUrl, request, waitFor } from '../support/harness.mjs';
import {
  authParams, getCode, getTokens, introspect, makeClient, RP_CB, setup, tokenRequest,
} from '../support/fixtures.mjs';

let server;
before(async () => { server = await setup(); });
after(async () => { await server?.close(); });

const show = (id) => server.cliJson(['client', 'show', id]);
const update = (id, args) => server.cli(['client', 'update', id, ...args]);

const ccToken = (client) =>
  tokenRequest(server, client, { grant_type: 'client_credentials', scope: 'data.read' });

test('new redirect URIs replace the old ones: the old one is refused, the new one works', async () => {
  const client = await makeClient(server);
  const before = show(client.client_id);
  const next = 'https://rp.example.test/cb-next';
  const r = update(client.client_id, ['--redirect-uri', next, '--redirect-uri', `${next}2`]);
  assert.equal(r.status, 0, r.stderr);
  const printed = JSON.parse(r.stdout);
  assert.deepEqual(printed.redirect_uris, [next, `${next}2`]);
  assert.equal(printed.client_secret, undefined, 'the secret stays the same and is not shown');
  // Everything not given stays as it was.
  const after = show(client.client_id);
  for (const k of ['client_name', 'grant_types', 'scope', 'token_endpoint_auth_method',
                   'id_token_signed_response_alg', 'created_at'])
    assert.deepEqual(after[k], before[k], k);

  // The old URI: an error shown to the person, never a redirect (once the cache has let go).
  await waitFor(async () => {
    const old = await request(authorizeUrl(server, authParams(client).params));
    return old.status === 400 && !old.headers.get('location');
  }, { what: 'the old redirect URI refused' });
  const moved = { ...client, redirectUri: next };
  const tokens = await getTokens(server, moved, { redirect_uri: next });
  assert.ok(tokens.body.access_token, 'the unchanged secret still authenticates the client');
});

test('--new-secret: the old secret stops working, the printed one works', async () => {
  const client = await makeClient(server, {
    grants: ['client_credentials'], redirectUris: [], scope: 'data.read',
  });
  assert.equal((await ccToken(client)).status, 200);
  const r = update(client.client_id, ['--new-secret']);
  assert.equal(r.status, 0, r.stderr);
  const secret = JSON.parse(r.stdout).client_secret;
  assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(secret, client.client_secret);
  await waitFor(async () => (await ccToken(client)).status === 401,
                { what: 'the old secret refused' });
  const old = await ccToken(client);
  assert.equal(old.json().error, 'invalid_client');
  const renewed = await ccToken({ ...client, client_secret: secret });
  assert.equal(renewed.status, 200, renewed.text);
});

test('a switch is turned on and off with =true and =false', async () => {
  const client = await makeClient(server);
  assert.equal(update(client.client_id, ['--require-par']).status, 0);
  assert.equal(show(client.client_id).require_pushed_authorization_requests, true);
  // Refused, shown (400) or redirected with invalid_request, once the cache has let go.
  await waitFor(async () => {
    const direct = await request(authorizeUrl(server, authParams(client).params));
    return direct.status === 400 || direct.location()?.searchParams.get('error') === 'invalid_request';
  }, { what: 'authorization without PAR refused' });
  assert.equal(update(client.client_id, ['--require-par=false', '--name', 'Renamed RP']).status, 0);
  const shown = show(client.client_id);
  assert.equal(shown.require_pushed_authorization_requests, false);
  assert.equal(shown.client_name, 'Renamed RP');
});

test('a client that starts to use a secret gets one; one that stops, loses it', async () => {
  const client = await makeClient(server, { auth: 'none' });
  const r = update(client.client_id, ['--auth-method', 'client_secret_post']);
  assert.equal(r.status, 0, r.stderr);
  const secret = JSON.parse(r.stdout).client_secret;
  assert.ok(secret, 'the new secret is printed once');
  const confidential = { ...client, auth: 'client_secret_post', client_secret: secret };
  const tokens = await getTokens(server, confidential);
  assert.ok(tokens.body.access_token);

  const back = update(client.client_id, ['--auth-method', 'none']);
  assert.equal(back.status, 0, back.stderr);
  assert.equal(JSON.parse(back.stdout).client_secret, undefined);
  // A public client has no secret to renew.
  const refused = update(client.client_id, ['--new-secret']);
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /invalid_client_metadata/);
});

test('--jwks-file "" removes the keys, unless the client authenticates with them', async () => {
  const keyed = await makeClient(server, { auth: 'private_key_jwt' });
  assert.ok(show(keyed.client_id).jwks, 'registered with keys');
  const refused = update(keyed.client_id, ['--jwks-file', '']);
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /private_key_jwt needs a jwks/);
  assert.ok(show(keyed.client_id).jwks, 'still there');
  const moved = update(keyed.client_id, ['--auth-method', 'client_secret_basic', '--jwks-file', '']);
  assert.equal(moved.status, 0, moved.stderr);
  assert.equal(show(keyed.client_id).jwks, undefined);
  assert.ok(JSON.parse(moved.stdout).client_secret, 'a secret for the secret method');
});

test('a bad change is refused with the registration error and changes nothing', async () => {
  const client = await makeClient(server);
  const before = show(client.client_id);
  const cases = [
    [['--redirect-uri', 'https://rp.example.test/cb#fragment'], /invalid_redirect_uri/],
    [['--redirect-uri', 'not a uri'], /invalid_redirect_uri/],
    [['--auth-method', 'private_key_jwt'], /invalid_client_metadata: private_key_jwt needs a jwks/],
    [['--grant-type', 'password'], /invalid_client_metadata: unsupported grant type/],
    [['--subject-type', 'secret'], /invalid_client_metadata/],
    [['--tls-client-auth-san-dns', 'rp.example.test'], /invalid_client_metadata/],
    [['--id-token-signed-response-alg', 'HS256'], /HS256/],
  ];
  for (const [args, message] of cases) {
    const r = update(client.client_id, args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, message, args.join(' '));
    assert.deepEqual(show(client.client_id), before, `${args.join(' ')} changed nothing`);
  }
  const unknown = update('no-such-client', ['--name', 'x']);
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /no such client/);
  // The client still works as before.
  const tokens = await getTokens(server, client, { redirect_uri: RP_CB });
  assert.ok(tokens.body.access_token);
});

test('client revoke-tokens: what was issued to the client stops working; the client and its grant stay', async () => {
  const client = await makeClient(server);
  const other = await makeClient(server);
  const issued = await getTokens(server, client, { redirect_uri: RP_CB });
  const { access_token: access, refresh_token: refresh } = issued.body;
  assert.ok(refresh, 'offline_access gives a refresh token');
  const unredeemed = await getCode(server, client);
  const kept = (await getTokens(server, other, { redirect_uri: RP_CB })).body.access_token;
  assert.equal((await introspect(server, client, access)).active, true);
  const revocations = () => server.cli(['audit', 'export']).stdout.split('\n')
    .filter((line) => line.includes('"action":"client.tokens_revoked"')).length;
  const auditBefore = revocations();

  const r = server.cli(['client', 'revoke-tokens', client.client_id]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { access_tokens: 1, refresh_tokens: 1, codes: 1 });

  await waitFor(async () => (await introspect(server, client, access)).active === false,
                { what: 'the access token inactive' });
  assert.equal((await introspect(server, client, refresh, 'refresh_token')).active, false);
  const refreshed = await tokenRequest(server, client,
    { grant_type: 'refresh_token', refresh_token: refresh });
  assert.equal(refreshed.status, 400);
  assert.equal(refreshed.json().error, 'invalid_grant');
  const redeemed = await tokenRequest(server, client, {
    grant_type: 'authorization_code', code: unredeemed.code,
    redirect_uri: unredeemed.params.redirect_uri, code_verifier: unredeemed.verifier,
  });
  assert.equal(redeemed.status, 400);
  assert.equal(redeemed.json().error, 'invalid_grant');
  assert.equal((await introspect(server, other, kept)).active, true, "another client's token");
  assert.equal(revocations(), auditBefore + 1, 'one audit entry');

  // The client still works, and its grant stands: no consent page on the way to a new code.
  const again = await getTokens(server, client, { redirect_uri: RP_CB });
  assert.ok(again.body.access_token);
  assert.ok(!again.flow.trail.some((step) => /consent/.test(step)), again.flow.trail.join(','));

  const unknown = server.cli(['client', 'revoke-tokens', 'no-such-client']);
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /no such client/);
});

// Common set-ups on top of the harness: a running server with a resident, clients of each
// authentication method, and the authorization code + PKCE flow up to the tokens.

import {
  authorizeFlow, basicAuth, pkcePair, postForm, randomToken, startInfobank,
} from './harness.mjs';
import { ASSERTION_TYPE, clientAssertion, generateKey, writeJwks } from './jose.mjs';

export const RP_CB = 'https://rp.example.test/cb';
export const RESIDENT = { username: 'alice', password: 'correct horse battery staple' };
export const SCOPES = 'openid profile email offline_access';

/** A running server with one resident (alice). */
export async function setup(opts = {}) {
  const server = await startInfobank(opts);
  server.resident = server.addResident(RESIDENT.username, RESIDENT.password,
    ['--name', 'Alice Example', '--email', 'alice@example.test']);
  return server;
}

/**
 * Registers a client through the CLI; the returned object carries what tokenRequest() needs.
 * auth: client_secret_basic | client_secret_post | private_key_jwt | none
 */
export async function makeClient(server, {
  auth = 'client_secret_basic', redirectUris = [RP_CB],
  grants = ['authorization_code', 'refresh_token'], scope = SCOPES, extra = [], name,
} = {}) {
  const args = ['--name', name ?? `test ${auth} ${randomToken(4)}`, '--auth-method', auth];
  for (const r of redirectUris) args.push('--redirect-uri', r);
  for (const g of grants) args.push('--grant-type', g);
  if (scope) args.push('--scope', scope);
  let key;
  if (auth === 'private_key_jwt') {
    key = await generateKey();
    args.push('--jwks-file', writeJwks(server.dir, key, `jwks-${randomToken(4)}.json`));
  }
  const out = server.addClient([...args, ...extra]);
  return { ...out, auth, key, redirectUri: redirectUris[0] };
}

/** Adds the client authentication of `client` to a token-endpoint style request. */
export async function clientAuth(server, client, fields, headers = {}) {
  const f = { ...fields };
  const h = { ...headers };
  switch (client.auth) {
    case 'client_secret_basic':
      h.authorization = basicAuth(client.client_id, client.client_secret);
      break;
    case 'client_secret_post':
      f.client_id = client.client_id;
      f.client_secret = client.client_secret;
      break;
    case 'private_key_jwt': {
      const md = await server.metadata();
      f.client_id = client.client_id;
      f.client_assertion_type = ASSERTION_TYPE;
      f.client_assertion = await clientAssertion(client.key, { clientId: client.client_id, audience: md.issuer });
      break;
    }
    default:
      f.client_id = client.client_id;
  }
  return { fields: f, headers: h };
}

/** POST to an endpoint path with the client's authentication. */
export async function clientPost(server, client, endpointPath, fields, headers = {}) {
  const a = await clientAuth(server, client, fields, headers);
  return postForm(server.url(endpointPath), a.fields, { headers: a.headers });
}

export function tokenRequest(server, client, fields, headers = {}) {
  return clientPost(server, client, '/token', fields, headers);
}

/** Standard authorization request parameters for `client`. */
export function authParams(client, overrides = {}) {
  const pkce = pkcePair();
  const params = {
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: client.redirectUri,
    scope: SCOPES,
    state: randomToken(),
    nonce: randomToken(),
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
    ...overrides,
  };
  return { params, pkce };
}

/** Runs the flow as alice and approves; returns {code, verifier, params, flow}. */
export async function getCode(server, client, overrides = {}, flowOpts = {}) {
  const { params, pkce } = authParams(client, overrides);
  const flow = await authorizeFlow(server, { params, ...RESIDENT, ...flowOpts });
  const code = flow.params.get('code');
  if (!code) {
    throw new Error(`no code: HTTP ${flow.response.status} ${flow.location ?? ''} ` +
                    `trail=${flow.trail.join(',')}\n${flow.response.text.slice(0, 500)}`);
  }
  return { code, verifier: pkce.verifier, params, flow };
}

/** Code → tokens; returns {body, response, code, params}. Throws unless 200. */
export async function getTokens(server, client, overrides = {}, headers = {}) {
  const c = await getCode(server, client, overrides);
  const r = await tokenRequest(server, client, {
    grant_type: 'authorization_code', code: c.code, redirect_uri: c.params.redirect_uri,
    code_verifier: c.verifier,
  }, headers);
  if (r.status !== 200) throw new Error(`token: HTTP ${r.status} ${r.text}`);
  return { body: r.json(), response: r, ...c };
}

export async function jwks(server) {
  const md = await server.metadata();
  const r = await fetch(md.jwks_uri);
  return r.json();
}

/** Introspects `token` as `client` (RFC 7662). */
/** A counter's value in the server's /metrics (Prometheus text), 0 while it was never counted. */
export async function metricCounter(server, name) {
  const m = await server.get('/metrics');
  const found = m.text.match(new RegExp(`^${name} (\\d+)$`, 'm'));
  return found ? Number(found[1]) : 0;
}

export async function introspect(server, client, token, hint) {
  const md = await server.metadata();
  const path = new URL(md.introspection_endpoint).pathname;
  const r = await clientPost(server, client, path, { token, token_type_hint: hint });
  if (r.status !== 200) throw new Error(`introspect: HTTP ${r.status} ${r.text}`);
  return r.json();
}

// A small demo relying party for infobank: plain Node (built-ins only).
//
//   node deploy/demo-rp/server.mjs var/demo-rp.json
//
// The JSON file holds {issuer, client_id, client_secret, redirect_uri, listen_port?}.
// GET /          a page with a "Sign in with infobank" button
// GET /login     starts authorization code + PKCE S256 with state and nonce
// GET /callback  checks state and iss (RFC 9207), exchanges the code at the token endpoint
//                with client_secret_basic, verifies the ID token and shows what came back,
//                with a link that signs out at infobank (RP-Initiated Logout, id_token_hint)
// GET /signed-out where infobank sends the browser back after signing out (the client's
//                registered post_logout_redirect_uri)
import { createHash, createPublicKey, randomBytes, timingSafeEqual, verify } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';

const configPath = process.argv[2] ?? process.env.DEMO_RP_CONFIG ?? 'var/demo-rp.json';
const config = JSON.parse(fs.readFileSync(configPath, 'utf8'));
const port = Number(process.env.DEMO_RP_PORT ?? config.listen_port ?? 8081);
const address = process.env.DEMO_RP_ADDRESS ?? '127.0.0.1';
const SCOPE = 'openid profile offline_access';
const SIGNED_OUT = new URL('/signed-out', config.redirect_uri).href;

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const random = () => b64url(randomBytes(32));
const transactions = new Map();  // cookie value -> {state, nonce, verifier, created}
const TX_TTL_MS = 10 * 60 * 1000;

let metadataCache;
async function metadata() {
  if (!metadataCache) {
    const r = await fetch(new URL('/.well-known/openid-configuration', config.issuer));
    if (r.status !== 200) throw new Error(`discovery: HTTP ${r.status}`);
    const md = await r.json();
    if (md.issuer !== config.issuer) throw new Error(`discovery: issuer ${md.issuer} != ${config.issuer}`);
    metadataCache = md;
  }
  return metadataCache;
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

function page(res, status, title, body, headers = {}) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    ...headers,
  });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}
a.button{display:inline-block;padding:.7rem 1.2rem;background:#1f5fbf;color:#fff;border-radius:.4rem;text-decoration:none}
pre{background:#f4f4f4;padding:1rem;overflow:auto}</style></head>
<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`);
}

function cookies(req) {
  const out = {};
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

function safeEqual(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && timingSafeEqual(x, y);
}

function decodeJwt(jwt) {
  const [h, p, s] = String(jwt).split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url')),
    payload: JSON.parse(Buffer.from(p, 'base64url')),
    input: `${h}.${p}`,
    signature: Buffer.from(s ?? '', 'base64url'),
  };
}

async function verifyJwt(jwt) {
  const md = await metadata();
  const d = decodeJwt(jwt);
  // RS256, the default of id_token_signed_response_alg that this client was registered with,
  // or ES256 (what a client registered before infobank offered RS256 still gets).
  if (d.header.alg !== 'RS256' && d.header.alg !== 'ES256') throw new Error(`unexpected alg ${d.header.alg}`);
  const jwks = await (await fetch(md.jwks_uri)).json();
  const jwk = jwks.keys.find((k) => k.kid === d.header.kid);
  if (!jwk) throw new Error(`unknown kid ${d.header.kid}`);
  if (jwk.alg !== d.header.alg) throw new Error(`the key of kid ${d.header.kid} is for ${jwk.alg}`);
  const rsa = d.header.alg === 'RS256';
  const key = createPublicKey({
    key: rsa ? { kty: jwk.kty, n: jwk.n, e: jwk.e } : { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y },
    format: 'jwk',
  });
  const options = rsa ? { key } : { key, dsaEncoding: 'ieee-p1363' };
  if (!verify('sha256', Buffer.from(d.input), options, d.signature)) throw new Error('bad signature');
  return d;
}

async function startLogin(res) {
  const md = await metadata();
  const tx = { state: random(), nonce: random(), verifier: random(), created: Date.now() };
  const id = random();
  transactions.set(id, tx);
  const url = new URL(md.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code', client_id: config.client_id, redirect_uri: config.redirect_uri, scope: SCOPE,
    state: tx.state, nonce: tx.nonce,
    code_challenge: b64url(createHash('sha256').update(tx.verifier).digest()), code_challenge_method: 'S256',
  }).toString();
  res.writeHead(302, {
    location: url.href,
    'set-cookie': `rp_tx=${id}; Path=/; HttpOnly; SameSite=Lax; Max-Age=600`,
    'cache-control': 'no-store',
  });
  res.end();
}

async function callback(req, res, url) {
  const md = await metadata();
  const id = cookies(req).rp_tx;
  const tx = id && transactions.get(id);
  if (id) transactions.delete(id);
  const clear = { 'set-cookie': 'rp_tx=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0' };
  const q = url.searchParams;
  if (!tx || Date.now() - tx.created > TX_TTL_MS || !safeEqual(q.get('state') ?? '', tx.state)) {
    return page(res, 400, 'State mismatch', '<p>This response does not belong to a sign-in started here (CSRF defence, RFC 6749 §10.12).</p><p><a href="/">Back</a></p>', clear);
  }
  // RFC 9207: the response must name the issuer we sent the request to (mix-up defence).
  if (q.get('iss') !== md.issuer) {
    return page(res, 400, 'Issuer mismatch', `<p>iss was ${escapeHtml(q.get('iss') ?? '(missing)')}, expected ${escapeHtml(md.issuer)}.</p>`, clear);
  }
  if (q.get('error')) {
    return page(res, 200, 'Sign-in not completed', `<p>error: <code>${escapeHtml(q.get('error'))}</code> ${escapeHtml(q.get('error_description') ?? '')}</p><p><a href="/">Back</a></p>`, clear);
  }
  const basic = Buffer.from(`${encodeURIComponent(config.client_id)}:${encodeURIComponent(config.client_secret)}`).toString('base64');
  const tr = await fetch(md.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}` },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: q.get('code') ?? '',
                                redirect_uri: config.redirect_uri, code_verifier: tx.verifier }).toString(),
  });
  const tokens = await tr.json().catch(() => ({}));
  if (tr.status !== 200) {
    return page(res, 502, 'Token request failed', `<pre>${escapeHtml(JSON.stringify(tokens, null, 2))}</pre>`, clear);
  }
  const checks = [];
  let idClaims = {};
  try {
    const d = await verifyJwt(tokens.id_token);
    idClaims = d.payload;
    const now = Date.now() / 1000;
    checks.push([`signature (${d.header.alg}, from jwks_uri)`, true]);
    checks.push(['iss', idClaims.iss === md.issuer]);
    checks.push(['aud', [].concat(idClaims.aud).includes(config.client_id)]);
    checks.push(['nonce', idClaims.nonce === tx.nonce]);
    checks.push(['exp', idClaims.exp > now]);
  } catch (e) {
    checks.push([`ID token: ${e.message}`, false]);
  }
  let atClaims = {};
  try {
    const d = await verifyJwt(tokens.access_token);
    atClaims = { header: d.header, payload: d.payload };
  } catch (e) {
    atClaims = { error: e.message };
  }
  let userinfo;
  try {
    const ur = await fetch(md.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    userinfo = { status: ur.status, body: await ur.json().catch(() => null) };
  } catch (e) {
    userinfo = { error: e.message };
  }
  const summary = {
    token_type: tokens.token_type, expires_in: tokens.expires_in, scope: tokens.scope,
    refresh_token: tokens.refresh_token ? `${tokens.refresh_token.slice(0, 8)}… (received)` : '(none)',
  };
  const ok = checks.every(([, v]) => v);
  const logout = new URL(md.end_session_endpoint);
  logout.search = new URLSearchParams({
    id_token_hint: tokens.id_token ?? '', post_logout_redirect_uri: SIGNED_OUT, state: random(),
  }).toString();
  return page(res, 200, ok ? 'Signed in with infobank' : 'Signed in, but a check failed', `
<p>Hello, <strong>${escapeHtml(userinfo?.body?.name ?? idClaims.sub ?? '?')}</strong>.</p>
<h2>ID token checks</h2><ul>${checks.map(([k, v]) => `<li>${v ? '✔' : '✘'} ${escapeHtml(k)}</li>`).join('')}</ul>
<h2>Token response</h2><pre>${escapeHtml(JSON.stringify(summary, null, 2))}</pre>
<h2>ID token claims</h2><pre>${escapeHtml(JSON.stringify(idClaims, null, 2))}</pre>
<h2>Access token (RFC 9068 JWT)</h2><pre>${escapeHtml(JSON.stringify(atClaims, null, 2))}</pre>
<h2>UserInfo</h2><pre>${escapeHtml(JSON.stringify(userinfo, null, 2))}</pre>
<p><a href="/">Start again</a> · <a href="${escapeHtml(logout.href)}">Sign out at infobank</a></p>`, clear);
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, `http://${req.headers.host ?? 'localhost'}`);
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' });
      return res.end();
    }
    if (url.pathname === '/') {
      return page(res, 200, 'Demo relying party', `
<p>This is a demo service that asks infobank to sign you in (authorization code + PKCE, scope <code>${SCOPE}</code>).</p>
<p><a class="button" href="/login">Sign in with infobank</a></p>
<p>Demo resident: <code>demo</code> / <code>demo-password</code></p>`);
    }
    if (url.pathname === '/login') return await startLogin(res);
    if (url.pathname === '/callback') return await callback(req, res, url);
    if (url.pathname === '/signed-out') {
      return page(res, 200, 'Signed out', '<p>infobank signed you out and sent you back here.</p><p><a href="/">Start again</a></p>');
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  } catch (e) {
    page(res, 500, 'Error', `<pre>${escapeHtml(e.message)}</pre>`);
  }
});

setInterval(() => {
  for (const [k, v] of transactions) if (Date.now() - v.created > TX_TTL_MS) transactions.delete(k);
}, 60_000).unref();

server.listen(port, address, () => {
  console.log(`demo RP listening on http://${address}:${port} (issuer ${config.issuer})`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { server.close(() => process.exit(0)); server.closeAllConnections(); });

// What the end-to-end OAuth client tests share (tests/e2e/*.e2e.mjs, started by run.mjs): the
// relying party's loopback callback server, the options that make Debian's Chromium trust exactly
// the test server, and the resident's part of an authorization (sign-in and consent pages) in
// that browser. playwright-core itself is installed under tests/e2e, out of this directory's
// module resolution, so the test files launch the browser with these options.
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';

import { startInfobank } from './harness.mjs';

/** A variable run.mjs sets (the test CA's files); a clear error when the file was run alone. */
export function requireEnv(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: start this file through run.mjs`);
  return v;
}

/**
 * The relying party's redirect_uri (/cb), post_logout_redirect_uri (/bye) and front-channel
 * logout page (/front-logout): a loopback HTTP server that records each hit of /cb and of
 * /front-logout. /hop is a callback that redirects on to another origin (/landed on localhost),
 * as many clients do after sign-in; `landed` records the arrivals. A form posted to /cb
 * (response_mode form_post) is also recorded in `posts` as {method, url, body}, which
 * openid-client's callbackParams reads like a request.
 */
export function startCallbackServer() {
  return new Promise((resolve) => {
    const hits = [];
    const frontHits = [];
    const posts = [];
    const landed = [];
    const srv = http.createServer(async (req, res) => {
      const url = new URL(req.url, `http://${req.headers.host}`);
      let body = '';
      for await (const chunk of req) body += chunk;
      if (url.pathname === '/front-logout') frontHits.push(url);
      if (url.pathname === '/hop') {
        // A client whose callback sends the browser on to another of its origins (localhost
        // for 127.0.0.1), where /landed records the arrival.
        res.writeHead(302, { location: `http://localhost:${srv.address().port}/landed${url.search}` });
        res.end();
        return;
      }
      if (url.pathname === '/landed') landed.push(url);
      if (url.pathname === '/cb') {
        if (req.method === 'POST') posts.push({ method: 'POST', url: req.url, body });
        hits.push(url);
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>callback</title><p>callback received</p>');
    });
    srv.listen(0, '127.0.0.1', () => {
      const base = `http://127.0.0.1:${srv.address().port}`;
      resolve({
        redirectUri: `${base}/cb`,
        byeUri: `${base}/bye`,
        frontLogoutUri: `${base}/front-logout`,
        hits,
        frontHits,
        posts,
        hopUri: `${base}/hop`,
        landed,
        close: () => new Promise((r) => srv.close(r)),
      });
    });
  });
}

/**
 * playwright-core's launch options for Debian's headless Chromium. With `spki` (run.mjs's
 * INFOBANK_TEST_SPKI) it trusts the test server's certificate and no other.
 */
export function chromiumOptions({ spki } = {}) {
  const args = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
  ];
  if (spki) {
    // No ignoreHTTPSErrors: Chromium must trust exactly our test server. Chromium verifies
    // with NSS and its own stores, not NODE_EXTRA_CA_CERTS, and importing a CA into an NSS
    // database needs certutil and a profile; --ignore-certificate-errors-spki-list instead
    // accepts only a chain containing this one public key (base64 SHA-256 of the server
    // certificate's SubjectPublicKeyInfo), so any other certificate still fails.
    args.push(`--ignore-certificate-errors-spki-list=${spki}`,
      // The redirect_uri is loopback HTTP (RFC 8252 §7.3); keep Chromium from upgrading it.
      '--disable-features=HttpsUpgrades');
  }
  return { executablePath: process.env.INFOBANK_CHROMIUM || '/usr/bin/chromium', args };
}

/**
 * Drives the resident's part in Chromium: from the authorization URL through the sign-in and
 * consent pages (either may be skipped by the server: a live session, a grant already given)
 * until the browser reaches the callback's redirect_uri. Returns the callback URL as the
 * callback server received it.
 */
export async function authorizeInBrowser(page, callback, authorizationUrl, {
  resident, decision = 'approve', screenshot = 'consent.png', doubleClick = false,
}) {
  const seen = callback.hits.length;
  await page.goto(String(authorizationUrl));
  for (let step = 0; step < 6; step++) {
    await page.waitForLoadState('load');
    if (page.url().startsWith(callback.redirectUri)) break;
    if (await page.locator('input[name=password]').count()) {
      await page.fill('input[name=username]', resident.username);
      await page.fill('input[name=password]', resident.password);
      await page.locator('form:has(input[name=password]) [type=submit]').first().click();
    } else if (await page.locator('button[name=decision]').count()) {
      if (process.env.INFOBANK_E2E_SCREENSHOTS) {
        await page.screenshot({ path: path.join(process.env.INFOBANK_E2E_SCREENSHOTS, screenshot), fullPage: true });
      }
      const button = page.locator(`button[name=decision][value=${decision}]`);
      // A resident who double-clicks sends the form twice; the browser shows the second answer.
      await (doubleClick ? button.dblclick() : button.click());
    } else {
      // Another page on the way, such as form_post's, which submits itself to the callback.
      const reached = await page.waitForURL((u) => u.href.startsWith(callback.redirectUri),
        { timeout: 15_000 }).then(() => true, () => false);
      if (!reached) {
        throw new Error(`unexpected page at ${page.url()}:\n${(await page.content()).slice(0, 1000)}`);
      }
      break;
    }
  }
  await page.waitForURL((u) => u.href.startsWith(callback.redirectUri), { timeout: 15_000 });
  assert.ok(callback.hits.length > seen, 'the callback server received the redirect');
  return callback.hits[callback.hits.length - 1];
}

/**
 * What every client test starts from: infobank over TLS with the test CA's certificate, the
 * resident `resident` ({username, password}) added with `residentArgs`, the callback server,
 * and a page in Chromium launched through `chromium` (playwright-core's, which the test file
 * imports). Returns {server, residentSub, callback, browser, page}; closeStage ends them.
 */
export async function startStage(chromium, resident, residentArgs) {
  const server = await startInfobank({
    tls: { cert: requireEnv('INFOBANK_TEST_CERT'), key: requireEnv('INFOBANK_TEST_KEY') },
  });
  assert.ok(server.base.startsWith('https://'));
  const residentSub = server.addResident(resident.username, resident.password, residentArgs).sub;
  const callback = await startCallbackServer();
  const browser = await chromium.launch(chromiumOptions({ spki: requireEnv('INFOBANK_TEST_SPKI') }));
  const page = await browser.newPage();
  return { server, residentSub, callback, browser, page };
}

/**
 * Runs `fn({ server, context })` against an infobank of its own (startInfobank's `opts`, on the
 * stage's TLS certificate unless `opts.tls` says more; `opts.residentArgs` for `resident add`)
 * with `resident` added and a browser context of its own: cookies are per host, not per port,
 * so its session cookie must not replace the stage server's. Both end after, whatever happens.
 */
export async function withOwnServer(browser, resident, opts, fn) {
  const { residentArgs = [], ...serverOpts } = opts;
  const server = await startInfobank({
    ...serverOpts,
    tls: { cert: requireEnv('INFOBANK_TEST_CERT'), key: requireEnv('INFOBANK_TEST_KEY'), ...serverOpts.tls },
  });
  let context;
  try {
    context = await browser.newContext();
    server.addResident(resident.username, resident.password, residentArgs);
    return await fn({ server, context });
  } finally {
    await context?.close();
    await server.close();
  }
}

/** Ends what startStage started (any part of it may be missing after a failed start). */
export async function closeStage({ server, callback, browser } = {}) {
  await browser?.close();
  await callback?.close();
  await server?.close();
}

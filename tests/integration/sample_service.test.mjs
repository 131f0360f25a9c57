// The sample third-party service (server/sample_service) and the portability API it speaks
// (docs/portability-api.md, docs/openapi/portability.yaml): seeding from the shared samples,
// datasets, paged export with stable cursors, idempotent import, verify digests, delete of
// exactly what a transfer exported, `dump`, RFC 6750 / RFC 9068 token checks, transport
// limits, and each fault-injection flag. The test plays the authorization server itself
// (TestIssuer), since the broker is not part of this test.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { makeTempDir } from '../support/harness.mjs';
import { generateKey, now } from '../support/jose.mjs';
import {
  API, SAMPLES_DIR, SampleService, digestOf, startTestIssuer,
} from '../support/services.mjs';

const ALICE = 'alice';
const BOB = 'bob';
const BLOG_SAMPLE = path.join(SAMPLES_DIR, 'blogger-export.xml');
const ALL_SCOPES = 'portability.export portability.import portability.delete';

let issuer;
const services = [];
before(async () => { issuer = await startTestIssuer(); });
after(async () => {
  for (const s of services) await s.close();
  await issuer?.close();
});

async function service(opts) {
  const s = new SampleService({ issuer: issuer.issuer, ...opts });
  services.push(s);
  return s.start();
}

function tokenFor(svc, { sub = ALICE, scope = ALL_SCOPES, transfer = 'none', ...rest } = {}) {
  return issuer.token({ audience: svc.audience, sub, scope, transfer, ...rest });
}

async function datasets(svc, token) {
  const r = await svc.call(`${API}/datasets`, { token });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  return r.json().datasets;
}

function importPage(svc, token, transfer, body, { key = randomUUID(), type } = {}) {
  return svc.call(`${API}/datasets/${svc.dataset}/import?transfer=${encodeURIComponent(transfer)}`, {
    method: 'POST', token, body,
    headers: { 'content-type': type ?? svc.mediaType, ...(key ? { 'idempotency-key': key } : {}) },
  });
}

/** A blogger-atom source seeded with the sample blog for alice, and its media type. */
async function blogSource(extra = {}) {
  const svc = await service({ format: 'blogger-atom', seed: BLOG_SAMPLE, resident: ALICE, ...extra });
  svc.mediaType = (await datasets(svc, await tokenFor(svc)))[0].media_type;
  return svc;
}

async function blogDestination(extra = {}) {
  const svc = await service({ format: 'blogger-atom', ...extra });
  svc.mediaType = (await datasets(svc, await tokenFor(svc)))[0].media_type;
  return svc;
}

/** Raw GET that reports how many body bytes arrived against the announced Content-Length. */
function rawGet(url, headers) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      let received = 0;
      let ended = false;
      res.on('data', (d) => { received += d.length; });
      res.on('end', () => { ended = true; });
      res.on('error', () => {});
      res.on('close', () => resolve({
        status: res.statusCode, headers: res.headers, received,
        complete: ended && res.complete,
        contentLength: Number(res.headers['content-length']),
      }));
    });
    req.on('error', reject);
  });
}

// ---------------------------------------------------------------------------------------------

describe('seeding and datasets', () => {
  const SAMPLES = [
    // [format, file, items the sample holds (null: whatever the adapter reads, at least one)]
    ['blogger-atom', 'blogger-export.xml', 3],  // posts only: settings and comments are skipped
    ['icalendar', 'calendar-example.ics', 3],
    ['takeout-records', 'location-records.json', 3],
    ['apple-health', 'apple-health-export.xml', null],
    ['dtp-social-post', 'dtp-social-post-example.json', null],
  ];
  for (const [format, file, expected] of SAMPLES) {
    test(`${format}: the seed ${file} is the resident's dataset; dump agrees with datasets`, async () => {
      const svc = await service({ format, seed: path.join(SAMPLES_DIR, file), resident: ALICE });
      const [d] = await datasets(svc, await tokenFor(svc, { scope: 'portability.export' }));
      const lines = svc.dump(ALICE);
      assert.equal(d.name, svc.dataset);
      assert.equal(d.format, format);
      assert.ok(d.media_type.length > 0);
      assert.ok(lines.length >= 1, 'the sample holds at least one item');
      if (expected !== null) assert.equal(lines.length, expected);
      assert.equal(d.count, lines.length);
      assert.ok(d.bytes > 0);
      for (const line of lines) {
        // canonical(): a JSON object, keys sorted, no insignificant whitespace.
        const item = JSON.parse(line);
        assert.equal(typeof item, 'object');
        assert.deepEqual(Object.keys(item), Object.keys(item).sort());
        assert.doesNotMatch(line, /^\s|\s$|": |, "/);
      }
      await svc.stop();
    });
  }

  test('datasets are per resident (the token\'s sub); a restart does not seed twice', async () => {
    const svc = await blogSource();
    assert.equal((await datasets(svc, await tokenFor(svc, { sub: BOB })))[0].count, 0);
    assert.equal((await datasets(svc, await tokenFor(svc, { scope: 'portability.import' })))[0].count, 3);
    const before = svc.dump(ALICE);
    await svc.stop();
    await svc.start();
    assert.equal((await datasets(svc, await tokenFor(svc)))[0].count, 3);
    assert.deepEqual(svc.dump(ALICE), before);
    assert.deepEqual(svc.dump(BOB), []);
  });

  test('--help works and an unknown format is refused', async () => {
    const { spawnSync } = await import('node:child_process');
    const bin = process.env.INFOBANK_SAMPLE_SERVICE_BIN;
    const help = spawnSync(bin, ['serve', '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--fail-rate/);
    assert.match(help.stdout, /--unauthorized-once/);
    assert.match(help.stdout, /--miscount-item/);
    const dir = makeTempDir('sample-service-');
    const bad = spawnSync(bin, ['serve', '--format', 'no-such-format', '--db', path.join(dir, 'x.db'),
                                '--issuer', issuer.issuer], { encoding: 'utf8', timeout: 10_000 });
    fs.rmSync(dir, { recursive: true, force: true });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /unknown format/);
  });
});

describe('export, import, verify, delete', () => {
  test('an empty dataset exports one page that counts 0 items, with no next cursor', async () => {
    const svc = await blogDestination();  // alice holds nothing here
    const t = `tr-${randomUUID()}`;
    const token = await tokenFor(svc, { transfer: t, scope: 'portability.export' });
    const pages = await svc.exportAll(token, t);
    assert.equal(pages.length, 1);
    assert.equal(pages[0].headers.get('portability-item-count'), '0');
    assert.equal(pages[0].headers.get('portability-next-cursor'), null);
  });

  test('export pages follow the cursor, are stable when asked again, and cover every item once', async () => {
    const src = await blogSource();
    const t = `tr-${randomUUID()}`;
    const token = await tokenFor(src, { transfer: t, scope: 'portability.export' });
    const pages = await src.exportAll(token, t, { limit: 2 });
    assert.deepEqual(pages.map((p) => p.headers.get('portability-item-count')), ['2', '1']);
    assert.equal(pages[1].headers.get('portability-next-cursor'), null, 'no cursor after the last page');
    assert.equal(pages[0].headers.get('content-type'), src.mediaType);
    // The same cursor again: the same items (a broker that crashed asks again).
    const cursor = pages[0].headers.get('portability-next-cursor');
    const again = await src.call(`${API}/datasets/blog_posts/export?transfer=${t}&cursor=${encodeURIComponent(cursor)}&limit=2`, { token });
    assert.equal(again.status, 200);
    assert.equal(again.text, pages[1].text);
    const first = await src.call(`${API}/datasets/blog_posts/export?transfer=${t}&limit=2`, { token });
    assert.equal(first.text, pages[0].text);
    // limit bounds and a forged cursor.
    for (const q of ['limit=0', 'limit=1001', 'limit=x', 'cursor=zzz']) {
      const r = await src.call(`${API}/datasets/blog_posts/export?transfer=${t}&${q}`, { token });
      assert.equal(r.status, 400, q);
      assert.equal(r.json().error, 'invalid_request');
    }
    const noTransfer = await src.call(`${API}/datasets/blog_posts/export`, { token });
    assert.equal(noTransfer.status, 400);
    const otherDataset = await src.call(`${API}/datasets/calendar_events/export?transfer=${t}`, { token });
    assert.equal(otherDataset.status, 404);

    // Every page into a destination: same items, same order, nothing twice.
    const dst = await blogDestination();
    const dtoken = await tokenFor(dst, { transfer: t, scope: 'portability.import' });
    let imported = 0;
    for (const p of pages) {
      const r = await importPage(dst, dtoken, t, p.text);
      assert.equal(r.status, 201, r.text);
      assert.equal(r.json().imported, Number(p.headers.get('portability-item-count')));
      assert.equal(r.json().ids.length, r.json().imported);
      imported += r.json().imported;
    }
    assert.equal(imported, 3);
    assert.deepEqual(dst.dump(ALICE), src.dump(ALICE));
  });

  test('verify: count and digest of what the transfer imported equal the source\'s', async () => {
    const src = await blogSource();
    const dst = await blogDestination();
    const t = `tr-${randomUUID()}`;
    const stoken = await tokenFor(src, { transfer: t });
    const dtoken = await tokenFor(dst, { transfer: t });
    // Something else at the destination first: verify must count only this transfer.
    const other = `tr-${randomUUID()}`;
    const [firstPage] = await src.exportAll(await tokenFor(src, { transfer: other }), other, { limit: 1 });
    assert.equal((await importPage(dst, await tokenFor(dst, { transfer: other }), other, firstPage.text)).status, 201);

    for (const p of await src.exportAll(stoken, t, { limit: 1 })) {
      assert.equal((await importPage(dst, dtoken, t, p.text)).status, 201);
    }
    const v = await dst.call(`${API}/transfers/${t}/verify?dataset=blog_posts`, { token: dtoken });
    assert.equal(v.status, 200, v.text);
    const expected = digestOf(src.dump(ALICE));
    assert.deepEqual(v.json(), { transfer: t, dataset: 'blog_posts', count: 3, digest: expected });
    assert.match(v.json().digest, /^[0-9a-f]{64}$/);
    // The other transfer's verify covers its one item.
    const vo = await dst.call(`${API}/transfers/${other}/verify?dataset=blog_posts`,
                              { token: await tokenFor(dst, { transfer: other }) });
    assert.equal(vo.json().count, 1);
    assert.equal(vo.json().digest, digestOf([src.dump(ALICE)[0]]));
    assert.notEqual(vo.json().digest, expected);
    const missing = await dst.call(`${API}/transfers/${t}/verify`, { token: dtoken });
    assert.equal(missing.status, 400);
  });

  test('import is idempotent by Idempotency-Key; a reused key with another body is 422', async () => {
    const src = await blogSource();
    const dst = await blogDestination();
    const t = `tr-${randomUUID()}`;
    const pages = await src.exportAll(await tokenFor(src, { transfer: t }), t, { limit: 2 });
    const dtoken = await tokenFor(dst, { transfer: t });
    const key = randomUUID();
    const first = await importPage(dst, dtoken, t, pages[0].text, { key });
    assert.equal(first.status, 201, first.text);
    assert.equal(first.json().imported, 2);
    const repeat = await importPage(dst, dtoken, t, pages[0].text, { key });
    assert.equal(repeat.status, 201);
    assert.equal(repeat.text, first.text, 'the first answer, replayed');
    assert.equal(dst.dump(ALICE).length, 2, 'nothing stored twice');

    const reused = await importPage(dst, dtoken, t, pages[1].text, { key });
    assert.equal(reused.status, 422);
    assert.equal(reused.json().error, 'idempotency_key_reused');
    assert.equal(dst.dump(ALICE).length, 2);

    const noKey = await importPage(dst, dtoken, t, pages[1].text, { key: null });
    assert.equal(noKey.status, 400);
    assert.equal(noKey.json().error, 'invalid_request');
    assert.match(noKey.json().error_description, /Idempotency-Key/);
    assert.equal(dst.dump(ALICE).length, 2);

    // Another key is another request, even with the same body.
    const second = await importPage(dst, dtoken, t, pages[0].text);
    assert.equal(second.status, 201);
    assert.equal(dst.dump(ALICE).length, 4);
  });

  test('delete removes exactly the items exported under the transfer, idempotently', async () => {
    const src = await blogSource();
    const all = src.dump(ALICE);
    const t = `tr-${randomUUID()}`;
    const token = await tokenFor(src, { transfer: t });
    // Only the first page (two of three items) is exported under t.
    const r = await src.call(`${API}/datasets/blog_posts/export?transfer=${t}&limit=2`, { token });
    assert.equal(r.headers.get('portability-item-count'), '2');
    // Another transfer exports the third one only by cursor: it must survive t's delete.
    const t2 = `tr-${randomUUID()}`;
    const token2 = await tokenFor(src, { transfer: t2 });
    const cursor = r.headers.get('portability-next-cursor');
    const r2 = await src.call(`${API}/datasets/blog_posts/export?transfer=${t2}&cursor=${encodeURIComponent(cursor)}`, { token: token2 });
    assert.equal(r2.headers.get('portability-item-count'), '1');

    const del = await src.call(`${API}/transfers/${t}/delete?dataset=blog_posts`, { method: 'POST', token });
    assert.equal(del.status, 200, del.text);
    assert.deepEqual(del.json(), { deleted: 2, remaining: 0 });
    assert.deepEqual(src.dump(ALICE), [all[2]]);
    const again = await src.call(`${API}/transfers/${t}/delete?dataset=blog_posts`, { method: 'POST', token });
    assert.deepEqual(again.json(), { deleted: 2, remaining: 0 }, 'idempotent, counting earlier calls');
    assert.deepEqual(src.dump(ALICE), [all[2]]);

    const t3 = `tr-${randomUUID()}`;
    const none = await src.call(`${API}/transfers/${t3}/delete?dataset=blog_posts`,
                                { method: 'POST', token: await tokenFor(src, { transfer: t3 }) });
    assert.deepEqual(none.json(), { deleted: 0, remaining: 0 });
    assert.equal(src.dump(ALICE).length, 1);
    // A GET is not a delete.
    const get = await src.call(`${API}/transfers/${t2}/delete?dataset=blog_posts`, { token: token2 });
    assert.equal(get.status, 405);
    assert.equal(src.dump(ALICE).length, 1);
  });

  test('a broken document is 400 naming the problem, and stores nothing', async () => {
    const src = await blogSource();
    const dst = await blogDestination();
    const t = `tr-${randomUUID()}`;
    const [page] = await src.exportAll(await tokenFor(src, { transfer: t }), t, { limit: 1000 });
    const dtoken = await tokenFor(dst, { transfer: t });
    // A good document cut in the middle of its last entry.
    const broken = page.text.slice(0, page.text.lastIndexOf('<entry') + 20);
    const key = randomUUID();
    const r = await importPage(dst, dtoken, t, broken, { key });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json().error, 'invalid_request');
    assert.ok(r.json().error_description.length > 0);
    assert.deepEqual(dst.dump(ALICE), []);
    // The same key with the repaired document is a new request (nothing was stored under it).
    const ok = await importPage(dst, dtoken, t, page.text, { key });
    assert.equal(ok.status, 201);
    assert.equal(dst.dump(ALICE).length, 3);
  });

  test('415 for another Content-Type, 413 over --max-body-bytes', async () => {
    const dst = await blogDestination({ maxBodyBytes: 4096 });
    const t = `tr-${randomUUID()}`;
    const dtoken = await tokenFor(dst, { transfer: t });
    const json = await importPage(dst, dtoken, t, '{}', { type: 'application/json' });
    assert.equal(json.status, 415);
    const big = await importPage(dst, dtoken, t, 'x'.repeat(5000));
    assert.equal(big.status, 413);
    assert.deepEqual(dst.dump(ALICE), []);
  });
});

describe('access tokens (RFC 6750, RFC 9068, RFC 9396)', () => {
  let svc;
  const T = 'tr-auth';
  before(async () => { svc = await blogSource(); });

  async function exportWith(token) {
    return svc.call(`${API}/datasets/blog_posts/export?transfer=${T}&limit=1`, { token });
  }

  function assertInvalidToken(r, what) {
    assert.equal(r.status, 401, `${what}: ${r.text}`);
    assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer /, what);
    assert.match(r.headers.get('www-authenticate') ?? '', /error="invalid_token"/, what);
    assert.equal(r.json().error, 'invalid_token', what);
  }

  test('a good token exports', async () => {
    const r = await exportWith(await tokenFor(svc, { transfer: T }));
    assert.equal(r.status, 200, r.text);
  });

  test('no token: 401 with a Bearer challenge and no error code (RFC 6750 §3.1)', async () => {
    const r = await exportWith(undefined);
    assert.equal(r.status, 401);
    const challenge = r.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /^Bearer realm=/);
    assert.doesNotMatch(challenge, /error=/);
    const basic = await svc.call(`${API}/datasets`, { headers: { authorization: 'Basic YTpi' } });
    assertInvalidToken(basic, 'Basic credentials');
  });

  test('bad signature, wrong aud, wrong iss, expired, wrong typ, unknown kid, a binding: 401 invalid_token', async () => {
    const stranger = await generateKey();
    const cases = {
      'bad signature': await tokenFor(svc, { transfer: T, key: { ...stranger, kid: issuer.keys[0].kid } }),
      'wrong aud': await tokenFor(svc, { transfer: T, audience: 'http://127.0.0.1:1' }),
      'wrong iss': await tokenFor(svc, { transfer: T, claims: { iss: 'http://evil.example' } }),
      expired: await tokenFor(svc, { transfer: T, claims: { exp: now() - 120 } }),
      'typ JWT': await tokenFor(svc, { transfer: T, header: { typ: 'JWT' } }),
      'no sub': await tokenFor(svc, { transfer: T, claims: { sub: undefined } }),
      'unknown kid': await tokenFor(svc, { transfer: T, key: stranger }),
      // Sender-constrained (RFC 9449, RFC 8705): this service checks neither binding, so it
      // must not take such a token as a bearer token.
      'DPoP-bound': await tokenFor(svc, { transfer: T, claims: { cnf: { jkt: 'x'.repeat(43) } } }),
      'certificate-bound': await tokenFor(svc, { transfer: T, claims: { cnf: { 'x5t#S256': 'x'.repeat(43) } } }),
      garbage: 'not.a.jwt',
    };
    for (const [what, token] of Object.entries(cases)) assertInvalidToken(await exportWith(token), what);
    // Within the 30 s skew an expired token still counts.
    assert.equal((await exportWith(await tokenFor(svc, { transfer: T, claims: { exp: now() - 5 } }))).status, 200);
    // aud as an array containing this service.
    const arr = await tokenFor(svc, { transfer: T, claims: { aud: ['http://other.example', svc.audience] } });
    assert.equal((await exportWith(arr)).status, 200);
  });

  test('wrong scope or another transfer: 403 insufficient_scope', async () => {
    const wrongScope = await exportWith(await tokenFor(svc, { transfer: T, scope: 'portability.import' }));
    assert.equal(wrongScope.status, 403);
    assert.match(wrongScope.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
    assert.match(wrongScope.headers.get('www-authenticate') ?? '', /scope="portability.export"/);
    assert.equal(wrongScope.json().error, 'insufficient_scope');
    const otherTransfer = await exportWith(await tokenFor(svc, { transfer: 'tr-other' }));
    assert.equal(otherTransfer.status, 403);
    assert.equal(otherTransfer.json().error, 'insufficient_scope');
    const noDetails = await exportWith(await tokenFor(svc, { transfer: T, claims: { authorization_details: undefined } }));
    assert.equal(noDetails.status, 403);
    const del = await svc.call(`${API}/transfers/${T}/delete?dataset=blog_posts`, {
      method: 'POST', token: await tokenFor(svc, { transfer: T, scope: 'portability.export portability.import' }),
    });
    assert.equal(del.status, 403);
    assert.equal(svc.dump(ALICE).length, 3);
    const ds = await svc.call(`${API}/datasets`, { token: await tokenFor(svc, { scope: 'portability.delete' }) });
    assert.equal(ds.status, 403);
  });

  test('a key the issuer rotated in is fetched once on its first unknown kid', async () => {
    const fetches = issuer.jwksFetches;
    const key = await issuer.rotate();
    const r = await exportWith(await tokenFor(svc, { transfer: T, key }));
    assert.equal(r.status, 200, r.text);
    assert.equal(issuer.jwksFetches, fetches + 1);
    assert.equal((await exportWith(await tokenFor(svc, { transfer: T, key }))).status, 200);
    assert.equal(issuer.jwksFetches, fetches + 1, 'cached');
  });
});

describe('fault injection', () => {
  test('--fail-rate 1: every API request is 500; /healthz is not affected', async () => {
    const svc = await service({ format: 'blogger-atom', seed: BLOG_SAMPLE, resident: ALICE,
                                faults: { failRate: 1 } });
    const token = await tokenFor(svc, { transfer: 'tr-f' });
    for (const p of [`${API}/datasets`, `${API}/datasets/blog_posts/export?transfer=tr-f`]) {
      const r = await svc.call(p, { token });
      assert.equal(r.status, 500, p);
      assert.equal(r.json().error, 'server_error');
    }
    const del = await svc.call(`${API}/transfers/tr-f/delete?dataset=blog_posts`, { method: 'POST', token });
    assert.equal(del.status, 500);
    assert.equal(svc.dump(ALICE).length, 3, 'nothing was done');
    assert.equal((await svc.call('/healthz')).status, 200);
  });

  test('--fail-rate with --fault-seed is reproducible', async () => {
    const run = async () => {
      const svc = await service({ format: 'blogger-atom', faults: { failRate: 0.5, seed: 42 } });
      const token = await tokenFor(svc);
      const statuses = [];
      for (let i = 0; i < 16; i++) statuses.push((await svc.call(`${API}/datasets`, { token })).status);
      await svc.stop();
      return statuses;
    };
    const a = await run();
    const b = await run();
    assert.deepEqual(a, b);
    assert.ok(a.includes(500) && a.includes(200), `a mix of failures and successes: ${a}`);
  });

  test('--cut-rate 1: the body ends before its Content-Length and the connection closes', async () => {
    const svc = await service({ format: 'blogger-atom', seed: BLOG_SAMPLE, resident: ALICE,
                                faults: { cutRate: 1 } });
    const token = await tokenFor(svc, { transfer: 'tr-c' });
    const r = await rawGet(svc.url(`${API}/datasets/blog_posts/export?transfer=tr-c`),
                           { authorization: `Bearer ${token}` });
    assert.equal(r.status, 200);
    assert.ok(r.contentLength > 0);
    assert.ok(r.received < r.contentLength, `received ${r.received} of ${r.contentLength}`);
    assert.equal(r.complete, false);
    await assert.rejects(async () => {
      const res = await fetch(svc.url(`${API}/datasets`), { headers: { authorization: `Bearer ${token}` } });
      await res.text();
    });
  });

  test('--delay-rate 1 --delay-ms 400: API answers come late, /healthz does not', async () => {
    const svc = await service({ format: 'blogger-atom', faults: { delayRate: 1, delayMs: 400 } });
    const token = await tokenFor(svc);
    const t0 = performance.now();
    const r = await svc.call(`${API}/datasets`, { token });
    const elapsed = performance.now() - t0;
    assert.equal(r.status, 200);
    assert.ok(elapsed >= 390, `answered after ${elapsed} ms`);
    // Several delayed requests at once: the timer does not block the I/O threads.
    const t1 = performance.now();
    const many = await Promise.all(Array.from({ length: 6 }, () => svc.call(`${API}/datasets`, { token })));
    const parallel = performance.now() - t1;
    assert.ok(many.every((m) => m.status === 200));
    assert.ok(parallel < 6 * 400, `6 delayed requests took ${parallel} ms: they ran concurrently`);
    const t2 = performance.now();
    assert.equal((await svc.call('/healthz')).status, 200);
    assert.ok(performance.now() - t2 < 390, '/healthz is not delayed');
  });

  test('--miscount-item N: the page holding item N counts one item too many', async () => {
    const src = await blogSource({ args: ['--miscount-item', '3'] });
    const t = `tr-${randomUUID()}`;
    const token = await tokenFor(src, { transfer: t, scope: 'portability.export' });
    const pages = await src.exportAll(token, t, { limit: 2 });
    assert.deepEqual(pages.map((p) => p.headers.get('portability-item-count')), ['2', '2']);
    // The second page still holds the one item: a destination imports one.
    const dst = await blogDestination();
    const dtoken = await tokenFor(dst, { transfer: t, scope: 'portability.import' });
    const r = await importPage(dst, dtoken, t, pages[1].text);
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json().imported, 1);
  });

  test('--unauthorized-once: one 401 invalid_token with a good token, then success', async () => {
    const svc = await service({ format: 'blogger-atom', seed: BLOG_SAMPLE, resident: ALICE,
                                faults: { unauthorizedOnce: true } });
    const token = await tokenFor(svc);
    const first = await svc.call(`${API}/datasets`, { token });
    assert.equal(first.status, 401);
    assert.match(first.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    const second = await svc.call(`${API}/datasets`, { token });
    assert.equal(second.status, 200);
    assert.equal(second.json().datasets[0].count, 3);
  });
});

describe('large seed', () => {
  // 100,000 posts (about 100 MB) with INFOBANK_SAMPLE_SEED_POSTS=100000; fewer by default so
  // the suite stays quick in Debug builds.
  const posts = Number(process.env.INFOBANK_SAMPLE_SEED_POSTS ?? 5000);

  test(`a seed of ${posts} blog posts loads, counts and exports in full pages`, { timeout: 600_000 }, async () => {
    const dir = makeTempDir('sample-seed-');
    const file = path.join(dir, 'big.xml');
    const out = fs.openSync(file, 'w');
    fs.writeSync(out, "<?xml version='1.0' encoding='UTF-8'?>\n<feed xmlns='http://www.w3.org/2005/Atom'>\n");
    const filler = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(14);
    for (let i = 1; i <= posts; i++) {
      fs.writeSync(out, `<entry><id>tag:blogger.com,1999:blog-9.post-${i}</id>` +
        '<published>2024-01-10T10:00:00.000+09:00</published><updated>2024-01-10T10:00:00.000+09:00</updated>' +
        "<category scheme='http://schemas.google.com/g/2005#kind' term='http://schemas.google.com/blogger/2008/kind#post'/>" +
        `<title type='text'>Post ${i}</title><content type='html'>&lt;p&gt;${filler}${i}&lt;/p&gt;</content></entry>\n`);
    }
    fs.writeSync(out, '</feed>\n');
    fs.closeSync(out);
    try {
      const svc = await new SampleService({ issuer: issuer.issuer, format: 'blogger-atom', seed: file, resident: ALICE })
        .start({ deadlineMs: 600_000 });
      services.push(svc);
      const [d] = await datasets(svc, await tokenFor(svc));
      assert.equal(d.count, posts);
      const t = 'tr-big';
      const token = await tokenFor(svc, { transfer: t });
      const r = await svc.call(`${API}/datasets/blog_posts/export?transfer=${t}&limit=1000`, { token });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('portability-item-count'), String(Math.min(1000, posts)));
      assert.equal(r.headers.get('portability-next-cursor') !== null, posts > 1000);
      await svc.stop();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

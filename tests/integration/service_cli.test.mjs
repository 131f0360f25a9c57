// The operator's portability commands: `service add|list|remove` and `contract add|list`.
// Bad input gets a clear error and a non-zero exit, and stores nothing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { RESIDENT, setup } from '../support/fixtures.mjs';

let server;
before(async () => { server = await setup(); });
after(async () => { await server?.close(); });

const services = () => server.cliJson(['service', 'list']);

test('service add, list, remove', async () => {
  const added = server.cliJson(['service', 'add', 'cal-a', '--name', 'Calendar A',
                                '--url', 'http://127.0.0.1:9/', '--dataset', 'calendar_events:icalendar']);
  assert.equal(added.id, 'cal-a');
  assert.equal(added.audience, 'http://127.0.0.1:9/', 'the audience defaults to the base URL');
  assert.equal(added.authorization, 'infobank');
  assert.deepEqual(services().map((s) => s.id), ['cal-a']);
  assert.equal(server.cli(['service', 'remove', 'cal-a']).status, 0);
  assert.deepEqual(services(), []);
  assert.notEqual(server.cli(['service', 'remove', 'cal-a']).status, 0, 'unknown id');
});

test('bad service definitions are refused and store nothing', async () => {
  const base = ['service', 'add', 'bad', '--name', 'Bad'];
  for (const [args, why] of [
    [['--url', 'http://127.0.0.1:9', '--dataset', 'blog_posts:icalendar'], 'format of another dataset'],
    [['--url', 'http://127.0.0.1:9', '--dataset', 'recipes:blogger-atom'], 'unknown dataset'],
    [['--url', 'http://127.0.0.1:9', '--dataset', 'blog_posts'], 'no format'],
    [['--url', 'ftp://127.0.0.1/', '--dataset', 'blog_posts:blogger-atom'], 'not http(s)'],
    [['--url', 'not a url', '--dataset', 'blog_posts:blogger-atom'], 'not a URL'],
    [['--url', 'http://127.0.0.1:9/?x=1', '--dataset', 'blog_posts:blogger-atom'], 'query'],
    [['--url', 'http://127.0.0.1:9', '--dataset', 'blog_posts:blogger-atom',
      '--authorization', 'someone-else'], 'unknown authorization'],
  ]) {
    const r = server.cli([...base, ...args]);
    assert.notEqual(r.status, 0, why);
    assert.ok(r.stderr.length > 0, `${why}: says why`);
  }
  assert.deepEqual(services(), []);
});

test('a duplicate service id is refused; contracts need a known resident and service', async () => {
  server.cliJson(['service', 'add', 'blog-1', '--name', 'Blog 1', '--url', 'http://127.0.0.1:9',
                  '--dataset', 'blog_posts:blogger-atom']);
  assert.notEqual(server.cli(['service', 'add', 'blog-1', '--name', 'Again', '--url',
                              'http://127.0.0.1:9', '--dataset', 'blog_posts:blogger-atom']).status, 0);
  assert.equal(services().find((s) => s.id === 'blog-1').name, 'Blog 1');

  assert.notEqual(server.cli(['contract', 'add', '--resident', 'nobody', '--service', 'blog-1']).status, 0);
  assert.notEqual(server.cli(['contract', 'add', '--resident', RESIDENT.username, '--service', 'nope']).status, 0);
  assert.deepEqual(server.cliJson(['contract', 'list', '--resident', RESIDENT.username]), []);

  const c = server.cliJson(['contract', 'add', '--resident', RESIDENT.username, '--service', 'blog-1',
                            '--subject', 'alice-at-blog']);
  assert.equal(c.status, 'active');
  assert.equal(c.subject, 'alice-at-blog');
  assert.notEqual(server.cli(['contract', 'add', '--resident', RESIDENT.username, '--service', 'blog-1']).status, 0,
                  'one active contract per service');
  assert.equal(server.cliJson(['contract', 'list', '--resident', RESIDENT.username]).length, 1);
});

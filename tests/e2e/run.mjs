// Launcher for the e2e tests: makes the test CA and server certificate with the openssl CLI,
// then runs `node --test FILE` with NODE_EXTRA_CA_CERTS pointing at the CA (node reads it
// only when it starts, so it must be set on a new process). The test file finds the
// certificate paths in INFOBANK_TEST_CA_*.
import { spawn } from 'node:child_process';
import fs from 'node:fs';

import { makeTestCa } from '../support/harness.mjs';

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node run.mjs TEST_FILE...');
  process.exit(2);
}
const ca = makeTestCa();
const child = spawn(process.execPath, ['--test', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  env: {
    ...process.env,
    NODE_EXTRA_CA_CERTS: ca.ca,
    INFOBANK_TEST_CA_DIR: ca.dir,
    INFOBANK_TEST_CA: ca.ca,
    INFOBANK_TEST_CERT: ca.cert,
    INFOBANK_TEST_KEY: ca.key,
    INFOBANK_TEST_SPKI: ca.spkiSha256,
  },
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => {
  if (!process.env.INFOBANK_KEEP_TMP) fs.rmSync(ca.dir, { recursive: true, force: true });
  process.exit(code ?? (signal ? 1 : 0));
});

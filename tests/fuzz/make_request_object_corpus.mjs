// Writes seeds for fuzz_jws's request-object check (RFC 9101): objects signed by the ES256 key
// their header embeds as "jwk", for client-1 at https://as.example at fuzz_jws.cpp's kNow, one
// that verifies with every kind of value and near misses of each rule.
// Usage: node tests/fuzz/make_request_object_corpus.mjs tests/fuzz/corpus/jws
import fs from 'node:fs';
import path from 'node:path';

import { generateKey, signJwt } from '../support/jose.mjs';

const NOW = 1_700_000_000;
const out = process.argv[2];
if (!out) throw new Error('usage: make_request_object_corpus.mjs OUT_DIR');

const key = await generateKey();
const header = { alg: 'ES256', typ: 'oauth-authz-req+jwt', jwk: key.jwk };
const claims = {
  iss: 'client-1', aud: 'https://as.example', client_id: 'client-1', exp: NOW + 300, nbf: NOW,
  iat: NOW, jti: 'j1', response_type: 'code', redirect_uri: 'https://rp.example/cb',
  scope: 'openid', state: 's', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
  code_challenge_method: 'S256', max_age: 300, resource: ['https://a.example', 'https://b.example'],
  authorization_details: [{ type: 'personal_data_provision', datasets: ['blog'] }],
  claims: { userinfo: { email: null } },
};
const seeds = {
  valid: [header, claims],
  nested_request: [header, { ...claims, request: 'a.b.c' }],
  wrong_types: [header, { ...claims, state: 5, max_age: -1 }],
  other_client: [header, { ...claims, iss: 'client-2' }],
  expired: [header, { ...claims, exp: NOW - 3600 }],
  dpop_typ: [{ ...header, typ: 'dpop+jwt' }, claims],
};
for (const [name, [h, c]] of Object.entries(seeds)) {
  fs.writeFileSync(path.join(out, `request_object_${name}`), await signJwt(h, c, key.privateKey));
}

// ES256 JWS helpers on Node's WebCrypto: DPoP proofs (RFC 9449), client assertions
// (RFC 7523), and verification of infobank's tokens against its JWKS (RFC 7515/7517/7518).

import { createHash, randomUUID, webcrypto } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { b64url, decodeJwt } from './harness.mjs';

const { subtle } = webcrypto;
const ES256 = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGN = { name: 'ECDSA', hash: 'SHA-256' };

export const now = () => Math.floor(Date.now() / 1000);

/** A fresh P-256 key pair with its public JWK (kid = RFC 7638 thumbprint). */
export async function generateKey() {
  const { privateKey, publicKey } = await subtle.generateKey(ES256, true, ['sign', 'verify']);
  const jwk = await subtle.exportKey('jwk', publicKey);
  const pub = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
  const kid = thumbprint(pub);
  return { privateKey, publicKey, jwk: pub, kid };
}

/** RFC 7638 JWK thumbprint of an EC public key, base64url(SHA-256). */
export function thumbprint(jwk) {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return b64url(createHash('sha256').update(canonical).digest());
}

export async function signJwt(header, payload, privateKey) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const sig = await subtle.sign(SIGN, privateKey, Buffer.from(input));
  return `${input}.${b64url(Buffer.from(sig))}`;
}

/** Writes {"keys":[public JWK]} for `client add --jwks-file`. */
export function writeJwks(dir, key, name = 'client-jwks.json') {
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify({ keys: [{ ...key.jwk, kid: key.kid, use: 'sig', alg: 'ES256' }] }));
  return file;
}

/** RFC 7523 §3 client assertion for private_key_jwt. */
export function clientAssertion(key, { clientId, audience, overrides = {}, header = {} }) {
  const iat = now();
  return signJwt({ alg: 'ES256', typ: 'JWT', kid: key.kid, ...header }, {
    iss: clientId, sub: clientId, aud: audience, jti: randomUUID(), iat, exp: iat + 60, ...overrides,
  }, key.privateKey);
}

export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** RFC 9449 §4.2 DPoP proof. `accessToken` adds ath; `nonce` the server-provided nonce. */
export function dpopProof(key, { htm, htu, accessToken, nonce, overrides = {}, header = {} }) {
  const payload = { jti: randomUUID(), htm, htu, iat: now() };
  if (accessToken) payload.ath = b64url(createHash('sha256').update(accessToken).digest());
  if (nonce) payload.nonce = nonce;
  return signJwt({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk, ...header },
                 { ...payload, ...overrides }, key.privateKey);
}

/**
 * Sends a request with a DPoP proof made by `makeRequest(proof)`; if the server asks for a
 * nonce (RFC 9449 §8/§9: error use_dpop_nonce with a DPoP-Nonce header) retries once with it.
 */
export async function withDpopNonce(key, { htm, htu, accessToken }, makeRequest) {
  let r = await makeRequest(await dpopProof(key, { htm, htu, accessToken }));
  const nonce = r.headers.get('dpop-nonce');
  const asked = nonce && (r.status === 400 || r.status === 401) &&
                (r.text.includes('use_dpop_nonce') ||
                 (r.headers.get('www-authenticate') ?? '').includes('use_dpop_nonce'));
  if (asked) r = await makeRequest(await dpopProof(key, { htm, htu, accessToken, nonce }));
  return r;
}

/**
 * Verifies a compact JWS signed with ES256, RS256, PS256 or EdDSA, the algorithms infobank signs with,
 * against a JWKS (the key must name the same alg); returns {header, payload}.
 */
export async function verifyJwt(jwt, jwks) {
  const d = decodeJwt(jwt);
  const jwk = (jwks.keys ?? []).find((k) => k.kid === d.header.kid);
  if (!jwk) throw new Error(`kid ${d.header.kid} is not in the JWKS`);
  if (jwk.alg !== d.header.alg) throw new Error(`alg is ${d.header.alg}, the key's ${jwk.alg}`);
  let ok;
  if (d.header.alg === 'ES256') {
    const key = await subtle.importKey('jwk', { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y },
                                       ES256, false, ['verify']);
    if (d.signature.length !== 64) throw new Error('ES256 signature must be 64 bytes (R||S)');
    ok = await subtle.verify(SIGN, key, d.signature, Buffer.from(d.signingInput));
  } else if (d.header.alg === 'RS256') {
    const rsa = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    const key = await subtle.importKey('jwk', { kty: jwk.kty, n: jwk.n, e: jwk.e }, rsa, false,
                                       ['verify']);
    ok = await subtle.verify(rsa, key, d.signature, Buffer.from(d.signingInput));
  } else if (d.header.alg === 'PS256') {
    // RFC 7518 §3.5: MGF1 with SHA-256 and a salt as long as the hash.
    const key = await subtle.importKey('jwk', { kty: jwk.kty, n: jwk.n, e: jwk.e },
                                       { name: 'RSA-PSS', hash: 'SHA-256' }, false, ['verify']);
    ok = await subtle.verify({ name: 'RSA-PSS', saltLength: 32 }, key, d.signature,
                             Buffer.from(d.signingInput));
  } else if (d.header.alg === 'EdDSA') {
    // RFC 8037 §3.1: Ed25519 over the signing input itself.
    if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519') throw new Error('EdDSA needs an Ed25519 key');
    const key = await subtle.importKey('jwk', { kty: jwk.kty, crv: jwk.crv, x: jwk.x },
                                       { name: 'Ed25519' }, false, ['verify']);
    if (d.signature.length !== 64) throw new Error('an Ed25519 signature is 64 bytes');
    ok = await subtle.verify({ name: 'Ed25519' }, key, d.signature, Buffer.from(d.signingInput));
  } else {
    throw new Error(`alg is ${d.header.alg}, not ES256, RS256, PS256 or EdDSA`);
  }
  if (!ok) throw new Error('signature does not verify');
  return { header: d.header, payload: d.payload };
}

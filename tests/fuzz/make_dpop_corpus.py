#!/usr/bin/env python3
"""Writes the seed corpus for fuzz_dpop: valid DPoP proofs (ES256, EdDSA, RS256) for the fixed
request in fuzz_dpop.cpp, and near misses. Uses only the standard library and the openssl
command line, so it runs wherever the project builds. Usage: make_dpop_corpus.py OUT_DIR"""

import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile

NOW = 1_700_000_000  # fuzz_dpop.cpp kNow
TOKEN_URL = "https://server.example.com/token"
RESOURCE_URL = "https://resource.example.org/protected"
ACCESS_TOKEN = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def openssl(*args, data=None) -> bytes:
    return subprocess.run(["openssl", *args], input=data, check=True,
                          capture_output=True).stdout


def der_sequence_ints(der: bytes):
    """Minimal DER reader for ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }."""
    assert der[0] == 0x30
    pos = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    ints = []
    while pos < len(der):
        assert der[pos] == 0x02
        length = der[pos + 1]
        ints.append(int.from_bytes(der[pos + 2:pos + 2 + length], "big"))
        pos += 2 + length
    return ints


class Key:
    def __init__(self, kind: str, workdir: str):
        self.kind = kind
        self.path = os.path.join(workdir, kind + ".pem")
        if kind == "ES256":
            openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-out", self.path)
            point = openssl("pkey", "-in", self.path, "-pubout", "-outform", "DER")[-65:]
            self.jwk = {"kty": "EC", "crv": "P-256", "x": b64u(point[1:33]),
                        "y": b64u(point[33:])}
        elif kind == "EdDSA":
            openssl("genpkey", "-algorithm", "ED25519", "-out", self.path)
            raw = openssl("pkey", "-in", self.path, "-pubout", "-outform", "DER")[-32:]
            self.jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw)}
        else:
            openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", self.path)
            text = openssl("rsa", "-in", self.path, "-noout", "-modulus").decode()
            n = bytes.fromhex(text.strip().split("=", 1)[1])
            self.jwk = {"kty": "RSA", "n": b64u(n), "e": "AQAB"}

    def sign(self, signing_input: bytes) -> bytes:
        with tempfile.NamedTemporaryFile() as f:
            f.write(signing_input)
            f.flush()
            if self.kind == "EdDSA":
                return openssl("pkeyutl", "-sign", "-inkey", self.path, "-rawin", "-in", f.name)
            sig = openssl("dgst", "-sha256", "-sign", self.path, f.name)
        if self.kind == "ES256":
            r, s = der_sequence_ints(sig)
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return sig


def proof(key: Key, claims: dict, header_extra=None, header_text=None, claims_text=None):
    header = {"typ": "dpop+jwt", "alg": key.kind, "jwk": key.jwk}
    header.update(header_extra or {})
    h = header_text if header_text is not None else json.dumps(header, separators=(",", ":"))
    c = claims_text if claims_text is not None else json.dumps(claims, separators=(",", ":"))
    signing_input = (b64u(h.encode()) + "." + b64u(c.encode())).encode()
    return signing_input + b"." + b64u(key.sign(signing_input)).encode()


def main() -> None:
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir:
        es, ed, rsa = (Key(kind, workdir) for kind in ("ES256", "EdDSA", "RSA256"))
        rsa.kind = "RS256"
        base = {"jti": "e1j3V_bKic8-LAEB", "htm": "POST", "htu": TOKEN_URL, "iat": NOW}
        ath = b64u(hashlib.sha256(ACCESS_TOKEN.encode()).digest())
        resource = {"jti": "r1", "htm": "GET", "htu": RESOURCE_URL, "iat": NOW, "ath": ath}
        seeds = {
            "valid_es256": proof(es, base),
            "valid_eddsa": proof(ed, base),
            "valid_rs256": proof(rsa, base),
            "valid_resource_ath": proof(es, resource),
            "valid_htu_normalised": proof(
                es, dict(base, htu="HTTPS://Server.Example.com:443/./token?q=1#f")),
            "valid_float_iat": proof(ed, dict(base, iat=NOW + 0.5)),
            "bad_typ": proof(es, base, {"typ": "jwt"}),
            "bad_alg_none": (b64u(json.dumps({"typ": "dpop+jwt", "alg": "none",
                                              "jwk": es.jwk}).encode()) + "." +
                             b64u(json.dumps(base).encode()) + ".").encode(),
            "bad_private_jwk": proof(es, base, {"jwk": dict(es.jwk, d=b64u(b"\x07" * 32))}),
            "bad_duplicate_claim": proof(es, base, claims_text=json.dumps(base)[:-1] +
                                         ',"htm":"GET"}'),
            "bad_iat_old": proof(es, dict(base, iat=NOW - 3600)),
            "bad_htm": proof(ed, dict(base, htm="GET")),
            "bad_ath": proof(es, dict(resource, ath=b64u(b"x" * 32))),
            "bad_crit": proof(es, base, {"crit": ["exp"]}),
            "bad_two_parts": b"eyJhbGciOiJFUzI1NiJ9.e30",
            "empty": b"",
        }
        tampered = bytearray(seeds["valid_es256"])
        tampered[-3] = ord("A") if tampered[-3] != ord("A") else ord("B")
        seeds["bad_signature"] = bytes(tampered)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()

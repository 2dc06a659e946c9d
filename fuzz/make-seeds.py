#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets from the test fixtures.

request_body: valid and nearly valid request bodies, and bodies at the size limit.
stored_material: selector byte (key container: 1 PKCS#8, 2 PKCS#1, 3 SEC1), then the leaf
DER, the issuers' DER and the key DER, separated by FF 00 FF, as the target splits them.
"""
import base64
import pathlib
import re

here = pathlib.Path(__file__).resolve().parent
store = here.parent / "tests" / "fixtures" / "store"
SEP = b"\xff\x00\xff"


def pem_blocks(path):
    if not path.exists():
        return []
    text = path.read_text()
    out = []
    for label, body in re.findall(r"-----BEGIN ([A-Z ]+)-----\n(.*?)-----END", text, re.S):
        out.append((label, base64.b64decode("".join(body.split()))))
    return out


bodies = [
    '{"id": "12345", "format": "pfx", "password": "securepassword123"}',
    '{"id": 12345, "format": "crt", "download_key": true, "password": "keyprotectionpassword"}',
    '{"id": 1, "format": "PEM", "download_key": "TRUE", "password": "pässwörd-😀", '
    '"include_chain": false, "chain_order": "root_first"}',
    '{"id": 7, "format": "pfx", "password": "12345678", "friendly_name": "my key", '
    '"pfx_encryption": "tripledes_sha1", "download_key": null}',
    '{"id": "9223372036854775807", "format": "crt"}',
    '{"id": 1, "format": "pem", "downloadKey": true}',
    '{"id": 1, "id": 2, "format": "pem"}',
    '{"id": 20, "format": "p7b", "include_root": false, "password": "ignored"}',
    '{"id": 1, "format": "P7B", "download_key": "true"}',
    '{"id": 5, "format": "pfx", "password": "12345678", "include_root": false, '
    '"chain_order": "root_first"}',
    '{"id": 1, "format": "pem", "include_root": "false"}',
    '{"id": 4, "format": "pfx", "password": "12345678", "pfx_encryption": "AES256_SHA256_PBMAC1"}',
    # A friendly name may contain the password: the fuzz target once took that for a leak.
    '{"id": 7, "format": "pfx", "password": "12345678", "friendly_name": "my kepass12345678y"}',
]
# The body size limit (MAX_BODY_BYTES, 64 KiB) from both sides: a valid body of exactly
# the limit, and one byte more (body_too_large). libFuzzer runs with -max_len above the
# limit (.ci/run), so that its mutations cross it.
MAX_BODY_BYTES = 64 * 1024
head = '{"id": 1, "format": "crt"'
bodies.append(head + " " * (MAX_BODY_BYTES - len(head) - 1) + "}")
bodies.append(head + " " * (MAX_BODY_BYTES - len(head)) + "}")
for i, body in enumerate(bodies):
    (here / "seeds" / "request_body" / f"seed-{i}.json").write_bytes(body.encode())

for record in sorted(store.iterdir(), key=lambda p: int(p.name)):
    certs = [der for _, der in pem_blocks(record / "cert.pem")]
    chain = [der for _, der in pem_blocks(record / "chain.pem")]
    keys = pem_blocks(record / "key.pem")
    selector, key = 0, b""
    if keys:
        label, key = keys[0]
        selector = {"PRIVATE KEY": 1, "RSA PRIVATE KEY": 2, "EC PRIVATE KEY": 3}[label]
    seed = bytes([selector]) + SEP.join(certs[:1] + chain + [key])
    (here / "seeds" / "stored_material" / f"record-{record.name}.bin").write_bytes(seed)

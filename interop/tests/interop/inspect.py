# A worker: reads lines from stdin, each a JSON list of jobs, and answers each with one line
# on stdout, the JSON list of their results (same order). It ends at the end of its input.
#
# Passwords come in the jobs (stdin, never argv) and are encoded as UTF-8 here.
#
#   {"op": "pfx", "path": P, "password": S}      pkcs12.load_pkcs12
#   {"op": "pem_certs", "path": P}               every CERTIFICATE block, in file order
#   {"op": "pem_key", "path": P, "password": S}  the ENCRYPTED PRIVATE KEY block(s) of a PEM file
#   {"op": "der_key", "path": P, "password": S}  a DER EncryptedPrivateKeyInfo
#   {"op": "plain_key", "path": P}               an unencrypted PEM key (PKCS#8, PKCS#1, SEC1)
#
# Every result has "ok"; on failure "error" says why (a wrong password is such a failure).
# Warnings are errors: a file that `cryptography` reads only after a fallback (e.g. "could
# not be parsed as DER, falling back to parsing as BER") fails its job.
import json
import re
import sys
import warnings

warnings.simplefilter("error")

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
except ImportError as e:
    sys.stderr.write(
        "the Python package `cryptography` is not installed (%s): "
        "pip install cryptography, or apt-get install python3-cryptography\n" % e
    )
    sys.exit(3)

DER = serialization.Encoding.DER
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


def pw(job):
    return job["password"].encode("utf-8")


def key_info(key):
    if isinstance(key, rsa.RSAPrivateKey):
        n = key.private_numbers()
        kind = "rsa"
        secret = "n=%x e=%x d=%x p=%x q=%x" % (n.public_numbers.n, n.public_numbers.e, n.d, n.p, n.q)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        kind = "ec-" + key.curve.name
        secret = "%x" % key.private_numbers().private_value
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        kind = "ed25519"
        secret = key.private_bytes_raw().hex()
    else:
        raise TypeError("unexpected key type %r" % type(key))
    return {
        "type": kind,
        "secret": secret,
        "spki": key.public_key().public_bytes(DER, SPKI).hex(),
    }


def cert_info(cert, friendly_name=None):
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "der": cert.public_bytes(DER).hex(),
        "spki": cert.public_key().public_bytes(DER, SPKI).hex(),
        "friendly_name": None if friendly_name is None else friendly_name.decode("utf-8"),
    }


def pem_blocks(text, label):
    pattern = r"-----BEGIN %s-----\n.*?-----END %s-----\n" % (label, label)
    return re.findall(pattern, text, re.S)


def run(job):
    op = job["op"]
    data = open(job["path"], "rb").read()
    if op == "pfx":
        p = pkcs12.load_pkcs12(data, pw(job))
        return {
            "key": key_info(p.key),
            "cert": cert_info(p.cert.certificate, p.cert.friendly_name),
            "additional": [cert_info(c.certificate, c.friendly_name) for c in p.additional_certs],
        }
    if op == "pem_certs":
        text = data.decode("ascii")
        labels = re.findall(r"-----BEGIN ([A-Z ]+)-----", text)
        certs = x509.load_pem_x509_certificates("".join(pem_blocks(text, "CERTIFICATE")).encode())
        return {"labels": labels, "certs": [cert_info(c) for c in certs]}
    if op == "pem_key":
        blocks = pem_blocks(data.decode("ascii"), "ENCRYPTED PRIVATE KEY")
        if len(blocks) != 1:
            raise ValueError("%d ENCRYPTED PRIVATE KEY blocks" % len(blocks))
        return {"key": key_info(serialization.load_pem_private_key(blocks[0].encode(), pw(job)))}
    if op == "der_key":
        return {"key": key_info(serialization.load_der_private_key(data, pw(job)))}
    if op == "plain_key":
        return {"key": key_info(serialization.load_pem_private_key(data, None))}
    raise ValueError("unknown op %r" % op)


def answer(line):
    results = []
    for job in json.loads(line):
        try:
            result = run(job)
            result["ok"] = True
        except Exception as e:  # a wrong password is an expected failure: report it
            result = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
        results.append(result)
    return json.dumps(results)


for line in sys.stdin:
    sys.stdout.write(answer(line) + "\n")
    sys.stdout.flush()

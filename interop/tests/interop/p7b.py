# Reads certs-only PKCS#7 files (DER) with Python `cryptography`'s
# pkcs7.load_der_pkcs7_certificates, every warning an error: a file that is not DER makes
# `cryptography` warn "could not be parsed as DER, falling back to parsing as BER", which
# here is a failure, not a fallback.
#
#   python3 -c "$(cat p7b.py)" FILE...   (not `python3 p7b.py`: inspect.py beside it
#   would shadow the standard library's inspect)
#
# Prints one JSON object per file: {"path", "ok", "error"?, "certs"?: [{"subject",
# "issuer", "der"}]} (the certificates in file order, names in RFC 4514 form, DER in hex).
import json
import sys
import warnings

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

DER = serialization.Encoding.DER


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        certs = pkcs7.load_der_pkcs7_certificates(data)
    return [
        {
            "subject": c.subject.rfc4514_string(),
            "issuer": c.issuer.rfc4514_string(),
            "der": c.public_bytes(DER).hex(),
        }
        for c in certs
    ]


for path in sys.argv[1:]:
    try:
        result = {"path": path, "ok": True, "certs": read(path)}
    except Exception as e:  # the warning turned error, or a parse failure: report it
        result = {"path": path, "ok": False, "error": "%s: %s" % (type(e).__name__, e)}
    print(json.dumps(result))

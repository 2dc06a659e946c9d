"""The judges of tests/certificate_mutants.rs: OpenSSL and Python cryptography.

Reads candidate certificates (DER) from the file named on the command line, one per line as
hex, and writes one line per candidate: `O` or `o` (OpenSSL's d2i_X509 parses it, consuming
all of it, or not), `C` or `c` (cryptography's load_der_x509_certificate parses it or not),
and, when only OpenSSL parses it, the kind of cryptography's objection (see `kind`), then its
message.

OpenSSL is the system libcrypto (OpenSSL 3.0 here), called through ctypes: d2i_X509 in
process, far faster than one `openssl x509 -inform DER` per candidate. (cryptography bundles
its own OpenSSL, but parses certificates in Rust, not with it.)

`--check` only loads both and prints their versions.
"""

import ctypes
import ctypes.util
import re
import sys
import warnings


def load_libcrypto():
    name = ctypes.util.find_library("crypto") or "libcrypto.so.3"
    lib = ctypes.CDLL(name)
    lib.d2i_X509.restype = ctypes.c_void_p
    lib.d2i_X509.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long]
    lib.X509_free.argtypes = [ctypes.c_void_p]
    lib.ERR_clear_error.argtypes = []
    lib.OpenSSL_version.restype = ctypes.c_char_p
    lib.OpenSSL_version.argtypes = [ctypes.c_int]
    return lib


def openssl_parses(lib, der):
    """d2i_X509 succeeds and consumes the whole input (trailing bytes are not a certificate)."""
    buf = ctypes.create_string_buffer(der, len(der))
    start = ctypes.addressof(buf)
    p = ctypes.c_char_p(start)
    x = lib.d2i_X509(None, ctypes.byref(p), len(der))
    lib.ERR_clear_error()
    if not x:
        return False
    used = ctypes.cast(p, ctypes.c_void_p).value - start
    lib.X509_free(x)
    return used == len(der)


def cryptography_objection(x509, der):
    """None when cryptography parses it (warnings, such as a negative serial, are not
    objections), else its message."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x509.load_der_x509_certificate(der)
        return None
    except Exception as e:  # noqa: BLE001 - any refusal is a verdict
        return f"{type(e).__name__}: {e}"


def kind(message):
    """What cryptography objects to, when OpenSSL parses the certificate:

    ber        a BER form DER forbids: a non-minimal or indefinite length, an encoded
               DEFAULT, an unsorted SET OF, a constructed string, a BOOLEAN other than
               00/FF, a BIT STRING with non-zero padding bits or unused bits and no data,
               a constructed unique identifier
    malformed  an encoding no rules allow (a primitive SEQUENCE or SET in a Name)
    time       a Validity time that is not a valid DER UTCTime or GeneralizedTime
    version    a version other than v1 and v3 (`version-v2`: v2, which RFC 5280 allows)
    parameters AlgorithmIdentifier parameters of the wrong type for a known algorithm
    printable  a PrintableString with characters outside its set
    oid        an OID beyond cryptography's limits (63 octets, 128-bit arcs)
    other      anything else (the test fails on it, to be looked at)
    """
    if "InvalidVersion" in message:
        return "version-v2" if message.startswith("InvalidVersion: 1 ") else "version"
    loc = message
    # Inside the parameters of an algorithm cryptography knows (an EC curve, RSA-PSS): their
    # content is read as that algorithm's structure, BER and all.
    if re.search(r"AlgorithmIdentifier::params\", \"", loc):
        return "parameters"
    if re.search(r"kind: (InvalidLength|EncodedDefault|InvalidSetOrdering)", loc):
        return "ber"
    if re.search(r"UnexpectedTag \{ actual: Tag \{ value: \d+, constructed: true, class: Universal", loc) and (
        re.search(r"value: (3|4|12|19|20|22|23|24|28|30), constructed: true", loc)
    ):
        return "ber"
    if "Extension::critical" in loc and "InvalidValue" in loc:
        return "ber"
    # OpenSSL read an optional field cryptography did not: a constructed (BER) [1] or [2]
    # unique identifier, which cryptography does not take for one.
    if re.search(r"kind: ExtraData, location: \[\"Certificate::tbs_cert\"\]", loc):
        return "ber"
    if re.search(r"kind: InvalidValue, location: \[[^\]]*(Certificate::signature\"|subject_public_key\"|_unique_id\")", loc):
        return "ber"
    # A primitive SEQUENCE or SET, which OpenSSL reads in a Name: no encoding rules allow it.
    if re.search(r"UnexpectedTag \{ actual: Tag \{ value: 1[67], constructed: false, class: Universal", loc):
        return "malformed"
    if "TbsCertificate::version" in loc:
        return "version"
    if "Validity::" in loc:
        return "time"
    if "AttributeValue::PrintableString" in loc:
        return "printable"
    if "OidTooLong" in loc or re.search(r"InvalidValue, location: \[[^\]]*(type_id|AlgorithmIdentifier::oid|extn_id)\"\]", loc):
        return "oid"
    if re.search(r"AlgorithmIdentifier|signature_alg\"\]|SubjectPublicKeyInfo::algorithm\"\]|EcParameters|RsaPssParameters", loc):
        return "parameters"
    return "other"


def main():
    lib = load_libcrypto()
    from cryptography import __version__ as cryptography_version
    from cryptography import x509

    if sys.argv[1:] == ["--check"]:
        print(f"{lib.OpenSSL_version(0).decode()}; cryptography {cryptography_version}")
        return
    out = []
    with open(sys.argv[1]) as f:
        for line in f:
            der = bytes.fromhex(line.strip())
            o = openssl_parses(lib, der)
            objection = cryptography_objection(x509, der)
            verdict = ("O" if o else "o") + ("C" if objection is None else "c")
            if o and objection is not None:
                verdict += " " + kind(objection) + " " + objection.replace("\n", " ")[:300]
            out.append(verdict)
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()

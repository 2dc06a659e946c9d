#!/usr/bin/env bash
#
# Regenerates the demo DirectoryStore in examples/demo-store/: the records
# 12345, 1001, 1002, 1003 and 1004, the TLS material in tls/ and tokens.json.
#
#   examples/demo-store/regenerate.sh
#
# Only the entries listed above are removed and recreated; anything else in
# this directory (README.md, this script, files you added) is left alone.
#
# CA private keys live only in a temporary directory that is deleted on exit,
# so the demo roots can never be used to issue further certificates. The
# flip side is that every run produces an entirely new PKI: after regenerating,
# clients must use the new tls/ca.pem.
#
# Requires the OpenSSL 3.x command line tool.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STORE="$HERE"

LEAF_DAYS=3650 # 10 years
CA_DAYS=7300   # 20 years: CAs must outlive every leaf they issue

OWNED=(12345 1001 1002 1003 1004 tls tokens.json)

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/ca" "$WORK/leaf"

# The PKI functions (ossl, new_key, sign, make_root, make_intermediate, make_leaf).
# shellcheck source=../../tests/fixtures/pki.sh
source "$HERE/../../tests/fixtures/pki.sh"

# record ID KEYTYPE CN ISSUER -- leaves the fresh PKCS#8 key in
# $WORK/leaf/ID.key for the caller to place (or not).
record() {
    local id=$1 type=$2 cn=$3 issuer=$4
    mkdir -p "$STORE/$id"
    make_leaf "$type" "$WORK/leaf/$id.key" "$STORE/$id/cert.pem" "/CN=$cn" "DNS:$cn" "$issuer"
}

# write_chain ID CA_NAME... -- chain.pem in exactly the order given; the
# store accepts issuers in any order and the demo shows that off.
write_chain() {
    local id=$1
    shift
    local name
    for name in "$@"; do cat "$WORK/ca/$name.pem"; done >"$STORE/$id/chain.pem"
}

pkcs8_key() { cp "$WORK/leaf/$1.key" "$STORE/$1/key.pem"; }
# Since OpenSSL 3.0 `openssl ec` is not guaranteed to write SEC1;
# `pkey -traditional` is.
sec1_key() { ossl pkey -traditional -in "$WORK/leaf/$1.key" -out "$STORE/$1/key.pem"; }

# --------------------------------------------------------------------------
# Certificate authorities

echo "generating CAs" >&2
make_root root rsa2048 "/CN=Demo Root CA"
make_intermediate int-rsa rsa2048 "/CN=Demo Intermediate CA RSA" root
make_intermediate int-ec p256 "/CN=Demo Intermediate CA EC" root

for entry in "${OWNED[@]}"; do rm -rf "${STORE:?}/$entry"; done

# --------------------------------------------------------------------------
# Records

echo "generating records" >&2

record 12345 rsa2048 www.example.com int-rsa
pkcs8_key 12345
write_chain 12345 root int-rsa # root first on purpose

record 1001 p256 api.example.com int-ec
sec1_key 1001
write_chain 1001 int-ec root

record 1002 ed25519 ed25519.example.com root
pkcs8_key 1002
write_chain 1002 root

record 1003 rsa2048 nokey.example.com int-rsa # deliberately no key.pem
write_chain 1003 int-rsa root

record 1004 p384 p384.example.com int-ec
pkcs8_key 1004
write_chain 1004 int-ec root

# --------------------------------------------------------------------------
# TLS material for serving the demo store over HTTPS on this machine.
# Issued by the root directly so clients need nothing but ca.pem, and
# server.pem holds only the leaf because ca.pem is all the chain there is.

mkdir -p "$STORE/tls"
cp "$WORK/ca/root.pem" "$STORE/tls/ca.pem"
make_leaf p256 "$WORK/leaf/tls.key" "$STORE/tls/server.pem" "/CN=localhost" \
    "DNS:localhost, IP:127.0.0.1, IP:::1" root serverAuth
cp "$WORK/leaf/tls.key" "$STORE/tls/server.key"

printf '%s\n' '{"demo-admin-token": {"principal": "admin", "export_keys": true}, "demo-reader-token": {"principal": "reader", "export_keys": false}}' \
    >"$STORE/tokens.json"

# --------------------------------------------------------------------------
# Self-check and summary.

failures=0
fail() {
    echo "FAIL $1: $2" >&2
    failures=$((failures + 1))
}

# pub_algo < PUBLIC-KEY-PEM -> RSA-2048, EC-P-256, ED25519, ...
pub_algo() {
    local text
    text=$(openssl pkey -pubin -noout -text_pub)
    case $text in
    *Modulus:*) sed -n '1s/.*(\([0-9]*\) bit).*/RSA-\1/p' <<<"$text" ;;
    *"NIST CURVE:"*) sed -n 's/^ *NIST CURVE: */EC-/p' <<<"$text" ;;
    *) sed -n '1s/ Public-Key:.*//p' <<<"$text" ;;
    esac
}

key_form() {
    case $(head -1 "$1") in
    *"BEGIN PRIVATE KEY"*) echo "PKCS#8" ;;
    *"BEGIN RSA PRIVATE KEY"*) echo "PKCS#1" ;;
    *"BEGIN EC PRIVATE KEY"*) echo "SEC1" ;;
    *) echo "?" ;;
    esac
}

# check NAME CERT KEY-or-"" CHAIN-or-"" EXPECTED-KEY-FORM
check() {
    local name=$1 cert=$2 key=$3 chain=$4 want_form=$5
    local subject algo form=- match=- verified=-
    local cert_pub key_pub
    subject=$(openssl x509 -in "$cert" -noout -subject -nameopt oneline | sed 's/^subject=//')
    cert_pub=$(openssl x509 -in "$cert" -noout -pubkey)
    algo=$(pub_algo <<<"$cert_pub")
    if [[ -n $key ]]; then
        form=$(key_form "$key")
        [[ $form == "$want_form" ]] || fail "$name" "key is $form, expected $want_form"
        key_pub=$(openssl pkey -in "$key" -pubout)
        if [[ $cert_pub == "$key_pub" ]]; then match=yes; else
            match=no
            fail "$name" "key does not match certificate"
        fi
    fi
    # Only the root is trusted; chain.pem is offered as untrusted material,
    # which is exactly how a client would treat it.
    if openssl verify -CAfile "$WORK/ca/root.pem" ${chain:+-untrusted "$chain"} "$cert" >/dev/null 2>&1; then
        verified=ok
    else
        verified=FAIL
        fail "$name" "does not verify against Demo Root CA"
    fi
    printf '%-6s %-28s %-9s %-7s %-6s %s\n' "$name" "$subject" "$algo" "$form" "$match" "$verified"
}

printf '%-6s %-28s %-9s %-7s %-6s %s\n' ID SUBJECT CERT_KEY KEY_PEM MATCH VERIFY
check 12345 "$STORE/12345/cert.pem" "$STORE/12345/key.pem" "$STORE/12345/chain.pem" "PKCS#8"
check 1001 "$STORE/1001/cert.pem" "$STORE/1001/key.pem" "$STORE/1001/chain.pem" "SEC1"
check 1002 "$STORE/1002/cert.pem" "$STORE/1002/key.pem" "$STORE/1002/chain.pem" "PKCS#8"
check 1003 "$STORE/1003/cert.pem" "" "$STORE/1003/chain.pem" ""
check 1004 "$STORE/1004/cert.pem" "$STORE/1004/key.pem" "$STORE/1004/chain.pem" "PKCS#8"
check tls "$STORE/tls/server.pem" "$STORE/tls/server.key" "" "PKCS#8"

# The TLS leaf must actually be usable for HTTPS on localhost, by name and by
# either loopback address.
for host in "-verify_hostname localhost" "-verify_ip 127.0.0.1" "-verify_ip ::1"; do
    # shellcheck disable=SC2086 # $host is an option and its argument
    openssl verify -CAfile "$STORE/tls/ca.pem" -purpose sslserver $host "$STORE/tls/server.pem" >/dev/null 2>&1 ||
        fail tls "server.pem fails $host"
done
[[ $(grep -c 'BEGIN CERTIFICATE' "$STORE/tls/server.pem") == 1 ]] || fail tls "server.pem is not a single certificate"

if ((failures > 0)); then
    echo "$failures self-check failure(s)" >&2
    exit 1
fi
echo "ok: demo store regenerated in $STORE" >&2

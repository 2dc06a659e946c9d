#!/usr/bin/env bash
# Runs perf/benches/kek_custody.rs with a throwaway SoftHSM2 token (Debian: apt-get install
# softhsm2): the KEK in the token beside the KEK file, in one run. Arguments after `--` go to
# criterion (e.g. -- --warm-up-time 1 --measurement-time 3).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
  "$dir/tokens" >"$dir/softhsm2.conf"
export SOFTHSM2_CONF="$dir/softhsm2.conf"
pin=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
softhsm2-util --init-token --free --label bench --pin "$pin" --so-pin "$pin" >/dev/null
(umask 077 && printf '%s\n' "$pin" >"$dir/pin")
module=${CERT_DOWNLOAD_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
export CERT_DOWNLOAD_BENCH_KEK_URI="pkcs11:token=bench;object=kek-bench?pin-source=file:$dir/pin&module-path=$module"
cargo bench -p cert-download-perf --bench kek_custody "$@"

#!/usr/bin/env bash
# What counting costs the service's hot path, in instructions (callgrind counts them, so the
# figure does not depend on other jobs sharing the machine, unlike a rate): the release
# server under `valgrind --tool=callgrind`, plain HTTP on loopback, answers N and then 2N crt
# downloads on one keep-alive connection, without and with --metrics-listen; the
# difference between the two runs of each setup divided by N is the server's instructions
# per request, start-up and shutdown cancelled out.
#
#   cargo build --release -p cert-download-server --bin cert-download-server
#   perf/metrics-instructions.sh [N]        # default 2000; Debian: apt-get install valgrind
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}
server=target/release/cert-download-server
[ -x "$server" ] || { echo "build it first: cargo build --release -p cert-download-server --bin cert-download-server" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Instructions of one server run answering $1 requests; $2... are extra server flags.
run() {
  local count=$1
  shift
  local port out
  port=$(free_port)
  out="$dir/callgrind.$port"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$server" --insecure-http \
    --listen "127.0.0.1:$port" --downloads-per-minute 100000000 --download-burst 100000000 \
    --max-requests-per-connection 1000000 --max-connection-age 86400 \
    "$@" >"$dir/stdout.$port" 2>"$dir/stderr.$port" &
  local pid=$!
  for _ in $(seq 600); do
    grep -q "listening on" "$dir/stdout.$port" 2>/dev/null && break
    sleep 0.1
  done
  python3 - "$port" "$count" <<'PY'
import http.client, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
body = b'{"id": 12345, "format": "crt"}'
headers = {"Authorization": "Bearer demo-reader-token", "Content-Type": "application/json"}
for _ in range(count):
    conn.request("POST", "/api/certificate/download", body, headers)
    reply = conn.getresponse()
    reply.read()
    if reply.status != 200:
        sys.exit(f"status {reply.status}")
conn.close()
PY
  kill -TERM "$pid"
  wait "$pid" || true
  awk '/^totals:/ {print $2}' "$out"
}

printf '| setup | instructions, %s requests | %s requests | per request |\n|---|---:|---:|---:|\n' "$n" "$((2 * n))"
declare -A per
for setup in off on; do
  flags=()
  if [ "$setup" = on ]; then flags=(--metrics-listen "127.0.0.1:$(free_port)"); fi
  a=$(run "$n" "${flags[@]}")
  b=$(run "$((2 * n))" "${flags[@]}")
  per[$setup]=$(((b - a) / n))
  printf '| metrics %s | %s | %s | %s |\n' "$setup" "$a" "$b" "${per[$setup]}"
done
python3 -c "import sys; off, on = map(int, sys.argv[1:]); print(f'\nmetrics on / off, per request: {on / off:.4f} ({on - off:+d} instructions)')" "${per[off]}" "${per[on]}"

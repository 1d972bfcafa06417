#!/usr/bin/env bash
# Instructions per controlled `tools/call`, by callgrind.
#
# Starts `mcp-connector serve` (profiling build) under callgrind with every
# control on (OAuth client_credentials token, audit, allowlist, rate limits,
# output wrapping), warms it up, zeroes the counters, drives CALLS calls on
# one keep-alive connection with `mcp-bench drive`, dumps, and prints the
# instructions per call. Usage:
#
#   cargo build --profile profiling -p mcp-connector -p mcp-bench
#   crates/mcp-bench/scripts/profile-call.sh [CALLS] [--sessions]
#
# The dump stays in $OUT (default /tmp/mcp-profile) for callgrind_annotate.
set -euo pipefail
calls=${1:-500}
mode=${2:-}
target=${CARGO_TARGET_DIR:-target}/profiling
bin=$target/mcp-connector
bench=$target/mcp-bench
out=${OUT:-/tmp/mcp-profile}
rm -rf "$out" && mkdir -p "$out"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port
cat >"$out/on.toml" <<TOML
[server]
demo = "company"

[network]
allow = ["loopback"]

[limits]
requests_per_minute = 60000000
burst = 1000000
tool_calls_per_minute = 60000000
address_requests_per_minute = 60000000
address_burst = 1000000

[audit]
enabled = true

[safety]
wrap_untrusted_output = true
TOML
common=(--config "$out/on.toml" --database-url "sqlite://$out/db.sqlite" --auth oauth --public-url "$url")
creds=$(RUST_LOG=warn "$bin" client add "${common[@]}" --name profile --grant client_credentials \
  --scope employees:read --format json)
id=$(jq -r .client_id <<<"$creds")
secret=$(jq -r .client_secret <<<"$creds")
if [ "$(jq -r .token_endpoint_auth_method <<<"$creds")" = client_secret_basic ]; then
  cred=(-u "$id:$secret")
else
  cred=(-d "client_id=$id" -d "client_secret=$secret")
fi
serve=(serve "${common[@]}" --listen "127.0.0.1:$port")
[ "$mode" = --sessions ] && serve+=(--sessions)
RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" \
  --dump-instr=no --collect-atstart=yes "$bin" "${serve[@]}" 2>"$out/valgrind.log" &
vg=$!
trap 'kill $vg 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do
  curl -fsS "$url/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
token=$(curl -fsS "${cred[@]}" -d grant_type=client_credentials -d scope=employees:read "$url/token" \
  | jq -r .access_token)
drive=("$bench" drive --url "$url" --authorization "Bearer $token")
[ "$mode" = --sessions ] && drive+=(--sessions)
"${drive[@]}" --calls 200 >/dev/null 2>&1   # warm-up: prepared statements, caches
callgrind_control --zero $vg >/dev/null
"${drive[@]}" --calls "$calls"
callgrind_control --dump=measured $vg >/dev/null
sleep 1
kill -INT $vg; wait $vg 2>/dev/null || true
dump=$(ls "$out"/callgrind.out* | grep -v '\.out$' | head -1 || true)
[ -n "$dump" ] || dump=$(ls -t "$out"/callgrind.out* | head -1)
total=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1; exit}')
echo "dump: $dump"
echo "instructions: $total over $calls calls = $((total / calls)) per call"

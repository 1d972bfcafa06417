#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#   1. cargo fmt --check, clippy -D warnings, cargo deny (bans, licenses, sources)
#   2. unit and integration tests (every integration test on SQLite, and on
#      PostgreSQL too when TEST_DATABASE_URL is set), among them the deploy/ recipes
#      behind the Debian nginx, caddy and haproxy, the systemd unit checked by
#      systemd-analyze, and the company sign-in with the pinned npm `oidc-provider`
#      in Chromium (interop/setup.sh installs all of it first)
#   3. the official MCP conformance suite: stable (0.1.16, --suite all) against
#      the conformance fixtures with --sessions, and the 2026-07-28 pre-release
#      against them in both session modes
#   4. the official Python and TypeScript SDK clients against the Company demo, and the
#      Python client against config-declared tools (examples/hr) on SQLite, PostgreSQL
#      and MariaDB (interop/declared.sh)
#   5. OAuth: the built-in authorization server with the SDKs' OAuth providers, Claude's
#      flow and `conformance authorization` (interop/oauth.sh)
#   6. the login and consent pages in headless Chromium (interop/browser.mjs)
#
# Environment:
#   CARGO_TARGET_DIR    build cache (default: ~/.cache/mcp-connector/target, outside
#                       the checkout so that fresh clones reuse it)
#   TEST_DATABASE_URL   PostgreSQL for the second run of every test
#                       (e.g. postgres://postgres@127.0.0.1:5432/postgres)
#   TEST_MYSQL_URL      MariaDB/MySQL for the declared-tool tests and interop
#                       (e.g. mysql://root@127.0.0.1:3306/test)
#   SKIP_INTEROP=1      stop after the cargo tests (fast local loop)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mcp-connector/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
passed=0
step() { printf '\n==> %s\n' "$*"; }
ok() { passed=$((passed + 1)); }

step "cargo fmt --check"
cargo fmt --all -- --check
ok

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
ok

step "cargo deny check bans licenses sources"
# Offline checks only (the advisory database needs the internet; see README).
# cargo-deny is installed once, pinned, into $CARGO_HOME/bin and reused.
if ! cargo deny --version >/dev/null 2>&1; then
  cargo install --locked cargo-deny@0.20.2 --root "${CARGO_HOME:-$HOME/.cargo}"
fi
cargo deny --locked check --hide-inclusion-graph bans licenses sources
ok

step "install the pinned clients, conformance suites, the test identity provider and the Debian packages"
# Before cargo test: the upstream sign-in tests start interop/oidc_op.mjs (npm
# oidc-provider) and drive Chromium (they fail, never skip, without them); the
# deployment tests start the real proxies (nginx, caddy, haproxy).
bash interop/setup.sh
venv="${INTEROP_VENV:-$HOME/.cache/mcp-connector/venv}"
ok

if [[ -n "${TEST_DATABASE_URL:-}" ]]; then backends="SQLite and PostgreSQL"; else backends="SQLite only: TEST_DATABASE_URL is not set"; fi
step "cargo test ($backends)"
# interop/setup.sh installed every tool the tests start: a missing one fails them.
MCP_CONNECTOR_REQUIRE_TOOLS=1 cargo test --workspace --locked
ok

if [[ "${SKIP_INTEROP:-0}" == "1" ]]; then
  printf '\ntest.sh: %d passed, 0 failed\n' "$passed"
  exit 0
fi

step "start servers"
bin="$CARGO_TARGET_DIR/debug/mcp-connector"
cargo build --locked -p mcp-connector
work="$(mktemp -d)"
# Conformance logs and checks.json are kept (git-ignored) for inspection after a failure.
results="$root/interop/results/$(date -u +%Y%m%dT%H%M%SZ)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# start NAME ARGS...: run `mcp-connector serve` on a free loopback port; sets $url.
start() {
  local name="$1"; shift
  local port; port="$(free_port)"
  RUST_LOG="${RUST_LOG:-warn}" "$bin" serve --listen "127.0.0.1:$port" "$@" >"$work/$name.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
      url="http://127.0.0.1:$port/mcp"
      echo "$name on $url"
      return 0
    fi
    sleep 0.1
  done
  echo "server $name did not start:" >&2
  cat "$work/$name.log" >&2
  return 1
}

start company --database-url "sqlite://$work/company.db"; company_url="$url"
start conformance-sessions --demo conformance --sessions --database-url "sqlite://$work/conf-s.db"; conf_sessions_url="$url"
start conformance-stateless --demo conformance --database-url "sqlite://$work/conf.db"; conf_stateless_url="$url"
if [[ -n "${TEST_DATABASE_URL:-}" ]]; then
  pg_db="mcpc_interop_$$"
  psql "$TEST_DATABASE_URL" -qAt -c "DROP DATABASE IF EXISTS $pg_db" -c "CREATE DATABASE $pg_db" >/dev/null
  pg_url="$(python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/"+sys.argv[2])))' "$TEST_DATABASE_URL" "$pg_db")"
  start company-postgres --database-url "$pg_url"; company_pg_url="$url"
fi

step "conformance: stable suite (--suite all) and 2026-07-28 pre-release, sessions mode"
CONFORMANCE_SUITES="stable 2026-07-28" CONFORMANCE_RESULTS="$results/sessions" \
  bash interop/conformance.sh "$conf_sessions_url"
ok
step "conformance: 2026-07-28 pre-release, stateless mode"
CONFORMANCE_SUITES="2026-07-28" CONFORMANCE_RESULTS="$results/stateless" \
  bash interop/conformance.sh "$conf_stateless_url"
ok

step "interop: official TypeScript SDK client"
interop/node_modules/.bin/node interop/ts_client.mjs "$company_url"
ok
step "interop: official Python SDK client, newest protocol (2026-07-28)"
"$venv/bin/python" interop/py_client.py --mode newest "$company_url"
ok
step "interop: official Python SDK client, session-based (initialize)"
"$venv/bin/python" interop/py_client.py --mode session "$company_url"
ok
if [[ -n "${company_pg_url:-}" ]]; then
  step "interop: Python and TypeScript clients against the Company demo on PostgreSQL"
  "$venv/bin/python" interop/py_client.py --mode newest "$company_pg_url"
  interop/node_modules/.bin/node interop/ts_client.mjs "$company_pg_url"
  ok
  psql "$TEST_DATABASE_URL" -qAt -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
fi

step "interop: Python SDK client calls config-declared tools (examples/hr) on each engine"
bash interop/declared.sh "$bin"
ok

step "interop: OAuth (Python and TypeScript SDK providers, Claude's flow, conformance authorization)"
CONFORMANCE_RESULTS="$results/oauth" bash interop/oauth.sh "$bin" "$work"
ok
if [[ -n "${TEST_DATABASE_URL:-}" ]]; then
  step "interop: OAuth again, on PostgreSQL"
  oauth_db="mcpc_interop_oauth_$$"
  psql "$TEST_DATABASE_URL" -qAt -c "DROP DATABASE IF EXISTS $oauth_db" -c "CREATE DATABASE $oauth_db" >/dev/null
  oauth_pg_url="$(python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/"+sys.argv[2])))' "$TEST_DATABASE_URL" "$oauth_db")"
  mkdir -p "$work/pg"
  OAUTH_DATABASE_URL="$oauth_pg_url" CONFORMANCE_RESULTS="$results/oauth-postgres" \
    bash interop/oauth.sh "$bin" "$work/pg"
  ok
  psql "$TEST_DATABASE_URL" -qAt -c "DROP DATABASE IF EXISTS $oauth_db WITH (FORCE)" >/dev/null 2>&1 || true
fi

step "interop: login and consent pages in headless Chromium (interop/browser.mjs)"
if [[ -n "${CHROMIUM:-}" ]] || command -v chromium >/dev/null 2>&1 \
  || command -v chromium-browser >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1; then
  browser_port="$(free_port)"
  browser_issuer="http://127.0.0.1:$browser_port"
  browser_env=(env MCP_CONNECTOR_DATABASE_URL="sqlite://$work/browser.db" MCP_CONNECTOR_AUTH=oauth
    MCP_CONNECTOR_PUBLIC_URL="$browser_issuer")
  RUST_LOG="${RUST_LOG:-warn}" "${browser_env[@]}" "$bin" serve --listen "127.0.0.1:$browser_port" \
    >"$work/browser.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 100); do curl -fsS "$browser_issuer/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  browser_password="browser-$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
  printf '%s\n' "$browser_password" \
    | "${browser_env[@]}" "$bin" user add browser-user --role editor --password-stdin >/dev/null
  (umask 077 && "${browser_env[@]}" "$bin" client add --format json --name "Headless Chromium" \
    --redirect-uri http://127.0.0.1/callback >"$work/browser-client.json")
  browser_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$work/browser-client.json" "$1"; }
  # Screenshots of the login, consent and callback pages go to the (git-ignored) results.
  CLIENT_SECRET="$(browser_field client_secret)" interop/node_modules/.bin/node interop/browser.mjs \
    "$browser_issuer" "$(browser_field client_id)" http://127.0.0.1/callback browser-user \
    "$browser_password" "$results/browser"
  ok
else
  # The browser test is part of the suite: a missing browser is a failure,
  # not a silent skip.
  echo "FAILED: no Chromium (run interop/setup.sh as root, or set CHROMIUM)" >&2
  exit 1
fi

printf '\ntest.sh: %d passed, 0 failed\n' "$passed"

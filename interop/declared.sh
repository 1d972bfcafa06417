#!/usr/bin/env bash
# Interop: the official Python SDK client calls config-declared tools on every engine.
#
#   interop/declared.sh [BIN]
#
# For each engine, seeds examples/hr into a fresh database (examples/seed.sh), starts
# `BIN serve --config examples/hr/connector.toml` with HR_DATABASE_URL pointing at it,
# and runs interop/py_declared.py (count_by_title and list_by_department with paging).
#
#   SQLite       always (a file in a temporary directory)
#   PostgreSQL   when TEST_DATABASE_URL is set: database mcpc_examples_PID on that server
#   MariaDB      when TEST_MYSQL_URL is set (e.g. mysql://root@127.0.0.1:3306/test):
#                database mcpc_examples_PID on that server
#
# Prints a PASS/FAIL line per engine and exits non-zero if any failed. BIN defaults to
# $CARGO_TARGET_DIR/debug/mcp-connector; the venv (INTEROP_VENV) comes from interop/setup.sh.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$HOME/.cache/mcp-connector/target}"
bin="${1:-$target/debug/mcp-connector}"
venv="${INTEROP_VENV:-$HOME/.cache/mcp-connector/venv}"
[[ -x "$bin" ]] || { echo "declared.sh: $bin not found (cargo build -p mcp-connector)" >&2; exit 2; }
[[ -x "$venv/bin/python" ]] || { echo "declared.sh: no venv at $venv (bash interop/setup.sh)" >&2; exit 2; }

work="$(mktemp -d)"
db_name="mcpc_examples_$$"
pid=""
pg_url="" my_url=""
cleanup() {
  [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  if [[ -n "$pg_url" ]]; then
    psql "$TEST_DATABASE_URL" -qAtX -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  if [[ -n "$my_url" ]]; then
    python3 - "$my_url" "$db_name" <<'PY' >/dev/null 2>&1 || true
import os, subprocess, sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
env = dict(os.environ, MYSQL_PWD=u.unquote(p.password or ""))
client = "mariadb" if subprocess.run(["which", "mariadb"], capture_output=True).returncode == 0 else "mysql"
subprocess.run([client, "--protocol=TCP", "-h", p.hostname or "127.0.0.1", "-P", str(p.port or 3306),
                "-u", u.unquote(p.username or "root"), "-e", f"DROP DATABASE IF EXISTS {sys.argv[2]}"], env=env)
PY
  fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
# with_db URL NAME: URL with its path (database) replaced by NAME.
with_db() { python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/"+sys.argv[2])))' "$1" "$2"; }

engines=() urls=()
engines+=(sqlite) urls+=("sqlite://$work/hr.db")
if [[ -n "${TEST_DATABASE_URL:-}" ]]; then
  pg_url="$(with_db "$TEST_DATABASE_URL" "$db_name")"
  PGOPTIONS="-c client_min_messages=warning" psql "$TEST_DATABASE_URL" -qAtX -c "DROP DATABASE IF EXISTS $db_name" >/dev/null
  engines+=(postgres) urls+=("$pg_url")
else
  echo "declared: postgres skipped (TEST_DATABASE_URL is not set)"
fi
if [[ -n "${TEST_MYSQL_URL:-}" ]]; then
  my_url="$(with_db "$TEST_MYSQL_URL" "$db_name")"
  engines+=(mysql) urls+=("$my_url")
else
  echo "declared: mariadb skipped (TEST_MYSQL_URL is not set)"
fi

failed=0
for i in "${!engines[@]}"; do
  engine="${engines[$i]}" url="${urls[$i]}"
  label="$engine"; [[ "$engine" == mysql ]] && label="mariadb"
  log="$work/$engine.log"
  if ! bash examples/seed.sh "$engine" hr "$url" >"$work/$engine.seed" 2>&1; then
    echo "declared $label: FAIL (seeding examples/hr)"; cat "$work/$engine.seed" >&2
    failed=$((failed + 1)); continue
  fi
  port="$(free_port)"
  # The connector's own database (audit, sessions) is separate from the HR source.
  HR_DATABASE_URL="$url" RUST_LOG="${RUST_LOG:-warn}" "$bin" serve --config examples/hr/connector.toml \
    --listen "127.0.0.1:$port" --database-url "sqlite://$work/$engine-connector.db" >"$log" 2>&1 &
  pid="$!"
  up=0
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then up=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ "$up" == 1 ]] && out="$("$venv/bin/python" interop/py_declared.py --engine "$label" \
      "http://127.0.0.1:$port/mcp" 2>&1)"; then
    echo "declared $label: PASS ($out)"
  else
    echo "declared $label: FAIL"
    [[ "$up" == 1 ]] && printf '%s\n' "$out" >&2 || echo "server did not start" >&2
    tail -n 20 "$log" >&2
    failed=$((failed + 1))
  fi
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
done

if [[ "$failed" -gt 0 ]]; then
  echo "declared: $failed of ${#engines[@]} engine(s) failed" >&2
  exit 1
fi
echo "declared: ${#engines[@]} engine(s) passed"

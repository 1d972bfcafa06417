#!/usr/bin/env bash
# OAuth interop: the built-in authorization server against real clients.
#
# Usage: bash interop/oauth.sh BIN [WORK_DIR]
#   BIN       the mcp-connector binary (target/debug/mcp-connector)
#   WORK_DIR  scratch directory for the database, logs and client files (default: a new
#             temporary directory, removed afterwards)
#
# Starts `mcp-connector serve --auth oauth` on a fresh database, adds an editor with
# `user add --password-stdin` and clients with `client add --format json`, then runs:
#   1. Python SDK OAuthClientProvider, Dynamic Client Registration    (py_oauth.py dcr)
#   2. Python SDK OAuthClientProvider, pre-registered client          (py_oauth.py preregistered)
#   3. Claude's flow by hand: Claude's redirect URIs, client_secret_post and
#      client_secret_basic code exchanges, refresh, tool call         (py_oauth.py claude)
#   4. Python SDK ClientCredentialsOAuthProvider with a `client add --grant client_credentials`
#      service client; then `client revoke` must cut its token off within 5 seconds
#   5. TypeScript SDK authProvider: DCR public client, then a pre-registered
#      confidential one                                               (ts_oauth.mjs)
#   6. `conformance authorization` (conformance-next 0.2.0-alpha.12; the stable 0.1.16
#      has no such command), with --resource: the server requires it, as MCP does
#      (`auth.require_resource`; the suite omits it by default). It prints an authorize URL
#      for a person to open and waits for its callback server; this script reads that
#      URL from its output and completes the login and consent pages over HTTP
#      (py_oauth.py drive), which delivers the redirect to the callback server.
#      Every check must be SUCCESS: no FAILURE, WARNING or SKIPPED.
# Each flow ends with get_employee_count(engineering) = 42.
#
# Environment:
#   INTEROP_VENV          the Python venv made by setup.sh
#   OAUTH_DATABASE_URL    database to use instead of a fresh SQLite file (it must be empty)
#   CONFORMANCE_RESULTS   where the conformance checks.json files go (default: WORK_DIR)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${1:?usage: oauth.sh BIN [WORK_DIR]}"
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
if [[ -n "${2:-}" ]]; then
  work="$2/oauth"
  mkdir -p "$work"
  own_work=0
else
  work="$(mktemp -d)"
  own_work=1
fi
venv="${INTEROP_VENV:-$HOME/.cache/mcp-connector/venv}"
py="$venv/bin/python"
node="$here/node_modules/.bin/node"
results="${CONFORMANCE_RESULTS:-$work/conformance}"
passed=0
server_pid=""

cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [[ "$own_work" == 1 ]]; then rm -rf "$work"; fi
}
trap cleanup EXIT

say() { printf '\n--> oauth: %s\n' "$*"; }
ok() { passed=$((passed + 1)); }
json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

port="$(free_port)"
issuer="http://127.0.0.1:$port"
url="$issuer/mcp"
db="${OAUTH_DATABASE_URL:-sqlite://$work/oauth.db}"
# The CLI reads the same settings as `serve`.
export MCP_CONNECTOR_DATABASE_URL="$db"
export MCP_CONNECTOR_AUTH=oauth
export MCP_CONNECTOR_PUBLIC_URL="$issuer"

say "start mcp-connector serve --auth oauth on $issuer"
RUST_LOG="${RUST_LOG:-warn}" "$bin" serve --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "$issuer/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
if ! curl -fsS "$issuer/healthz" >/dev/null 2>&1; then
  echo "oauth: the server did not start:" >&2
  cat "$work/server.log" >&2
  exit 1
fi

say "user add (editor, --password-stdin) and client add (--format json)"
export OAUTH_USERNAME="alice"
OAUTH_PASSWORD="interop-$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
export OAUTH_PASSWORD
printf '%s\n' "$OAUTH_PASSWORD" | "$bin" user add "$OAUTH_USERNAME" --role editor --password-stdin
umask 077 # the client files hold secrets
add_client() { # FILE ARGS...: `client add --format json ARGS` into FILE
  local file="$1"; shift
  "$bin" client add --format json "$@" >"$work/$file"
}
add_client py.json --name "Python SDK" --redirect-uri http://127.0.0.1:53682/callback
add_client ts.json --name "TypeScript SDK" --redirect-uri http://127.0.0.1:53683/callback
add_client claude.json --name "Claude"
add_client service.json --name "nightly report" --grant client_credentials --scope employees:read
conf_port="$(free_port)"
# Public: the server also offers `none` (Claude's metadata-document client), and then
# conformance sends no secret even when given one.
add_client conformance.json --name "conformance" --public --redirect-uri "http://127.0.0.1:$conf_port/callback"
"$bin" client list
ok

say "Python SDK: OAuthClientProvider with Dynamic Client Registration"
"$py" "$here/py_oauth.py" dcr "$url"
ok
say "Python SDK: OAuthClientProvider with a client from \`client add\`"
"$py" "$here/py_oauth.py" preregistered "$url" "$work/py.json"
ok
say "Claude's flow: claude.ai/claude.com redirects, client_secret_post and _basic, refresh"
"$py" "$here/py_oauth.py" claude "$url" "$work/claude.json"
ok
say "Python SDK: ClientCredentialsOAuthProvider (service client), then client revoke"
"$py" "$here/py_oauth.py" service "$url" "$work/service.json"
# A token of its own, then the revocation: refused within 5 s (the validation cache's bound).
svc_id="$(json_field "$work/service.json" client_id)"
token="$("$py" "$here/py_oauth.py" token "$issuer/token" "$work/service.json")"
mcp_status() {
  curl -s -o /dev/null -w '%{http_code}' "$url" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    -H 'MCP-Protocol-Version: 2025-11-25' -d '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
}
[[ "$(mcp_status)" == 200 ]] || { echo "oauth: the service token was refused before revocation" >&2; exit 1; }
"$bin" client revoke "$svc_id"
revoked_at=$SECONDS
until [[ "$(mcp_status)" == 401 ]]; do
  if (( SECONDS - revoked_at > 6 )); then echo "oauth: token still accepted 6 s after client revoke" >&2; exit 1; fi
  sleep 0.5
done
echo "  token refused $((SECONDS - revoked_at)) s after client revoke"
ok
say "TypeScript SDK: authProvider with DCR (public client), then a client from \`client add\`"
(cd "$here" && "$node" ts_oauth.mjs "$url" "$work/ts.json")
ok

# conformance_auth NAME ARGS...: run `conformance authorization`, completing the login it
# asks for; every check in its checks.json files must be SUCCESS.
conformance_auth() {
  local name="$1"; shift
  local out="$results/$name" authorize="" line driven=0 pid status
  local client_id
  client_id="$(json_field "$work/conformance.json" client_id)"
  mkdir -p "$out"
  coproc CONF {
    exec timeout 150 "$node" "$here/node_modules/conformance-next/dist/index.js" authorization \
      --url "$issuer" --client-id "$client_id" --port "$conf_port" -o "$out" "$@" 2>&1
  }
  pid=$CONF_PID
  # Bash unsets CONF when the coprocess exits; a duplicate descriptor stays readable.
  local conf_out
  exec {conf_out}<&"${CONF[0]}"
  while IFS= read -r line <&"$conf_out"; do
    printf '  conformance> %s\n' "$line"
    case "$line" in
      "$issuer/authorize?"*) authorize="$line" ;;
      # The callback server starts after the URL is printed: act only once it listens.
      "Callback server started:"*)
        if [[ -n "$authorize" ]] && "$py" "$here/py_oauth.py" drive "$authorize"; then
          driven=1
        else
          echo "oauth: could not complete the login for conformance" >&2
          kill "$pid" 2>/dev/null || true
        fi
        ;;
    esac
  done
  exec {conf_out}<&-
  status=0
  wait "$pid" 2>/dev/null || status=$?
  if [[ "$status" != 0 || "$driven" != 1 ]]; then
    echo "oauth: conformance authorization ($name) failed (exit $status)" >&2
    return 1
  fi
  python3 - "$out" <<'EOF'
import json, pathlib, sys
checks = [c for f in sorted(pathlib.Path(sys.argv[1]).rglob("checks.json")) for c in json.loads(f.read_text())]
bad = [c for c in checks if c.get("status") != "SUCCESS"]
for c in bad:
    print(f"  {c.get('status')}: {c.get('id')}: {c.get('errorMessage') or c.get('description')}", file=sys.stderr)
ids = sorted({c.get("id") for c in checks})
if len(checks) < 3 or bad or "authorization-code-grant" not in ids:
    sys.exit(f"oauth: conformance authorization: {len(checks)} checks, {len(bad)} not SUCCESS ({ids})")
print(f"  conformance authorization: {len(checks)} checks, all SUCCESS ({', '.join(ids)})")
EOF
}

say "conformance authorization (conformance-next), with --resource"
conformance_auth with-resource --resource "$url"
ok

printf '\noauth.sh: %d passed, 0 failed\n' "$passed"

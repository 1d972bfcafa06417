#!/usr/bin/env bash
# Run the MCP conformance suites (server mode) against a running mcp-connector.
#
# Usage: interop/conformance.sh URL            e.g. http://127.0.0.1:8080/mcp
#
#   stable       @modelcontextprotocol/conformance 0.1.16: `server --url URL --suite all`
#                (every server scenario incl. pending ones, 2025-11-25 wire, initialize).
#                All scenarios must pass unless listed as `stable:<scenario>`.
#   2026-07-28   @modelcontextprotocol/conformance 0.2.0-alpha.12 (npm alias conformance-next):
#                `server --url URL --requirements 2026-07-28`, i.e. the frozen set the
#                2026-07-28 revision requires, run at the stateless 2026-07-28 wire.
#                Every scenario it runs must pass, including those the set marks
#                not_scored (the tasks and custom-header extensions, pending ones):
#                mcp-connector implements them. Failures listed in expected-failures.txt
#                are tolerated. CONFORMANCE_SCORED_ONLY=1 judges the frozen set only.
#
# Environment:
#   CONFORMANCE_SUITES        which runs, space separated (default: "stable 2026-07-28";
#                             "2025-11-25" runs the pre-release's 2025-11-25 requirement set)
#   CONFORMANCE_RESULTS       where logs and checks.json go (default: interop/results/<time>)
#   CONFORMANCE_EXPECTED      expected-failures file (default: interop/expected-failures.txt)
#   CONFORMANCE_TIMEOUT       wall-clock limit per suite in seconds (default: 1200)
#   CONFORMANCE_SCENARIO_MS   per-scenario timeout for the pre-release suite (default: 30000)
#
# Exit status: 0 when every run has no unexpected failure, 1 otherwise, 2 on usage errors.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
url="${1:-}"
if [[ -z "$url" ]]; then
  echo "usage: $0 URL" >&2
  exit 2
fi

node="$here/node_modules/.bin/node"   # Node 22 from the pinned npm package `node`
stable_cli="$here/node_modules/@modelcontextprotocol/conformance/dist/index.js"
next_cli="$here/node_modules/conformance-next/dist/index.js"
for f in "$node" "$stable_cli" "$next_cli"; do
  if [[ ! -e "$f" ]]; then
    echo "conformance: $f is missing; run interop/setup.sh first" >&2
    exit 2
  fi
done

suites="${CONFORMANCE_SUITES:-stable 2026-07-28}"
results="${CONFORMANCE_RESULTS:-$here/results/$(date -u +%Y%m%dT%H%M%SZ)}"
expected="${CONFORMANCE_EXPECTED:-$here/expected-failures.txt}"
limit="${CONFORMANCE_TIMEOUT:-1200}"
scenario_ms="${CONFORMANCE_SCENARIO_MS:-30000}"
mkdir -p "$results"

# The suites write results/ relative to the working directory only with -o; run them
# from the results directory anyway so nothing lands in the source tree.
status=0
for suite in $suites; do
  out="$results/$suite"
  log="$results/$suite.log"
  mkdir -p "$out"
  req_args=()
  if [[ "$suite" == "stable" ]]; then
    cmd=("$node" "$stable_cli" server --url "$url" --suite all -o "$out")
  else
    req="$here/node_modules/conformance-next/requirements/$suite.yaml"
    if [[ ! -f "$req" ]]; then
      echo "conformance: unknown suite '$suite' (no $req)" >&2
      status=1
      continue
    fi
    cmd=("$node" "$next_cli" server --url "$url" --requirements "$suite"
      --timeout "$scenario_ms" -o "$out")
    req_args=(--requirements "$req")
    if [[ "${CONFORMANCE_SCORED_ONLY:-0}" != "1" ]]; then
      req_args+=(--all-scored 1)
    fi
  fi
  echo "conformance [$suite]: ${cmd[*]:1}" | sed "s#$here/##g"
  (cd "$results" && NO_COLOR=1 FORCE_COLOR=0 timeout --kill-after=10 "$limit" "${cmd[@]}") >"$log" 2>&1
  rc=$?
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then
    echo "conformance [$suite]: timed out after ${limit}s (partial log: $log)"
  fi
  "$node" "$here/conformance-report.mjs" --label "$suite" --log "$log" --dir "$out" --rc "$rc" \
    --expected "$expected" "${req_args[@]}" || status=1
done

echo "conformance: logs and checks.json under $results"
exit $status

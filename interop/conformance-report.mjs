#!/usr/bin/env node
// Judge one conformance-suite run (`conformance server ... -o DIR > LOG`).
//
// Usage: node conformance-report.mjs --label L --log LOG --dir DIR --rc N
//          [--expected FILE] [--requirements YAML]
//
// Sources, cross-checked:
//   * LOG: the suite's "=== SUMMARY ===" block, one "✓|✗ <scenario>: P passed, F failed"
//     line per scenario run (a scenario that threw is listed with a synthetic FAILURE);
//   * DIR/server-<scenario>-<timestamp>/checks.json: the checks of each scenario (a
//     directory without checks.json means the scenario crashed before finishing).
// A scenario fails when any of its checks has status FAILURE (WARNING/INFO do not fail,
// matching the suite's own exit rule).
//
// --requirements YAML: the suite's frozen requirement set (requirements/<rev>.yaml);
// scenarios outside its `server:` list (not_scored: extensions, pending, ...) are reported
// but never fail the run, unless --all-scored 1 is given: then every scenario run counts
// (mcp-connector implements the extensions too), and only expected failures are tolerated.
// --expected FILE: one scenario per line, `#` starts a comment. A line may be prefixed
// with `<label>:` to apply to one run only (labels: stable, 2026-07-28, ...); unprefixed
// lines apply to the pre-release runs (every label except `stable`).
//
// Exit 0 when every scored failure is expected; 1 otherwise (unexpected failure, crash,
// missing summary). Stale expected entries (scenario now passes) only warn.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) {
  args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
}
const label = args.label ?? 'suite';
const problems = [];

function parseSummary(text) {
  const at = text.lastIndexOf('=== SUMMARY ===');
  if (at < 0) return undefined;
  const out = new Map();
  for (const line of text.slice(at).split('\n')) {
    const m = /^([✓✗]) (\S+): (\d+) passed, (\d+) failed/.exec(line.trim());
    if (m) out.set(m[2], { passed: Number(m[3]), failed: Number(m[4]) });
  }
  return out;
}

function readCheckDirs(dir) {
  const out = new Map();
  if (!dir || !existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const m = /^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/.exec(name);
    if (!m) continue;
    const file = join(dir, name, 'checks.json');
    let checks;
    if (existsSync(file)) {
      try {
        checks = JSON.parse(readFileSync(file, 'utf8'));
      } catch (e) {
        checks = [{ name: 'checks.json', status: 'FAILURE', errorMessage: `unreadable: ${e.message}` }];
      }
    } else {
      checks = [{ name: 'checks.json', status: 'FAILURE', errorMessage: 'scenario did not finish (no checks.json)' }];
    }
    out.set(m[1], checks);
  }
  return out;
}

function readExpected(file) {
  const out = new Map();
  if (!file || !existsSync(file)) return out;
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const m = /^([^\s:]+):(\S+)$/.exec(line);
    const [scope, name] = m ? [m[1], m[2]] : ['*next*', line];
    const applies = scope === label || (scope === '*next*' && label !== 'stable');
    if (applies) out.set(name, raw.includes('#') ? raw.slice(raw.indexOf('#') + 1).trim() : '');
  }
  return out;
}

function readScored(file) {
  if (!file) return undefined;
  // Minimal reader for the suite's requirement file: the top-level `server:` list.
  const scored = new Set();
  let inServer = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (/^\S/.test(line)) inServer = /^server:\s*$/.test(line);
    else if (inServer) {
      const m = /^\s+-\s+([\w./-]+)\s*$/.exec(line);
      if (m) scored.add(m[1]);
    }
  }
  if (scored.size === 0) problems.push(`no server scenarios found in ${file}`);
  return scored;
}

const log = args.log && existsSync(args.log) ? readFileSync(args.log, 'utf8') : '';
const summary = parseSummary(log);
const checksByScenario = readCheckDirs(args.dir);
const expected = readExpected(args.expected);
const scored = args['all-scored'] === '1' ? undefined : readScored(args.requirements);

if (!summary || summary.size === 0) {
  problems.push(`no "=== SUMMARY ===" block in ${args.log} (suite exited ${args.rc}); see the log`);
}

const scenarios = new Set([...(summary?.keys() ?? []), ...checksByScenario.keys()]);
const failed = [];
const passed = [];
for (const name of [...scenarios].sort()) {
  const checks = checksByScenario.get(name) ?? [];
  const failures = checks.filter((c) => c.status === 'FAILURE');
  const sumFailed = summary?.get(name)?.failed ?? 0;
  if (failures.length > 0 || sumFailed > 0) {
    const detail = failures
      .slice(0, 3)
      .map((c) => `${c.id ?? c.name}: ${(c.errorMessage ?? c.description ?? '').split('\n')[0].slice(0, 200)}`);
    failed.push({ name, count: Math.max(failures.length, sumFailed), detail });
  } else {
    passed.push(name);
  }
}

const unexpected = [];
const lines = [];
for (const f of failed) {
  const isScored = !scored || scored.has(f.name);
  let tag;
  if (!isScored) tag = 'FAIL (not scored)';
  else if (expected.has(f.name)) tag = 'FAIL (expected)';
  else {
    tag = 'FAIL (UNEXPECTED)';
    unexpected.push(f.name);
  }
  lines.push(`  ${tag} ${f.name}: ${f.count} failed check(s)`);
  for (const d of f.detail) lines.push(`      - ${d}`);
}
const stale = [...expected.keys()].filter((n) => passed.includes(n));
const missing = [...expected.keys()].filter((n) => !scenarios.has(n));

console.log(`[${label}] ${scenarios.size} scenarios run: ${passed.length} clean, ${failed.length} with failures`);
for (const l of lines) console.log(l);
for (const n of stale) console.log(`  warning: ${n} is listed in expected failures but now passes; remove it`);
for (const n of missing) console.log(`  note: expected failure ${n} was not run in this suite`);
for (const p of problems) console.log(`  ERROR: ${p}`);

const ok = unexpected.length === 0 && problems.length === 0;
console.log(
  `[${label}] ${ok ? 'OK' : 'NOT OK'}` +
    (unexpected.length ? ` - unexpected failures: ${unexpected.join(', ')}` : '')
);
process.exit(ok ? 0 : 1);

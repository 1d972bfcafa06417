// The approval view (MCP Apps, `ui://mcp-connector/approval`) in a real browser: headless
// Chromium driven by playwright-core. Claude's own host cannot run here, so this page plays
// the host's part of the MCP Apps protocol (2026-01-26) and nothing more: it loads the view's
// HTML, exactly as the connector served it, into a sandboxed iframe (scripts allowed, opaque
// origin, the spec's default CSP: no network), answers `ui/initialize`, sends
// `ui/notifications/tool-input` and `ui/notifications/tool-result` with the real tools/call
// result, and records every request the view makes. The test then clicks the view's button.
//
// Usage: node interop/approval_view_browser.mjs CASE.json SCREENSHOT_DIR
// CASE.json: {"html": "<the resource's text>", "arguments": {...}, "result": {<CallToolResult>}}
// Prints {"view_text": "...", "requests": [{"method", "params"}...], "after_text": "...",
// "fetch_blocked": true|false}; exit status 1 on any failure. Screenshot: view.png.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const [casePath, shots] = process.argv.slice(2);
if (!shots) {
  console.error('usage: node approval_view_browser.mjs CASE.json SCREENSHOT_DIR');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const input = JSON.parse(readFileSync(casePath, 'utf8'));
const executablePath = process.env.CHROMIUM
  || ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));
if (!executablePath) {
  console.error('approval_view_browser.mjs: no Chromium found (run interop/setup.sh as root, or set CHROMIUM)');
  process.exit(1);
}

// The spec's restrictive default CSP for a view that declares no domains.
const CSP = "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
  + "img-src 'self' data:; media-src 'self' data:; connect-src 'none'";
const view = input.html.replace('<head>', `<head><meta http-equiv="Content-Security-Policy" content="${CSP}">`);

const host = `<!DOCTYPE html><html><body style="margin:0;background:#eee">
<iframe id="view" sandbox="allow-scripts" style="width:640px;height:520px;border:0;background:#fff"></iframe>
<script>
window.requests = [];
const input = ${JSON.stringify({ arguments: input.arguments, result: input.result }).replace(/</g, '\\u003c')};
const frame = document.getElementById('view');
window.addEventListener('message', (event) => {
  if (event.source !== frame.contentWindow) return;
  const m = event.data;
  if (!m || m.jsonrpc !== '2.0' || !m.method) return;
  window.requests.push({ method: m.method, params: m.params });
  const reply = (result) => frame.contentWindow.postMessage({ jsonrpc: '2.0', id: m.id, result }, '*');
  const push = (method, params) => frame.contentWindow.postMessage({ jsonrpc: '2.0', method, params }, '*');
  if (m.method === 'ui/initialize') {
    reply({ protocolVersion: '2026-01-26', hostCapabilities: { openLinks: {} },
      hostInfo: { name: 'mcp-apps-test-host', version: '1' }, hostContext: { theme: 'light', displayMode: 'inline' } });
  } else if (m.method === 'ui/notifications/initialized') {
    push('ui/notifications/tool-input', { arguments: input.arguments });
    push('ui/notifications/tool-result', input.result);
  } else if (m.method === 'ui/open-link') {
    reply({});
  } else if (m.id !== undefined) {
    frame.contentWindow.postMessage({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: 'not offered' } }, '*');
  }
});
frame.srcdoc = ${JSON.stringify(view).replace(/</g, '\\u003c')};
</script></body></html>`;

let browser;
let page;
try {
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext();
  context.setDefaultTimeout(15000);
  page = await context.newPage();
  await page.setContent(host);
  const frame = page.frameLocator('#view');
  await frame.locator('#details:not([hidden])').waitFor();
  const viewText = await frame.locator('main').innerText();
  await page.screenshot({ path: path.join(shots, 'view.png'), fullPage: true });
  await frame.locator('#open').click();
  await page.waitForFunction(() => window.requests.some((r) => r.method === 'ui/open-link'));
  await frame.locator('#status:has-text("Approve or reject")').waitFor();
  const afterText = await frame.locator('main').innerText();
  // The view's document cannot reach the network at all (what approving would need).
  const inner = page.frames().find((f) => f !== page.mainFrame());
  const fetchBlocked = await inner.evaluate(async (url) => {
    try { await fetch(url, { method: 'POST', body: 'decision=approve' }); return false; } catch (_) { return true; }
  }, input.result.structuredContent.approval_url);
  const requests = await page.evaluate(() => window.requests);
  console.log(JSON.stringify({ view_text: viewText, requests, after_text: afterText, fetch_blocked: fetchBlocked }));
} catch (e) {
  if (page) await page.screenshot({ path: path.join(shots, 'failure.png'), fullPage: true }).catch(() => {});
  console.error(`approval_view_browser.mjs: ${e.message}`);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close();
}

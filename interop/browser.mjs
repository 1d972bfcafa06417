// The built-in authorization server's login and consent pages in a real
// browser: headless Chromium ($CHROMIUM, /usr/bin/chromium or google-chrome)
// driven by playwright-core.
//
// Usage: node interop/browser.mjs BASE_URL CLIENT_ID REDIRECT_URI USERNAME PASSWORD SCREENSHOT_DIR
//   BASE_URL      the server's public origin (http://127.0.0.1:PORT); also the issuer
//   CLIENT_ID     a client registered for REDIRECT_URI
//   REDIRECT_URI  a loopback redirect (http://127.0.0.1[:PORT]/callback): this script
//                 serves it itself (on PORT, or on a free port when the URI has none,
//                 relying on the any-port rule for loopback redirects, RFC 8252 §7.3)
//   SCREENSHOT_DIR  gets login.png, consent.png and callback.png
// Environment: CLIENT_SECRET (confidential client: client_secret_post at /token),
//              SCOPE (sent as `scope`), CHROMIUM (browser binary).
//
// It computes a PKCE pair, opens /authorize, fills the login form, clicks Allow,
// captures the redirect to REDIRECT_URI, checks code/state/iss, exchanges the code at
// /token, and prints {"code_ok","state_ok","iss_ok","token_ok"}. Exit status 1 on any
// failure. Neither the code nor the tokens are printed.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';

const [base, clientId, redirectArg, username, password, shots] = process.argv.slice(2);
if (!shots) {
  console.error('usage: node browser.mjs BASE_URL CLIENT_ID REDIRECT_URI USERNAME PASSWORD SCREENSHOT_DIR');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const issuer = base.replace(/\/+$/, '');

const b64url = (buf) => buf.toString('base64url');
const verifier = b64url(randomBytes(32));
const challenge = b64url(createHash('sha256').update(verifier).digest());
const state = `browser-${b64url(randomBytes(12))}`;

// Serve the loopback redirect: 200 'ok' for whatever arrives.
const registered = new URL(redirectArg);
if (registered.protocol !== 'http:' || !['127.0.0.1', 'localhost', '[::1]'].includes(registered.hostname)) {
  console.error('browser.mjs: REDIRECT_URI must be a loopback http URL');
  process.exit(2);
}
const callbacks = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('ok');
});
await new Promise((resolve, reject) => {
  callbacks.once('error', reject);
  callbacks.listen(Number(registered.port || 0), registered.hostname.replace(/^\[|\]$/g, ''), resolve);
});
const redirectUri = new URL(redirectArg);
redirectUri.port = String(callbacks.address().port);
// `URL` adds no trailing slash to a path it was given, so the string stays as registered
// apart from the port.
const redirect = redirectUri.toString();

const authorize = new URL(`${issuer}/authorize`);
authorize.search = new URLSearchParams({
  response_type: 'code',
  client_id: clientId,
  redirect_uri: redirect,
  code_challenge: challenge,
  code_challenge_method: 'S256',
  state,
  resource: `${issuer}/mcp`,
  ...(process.env.SCOPE ? { scope: process.env.SCOPE } : {}),
}).toString();

// $CHROMIUM, else Debian's chromium, else Google Chrome (preinstalled on CI runners).
const executablePath = process.env.CHROMIUM
  || ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));
if (!executablePath) {
  console.error('browser.mjs: no Chromium found (install it with interop/setup.sh as root, or set CHROMIUM)');
  process.exit(1);
}

const result = { code_ok: false, state_ok: false, iss_ok: false, token_ok: false };
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

  const login = await page.goto(authorize.toString());
  if (login.status() !== 200) throw new Error(`GET /authorize answered ${login.status()}`);
  await page.screenshot({ path: path.join(shots, 'login.png'), fullPage: true });
  await page.fill('#username', username);
  await page.fill('#password', password);
  await Promise.all([page.waitForLoadState('load'), page.click('#login')]);
  await page.waitForSelector('#allow');
  await page.screenshot({ path: path.join(shots, 'consent.png'), fullPage: true });

  // Listen before clicking: the redirect may be quicker than the next statement.
  const callback = page.waitForRequest((r) => r.url().startsWith(redirect.split('?')[0]));
  await page.click('#allow');
  const landed = new URL((await callback).url());
  await page.waitForLoadState('load');
  await page.screenshot({ path: path.join(shots, 'callback.png'), fullPage: true });

  const codes = landed.searchParams.getAll('code');
  result.code_ok = codes.length === 1 && codes[0].startsWith('mcpac_') && !landed.searchParams.has('error');
  result.state_ok = landed.searchParams.get('state') === state;
  result.iss_ok = landed.searchParams.get('iss') === issuer;

  if (result.code_ok) {
    const form = new URLSearchParams({
      grant_type: 'authorization_code',
      code: codes[0],
      code_verifier: verifier,
      redirect_uri: redirect,
      client_id: clientId,
      resource: `${issuer}/mcp`,
    });
    if (process.env.CLIENT_SECRET) form.set('client_secret', process.env.CLIENT_SECRET);
    const res = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form,
    });
    const body = await res.json().catch(() => ({}));
    result.token_ok = res.status === 200
      && res.headers.get('cache-control') === 'no-store'
      && body.token_type === 'Bearer'
      && typeof body.access_token === 'string' && body.access_token.startsWith('mcpat_');
    if (!result.token_ok) console.error(`browser.mjs: /token answered ${res.status} ${body.error ?? ''}`);
  }
} catch (e) {
  console.error(`browser.mjs: ${e.message.split('\n')[0]}`);
  if (page) {
    await page.screenshot({ path: path.join(shots, 'failure.png'), fullPage: true }).catch(() => {});
    const text = await page.innerText('body').catch(() => '');
    console.error(`browser.mjs: page at failure (${page.url().split('?')[0]}): ${text.slice(0, 300)}`);
  }
} finally {
  if (browser) await browser.close();
  callbacks.close();
}
console.log(JSON.stringify(result));
process.exit(Object.values(result).every(Boolean) ? 0 : 1);

// The company sign-in in a real browser: headless Chromium ($CHROMIUM,
// /usr/bin/chromium or google-chrome) driven by playwright-core, from an MCP
// client's authorization request through the connector's sign-in page, the
// identity provider's login page (oidc-provider's), back to the connector's
// consent page, and the redirect with the code.
//
// Usage: node interop/upstream_browser.mjs AUTHORIZE_URL LOGIN SCREENSHOT_DIR
//   AUTHORIZE_URL   the connector's /authorize URL; its redirect_uri is a loopback
//                   http URL with a port, which this script serves itself
//   LOGIN           the account to sign in as at the provider
//   SCREENSHOT_DIR  gets signin.png, provider.png, consent.png, callback.png
// Environment: CHROMIUM (browser binary), TICK (space-separated scopes to tick on
// the consent page; default: keep the page's pre-selection).
//
// Prints {"callback": "<the redirect URL with code, state and iss>",
// "consent_text": "<the consent page's text>"}; exit status 1 on any failure.
import { existsSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';

const [authorizeArg, login, shots] = process.argv.slice(2);
if (!shots) {
  console.error('usage: node upstream_browser.mjs AUTHORIZE_URL LOGIN SCREENSHOT_DIR');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const authorize = new URL(authorizeArg);
const redirect = new URL(authorize.searchParams.get('redirect_uri') ?? '');
if (redirect.protocol !== 'http:' || redirect.hostname !== '127.0.0.1' || !redirect.port) {
  console.error('upstream_browser.mjs: redirect_uri must be http://127.0.0.1:PORT/...');
  process.exit(2);
}
const callbacks = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('ok');
});
await new Promise((resolve, reject) => {
  callbacks.once('error', reject);
  callbacks.listen(Number(redirect.port), '127.0.0.1', resolve);
});

const executablePath = process.env.CHROMIUM
  || ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));
if (!executablePath) {
  console.error('upstream_browser.mjs: no Chromium found (run interop/setup.sh as root, or set CHROMIUM)');
  process.exit(1);
}

let browser;
let page;
let result;
try {
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext();
  context.setDefaultTimeout(15000);
  page = await context.newPage();
  const first = await page.goto(authorize.toString());
  if (!first.ok()) throw new Error(`GET /authorize answered ${first.status()}`);
  // The connector's sign-in page offers the company account (and maybe a password).
  if (await page.locator('#upstream').count()) {
    await page.screenshot({ path: path.join(shots, 'signin.png'), fullPage: true });
    await Promise.all([page.waitForURL((u) => u.origin !== authorize.origin), page.click('#upstream')]);
  }
  // The provider's own login page.
  await page.waitForSelector('input[name="login"]');
  await page.screenshot({ path: path.join(shots, 'provider.png'), fullPage: true });
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', 'any password: the test provider checks the login only');
  await Promise.all([page.waitForLoadState('load'), page.click('button[type="submit"]')]);
  // The provider may confirm the authorization on a page of its own.
  for (let i = 0; i < 3 && new URL(page.url()).origin !== authorize.origin; i += 1) {
    const confirm = page.locator('input[name="prompt"][value="consent"]');
    if (await confirm.count()) {
      await Promise.all([page.waitForLoadState('load'), page.click('button[type="submit"]')]);
    } else {
      await page.waitForURL((u) => u.origin === authorize.origin);
    }
  }
  // Back at the connector: the consent page.
  await page.waitForSelector('#allow');
  await page.screenshot({ path: path.join(shots, 'consent.png'), fullPage: true });
  const consentText = await page.innerText('main');
  if (process.env.TICK !== undefined) {
    const wanted = new Set(process.env.TICK.split(' ').filter(Boolean));
    for (const box of await page.locator('input[name="scope"]').all()) {
      const value = await box.getAttribute('value');
      if (wanted.has(value)) await box.check(); else await box.uncheck();
    }
  }
  const landed = page.waitForRequest((r) => r.url().startsWith(`${redirect.origin}${redirect.pathname}`));
  await page.click('#allow');
  const callbackUrl = (await landed).url();
  await page.waitForLoadState('load');
  await page.screenshot({ path: path.join(shots, 'callback.png'), fullPage: true });
  result = { callback: callbackUrl, consent_text: consentText };
} catch (e) {
  console.error(`upstream_browser.mjs: ${e.message.split('\n')[0]}`);
  if (page) {
    await page.screenshot({ path: path.join(shots, 'failure.png'), fullPage: true }).catch(() => {});
    const text = await page.innerText('body').catch(() => '');
    console.error(`upstream_browser.mjs: page at failure (${page.url().split('?')[0]}): ${text.slice(0, 400)}`);
  }
} finally {
  if (browser) await browser.close();
  callbacks.close();
}
if (!result) process.exit(1);
console.log(JSON.stringify(result));

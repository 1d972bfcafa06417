// The admin console in a real browser: headless Chromium ($CHROMIUM,
// /usr/bin/chromium or google-chrome) driven by playwright-core, with
// JavaScript off (the console must work without it). An administrator opens
// /admin, is sent to the sign-in page, signs in with a password, views every
// page, revokes a client from the clients page and verifies the audit chain.
//
// Usage: node interop/admin_browser.mjs BASE_URL USERNAME PASSWORD CLIENT_ID SCREENSHOT_DIR
//   BASE_URL        the connector's origin (http://127.0.0.1:PORT)
//   USERNAME        an account whose role has the `admin` permission
//   PASSWORD        its password
//   CLIENT_ID       the client to revoke on the clients page
//   SCREENSHOT_DIR  gets signin.png, overview.png, clients.png, users.png, grants.png,
//                   tools.png, audit.png, revoked.png, verified.png
// Environment: CHROMIUM (browser binary).
//
// Prints {"signin_url": …, "pages": {"/admin": "<h1 text>", …}, "revoked": "<notice>",
// "verified": "<notice>"}; exit status 1 on any failure.
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const [base, username, password, clientId, shots] = process.argv.slice(2);
if (!shots) {
  console.error('usage: node admin_browser.mjs BASE_URL USERNAME PASSWORD CLIENT_ID SCREENSHOT_DIR');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

const executablePath = process.env.CHROMIUM
  || ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));
if (!executablePath) {
  console.error('admin_browser.mjs: no Chromium found (run interop/setup.sh as root, or set CHROMIUM)');
  process.exit(1);
}

const PAGES = [
  ['/admin', 'overview'],
  ['/admin/clients', 'clients'],
  ['/admin/users', 'users'],
  ['/admin/grants', 'grants'],
  ['/admin/tools', 'tools'],
  ['/admin/audit', 'audit'],
];

let browser;
let page;
let result;
try {
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(15000);
  page = await context.newPage();
  // Not signed in: the console sends the browser to the sign-in page.
  await page.goto(`${base}/admin`);
  const signinUrl = page.url();
  if (!new URL(signinUrl).pathname.startsWith('/signin')) throw new Error(`/admin led to ${signinUrl}`);
  await page.screenshot({ path: path.join(shots, 'signin.png'), fullPage: true });
  await page.fill('#username', username);
  await page.fill('#password', password);
  await Promise.all([page.waitForURL(`${base}/admin`), page.click('#login')]);
  const pages = {};
  for (const [p, name] of PAGES) {
    const res = await page.goto(`${base}${p}`);
    if (!res.ok()) throw new Error(`GET ${p} answered ${res.status()}`);
    pages[p] = await page.innerText('h1');
    await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
  }
  await page.goto(`${base}/admin/clients`);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/admin/clients' && u.searchParams.get('done') === 'client_revoked'),
    page.click(`[id="revoke-${clientId}"]`),
  ]);
  const revoked = await page.innerText('#notice');
  await page.screenshot({ path: path.join(shots, 'revoked.png'), fullPage: true });
  await page.goto(`${base}/admin/audit`);
  await Promise.all([page.waitForURL(`${base}/admin/audit/verify`), page.click('#verify')]);
  const verified = await page.innerText('#notice');
  await page.screenshot({ path: path.join(shots, 'verified.png'), fullPage: true });
  result = { signin_url: signinUrl, pages, revoked, verified };
} catch (e) {
  console.error(`admin_browser.mjs: ${e.message.split('\n')[0]}`);
  if (page) {
    await page.screenshot({ path: path.join(shots, 'failure.png'), fullPage: true }).catch(() => {});
    const text = await page.innerText('body').catch(() => '');
    console.error(`admin_browser.mjs: page at failure (${page.url()}): ${text.slice(0, 400)}`);
  }
} finally {
  if (browser) await browser.close();
}
if (!result) process.exit(1);
console.log(JSON.stringify(result));

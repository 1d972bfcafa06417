// The approval page in a real browser: headless Chromium ($CHROMIUM, /usr/bin/chromium or
// google-chrome) driven by playwright-core, with JavaScript turned off (the page needs none).
// Opens the approval link without a session, signs in with a password on the connector's
// sign-in page, comes back to the approval page, checks that every argument is shown, takes a
// screenshot and clicks Approve (or Reject).
//
// Usage: node interop/approve_browser.mjs APPROVAL_URL LOGIN SCREENSHOT_DIR [approve|reject]
// Environment: APPROVE_PASSWORD (the password of LOGIN), EXPECT (text the page must show,
// e.g. an argument's value), CHROMIUM (browser binary).
//
// Prints {"page_text": "<the approval page's text>", "after_text": "<the page after the
// decision>"}; exit status 1 on any failure. Screenshots: signin.png, approval.png, decided.png.
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const [approvalUrl, login, shots, decision = 'approve'] = process.argv.slice(2);
if (!shots || !process.env.APPROVE_PASSWORD) {
  console.error('usage: APPROVE_PASSWORD=… node approve_browser.mjs APPROVAL_URL LOGIN SCREENSHOT_DIR [approve|reject]');
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const executablePath = process.env.CHROMIUM
  || ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));
if (!executablePath) {
  console.error('approve_browser.mjs: no Chromium found (run interop/setup.sh as root, or set CHROMIUM)');
  process.exit(1);
}

let browser;
let page;
try {
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext({ javaScriptEnabled: false });
  context.setDefaultTimeout(15000);
  page = await context.newPage();
  const first = await page.goto(approvalUrl);
  if (!first.ok()) throw new Error(`GET ${approvalUrl} answered ${first.status()}`);
  if (!new URL(page.url()).pathname.startsWith('/signin')) {
    throw new Error(`without a session the link must lead to the sign-in, not ${page.url()}`);
  }
  await page.screenshot({ path: path.join(shots, 'signin.png'), fullPage: true });
  await page.fill('#username', login);
  await page.fill('#password', process.env.APPROVE_PASSWORD);
  await Promise.all([page.waitForURL((u) => u.pathname.startsWith('/approve/')), page.click('#login')]);
  await page.waitForSelector('#approve');
  const pageText = await page.locator('main').innerText();
  if (process.env.EXPECT && !pageText.includes(process.env.EXPECT)) {
    throw new Error(`the approval page does not show ${process.env.EXPECT}: ${pageText}`);
  }
  await page.screenshot({ path: path.join(shots, 'approval.png'), fullPage: true });
  await Promise.all([page.waitForLoadState('load'), page.click(decision === 'reject' ? '#reject' : '#approve')]);
  await page.waitForSelector('#status');
  const afterText = await page.locator('main').innerText();
  await page.screenshot({ path: path.join(shots, 'decided.png'), fullPage: true });
  console.log(JSON.stringify({ page_text: pageText, after_text: afterText }));
} catch (e) {
  if (page) await page.screenshot({ path: path.join(shots, 'failure.png'), fullPage: true }).catch(() => {});
  console.error(`approve_browser.mjs: ${e.message}`);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close();
}

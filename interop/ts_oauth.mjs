#!/usr/bin/env node
// OAuth interop: the official TypeScript MCP SDK (@modelcontextprotocol/sdk 1.32.2) against
// mcp-connector --auth oauth.
//
// Usage: node ts_oauth.mjs URL [CLIENT.json]
//   Flow 1: Dynamic Client Registration of a public client (PKCE, no secret).
//   Flow 2 (with CLIENT.json from `mcp-connector client add --format json`): that
//           pre-registered confidential client.
// Each flow: connect → 401 → the SDK discovers the servers and calls
// redirectToAuthorization(url); this "browser" GETs the login page, POSTs the login and
// consent forms with fetch (manual redirects, the CSRF cookie carried by hand), reads the
// 303 Location, checks state and iss, transport.finishAuth(code), reconnects with a new
// transport and calls get_employee_count(engineering) → 42.
// The user is $OAUTH_USERNAME / $OAUTH_PASSWORD. Exits non-zero on failure.
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const TOOL = 'get_employee_count';
const EXPECTED = 42;
// Never listened on: the redirect is read from the Location header.
const REDIRECT = 'http://127.0.0.1:53683/callback';

function fail(message) {
  console.error(`ts_oauth FAIL: ${message}`);
  process.exit(1);
}

function check(cond, message) {
  if (!cond) throw new Error(message);
}

const attr = (tag, name) => {
  const m = tag.match(new RegExp(`\\s${name}(?:="([^"]*)")?`, 'i'));
  return m ? (m[1] ?? '') : undefined;
};
const unescape = (s) =>
  s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

/** The fields of the page's first form. */
function parseForm(html) {
  const form = html.match(/<form\b[^>]*>([\s\S]*?)<\/form>/i);
  check(form, `no <form> in page: ${html.slice(0, 200)}`);
  const action = unescape(attr(form[0].match(/<form\b[^>]*>/i)[0], 'action') ?? '');
  const hidden = [];
  const inputs = [];
  const boxes = [];
  for (const [tag] of form[1].matchAll(/<input\b[^>]*>/gi)) {
    const type = (attr(tag, 'type') ?? 'text').toLowerCase();
    const name = unescape(attr(tag, 'name') ?? '');
    const value = unescape(attr(tag, 'value') ?? '');
    if (type === 'hidden') hidden.push([name, value]);
    else if (type === 'checkbox') boxes.push({ name, value, checked: attr(tag, 'checked') !== undefined });
    else inputs.push(name);
  }
  const buttons = [...form[1].matchAll(/<button\b[^>]*>/gi)].map(([tag]) => [attr(tag, 'name'), attr(tag, 'value')]);
  return { action, hidden, inputs, boxes, buttons };
}

/** GET the authorize URL, log in, consent; the 303 Location. */
async function logInAndConsent(authUrl) {
  const user = process.env.OAUTH_USERNAME;
  const password = process.env.OAUTH_PASSWORD;
  check(user && password, 'set OAUTH_USERNAME and OAUTH_PASSWORD');
  const jar = new Map();
  const keep = (res) => {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      jar.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
  };
  const cookie = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const post = async (action, fields) => {
    const res = await fetch(new URL(action, authUrl), {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookie() },
      body: new URLSearchParams(fields).toString(),
    });
    keep(res);
    return res;
  };

  let res = await fetch(authUrl, { redirect: 'manual' });
  keep(res);
  let html = await res.text();
  check(res.status === 200, `GET authorize: ${res.status} ${html.slice(0, 200)}`);
  const login = parseForm(html);
  check(login.hidden.some(([k, v]) => k === 'step' && v === 'login'), 'not a login form');
  check(jar.size > 0, 'login page set no cookie');
  res = await post(login.action, [...login.hidden, ['username', user], ['password', password]]);
  html = await res.text();
  check(res.status === 200, `POST login: ${res.status} ${html.slice(0, 200)}`);
  const consent = parseForm(html);
  check(consent.hidden.some(([k, v]) => k === 'step' && v === 'consent'), 'not a consent form');
  check(consent.buttons.some(([n, v]) => n === 'decision' && v === 'allow'), 'no Allow button');
  const ticked = consent.boxes.filter((b) => b.name === 'scope' && b.checked).map((b) => ['scope', b.value]);
  res = await post(consent.action, [...consent.hidden, ...ticked, ['decision', 'allow']]);
  check(res.status === 303, `POST consent: ${res.status} ${(await res.text()).slice(0, 200)}`);
  return new URL(res.headers.get('location'));
}

async function callTool(client) {
  const names = (await client.listTools()).tools.map((t) => t.name);
  check(names.includes(TOOL), `${TOOL} not listed: ${names}`);
  const result = await client.callTool({ name: TOOL, arguments: { department: 'engineering' } });
  check(!result.isError, `${TOOL} failed: ${JSON.stringify(result.content)}`);
  check(result.structuredContent?.count === EXPECTED, `count = ${JSON.stringify(result.structuredContent)}`);
}

/** One complete flow with an in-memory OAuthClientProvider. */
async function flow(url, clientInfo, authMethod) {
  const store = { client: clientInfo, tokens: undefined, verifier: undefined };
  let pending;
  let expectedState;
  const authProvider = {
    get redirectUrl() {
      return REDIRECT;
    },
    get clientMetadata() {
      return {
        client_name: 'mcp-connector interop (typescript)',
        redirect_uris: [REDIRECT],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: authMethod,
      };
    },
    state: () => (expectedState = randomUUID()),
    clientInformation: () => store.client,
    saveClientInformation: (info) => {
      store.client = info;
    },
    tokens: () => store.tokens,
    saveTokens: (t) => {
      store.tokens = t;
    },
    redirectToAuthorization: (u) => {
      pending = u;
    },
    saveCodeVerifier: (v) => {
      store.verifier = v;
    },
    codeVerifier: () => store.verifier,
  };

  const first = new StreamableHTTPClientTransport(url, { authProvider });
  try {
    await new Client({ name: 'ts-oauth', version: '0.0.0' }).connect(first);
    throw new Error('connected without authorization');
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
  }
  check(pending, 'the SDK did not ask for authorization');
  const issuer = url.origin;
  const back = await logInAndConsent(pending);
  // The SDK leaves state (and iss) checking to the application.
  check(back.searchParams.get('state') === expectedState, 'state mismatch');
  check(back.searchParams.get('iss') === issuer, `iss ${back.searchParams.get('iss')} != ${issuer}`);
  check(!back.searchParams.get('error'), `authorization error ${back.searchParams.get('error')}`);
  await first.finishAuth(back.searchParams.get('code'));
  check(store.tokens?.access_token?.startsWith('mcpat_'), 'no access token saved');

  const transport = new StreamableHTTPClientTransport(url, { authProvider });
  const client = new Client({ name: 'ts-oauth', version: '0.0.0' });
  await client.connect(transport);
  try {
    await callTool(client);
  } finally {
    await transport.terminateSession().catch(() => {});
    await client.close().catch(() => {});
  }
  return store;
}

async function main() {
  const [raw, clientFile] = process.argv.slice(2);
  if (!raw) fail('usage: ts_oauth.mjs URL [CLIENT.json]');
  const url = new URL(raw);

  const dcr = await flow(url, undefined, 'none');
  check(dcr.client?.client_id, 'DCR: no client registered');
  check(!dcr.client.client_secret, 'DCR of a public client returned a secret');
  console.log(`ts_oauth OK: dcr (public client, PKCE) ${TOOL}(engineering)=${EXPECTED}`);

  if (clientFile) {
    const doc = JSON.parse(readFileSync(clientFile, 'utf8'));
    check(doc.redirect_uris.includes(REDIRECT), `register ${REDIRECT} for ${clientFile}`);
    const info = {
      client_id: doc.client_id,
      client_secret: doc.client_secret,
      token_endpoint_auth_method: doc.token_endpoint_auth_method,
    };
    const pre = await flow(url, info, doc.token_endpoint_auth_method);
    check(pre.client.client_id === doc.client_id, 'the SDK replaced the pre-registered client');
    console.log(`ts_oauth OK: preregistered (${doc.token_endpoint_auth_method}) ${TOOL}(engineering)=${EXPECTED}`);
  }
}

const timer = setTimeout(() => fail('timed out after 90s'), 90_000);
timer.unref();
main().then(
  () => process.exit(0),
  (error) => fail(error instanceof Error ? `${error.name}: ${error.message}` : String(error))
);

// A real, certified OpenID provider for the tests: the npm package
// `oidc-provider` (panva), pinned in package.json, on 127.0.0.1 with test
// accounts and a `groups` claim. The Rust integration tests start it
// (tests/it/op.rs) and sign in through it, over HTTP or in Chromium.
//
// Usage: node interop/oidc_op.mjs CONFIG_JSON
//   CONFIG_JSON  {"client_id", "client_secret", "redirect_uris": [...],
//                 "accounts": {"<sub>": {"email", "name", "preferred_username", "groups": [...]}}}
// Prints {"issuer": "http://127.0.0.1:PORT"} on one line once it listens; exits
// when its standard input closes (the test process ended) or on SIGTERM.
//
// Test controls (POST, loopback only, not part of the OpenID surface):
//   /__test/rotate             sign with a new RSA key from now on (the old one is
//                              still published, as during a real rotation)
//   /__test/delete?sub=S       delete the account: its refresh tokens stop working
//   /__test/groups?sub=S&groups=a,b   change its groups
//
// Login is the provider's development interaction (a login and password form; the
// login names the account). Consent is granted by loadExistingGrant, like an
// administrator-approved enterprise app, so the browser sees one page there.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

const config = JSON.parse(process.argv[2] ?? '{}');
const accounts = new Map(Object.entries(config.accounts ?? {}));

function rsaJwk() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' };
}

let keys = [rsaJwk()];
const cookieKeys = [randomUUID(), randomUUID()];

function build(issuer) {
  const provider = new Provider(issuer, {
    clients: [{
      client_id: config.client_id,
      client_secret: config.client_secret,
      redirect_uris: config.redirect_uris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      // Native: a loopback redirect URI matches on any port (RFC 8252 §7.3),
      // so the connector under test may listen anywhere.
      application_type: 'native',
    }],
    jwks: { keys },
    cookies: { keys: cookieKeys },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    // Claims in the ID token itself (not only at userinfo).
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    // Like Okta or Keycloak: offline_access yields a refresh token without
    // prompt=consent (OpenID Connect Core §11 leaves that to the provider).
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    async loadExistingGrant(ctx) {
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid offline_access email profile groups');
      grant.addOIDCClaims(['email', 'email_verified', 'name', 'preferred_username', 'groups']);
      await grant.save();
      return grant;
    },
    async findAccount(_ctx, sub) {
      const a = accounts.get(sub);
      if (!a) return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            email: a.email,
            email_verified: true,
            name: a.name,
            preferred_username: a.preferred_username,
            groups: a.groups ?? [],
          };
        },
      };
    },
    ttl: { RefreshToken: 3600, Session: 3600, Grant: 3600 },
  });
  // The tests reach it over plain http on loopback.
  provider.proxy = false;
  return provider;
}

let provider;
let callback;
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname.startsWith('/__test/') && req.method === 'POST') {
    const sub = url.searchParams.get('sub');
    switch (url.pathname) {
      case '/__test/rotate':
        keys = [rsaJwk(), ...keys];
        provider = build(provider.issuer);
        callback = provider.callback();
        break;
      case '/__test/delete':
        accounts.delete(sub);
        break;
      case '/__test/groups':
        if (accounts.has(sub)) {
          accounts.get(sub).groups = (url.searchParams.get('groups') ?? '').split(',').filter(Boolean);
        }
        break;
      default:
        res.writeHead(404).end();
        return;
    }
    res.writeHead(204).end();
    return;
  }
  callback(req, res);
});

server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  provider = build(issuer);
  callback = provider.callback();
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

// Notices go to standard output; a reader that went away must not crash us.
process.stdout.on('error', () => {});
const stop = () => server.close(() => process.exit(0));
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.on('SIGTERM', stop);

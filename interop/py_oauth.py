#!/usr/bin/env python3
"""OAuth interop: the official Python MCP SDK (mcp==2.3.0) against mcp-connector --auth oauth.

Usage:
  py_oauth.py dcr URL                      OAuthClientProvider with Dynamic Client Registration
  py_oauth.py preregistered URL CLIENT.json OAuthClientProvider with a client made by
                                           `mcp-connector client add --format json`
  py_oauth.py claude URL CLIENT.json       Claude's flow by hand: a confidential client with
                                           Claude's redirect URIs, code exchange with
                                           client_secret_post, again with client_secret_basic,
                                           a refresh, then a tool call
  py_oauth.py service URL CLIENT.json     ClientCredentialsOAuthProvider with a client made by
                                           `client add --grant client_credentials --scope …`
  py_oauth.py token TOKEN_URL CLIENT.json  print a client_credentials access token (for scripts)
  py_oauth.py drive AUTHORIZE_URL          log in and consent over HTTP, then GET the redirect
                                           (for `conformance authorization`, whose callback
                                           server waits for it)
  py_oauth.py interactive URL [CLIENT.json] the real thing for a person: prints the authorize
                                           URL for a browser and waits on a loopback callback

URL is the MCP endpoint (http://127.0.0.1:8000/mcp). The headless modes log in as
$OAUTH_USERNAME with $OAUTH_PASSWORD (never on the command line), driving the server's login
and consent pages the way a browser would: GET the authorize URL, POST the login form with its
hidden fields and the CSRF cookie, POST the consent form with decision=allow and the ticked
scopes, then read the 303 Location. Every flow ends with get_employee_count(engineering) = 42.
Exits non-zero on any failure.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import secrets
import sys
import warnings
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urljoin, urlparse

import httpx2
from pydantic import AnyUrl

from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

TOOL = "get_employee_count"
EXPECTED = 42
# Headless flows never listen here: the redirect is read from the Location header.
HEADLESS_REDIRECT = "http://127.0.0.1:53682/callback"
CLAUDE_REDIRECTS = (
    "https://claude.ai/api/mcp/auth_callback",
    "https://claude.com/api/mcp/auth_callback",
)


class CheckFailed(Exception):
    pass


def check(cond: bool, message: str) -> None:
    if not cond:
        raise CheckFailed(message)


# --- the login and consent pages --------------------------------------------------------


class FormParser(HTMLParser):
    """The fields of the first <form>: hidden inputs, checkboxes, submit buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.hidden: list[tuple[str, str]] = []
        self.checkboxes: list[tuple[str, str, bool]] = []  # (name, value, checked)
        self.buttons: list[tuple[str, str]] = []
        self.inputs: list[str] = []
        self._in_form = False

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "form" and self.action is None:
            self.action, self._in_form = a.get("action", ""), True
        if not self._in_form:
            return
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind == "hidden":
                self.hidden.append((a.get("name", ""), a.get("value", "")))
            elif kind == "checkbox":
                self.checkboxes.append((a.get("name", ""), a.get("value", ""), "checked" in a))
            else:
                self.inputs.append(a.get("name", ""))
        elif tag == "button" and a.get("name"):
            self.buttons.append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False


def parse_form(html: str) -> FormParser:
    p = FormParser()
    p.feed(html)
    check(p.action is not None, f"no <form> in the page: {html[:300]!r}")
    return p


def credentials() -> tuple[str, str]:
    user, password = os.environ.get("OAUTH_USERNAME"), os.environ.get("OAUTH_PASSWORD")
    check(bool(user and password), "set OAUTH_USERNAME and OAUTH_PASSWORD")
    return user, password


async def post_form(h: httpx2.AsyncClient, url: str, fields: list[tuple[str, str]]):
    # A list of pairs, because `scope` repeats (one per ticked box).
    return await h.post(url, content=urlencode(fields).encode(),
                        headers={"Content-Type": "application/x-www-form-urlencoded"})


async def log_in_and_consent(auth_url: str, scopes: list[str] | None = None) -> str:
    """Drive GET /authorize → login → consent like a browser; the redirect Location.

    `scopes`: the scope boxes to tick; None keeps the page's own ticks (the defaults a
    person would accept by clicking Allow)."""
    user, password = credentials()
    # One client = one cookie jar, as in a browser: the CSRF cookie set on the login page
    # goes back with both POSTs.
    async with httpx2.AsyncClient(follow_redirects=False, timeout=30) as h:
        page = await h.get(auth_url)
        check(page.status_code == 200, f"GET authorize: {page.status_code} {page.text[:300]!r}")
        login = parse_form(page.text)
        fields = dict(login.hidden)
        check(fields.get("step") == "login", f"login form: hidden fields {sorted(fields)}")
        check({"username", "password"} <= set(login.inputs), f"login form inputs: {login.inputs}")
        action = urljoin(auth_url, login.action or "")
        data = [*login.hidden, ("username", user), ("password", password)]
        page = await post_form(h, action, data)
        check(page.status_code == 200, f"POST login: {page.status_code} {page.text[:300]!r}")
        consent = parse_form(page.text)
        fields = dict(consent.hidden)
        check(fields.get("step") == "consent", f"consent form: hidden fields {sorted(fields)}")
        check(("decision", "allow") in consent.buttons, f"consent buttons: {consent.buttons}")
        offered = [v for n, v, _ in consent.checkboxes if n == "scope"]
        ticked = [v for n, v, c in consent.checkboxes if n == "scope" and c]
        if scopes is not None:
            check(set(scopes) <= set(offered), f"scopes {scopes} not offered: {offered}")
            ticked = scopes
        data = [*consent.hidden, *(("scope", s) for s in ticked), ("decision", "allow")]
        done = await post_form(h, urljoin(auth_url, consent.action or ""), data)
        check(done.status_code == 303, f"POST consent: {done.status_code} {done.text[:300]!r}")
        location = done.headers.get("location")
        check(bool(location), "consent: no Location")
        return location


def code_of(location: str, state: str | None, issuer: str | None) -> str:
    q = parse_qs(urlparse(location).query)
    check("error" not in q, f"authorization error: {q}")
    check(q.get("state", [None])[0] == state, f"state mismatch in {location}")
    if issuer is not None:
        check(q.get("iss", [None])[0] == issuer, f"iss mismatch in redirect: {q.get('iss')}")
    code = q.get("code", [""])[0]
    check(code.startswith("mcpac_"), "no authorization code in the redirect")
    return code


# --- the tool call ----------------------------------------------------------------------


async def call_tool(url: str, http: httpx2.AsyncClient) -> None:
    async with Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
        names = [t.name for t in (await client.list_tools()).tools]
        check(TOOL in names, f"{TOOL} not listed: {names}")
        result = await client.call_tool(TOOL, {"department": "engineering"})
        check(not result.is_error, f"{TOOL} failed: {result.content!r}")
        count = (result.structured_content or {}).get("count")
        check(count == EXPECTED, f"{TOOL}(engineering) = {count!r}, want {EXPECTED}")


# --- the SDK's OAuthClientProvider --------------------------------------------------------


class Memory(TokenStorage):
    def __init__(self, client_info: OAuthClientInformationFull | None = None) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info = client_info

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


def headless_handlers():
    got: dict[str, str] = {}

    async def redirect_handler(auth_url: str) -> None:
        got["location"] = await log_in_and_consent(auth_url)

    async def callback_handler() -> AuthorizationCodeResult:
        q = parse_qs(urlparse(got.pop("location")).query)
        check("error" not in q, f"authorization error: {q}")
        return AuthorizationCodeResult(
            code=q["code"][0], state=q.get("state", [None])[0], iss=q.get("iss", [None])[0]
        )

    return redirect_handler, callback_handler


def read_client(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    check(bool(doc.get("client_id")), f"{path}: no client_id")
    return doc


async def sdk_flow(url: str, storage: Memory, metadata: OAuthClientMetadata, handlers) -> Memory:
    redirect_handler, callback_handler = handlers
    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
        await call_tool(url, http)
    check(storage.tokens is not None, "no tokens stored")
    check(storage.tokens.access_token.startswith("mcpat_"), "not an mcp-connector access token")
    return storage


def metadata(redirect: str, auth_method: str) -> OAuthClientMetadata:
    return OAuthClientMetadata(
        client_name="mcp-connector interop (python)",
        redirect_uris=[AnyUrl(redirect)],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method=auth_method,
    )


async def dcr(url: str) -> str:
    storage = await sdk_flow(
        url, Memory(), metadata(HEADLESS_REDIRECT, "client_secret_post"), headless_handlers()
    )
    info = storage.client_info
    check(info is not None and bool(info.client_id), "the SDK did not register a client")
    check(bool(info.client_secret), "DCR with client_secret_post issued no secret")
    return f"dcr OK: registered {info.client_id[:10]}…, {TOOL}(engineering)={EXPECTED}"


async def preregistered(url: str, client_file: str) -> str:
    doc = read_client(client_file)
    redirect = doc["redirect_uris"][0]
    info = OAuthClientInformationFull(
        client_id=doc["client_id"],
        client_secret=doc.get("client_secret"),
        token_endpoint_auth_method=doc["token_endpoint_auth_method"],
        redirect_uris=[AnyUrl(u) for u in doc["redirect_uris"]],
        grant_types=doc["grant_types"],
    )
    storage = Memory(info)
    await sdk_flow(url, storage, metadata(redirect, info.token_endpoint_auth_method), headless_handlers())
    check(storage.client_info.client_id == doc["client_id"], "the SDK replaced the client")
    return f"preregistered OK: {TOOL}(engineering)={EXPECTED}"


async def service(url: str, client_file: str) -> str:
    from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider

    doc = read_client(client_file)
    check(doc["grant_types"] == ["client_credentials"], "not a client_credentials client")
    storage = Memory()
    provider = ClientCredentialsOAuthProvider(
        server_url=url, storage=storage, client_id=doc["client_id"],
        client_secret=doc["client_secret"], scope=doc["scope"],
        issuer=f"{urlparse(url).scheme}://{urlparse(url).netloc}",
    )
    async with httpx2.AsyncClient(auth=provider, timeout=30) as http:
        await call_tool(url, http)
    check(storage.tokens is not None and storage.tokens.refresh_token is None,
          "client_credentials: expected an access token and no refresh token")
    return f"service OK: client_credentials, {TOOL}(engineering)={EXPECTED}"


async def token(token_url: str, client_file: str) -> str:
    doc = read_client(client_file)
    async with httpx2.AsyncClient(timeout=30) as h:
        r = await h.post(token_url, data={"grant_type": "client_credentials"},
                         auth=httpx2.BasicAuth(doc["client_id"], doc["client_secret"]))
    check(r.status_code == 200, f"client_credentials: {r.status_code} {r.text[:200]!r}")
    return r.json()["access_token"]


# --- Claude's flow, by hand ----------------------------------------------------------------


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_ok(r: httpx2.Response, what: str) -> dict:
    check(r.status_code == 200, f"{what}: {r.status_code} {r.text[:300]!r}")
    check("no-store" in r.headers.get("cache-control", ""), f"{what}: no Cache-Control: no-store")
    body = r.json()
    check(body.get("token_type", "").lower() == "bearer", f"{what}: token_type {body.get('token_type')}")
    check(str(body.get("access_token", "")).startswith("mcpat_"), f"{what}: no access token")
    check(str(body.get("refresh_token", "")).startswith("mcprt_"), f"{what}: no refresh token")
    return body


async def claude(url: str, client_file: str) -> str:
    doc = read_client(client_file)
    client_id, secret = doc["client_id"], doc.get("client_secret")
    check(bool(secret), "the Claude client must be confidential")
    for r in CLAUDE_REDIRECTS:
        check(r in doc["redirect_uris"], f"{r} not registered for the client")
    async with httpx2.AsyncClient(follow_redirects=False, timeout=30) as h:
        # Discovery as Claude does it: 401 → resource metadata → authorization server metadata.
        r = await h.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                         headers={"Accept": "application/json, text/event-stream"})
        check(r.status_code == 401, f"unauthenticated POST /mcp: {r.status_code}")
        challenge = r.headers.get("www-authenticate", "")
        check("resource_metadata=" in challenge, f"WWW-Authenticate: {challenge!r}")
        prm_url = challenge.split('resource_metadata="', 1)[1].split('"', 1)[0]
        prm = (await h.get(prm_url)).json()
        check(prm.get("resource") == url, f"resource {prm.get('resource')!r} != {url}")
        issuer = prm["authorization_servers"][0]
        asm = (await h.get(f"{issuer}/.well-known/oauth-authorization-server")).json()
        check(asm.get("issuer") == issuer, f"issuer {asm.get('issuer')!r} != {issuer!r}")
        check("S256" in asm.get("code_challenge_methods_supported", []), "no S256")
        methods = asm.get("token_endpoint_auth_methods_supported", [])
        for m in ("client_secret_post", "client_secret_basic", "none"):
            check(m in methods, f"token endpoint auth method {m} not advertised: {methods}")
        check(asm.get("client_id_metadata_document_supported") is True, "CIMD not advertised")
        scope = " ".join(prm.get("scopes_supported", []))
        if "offline_access" in asm.get("scopes_supported", []):
            scope += " offline_access"

        async def authorize(redirect: str) -> tuple[str, str]:
            verifier, challenge = pkce()
            state = secrets.token_urlsafe(16)
            query = urlencode({
                "response_type": "code", "client_id": client_id, "redirect_uri": redirect,
                "code_challenge": challenge, "code_challenge_method": "S256",
                "state": state, "scope": scope, "resource": url,
            })
            location = await log_in_and_consent(f"{asm['authorization_endpoint']}?{query}")
            # Claude's callback is never contacted: the code is in the Location header.
            check(location.startswith(redirect + "?"), f"redirected to {location.split('?')[0]}")
            return code_of(location, state, issuer), verifier

        token_url = asm["token_endpoint"]
        # 1. client_secret_post: credentials in the form body.
        code, verifier = await authorize(CLAUDE_REDIRECTS[0])
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CLAUDE_REDIRECTS[0],
                "code_verifier": verifier, "resource": url}
        token_ok(await h.post(token_url, data={**form, "client_id": client_id, "client_secret": secret}),
                 "code exchange (client_secret_post)")
        # A code works once.
        again = await h.post(token_url, data={**form, "client_id": client_id, "client_secret": secret})
        check(again.status_code == 400 and again.json().get("error") == "invalid_grant",
              f"code replay: {again.status_code} {again.text[:200]!r}")
        # 2. client_secret_basic: form-urlencoded id and secret in the Authorization header.
        code, verifier = await authorize(CLAUDE_REDIRECTS[1])
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CLAUDE_REDIRECTS[1],
                "code_verifier": verifier, "resource": url}
        basic = httpx2.BasicAuth(client_id, secret)
        tokens = token_ok(await h.post(token_url, data=form, auth=basic), "code exchange (client_secret_basic)")
        # 3. refresh (rotates the refresh token).
        refreshed = token_ok(
            await h.post(token_url, auth=basic, data={
                "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "resource": url}),
            "refresh",
        )
        check(refreshed["refresh_token"] != tokens["refresh_token"], "refresh token not rotated")
        check(refreshed["access_token"] != tokens["access_token"], "same access token after refresh")
    # 4. the refreshed access token calls the tool.
    headers = {"Authorization": f"Bearer {refreshed['access_token']}"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        await call_tool(url, http)
    return f"claude OK: post + basic code exchange, refresh, {TOOL}(engineering)={EXPECTED}"


# --- conformance helper and the interactive walkthrough ------------------------------------


async def drive(auth_url: str) -> str:
    location = await log_in_and_consent(auth_url)
    # The conformance callback server only answers GET /callback.
    async with httpx2.AsyncClient(timeout=30) as h:
        r = await h.get(location)
        check(r.status_code == 200, f"GET {location.split('?')[0]}: {r.status_code}")
    return "drive OK: logged in, consented, callback delivered"


async def interactive(url: str, client_file: str | None) -> str:
    got: asyncio.Future = asyncio.get_running_loop().create_future()

    async def on_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = (await reader.readline()).decode("latin-1")
        parts = line.split()
        target = parts[1] if len(parts) > 1 else "/"
        ok = target.startswith("/callback?")
        body = b"Done: you can close this tab and return to the terminal.\n" if ok else b"Not found\n"
        status = b"200 OK" if ok else b"404 Not Found"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     + b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        writer.close()
        if ok and not got.done():
            got.set_result(target)

    port = int(os.environ.get("CALLBACK_PORT", "53682"))
    server = await asyncio.start_server(on_request, "127.0.0.1", port)
    redirect = f"http://127.0.0.1:{port}/callback"

    async def redirect_handler(auth_url: str) -> None:
        print("\nOpen this URL in a browser, log in and allow access:\n", file=sys.stderr)
        print(auth_url, file=sys.stderr)
        print(f"\nWaiting for the redirect to {redirect} …", file=sys.stderr)

    async def callback_handler() -> AuthorizationCodeResult:
        target = await asyncio.wait_for(got, timeout=600)
        q = parse_qs(urlparse(target).query)
        check("error" not in q, f"authorization refused: {q.get('error')} {q.get('error_description')}")
        return AuthorizationCodeResult(
            code=q["code"][0], state=q.get("state", [None])[0], iss=q.get("iss", [None])[0]
        )

    if client_file:
        doc = read_client(client_file)
        check(redirect in doc["redirect_uris"], f"register {redirect} for the client (--redirect-uri)")
        info = OAuthClientInformationFull(
            client_id=doc["client_id"], client_secret=doc.get("client_secret"),
            token_endpoint_auth_method=doc["token_endpoint_auth_method"],
            redirect_uris=[AnyUrl(u) for u in doc["redirect_uris"]], grant_types=doc["grant_types"])
        storage = Memory(info)
    else:
        storage = Memory()
    async with server:
        await sdk_flow(url, storage, metadata(redirect, "client_secret_post"),
                       (redirect_handler, callback_handler))
    return f"interactive OK: connected through the browser login, {TOOL}(engineering)={EXPECTED}"


def main() -> int:
    args = sys.argv[1:]
    modes = {"dcr": (dcr, 1), "preregistered": (preregistered, 2), "claude": (claude, 2),
             "service": (service, 2), "token": (token, 2),
             "drive": (drive, 1), "interactive": (interactive, None)}
    if not args or args[0] not in modes:
        print(__doc__, file=sys.stderr)
        return 2
    mode, rest = args[0], args[1:]
    fn, arity = modes[mode]
    if arity is None:
        if len(rest) not in (1, 2):
            print(__doc__, file=sys.stderr)
            return 2
        rest = [rest[0], rest[1] if len(rest) == 2 else None]
    elif len(rest) != arity:
        print(__doc__, file=sys.stderr)
        return 2
    warnings.simplefilter("ignore")  # the SDK flags deprecated features loudly
    timeout = 900 if mode == "interactive" else 90
    try:
        out = asyncio.run(asyncio.wait_for(fn(*rest), timeout=timeout))
        print(out if mode == "token" else f"py_oauth {out}")
        return 0
    except CheckFailed as exc:
        print(f"py_oauth FAIL: {mode}: {exc}", file=sys.stderr)
    except BaseException as exc:  # noqa: BLE001 - any error (incl. ExceptionGroup) is a failure
        while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]  # anyio task groups wrap the real cause
        print(f"py_oauth FAIL: {mode}: {type(exc).__name__}: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

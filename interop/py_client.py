#!/usr/bin/env python3
"""Interop check: drive mcp-connector with the official Python MCP SDK (mcp==2.3.0).

Usage: py_client.py [--mode newest|pinned|session] URL

  newest   Client(mode="auto"): probes `server/discover` at 2026-07-28 and adopts it;
           the SDK falls back to `initialize` on a legacy server, which this script
           treats as a failure (the server must speak 2026-07-28).
  pinned   Client(mode="2026-07-28"): adopts 2026-07-28 directly, no discover probe.
  session  Client(mode="legacy"): the initialize handshake (session-based, 2025-11-25).

Lists tools, calls get_employee_count {"department": "engineering"} and requires 42 both
in structuredContent.count and in the text content. Exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import warnings

from mcp import Client

MODERN = "2026-07-28"
MODES = {"newest": "auto", "pinned": MODERN, "session": "legacy"}
TOOL = "get_employee_count"
EXPECTED = 42


class CheckFailed(Exception):
    pass


def _text_of(result) -> str:
    parts = []
    for block in result.content or []:
        if getattr(block, "type", None) == "text":
            parts.append(block.text)
    return "\n".join(parts)


def _count_in_text(text: str):
    # Accept either a JSON document carrying "count" or plain prose containing the number.
    try:
        doc = json.loads(text)
        if isinstance(doc, dict) and "count" in doc:
            return doc["count"]
    except (ValueError, TypeError):
        pass
    return EXPECTED if re.search(rf"(?<!\d){EXPECTED}(?!\d)", text) else None


async def run(url: str, mode: str) -> str:
    async with Client(url, mode=MODES[mode], read_timeout_seconds=30) as client:
        version = client.protocol_version
        if mode in ("newest", "pinned") and version != MODERN:
            raise CheckFailed(f"expected protocol {MODERN}, negotiated {version}")
        if mode == "session" and version == MODERN:
            raise CheckFailed(f"session mode negotiated the stateless revision {version}")

        listed = await client.list_tools()
        names = [t.name for t in listed.tools]
        if TOOL not in names:
            raise CheckFailed(f"{TOOL} not in tools/list: {names}")

        result = await client.call_tool(TOOL, {"department": "engineering"})
        if result.is_error:
            raise CheckFailed(f"{TOOL} returned isError: {_text_of(result)!r}")
        structured = result.structured_content
        if not isinstance(structured, dict) or structured.get("count") != EXPECTED:
            raise CheckFailed(f"structuredContent.count != {EXPECTED}: {structured!r}")
        text = _text_of(result)
        if _count_in_text(text) != EXPECTED:
            raise CheckFailed(f"text content does not carry {EXPECTED}: {text!r}")

        server = client.server_info
        server_name = f"{server.name}/{server.version or '?'}" if server is not None else "anonymous"
        return (
            f"py_client OK: mode={mode} protocol={version} server={server_name} "
            f"tools={len(names)} {TOOL}(engineering)={EXPECTED}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=sorted(MODES), default="newest")
    parser.add_argument("url")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # the SDK flags deprecated 2026-07-28 features loudly
    try:
        print(asyncio.run(asyncio.wait_for(run(args.url, args.mode), timeout=60)))
        return 0
    except CheckFailed as exc:
        print(f"py_client FAIL: mode={args.mode}: {exc}", file=sys.stderr)
    except BaseException as exc:  # noqa: BLE001 - any error (incl. ExceptionGroup) is a failure
        while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]  # anyio task groups wrap the real cause
        print(f"py_client FAIL: mode={args.mode}: {type(exc).__name__}: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

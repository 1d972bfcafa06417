#!/usr/bin/env python3
"""URL-mode elicitation with the official Python MCP SDK (mcp==2.3.0) as the client.

Usage: py_url_approve.py URL EMPLOYEE_ID ACTION     (the access token in $MCP_TOKEN)

Calls remove_employee {"id": EMPLOYEE_ID} in a stateful session with an elicitation
handler, so the SDK declares both form and URL mode (as Claude Code may). When the server
asks to open a URL, the handler prints {"elicitation": {"mode", "url", "id", "message"}}
as one JSON line (the test opens that page in a signed-in browser) and answers ACTION
("accept" = the user agreed to open it, "decline", "cancel"). The call's result follows as
the last line: {"is_error": …, "structured": …, "text": …, "asked": N}.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import warnings

import httpx2

import mcp.types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


async def run(url: str, employee: int, action: str) -> dict:
    asked = 0

    async def on_elicit(_context, params):
        nonlocal asked
        asked += 1
        seen = {
            "mode": getattr(params, "mode", None),
            "url": getattr(params, "url", None),
            "id": getattr(params, "elicitation_id", None),
            "message": params.message,
        }
        print(json.dumps({"elicitation": seen}), flush=True)
        return types.ElicitResult(action=action)

    headers = {"Authorization": f"Bearer {os.environ['MCP_TOKEN']}"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode="legacy", elicitation_callback=on_elicit) as client:
            await client.list_tools()
            result = await client.call_tool("remove_employee", {"id": employee})
            text = "\n".join(getattr(c, "text", "") for c in result.content)
            return {
                "is_error": bool(result.is_error),
                "structured": result.structured_content,
                "text": text,
                "asked": asked,
            }


def main() -> int:
    warnings.simplefilter("ignore")
    if len(sys.argv) != 4 or "MCP_TOKEN" not in os.environ:
        print(__doc__, file=sys.stderr)
        return 2
    out = asyncio.run(run(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

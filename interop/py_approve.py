#!/usr/bin/env python3
"""Out-of-band approval with the official Python MCP SDK (mcp==2.3.0) as the client.

Usage: py_approve.py URL EMPLOYEE_ID     (the access token in $MCP_TOKEN, never on the command line)

Calls remove_employee {"id": EMPLOYEE_ID} once with a client that declares no elicitation
(like claude.ai), validating the result against the tool's output schema as the SDK does,
and prints {"is_error": …, "structured": …, "text": …} as JSON. Exits non-zero if the call
fails at the protocol level.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import warnings

import httpx2

from mcp import Client
from mcp.client.streamable_http import streamable_http_client


async def run(url: str, employee: int) -> dict:
    headers = {"Authorization": f"Bearer {os.environ['MCP_TOKEN']}"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
            # The SDK validates structured content against the listed output schema.
            await client.list_tools()
            result = await client.call_tool("remove_employee", {"id": employee})
            text = "\n".join(getattr(c, "text", "") for c in result.content)
            return {"is_error": bool(result.is_error), "structured": result.structured_content, "text": text}


def main() -> int:
    warnings.simplefilter("ignore")
    if len(sys.argv) != 3 or "MCP_TOKEN" not in os.environ:
        print(__doc__, file=sys.stderr)
        return 2
    out = asyncio.run(run(sys.argv[1], int(sys.argv[2])))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

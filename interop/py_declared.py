#!/usr/bin/env python3
"""Interop check: the official Python MCP SDK (mcp==2.3.0) calls config-declared tools.

Usage: py_declared.py [--engine NAME] URL

URL serves examples/hr/connector.toml over a database seeded from examples/hr
(schema + seed.sql). The client negotiates the newest protocol (2026-07-28), then:

  * tools/list has count_by_title with an inputSchema requiring `title` and an outputSchema;
  * count_by_title {"title": "Software Engineer"} returns structuredContent.rows == [{"n": 9}]
    and the text content carries the 9;
  * list_by_department {"department": "eng"} pages through all 17 employees, 10 per page,
    following next_cursor.

Prints one line, `py_declared OK: …` or `py_declared FAIL: …`; exits non-zero on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import warnings

from mcp import Client

TOOL = "count_by_title"
TITLE = "Software Engineer"
EXPECTED = 9  # examples/hr/seed.sql
DEPARTMENT = "eng"
HEADCOUNT = 17
PAGE = 10


class CheckFailed(Exception):
    pass


def _text_of(result) -> str:
    return "\n".join(b.text for b in result.content or [] if getattr(b, "type", None) == "text")


def _rows(result, what: str) -> dict:
    if result.is_error:
        raise CheckFailed(f"{what} returned isError: {_text_of(result)!r}")
    structured = result.structured_content
    if not isinstance(structured, dict) or not isinstance(structured.get("rows"), list):
        raise CheckFailed(f"{what}: structuredContent has no rows: {structured!r}")
    return structured


async def run(url: str) -> str:
    async with Client(url, read_timeout_seconds=30) as client:
        version = client.protocol_version
        listed = await client.list_tools()
        tools = {t.name: t for t in listed.tools}
        if TOOL not in tools:
            raise CheckFailed(f"{TOOL} not in tools/list: {sorted(tools)}")
        schema = tools[TOOL].input_schema or {}
        if schema.get("required") != ["title"]:
            raise CheckFailed(f"{TOOL} inputSchema does not require title: {schema!r}")
        if not tools[TOOL].output_schema:
            raise CheckFailed(f"{TOOL} has no outputSchema")

        result = await client.call_tool(TOOL, {"title": TITLE})
        structured = _rows(result, TOOL)
        if structured["rows"] != [{"n": EXPECTED}]:
            raise CheckFailed(f"{TOOL}({TITLE!r}) rows != [{{'n': {EXPECTED}}}]: {structured!r}")
        text = _text_of(result)
        if not re.search(rf"(?<!\d){EXPECTED}(?!\d)", text):
            raise CheckFailed(f"text content does not carry {EXPECTED}: {text!r}")

        ids, pages, args = [], 0, {"department": DEPARTMENT}
        while pages < 10:
            page = _rows(await client.call_tool("list_by_department", dict(args)), "list_by_department")
            pages += 1
            if len(page["rows"]) > PAGE:
                raise CheckFailed(f"page {pages} has {len(page['rows'])} rows, more than {PAGE}")
            ids += [row.get("id") for row in page["rows"]]
            cursor = page.get("next_cursor")
            if not cursor:
                break
            args["cursor"] = cursor
        if len(ids) != HEADCOUNT or len(set(ids)) != HEADCOUNT:
            raise CheckFailed(f"list_by_department({DEPARTMENT!r}) gave {len(ids)} rows over {pages} pages, "
                              f"expected {HEADCOUNT} distinct: {ids!r}")
        return (f"protocol={version} tools={len(tools)} {TOOL}({TITLE!r})={EXPECTED} "
                f"list_by_department({DEPARTMENT!r})={HEADCOUNT} rows in {pages} pages")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="?", help="label for the output line")
    parser.add_argument("url")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # the SDK flags deprecated 2026-07-28 features loudly
    try:
        detail = asyncio.run(asyncio.wait_for(run(args.url), timeout=60))
        print(f"py_declared OK: engine={args.engine} {detail}")
        return 0
    except CheckFailed as exc:
        print(f"py_declared FAIL: engine={args.engine}: {exc}", file=sys.stderr)
    except BaseException as exc:  # noqa: BLE001 - any error (incl. ExceptionGroup) is a failure
        while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]  # anyio task groups wrap the real cause
        print(f"py_declared FAIL: engine={args.engine}: {type(exc).__name__}: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env node
// Interop check: drive mcp-connector with the official TypeScript MCP SDK
// (@modelcontextprotocol/sdk 1.32.2, initialize-based, newest revision 2025-11-25).
//
// Usage: node ts_client.mjs URL
// Lists tools, calls get_employee_count {"department":"engineering"} and requires 42
// both in structuredContent.count and in the text content. Exits non-zero on failure.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const TOOL = 'get_employee_count';
const EXPECTED = 42;

function fail(message) {
  console.error(`ts_client FAIL: ${message}`);
  process.exit(1);
}

function countInText(text) {
  try {
    const doc = JSON.parse(text);
    if (doc && typeof doc === 'object' && 'count' in doc) return doc.count;
  } catch {
    // not JSON: fall through to a plain-number search
  }
  return new RegExp(`(?<!\\d)${EXPECTED}(?!\\d)`).test(text) ? EXPECTED : undefined;
}

async function main() {
  const url = process.argv[2];
  if (!url) fail('usage: ts_client.mjs URL');

  const transport = new StreamableHTTPClientTransport(new URL(url));
  const client = new Client({ name: 'mcp-connector-interop-ts', version: '0.0.0' });
  await client.connect(transport);
  try {
    const protocol = transport.protocolVersion ?? 'unknown';
    const server = client.getServerVersion();

    const listed = await client.listTools();
    const names = listed.tools.map((t) => t.name);
    if (!names.includes(TOOL)) fail(`${TOOL} not in tools/list: ${JSON.stringify(names)}`);

    const result = await client.callTool({ name: TOOL, arguments: { department: 'engineering' } });
    const text = (result.content ?? [])
      .filter((block) => block.type === 'text')
      .map((block) => block.text)
      .join('\n');
    if (result.isError) fail(`${TOOL} returned isError: ${JSON.stringify(text)}`);
    const structured = result.structuredContent;
    if (!structured || structured.count !== EXPECTED) {
      fail(`structuredContent.count !== ${EXPECTED}: ${JSON.stringify(structured)}`);
    }
    if (countInText(text) !== EXPECTED) {
      fail(`text content does not carry ${EXPECTED}: ${JSON.stringify(text)}`);
    }

    console.log(
      `ts_client OK: protocol=${protocol} server=${server ? `${server.name}/${server.version || '?'}` : 'unknown'} ` +
        `tools=${names.length} ${TOOL}(engineering)=${EXPECTED}`
    );
  } finally {
    // Closes the transport and sends DELETE for the session, if any (errors ignored).
    await transport.terminateSession().catch(() => {});
    await client.close().catch(() => {});
  }
}

const timer = setTimeout(() => fail('timed out after 60s'), 60_000);
timer.unref();
main().then(
  () => process.exit(0),
  (error) => fail(error instanceof Error ? `${error.name}: ${error.message}` : String(error))
);

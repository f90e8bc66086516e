"""Interop: the official MCP Python SDK (`mcp` from PyPI) against a real `moat demo`.

Run by .ci/run inside a venv: `python tests/interop/mcp_python_sdk.py path/to/moat`.
Starts `moat demo` on a free port in a temporary directory, then over Streamable HTTP:
initialize, list tools, call every tool, a denied repository, a bad token.
"""

import asyncio
import json
import os
import sys
import tempfile

import httpx
from demo import start_demo
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client

TOOLS = {
    "list_repositories",
    "search_code",
    "get_symbol",
    "get_file_outline",
    "find_references",
    "repo_overview",
    "read_source",
}


async def exercise(url: str, token: str) -> int:
    checks = 0
    headers = {"Authorization": f"Bearer {token}"}
    async with streamablehttp_client(f"{url}/mcp", headers=headers) as (read, write, _):
        async with ClientSession(read, write) as session:
            info = await session.initialize()
            assert info.serverInfo.name == "moat", info
            tools = await session.list_tools()
            names = {tool.name for tool in tools.tools}
            assert names == TOOLS, names
            # Every tool declares its output, so the SDK checks each answer against it
            # (ClientSession validates structuredContent with jsonschema on every call).
            for tool in tools.tools:
                assert tool.outputSchema and tool.outputSchema.get("type") == "object", tool
                assert "audit_seq" in tool.outputSchema["required"], tool
                assert tool.annotations and tool.annotations.readOnlyHint is True, tool
            checks += 2

            result = await session.call_tool("list_repositories", {})
            repos = result.structuredContent["repositories"]
            assert [r["repo"] for r in repos] == ["acme-payments"], repos
            assert result.structuredContent["audit_seq"] >= 0
            checks += 1

            result = await session.call_tool("search_code", {"query": "where are transfers validated?"})
            assert not result.isError, result
            hits = result.structuredContent["results"]
            assert hits and hits[0]["at"].startswith("acme-payments@"), hits
            path, name = hits[0]["path"], hits[0]["name"]
            checks += 1

            for tool, arguments in [
                ("get_symbol", {"name": name}),
                ("get_file_outline", {"repo": "acme-payments", "path": path}),
                ("find_references", {"symbol": name}),
                ("repo_overview", {"repo": "acme-payments"}),
                ("read_source", {"repo": "acme-payments", "path": path, "start": 1, "end": 5}),
            ]:
                result = await session.call_tool(tool, arguments)
                assert not result.isError, (tool, result)
                assert "audit_seq" in result.structuredContent, (tool, result)
                checks += 1

            result = await session.call_tool("repo_overview", {"repo": "someone-elses-repo"})
            assert result.isError, result
            assert "audit_seq" in result.structuredContent
            checks += 1

    # A bad token never reaches a tool: 401 with the resource metadata named.
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{url}/mcp",
            headers={"Authorization": "Bearer moat_" + "0" * 64, "Accept": "application/json, text/event-stream"},
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        )
        assert response.status_code == 401, response.status_code
        assert "resource_metadata=" in response.headers["www-authenticate"]
        checks += 1
    return checks


def main() -> None:
    moat = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as data:
        process = start_demo(moat, data)
        try:
            with open(os.path.join(data, "demo.json")) as f:
                demo = json.load(f)
            checks = asyncio.run(exercise(demo["url"], demo["developer_token"]))
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"mcp-python-sdk: {checks} passed, 0 failed")


if __name__ == "__main__":
    main()

"""Interop: the MCP Inspector's CLI mode (`@modelcontextprotocol/inspector` from npm,
pinned in tests/interop/inspector/package-lock.json) against a real `moat demo`.

Run by .ci/run after `npm ci` in tests/interop/inspector:
`python3 tests/interop/mcp_inspector.py path/to/moat`.
Over Streamable HTTP with the developer token: list tools, call every tool, a denied
repository, and a bad token that must not connect. `tools/list --strict` (the
Inspector's tool-schema portability check: nullable `type` arrays, schemas that accept
anything, and the like) must report no error and no warning.
"""

import json
import os
import subprocess
import sys
import tempfile

from demo import start_demo

HERE = os.path.dirname(os.path.abspath(__file__))
INSPECTOR = os.path.join(HERE, "inspector", "node_modules", ".bin", "mcp-inspector")


def inspector(url: str, token: str, method: str, tool: str | None = None, *flags: str, **arguments) -> subprocess.CompletedProcess:
    command = [
        INSPECTOR, "--cli", f"{url}/mcp",
        "--transport", "http",
        "--header", f"Authorization: Bearer {token}",
        "--method", method, *flags,
    ]
    if tool:
        command += ["--tool-name", tool]
        for key, value in arguments.items():
            command += ["--tool-arg", f"{key}={value}"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def answer(url: str, token: str, method: str, tool: str | None = None, **arguments) -> dict:
    run = inspector(url, token, method, tool, **arguments)
    assert run.returncode == 0, (method, tool, run.stdout, run.stderr)
    return json.loads(run.stdout)


def exercise(url: str, token: str) -> int:
    checks = 0
    tools = answer(url, token, "tools/list")["tools"]
    assert {t["name"] for t in tools} == {
        "list_repositories", "search_code", "get_symbol", "get_file_outline",
        "find_references", "repo_overview", "read_source",
    }, tools
    assert all(len(t.get("description", "")) > 40 for t in tools), tools
    checks += 1

    strict = inspector(url, token, "tools/list", None, "--strict")
    assert strict.returncode == 0, ("--strict found error-severity problems", strict.stderr)
    assert "Warning" not in strict.stderr and "Error" not in strict.stderr, strict.stderr
    assert json.loads(strict.stdout)["tools"], strict.stdout
    checks += 1

    repos = answer(url, token, "tools/call", "list_repositories")["structuredContent"]
    assert [r["repo"] for r in repos["repositories"]] == ["acme-payments"], repos
    checks += 1

    found = answer(url, token, "tools/call", "search_code", query="where are transfers validated?", limit=3)
    assert not found.get("isError"), found
    hit = found["structuredContent"]["results"][0]
    assert hit["at"].startswith("acme-payments@"), hit
    # The text rendering is there for clients that show only text.
    assert found["content"][0]["type"] == "text" and hit["path"] in found["content"][0]["text"], found
    checks += 1

    for tool, arguments in [
        ("get_symbol", {"name": hit["name"]}),
        ("get_file_outline", {"repo": "acme-payments", "path": hit["path"]}),
        ("find_references", {"symbol": hit["name"]}),
        ("repo_overview", {"repo": "acme-payments"}),
        ("read_source", {"repo": "acme-payments", "path": hit["path"], "start": 1, "end": 5}),
    ]:
        result = answer(url, token, "tools/call", tool, **arguments)
        assert not result.get("isError"), (tool, result)
        assert isinstance(result["structuredContent"]["audit_seq"], int), (tool, result)
        checks += 1

    # A refusal is a tool result with isError, which the Inspector reports by its exit
    # status and an error envelope on stderr, the result itself on stdout.
    refused = inspector(url, token, "tools/call", "repo_overview", repo="someone-elses-repo")
    assert refused.returncode != 0 and "tool_is_error" in refused.stderr, (refused.stdout, refused.stderr)
    denied = json.loads(refused.stdout)
    assert denied.get("isError") is True, denied
    assert "audit_seq" in denied["structuredContent"], denied
    checks += 1

    # A token Moat does not know gets 401, and the Inspector then wants to sign in by
    # OAuth, which a non-interactive run refuses: it never connects.
    bad = inspector(url, "moat_" + "0" * 64, "tools/list", None, "--stored-auth-only")
    assert bad.returncode != 0, bad.stdout
    assert "auth_required" in bad.stderr and '"tools"' not in bad.stdout, (bad.stdout, bad.stderr)
    checks += 1
    return checks


def main() -> None:
    moat = os.path.abspath(sys.argv[1])
    if not os.path.exists(INSPECTOR):
        raise SystemExit(f"{INSPECTOR} is missing: run `npm ci` in {os.path.dirname(INSPECTOR)}/../..")
    with tempfile.TemporaryDirectory() as data:
        process = start_demo(moat, data)
        try:
            with open(os.path.join(data, "demo.json")) as f:
                demo = json.load(f)
            checks = exercise(demo["url"], demo["developer_token"])
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"mcp-inspector-cli: {checks} passed, 0 failed")


if __name__ == "__main__":
    main()

"""MCP with the official Python SDK: no window cuts a secret open, no secret typed into a call is stored, sessions belong to their token, protocol edges answer as specified."""

import asyncio
import json
import logging
import os

import httpx
from common import Moat, check, git_repo
import base64

from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client

KEY_BODY = [
    "MIIEowIBAAKCAQEAvR7x2Kq9Lm4Np8Qs1Tv6Wy3Za0Bc5De7Fg2HjQq9Lm4Np8Qs1Tv6W",
    "y3Za0Bc5De7Fg2HjR7x2KMIIEowIBAAKCAQEAvRq9Lm4Np8Qs1Tv6Wy3Za0Bc5De7Fg2",
]
KEY = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(KEY_BODY) + "\n-----END RSA PRIVATE KEY-----"
AWS = "AKIAQ3EGRBJXZ7KLMN4P"
CARD = "4111111111111111"
SSN = "536-22-8173"

# The key spans lines 10-13; functions around it make snippets and bodies cut near it.
KEYS_RS = (
    "".join(f"// filler line {n}\n" for n in range(1, 9))
    + 'pub fn load_signing_key() -> &\'static str {\n    r#"'
    + KEY
    + '"#\n}\n\npub fn rotate_signing_key() {\n    load_signing_key();\n}\n'
)

# Values written to slip past rules keyed on their usual shape.
WRAPPED = base64.b64encode(f"aws_access_key_id={AWS}".encode()).decode()
EVASIVE_RS = "\n".join([
    f'const A: &str = "PROD_{AWS}_OLD";',
    f'const B: &str = "{AWS[:8]}\u200b{AWS[8:]}";',
    f'const C: &str = "\u0410{AWS[1:]}";',
    f'const D: &str = "{WRAPPED}";',
    '// patient ssn: 536228173, card 4111.1111.1111.1111',
    'const E: &str = "-----BEGIN RSA PRIVATE KEY-----',
    KEY_BODY[0],
    KEY_BODY[1] + '";',
    "",
])

CONFIG = """
[org]
name = "Adversarial MCP"

[audit]
witness_files = ["{root}/worm/moat.checkpoints"]

[[repos]]
name = "vault"
source = "{root}/repos/vault"
tier = "public"
permissions = "static"

[permissions.static]
grants = [{ repos = ["*"], teams = ["eng"] }]
"""


def fragments(text, values):
    """8-character pieces of `values` that `text` shows."""
    found = []
    for value in values:
        for i in range(len(value) - 7):
            piece = value[i : i + 8]
            if piece in text:
                found.append(piece)
                break
    return found


async def windows(url, token):
    headers = {"Authorization": f"Bearer {token}"}
    async with streamablehttp_client(f"{url}/mcp", headers=headers) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            total = KEYS_RS.count("\n")
            shown = 0
            for start in range(1, total + 1):
                for end in range(start, total + 1):
                    result = await session.call_tool(
                        "read_source",
                        {"repo": "vault", "path": "src/keys.rs", "start": start, "end": end},
                    )
                    text = result.structuredContent["text"]
                    leak = fragments(text, KEY_BODY)
                    assert not leak, f"read_source {start}-{end} shows {leak}: {text}"
                    assert len(text.split("\n")) == end - start + 1, (start, end, text)
                    shown += 1
            check(shown == total * (total + 1) // 2, f"all {shown} read_source windows show no part of the key")
            for query in ["load_signing_key", "rotate signing key", "signing"]:
                result = await session.call_tool("search_code", {"query": query})
                for hit in result.structuredContent["results"]:
                    assert not fragments(hit.get("snippet") or "", KEY_BODY), hit
            for name in ["load_signing_key", "rotate_signing_key"]:
                result = await session.call_tool("get_symbol", {"name": name})
                for symbol in result.structuredContent["symbols"]:
                    assert not fragments(symbol.get("body") or "", KEY_BODY), symbol
            check(True, "search snippets and symbol bodies show no part of the key")
            result = await session.call_tool("read_source", {"repo": "vault", "path": "src/evasive.rs"})
            text = result.structuredContent["text"].replace("\u200b", "").replace("\n", "")
            leak = fragments(text, [AWS, WRAPPED, "536228173", "4111.1111.1111.1111", KEY_BODY[0], KEY_BODY[1]])
            check(not leak and "REDACTED" in text, f"a key after `_`, with a zero-width space or a Cyrillic letter, base64-wrapped, an SSN without dashes, dotted card digits and a key with no END line come back redacted ({leak})")
            # Secrets typed into calls: a query, a symbol name, a path.
            await session.call_tool("search_code", {"query": f"where is {AWS} used, card {CARD}, patient ssn: {SSN}"})
            await session.call_tool("get_symbol", {"name": AWS})
            await session.call_tool("read_source", {"repo": "vault", "path": f"{CARD}.rs"})


async def sessions(url, token, other):
    logs = []

    class Keep(logging.Handler):
        def emit(self, record):
            logs.append(record.getMessage())

    logging.getLogger("mcp").addHandler(Keep())
    logging.getLogger("mcp").setLevel(logging.DEBUG)
    headers = {"Authorization": f"Bearer {token}"}
    async with streamablehttp_client(f"{url}/mcp", headers=headers) as (read, write, session_id):
        async with ClientSession(read, write) as session:
            await session.initialize()
            sid = session_id()
            async with httpx.AsyncClient() as http:
                stolen = await http.post(
                    f"{url}/mcp",
                    headers={
                        "Authorization": f"Bearer {other}",
                        "Mcp-Session-Id": sid,
                        "Accept": "application/json, text/event-stream",
                        "MCP-Protocol-Version": "2025-06-18",
                    },
                    json={"jsonrpc": "2.0", "id": 9, "method": "tools/list"},
                )
                check(stolen.status_code == 404, "another token cannot use the session (404)")
            result = await session.call_tool("list_repositories", {})
            check(not result.isError, "its own token still can")
    # The SDK ended the session with DELETE on leaving the block.
    failed = [m for m in logs if "termination failed" in m.lower()]
    check(not failed, f"the SDK ends the session without complaint ({failed})")
    async with httpx.AsyncClient() as http:
        for body, code in [("{not json", -32700), ('{"hello": 1}', -32600)]:
            response = await http.post(
                f"{url}/mcp",
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
                content=body,
            )
            check(
                response.status_code == 400 and response.json()["error"]["code"] == code,
                f"{body!r} gets 400 with JSON-RPC {code}",
            )
        forged = await http.get(
            f"{url}/.well-known/oauth-protected-resource/mcp", headers={"Host": "evil.example.com"}
        )
        check(forged.status_code == 403 and "http://evil" not in forged.text, "a forged Host is refused, not echoed")
        challenge = await http.post(f"{url}/mcp", headers={"Host": "evil.example.com"}, json={})
        check("evil" not in challenge.headers.get("www-authenticate", ""), "nor put into the challenge")


def run(binary, _standin):
    moat = Moat(binary, CONFIG)
    git_repo(os.path.join(moat.root, "repos"), "vault", {"src/keys.rs": KEYS_RS, "src/evasive.rs": EVASIVE_RS})
    os.makedirs(os.path.join(moat.root, "worm"))
    moat.run("index")
    moat.run("user", "add", "dev@example.com", "--team", "eng")
    moat.run("user", "add", "other@example.com", "--team", "eng")
    token = moat.token("dev@example.com", "mcp")
    other = moat.token("other@example.com", "mcp")
    # The CLI's own search records its query too.
    moat.run("search", f"rotation {AWS}", "--as", "dev@example.com")
    url = moat.serve()
    try:
        asyncio.run(windows(url, token))
        asyncio.run(sessions(url, token, other))
    finally:
        moat.stop()
    export = os.path.join(moat.root, "export.jsonl")
    moat.run("audit", "export", "--format", "jsonl", "--out", export)
    moat.run("audit", "checkpoint")
    with open(export) as f:
        exported = f.read()
    check("REDACTED:aws-access-key-id" in exported, "the calls are recorded, secrets as placeholders")
    stored = moat.files()
    check(any(p.endswith("moat.db") for p in stored) and any(p.endswith("moat.checkpoints") for p in stored), "database, export and witness are all searched")
    for path, data in stored.items():
        for value in (AWS, CARD, SSN, KEY_BODY[0][:24]):
            assert value.encode() not in data, f"{value} is stored in {path}"
    check(True, "no planted value is in moat.db, its log, the export or the witness file")
    verify = moat.run("audit", "verify", check_exit=False)
    check(verify.returncode == 0 and "moat.checkpoints" in verify.stdout + verify.stderr, "the log verifies against the configured witness by default")

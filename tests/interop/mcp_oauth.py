"""Interop: the official MCP Python SDK's OAuth client (`OAuthClientProvider`) signs in
at a real `moat demo` with no token configured, then the flow is attacked.

Run by .ci/run inside a venv: `python tests/interop/mcp_oauth.py path/to/moat`.
The SDK discovers Moat from the 401 (RFC 9728, then RFC 8414 metadata), registers
itself (RFC 7591), and runs the authorization code flow with PKCE and `resource`.
The browser step is played by `Browser` below: an httpx client with a cookie jar that
opens the pages a person would see (sign-in with the demo's one-time link, then
consent) and presses their buttons; it checks what the pages say on the way.

Attacks, each refused: a token replayed on another resource (/v1, the admin API), a
refresh token used twice (the whole grant is revoked), a person suspended mid-grant,
a redirect URI that was not registered, a code exchanged without its PKCE verifier or
twice, a sign-in link used twice. Each step is on the audit record.
"""

import asyncio
import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
from demo import start_demo
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamablehttp_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

REDIRECT = "http://127.0.0.1:45678/callback"


class Memory(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client

    async def set_client_info(self, client_info):
        self.client = client_info


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name} in page: {html[:400]}"
    return match.group(1).replace("&amp;", "&")


class Browser:
    """What a person does in their browser, as an httpx client with cookies."""

    def __init__(self, sign_in_link: str) -> None:
        self.http = httpx.AsyncClient(follow_redirects=False)
        self.sign_in_link = sign_in_link
        self.code: str | None = None
        self.state: str | None = None
        self.pages: list[str] = []

    async def open(self, url: str) -> None:
        page = await self.http.get(url)
        assert page.status_code == 200, (page.status_code, page.text[:300])
        assert page.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["referrer-policy"] == "same-origin"
        if "Sign in to Moat" in page.text:
            self.pages.append("sign-in")
            back = await self.http.post(
                str(page.url.copy_with(path="/oauth/sign-in", query=None)),
                data={"code": self.sign_in_link, "return_to": hidden(page.text, "return_to")},
            )
            assert back.status_code == 303, (back.status_code, back.text[:300])
            assert "HttpOnly" in back.headers["set-cookie"]
            assert "SameSite=Lax" in back.headers["set-cookie"]
            page = await self.http.get(str(page.url.copy_with(raw_path=back.headers["location"].encode())))
            assert page.status_code == 200, page.text[:300]
        assert "Connect a tool to Moat" in page.text, page.text[:300]
        assert "developer@example.com" in page.text
        assert "registered itself" in page.text, "a self-registered name is marked unverified"
        self.pages.append("consent")
        answer = await self.http.post(
            str(page.url.copy_with(path="/oauth/authorize", query=None)),
            data={"consent": hidden(page.text, "consent"), "decision": "allow"},
        )
        assert answer.status_code == 303, (answer.status_code, answer.text[:300])
        location = answer.headers["location"]
        assert location.startswith(REDIRECT), location
        query = parse_qs(urlparse(location).query)
        assert query["iss"][0] == str(page.url.copy_with(path="", query=None)).rstrip("/"), query
        self.code, self.state = query["code"][0], query["state"][0]

    async def callback(self) -> tuple[str, str | None]:
        assert self.code, "the browser never reached the redirect"
        return self.code, self.state


def provider(url: str, browser: Browser, storage: Memory) -> OAuthClientProvider:
    return OAuthClientProvider(
        server_url=f"{url}/mcp",
        client_metadata=OAuthClientMetadata(
            client_name="interop test client",
            redirect_uris=[REDIRECT],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        ),
        storage=storage,
        redirect_handler=browser.open,
        callback_handler=browser.callback,
    )


async def list_repositories(url: str, auth=None, token: str | None = None) -> list[str]:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    async with streamablehttp_client(f"{url}/mcp", auth=auth, headers=headers) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            result = await session.call_tool("list_repositories", {})
            return [r["repo"] for r in result.structuredContent["repositories"]]


def moat_cli(moat: str, config: str, *args: str) -> str:
    done = subprocess.run([moat, *args, "--config", config], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


async def mcp_status(url: str, token: str) -> int:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{url}/mcp",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"},
            json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
        )
        return response.status_code


async def exercise(moat: str, demo: dict) -> int:
    url, config = demo["url"], demo["config"]
    checks = 0
    storage = Memory()
    browser = Browser(demo["developer_sign_in"])
    repos = await list_repositories(url, auth=provider(url, browser, storage))
    assert repos == ["acme-payments"], repos
    assert browser.pages == ["sign-in", "consent"], browser.pages
    assert storage.client and storage.client.client_id.startswith("mcl_"), storage.client
    assert storage.tokens and storage.tokens.refresh_token, storage.tokens
    checks += 1  # the whole flow, no token configured

    access = storage.tokens.access_token
    async with httpx.AsyncClient() as http:
        # A token for /mcp replayed on the gateway and on the admin API.
        gateway = await http.post(f"{url}/v1/chat/completions", headers={"Authorization": f"Bearer {access}"},
                                  json={"model": "x", "messages": [{"role": "user", "content": "hi"}]})
        assert gateway.status_code in (401, 404), gateway.status_code
        whoami = await http.get(f"{url}/api/v1/whoami", headers={"Authorization": f"Bearer {access}"})
        assert whoami.status_code == 401, (whoami.status_code, whoami.text)
        assert "issued for /mcp only" in whoami.text, whoami.text
        checks += 1

        # The sign-in link was spent by the browser.
        again = await http.post(f"{url}/oauth/sign-in", data={"code": demo["developer_sign_in"], "return_to": ""})
        assert again.status_code == 401 and "set-cookie" not in again.headers, again.status_code
        checks += 1

        # Refresh rotates; the old refresh token presented again revokes the grant.
        client_id = storage.client.client_id
        old = storage.tokens.refresh_token
        fresh = await http.post(f"{url}/oauth/token", data={
            "grant_type": "refresh_token", "refresh_token": old, "client_id": client_id,
            "resource": f"{url}/mcp"})
        assert fresh.status_code == 200, fresh.text
        assert fresh.headers["cache-control"] == "no-store"
        fresh = fresh.json()
        assert fresh["refresh_token"] != old
        assert await mcp_status(url, fresh["access_token"]) == 200
        reuse = await http.post(f"{url}/oauth/token", data={
            "grant_type": "refresh_token", "refresh_token": old, "client_id": client_id})
        assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant", reuse.text
        assert await mcp_status(url, fresh["access_token"]) == 401, "the grant's newest token is revoked"
        after = await http.post(f"{url}/oauth/token", data={
            "grant_type": "refresh_token", "refresh_token": fresh["refresh_token"], "client_id": client_id})
        assert after.status_code == 400, after.text
        checks += 1

        # A redirect URI that was not registered: an error page, no redirect at all.
        evil = await http.get(f"{url}/oauth/authorize?" + urlencode({
            "response_type": "code", "client_id": client_id, "redirect_uri": "https://evil.example/cb",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256",
            "state": "s", "resource": f"{url}/mcp"}))
        assert evil.status_code == 400 and "location" not in evil.headers, evil.status_code
        assert "not a redirect URI registered" in evil.text
        checks += 1

    # A second sign-in (a new link from the CLI), whose code is exchanged without its
    # verifier, then with it twice: the first spends it, the replay finds it spent.
    link = json.loads(moat_cli(moat, config, "login-link", "developer@example.com", "--json"))["url"]
    second = Browser(link)
    verifier = "a" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    await second.open(f"{url}/oauth/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "code_challenge": challenge,
        "code_challenge_method": "S256", "state": "s2", "resource": f"{url}/mcp", "scope": "mcp"}))
    async with httpx.AsyncClient() as http:
        missing = await http.post(f"{url}/oauth/token", data={
            "grant_type": "authorization_code", "code": second.code, "client_id": client_id,
            "redirect_uri": REDIRECT})
        assert missing.status_code == 400, missing.text
        spent = await http.post(f"{url}/oauth/token", data={
            "grant_type": "authorization_code", "code": second.code, "client_id": client_id,
            "redirect_uri": REDIRECT, "code_verifier": verifier})
        assert spent.status_code == 400 and spent.json()["error"] == "invalid_grant", spent.text
        checks += 1

    # A third sign-in, then the person is suspended mid-grant.
    storage = Memory()
    link = json.loads(moat_cli(moat, config, "login-link", "developer@example.com", "--json"))["url"]
    third = Browser(link)
    assert await list_repositories(url, auth=provider(url, third, storage)) == ["acme-payments"]
    moat_cli(moat, config, "user", "suspend", "developer@example.com")
    assert await mcp_status(url, storage.tokens.access_token) == 401, "suspension revoked the grant"
    async with httpx.AsyncClient() as http:
        refused = await http.post(f"{url}/oauth/token", data={
            "grant_type": "refresh_token", "refresh_token": storage.tokens.refresh_token,
            "client_id": storage.client.client_id})
        assert refused.status_code == 400, refused.text
    moat_cli(moat, config, "user", "reactivate", "developer@example.com")
    assert await mcp_status(url, storage.tokens.access_token) == 401, "reactivation does not revive the grant"
    checks += 1

    # The grants are listed beside the tokens, with why each ended.
    listed = json.loads(moat_cli(moat, config, "--json", "token", "list", "--user", "developer@example.com"))
    reasons = {g["revoked_reason"] for g in listed["grants"]}
    assert {"refresh token reused", "authorization code reused", "user suspended"} <= reasons, reasons
    assert any(t.get("oauth_grant") and t.get("audience") == "mcp" for t in listed["tokens"]), listed["tokens"]
    checks += 1

    # Everything above is on the record.
    events = json.loads(moat_cli(moat, config, "--json", "audit", "search", "--action", "oauth.*", "--limit", "1000"))
    actions = [e["action"] for e in events["events"]] if isinstance(events, dict) else [e["action"] for e in events]
    for expected in ["oauth.client", "oauth.sign_in", "oauth.grant", "oauth.token", "oauth.revoke"]:
        assert expected in actions, (expected, sorted(set(actions)))
    checks += 1
    return checks


def main() -> None:
    moat = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as data:
        process = start_demo(moat, data)
        try:
            with open(os.path.join(data, "demo.json")) as f:
                demo = json.load(f)
            checks = asyncio.run(exercise(moat, demo))
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"mcp-oauth: {checks} passed, 0 failed")


if __name__ == "__main__":
    main()

"""Interop: people sign in through the company's identity provider.

A real OpenID Provider (npm `oidc-provider`, tests/interop/idp/provider.mjs) plays the
company IdP, with Moat as its one confidential client. The official MCP Python SDK's
OAuth client (`OAuthClientProvider`) connects to `moat serve` with no token, registers
itself (RFC 7591), and hands the authorization URL to a real browser: Debian's
Chromium driven by Playwright (tests/interop/idp/browser.mjs) presses "Sign in with
your company account", signs in at the provider, and allows the tool on Moat's consent
page. Then the flow is attacked, each attempt refused and the refusals on the record:
an unverified email, a person the provider knows but Moat does not, a suspended person
(at sign-in and mid-grant), a callback that was not started in this browser, a
callback replayed, a forged `state`, a provider error, an access token replayed on
another resource.

Run by .ci/run inside the venv: `python tests/interop/mcp_idp.py path/to/moat`.
"""

import asyncio
import http.server
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
from urllib.parse import parse_qs, urlparse

import httpx
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamablehttp_client
from mcp.shared.auth import OAuthClientMetadata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcp_oauth import Memory  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
IDP = os.path.join(HERE, "idp")
REDIRECT = "http://127.0.0.1:45679/callback"
CLIENT_SECRET = "idp-client-secret-" + "5e" * 16


def tls_files(root: str) -> tuple[str, str, str]:
    """A throwaway CA and a certificate for 127.0.0.1 it signs: (ca, cert, key)."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=root, check=True, capture_output=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=moat interop CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "site.key", "-out", "site.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(root, "site.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "site.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "site.pem", "-days", "2", "-extfile", "site.ext")
    return (os.path.join(root, "ca.pem"), os.path.join(root, "site.pem"), os.path.join(root, "site.key"))


def serve_metadata_document(cert: str, key: str) -> tuple[str, http.server.HTTPServer]:
    """The tool's own site, over https: its client ID metadata document."""
    port = free_port()
    url = f"https://127.0.0.1:{port}/oauth/client.json"
    document = json.dumps({
        "client_id": url, "client_name": "Interop Tool (metadata document)", "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "token_endpoint_auth_method": "none"}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802
            body = document if self.path == "/oauth/client.json" else b"{}"
            self.send_response(200 if self.path == "/oauth/client.json" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return url, server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def git_repo(root: str) -> str:
    path = os.path.join(root, "claims")
    os.makedirs(os.path.join(path, "src"))
    with open(os.path.join(path, "src", "lib.rs"), "w") as f:
        f.write("pub fn adjudicate(claim: u32) -> bool { claim > 0 }\n")
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "first"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True)
    return path


def moat_cli(moat: str, config: str, env: dict, *args: str) -> str:
    done = subprocess.run([moat, "--config", config, *args], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def browse(url: str, login: str) -> dict:
    """A person opens `url` in Chromium and signs in at the provider as `login`."""
    done = subprocess.run(["node", os.path.join(IDP, "browser.mjs"), url, login, REDIRECT],
                          capture_output=True, text=True, timeout=120, cwd=IDP)
    assert done.returncode == 0, (done.stdout, done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


class Person:
    """The SDK's redirect and callback handlers, played by a browser."""

    def __init__(self, login: str) -> None:
        self.login = login
        self.result: dict = {}

    async def open(self, url: str) -> None:
        self.result = await asyncio.to_thread(browse, url, self.login)

    async def callback(self):
        redirect = self.result.get("redirect")
        assert redirect, f"the browser did not come back to the tool: {self.result}"
        query = parse_qs(urlparse(redirect).query)
        return query["code"][0], query.get("state", [None])[0]


def provider(url: str, person: Person, storage: Memory, metadata_url: str | None = None) -> OAuthClientProvider:
    return OAuthClientProvider(
        server_url=f"{url}/mcp",
        client_metadata=OAuthClientMetadata(
            client_name="idp interop client", redirect_uris=[REDIRECT],
            grant_types=["authorization_code", "refresh_token"], response_types=["code"]),
        storage=storage, redirect_handler=person.open, callback_handler=person.callback,
        client_metadata_url=metadata_url)


async def list_repositories(url: str, auth) -> list[str]:
    async with streamablehttp_client(f"{url}/mcp", auth=auth) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            result = await session.call_tool("list_repositories", {})
            return [r["repo"] for r in result.structuredContent["repositories"]]


async def exercise(moat: str, config: str, env: dict, url: str, issuer: str, metadata_url: str) -> None:
    # 1. The whole flow: no token configured, the browser signs in at the IdP.
    storage, dev = Memory(), Person("developer@example.com")
    repos = await list_repositories(url, provider(url, dev, storage))
    assert repos == ["claims"], repos
    assert dev.result["steps"] == ["moat-sign-in", "idp-login", "idp-consent", "moat-consent"], dev.result
    assert "developer@example.com" in dev.result["consent"], dev.result["consent"]
    session = [c for c in dev.result["cookies"] if c["name"] == "moat_session"]
    assert session and session[0]["httpOnly"] and session[0]["sameSite"] == "Lax", dev.result["cookies"]
    assert not [c for c in dev.result["cookies"] if c["name"] == "moat_idp"], "the pending sign-in is spent"
    assert storage.client.client_id.startswith("mcl_"), "registered itself (RFC 7591)"
    print("  the MCP SDK connected through a sign-in at the company IdP (Chromium, Playwright), registered by DCR")

    # 1b. The same with a client ID metadata document: the tool's https URL is its id.
    cimd_storage, cimd_person = Memory(), Person("developer@example.com")
    repos = await list_repositories(url, provider(url, cimd_person, cimd_storage, metadata_url))
    assert repos == ["claims"], repos
    assert cimd_storage.client.client_id == metadata_url, cimd_storage.client
    assert "Interop Tool (metadata document)" in cimd_person.result["consent"], cimd_person.result["consent"]
    print("  and again with a client ID metadata document fetched over https (the SDK's CIMD path)")

    async with httpx.AsyncClient() as http:
        access = storage.tokens.access_token
        who = await http.get(f"{url}/api/v1/whoami", headers={"Authorization": f"Bearer {access}"})
        assert who.status_code == 401 and "issued for /mcp only" in who.text, who.text

        # 2. A callback that was not started in this browser (no pending cookie), a
        # forged state, a provider error: each refused with nothing signed in.
        lone = await http.get(f"{url}/oauth/idp/callback", params={"code": "x", "state": "y"})
        assert lone.status_code == 400 and "not started in this browser" in lone.text, lone.text
        assert "moat_session" not in lone.headers.get("set-cookie", "")
        start = await http.get(f"{url}/oauth/idp/start", params={"return_to": "/oauth/authorize?x=1"})
        assert start.status_code == 303 and start.headers["location"].startswith(issuer), start.headers
        pending = start.cookies.get("moat_idp")
        assert pending and "HttpOnly" in start.headers["set-cookie"], start.headers
        sent = parse_qs(urlparse(start.headers["location"]).query)
        assert sent["code_challenge_method"] == ["S256"] and sent["nonce"][0] and sent["state"][0], sent
        assert sent["redirect_uri"] == [f"{url}/oauth/idp/callback"], sent
        forged = await http.get(f"{url}/oauth/idp/callback", params={"code": "x", "state": "forged"},
                                cookies={"moat_idp": pending})
        assert forged.status_code == 400 and "not started in this browser" in forged.text, forged.text
        denied = await http.get(f"{url}/oauth/idp/callback",
                                params={"error": "access_denied", "state": sent["state"][0]},
                                cookies={"moat_idp": pending})
        assert denied.status_code == 400 and "access_denied" in denied.text, denied.text
        # A stolen code with the right state but no verifier the provider accepts.
        wrong = await http.get(f"{url}/oauth/idp/callback", params={"code": "stolen", "state": sent["state"][0]},
                               cookies={"moat_idp": pending})
        assert wrong.status_code == 400 and "refused the sign-in" in wrong.text, wrong.text
        # Sign-in may only return to an authorization request of this server.
        away = await http.get(f"{url}/oauth/idp/start", params={"return_to": "https://evil.example/"})
        assert away.status_code == 400 and "location" not in away.headers
        print("  callbacks not started in this browser, forged state, provider errors, foreign return: refused")

    # 3. People the provider vouches for but Moat refuses.
    for login, status, text in [
        ("unverified@example.com", 400, "email is not verified"),
        ("stranger@example.com", 403, "has no Moat account"),
        ("suspended@example.com", 403, "your account is suspended"),
    ]:
        person = Person(login)
        await person.open(f"{url}/oauth/idp/start?return_to=%2Foauth%2Fauthorize%3Fr%3D1")
        assert person.result.get("refused") == status, (login, person.result)
        assert text in person.result["text"], (login, person.result["text"])
        assert not [c for c in person.result["cookies"] if c["name"] == "moat_session"], login
    print("  unverified email, unknown person, suspended person: refused at sign-in")

    # 4. Suspended mid-grant: the tokens from the IdP sign-in stop at once.
    moat_cli(moat, config, env, "user", "suspend", "developer@example.com")
    async with httpx.AsyncClient() as http:
        status = (await http.post(f"{url}/mcp", headers={
            "Authorization": f"Bearer {storage.tokens.access_token}", "Accept": "application/json, text/event-stream"},
            json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})).status_code
        assert status == 401, status
    moat_cli(moat, config, env, "user", "reactivate", "developer@example.com")
    print("  suspension mid-grant revoked the tokens the IdP sign-in led to")

    # 5. One grant ended by an administrator, through the API and through the CLI.
    admin = json.loads(moat_cli(moat, config, env, "token", "issue", "--user", "admin@example.com",
                                "--scope", "admin", "--json"))["secret"]
    for how in ("api", "cli"):
        storage = Memory()
        assert await list_repositories(url, provider(url, Person("developer@example.com"), storage)) == ["claims"]
        listed = json.loads(moat_cli(moat, config, env, "token", "list", "--user", "developer@example.com", "--json"))
        live = [g for g in listed["grants"] if g["revoked_at"] is None]
        assert len(live) == 1, listed["grants"]
        grant = live[0]["id"]
        async with httpx.AsyncClient() as http:
            if how == "api":
                answer = await http.post(f"{url}/api/v1/grants/{grant}/revoke", headers={"Authorization": f"Bearer {admin}"})
                assert answer.status_code == 200 and answer.json()["revoked_reason"] == "revoked", answer.text
                again = await http.post(f"{url}/api/v1/grants/{grant}/revoke", headers={"Authorization": f"Bearer {admin}"})
                assert again.status_code == 404, again.text
            else:
                shown = json.loads(moat_cli(moat, config, env, "token", "revoke-grant", grant, "--json"))
                assert shown["id"] == grant and shown["revoked_at"], shown
            status = (await http.post(f"{url}/oauth/token", data={
                "grant_type": "refresh_token", "refresh_token": storage.tokens.refresh_token,
                "client_id": storage.client.client_id})).status_code
            assert status == 400, "the grant's refresh token is dead"
            who = await http.post(f"{url}/mcp", headers={
                "Authorization": f"Bearer {storage.tokens.access_token}", "Accept": "application/json, text/event-stream"},
                json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
            assert who.status_code == 401, who.status_code
    print("  one grant ended by an administrator (API and CLI): its tokens stop at once")

    # 6. The record: sign-ins through the provider and the refusals.
    events = json.loads(moat_cli(moat, config, env, "audit", "search", "--action", "oauth.sign_in", "--json", "--limit", "1000"))
    events = events if isinstance(events, list) else events.get("events", [])
    methods = [(e["details"].get("method"), e["decision"]["outcome"]) for e in events]
    assert ("identity-provider", "allow") in methods, methods
    refused = [e for e in events if e["decision"]["outcome"] == "deny"]
    assert {e["resources"]["objects"][0] for e in refused} >= {"stranger@example.com", "suspended@example.com"}, refused
    moat_cli(moat, config, env, "audit", "verify")
    print("  sign-ins and refusals are on the record; the log verifies")


def start_idp(moat_url: str) -> tuple[subprocess.Popen, str]:
    """The company IdP (tests/interop/idp/provider.mjs) for Moat at `moat_url`: the
    process and its issuer URL."""
    idp = subprocess.Popen(["node", os.path.join(IDP, "provider.mjs"), moat_url, CLIENT_SECRET],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=IDP)
    line = idp.stdout.readline()
    assert line.startswith("issuer "), (line, idp.stderr.read())
    return idp, line.split()[1]


def serve(moat: str, config: str, port: int, env: dict) -> subprocess.Popen:
    """`moat serve` on `port`, once it listens; what it logs goes to `config`.log (a
    pipe nobody reads would stall it once full), shown by `show_server_log`."""
    log = open(config + ".log", "w")
    server = subprocess.Popen([moat, "--config", config, "serve", "--listen", f"127.0.0.1:{port}"],
                              stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    line = server.stdout.readline()
    if not line.startswith("moat listening on "):
        show_server_log(config)
        raise AssertionError(f"moat serve did not start: {line!r}")
    return server


def show_server_log(config: str) -> None:
    """The end of what `moat serve` logged, for a failure's report."""
    with open(config + ".log", errors="replace") as f:
        tail = f.read()[-20_000:]
    print(f"--- moat serve log ({config}.log) ---\n{tail}\n--- end of log ---", file=sys.stderr)


def main() -> None:
    moat = sys.argv[1]
    root = tempfile.mkdtemp(prefix="moat-idp-")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    idp, issuer = start_idp(url)
    server = None
    try:
        config = os.path.join(root, "moat.toml")
        with open(config, "w") as f:
            f.write(f"""[org]
name = "IdP Interop"

[server]
public_url = "{url}"

[identity.oauth]
metadata_private_addresses = true   # the tool's site is on loopback in this test

[identity.oidc]
issuer = "{issuer}"
audience = "{url}/mcp"
client_id = "moat"
client_secret_env = "MOAT_IDP_SECRET"

[[repos]]
name = "claims"
source = {json.dumps(git_repo(root))}
tier = "internal"
permissions = "static"

[permissions.static]
grants = [{{ repos = ["*"], teams = ["engineering"] }}]
""")
        ca, cert, key = tls_files(root)
        metadata_url, site = serve_metadata_document(cert, key)
        # Moat trusts the throwaway CA through the system trust store's override, as it
        # would a company's own CA.
        env = dict(os.environ, MOAT_LOG="warn", MOAT_IDP_SECRET=CLIENT_SECRET, SSL_CERT_FILE=ca)
        moat_cli(moat, config, env, "index")
        for email in ("developer@example.com", "unverified@example.com", "suspended@example.com"):
            moat_cli(moat, config, env, "user", "add", email, "--team", "engineering")
        moat_cli(moat, config, env, "user", "add", "admin@example.com", "--role", "admin")
        moat_cli(moat, config, env, "user", "suspend", "suspended@example.com")
        server = serve(moat, config, port, env)
        try:
            asyncio.run(exercise(moat, config, env, url, issuer, metadata_url))
        except BaseException:
            show_server_log(config)
            raise
        site.shutdown()
    finally:
        for process in (server, idp):
            if process is not None:
                process.terminate()
                process.wait(timeout=10)
    print("IdP sign-in interop: all checks passed")


if __name__ == "__main__":
    main()

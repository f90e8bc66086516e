"""Interop: the security team's console in a real browser.

Debian's Chromium, driven by Playwright with JavaScript off (tests/interop/idp/console.mjs),
signs in to the console through the company's identity provider (npm `oidc-provider`,
tests/interop/idp/provider.mjs), visits every page with real data, reclassifies a
repository (the developer's next MCP call is refused) and suspends the developer (their
token is refused); axe-core (npm) finds no serious or critical accessibility violation
on any page. Then the console is attacked: a form on another site's page aimed at it
(cross-site request forgery) changes nothing, a change without the session's CSRF
token is refused, an auditor reads the record but is refused people and changes by
Cedar, and every change is on the record naming the console session.

Screenshots of each page are written to target/console-screenshots/ (not committed).

Run by .ci/run inside the venv: `python tests/interop/console.py path/to/moat`.
"""

import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

import httpx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mcp_idp import (CLIENT_SECRET, IDP, free_port, git_repo, moat_cli, serve,  # noqa: E402
                     show_server_log, start_idp)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHOTS = os.path.join(ROOT, "target", "console-screenshots")


def browse(url: str, login: str, steps: list) -> dict:
    os.makedirs(SHOTS, exist_ok=True)
    done = subprocess.run(["node", os.path.join(IDP, "console.mjs"), url, login, SHOTS, json.dumps(steps)],
                          capture_output=True, text=True, timeout=180, cwd=IDP)
    assert done.returncode == 0, (done.stdout, done.stderr)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "error" not in result, result["error"]
    return result


def read_ledger(url: str, token: str) -> dict:
    """One MCP session: `read_source` on the claims repository; the tool result, or the HTTP status."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}

    def answer(response: httpx.Response) -> dict:
        text = response.text
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            data = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
            return json.loads(data[-1])

    with httpx.Client() as http:
        opened = http.post(f"{url}/mcp", headers=headers, json={
            "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "console-interop", "version": "1"}}})
        if opened.status_code != 200:
            return {"http": opened.status_code}
        session = dict(headers, **{"mcp-session-id": opened.headers["mcp-session-id"],
                                   "mcp-protocol-version": "2025-06-18"})
        http.post(f"{url}/mcp", headers=session, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        called = http.post(f"{url}/mcp", headers=session, json={
            "jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
                "name": "read_source",
                "arguments": {"repo": "claims", "path": "src/lib.rs", "start_line": 1, "end_line": 1}}})
        return answer(called)["result"]


def eventually(what: str, check) -> None:
    deadline = time.time() + 10
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"never: {what}")


def evil_site(target: str) -> tuple[str, http.server.HTTPServer]:
    """Another site (`localhost`, not `127.0.0.1`) with a form that posts to the console."""
    port = free_port()
    page = f"""<!doctype html><html lang="en"><head><title>Win a prize</title></head><body><main>
<h1>Win a prize</h1><form method="post" action="{target}"><button type="submit">Claim it</button></form>
</main></body></html>""".encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://localhost:{port}/", server


def no_serious_violations(result: dict) -> None:
    visited = {s["name"] for s in result["steps"] if s["url"].startswith("http://127.0.0.1")} - {"reclassified", "suspended"}
    assert visited <= set(result["axe"]), ("axe did not check every page", visited, result["axe"].keys())
    for name, violations in result["axe"].items():
        serious = [v for v in violations if v["impact"] in ("serious", "critical")]
        assert not serious, (name, serious)


def exercise(moat: str, config: str, env: dict, url: str) -> None:
    dev_token = json.loads(moat_cli(moat, config, env, "token", "issue", "--user", "developer@example.com",
                                    "--scope", "mcp", "--json"))["secret"]
    users = json.loads(moat_cli(moat, config, env, "user", "list", "--json"))["users"]
    dev_id = next(u["id"] for u in users if u["email"] == "developer@example.com")
    before = read_ledger(url, dev_token)
    assert "adjudicate" in json.dumps(before), before

    # An incident opened by hand, so its pages have something to show.
    incident = json.loads(moat_cli(moat, config, env, "incident", "open", "--subject", "laptop:developer",
                                   "--title", "laptop lost on a train", "--json"))["id"]

    # 1. An administrator signs in through the IdP with JavaScript off, reads every page
    # and reclassifies `claims`; the developer's next MCP call is refused.
    pages = [
        {"visit": "/console", "name": "overview"},
        {"visit": "/console/people", "name": "people"},
        {"visit": "/console/repos", "name": "repos"},
        {"visit": "/console/access?repo=claims", "name": "access"},
        {"visit": "/console/access?person=developer%40example.com&repo=claims", "name": "access-explain"},
        {"visit": "/console/models", "name": "models"},
        {"visit": "/console/policy", "name": "policy"},
        {"visit": "/console/exceptions", "name": "exceptions"},
        {"visit": "/console/incidents", "name": "incidents"},
        {"visit": f"/console/incidents/{incident}", "name": "incident"},
        {"visit": "/console/kill-switches", "name": "kill-switches"},
        {"visit": "/console/audit/verify", "name": "audit-verify"},
        {"visit": "/console/audit", "name": "audit"},
        {"visit": "/console/audit/0", "name": "audit-event"},
        {"visit": "/console/evidence", "name": "evidence"},
        {"visit": "/console/me", "name": "me"},
    ]
    admin = browse(url, "admin@example.com", pages + [{"reclassify": "claims", "tier": "restricted", "name": "reclassified"}])
    assert admin["signed_in"], admin["after_sign_in"]
    cookie = [c for c in admin["cookies"] if c["name"] == "moat_console"]
    assert cookie and cookie[0]["httpOnly"] and cookie[0]["secure"] and cookie[0]["sameSite"] == "Strict" \
        and cookie[0]["path"] == "/console", admin["cookies"]
    expected = {"overview": "internal: 1", "people": "developer@example.com", "repos": "claims",
                "access": "developer@example.com", "access-explain": "Read source",
                "models": "Usage, last 14 days", "policy": "Repository claims is internal", "exceptions": "No exceptions have been asked for",
                "incidents": "laptop lost on a train", "incident": "acknowledge within 1h",
                "kill-switches": "No kill switch is engaged",
                "audit-verify": "The log verifies",
                "audit": "oauth.sign_in", "audit-event": "Provably in the log", "evidence": "Download the pack",
                "me": "admin@example.com"}
    for step in admin["steps"][:len(pages)]:
        assert step["status"] == 200, step
        assert expected[step["name"]] in step["text"], (step["name"], step["text"])
    assert admin["steps"][0]["nav"] == ["Overview", "People", "Access", "Repositories", "Models", "Policy",
                                      "Exceptions", "Incidents", "Kill switches", "Audit", "Evidence",
                                      "Your account"], admin["steps"][0]
    reclassified = admin["steps"][-1]
    assert reclassified["status"] == 200 and "is now restricted" in reclassified["text"], reclassified
    no_serious_violations(admin)
    eventually("the developer's read_source is refused under the new tier",
               lambda: read_ledger(url, dev_token).get("isError") is True)
    print("  an admin signed in through the IdP (Chromium, JavaScript off), read every page and reclassified a"
          " repository; the developer's next MCP call was refused; axe-core: no serious or critical violations")

    # 2. Another site's form aimed at the console: the browser does not send the
    # SameSite=Strict cookie, and the console changes nothing.
    evil, site = evil_site(f"{url}/console/people/{dev_id}/suspend")
    try:
        forged = browse(url, "admin@example.com", [{"goto": evil, "press": "Claim it", "name": "csrf-attempt"}])
    finally:
        site.shutdown()
    attempt = forged["steps"][0]
    assert attempt["status"] in (403, 200) and "is now suspended" not in attempt["text"], attempt
    assert attempt["status"] == 403 or attempt["h1"] == "Sign in", attempt
    assert read_ledger(url, dev_token).get("isError") is True, "the developer is not suspended (only refused by tier)"
    listed = json.loads(moat_cli(moat, config, env, "user", "list", "--json"))["users"]
    assert next(u for u in listed if u["email"] == "developer@example.com")["status"] == "active"
    print("  a form on another site's page aimed at the console changed nothing")

    # 3. Suspending the developer in the console refuses their token at once.
    suspended = browse(url, "admin@example.com", [{"suspend": "developer@example.com", "name": "suspended"},
                                                  {"visit": "/console/audit?action=admin.change", "name": "audit-changes"}])
    assert "is now suspended" in suspended["steps"][0]["text"], suspended["steps"][0]
    assert read_ledger(url, dev_token) == {"http": 403}
    assert "admin.change" in suspended["steps"][1]["text"], suspended["steps"][1]
    no_serious_violations(suspended)
    print("  suspending the developer in the console refused their token at once")

    # 4. An auditor reads the record and nothing else.
    auditor = browse(url, "auditor@example.com", [
        {"visit": "/console", "name": "auditor-overview"},
        {"visit": "/console/audit", "name": "auditor-audit"},
        {"visit": "/console/people", "name": "auditor-people"},
        {"visit": "/console/access?repo=claims", "name": "auditor-access"},
    ])
    statuses = [s["status"] for s in auditor["steps"]]
    assert statuses == [200, 200, 403, 403], statuses
    assert "People" not in auditor["steps"][0]["nav"] and "Audit" in auditor["steps"][0]["nav"], auditor["steps"][0]
    assert "Reclassify" not in auditor["steps"][0]["text"]
    no_serious_violations(auditor)

    # 5. Changes without the CSRF token, and an auditor's change, refused by the server.
    with httpx.Client(follow_redirects=False) as http:
        def session_for(email: str) -> tuple[str, str]:
            link = json.loads(moat_cli(moat, config, env, "login-link", email, "--console", "--json"))["url"]
            code = link.split("code=")[1]
            signed = http.post(f"{url}/console/sign-in", data={"code": code})
            assert signed.status_code == 303, signed.text
            cookie = signed.headers["set-cookie"].split(";")[0]
            me = http.get(f"{url}/console/me", headers={"Cookie": cookie})
            csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', me.text).group(1)
            return cookie, csrf

        admin_cookie, admin_csrf = session_for("admin@example.com")
        reactivate = f"{url}/console/people/{dev_id}/reactivate"
        for data in ({}, {"csrf": "0" * 64}):
            refused = http.post(reactivate, headers={"Cookie": admin_cookie}, data=data)
            assert refused.status_code == 403, refused.text
        auditor_cookie, auditor_csrf = session_for("auditor@example.com")
        refused = http.post(reactivate, headers={"Cookie": auditor_cookie}, data={"csrf": auditor_csrf})
        assert refused.status_code == 403 and "Refused by the organisation's access policy" in refused.text, refused.text
        done = http.post(reactivate, headers={"Cookie": admin_cookie}, data={"csrf": admin_csrf})
        assert done.status_code == 200 and "is now active" in done.text, done.text
    print("  changes without the CSRF token, and an auditor's change, refused; the admin's went through")

    # 6. The record: each change an admin.change pair naming the console session.
    events = json.loads(moat_cli(moat, config, env, "audit", "search", "--action", "admin.change", "--json",
                                 "--limit", "1000"))["events"]
    console_changes = [e for e in events if e["actor"].get("client") == "console"]
    operations = {(e["details"]["operation"], e["details"]["phase"]) for e in console_changes}
    for operation in ("repo.classify", "config.publish", "user.suspend", "user.reactivate"):
        assert {(operation, "requested"), (operation, "applied")} <= operations, (operation, operations)
    assert all(e["actor"]["token_id"].startswith("cs_") for e in console_changes), console_changes
    denied = json.loads(moat_cli(moat, config, env, "audit", "search", "--action", "access.denied", "--json"))["events"]
    assert any(e["actor"].get("email") == "auditor@example.com" for e in denied), denied
    moat_cli(moat, config, env, "audit", "verify")
    print(f"  every change is an admin.change pair naming the console session; the log verifies; screenshots in {SHOTS}")


def main() -> None:
    moat = sys.argv[1]
    root = tempfile.mkdtemp(prefix="moat-console-")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    idp, issuer = start_idp(url)
    server = None
    try:
        config = os.path.join(root, "moat.toml")
        with open(config, "w") as f:
            f.write(f"""[org]
name = "Console Interop"

[server]
public_url = "{url}"
config_source = "store"

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
        env = dict(os.environ, MOAT_LOG="warn", MOAT_IDP_SECRET=CLIENT_SECRET)
        moat_cli(moat, config, env, "index")
        moat_cli(moat, config, env, "user", "add", "developer@example.com", "--team", "engineering")
        moat_cli(moat, config, env, "user", "add", "admin@example.com", "--role", "admin,security")
        moat_cli(moat, config, env, "user", "add", "auditor@example.com", "--role", "auditor")
        moat_cli(moat, config, env, "config", "publish")
        server = serve(moat, config, port, env)
        try:
            exercise(moat, config, env, url)
        except BaseException:
            show_server_log(config)
            raise
    finally:
        for process in (server, idp):
            if process is not None:
                process.terminate()
                process.wait(timeout=10)
    print("console interop: all checks passed")


if __name__ == "__main__":
    main()

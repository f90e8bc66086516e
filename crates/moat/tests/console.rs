//! The console through the real binary, tried as an attacker would: a sign-in link
//! spent twice, changes without the session's CSRF token or from another site, a
//! developer at an administrator's pages and buttons. A reclassification made in the
//! console is published for every node and decides the next MCP call; suspending a
//! person there refuses their token and ends their console session; every change is on
//! the record as the same `admin.change` pair as from the CLI, naming the session.

mod nodes;

use nodes::{Node, answer, git, json, mcp, moat, ok, serve, tool_call};
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};

struct Deployment {
    _dir: tempfile::TempDir,
    config: std::path::PathBuf,
}

impl Deployment {
    /// One repository (`payments`, internal) the developer may read, on SQLite, the
    /// configuration published and followed from the store.
    fn new() -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("payments");
        std::fs::create_dir_all(repo.join("src")).unwrap();
        std::fs::write(
            repo.join("src/ledger.py"),
            "def settle(amount):\n    \"\"\"Settles a payment.\"\"\"\n    return amount * 2\n",
        )
        .unwrap();
        git(&repo, &["init", "-q", "-b", "main"]);
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "ledger"]);
        let config = dir.path().join("moat.toml");
        std::fs::write(
            &config,
            format!(
                "[org]\nname = \"Example Health\"\n\n[server]\nconfig_source = \"store\"\n\n\
                 [[repos]]\nname = \"payments\"\nsource = \"{}\"\ntier = \"internal\"\n\n\
                 [permissions.static]\ngrants = [{{ repos = [\"payments\"], users = [\"dev@example.com\"] }}]\n\n\
                 [[vendors]]\nname = \"local\"\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:9\"\n\
                 region = \"us\"\non_prem = true\n\
                 attestations = {{ baa = true, expires = {{ baa = \"2020-01-31\" }} }}\n",
                repo.display()
            ),
        )
        .unwrap();
        let deployment = Deployment { _dir: dir, config };
        ok(deployment.run(&[
            "user",
            "add",
            "admin@example.com",
            "--role",
            "admin,security",
        ]));
        ok(deployment.run(&["user", "add", "dev@example.com", "--role", "developer"]));
        // A name a person chose themselves (through SCIM, say) is text on every page.
        ok(deployment.run(&[
            "user",
            "add",
            "mallory@example.com",
            "--name",
            "<img src=x onerror=alert(1)><script>alert(2)</script>",
        ]));
        ok(deployment.run(&["index"]));
        ok(deployment.run(&["config", "publish"]));
        deployment
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        moat(&self.config, "").args(args).output().unwrap()
    }

    fn token(&self, email: &str) -> String {
        json(self.run(&[
            "token", "issue", "--user", email, "--scope", "mcp", "--json",
        ]))["secret"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn console_link(&self, email: &str) -> String {
        let link = json(self.run(&["login-link", email, "--console", "--json"]));
        link["url"].as_str().unwrap().to_string()
    }
}

fn http() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn form_body(fields: &[(&str, &str)]) -> String {
    use moat_service::oauth::flow::percent_encode;
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn code_of(link: &str) -> String {
    link.split("code=").nth(1).unwrap().to_string()
}

/// Signs in with a link; the response and the session cookie it set, if any.
fn sign_in(node: &Node, code: &str) -> (Response, Option<String>) {
    let response = http()
        .post(format!("{}/console/sign-in", node.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[("code", code)]))
        .send()
        .unwrap();
    let cookie = response
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_string());
    (response, cookie)
}

fn session_of(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

fn page(node: &Node, cookie: &str, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let response = http()
        .get(format!("{}{path}", node.url))
        .header("cookie", cookie)
        .send()
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.text().unwrap(), headers)
}

fn csrf_in(html: &str) -> String {
    let token = html
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|rest| rest.get(..64))
        .unwrap_or_else(|| panic!("no CSRF token in {html}"));
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
    token.to_string()
}

fn post(
    node: &Node,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
    extra: &[(&str, &str)],
) -> (u16, String) {
    let mut request = http()
        .post(format!("{}{path}", node.url))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(form));
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    (status, response.text().unwrap())
}

/// Opens an MCP session and calls `read_source` on the ledger; the tool result.
fn read_ledger(node: &Node, token: &str) -> Value {
    let opened = mcp(
        node,
        token,
        None,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "console-test", "version": "1"}}}),
    );
    if opened.status().as_u16() != 200 {
        return json!({"http": opened.status().as_u16()});
    }
    let session = opened.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_string();
    let _ = mcp(
        node,
        token,
        Some(&session),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    );
    let called = mcp(
        node,
        token,
        Some(&session),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "read_source",
            "arguments": {"repo": "payments", "path": "src/ledger.py", "start_line": 1, "end_line": 3}}}),
    );
    answer(called)["result"].clone()
}

fn audit(deployment: &Deployment, action: &str) -> Vec<Value> {
    json(deployment.run(&["audit", "search", "--action", action, "--json"]))["events"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn the_console_signs_in_once_changes_on_the_record_and_refuses_forgeries() {
    let deployment = Deployment::new();
    let dev_token = deployment.token("dev@example.com");
    let node = serve(&deployment.config, "");

    // Without a session every page sends the browser to sign in.
    let (status, _, headers) = page(&node, "", "/console/people");
    assert_eq!(status, 303);
    assert_eq!(headers["location"], "/console/sign-in");

    // The link opens the sign-in page with its code, and spends nothing by itself.
    let link = deployment.console_link("admin@example.com");
    let (status, html, headers) = page(&node, "", &link[link.find("/console/sign-in").unwrap()..]);
    assert_eq!(status, 200);
    assert!(html.contains(&code_of(&link)), "{html}");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(headers["x-frame-options"], "DENY");

    // Another site's page cannot sign this browser in (login CSRF), nor spend the link.
    let forged = http()
        .post(format!("{}/console/sign-in", node.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "https://evil.example")
        .body(form_body(&[("code", &code_of(&link))]))
        .send()
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    assert!(forged.headers().get("set-cookie").is_none());

    let (response, cookie) = sign_in(&node, &code_of(&link));
    assert_eq!(response.status().as_u16(), 303);
    let set_cookie = cookie.expect("a session cookie");
    for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/console"] {
        assert!(set_cookie.contains(flag), "{flag} missing: {set_cookie}");
    }
    let admin = session_of(&set_cookie);
    // The same link again signs nobody in.
    let (replayed, none) = sign_in(&node, &code_of(&link));
    assert_eq!(replayed.status().as_u16(), 401);
    assert!(none.is_none());

    // Every page an administrator has renders with real data.
    for (path, expect) in [
        ("/console", "internal: 1"),
        ("/console/people", "dev@example.com"),
        ("/console/repos", "payments"),
        ("/console/audit", "admin.change"),
        ("/console/audit/0", "Provably in the log"),
        ("/console/access?repo=payments", "dev@example.com"),
        (
            "/console/access?person=dev@example.com",
            "1 of 1 repositories",
        ),
        (
            "/console/access?person=admin@example.com&repo=payments",
            "denied",
        ),
        ("/console/me", "admin@example.com"),
        ("/console/models", "No models are configured"),
        ("/console/models", "EXPIRED on 2020-01-31"),
        (
            "/console/policy",
            "Repository <code>payments</code> is internal",
        ),
        ("/console/policy.md", "[`repos[name=payments].tier`]"),
    ] {
        let (status, html, _) = page(&node, &admin, path);
        assert_eq!(status, 200, "{path}: {html}");
        assert!(html.contains(expect), "{path} lacks {expect}: {html}");
    }
    // An engaged kill switch is on the overview, its reason escaped; released, gone.
    ok(deployment.run(&[
        "kill-switch",
        "engage",
        "repo",
        "payments",
        "--reason",
        "<b>incident</b> 4711",
    ]));
    let (_, overview, _) = page(&node, &admin, "/console");
    assert!(
        overview.contains("repo payments")
            && overview.contains("&lt;b&gt;incident&lt;/b&gt; 4711")
            && !overview.contains("<b>incident"),
        "{overview}"
    );
    ok(deployment.run(&["kill-switch", "release", "repo", "payments"]));
    let (_, overview, _) = page(&node, &admin, "/console");
    assert!(overview.contains("None engaged"), "{overview}");
    let (_, people, _) = page(&node, &admin, "/console/people");
    let csrf = csrf_in(&people);
    assert!(
        people.contains("&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;")
            && !people.contains("<img src=x")
            && !people.contains("<script"),
        "markup in a name is escaped: {people}"
    );
    let (_, searched, _) = page(&node, &admin, "/console/people?q=%22%3E%3Cscript%3E");
    assert!(
        !searched.contains("\"><script>"),
        "a search is escaped back: {searched}"
    );
    let (_, audit_search, _) = page(&node, &admin, "/console/audit?actor=%22%3E%3Cb%3Ex");
    assert!(!audit_search.contains("\"><b>x"), "{audit_search}");
    let dev_id = json(deployment.run(&["user", "list", "--json"]))["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "dev@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let suspend = format!("/console/people/{dev_id}/suspend");

    // Forged changes: no token, another session's token, another site's page.
    let wrong = "0".repeat(64);
    for (form, extra) in [
        (vec![], vec![]),
        (vec![("csrf", wrong.as_str())], vec![]),
        (
            vec![("csrf", csrf.as_str())],
            vec![("origin", "https://evil.example")],
        ),
        (
            vec![("csrf", csrf.as_str())],
            vec![("sec-fetch-site", "cross-site")],
        ),
    ] {
        let (status, html) = post(&node, &admin, &suspend, &form, &extra);
        assert_eq!(status, 403, "{form:?} {extra:?}: {html}");
    }
    assert!(
        read_ledger(&node, &dev_token)["content"]
            .to_string()
            .contains("settle"),
        "a forged suspension changed nothing"
    );

    // A developer signs in and sees only their own account; the rest is refused by
    // Cedar, on the record.
    let (_, dev_cookie) = sign_in(&node, &code_of(&deployment.console_link("dev@example.com")));
    let dev = session_of(&dev_cookie.unwrap());
    let (status, _, headers) = page(&node, &dev, "/console");
    assert_eq!(
        (status, headers["location"].to_str().unwrap()),
        (303, "/console/me")
    );
    let (status, html, _) = page(&node, &dev, "/console/me");
    assert_eq!(status, 200);
    assert!(
        !html.contains("/console/people"),
        "no People link for a developer: {html}"
    );
    for path in [
        "/console/people",
        "/console/audit",
        "/console/audit/verify",
        "/console/audit/export?from=0&to=1",
        "/console/audit/0",
        "/console/repos",
        "/console/policy",
        "/console/policy.md",
        "/console/exceptions",
        "/console/evidence",
        "/console/evidence.zip?from=2026-01-01&to=2026-01-02",
    ] {
        let (status, _, _) = page(&node, &dev, path);
        assert_eq!(status, 403, "{path}");
    }
    let dev_csrf = csrf_in(&html);
    let (status, _) = post(
        &node,
        &dev,
        "/console/repos/payments/tier",
        &[("csrf", &dev_csrf), ("tier", "public")],
        &[],
    );
    assert_eq!(status, 403);
    assert!(
        audit(&deployment, "access.denied")
            .iter()
            .any(|e| e["actor"]["email"] == "dev@example.com" && e["actor"]["client"] == "console"),
        "the refusals are on the record"
    );

    // A reclassification in the console is published and decides the next MCP call.
    let (status, html) = post(
        &node,
        &admin,
        "/console/repos/payments/tier",
        &[("csrf", &csrf), ("tier", "restricted")],
        &[],
    );
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("configuration version 2"), "{html}");
    nodes::eventually("the node applies the reclassification", || {
        read_ledger(&node, &dev_token)["isError"] == true
    });
    let classified: Vec<Value> = audit(&deployment, "admin.change")
        .into_iter()
        .filter(|e| e["details"]["operation"] == "repo.classify")
        .collect();
    let phases: Vec<&str> = classified
        .iter()
        .map(|e| e["details"]["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["requested", "applied"]);
    // The written policy follows: the node's policy page says what it now enforces.
    let (_, policy, _) = page(&node, &admin, "/console/policy");
    assert!(
        policy.contains("Repository <code>payments</code> is restricted")
            && policy.contains("published configuration version 2"),
        "{policy}"
    );
    for event in &classified {
        assert_eq!(event["actor"]["client"], "console");
        assert_eq!(event["actor"]["email"], "admin@example.com");
        assert!(
            event["actor"]["token_id"]
                .as_str()
                .unwrap()
                .starts_with("cs_"),
            "the console session is named: {event}"
        );
    }
    assert_eq!(classified[0]["details"]["before"]["tier"], "internal");
    assert_eq!(classified[1]["details"]["after"]["tier"], "restricted");

    // The whole log verified on demand; a time the filter cannot read is refused.
    let (status, html, _) = page(&node, &admin, "/console/audit/verify");
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("The log verifies"), "{html}");
    let (status, _, _) = page(&node, &admin, "/console/audit?since=yesterday");
    assert_eq!(status, 400);
    let (status, html, _) = page(
        &node,
        &admin,
        "/console/audit?action=admin.change&since=2020-01-01",
    );
    assert!(status == 200 && html.contains("admin.change"), "{html}");

    // An export and its manifest, downloaded while the log grows (each download is
    // itself recorded), check out with `moat audit check-export`.
    let download = |path: &str| {
        let response = http()
            .get(format!("{}{path}", node.url))
            .header("cookie", &admin)
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let disposition = response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_string();
        (disposition, response.bytes().unwrap().to_vec())
    };
    let exported = tempfile::tempdir().unwrap();
    let (disposition, events) =
        download("/console/audit/export?from=0&to=5&format=jsonl&part=events");
    assert!(
        disposition.contains("moat-audit-0-5.jsonl"),
        "{disposition}"
    );
    assert_eq!(events.iter().filter(|b| **b == b'\n').count(), 6);
    let (_, manifest) = download("/console/audit/export?from=0&to=5&format=jsonl&part=manifest");
    std::fs::write(exported.path().join("e.jsonl"), &events).unwrap();
    std::fs::write(exported.path().join("m.json"), &manifest).unwrap();
    let checked = deployment.run(&[
        "audit",
        "check-export",
        exported.path().join("e.jsonl").to_str().unwrap(),
        "--manifest",
        exported.path().join("m.json").to_str().unwrap(),
    ]);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let (status, html, _) = page(&node, &admin, "/console/audit/export?from=5&to=1");
    assert_eq!(status, 400, "{html}");

    // One person in detail: their tokens, what they can reach, what they did.
    let (status, html, _) = page(&node, &admin, &format!("/console/people/{dev_id}"));
    assert_eq!(status, 200, "{html}");
    for expect in [
        "dev@example.com",
        "Tokens",
        "Recent activity",
        "Deprovision",
    ] {
        assert!(html.contains(expect), "{expect}: {html}");
    }
    let (status, html, _) = page(&node, &admin, "/console/repos?q=pay&tier=restricted");
    assert_eq!(status, 200);
    assert!(html.contains("1 repositories match"), "{html}");
    let (_, html, _) = page(&node, &admin, "/console/repos?tier=public");
    assert!(html.contains("0 repositories match"), "{html}");

    // An exception asked from the command line is reviewed in the console by a named
    // security reviewer: without the session's CSRF token refused, with it approved,
    // then revoked; a developer cannot see the page.
    ok(deployment.run(&["user", "add", "eve@example.com", "--role", "developer"]));
    let asked = json(
        moat(&deployment.config, "")
            .args([
                "--operator",
                "eve@example.com",
                "exception",
                "request",
                "--repo",
                "payments",
                "--reason",
                "on call for the <b>ledger</b> incident",
                "--for",
                "1d",
                "--json",
            ])
            .output()
            .unwrap(),
    );
    let id = asked["id"].as_str().unwrap().to_string();
    let (status, html, _) = page(&node, &admin, "/console/exceptions");
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("eve@example.com")
            && html.contains(&format!("Approve {id}"))
            && html.contains("on call for the &lt;b&gt;ledger&lt;/b&gt; incident"),
        "{html}"
    );
    let review = format!("/console/exceptions/{id}");
    let (status, _) = post(&node, &admin, &review, &[("decision", "approve")], &[]);
    assert_eq!(status, 403, "no CSRF token");
    let (status, html) = post(
        &node,
        &admin,
        &review,
        &[
            ("csrf", &csrf),
            ("decision", "approve"),
            ("note", "one day"),
        ],
        &[],
    );
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(&format!("Exception {id} is now approved")),
        "{html}"
    );
    let (status, html) = post(
        &node,
        &admin,
        &review,
        &[("csrf", &csrf), ("decision", "approve")],
        &[],
    );
    assert_eq!(status, 400, "decided once: {html}");
    let (status, html) = post(
        &node,
        &admin,
        &review,
        &[("csrf", &csrf), ("decision", "revoke")],
        &[],
    );
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("is now revoked"), "{html}");

    // Suspending the developer refuses their token and ends their console session.
    let (status, html) = post(&node, &admin, &suspend, &[("csrf", &csrf)], &[]);
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("is now suspended"), "{html}");
    assert_eq!(
        read_ledger(&node, &dev_token)["http"],
        403,
        "a suspended person's token is refused"
    );
    let (status, _, headers) = page(&node, &dev, "/console/me");
    assert_eq!(
        (status, headers["location"].to_str().unwrap()),
        (303, "/console/sign-in")
    );

    // Deprovisioning asks for confirmation, then revokes everything for good.
    let deprovision = format!("/console/people/{dev_id}/deprovision");
    let (status, html) = post(&node, &admin, &deprovision, &[("csrf", &csrf)], &[]);
    assert_eq!(status, 400, "{html}");
    let (status, html) = post(
        &node,
        &admin,
        &deprovision,
        &[("csrf", &csrf), ("confirm", "yes")],
        &[],
    );
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("is deprovisioned"), "{html}");
    assert!(
        audit(&deployment, "admin.change")
            .iter()
            .any(|e| e["details"]["operation"] == "user.deprovision"
                && e["details"]["phase"] == "applied"
                && e["actor"]["client"] == "console"),
        "the deprovisioning is on the record"
    );

    // The evidence pack of the day downloads signed, shows the leaver, and verifies.
    let today = time::OffsetDateTime::now_utc().date().to_string();
    let response = http()
        .get(format!(
            "{}/console/evidence.zip?from={today}&to={today}",
            node.url
        ))
        .header("cookie", &admin)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/zip");
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        disposition.contains(&format!("moat-evidence-{today}-")),
        "{disposition}"
    );
    let pack = response.bytes().unwrap();
    let saved = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(saved.path(), &pack).unwrap();
    let verified = json(deployment.run(&[
        "evidence",
        "verify",
        &saved.path().display().to_string(),
        "--json",
    ]));
    assert_eq!(verified["ok"], true, "{verified}");
    let (status, html, _) = page(&node, &admin, "/console/evidence.zip?from=tomorrow&to=x");
    assert_eq!(
        status, 400,
        "a period that is not one is a clear error: {html}"
    );

    // Signing out ends the session on the server, not only in the browser.
    let (status, _) = post(&node, &admin, "/console/sign-out", &[("csrf", &csrf)], &[]);
    assert_eq!(status, 303);
    let (status, _, _) = page(&node, &admin, "/console");
    assert_eq!(status, 303);
}

#[test]
fn the_security_team_works_an_incident_in_the_console_and_a_developer_cannot() {
    let deployment = Deployment::new();
    let dev_token = deployment.token("dev@example.com");
    let node = serve(&deployment.config, "");
    // A burst of refusals: detection raises an alert and opens an incident.
    for _ in 0..12 {
        let called = tool_call(
            &node,
            &dev_token,
            "read_source",
            json!({"repo": "payroll", "path": "salaries.csv"}),
        );
        assert_eq!(called["isError"], true, "{called}");
    }
    let incidents = || json(deployment.run(&["incident", "list", "--json"]))["incidents"].clone();
    nodes::eventually("an incident is open", || {
        incidents().as_array().is_some_and(|l| !l.is_empty())
    });
    let id = incidents()[0]["id"].as_str().unwrap().to_string();
    let path = format!("/console/incidents/{id}");

    let (_, cookie) = sign_in(
        &node,
        &code_of(&deployment.console_link("admin@example.com")),
    );
    let admin = session_of(&cookie.unwrap());
    let (status, html, _) = page(&node, &admin, "/console/incidents");
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(&path) && html.contains("denials alert about dev@example.com"),
        "{html}"
    );
    let (status, html, _) = page(&node, &admin, &path);
    assert_eq!(status, 200);
    assert!(
        html.contains("Acknowledge") && html.contains("acknowledge within 1h"),
        "{html}"
    );
    let csrf = csrf_in(&html);

    // A forged step changes nothing.
    let (status, _) = post(&node, &admin, &path, &[("step", "acknowledge")], &[]);
    assert_eq!(status, 403);
    let (status, html) = post(
        &node,
        &admin,
        &path,
        &[
            ("csrf", &csrf),
            ("step", "acknowledge"),
            ("note", "<b>on it</b>"),
        ],
        &[],
    );
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("&lt;b&gt;on it&lt;/b&gt;") && !html.contains("<b>on it"),
        "{html}"
    );
    assert!(
        !html.contains(r#"value="acknowledge""#),
        "acknowledged once: {html}"
    );
    let (status, html) = post(
        &node,
        &admin,
        &path,
        &[("csrf", &csrf), ("step", "acknowledge")],
        &[],
    );
    assert_eq!(status, 400, "{html}");
    assert!(html.contains("acknowledged already"), "{html}");
    let (status, html) = post(
        &node,
        &admin,
        &path,
        &[("csrf", &csrf), ("step", "escalate")],
        &[],
    );
    assert_eq!(status, 400, "{html}");
    let (status, html) = post(
        &node,
        &admin,
        &path,
        &[
            ("csrf", &csrf),
            ("step", "resolve"),
            ("note", "token revoked"),
        ],
        &[],
    );
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("resolved") && !html.contains(r#"value="resolve""#),
        "{html}"
    );
    assert!(html.contains(r#"value="note""#), "notes still: {html}");

    // The developer it is about sees no Incidents page and can take no step.
    let (_, dev_cookie) = sign_in(&node, &code_of(&deployment.console_link("dev@example.com")));
    let dev = session_of(&dev_cookie.unwrap());
    let (_, me, _) = page(&node, &dev, "/console/me");
    assert!(!me.contains("/console/incidents"), "{me}");
    for target in ["/console/incidents", path.as_str()] {
        let (status, _, _) = page(&node, &dev, target);
        assert_eq!(status, 403, "{target}");
    }
    let (status, _) = post(
        &node,
        &dev,
        &path,
        &[
            ("csrf", &csrf_in(&me)),
            ("step", "note"),
            ("note", "nothing to see"),
        ],
        &[],
    );
    assert_eq!(status, 403);
    let steps: Vec<String> = audit(&deployment, "admin.change")
        .into_iter()
        .filter(|e| e["details"]["phase"] == "applied" && e["actor"]["client"] == "console")
        .filter_map(|e| e["details"]["operation"].as_str().map(String::from))
        .collect();
    assert_eq!(steps, ["incident.acknowledge", "incident.resolve"]);
}

#[test]
fn the_security_team_freezes_a_repository_in_the_console_and_a_developer_cannot() {
    let deployment = Deployment::new();
    let dev_token = deployment.token("dev@example.com");
    let node = serve(&deployment.config, "");
    assert_eq!(read_ledger(&node, &dev_token)["isError"], false);

    let (_, cookie) = sign_in(
        &node,
        &code_of(&deployment.console_link("admin@example.com")),
    );
    let admin = session_of(&cookie.unwrap());
    let (status, html, _) = page(&node, &admin, "/console/kill-switches");
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("No kill switch is engaged") && html.contains(r#"value="repo:payments""#),
        "{html}"
    );
    let csrf = csrf_in(&html);
    let path = "/console/kill-switches";

    // Forged (no token, or from another site), unknown, or without a reason: nothing
    // is engaged.
    let freeze = [
        ("choice", "repo:payments"),
        ("reason", "suspected exfiltration"),
    ];
    let (status, _) = post(&node, &admin, path, &freeze, &[]);
    assert_eq!(status, 403);
    let with_token = [
        ("csrf", csrf.as_str()),
        ("choice", "repo:payments"),
        ("reason", "suspected exfiltration"),
    ];
    let (status, _) = post(
        &node,
        &admin,
        path,
        &with_token,
        &[
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
    );
    assert_eq!(status, 403);
    for (choice, reason, expected, says) in [
        ("repo:payroll", "why", 404, "no repo named `payroll`"),
        ("repo:payments", "  ", 400, "say why"),
        ("planet:mars", "why", 400, "choose what to stop"),
    ] {
        let (status, html) = post(
            &node,
            &admin,
            path,
            &[("csrf", &csrf), ("choice", choice), ("reason", reason)],
            &[],
        );
        assert_eq!(status, expected, "{choice}: {html}");
        assert!(html.contains(says), "{choice}: {html}");
    }
    assert_eq!(read_ledger(&node, &dev_token)["isError"], false);

    let (status, html) = post(&node, &admin, path, &with_token, &[]);
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("engaged on every node") && html.contains("suspected exfiltration"),
        "{html}"
    );
    let refused = read_ledger(&node, &dev_token);
    assert_eq!(refused["isError"], true, "{refused}");
    assert!(
        refused
            .to_string()
            .contains("`payments` is frozen by a kill switch (suspected exfiltration)"),
        "{refused}"
    );

    // An auditor reads what is engaged but has no button, and the server refuses the
    // form they could forge.
    ok(deployment.run(&["user", "add", "auditor@example.com", "--role", "auditor"]));
    let (_, auditor_cookie) = sign_in(
        &node,
        &code_of(&deployment.console_link("auditor@example.com")),
    );
    let auditor = session_of(&auditor_cookie.unwrap());
    let (status, html, _) = page(&node, &auditor, path);
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("suspected exfiltration")
            && !html.contains("/console/kill-switches/release")
            && !html.contains("Engage a kill switch"),
        "{html}"
    );
    let (status, _) = post(
        &node,
        &auditor,
        "/console/kill-switches/release",
        &[
            ("csrf", &csrf_in(&html)),
            ("kind", "repo"),
            ("target", "payments"),
        ],
        &[],
    );
    assert_eq!(status, 403);
    assert_eq!(
        read_ledger(&node, &dev_token)["isError"],
        true,
        "still frozen"
    );

    // The developer sees no switches page and can neither engage nor release one.
    let (_, dev_cookie) = sign_in(&node, &code_of(&deployment.console_link("dev@example.com")));
    let dev = session_of(&dev_cookie.unwrap());
    let (_, me, _) = page(&node, &dev, "/console/me");
    assert!(!me.contains("/console/kill-switches"), "{me}");
    let (status, _, _) = page(&node, &dev, path);
    assert_eq!(status, 403);
    let dev_csrf = csrf_in(&me);
    let release = |cookie: &str, csrf: &str| {
        post(
            &node,
            cookie,
            "/console/kill-switches/release",
            &[
                ("csrf", csrf),
                ("kind", "repo"),
                ("target", "payments"),
                ("reason", "all clear"),
            ],
            &[],
        )
    };
    assert_eq!(release(&dev, &dev_csrf).0, 403);
    assert_eq!(read_ledger(&node, &dev_token)["isError"], true);

    let (status, html) = release(&admin, &csrf);
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("No kill switch is engaged"), "{html}");
    assert_eq!(read_ledger(&node, &dev_token)["isError"], false);
    let (status, html) = release(&admin, &csrf);
    assert_eq!(status, 400, "released once: {html}");

    let changes: Vec<String> = audit(&deployment, "admin.change")
        .into_iter()
        .filter(|e| e["details"]["phase"] == "applied" && e["actor"]["client"] == "console")
        .filter_map(|e| e["details"]["operation"].as_str().map(String::from))
        .collect();
    assert_eq!(changes, ["kill_switch.engage", "kill_switch.release"]);
}

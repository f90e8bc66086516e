//! Exceptions through the real binary, tried as an outsider would: a person asks to
//! read a repository the rules keep from them; nobody without the security role, nor
//! an unnamed operator, nor a reviewer who benefits, can approve it; a named security
//! reviewer does, and the decision names the exception; it cannot be decided twice;
//! revoking ends it at once; every step is an `admin.change` with before and after.

mod nodes;

use nodes::{git, json, moat, ok, serve};
use serde_json::Value;

struct Deployment {
    _dir: tempfile::TempDir,
    config: std::path::PathBuf,
}

impl Deployment {
    fn new() -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path().join("ledger");
        std::fs::create_dir_all(&ledger).unwrap();
        std::fs::write(
            ledger.join("settle.py"),
            "def settle_claim(amount):\n    return amount * 2\n",
        )
        .unwrap();
        git(&ledger, &["init", "-q", "-b", "main"]);
        git(&ledger, &["add", "."]);
        git(&ledger, &["commit", "-q", "-m", "ledger"]);
        let config = dir.path().join("moat.toml");
        std::fs::write(
            &config,
            format!(
                "[org]\nname = \"Example Health\"\n\n\
                 [[repos]]\nname = \"payments\"\nsource = \"/srv/git/payments\"\ntier = \"internal\"\n\n\
                 [[repos]]\nname = \"ledger\"\nsource = \"{}\"\ntier = \"internal\"\n\n\
                 [permissions.static]\ngrants = [{{ repos = [\"payments\"], users = [\"dev@example.com\"] }}]\n\n\
                 [exceptions]\nmax_duration = \"14d\"\n",
                ledger.display()
            ),
        )
        .unwrap();
        let deployment = Deployment { _dir: dir, config };
        for (email, roles) in [
            ("dev@example.com", "developer"),
            ("sec@example.com", "security,developer"),
            ("admin@example.com", "admin"),
        ] {
            ok(deployment.run(None, &["user", "add", email, "--role", roles]));
        }
        ok(deployment.run(None, &["index", "ledger"]));
        deployment
    }

    fn run(&self, operator: Option<&str>, args: &[&str]) -> std::process::Output {
        let mut command = moat(&self.config, "");
        if let Some(operator) = operator {
            command.args(["--operator", operator]);
        }
        command.args(args).output().unwrap()
    }

    fn explain(&self) -> Value {
        let out = self.run(
            None,
            &[
                "access",
                "explain",
                "--user",
                "dev@example.com",
                "--repo",
                "ledger",
                "--json",
            ],
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn changes(&self, operation: &str) -> Vec<Value> {
        json(self.run(
            None,
            &["audit", "search", "--action", "admin.change", "--json"],
        ))["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["details"]["operation"] == operation)
            .cloned()
            .collect()
    }
}

fn refused(output: &std::process::Output, code: i32, says: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(says), "`{says}` not in: {stderr}");
}

#[test]
fn an_exception_is_asked_reviewed_named_in_decisions_and_revoked() {
    let d = Deployment::new();
    assert_eq!(d.explain()["decision"], "deny");

    // Asked for too long, for a repository that does not exist, without a reason.
    let dev = Some("dev@example.com");
    let ask = |more: &[&str]| {
        let mut args = vec!["exception", "request", "--json"];
        args.extend_from_slice(more);
        d.run(dev, &args)
    };
    refused(
        &ask(&["--repo", "ledger", "--reason", "x", "--for", "30d"]),
        2,
        "at most 14 days",
    );
    refused(
        &ask(&["--repo", "nowhere", "--reason", "x"]),
        2,
        "no repository named `nowhere`",
    );
    refused(&ask(&["--repo", "ledger", "--reason", "  "]), 2, "say why");
    // A model that is not configured; a repository and a model at once; neither.
    refused(
        &ask(&["--model", "opus", "--reason", "x"]),
        2,
        "no model `opus` in [[models]]",
    );
    refused(
        &ask(&["--repo", "ledger", "--model", "opus", "--reason", "x"]),
        2,
        "cannot be used with",
    );
    refused(&ask(&["--reason", "x"]), 2, "--repo");
    refused(
        &ask(&["--tier", "secret", "--reason", "x"]),
        2,
        "no tier `secret`",
    );
    refused(
        &ask(&["--vendor", "acme-ai", "--reason", "x"]),
        2,
        "no vendor `acme-ai` in [[vendors]]",
    );
    // Asking for someone else takes an administrator.
    refused(
        &d.run(
            dev,
            &[
                "exception",
                "request",
                "--user",
                "sec@example.com",
                "--repo",
                "ledger",
                "--reason",
                "x",
            ],
        ),
        1,
        "has no admin role",
    );

    let asked = json(ask(&[
        "--repo",
        "ledger",
        "--reason",
        "incident 4711: settlement bug",
        "--for",
        "2d",
    ]));
    let id = asked["id"].as_str().unwrap().to_string();
    assert_eq!(asked["status"], "pending");
    assert_eq!(d.explain()["decision"], "deny", "pending grants nothing");

    // Who may not approve: the person themselves (no security role), an administrator
    // without it, the local operator unnamed.
    refused(
        &d.run(dev, &["exception", "approve", &id]),
        1,
        "no security role",
    );
    refused(
        &d.run(Some("admin@example.com"), &["exception", "approve", &id]),
        1,
        "no security role",
    );
    refused(
        &d.run(None, &["exception", "approve", &id]),
        2,
        "named person",
    );

    // A security reviewer who benefits is refused too.
    let own = json(d.run(
        Some("sec@example.com"),
        &[
            "exception",
            "request",
            "--json",
            "--repo",
            "ledger",
            "--reason",
            "my own",
        ],
    ));
    refused(
        &d.run(
            Some("sec@example.com"),
            &["exception", "approve", own["id"].as_str().unwrap()],
        ),
        2,
        "another member of the security team",
    );

    ok(d.run(
        Some("sec@example.com"),
        &["exception", "approve", &id, "--note", "until the fix ships"],
    ));
    let allowed = d.explain();
    assert_eq!(allowed["decision"], "allow", "{allowed}");
    assert_eq!(
        allowed["rules"],
        serde_json::json!([format!("exception:{id}")])
    );
    refused(
        &d.run(Some("sec@example.com"), &["exception", "approve", &id]),
        2,
        "is approved, not pending",
    );
    // What it allows names it on the record: a search of `ledger` as the person.
    ok(d.run(
        None,
        &[
            "search",
            "settle_claim",
            "--as",
            "dev@example.com",
            "--repo",
            "ledger",
            "--json",
        ],
    ));
    let searched = json(d.run(
        None,
        &["audit", "search", "--action", "context.search", "--json"],
    ));
    let last = searched["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        last["decision"]["rule"],
        format!("exception:{id}"),
        "{last}"
    );
    assert_eq!(
        last["resources"]["repos"],
        serde_json::json!(["ledger"]),
        "{last}"
    );

    let listed = json(d.run(None, &["exception", "list", "--json"]));
    let mine = listed["exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(mine["in_force"], true);
    assert_eq!(mine["email"], "dev@example.com");
    assert_eq!(mine["decided_by"], "sec@example.com");

    // Revoked by its own person: it ends at once.
    ok(d.run(dev, &["exception", "revoke", &id]));
    assert_eq!(d.explain()["decision"], "deny");

    // A tier exception reads every repository of that tier, named the same way.
    let tier = json(ask(&[
        "--tier",
        "internal",
        "--reason",
        "migration audit",
        "--for",
        "1d",
    ]));
    let tier_id = tier["id"].as_str().unwrap().to_string();
    ok(d.run(Some("sec@example.com"), &["exception", "approve", &tier_id]));
    let allowed = d.explain();
    assert_eq!(allowed["decision"], "allow", "{allowed}");
    assert_eq!(
        allowed["rules"],
        serde_json::json!([format!("exception:{tier_id}")])
    );
    ok(d.run(dev, &["exception", "revoke", &tier_id]));
    assert_eq!(d.explain()["decision"], "deny");

    // Every step on the record, requested then applied, with before and after.
    for (operation, status) in [
        ("exception.request", "pending"),
        ("exception.approve", "approved"),
        ("exception.revoke", "revoked"),
    ] {
        let events: Vec<Value> = d
            .changes(operation)
            .into_iter()
            .filter(|e| e["resources"]["objects"][0] == id.as_str())
            .collect();
        let phases: Vec<&str> = events
            .iter()
            .map(|e| e["details"]["phase"].as_str().unwrap())
            .collect();
        assert_eq!(phases, ["requested", "applied"], "{operation}");
        assert_eq!(
            events[1]["details"]["after"]["status"], status,
            "{operation}"
        );
    }
    let approved = d.changes("exception.approve");
    assert_eq!(approved[0]["details"]["before"]["status"], "pending");
    assert_eq!(approved[0]["actor"]["email"], "sec@example.com");
    // /metrics counts what waits for review (the security reviewer's own request) and
    // how long the oldest has waited, to alert on the review SLA; nothing is in force.
    let node = serve(&d.config, "");
    let metrics = reqwest::blocking::get(format!("{}/metrics", node.url))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("\nmoat_exceptions_pending 1.0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nmoat_exceptions_in_force 0.0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nmoat_exceptions_pending_oldest_age_seconds "),
        "{metrics}"
    );
    drop(node);

    // The refused reviews are on the record as refusals.
    let denied = json(d.run(
        None,
        &["audit", "search", "--action", "access.denied", "--json"],
    ));
    assert!(
        denied["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["details"]["action"] == "ReviewException")
            .count()
            >= 2,
        "{denied}"
    );
}

/// The same through the admin API, as its token holders: an administrator asks for a
/// developer, an administrator without the security role cannot approve, one with it
/// can (once), the list shows it in force; longer than the policy allows is 403, an
/// unknown field refused, an unknown exception 404.
#[test]
fn the_admin_api_asks_reviews_and_lists_exceptions() {
    let d = Deployment::new();
    ok(d.run(None, &["user", "add", "ops@example.com", "--role", "admin"]));
    ok(d.run(
        None,
        &[
            "user",
            "add",
            "lead@example.com",
            "--role",
            "admin,security",
        ],
    ));
    let token = |email: &str| {
        json(d.run(
            None,
            &[
                "token", "issue", "--user", email, "--scope", "admin", "--json",
            ],
        ))["secret"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (ops, lead) = (token("ops@example.com"), token("lead@example.com"));
    let node = serve(&d.config, "");
    let http = reqwest::blocking::Client::new();
    let post = |token: &str, path: &str, body: Value| {
        let response = http
            .post(format!("{}/api/v1{path}", node.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json::<Value>().unwrap_or(Value::Null))
    };
    let ask = serde_json::json!({"user": "dev@example.com", "repo": "ledger", "reason": "incident 4711", "seconds": 3600});
    let (status, asked) = post(&ops, "/exceptions", ask.clone());
    assert_eq!(status, 201, "{asked}");
    let id = asked["id"].as_str().unwrap().to_string();
    assert_eq!(asked["status"], "pending");

    let (status, body) = post(
        &ops,
        &format!("/exceptions/{id}/approve"),
        serde_json::json!({}),
    );
    assert_eq!(status, 403, "{body}");
    let (status, body) = post(
        &lead,
        &format!("/exceptions/{id}/approve"),
        serde_json::json!({"note": "ok"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "approved");
    let (status, body) = post(
        &lead,
        &format!("/exceptions/{id}/approve"),
        serde_json::json!({}),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(d.explain()["decision"], "allow");

    let listed: Value = http
        .get(format!("{}/api/v1/exceptions", node.url))
        .bearer_auth(&lead)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let entry = &listed["exceptions"][0];
    assert_eq!(
        (entry["id"].as_str(), entry["in_force"].as_bool()),
        (Some(id.as_str()), Some(true)),
        "{listed}"
    );

    let mut too_long = ask.clone();
    too_long["seconds"] = serde_json::json!(60 * 86_400);
    let (status, body) = post(&ops, "/exceptions", too_long);
    assert_eq!(status, 403, "the policy refuses it: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 14 days"),
        "{body}"
    );
    let mut unknown = ask.clone();
    unknown["approve_myself"] = serde_json::json!(true);
    let (status, body) = post(&ops, "/exceptions", unknown);
    assert!(status == 400 || status == 422, "{status} {body}");
    let (status, body) = post(
        &lead,
        "/exceptions/ex_0000000000000000/approve",
        serde_json::json!({}),
    );
    assert_eq!(status, 404, "{body}");

    let (status, body) = post(
        &lead,
        &format!("/exceptions/{id}/revoke"),
        serde_json::json!({}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(d.explain()["decision"], "deny");
}

//! Kill switches at the gateway: a disabled model or vendor gets no request, not even
//! as another model's fallback, and disappears from `/v1/models`; code of a frozen
//! repository goes to no vendor, whichever model is asked; each refusal names the
//! switch as the rule of its audit event; released, everything is served again.

use super::*;

async fn engage(server: &Server, kind: &str, target: &str, reason: &str) {
    let engaged = server
        .store
        .kill_switch_engage(&moat_store::KillSwitch {
            kind: kind.into(),
            target: target.into(),
            reason: reason.into(),
            engaged_by: "sec@example.com".into(),
            engaged_at: moat_domain::UnixTime::now(),
        })
        .await
        .unwrap();
    assert!(engaged);
}

async fn release(server: &Server, kind: &str, target: &str) {
    assert!(
        server
            .store
            .kill_switch_release(kind, target)
            .await
            .unwrap()
            .is_some()
    );
}

async fn model_ids(server: &Server) -> Vec<String> {
    let list: Value = server
        .http
        .get(format!("{}/v1/models", server.url))
        .bearer_auth(&server.dev)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

fn denied_rules(events: &[moat_audit::event::Event]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.body.decision.outcome == moat_audit::event::Outcome::Deny)
        .map(|e| e.body.decision.rule.clone().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn a_switched_off_model_vendor_or_repository_reaches_no_vendor_until_released() {
    let server = start(false).await;
    let sent = || server.vendor.requests().len();

    // A disabled model: refused in the caller's format, naming the switch and what
    // they may use instead; gone from the model list.
    engage(&server, "model", "claude", "incident 4711").await;
    let (status, _, body) = server.anthropic(&server.dev, ask("claude", "hi")).await;
    assert_eq!(status, 403, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["type"], "permission_error");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("model `claude` may not be used now")
            && message.contains("(incident 4711)")
            && message.contains("moat kill-switch release model claude")
            && message.contains("you may use: claude-hipaa"),
        "{message}"
    );
    assert_eq!(sent(), 0);
    assert!(!model_ids(&server).await.contains(&"claude".to_string()));

    // A disabled vendor: its models are refused, and a fallback to one of them is
    // skipped (flaky's own vendor is down, its fallback is claude-hipaa).
    engage(&server, "vendor", "anthropic-hipaa", "BAA under review").await;
    let (status, _, body) = server
        .anthropic(&server.dev, ask("claude-hipaa", "hi"))
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("BAA under review"), "{body}");
    let (status, _, body) = server.anthropic(&server.dev, ask("flaky", "hi")).await;
    assert_ne!(status, 200, "{body}");
    assert_eq!(sent(), 0, "the disabled vendor got nothing as a fallback");
    let ids = model_ids(&server).await;
    assert!(!ids.contains(&"claude-hipaa".to_string()), "{ids:?}");
    assert!(ids.contains(&"gpt".to_string()), "{ids:?}");

    // A frozen repository: its code goes to no vendor, whichever model; a prompt
    // without it still goes.
    release(&server, "vendor", "anthropic-hipaa").await;
    engage(&server, "repo", "claims", "claims data under legal hold").await;
    let prompt = format!("Why is the copay wrong here?\n```rust\n{CLAIMS}```");
    for model in ["claude-hipaa", "claude-lapsed"] {
        let (status, _, body) = server.anthropic(&server.dev, ask(model, &prompt)).await;
        assert_eq!(status, 403, "{model}: {body}");
        assert!(
            body.contains("the prompt holds code of `claims`")
                && body.contains("claims data under legal hold"),
            "{body}"
        );
    }
    assert_eq!(sent(), 0);
    let (status, _, body) = server
        .anthropic(&server.dev, ask("claude-hipaa", "What is a copay?"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(sent(), 1);

    // Released: the same prompt goes where its tier allows.
    release(&server, "repo", "claims").await;
    release(&server, "model", "claude").await;
    let (status, _, body) = server
        .anthropic(&server.dev, ask("claude-hipaa", &prompt))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = server.anthropic(&server.dev, ask("claude", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert!(model_ids(&server).await.contains(&"claude".to_string()));

    let events = server.events().await;
    let rules = denied_rules(&events);
    assert_eq!(
        rules,
        [
            "kill-switch:model:claude",
            "kill-switch:vendor:anthropic-hipaa",
            "kill-switch:repo:claims",
            "kill-switch:repo:claims",
        ],
        "the fallback-less failure of flaky is no refusal: {rules:?}"
    );
    let frozen = events
        .iter()
        .find(|e| e.body.decision.rule.as_deref() == Some("kill-switch:repo:claims"))
        .unwrap();
    assert_eq!(frozen.body.resources.repos, vec!["claims".to_string()]);
}

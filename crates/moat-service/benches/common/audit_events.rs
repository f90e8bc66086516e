//! The events the audit and evidence benches append, and the appending itself.

use moat_audit::event::{Actor, Decision, Egress, EventBody, Outcome, Resources};
use moat_service::AuditLog;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A realistic `mcp.call` event: actor, a few returned symbols and paths, disclosure.
pub fn event(i: u64) -> EventBody {
    EventBody {
        actor: Actor {
            user: Some(format!("usr_{:016x}", i % 500)),
            email: Some(format!("developer{}@example-health.com", i % 500)),
            token_id: Some(format!("tok_{:016x}", i % 900)),
            client: Some("claude-code".into()),
            client_version: Some("2.1.4".into()),
            address: Some(format!("10.0.{}.{}", (i / 256) % 256, i % 256)),
        },
        action: "mcp.call".into(),
        resources: Resources {
            repos: vec!["payments".into()],
            commits: vec!["8cc5c5ff4ac8e9b81bd385ba348e7f59331adc01".into()],
            paths: vec!["src/ledger/transfer.rs".into(), "src/ledger/mod.rs".into()],
            symbols: vec![
                "ledger::transfer::transfer".into(),
                "ledger::Ledger::adjust".into(),
            ],
            objects: vec![],
        },
        decision: Decision {
            outcome: Outcome::Allow,
            rule: Some("policy0:team-payments-read".into()),
            reason: None,
        },
        policy_version: "sha256:7414daf3d0d18c526f5f097e36c403f8689e157af64d0f2943b9d2b6c077e4db"
            .into(),
        disclosed: BTreeMap::from([("confidential".into(), 1840 + i % 300)]),
        redactions: BTreeMap::new(),
        egress: i.is_multiple_of(10).then(|| Egress {
            vendor: "anthropic".into(),
            model: "claude-sonnet-4-5-20250929".into(),
            region: "us".into(),
            bytes: 12_000,
            repos: vec!["payments".into()],
        }),
        content_ref: None,
        details: serde_json::json!({"tool": "search_code", "latency_ms": i % 40}),
    }
}

/// `count` events from number `from` on, made by `make`, appended by `callers`
/// concurrent callers through `AuditLog::record`.
pub async fn append_with(
    log: &Arc<AuditLog>,
    make: fn(u64) -> EventBody,
    from: u64,
    count: u64,
    callers: u64,
) -> Duration {
    let started = Instant::now();
    let per_caller = count / callers;
    let mut tasks = Vec::new();
    for caller in 0..callers {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..per_caller {
                log.record(make(from + caller * per_caller + n))
                    .await
                    .expect("recorded");
            }
        }));
    }
    for task in tasks {
        task.await.expect("caller finished");
    }
    started.elapsed()
}

/// [`append_with`] of [`event`]s.
#[allow(dead_code)]
pub async fn append(log: &Arc<AuditLog>, from: u64, count: u64, callers: u64) -> Duration {
    append_with(log, event, from, count, callers).await
}

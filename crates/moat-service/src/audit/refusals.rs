//! Refused authentications on the record without a flood of events: each refusal is
//! counted per source address, route and reason, and every minute each count becomes
//! one `auth.refused` event (how many, first and last time). A flood of bad tokens from
//! one address is one event a minute; a flood from many addresses is bounded too: past
//! [`MAX_KEYS`] distinct counts in a minute the rest are summed under one `(other)` key.
//! A refusal of a recognised credential (a revoked token, a suspended account) is
//! counted under it and the event names it (`actor.token_id` or `actor.user`), so the
//! first refusal after someone leaves can be found (the evidence pack's leavers).

use super::AuditLog;
use crate::Clock;
use crate::identity::{Refused, RefusedSubject};
use moat_audit::event::{Actor, Decision, EventBody, Outcome, Resources};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Distinct (source, route, reason) counts kept per minute.
pub const MAX_KEYS: usize = 10_000;
/// How often counts become events.
pub const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    source: String,
    route: String,
    reason: String,
    subject: Option<RefusedSubject>,
}

#[derive(Debug, Clone, Copy)]
struct Count {
    count: u64,
    first_ms: i64,
    last_ms: i64,
}

/// Counts refusals until the next [`Refusals::flush`].
pub struct Refusals {
    audit: Arc<AuditLog>,
    clock: Arc<dyn Clock>,
    /// The policy version in force, replaced when a published configuration is swapped in.
    policy_version: Mutex<String>,
    counts: Mutex<HashMap<Key, Count>>,
}

impl Refusals {
    pub fn new(audit: Arc<AuditLog>, clock: Arc<dyn Clock>, policy_version: &str) -> Refusals {
        Refusals {
            audit,
            clock,
            policy_version: Mutex::new(policy_version.to_string()),
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Names `policy_version` in the events recorded from now on.
    pub fn set_policy_version(&self, policy_version: &str) {
        *self
            .policy_version
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = policy_version.to_string();
    }

    /// Counts one refusal: from `source` (an address), on `route` (a route template,
    /// never a raw path), for `refused.reason` (a short code such as `unknown_token`),
    /// of `refused.subject` when the credential was recognised.
    pub fn note(&self, source: Option<&str>, route: &str, refused: &Refused) {
        let now = self.clock.now_millis();
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = Key {
            source: bounded(source.unwrap_or("-")),
            route: bounded(route),
            reason: bounded(refused.reason),
            subject: refused.subject.clone(),
        };
        if counts.len() >= MAX_KEYS && !counts.contains_key(&key) {
            key = Key {
                source: "(other)".into(),
                route: "(other)".into(),
                reason: "(other)".into(),
                subject: None,
            };
        }
        let entry = counts.entry(key).or_insert(Count {
            count: 0,
            first_ms: now,
            last_ms: now,
        });
        entry.count += 1;
        entry.last_ms = now;
    }

    /// Records one `auth.refused` event per count since the last flush; returns how
    /// many were recorded. A count that cannot be recorded is kept for the next flush.
    pub async fn flush(&self) -> usize {
        let mut counts: Vec<(Key, Count)> = {
            let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            counts.drain().collect()
        };
        counts.sort_by(|a, b| (a.1.first_ms, &a.0.source).cmp(&(b.1.first_ms, &b.0.source)));
        // All at once, so they share group commits; each succeeds or fails on its own.
        let mut pending = tokio::task::JoinSet::new();
        for (key, count) in counts {
            let (audit, event) = (self.audit.clone(), self.event(&key, &count));
            pending.spawn(async move { (audit.record(event).await, key, count) });
        }
        let mut recorded = 0;
        while let Some(done) = pending.join_next().await {
            let Ok((result, key, count)) = done else {
                continue;
            };
            match result {
                Ok(_) => recorded += 1,
                Err(error) => {
                    tracing::error!(%error, "refused authentications could not be recorded; kept for the next flush");
                    let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
                    let entry = counts.entry(key).or_insert(Count { count: 0, ..count });
                    entry.count += count.count;
                    entry.first_ms = entry.first_ms.min(count.first_ms);
                    entry.last_ms = entry.last_ms.max(count.last_ms);
                }
            }
        }
        recorded
    }

    /// Flushes every [`WINDOW`], for as long as the task runs; the owner flushes once
    /// more at shutdown.
    pub async fn flush_every_window(self: Arc<Self>) {
        let mut every = tokio::time::interval(WINDOW);
        every.tick().await;
        loop {
            every.tick().await;
            self.flush().await;
        }
    }

    fn event(&self, key: &Key, count: &Count) -> EventBody {
        let time = |ms: i64| {
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default()
        };
        EventBody {
            actor: Actor {
                address: (key.source != "-").then(|| key.source.clone()),
                token_id: match &key.subject {
                    Some(RefusedSubject::Token(token)) => Some(token.clone()),
                    _ => None,
                },
                user: match &key.subject {
                    Some(RefusedSubject::User(user)) => Some(user.clone()),
                    _ => None,
                },
                ..Actor::default()
            },
            action: "auth.refused".into(),
            resources: Resources {
                objects: vec![key.route.clone()],
                ..Resources::default()
            },
            decision: Decision {
                outcome: Outcome::Deny,
                rule: Some("authentication".into()),
                reason: Some(format!(
                    "{} refused authentication{} from {} on {} ({})",
                    count.count,
                    if count.count == 1 { "" } else { "s" },
                    key.source,
                    key.route,
                    key.reason
                )),
            },
            policy_version: self
                .policy_version
                .lock()
                .map(|v| v.clone())
                .unwrap_or_default(),
            disclosed: Default::default(),
            redactions: Default::default(),
            egress: None,
            content_ref: None,
            details: serde_json::json!({
                "source": key.source,
                "route": key.route,
                "reason": key.reason,
                "count": count.count,
                "first": time(count.first_ms),
                "last": time(count.last_ms),
                "window_seconds": WINDOW.as_secs(),
            }),
        }
    }
}

/// At most 200 characters: a key is chosen by the caller's request.
fn bounded(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::tests::{fixture, open};

    async fn refused(f: &crate::audit::tests::Fixture) -> Vec<moat_audit::event::Event> {
        crate::audit::read::events(f.store.as_ref(), 0, 100_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.body.action == "auth.refused")
            .collect()
    }

    #[tokio::test]
    async fn a_flood_from_one_source_is_one_event_with_its_count() {
        let f = fixture();
        let log = Arc::new(open(&f, vec![]).await);
        let refusals = Refusals::new(log.clone(), Arc::new(crate::SystemClock), "sha256:test");
        assert_eq!(
            refusals.flush().await,
            0,
            "nothing refused, nothing recorded"
        );
        for _ in 0..1000 {
            refusals.note(
                Some("203.0.113.9"),
                "/api/v1/users",
                &Refused::because("unknown_token"),
            );
        }
        for _ in 0..3 {
            refusals.note(
                Some("198.51.100.7"),
                "/mcp",
                &Refused {
                    reason: "expired_token",
                    subject: Some(RefusedSubject::Token("tok_gone".into())),
                },
            );
        }
        assert_eq!(refusals.flush().await, 2);
        let events = refused(&f).await;
        assert_eq!(events.len(), 2);
        let flood = events
            .iter()
            .find(|e| e.body.details["source"] == "203.0.113.9")
            .unwrap();
        assert_eq!(flood.body.details["count"], 1000);
        assert_eq!(flood.body.details["reason"], "unknown_token");
        assert_eq!(flood.body.actor.address.as_deref(), Some("203.0.113.9"));
        assert_eq!(
            flood.body.resources.objects,
            vec!["/api/v1/users".to_string()]
        );
        assert_eq!(
            flood.body.decision.outcome,
            moat_audit::event::Outcome::Deny
        );
        let expired = events
            .iter()
            .find(|e| e.body.details["reason"] == "expired_token")
            .unwrap();
        assert_eq!(
            expired.body.actor.token_id.as_deref(),
            Some("tok_gone"),
            "a recognised credential is named"
        );
        assert_eq!(flood.body.actor.token_id, None);
        // The next minute starts from nothing.
        assert_eq!(refusals.flush().await, 0);
        drop(refusals);
        Arc::into_inner(log).unwrap().close().await.unwrap();
    }

    #[tokio::test]
    async fn a_flood_from_many_sources_is_bounded() {
        let f = fixture();
        let log = Arc::new(open(&f, vec![]).await);
        let refusals = Refusals::new(log.clone(), Arc::new(crate::SystemClock), "sha256:test");
        for i in 0..(MAX_KEYS + 50) {
            refusals.note(
                Some(&format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255)),
                "/mcp",
                &Refused::because("unknown_token"),
            );
        }
        assert_eq!(refusals.flush().await, MAX_KEYS + 1);
        let events = refused(&f).await;
        let other = events
            .iter()
            .find(|e| e.body.details["source"] == "(other)")
            .unwrap();
        assert_eq!(other.body.details["count"], 50);
        let total: u64 = events
            .iter()
            .map(|e| e.body.details["count"].as_u64().unwrap())
            .sum();
        assert_eq!(total, (MAX_KEYS + 50) as u64, "every refusal is counted");
        drop(refusals);
        Arc::into_inner(log).unwrap().close().await.unwrap();
    }
}

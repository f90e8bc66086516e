//! Searching the log: the filters `moat audit search` and `GET /api/v1/audit/events`
//! share, evaluated over events read in sequence order, paged by sequence number.

use super::AuditError;
use moat_audit::event::Event;
use moat_store::Store;

/// Events read per store query while scanning.
const PAGE: usize = 10_000;

/// Every filter given must hold; times are as [`normalize_time`] writes them.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// A user id, email or token id (case-insensitive).
    pub actor: Option<String>,
    /// An action, or a prefix ending in `*` (`gateway.*`).
    pub action: Option<String>,
    /// A repository the event touched or sent to a model.
    pub repo: Option<String>,
    /// At or after (inclusive).
    pub since: Option<String>,
    /// Before (exclusive).
    pub until: Option<String>,
}

impl Filter {
    pub fn matches(&self, event: &Event) -> bool {
        let body = &event.body;
        let actor_ok = self.actor.as_deref().is_none_or(|who| {
            [&body.actor.user, &body.actor.email, &body.actor.token_id]
                .iter()
                .any(|field| {
                    field
                        .as_deref()
                        .is_some_and(|v| v.eq_ignore_ascii_case(who))
                })
        });
        let action_ok =
            self.action
                .as_deref()
                .is_none_or(|wanted| match wanted.strip_suffix('*') {
                    Some(prefix) => body.action.starts_with(prefix),
                    None => body.action == wanted,
                });
        let repo_ok = self.repo.as_deref().is_none_or(|repo| {
            body.resources.repos.iter().any(|r| r == repo)
                || body
                    .egress
                    .as_ref()
                    .is_some_and(|e| e.repos.iter().any(|r| r == repo))
        });
        let since_ok = self
            .since
            .as_deref()
            .is_none_or(|t| event.time.as_str() >= t);
        let until_ok = self
            .until
            .as_deref()
            .is_none_or(|t| event.time.as_str() < t);
        actor_ok && action_ok && repo_ok && since_ok && until_ok
    }
}

/// What every stored event matching a filter must contain, as bytes of its canonical
/// JSON: a cheap test that lets a scan parse only the events that may match. It never
/// refuses an event that matches (a needle JSON would escape is not used), so it
/// changes how fast a search is, never what it finds.
struct Prefilter {
    needles: Vec<aho_corasick::AhoCorasick>,
}

impl Prefilter {
    fn new(filter: &Filter) -> Prefilter {
        // Case-insensitive ASCII: the actor filter compares that way, and the others
        // are exact, so a looser test is still a superset.
        let plain = |text: &str| {
            !text.is_empty()
                && text
                    .chars()
                    .all(|c| c != '"' && c != '\\' && !c.is_control())
        };
        // The action as the canonical JSON writes it: `"action":"` and its (prefix).
        let action = filter
            .action
            .as_deref()
            .map(|a| a.strip_suffix('*').unwrap_or(a))
            .filter(|a| plain(a))
            .map(|a| format!("\"action\":\"{a}"));
        let values = [filter.actor.clone(), filter.repo.clone()];
        let needles = values
            .iter()
            .flatten()
            .filter(|text| plain(text))
            .cloned()
            .chain(action)
            .filter_map(|needle| {
                aho_corasick::AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .build([needle])
                    .ok()
            })
            .collect();
        Prefilter { needles }
    }

    fn may_match(&self, canonical: &[u8]) -> bool {
        self.needles.iter().all(|n| n.is_match(canonical))
    }
}

/// One page of matches.
#[derive(Debug)]
pub struct Page {
    pub events: Vec<Event>,
    /// Where to continue (`from` of the next call), or `None` when the log was read
    /// to its end (or past `until`).
    pub next_from: Option<u64>,
}

/// Up to `limit` matching events from sequence number `from` on, reading at most
/// `max_scan` events (a bound on one call's work: `next_from` says where to go on).
pub async fn search(
    store: &dyn Store,
    filter: &Filter,
    from: u64,
    limit: usize,
    max_scan: usize,
) -> Result<Page, AuditError> {
    let mut found = Vec::new();
    let mut next = from;
    let mut scanned = 0usize;
    let prefilter = Prefilter::new(filter);
    let parse = |leaf: &moat_store::AuditLeaf| {
        Event::from_canonical(&leaf.canonical)
            .map_err(|e| AuditError::Corrupt(format!("event {} cannot be read: {e}", leaf.seq)))
    };
    loop {
        let want = PAGE.min(max_scan.saturating_sub(scanned)).max(1);
        let page = store.audit_leaves(next, want).await?;
        let Some(last) = page.last() else {
            return Ok(Page {
                events: found,
                next_from: None,
            });
        };
        let page_end = last.seq + 1;
        // Times only grow with sequence numbers: past `until`, nothing more can match.
        let past_until = match filter.until.as_deref() {
            Some(until) => parse(last)?.time.as_str() >= until,
            None => false,
        };
        scanned += page.len();
        for leaf in &page {
            if found.len() == limit {
                return Ok(Page {
                    next_from: Some(leaf.seq),
                    events: found,
                });
            }
            if !prefilter.may_match(&leaf.canonical) {
                continue;
            }
            let event = parse(leaf)?;
            if filter.matches(&event) {
                found.push(event);
            }
        }
        next = page_end;
        if past_until {
            return Ok(Page {
                events: found,
                next_from: None,
            });
        }
        if found.len() == limit || scanned >= max_scan {
            return Ok(Page {
                events: found,
                next_from: Some(next),
            });
        }
    }
}

/// RFC 3339 or a date, as the log writes times (UTC, milliseconds), for comparison.
pub fn normalize_time(text: &str) -> Result<String, String> {
    use time::format_description::well_known::Rfc3339;
    let parsed = time::OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| time::OffsetDateTime::parse(&format!("{text}T00:00:00Z"), &Rfc3339))
        .map_err(|_| format!("`{text}` is not a time; write 2026-11-23 or 2026-11-23T12:00:00Z"))?;
    let utc = parsed.to_offset(time::UtcOffset::UTC);
    utc.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .map_err(|e| format!("formatting a time: {e}"))
}

#[cfg(test)]
mod tests {
    use super::{Filter, Prefilter};
    use moat_audit::event::{Actor, Decision, Event, EventBody, Outcome, Resources};

    fn event(email: &str, action: &str, repo: &str) -> Event {
        Event {
            seq: 7,
            time: "2026-12-05T10:00:00.000Z".into(),
            body: EventBody {
                actor: Actor {
                    user: Some("usr_1".into()),
                    email: Some(email.into()),
                    token_id: Some("tok_1".into()),
                    ..Actor::default()
                },
                action: action.into(),
                resources: Resources {
                    repos: vec![repo.into()],
                    ..Resources::default()
                },
                decision: Decision {
                    outcome: Outcome::Allow,
                    rule: None,
                    reason: None,
                },
                policy_version: "v".into(),
                disclosed: Default::default(),
                redactions: Default::default(),
                egress: None,
                content_ref: None,
                details: serde_json::json!({"note": "a \"quoted\" \\ value"}),
            },
        }
    }

    /// The prefilter may only skip what `matches` refuses: tried on every filter shape
    /// against events that match and events that do not.
    #[test]
    fn the_prefilter_never_skips_a_match() {
        let events = [
            event("Ada@Example.com", "gateway.request", "payments"),
            event("bob@example.com", "mcp.call", "web"),
            event("quote\"d@example.com", "admin.change", "we\"ird\\repo"),
            event("ünï@example.com", "access.denied", "ledger"),
        ];
        let filters = [
            Filter {
                actor: Some("ada@example.com".into()),
                ..Filter::default()
            },
            Filter {
                actor: Some("ADA@EXAMPLE.COM".into()),
                ..Filter::default()
            },
            Filter {
                actor: Some("usr_1".into()),
                ..Filter::default()
            },
            Filter {
                actor: Some("TOK_1".into()),
                ..Filter::default()
            },
            Filter {
                actor: Some("quote\"d@example.com".into()),
                ..Filter::default()
            },
            Filter {
                actor: Some("ünï@example.com".into()),
                ..Filter::default()
            },
            Filter {
                action: Some("gateway.*".into()),
                ..Filter::default()
            },
            Filter {
                action: Some("gateway.request".into()),
                ..Filter::default()
            },
            Filter {
                action: Some("*".into()),
                ..Filter::default()
            },
            Filter {
                repo: Some("we\"ird\\repo".into()),
                ..Filter::default()
            },
            Filter {
                repo: Some("payments".into()),
                action: Some("mcp.*".into()),
                ..Filter::default()
            },
        ];
        let mut skipped = 0;
        for filter in &filters {
            let prefilter = Prefilter::new(filter);
            for event in &events {
                let may = prefilter.may_match(&event.canonical_bytes());
                assert!(
                    may || !filter.matches(event),
                    "{filter:?} skipped {event:?}"
                );
                skipped += usize::from(!may);
            }
        }
        assert_eq!(skipped, 19, "the prefilter skips what it can tell apart");
    }
}

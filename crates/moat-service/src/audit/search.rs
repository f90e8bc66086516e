//! Searching the log: the filters `moat audit search` and `GET /api/v1/audit/events`
//! share, evaluated over events read in sequence order, paged by sequence number.

use super::AuditError;
use super::read;
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
    loop {
        let want = PAGE.min(max_scan.saturating_sub(scanned)).max(1);
        let page = read::events(store, next, want).await?;
        let Some(last) = page.last() else {
            return Ok(Page {
                events: found,
                next_from: None,
            });
        };
        let page_end = last.seq + 1;
        // Times only grow with sequence numbers: past `until`, nothing more can match.
        let past_until = filter
            .until
            .as_deref()
            .is_some_and(|t| last.time.as_str() >= t);
        scanned += page.len();
        for event in page {
            if found.len() == limit {
                return Ok(Page {
                    next_from: Some(event.seq),
                    events: found,
                });
            }
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

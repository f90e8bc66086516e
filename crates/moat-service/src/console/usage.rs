//! Model usage for the console: requests and tokens by day, model, team and person over
//! the last [`WINDOW_DAYS`] days, counted from the `gateway.request` events of the log.
//!
//! The console follows the log lazily: each view counts what was appended since the
//! last one, at most [`READ_PER_VIEW`] events (a page stays cheap however busy the
//! gateway is; the page says when it is still catching up), and the first view starts
//! at the window's first event, found by bisecting the log by time. Only events whose
//! canonical JSON names the action are parsed. A person's email and teams are read when
//! they are first counted. Nothing here runs on the request path of MCP or the gateway.

use super::views::unavailable;
use super::{Console, ConsoleError};
use moat_audit::event::Event;
use moat_store::Store;
use std::collections::{BTreeMap, HashMap};

/// Days the usage page covers.
pub const WINDOW_DAYS: i64 = 14;

/// Events one view reads at most.
pub const READ_PER_VIEW: usize = 20_000;

const MARK: &[u8] = br#""action":"gateway.request""#;

/// Requests and tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.requests += other.requests;
        self.tokens_in += other.tokens_in;
        self.tokens_out += other.tokens_out;
    }

    pub fn tokens(&self) -> u64 {
        self.tokens_in + self.tokens_out
    }
}

/// The usage page.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    /// Each day of the window (`YYYY-MM-DD`), oldest first, with its totals.
    pub days: Vec<(String, Counts)>,
    pub by_model: Vec<(String, Counts)>,
    pub by_team: Vec<(String, Counts)>,
    /// The most active people (by tokens), at most 20.
    pub by_person: Vec<(String, Counts)>,
    /// Events appended that are not counted yet (the next views count them).
    pub behind: u64,
}

/// What the views so far have counted: per day, per (person, model).
#[derive(Debug, Default)]
pub(super) struct Tally {
    /// The next sequence number to read; `None` before the first view.
    next: Option<u64>,
    days: BTreeMap<String, HashMap<(String, String), Counts>>,
    /// Each person counted: their email and teams, read from the store when first seen
    /// (one lookup per person, not the whole directory per view).
    people: HashMap<String, (String, Vec<String>)>,
}

fn day_of(time: &str) -> String {
    time.get(..10).unwrap_or(time).to_string()
}

/// The first event at or after `time` (RFC 3339 as the log writes it), by bisection.
async fn first_since(store: &dyn Store, size: u64, time: &str) -> Result<u64, ConsoleError> {
    let (mut low, mut high) = (0, size);
    while low < high {
        let mid = low + (high - low) / 2;
        let leaves = store.audit_leaves(mid, 1).await.map_err(unavailable)?;
        let event = leaves
            .first()
            .map(|leaf| Event::from_canonical(&leaf.canonical))
            .transpose()
            .map_err(|e| unavailable(format!("event {mid} cannot be read: {e}")))?;
        match event {
            Some(event) if event.time.as_str() < time => low = mid + 1,
            _ => high = mid,
        }
    }
    Ok(low)
}

impl Console {
    /// Usage over the window, counting what was appended since the last view.
    pub async fn usage(&self) -> Result<Usage, ConsoleError> {
        let now = self.clock.now();
        let size = self.store.audit_size().await.map_err(unavailable)?;
        let window_start = now.plus_seconds(-(WINDOW_DAYS - 1) * 86_400).to_rfc3339();
        let first_day = day_of(&window_start);
        // One view counts at a time; the next waits and finds less to do.
        let mut tally = self.usage.lock().await;
        let mut next = match tally.next {
            Some(next) => next,
            None => first_since(self.store.as_ref(), size, &first_day).await?,
        };
        let mut read = 0;
        while next < size && read < READ_PER_VIEW {
            let want = (READ_PER_VIEW - read).min(2_000);
            let leaves = self
                .store
                .audit_leaves(next, want)
                .await
                .map_err(unavailable)?;
            let Some(last) = leaves.last() else { break };
            let end = last.seq + 1;
            for leaf in &leaves {
                if !leaf.canonical.windows(MARK.len()).any(|w| w == MARK) {
                    continue;
                }
                let event = Event::from_canonical(&leaf.canonical)
                    .map_err(|e| unavailable(format!("event {} cannot be read: {e}", leaf.seq)))?;
                let details = &event.body.details;
                let counts = Counts {
                    requests: 1,
                    tokens_in: details["tokens_in"].as_u64().unwrap_or(0),
                    tokens_out: details["tokens_out"].as_u64().unwrap_or(0),
                };
                let person = event.body.actor.user.clone().unwrap_or_default();
                let model = details["alias"].as_str().unwrap_or("other").to_string();
                tally
                    .days
                    .entry(day_of(&event.time))
                    .or_default()
                    .entry((person, model))
                    .or_default()
                    .add(counts);
            }
            read += leaves.len();
            next = end;
        }
        tally.next = Some(next);
        tally
            .days
            .retain(|day, _| day.as_str() >= first_day.as_str());

        let unseen: Vec<String> = tally
            .days
            .values()
            .flat_map(|day| day.keys().map(|(person, _)| person))
            .filter(|person| !tally.people.contains_key(*person))
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for person in unseen {
            let found = self
                .store
                .user(&moat_domain::UserId(person.clone()))
                .await
                .map_err(unavailable)?
                .map_or_else(|| (person.clone(), Vec::new()), |u| (u.email, u.teams));
            tally.people.insert(person, found);
        }
        let people = &tally.people;
        let mut usage = Usage {
            behind: size.saturating_sub(next),
            ..Usage::default()
        };
        let (mut by_model, mut by_team, mut by_person) = (
            BTreeMap::<String, Counts>::new(),
            BTreeMap::<String, Counts>::new(),
            HashMap::<String, Counts>::new(),
        );
        for offset in (0..WINDOW_DAYS).rev() {
            let day = day_of(&now.plus_seconds(-offset * 86_400).to_rfc3339());
            let mut total = Counts::default();
            for ((person, model), counts) in tally.days.get(&day).into_iter().flatten() {
                total.add(*counts);
                by_model.entry(model.clone()).or_default().add(*counts);
                let (email, teams) = people
                    .get(person)
                    .map_or((person.as_str(), &[][..]), |(e, t)| (e.as_str(), &t[..]));
                by_person.entry(email.to_string()).or_default().add(*counts);
                if teams.is_empty() {
                    by_team.entry("(no team)".into()).or_default().add(*counts);
                }
                for team in teams {
                    by_team.entry(team.clone()).or_default().add(*counts);
                }
            }
            usage.days.push((day, total));
        }
        usage.by_model = by_model.into_iter().collect();
        usage.by_team = by_team.into_iter().collect();
        let mut by_person: Vec<(String, Counts)> = by_person.into_iter().collect();
        by_person.sort_by(|a, b| b.1.tokens().cmp(&a.1.tokens()).then(a.0.cmp(&b.0)));
        by_person.truncate(20);
        usage.by_person = by_person;
        Ok(usage)
    }
}

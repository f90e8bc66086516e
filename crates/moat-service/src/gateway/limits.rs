//! Requests per minute and tokens per UTC day, per user and per team (fixed windows):
//! kept in this process on one node, or, with a shared store (PostgreSQL), in counters
//! every node takes from in one transaction, so three nodes allow what one would.

use super::Limits;
use moat_store::{CounterTake, Store};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Shared counters' keys: `gateway:requests:<subject>` per minute and
/// `gateway:tokens:<subject>` per UTC day.
const REQUESTS: &str = "gateway:requests:";
const TOKENS: &str = "gateway:tokens:";

/// Requests in progress, per user.
#[derive(Default)]
pub(super) struct InProgress {
    by_user: Mutex<HashMap<String, usize>>,
}

impl InProgress {
    /// A slot for `user` if they have fewer than `max` requests in progress.
    pub fn take(self: &Arc<Self>, user: &str, max: usize) -> Option<UserSlot> {
        let mut by_user = self.by_user.lock().ok()?;
        let count = by_user.entry(user.to_string()).or_insert(0);
        if *count >= max.max(1) {
            return None;
        }
        *count += 1;
        Some(UserSlot {
            owner: self.clone(),
            user: user.to_string(),
        })
    }
}

/// One request in progress for a user; freed when dropped.
pub struct UserSlot {
    owner: Arc<InProgress>,
    user: String,
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        if let Ok(mut by_user) = self.owner.by_user.lock()
            && let Some(count) = by_user.get_mut(&self.user)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                by_user.remove(&self.user);
            }
        }
    }
}

pub(super) struct Limiter {
    per_user: Limits,
    per_team: BTreeMap<String, Limits>,
    counters: Mutex<HashMap<String, Counter>>,
    /// Where the counters are kept when nodes share them.
    pub(super) shared: Option<Arc<dyn Store>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counter {
    minute: i64,
    requests: u32,
    day: i64,
    tokens: u64,
}

impl Counter {
    fn roll(&mut self, now: i64) {
        if self.minute != now / 60 {
            self.minute = now / 60;
            self.requests = 0;
        }
        if self.day != now / 86_400 {
            self.day = now / 86_400;
            self.tokens = 0;
        }
    }
}

impl Limiter {
    pub fn new(per_user: Limits, per_team: BTreeMap<String, Limits>) -> Limiter {
        Limiter {
            per_user,
            per_team,
            counters: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// The limits that apply to a user: their own, then each limited team's.
    fn subjects<'a>(&'a self, user: &str, teams: &'a [String]) -> Vec<(String, Limits)> {
        let mut out = Vec::new();
        if self.per_user != Limits::default() {
            out.push((format!("user {user}"), self.per_user));
        }
        for team in teams {
            if let Some(limits) = self.per_team.get(team) {
                out.push((format!("team {team}"), *limits));
            }
        }
        out
    }

    /// Counts one request, or says which limit refuses it and for how many seconds.
    pub async fn admit(&self, user: &str, teams: &[String], now: i64) -> Result<(), (String, u64)> {
        let subjects = self.subjects(user, teams);
        if subjects.is_empty() {
            return Ok(());
        }
        match &self.shared {
            Some(store) => admit_shared(store.as_ref(), &subjects, now).await,
            None => self.admit_here(&subjects, now),
        }
    }

    fn admit_here(&self, subjects: &[(String, Limits)], now: i64) -> Result<(), (String, u64)> {
        let Ok(mut counters) = self.counters.lock() else {
            return Err(("rate limits cannot be checked; retry".to_string(), 1));
        };
        for (subject, limits) in subjects {
            let counter = counters.entry(subject.clone()).or_default();
            counter.roll(now);
            if let Some(limit) = limits.requests_per_minute
                && counter.requests >= limit
            {
                return Err(rate_limited(subject, limit, now));
            }
            if let Some(budget) = limits.tokens_per_day
                && counter.tokens >= budget
            {
                return Err(over_budget(subject, budget, now));
            }
        }
        for (subject, _) in subjects {
            if let Some(counter) = counters.get_mut(subject) {
                counter.requests += 1;
            }
        }
        Ok(())
    }

    /// Adds tokens the vendor reported to the day's totals.
    pub async fn spend(&self, user: &str, teams: &[String], tokens: u64, now: i64) {
        let subjects = self.subjects(user, teams);
        if subjects.is_empty() || tokens == 0 {
            return;
        }
        if let Some(store) = &self.shared {
            let keys: Vec<(String, i64)> = subjects
                .iter()
                .filter(|(_, limits)| limits.tokens_per_day.is_some())
                .map(|(subject, _)| (format!("{TOKENS}{subject}"), now / 86_400))
                .collect();
            if !keys.is_empty()
                && let Err(error) = store.counters_add(&keys, tokens).await
            {
                tracing::error!(%error, tokens, "gateway: tokens spent could not be counted");
            }
            return;
        }
        if let Ok(mut counters) = self.counters.lock() {
            for (subject, _) in subjects {
                let counter = counters.entry(subject).or_default();
                counter.roll(now);
                counter.tokens = counter.tokens.saturating_add(tokens);
            }
        }
    }
}

fn rate_limited(subject: &str, limit: u32, now: i64) -> (String, u64) {
    (
        format!("rate limit: {subject} may send {limit} requests per minute"),
        (60 - now.rem_euclid(60)) as u64,
    )
}

fn over_budget(subject: &str, budget: u64, now: i64) -> (String, u64) {
    (
        format!("token budget: {subject} has used its {budget} tokens for today (UTC)"),
        (86_400 - now.rem_euclid(86_400)) as u64,
    )
}

/// [`Limiter::admit`] against the shared counters: this minute's requests and today's
/// tokens of every subject checked, and the request counted, in one transaction. A
/// store that cannot answer refuses the request (fail closed).
async fn admit_shared(
    store: &dyn Store,
    subjects: &[(String, Limits)],
    now: i64,
) -> Result<(), (String, u64)> {
    let mut takes = Vec::new();
    let mut refusals = Vec::new();
    for (subject, limits) in subjects {
        if let Some(limit) = limits.requests_per_minute {
            takes.push(CounterTake {
                key: format!("{REQUESTS}{subject}"),
                window: now / 60,
                limit: u64::from(limit),
                add: 1,
            });
            refusals.push(rate_limited(subject, limit, now));
        }
        if let Some(budget) = limits.tokens_per_day {
            takes.push(CounterTake {
                key: format!("{TOKENS}{subject}"),
                window: now / 86_400,
                limit: budget,
                add: 0,
            });
            refusals.push(over_budget(subject, budget, now));
        }
    }
    match store.counters_take(&takes).await {
        Ok(None) => Ok(()),
        Ok(Some(index)) => Err(refusals.swap_remove(index)),
        Err(error) => {
            tracing::error!(%error, "gateway: shared limits could not be checked");
            Err(("rate limits cannot be checked; retry".to_string(), 1))
        }
    }
}

/// Forgets shared counters of windows that have ended (the previous minute and the
/// previous day are kept).
pub async fn expire_shared(store: &dyn Store, now: i64) -> Result<u64, moat_store::StoreError> {
    let minutes = store.counters_expire(REQUESTS, now / 60 - 1).await?;
    let days = store.counters_expire(TOKENS, now / 86_400 - 1).await?;
    Ok(minutes + days)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> Limiter {
        limiter_with(None)
    }

    /// The same limits kept in a store, as nodes sharing one keep them.
    fn shared() -> (tempfile::TempDir, Limiter) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(moat_store::SqliteStore::open(&dir.path().join("moat.db")).unwrap());
        (dir, limiter_with(Some(store)))
    }

    fn limiter_with(shared: Option<Arc<dyn Store>>) -> Limiter {
        let mut teams = BTreeMap::new();
        teams.insert(
            "payments".to_string(),
            Limits {
                requests_per_minute: Some(3),
                tokens_per_day: Some(1_000),
            },
        );
        let mut limiter = Limiter::new(
            Limits {
                requests_per_minute: Some(2),
                tokens_per_day: None,
            },
            teams,
        );
        limiter.shared = shared;
        limiter
    }

    #[tokio::test]
    async fn each_user_gets_their_own_minute_and_a_team_shares_one() {
        let (_dir, shared) = shared();
        for limiter in [limiter(), shared] {
            one_minute(&limiter).await;
        }
    }

    async fn one_minute(limiter: &Limiter) {
        let payments = vec!["payments".to_string()];
        let t = 1_000_040;
        assert!(limiter.admit("ana", &payments, t).await.is_ok());
        assert!(limiter.admit("ana", &payments, t).await.is_ok());
        let (message, retry) = limiter.admit("ana", &payments, t).await.unwrap_err();
        assert!(message.contains("user ana"), "{message}");
        assert_eq!(retry, 40);
        // Bo has his own per-user minute but shares the team's three requests.
        assert!(limiter.admit("bo", &payments, t).await.is_ok());
        let (message, _) = limiter.admit("bo", &payments, t).await.unwrap_err();
        assert!(message.contains("team payments"), "{message}");
        // Someone outside the team is limited only per user.
        assert!(limiter.admit("cy", &[], t).await.is_ok());
        // The next minute starts afresh.
        assert!(limiter.admit("ana", &payments, t + 40).await.is_ok());
    }

    #[tokio::test]
    async fn a_spent_daily_budget_refuses_until_midnight_utc() {
        let (_dir, shared) = shared();
        for limiter in [limiter(), shared] {
            one_day(&limiter).await;
        }
    }

    async fn one_day(limiter: &Limiter) {
        let payments = vec!["payments".to_string()];
        let t = 86_400 * 20_000 + 3_600;
        assert!(limiter.admit("ana", &payments, t).await.is_ok());
        limiter.spend("ana", &payments, 1_200, t).await;
        let (message, retry) = limiter.admit("bo", &payments, t + 120).await.unwrap_err();
        assert!(message.contains("token budget: team payments"), "{message}");
        assert_eq!(retry, 86_400 - 3_720);
        assert!(limiter.admit("bo", &payments, t + 86_400).await.is_ok());
    }
}

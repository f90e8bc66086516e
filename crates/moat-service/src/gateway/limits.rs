//! Requests per minute and tokens per UTC day, per user and per team (fixed windows):
//! kept in this process on one node, or, with a shared store (PostgreSQL), in counters
//! every node takes from in one transaction, so three nodes allow what one would.
//!
//! A day's budget is exact under concurrency: a request is admitted only while the
//! tokens spent plus those held by requests in progress are below the budget, and it
//! then holds the most it can spend (see [`BudgetHold`]) until its answer settles the
//! hold into what the vendor reported. So requests in flight at once, on any node, can
//! together overspend by at most what the last one admitted spent.

use super::Limits;
use moat_store::{CounterChange, CounterTake, Store};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Shared counters' keys: `gateway:requests:<subject>` per minute and
/// `gateway:tokens:<subject>` per UTC day.
const REQUESTS: &str = "gateway:requests:";
const TOKENS: &str = "gateway:tokens:";
/// `gateway:held:<subject>` per UTC day: the part of `gateway:tokens:` that requests in
/// progress hold (counted as spent until they settle).
const HELD: &str = "gateway:held:";

/// A refused request is told to come back this many seconds later when only holds of
/// requests in progress fill the budget (they settle within a request's deadline).
const HELD_RETRY_AFTER: u64 = 5;

/// Tokens held against a caller's daily budgets while one request is in progress: an
/// upper bound of what it can spend, counted as spent until [`Limiter::settle`] replaces
/// it with what was. Dropped unsettled (a crashed node), it stays counted for the day:
/// the budget errs on the side of refusing.
#[derive(Debug, Default)]
#[must_use = "a hold is settled with what was spent"]
pub struct BudgetHold {
    subjects: Vec<String>,
    day: i64,
    tokens: u64,
}

impl BudgetHold {
    /// The tokens held.
    pub fn tokens(&self) -> u64 {
        self.tokens
    }
}

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
    /// Spent today, including what requests in progress hold.
    tokens: u64,
    /// Held by requests in progress.
    held: u64,
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
            self.held = 0;
        }
    }

    fn budget_refusal(&self, subject: &str, budget: u64, now: i64) -> Option<(String, u64)> {
        (self.tokens >= budget)
            .then(|| budget_refusal(subject, budget, self.tokens - self.held, now))
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
            if let Some(refusal) = limits
                .tokens_per_day
                .and_then(|budget| counter.budget_refusal(subject, budget, now))
            {
                return Err(refusal);
            }
        }
        for (subject, _) in subjects {
            if let Some(counter) = counters.get_mut(subject) {
                counter.requests += 1;
            }
        }
        Ok(())
    }

    /// Holds `tokens` against each of the caller's day budgets, if every one has some
    /// left (spent plus held below the budget), or says which refuses and for how long.
    pub async fn hold(
        &self,
        user: &str,
        teams: &[String],
        tokens: u64,
        now: i64,
    ) -> Result<BudgetHold, (String, u64)> {
        let budgets: Vec<(String, u64)> = self
            .subjects(user, teams)
            .into_iter()
            .filter_map(|(subject, limits)| limits.tokens_per_day.map(|b| (subject, b)))
            .collect();
        let day = now / 86_400;
        if budgets.is_empty() || tokens == 0 {
            return Ok(BudgetHold::default());
        }
        let hold = BudgetHold {
            subjects: budgets.iter().map(|(subject, _)| subject.clone()).collect(),
            day,
            tokens,
        };
        if let Some(store) = &self.shared {
            return hold_shared(store.as_ref(), &budgets, hold, now).await;
        }
        let Ok(mut counters) = self.counters.lock() else {
            return Err(("token budgets cannot be checked; retry".to_string(), 1));
        };
        for (subject, budget) in &budgets {
            let counter = counters.entry(subject.clone()).or_default();
            counter.roll(now);
            if let Some(refusal) = counter.budget_refusal(subject, *budget, now) {
                return Err(refusal);
            }
        }
        for (subject, _) in &budgets {
            if let Some(counter) = counters.get_mut(subject) {
                counter.tokens = counter.tokens.saturating_add(tokens);
                counter.held = counter.held.saturating_add(tokens);
            }
        }
        Ok(hold)
    }

    /// Replaces a hold with the tokens the request spent (the vendor's report).
    pub async fn settle(&self, hold: BudgetHold, spent: u64) {
        if hold.subjects.is_empty() {
            return;
        }
        if let Some(store) = &self.shared {
            let delta = i64::try_from(spent)
                .unwrap_or(i64::MAX)
                .saturating_sub(i64::try_from(hold.tokens).unwrap_or(i64::MAX));
            let held = -i64::try_from(hold.tokens).unwrap_or(i64::MAX);
            let changes: Vec<CounterChange> = hold
                .subjects
                .iter()
                .flat_map(|subject| {
                    [
                        CounterChange {
                            key: format!("{TOKENS}{subject}"),
                            window: hold.day,
                            delta,
                        },
                        CounterChange {
                            key: format!("{HELD}{subject}"),
                            window: hold.day,
                            delta: held,
                        },
                    ]
                })
                .collect();
            if let Err(error) = store.counters_add(&changes).await {
                tracing::error!(%error, spent, held = hold.tokens, "gateway: tokens spent could not be counted; the hold stays counted");
            }
            return;
        }
        if let Ok(mut counters) = self.counters.lock() {
            for subject in &hold.subjects {
                // A counter that rolled over to a new day has forgotten the hold.
                if let Some(counter) = counters.get_mut(subject)
                    && counter.day == hold.day
                {
                    counter.tokens = counter
                        .tokens
                        .saturating_sub(hold.tokens)
                        .saturating_add(spent);
                    counter.held = counter.held.saturating_sub(hold.tokens);
                }
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

/// Why a day budget refuses: spent (until midnight UTC), or held by requests in
/// progress (until one of them settles).
fn budget_refusal(subject: &str, budget: u64, spent: u64, now: i64) -> (String, u64) {
    if spent >= budget {
        (
            format!("token budget: {subject} has used its {budget} tokens for today (UTC)"),
            (86_400 - now.rem_euclid(86_400)) as u64,
        )
    } else {
        (
            format!(
                "token budget: {subject} has used {spent} of its {budget} tokens for today (UTC) and requests in progress hold the rest; retry when one finishes"
            ),
            HELD_RETRY_AFTER,
        )
    }
}

/// What a shared take refuses with, by the index of its counter.
enum Refusing {
    Rate(String, u32),
    Budget(String, u64),
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
    let mut refusing = Vec::new();
    for (subject, limits) in subjects {
        if let Some(limit) = limits.requests_per_minute {
            takes.push(CounterTake {
                key: format!("{REQUESTS}{subject}"),
                window: now / 60,
                limit: u64::from(limit),
                add: 1,
            });
            refusing.push(Refusing::Rate(subject.clone(), limit));
        }
        if let Some(budget) = limits.tokens_per_day {
            takes.push(CounterTake {
                key: format!("{TOKENS}{subject}"),
                window: now / 86_400,
                limit: budget,
                add: 0,
            });
            refusing.push(Refusing::Budget(subject.clone(), budget));
        }
    }
    take_shared(store, &takes, refusing, now).await
}

/// [`Limiter::hold`] against the shared counters: every budget checked and the hold
/// added to its spent and held counters in one transaction.
async fn hold_shared(
    store: &dyn Store,
    budgets: &[(String, u64)],
    hold: BudgetHold,
    now: i64,
) -> Result<BudgetHold, (String, u64)> {
    let mut takes = Vec::new();
    let mut refusing = Vec::new();
    for (subject, budget) in budgets {
        takes.push(CounterTake {
            key: format!("{TOKENS}{subject}"),
            window: hold.day,
            limit: *budget,
            add: hold.tokens,
        });
        refusing.push(Refusing::Budget(subject.clone(), *budget));
        takes.push(CounterTake {
            key: format!("{HELD}{subject}"),
            window: hold.day,
            limit: u64::MAX,
            add: hold.tokens,
        });
        refusing.push(Refusing::Budget(subject.clone(), *budget));
    }
    take_shared(store, &takes, refusing, now).await?;
    Ok(hold)
}

async fn take_shared(
    store: &dyn Store,
    takes: &[CounterTake],
    mut refusing: Vec<Refusing>,
    now: i64,
) -> Result<(), (String, u64)> {
    let unavailable = |error: moat_store::StoreError| {
        tracing::error!(%error, "gateway: shared limits could not be checked");
        ("rate limits cannot be checked; retry".to_string(), 1)
    };
    let index = match store.counters_take(takes).await {
        Ok(None) => return Ok(()),
        Ok(Some(index)) => index,
        Err(error) => return Err(unavailable(error)),
    };
    match refusing.swap_remove(index) {
        Refusing::Rate(subject, limit) => Err(rate_limited(&subject, limit, now)),
        Refusing::Budget(subject, budget) => {
            let day = now / 86_400;
            let values = store
                .counters_get(&[
                    (format!("{TOKENS}{subject}"), day),
                    (format!("{HELD}{subject}"), day),
                ])
                .await
                .map_err(unavailable)?;
            let spent = values[0].saturating_sub(values[1]);
            Err(budget_refusal(&subject, budget, spent, now))
        }
    }
}

/// Forgets shared counters of windows that have ended (the previous minute and the
/// previous day are kept).
pub async fn expire_shared(store: &dyn Store, now: i64) -> Result<u64, moat_store::StoreError> {
    let minutes = store.counters_expire(REQUESTS, now / 60 - 1).await?;
    let days = store.counters_expire(TOKENS, now / 86_400 - 1).await?;
    let held = store.counters_expire(HELD, now / 86_400 - 1).await?;
    Ok(minutes + days + held)
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
        let hold = limiter.hold("ana", &payments, 1_500, t).await.unwrap();
        limiter.settle(hold, 1_200).await;
        let (message, retry) = limiter.admit("bo", &payments, t + 120).await.unwrap_err();
        assert!(message.contains("token budget: team payments"), "{message}");
        assert_eq!(retry, 86_400 - 3_720);
        assert!(limiter.admit("bo", &payments, t + 86_400).await.is_ok());
    }

    #[tokio::test]
    async fn requests_in_progress_hold_the_budget_until_they_settle() {
        let (_dir, shared) = shared();
        for limiter in [limiter(), shared] {
            holds(&limiter).await;
        }
    }

    async fn holds(limiter: &Limiter) {
        let payments = vec!["payments".to_string()];
        let t = 86_400 * 20_001 + 60;
        // Two requests start: the first holds 700 of the team's 1,000, the second the
        // rest and more (any budget left admits; the hold is what it may spend).
        let first = limiter.hold("ana", &payments, 700, t).await.unwrap();
        assert_eq!(first.tokens(), 700);
        let second = limiter.hold("bo", &payments, 700, t).await.unwrap();
        // A third finds nothing left, but only held: it is told to retry shortly.
        let (message, retry) = limiter.hold("cy", &payments, 10, t).await.unwrap_err();
        assert!(message.contains("used 0 of its 1000 tokens"), "{message}");
        assert!(
            message.contains("requests in progress hold the rest"),
            "{message}"
        );
        assert_eq!(retry, HELD_RETRY_AFTER);
        let (message, _) = limiter.admit("cy", &payments, t).await.unwrap_err();
        assert!(
            message.contains("requests in progress hold the rest"),
            "{message}"
        );
        // The first spent 100 of its 700: 1,000 - 100 - 700 held leaves room again.
        limiter.settle(first, 100).await;
        let third = limiter.hold("cy", &payments, 50, t).await.unwrap();
        limiter.settle(second, 600).await;
        limiter.settle(third, 50).await;
        // 750 spent, nothing held: one more is admitted and may overspend by itself.
        let fourth = limiter.hold("ana", &payments, 400, t).await.unwrap();
        limiter.settle(fourth, 400).await;
        let (message, retry) = limiter.hold("ana", &payments, 1, t).await.unwrap_err();
        assert!(message.contains("has used its 1000 tokens"), "{message}");
        assert_eq!(retry, 86_400 - 60);
        // Nobody outside a budgeted team holds anything.
        let free = limiter.hold("dee", &[], 10_000, t).await.unwrap();
        assert_eq!(free.tokens(), 0);
        limiter.settle(free, 10_000).await;
    }
}

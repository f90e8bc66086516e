//! Requests per minute and tokens per UTC day, per user and per team, kept in this
//! process (fixed windows). Several `moat serve` nodes each enforce the limits on what
//! they serve.

use super::Limits;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

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
    pub fn admit(&self, user: &str, teams: &[String], now: i64) -> Result<(), (String, u64)> {
        let subjects = self.subjects(user, teams);
        if subjects.is_empty() {
            return Ok(());
        }
        let Ok(mut counters) = self.counters.lock() else {
            return Err(("rate limits cannot be checked; retry".to_string(), 1));
        };
        for (subject, limits) in &subjects {
            let counter = counters.entry(subject.clone()).or_default();
            counter.roll(now);
            if let Some(limit) = limits.requests_per_minute
                && counter.requests >= limit
            {
                return Err((
                    format!("rate limit: {subject} may send {limit} requests per minute"),
                    (60 - now.rem_euclid(60)) as u64,
                ));
            }
            if let Some(budget) = limits.tokens_per_day
                && counter.tokens >= budget
            {
                return Err((
                    format!("token budget: {subject} has used its {budget} tokens for today (UTC)"),
                    (86_400 - now.rem_euclid(86_400)) as u64,
                ));
            }
        }
        for (subject, _) in &subjects {
            if let Some(counter) = counters.get_mut(subject) {
                counter.requests += 1;
            }
        }
        Ok(())
    }

    /// Adds tokens the vendor reported to the day's totals.
    pub fn spend(&self, user: &str, teams: &[String], tokens: u64, now: i64) {
        let subjects = self.subjects(user, teams);
        if subjects.is_empty() || tokens == 0 {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> Limiter {
        let mut teams = BTreeMap::new();
        teams.insert(
            "payments".to_string(),
            Limits {
                requests_per_minute: Some(3),
                tokens_per_day: Some(1_000),
            },
        );
        Limiter::new(
            Limits {
                requests_per_minute: Some(2),
                tokens_per_day: None,
            },
            teams,
        )
    }

    #[test]
    fn each_user_gets_their_own_minute_and_a_team_shares_one() {
        let limiter = limiter();
        let payments = vec!["payments".to_string()];
        let t = 1_000_040;
        assert!(limiter.admit("ana", &payments, t).is_ok());
        assert!(limiter.admit("ana", &payments, t).is_ok());
        let (message, retry) = limiter.admit("ana", &payments, t).unwrap_err();
        assert!(message.contains("user ana"), "{message}");
        assert_eq!(retry, 40);
        // Bo has his own per-user minute but shares the team's three requests.
        assert!(limiter.admit("bo", &payments, t).is_ok());
        let (message, _) = limiter.admit("bo", &payments, t).unwrap_err();
        assert!(message.contains("team payments"), "{message}");
        // Someone outside the team is limited only per user.
        assert!(limiter.admit("cy", &[], t).is_ok());
        // The next minute starts afresh.
        assert!(limiter.admit("ana", &payments, t + 40).is_ok());
    }

    #[test]
    fn a_spent_daily_budget_refuses_until_midnight_utc() {
        let limiter = limiter();
        let payments = vec!["payments".to_string()];
        let t = 86_400 * 20_000 + 3_600;
        assert!(limiter.admit("ana", &payments, t).is_ok());
        limiter.spend("ana", &payments, 1_200, t);
        let (message, retry) = limiter.admit("bo", &payments, t + 120).unwrap_err();
        assert!(message.contains("token budget: team payments"), "{message}");
        assert_eq!(retry, 86_400 - 3_720);
        assert!(limiter.admit("bo", &payments, t + 86_400).is_ok());
    }
}

//! Per-person permission refresh at sign-in.
//!
//! A sign-in is the first request carrying a provider token (an OIDC JWT) Moat has not
//! seen for that person. Then, in the background (the request itself is decided on the
//! mirror as it is), the hosts are asked again about each mirrored repository the
//! person can read now, for every login linked to them on that repository's host
//! ([`HostSync::refresh_user`]), and what they no longer back is removed: access lost while no webhook reached Moat
//! ends shortly after the next sign-in instead of at the next full sync. New grants
//! still arrive by webhook and by the scheduled sync; asking about every repository at
//! every sign-in would spend the host's rate limit, and so would many refreshes at once
//! (they run one at a time, at most `MAX_REPOS_PER_REFRESH` repositories each). Rows of
//! people who cannot read anything now (suspended, say) are left to the full sync.

use crate::Access;
use crate::clock::Clock;
use crate::host_sync::{HostRepo, HostSync, UserRefresh};
use crate::identity::SignInHook;
use moat_domain::User;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A person's refreshes are at least this far apart, however many tokens they present.
pub const MIN_SECONDS_BETWEEN_REFRESHES: i64 = 60;

/// Repositories one refresh asks about at most (in configuration order); the rest wait
/// for webhooks and the scheduled sync. Bounds what one sign-in costs the host's rate
/// limit (one request per repository and login, two on GitLab).
pub const MAX_REPOS_PER_REFRESH: usize = 1_000;

pub struct SignInRefresh {
    access: Arc<Access>,
    sync: Arc<HostSync>,
    repos: Vec<HostRepo>,
    clock: Arc<dyn Clock>,
    /// Per user id: the last provider token seen and when its refresh ran.
    seen: Mutex<HashMap<String, (String, i64)>>,
    one_at_a_time: tokio::sync::Semaphore,
}

impl SignInRefresh {
    pub fn new(
        access: Arc<Access>,
        sync: Arc<HostSync>,
        repos: Vec<HostRepo>,
        clock: Arc<dyn Clock>,
    ) -> SignInRefresh {
        SignInRefresh {
            access,
            sync,
            repos,
            clock,
            seen: Mutex::new(HashMap::new()),
            one_at_a_time: tokio::sync::Semaphore::new(1),
        }
    }

    /// Whether `token` starts a sign-in for `user` that should refresh now (a token not
    /// seen for them before, and no refresh in the last minute). Records it.
    pub fn is_new_sign_in(&self, user: &User, token: &str) -> bool {
        let now = self.clock.now().0;
        let Ok(mut seen) = self.seen.lock() else {
            return false;
        };
        // Bounded: one entry per person, so at most the organisation's size.
        match seen.get(&user.id.0) {
            Some((last, _)) if last == token => false,
            // Too soon after the last refresh: not recorded, so this token starts one
            // on a later request once the minute has passed.
            Some((_, at)) if now - *at < MIN_SECONDS_BETWEEN_REFRESHES => false,
            _ => {
                seen.insert(user.id.0.clone(), (token.to_string(), now));
                true
            }
        }
    }

    /// Asks the hosts about every mirrored repository `user` can read now and removes
    /// the access they no longer back.
    pub async fn refresh(&self, user: &User) -> Result<UserRefresh, crate::AccessError> {
        // One refresh at a time across all sign-ins: they share the hosts' rate limit
        // with the scheduled sync, which must not be starved into failing closed.
        let _turn = self.one_at_a_time.acquire().await;
        let authorizer = self.access.authorizer().await?;
        let readable: std::collections::HashSet<String> = authorizer
            .readable(&user.id.0)
            .into_iter()
            .map(|(repo, _)| repo.name.clone())
            .collect();
        let repos: Vec<HostRepo> = self
            .repos
            .iter()
            .filter(|r| readable.contains(&r.repo))
            .take(MAX_REPOS_PER_REFRESH)
            .cloned()
            .collect();
        let mut report = UserRefresh::default();
        // Each login is asked about on its own host only: `alice` on GitLab may be
        // someone else than `alice` on GitHub.
        for (host, login) in self.access.linked_logins(user).await? {
            let on_host: Vec<HostRepo> = repos
                .iter()
                .filter(|r| r.kind.as_str() == host)
                .cloned()
                .collect();
            if on_host.is_empty() {
                continue;
            }
            let one = self.sync.refresh_user(&login, &on_host).await;
            report.checked += one.checked;
            report.revoked.extend(one.revoked);
            report.failed.extend(one.failed);
        }
        report.revoked.sort();
        report.revoked.dedup();
        Ok(report)
    }
}

impl SignInHook for SignInRefresh {
    fn signed_in(self: Arc<Self>, user: &User, token: &str) {
        if !self.is_new_sign_in(user, token) {
            return;
        }
        let user = user.clone();
        tokio::spawn(async move {
            match self.refresh(&user).await {
                Ok(report) => {
                    for (repo, error) in &report.failed {
                        tracing::warn!(user = %user.email, repo, %error, "sign-in permission refresh failed for a repository");
                    }
                    tracing::info!(
                        user = %user.email,
                        checked = report.checked,
                        revoked = ?report.revoked,
                        "permissions refreshed at sign-in"
                    );
                }
                Err(error) => {
                    tracing::warn!(user = %user.email, %error, "sign-in permission refresh failed")
                }
            }
        });
    }
}

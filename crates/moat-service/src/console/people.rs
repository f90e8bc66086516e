//! The people pages: the list (searched, filtered, paged), one person in detail, and
//! the changes to their status, each authorized by Cedar and on the record.

use super::views::{PAGE_SIZE, unavailable};
use super::{Console, ConsoleError, SignedIn};
use crate::audit::search::{self, Filter};
use moat_audit::event::Event;
use moat_domain::{Tier, Token, User, UserStatus};
use moat_policy::Action;
use moat_store::OAuthGrant;

/// Events read at most, from the newest back, to find a person's recent activity.
pub const RECENT_SCAN: usize = 5_000;

/// A person's recent events shown at most.
pub const RECENT_SHOWN: usize = 20;

/// Repositories of a person's access shown at most (the count says how many in all).
pub const ACCESS_SHOWN: usize = 200;

/// What the console may do to a person's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    Suspend,
    Reactivate,
    Deprovision,
}

/// One person in detail: who they are, what they hold, what they can reach and what
/// they did lately.
#[derive(Debug, Clone)]
pub struct PersonDetail {
    pub person: User,
    /// Whether `[training]` requires a current attestation, and whether theirs is.
    pub training_required: bool,
    pub training_current: bool,
    pub tokens: Vec<Token>,
    pub grants: Vec<OAuthGrant>,
    /// Repositories they may query: name, tier, what MCP shows them (the first
    /// [`ACCESS_SHOWN`]).
    pub access: Vec<(String, Tier, String)>,
    pub access_total: usize,
    /// Their newest events first, from the last [`RECENT_SCAN`] of the log.
    pub recent: Vec<Event>,
}

#[derive(Debug, Clone, Default)]
pub struct PeopleQuery {
    /// Part of an email or name (case-insensitive).
    pub search: Option<String>,
    pub status: Option<UserStatus>,
    /// From 1.
    pub page: usize,
}

#[derive(Debug, Clone)]
pub struct PeoplePage {
    pub people: Vec<User>,
    /// Matches in all.
    pub total: usize,
    pub page: usize,
    pub pages: usize,
}

impl Console {
    /// One page of people, by email (the store pages: nothing unbounded is read).
    pub async fn people(&self, query: &PeopleQuery) -> Result<PeoplePage, ConsoleError> {
        let search = query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let page_of = |page: usize| moat_store::UserQuery {
            search: search.clone(),
            status: query.status,
            offset: (page.max(1) as u64 - 1) * PAGE_SIZE as u64,
            limit: PAGE_SIZE as u64,
        };
        let (mut people, total) = self
            .store
            .users_page(&page_of(query.page))
            .await
            .map_err(unavailable)?;
        let pages = (total as usize).div_ceil(PAGE_SIZE).max(1);
        let page = query.page.clamp(1, pages);
        if page != query.page.max(1) {
            // Asked past the end: the last page.
            people = self
                .store
                .users_page(&page_of(page))
                .await
                .map_err(unavailable)?
                .0;
        }
        Ok(PeoplePage {
            people,
            total: total as usize,
            page,
            pages,
        })
    }

    /// One person in detail (by id or email).
    pub async fn person(&self, who: &str) -> Result<PersonDetail, ConsoleError> {
        let person = self.identity.find_user(who).await.map_err(|e| match e {
            crate::IdentityError::NotFound(what) => ConsoleError::NotFound(what),
            other => unavailable(other),
        })?;
        let tokens = self
            .identity
            .tokens(Some(&person.id.0))
            .await
            .map_err(unavailable)?;
        let grants = self
            .oauth
            .grants(Some(&person.id))
            .await
            .map_err(unavailable)?;
        let authorizer = self.access.authorizer().await.map_err(unavailable)?;
        let readable = authorizer.readable(&person.id.0);
        let access_total = readable.len();
        let access = readable
            .into_iter()
            .take(ACCESS_SHOWN)
            .map(|(repo, decision)| {
                (
                    repo.name.clone(),
                    repo.tier,
                    decision
                        .disclosure
                        .map_or_else(String::new, |d| d.to_string()),
                )
            })
            .collect();
        let recent = self.recent_events(&person.id.0).await?;
        Ok(PersonDetail {
            training_required: self.access.settings().training.required,
            training_current: self
                .access
                .settings()
                .training
                .is_current(&person, self.clock.now()),
            person,
            tokens,
            grants,
            access,
            access_total,
            recent,
        })
    }

    /// A person's newest events (as actor), from the last [`RECENT_SCAN`] of the log.
    async fn recent_events(&self, user_id: &str) -> Result<Vec<Event>, ConsoleError> {
        let size = self
            .store
            .audit_latest_checkpoint()
            .await
            .map_err(unavailable)?
            .map_or(0, |(size, _)| size);
        let filter = Filter {
            actor: Some(user_id.to_string()),
            ..Filter::default()
        };
        let from = size.saturating_sub(RECENT_SCAN as u64);
        let page = search::search(self.store.as_ref(), &filter, from, RECENT_SCAN, RECENT_SCAN)
            .await
            .map_err(unavailable)?;
        Ok(page.events.into_iter().rev().take(RECENT_SHOWN).collect())
    }

    /// Changes a person's status, on the record as `user.suspend`, `user.reactivate` or
    /// `user.deprovision` from this console session: suspension refuses their tokens and
    /// ends their sessions and grants; deprovisioning revokes everything for good.
    pub async fn change_status(
        &self,
        signed: &SignedIn,
        address: Option<String>,
        who: &str,
        change: StatusChange,
    ) -> Result<User, ConsoleError> {
        self.authorize(
            signed,
            address.clone(),
            Action::Administer,
            &format!("user/{who}"),
        )
        .await?;
        let actor = signed.actor(address);
        let admin = self.admin();
        Ok(match change {
            StatusChange::Suspend => admin.suspend_user(&actor, who).await?,
            StatusChange::Reactivate => admin.reactivate_user(&actor, who).await?,
            StatusChange::Deprovision => admin.deprovision_user(&actor, who).await?,
        })
    }
}

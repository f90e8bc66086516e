//! The people pages: the list (searched, filtered, paged), one person in detail, and
//! the changes to their status, each authorized by Cedar and on the record.

use super::views::{PAGE_SIZE, unavailable};
use super::{Console, ConsoleError, SignedIn};
use moat_domain::{User, UserStatus};
use moat_policy::Action;

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
    /// One page of people, by email.
    pub async fn people(&self, query: &PeopleQuery) -> Result<PeoplePage, ConsoleError> {
        let needle = query
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_lowercase);
        let mut people: Vec<User> = self
            .store
            .users()
            .await
            .map_err(unavailable)?
            .into_iter()
            .filter(|u| query.status.is_none_or(|s| u.status == s))
            .filter(|u| {
                needle.as_deref().is_none_or(|n| {
                    u.email.to_lowercase().contains(n) || u.name.to_lowercase().contains(n)
                })
            })
            .collect();
        people.sort_by(|a, b| a.email.cmp(&b.email));
        let total = people.len();
        let pages = total.div_ceil(PAGE_SIZE).max(1);
        let page = query.page.clamp(1, pages);
        let people = people
            .into_iter()
            .skip((page - 1) * PAGE_SIZE)
            .take(PAGE_SIZE)
            .collect();
        Ok(PeoplePage {
            people,
            total,
            page,
            pages,
        })
    }

    /// Suspends a person (their tokens refused, sessions and grants ended), on the
    /// record as `user.suspend` from this console session.
    pub async fn suspend(
        &self,
        signed: &SignedIn,
        address: Option<String>,
        who: &str,
    ) -> Result<User, ConsoleError> {
        self.authorize(
            signed,
            address.clone(),
            Action::Administer,
            &format!("user/{who}"),
        )
        .await?;
        if who == signed.user.id.0 {
            return Err(ConsoleError::Invalid(
                "you cannot suspend yourself from the console; ask another administrator".into(),
            ));
        }
        Ok(self
            .admin()
            .suspend_user(&signed.actor(address), who)
            .await?)
    }

    /// Restores a suspended person, on the record as `user.reactivate`.
    pub async fn reactivate(
        &self,
        signed: &SignedIn,
        address: Option<String>,
        who: &str,
    ) -> Result<User, ConsoleError> {
        self.authorize(
            signed,
            address.clone(),
            Action::Administer,
            &format!("user/{who}"),
        )
        .await?;
        Ok(self
            .admin()
            .reactivate_user(&signed.actor(address), who)
            .await?)
    }
}

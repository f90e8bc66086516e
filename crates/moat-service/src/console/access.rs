//! The access page: who can reach a repository, what a person can reach, and why, from
//! the same authorizer every MCP call and model request is decided by. Paged: at
//! 10,000 people × 5,000 repositories the matrix is 50 million cells.

use super::views::{page_of, unavailable};
use super::{Console, ConsoleError};
use moat_policy::{Action, Decision};

#[derive(Debug, Clone, Default)]
pub struct AccessQuery {
    /// A person (id or email).
    pub person: Option<String>,
    /// A repository name.
    pub repo: Option<String>,
    /// From 1.
    pub page: usize,
}

/// One cell: may query context (the decision, with its rules and reason), and whether
/// raw source may be read too.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The other side of the cell: a person's email, or a repository's name.
    pub name: String,
    pub decision: Decision,
    pub read_source: bool,
}

#[derive(Debug, Clone)]
pub enum AccessView {
    /// Nothing asked yet.
    Ask,
    /// Everyone against one repository (people by email).
    Repo {
        repo: String,
        cells: Vec<Cell>,
        total: usize,
        page: usize,
        pages: usize,
    },
    /// One person against every repository (by name).
    Person {
        email: String,
        cells: Vec<Cell>,
        allowed: usize,
        total: usize,
        page: usize,
        pages: usize,
    },
    /// One person and one repository, explained.
    Explain {
        email: String,
        repo: String,
        query: Decision,
        read: Decision,
    },
}

impl Console {
    /// The access page for `query`.
    pub async fn access(&self, query: &AccessQuery) -> Result<AccessView, ConsoleError> {
        let given = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let (person, repo) = (given(&query.person), given(&query.repo));
        if person.is_none() && repo.is_none() {
            return Ok(AccessView::Ask);
        }
        let authorizer = self.access.authorizer().await.map_err(unavailable)?;
        if let Some(repo) = &repo
            && !self.deployment.repos.iter().any(|r| &r.name == repo)
        {
            return Err(ConsoleError::NotFound(format!(
                "no repository named `{repo}`"
            )));
        }
        let person = match person {
            Some(who) => Some(self.identity.find_user(&who).await.map_err(|e| match e {
                crate::IdentityError::NotFound(what) => ConsoleError::NotFound(what),
                other => unavailable(other),
            })?),
            None => None,
        };
        let cell = |user: &str, repo: &str, name: String| {
            let decision = authorizer.decide(user, Action::QueryContext, repo);
            let read_source =
                decision.allow && authorizer.decide(user, Action::ReadSource, repo).allow;
            Cell {
                name,
                decision,
                read_source,
            }
        };
        Ok(match (person, repo) {
            (Some(person), Some(repo)) => AccessView::Explain {
                query: authorizer.decide(&person.id.0, Action::QueryContext, &repo),
                read: authorizer.decide(&person.id.0, Action::ReadSource, &repo),
                email: person.email,
                repo,
            },
            (Some(person), None) => {
                let mut names: Vec<&str> = self
                    .deployment
                    .repos
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect();
                names.sort_unstable();
                let allowed = authorizer.readable(&person.id.0).len();
                let total = names.len();
                let (names, page, pages) = page_of(names, query.page);
                AccessView::Person {
                    cells: names
                        .into_iter()
                        .map(|repo| cell(&person.id.0, repo, repo.to_string()))
                        .collect(),
                    email: person.email,
                    allowed,
                    total,
                    page,
                    pages,
                }
            }
            (None, Some(repo)) => {
                // Only this page's people are read and decided: counting everyone who
                // may reach it would decide every person (10,000 × ~10 µs), past a
                // page's budget.
                let everyone = super::PeopleQuery {
                    page: query.page,
                    ..super::PeopleQuery::default()
                };
                let super::PeoplePage {
                    people,
                    total,
                    page,
                    pages,
                } = self.people(&everyone).await?;
                AccessView::Repo {
                    cells: people
                        .into_iter()
                        .map(|u| cell(&u.id.0, &repo, u.email))
                        .collect(),
                    repo,
                    total,
                    page,
                    pages,
                }
            }
            (None, None) => AccessView::Ask,
        })
    }
}

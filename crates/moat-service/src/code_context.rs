//! Code context for a person: what their AI tool gets from the index, shaped by the
//! classification tier of each repository and scrubbed of secrets.
//!
//! Repositories are filtered *before* ranking: the index is asked to search only the
//! repositories the caller may see, so a hidden repository cannot take a place in the
//! results or leak through scores. What each hit shows follows its tier's disclosure:
//! `source` adds a snippet read from git at the indexed commit and redacted;
//! `redacted-source` adds the same snippet with string literals and comments masked;
//! `signatures` keeps signatures and doc summaries; `structure` keeps names, kinds,
//! paths and lines only.
//!
//! Who may query what is decided by the one authorisation service (`moat-policy`,
//! Cedar): the same decisions `moat access explain` prints.

use moat_domain::{Disclosure, Tier, User};
use moat_index::{CodeIndex, IndexError, Language, SearchQuery, SymbolKind};
use moat_policy::{Action, Authorizer};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Longest snippet shown, in lines.
const MAX_SNIPPET_LINES: u32 = 40;

/// A connected repository as the context service needs it.
#[derive(Debug, Clone)]
pub struct RepoPolicy {
    pub name: String,
    pub source: PathBuf,
    pub tier: Tier,
    pub disclosure: Disclosure,
}

#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub query: String,
    pub repo: Option<String>,
    pub language: Option<String>,
    pub kind: Option<String>,
    pub path_prefix: Option<String>,
    pub limit: usize,
}

/// One result, shaped by its repository's tier.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextHit {
    pub repo: String,
    pub commit: String,
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    pub kind: String,
    pub name: String,
    pub qualified_name: String,
    pub signature: Option<String>,
    pub summary: Option<String>,
    pub score: f32,
    pub tier: Tier,
    pub disclosure: Disclosure,
    pub snippet: Option<String>,
}

/// Results and what they disclosed, for the audit event.
#[derive(Debug, Clone, Default)]
pub struct ContextResults {
    pub hits: Vec<ContextHit>,
    /// Bytes of code context disclosed, by tier.
    pub disclosed: BTreeMap<String, u64>,
    /// Redactions applied to snippets, by rule.
    pub redactions: BTreeMap<String, u64>,
    /// The repositories the caller was allowed to search.
    pub searched: Vec<String>,
    /// The policies that allowed it.
    pub rules: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("access denied: {0}")]
    Denied(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Index(#[from] IndexError),
}

pub struct CodeContext {
    index: Arc<CodeIndex>,
    repos: Vec<RepoPolicy>,
    detector: Arc<moat_dlp::Detector>,
    authorizer: Arc<Authorizer>,
}

impl CodeContext {
    pub fn new(
        index: Arc<CodeIndex>,
        repos: Vec<RepoPolicy>,
        detector: Arc<moat_dlp::Detector>,
        authorizer: Arc<Authorizer>,
    ) -> CodeContext {
        CodeContext {
            index,
            repos,
            detector,
            authorizer,
        }
    }

    /// The repositories `user` may query with the rules that allowed each, or why none.
    pub fn allowed_repos(
        &self,
        user: &User,
    ) -> Result<Vec<(&RepoPolicy, Vec<String>)>, ContextError> {
        let readable = self.authorizer.readable(&user.id.0);
        let allowed: Vec<(&RepoPolicy, Vec<String>)> = readable
            .iter()
            .filter_map(|(repo, decision)| {
                self.repos
                    .iter()
                    .find(|r| r.name == repo.name)
                    .map(|r| (r, decision.rules.clone()))
            })
            .collect();
        if allowed.is_empty() {
            // Say why for the first repository: the reasons are usually the same.
            let reason = self
                .repos
                .first()
                .map(|r| {
                    self.authorizer
                        .decide(&user.id.0, Action::QueryContext, &r.name)
                        .reason
                })
                .unwrap_or_else(|| "no repositories are connected".to_string());
            return Err(ContextError::Denied(format!(
                "{} may not query any repository: {reason}",
                user.email
            )));
        }
        Ok(allowed)
    }

    pub fn search(
        &self,
        user: &User,
        request: &SearchRequest,
    ) -> Result<ContextResults, ContextError> {
        let (searched, rules): (Vec<&RepoPolicy>, Vec<String>) = match &request.repo {
            Some(name) => {
                let decision = self
                    .authorizer
                    .decide(&user.id.0, Action::QueryContext, name);
                let repo = self.repos.iter().find(|r| &r.name == name);
                match repo {
                    Some(repo) if decision.allow => (vec![repo], decision.rules),
                    _ => return Err(ContextError::Denied(decision.reason)),
                }
            }
            None => {
                let allowed = self.allowed_repos(user)?;
                let mut rules: Vec<String> = allowed
                    .iter()
                    .flat_map(|(_, r)| r.iter().cloned())
                    .collect();
                rules.sort();
                rules.dedup();
                (allowed.into_iter().map(|(r, _)| r).collect(), rules)
            }
        };
        let language = match &request.language {
            Some(name) => Some(Language::from_name(name).ok_or_else(|| {
                ContextError::BadRequest(format!(
                    "unknown language `{name}`; use one of rust, python, javascript, typescript, tsx, go, java, c, cpp, csharp, ruby, text"
                ))
            })?),
            None => None,
        };
        let kind = match &request.kind {
            Some(name) => Some(SymbolKind::from_name(name).ok_or_else(|| {
                ContextError::BadRequest(format!(
                    "unknown kind `{name}`; use function, method, class, struct, trait, interface, enum, module, constant, type, field, file, ..."
                ))
            })?),
            None => None,
        };
        if request.query.trim().is_empty() {
            return Err(ContextError::BadRequest(
                "the query is empty; ask a question or name a symbol".into(),
            ));
        }
        let query = SearchQuery {
            text: request.query.clone(),
            repos: searched.iter().map(|r| r.name.clone()).collect(),
            language,
            kind,
            path_prefix: request.path_prefix.clone(),
            limit: request.limit.clamp(1, 50),
        };
        let hits = self.index.search(&query)?;
        let mut results = ContextResults {
            searched: query.repos.clone(),
            rules,
            ..ContextResults::default()
        };
        let mut redactor = moat_dlp::Redactor::new(&self.detector, rand::random());
        for hit in hits {
            let Some(policy) = searched.iter().find(|r| r.name == hit.repo) else {
                continue;
            };
            let disclosure = policy.disclosure;
            let shows_declarations = disclosure != Disclosure::Structure;
            let snippet = match disclosure {
                Disclosure::Source | Disclosure::RedactedSource => self.snippet(
                    policy,
                    &hit,
                    disclosure,
                    &mut redactor,
                    &mut results.redactions,
                ),
                Disclosure::Signatures | Disclosure::Structure => None,
            };
            let shaped = ContextHit {
                repo: hit.repo,
                commit: hit.commit,
                path: hit.path,
                start_line: hit.start_line,
                end_line: hit.end_line,
                kind: hit.kind.as_str().to_string(),
                name: hit.name,
                qualified_name: hit.qualified_name,
                signature: shows_declarations.then_some(hit.signature),
                summary: shows_declarations.then_some(hit.summary),
                score: hit.score,
                tier: policy.tier,
                disclosure,
                snippet,
            };
            let bytes = shaped.signature.as_ref().map_or(0, String::len)
                + shaped.summary.as_ref().map_or(0, String::len)
                + shaped.snippet.as_ref().map_or(0, String::len);
            *results
                .disclosed
                .entry(policy.tier.as_str().to_string())
                .or_insert(0) += bytes as u64;
            results.hits.push(shaped);
        }
        Ok(results)
    }

    /// The hit's lines read from git at the indexed commit, secrets redacted; for
    /// `redacted-source`, string literals and comments masked first (no snippet at all
    /// if the file cannot be masked: fail closed).
    fn snippet(
        &self,
        policy: &RepoPolicy,
        hit: &moat_index::Hit,
        disclosure: Disclosure,
        redactor: &mut moat_dlp::Redactor<'_>,
        counts: &mut BTreeMap<String, u64>,
    ) -> Option<String> {
        let graph = self.index.graph(&hit.repo).ok()??;
        let file = graph.files.get(&hit.path)?;
        let git = moat_index::git::GitRepo::open(&hit.repo, &policy.source).ok()?;
        let bytes = git.read_blob(&file.blob).ok()?;
        let mut text = String::from_utf8(bytes).ok()?;
        if disclosure == Disclosure::RedactedSource {
            text = moat_index::mask_literals_and_comments(
                file.language?,
                &text,
                std::time::Duration::from_secs(2),
            )?;
        }
        let end = hit
            .end_line
            .min(hit.start_line + MAX_SNIPPET_LINES - 1)
            .max(hit.start_line);
        let lines: Vec<&str> = text
            .lines()
            .skip(hit.start_line.saturating_sub(1) as usize)
            .take((end - hit.start_line + 1) as usize)
            .collect();
        let redacted = redactor.redact(&lines.join("\n"));
        for (rule, n) in redacted.counts {
            *counts.entry(rule).or_insert(0) += n;
        }
        Some(redacted.text)
    }
}

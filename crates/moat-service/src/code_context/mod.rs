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

mod navigate;
pub mod recorded;
mod shown_text;
mod source;

pub use navigate::{OutlineEntry, Related, RepoOverview, SymbolDetail, UseSite};
pub use source::SourceLines;

pub use shown_text::FindingsCache;
use shown_text::ShownText;

use moat_domain::{Disclosure, Tier, User};
use moat_index::{CodeIndex, IndexError, Language, SearchQuery, SearchRepo, Shown, SymbolKind};
use moat_policy::{Action, Authorizer};
use std::collections::BTreeMap;

use std::path::PathBuf;
use std::sync::Arc;

/// The most results one search returns.
pub const MAX_RESULTS: usize = 50;

/// The longest query a search reads, in bytes: a bug report with its traceback and
/// logs fits many times over; a whole log file does not.
pub const MAX_QUERY_BYTES: usize = 64 * 1024;

/// A query as its audit event records it: whole when a search would read it; past
/// [`MAX_QUERY_BYTES`], its size, SHA-256 and first 256 characters, so a refused
/// query cannot write megabytes into the permanent record.
pub fn query_for_record(query: &str) -> serde_json::Value {
    if query.len() <= MAX_QUERY_BYTES {
        return serde_json::Value::String(query.to_string());
    }
    use sha2::Digest;
    serde_json::json!({
        "bytes": query.len(),
        "sha256": hex::encode(sha2::Sha256::digest(query.as_bytes())),
        "start": query.chars().take(256).collect::<String>(),
    })
}

/// Longest snippet shown, in lines.
const MAX_SNIPPET_LINES: u32 = 40;
/// Longest body shown by `symbol`, in lines.
const MAX_BODY_LINES: u32 = 200;

/// A range of lines of one file.
struct Lines<'a> {
    path: &'a str,
    start: u32,
    end: u32,
    max: u32,
}

/// A connected repository as the context service needs it.
#[derive(Debug, Clone)]
pub struct RepoPolicy {
    pub name: String,
    pub source: PathBuf,
    pub tier: Tier,
    pub disclosure: Disclosure,
}

#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: String,
    pub repo: Option<String>,
    pub language: Option<String>,
    pub kind: Option<String>,
    pub path_prefix: Option<String>,
    /// 1 to [`MAX_RESULTS`]; more is an error, not fewer results.
    pub limit: usize,
}

impl Default for SearchRequest {
    /// No filters, ten results.
    fn default() -> Self {
        SearchRequest {
            query: String::new(),
            repo: None,
            language: None,
            kind: None,
            path_prefix: None,
            limit: 10,
        }
    }
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
    /// What the query was read as: its parts and what it names.
    pub understood: moat_index::Understanding,
}

/// Why a request was refused, and the policies that refused it (none when nothing
/// permitted it), which its audit event names as the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub reason: String,
    pub rules: Vec<String>,
}

impl Denial {
    /// A refusal no policy decided (nothing permitted it, or the server is stopping).
    pub fn new(reason: impl Into<String>) -> Denial {
        Denial {
            reason: reason.into(),
            rules: Vec::new(),
        }
    }

    /// A policy decision's refusal.
    pub fn by(decision: moat_policy::Decision) -> Denial {
        Denial {
            reason: decision.reason,
            rules: decision.rules,
        }
    }

    /// The rule an audit event names: the refusing policies, else `fallback`.
    pub fn rule(&self, fallback: &str) -> String {
        if self.rules.is_empty() {
            fallback.to_string()
        } else {
            self.rules.join(",")
        }
    }
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("access denied: {0}")]
    Denied(Denial),
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
    findings: Arc<FindingsCache>,
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
            findings: Arc::new(FindingsCache::new()),
        }
    }

    /// Shares `findings` (the detector's findings per blob) with other contexts, so a
    /// file is scanned once for every request that shows part of it.
    pub fn with_findings_cache(mut self, findings: Arc<FindingsCache>) -> CodeContext {
        self.findings = findings;
        self
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
            return Err(ContextError::Denied(Denial::new(format!(
                "{} may not query any repository: {reason}",
                user.email
            ))));
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
                    _ => return Err(ContextError::Denied(Denial::by(decision))),
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
        if request.query.len() > MAX_QUERY_BYTES {
            return Err(ContextError::BadRequest(format!(
                "the query is {} bytes; a search reads at most {MAX_QUERY_BYTES}: paste the report, its stack trace and the log lines around the failure, not whole logs",
                request.query.len()
            )));
        }
        // Asked for more than a search gives, the caller is told, not handed fewer.
        if !(1..=MAX_RESULTS).contains(&request.limit) {
            return Err(ContextError::BadRequest(format!(
                "`limit` {} is out of range: ask for 1 to {MAX_RESULTS} results, and narrow the search (a repository, language, kind or path) to see others",
                request.limit
            )));
        }
        let query = SearchQuery {
            text: request.query.clone(),
            repos: searched
                .iter()
                .map(|r| SearchRepo::new(&r.name, ranked_on(r.disclosure)))
                .collect(),
            language,
            kind,
            path_prefix: request.path_prefix.clone(),
            limit: request.limit,
        };
        let (hits, understood) = self.index.search_understood(&query)?;
        let mut results = ContextResults {
            searched: query.repos.iter().map(|r| r.name.clone()).collect(),
            rules,
            understood,
            ..ContextResults::default()
        };
        let mut redactor = moat_dlp::Redactor::new(&self.detector, rand::random());
        for hit in hits {
            let Some(policy) = searched.iter().find(|r| r.name == hit.repo) else {
                continue;
            };
            let disclosure = policy.disclosure;
            let shows_declarations = disclosure != Disclosure::Structure;
            let snippet = self.snippet(user, policy, &hit, &mut redactor, &mut results.redactions);
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
        user: &User,
        policy: &RepoPolicy,
        hit: &moat_index::Hit,
        redactor: &mut moat_dlp::Redactor<'_>,
        counts: &mut BTreeMap<String, u64>,
    ) -> Option<String> {
        let lines = Lines {
            path: &hit.path,
            start: hit.start_line,
            end: hit.end_line,
            max: MAX_SNIPPET_LINES,
        };
        self.read_lines(user, policy, lines, redactor, counts)
    }

    /// Lines of a file at the indexed commit, shaped for the repository's disclosure
    /// and redacted. This is the one way source text leaves the context service, so it
    /// asks Cedar `ReadSource` itself (an organisation policy that forbids it holds for
    /// snippets and bodies as for `read_source`). Secrets are found on the whole blob and
    /// replaced line for line before the lines are cut (see `shown_text`); for
    /// `redacted-source`, string literals and comments are then masked too (no text at
    /// all if the file cannot be masked: fail closed).
    fn read_lines(
        &self,
        user: &User,
        policy: &RepoPolicy,
        lines: Lines<'_>,
        redactor: &mut moat_dlp::Redactor<'_>,
        counts: &mut BTreeMap<String, u64>,
    ) -> Option<String> {
        let disclosure = policy.disclosure;
        if !matches!(disclosure, Disclosure::Source | Disclosure::RedactedSource)
            || !self
                .authorizer
                .decide(&user.id.0, Action::ReadSource, &policy.name)
                .allow
        {
            return None;
        }
        let graph = self.index.graph(&policy.name).ok()??;
        let file = graph.files.get(lines.path)?;
        let git = self.index.git(&policy.name, &policy.source).ok()?;
        let bytes = git.read_blob(&file.blob).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let findings = self.findings.findings(&file.blob, &text, &self.detector);
        let mut shown = ShownText::redact(&text, &findings, redactor);
        if disclosure == Disclosure::RedactedSource {
            shown.text = moat_index::mask_literals_and_comments(
                file.language?,
                &shown.text,
                std::time::Duration::from_secs(2),
            )?;
        }
        let start = lines.start.max(1);
        let end = lines.end.min(start + lines.max - 1).max(start);
        let (cut, shown_counts) = shown.cut(start, end);
        for (rule, n) in shown_counts {
            *counts.entry(rule).or_insert(0) += n;
        }
        Some(cut)
    }
}

/// What a disclosure shows of a repository, and so all that may rank it in a search:
/// a word it hides can neither find a result nor move one.
fn ranked_on(disclosure: Disclosure) -> Shown {
    match disclosure {
        Disclosure::Source => Shown::Everything,
        Disclosure::RedactedSource => Shown::MaskedCode,
        Disclosure::Signatures => Shown::Declarations,
        Disclosure::Structure => Shown::Names,
    }
}

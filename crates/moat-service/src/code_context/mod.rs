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

pub mod recorded;
mod shown_text;

pub use shown_text::FindingsCache;
use shown_text::ShownText;

use moat_domain::{Disclosure, Tier, User};
use moat_index::{CodeIndex, IndexError, Language, SearchQuery, SearchRepo, Shown, SymbolKind};
use moat_policy::{Action, Authorizer};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

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
            repos: searched
                .iter()
                .map(|r| SearchRepo::new(&r.name, ranked_on(r.disclosure)))
                .collect(),
            language,
            kind,
            path_prefix: request.path_prefix.clone(),
            limit: request.limit.clamp(1, 50),
        };
        let hits = self.index.search(&query)?;
        let mut results = ContextResults {
            searched: query.repos.iter().map(|r| r.name.clone()).collect(),
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

/// A symbol named in a relation.
#[derive(Debug, Clone, PartialEq)]
pub struct Related {
    pub path: String,
    pub qualified_name: String,
    pub kind: String,
    pub start_line: u32,
}

/// A definition with its relations, shaped by its repository's tier.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolDetail {
    pub hit: ContextHit,
    pub doc: Option<String>,
    pub parent: Option<String>,
    pub members: Vec<String>,
    pub callers: Vec<Related>,
    pub callees: Vec<Related>,
    pub body: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutlineEntry {
    pub depth: usize,
    pub kind: String,
    pub name: String,
    pub qualified_name: String,
    pub start_line: u32,
    pub end_line: u32,
    pub signature: Option<String>,
}

/// Where a name is used.
#[derive(Debug, Clone, PartialEq)]
pub struct UseSite {
    pub repo: String,
    pub commit: String,
    pub path: String,
    /// Lines in the enclosing symbol (or file) that mention the name.
    pub lines: Vec<u32>,
    /// The enclosing symbol, if the use is inside one.
    pub enclosing: Option<String>,
    pub tier: Tier,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RepoOverview {
    pub repo: String,
    pub commit: String,
    pub tier: Tier,
    pub disclosure: Disclosure,
    /// Language, files, lines.
    pub languages: Vec<(String, u64, u64)>,
    /// Top-level directory, files, languages.
    pub directories: Vec<(String, u64, Vec<String>)>,
    pub entry_points: Vec<Related>,
    pub central: Vec<Related>,
}

impl CodeContext {
    /// The repository `name` if `user` may query it, with its graph.
    fn allowed_repo(
        &self,
        user: &User,
        name: &str,
    ) -> Result<(&RepoPolicy, Arc<moat_index::RepoGraph>), ContextError> {
        let decision = self
            .authorizer
            .decide(&user.id.0, Action::QueryContext, name);
        let policy = self.repos.iter().find(|r| r.name == name);
        let policy = match policy {
            Some(policy) if decision.allow => policy,
            _ => return Err(ContextError::Denied(decision.reason)),
        };
        let graph = self.index.graph(name)?.ok_or_else(|| {
            ContextError::BadRequest(format!(
                "`{name}` is not indexed yet; run `moat index {name}`"
            ))
        })?;
        Ok((policy, graph))
    }

    /// Repositories to look in: the one asked for, or every one the user may query.
    fn scope(&self, user: &User, repo: Option<&str>) -> Result<Vec<&RepoPolicy>, ContextError> {
        match repo {
            Some(name) => Ok(vec![self.allowed_repo(user, name)?.0]),
            None => Ok(self
                .allowed_repos(user)?
                .into_iter()
                .map(|(r, _)| r)
                .collect()),
        }
    }

    fn related(graph: &moat_index::RepoGraph, refs: &[moat_index::SymbolRef]) -> Vec<Related> {
        refs.iter()
            .filter_map(|r| {
                graph.symbol(&r.path, r.index).map(|s| Related {
                    path: r.path.clone(),
                    qualified_name: s.qualified_name.clone(),
                    kind: s.kind.as_str().to_string(),
                    start_line: s.start_line,
                })
            })
            .collect()
    }

    /// Definitions of `name` (or a qualified name) with members, callers and callees;
    /// the body only where the tier shows source.
    pub fn symbol(
        &self,
        user: &User,
        name: &str,
        repo: Option<&str>,
    ) -> Result<Vec<SymbolDetail>, ContextError> {
        let scope = self.scope(user, repo)?;
        let names: Vec<String> = scope.iter().map(|r| r.name.clone()).collect();
        let mut redactor = moat_dlp::Redactor::new(&self.detector, rand::random());
        let mut counts = BTreeMap::new();
        let mut out = Vec::new();
        for (graph, path, index) in self
            .index
            .find_definitions(&names, name)?
            .into_iter()
            .take(5)
        {
            let Some(policy) = scope.iter().find(|r| r.name == graph.repo) else {
                continue;
            };
            let Some(symbol) = graph.symbol(&path, index) else {
                continue;
            };
            let Some(file) = graph.files.get(&path) else {
                continue;
            };
            let shows_declarations = policy.disclosure != Disclosure::Structure;
            let hit = ContextHit {
                repo: graph.repo.clone(),
                commit: graph.commit.clone(),
                path: path.clone(),
                start_line: symbol.start_line,
                end_line: symbol.end_line,
                kind: symbol.kind.as_str().to_string(),
                name: symbol.name.clone(),
                qualified_name: symbol.qualified_name.clone(),
                signature: shows_declarations.then(|| symbol.signature.clone()),
                summary: shows_declarations.then(|| symbol.summary().to_string()),
                score: graph.rank(&path, index),
                tier: policy.tier,
                disclosure: policy.disclosure,
                snippet: None,
            };
            let body = self.read_lines(
                user,
                policy,
                Lines {
                    path: &path,
                    start: symbol.start_line,
                    end: symbol.end_line,
                    max: MAX_BODY_LINES,
                },
                &mut redactor,
                &mut counts,
            );
            out.push(SymbolDetail {
                hit,
                doc: shows_declarations.then(|| symbol.doc.clone()),
                parent: symbol
                    .parent
                    .and_then(|p| file.parsed.symbols.get(p as usize))
                    .map(|p| p.qualified_name.clone()),
                members: graph
                    .members(&path, index)
                    .into_iter()
                    .filter_map(|m| file.parsed.symbols.get(m as usize))
                    .map(|m| m.qualified_name.clone())
                    .collect(),
                callers: Self::related(&graph, &graph.callers(&path, index)),
                callees: Self::related(&graph, &graph.callees(&path, index)),
                body,
            });
        }
        Ok(out)
    }

    /// The symbol tree of one file.
    pub fn outline(
        &self,
        user: &User,
        repo: &str,
        path: &str,
    ) -> Result<Vec<OutlineEntry>, ContextError> {
        let (policy, graph) = self.allowed_repo(user, repo)?;
        let file = graph.files.get(path).ok_or_else(|| {
            ContextError::BadRequest(format!("no file `{path}` in `{repo}` at {}", graph.commit))
        })?;
        let shows_declarations = policy.disclosure != Disclosure::Structure;
        Ok(moat_index::outline(&file.parsed.symbols)
            .into_iter()
            .filter_map(|(depth, index)| {
                file.parsed
                    .symbols
                    .get(index as usize)
                    .map(|s| OutlineEntry {
                        depth,
                        kind: s.kind.as_str().to_string(),
                        name: s.name.clone(),
                        qualified_name: s.qualified_name.clone(),
                        start_line: s.start_line,
                        end_line: s.end_line,
                        signature: shows_declarations.then(|| s.signature.clone()),
                    })
            })
            .collect())
    }

    /// Where `name` is used, with the lines that mention it.
    pub fn references(
        &self,
        user: &User,
        name: &str,
        repo: Option<&str>,
    ) -> Result<Vec<UseSite>, ContextError> {
        let scope = self.scope(user, repo)?;
        let mut out = Vec::new();
        for policy in scope {
            let Some(graph) = self.index.graph(&policy.name)? else {
                continue;
            };
            let git = self.index.git(&policy.name, &policy.source).ok();
            for (path, enclosing) in graph.use_sites(name) {
                let Some(file) = graph.files.get(&path) else {
                    continue;
                };
                let (start, end) = match enclosing.and_then(|i| graph.symbol(&path, i)) {
                    Some(symbol) => (symbol.start_line, symbol.end_line),
                    None => (1, file.lines.max(1)),
                };
                // Lines are structure (shown at every tier); the text is read only to
                // find them and is not returned. Below `source`, comments and string
                // literals are masked first: a line that names the symbol only in a
                // comment would show where a hidden word sits.
                let lines = git
                    .as_ref()
                    .and_then(|g| g.read_blob(&file.blob).ok())
                    .and_then(|b| String::from_utf8(b).ok())
                    .and_then(|text| match policy.disclosure {
                        Disclosure::Source => Some(text),
                        _ => moat_index::mask_literals_and_comments(
                            file.language?,
                            &text,
                            std::time::Duration::from_secs(2),
                        ),
                    })
                    .map(|text| lines_mentioning(&text, name, start, end))
                    .unwrap_or_default();
                out.push(UseSite {
                    repo: policy.name.clone(),
                    commit: graph.commit.clone(),
                    path: path.clone(),
                    lines,
                    enclosing: enclosing
                        .and_then(|i| graph.symbol(&path, i))
                        .map(|s| s.qualified_name.clone()),
                    tier: policy.tier,
                });
            }
        }
        Ok(out)
    }

    /// Layout, languages, entry points and the most central symbols of a repository.
    pub fn overview(&self, user: &User, repo: &str) -> Result<RepoOverview, ContextError> {
        let (policy, graph) = self.allowed_repo(user, repo)?;
        let overview = &graph.overview;
        let points = |list: &[moat_index::graph::EntryPoint]| {
            list.iter()
                .map(|e| Related {
                    path: e.path.clone(),
                    qualified_name: e.qualified_name.clone(),
                    kind: e.kind.as_str().to_string(),
                    start_line: e.line,
                })
                .collect()
        };
        Ok(RepoOverview {
            repo: repo.to_string(),
            commit: graph.commit.clone(),
            tier: policy.tier,
            disclosure: policy.disclosure,
            languages: overview
                .languages
                .iter()
                .map(|(l, (files, lines))| (l.clone(), *files, *lines))
                .collect(),
            directories: overview
                .directories
                .iter()
                .map(|(d, s)| (d.clone(), s.files, s.languages.clone()))
                .collect(),
            entry_points: points(&overview.entry_points),
            central: points(&overview.central),
        })
    }
}

/// Lines in `start..=end` where `name` appears as a whole word.
fn lines_mentioning(text: &str, name: &str, start: u32, end: u32) -> Vec<u32> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    text.lines()
        .enumerate()
        .map(|(i, line)| (i as u32 + 1, line))
        .filter(|(n, _)| (start..=end).contains(n))
        .filter(|(_, line)| {
            line.match_indices(name).any(|(at, _)| {
                let before = line[..at].chars().next_back();
                let after = line[at + name.len()..].chars().next();
                !before.is_some_and(is_word) && !after.is_some_and(is_word)
            })
        })
        .map(|(n, _)| n)
        .take(20)
        .collect()
}

/// Lines of one file, as `read_source` returns them.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceLines {
    pub commit: String,
    pub tier: Tier,
    pub disclosure: Disclosure,
    pub text: String,
    /// The last line returned (the file may end before the range asked for).
    pub end_line: u32,
    pub redactions: BTreeMap<String, u64>,
    pub rules: Vec<String>,
}

impl CodeContext {
    /// Raw lines of a file, only where the tier allows source: decided as
    /// `ReadSource`; the path must be a file of the indexed commit (no traversal,
    /// nothing outside the index).
    pub fn read_source(
        &self,
        user: &User,
        repo: &str,
        path: &str,
        start: u32,
        end: u32,
    ) -> Result<SourceLines, ContextError> {
        let decision = self.authorizer.decide(&user.id.0, Action::ReadSource, repo);
        if !decision.allow {
            return Err(ContextError::Denied(format!(
                "{}; use get_symbol or get_file_outline, which show what this tier allows",
                decision.reason
            )));
        }
        let (policy, graph) = self.allowed_repo(user, repo)?;
        let file = graph.files.get(path).ok_or_else(|| {
            ContextError::BadRequest(format!(
                "no file `{path}` in `{repo}` at {}; use paths exactly as search results give them",
                graph.commit
            ))
        })?;
        let mut redactor = moat_dlp::Redactor::new(&self.detector, rand::random());
        let mut redactions = BTreeMap::new();
        let text = self
            .read_lines(
                user,
                policy,
                Lines {
                    path,
                    start,
                    end,
                    max: end.saturating_sub(start) + 1,
                },
                &mut redactor,
                &mut redactions,
            )
            .ok_or_else(|| {
                ContextError::BadRequest(format!(
                    "`{path}` cannot be shown (binary, unreadable or not maskable)"
                ))
            })?;
        let shown = text.lines().count() as u32;
        Ok(SourceLines {
            commit: graph.commit.clone(),
            tier: policy.tier,
            disclosure: policy.disclosure,
            text,
            end_line: (start + shown).saturating_sub(1).min(file.lines.max(start)),
            redactions,
            rules: decision.rules,
        })
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

//! Navigating what search found: a symbol with its body and relations, a file's
//! outline, the uses of a symbol, a repository's overview; each shaped by the tier.

use super::*;

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
    pub(super) fn allowed_repo(
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
            _ => return Err(ContextError::Denied(Denial::by(decision))),
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

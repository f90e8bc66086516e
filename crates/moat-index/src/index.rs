//! [`CodeIndex`]: the index directory of one node — a tantivy index shared by every
//! repository and one graph file per repository — and the questions asked of it.
//!
//! Layout: `FORMAT` (the format version; another version wipes and rebuilds the
//! directory), `search/` (tantivy), `repos/<name>.graph`, `runs/<name>-<digest>.json` (each repository's last run, for `/metrics`). Graphs are cached in memory
//! and reloaded when their file changes, so a server sees a re-index by the CLI.

use crate::build::{Build, IndexOptions, IndexReport, Progress, RepoSpec, Scrubber};
use crate::graph::RepoGraph;
use crate::prior::{Asked, blend, path_prior};
use crate::search::{Ranking, SearchIndex, SearchQuery};
use crate::{IndexError, Language, Symbol, SymbolKind};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

/// Bumped whenever the on-disk layout or the meaning of indexed data changes.
pub const INDEX_FORMAT: u32 = 2;

/// What the index needs from the rest of Moat.
pub struct IndexSettings {
    pub options: IndexOptions,
    /// Secrets and personal data are masked with this before anything is indexed.
    pub detector: moat_dlp::Detector,
    /// Keys the fingerprints of masked values.
    pub fingerprint_key: Vec<u8>,
    /// Changes when the detection rules change (forces a re-index).
    pub dlp_version: String,
}

/// One ranked search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub repo: String,
    pub commit: String,
    pub path: String,
    pub language: Option<Language>,
    /// The symbol's number in its file; `None` for a whole-file hit.
    pub symbol: Option<u32>,
    pub kind: SymbolKind,
    pub name: String,
    pub qualified_name: String,
    pub signature: String,
    pub summary: String,
    pub start_line: u32,
    pub end_line: u32,
    pub score: f32,
}

struct CachedGraph {
    modified: Option<SystemTime>,
    graph: Arc<RepoGraph>,
}

pub struct CodeIndex {
    directory: PathBuf,
    search: SearchIndex,
    /// Replaced when the detection rules change while serving ([`CodeIndex::set_settings`]).
    settings: RwLock<Arc<IndexSettings>>,
    graphs: RwLock<HashMap<String, CachedGraph>>,
    /// One indexing run at a time within this process.
    writing: Mutex<()>,
    ranking: RwLock<Ranking>,
    /// Opened repositories, by name and source: opening one reads its config and
    /// refs, too slow to repeat for every snippet.
    git: Mutex<HashMap<String, (PathBuf, Arc<crate::git::GitRepo>)>>,
}

impl CodeIndex {
    /// Opens the index in `directory`, creating it, or rebuilding it from nothing when
    /// it was written by another format version.
    pub fn open(directory: &Path, settings: IndexSettings) -> Result<CodeIndex, IndexError> {
        let format_file = directory.join("FORMAT");
        let expected = format!("moat-index {INDEX_FORMAT}\n");
        match std::fs::read_to_string(&format_file) {
            Ok(found) if found == expected => {}
            Ok(found) => {
                tracing::warn!(
                    directory = %directory.display(),
                    found = found.trim(),
                    "index written by another format version; rebuilding it"
                );
                for sub in ["search", "repos"] {
                    let path = directory.join(sub);
                    if path.exists() {
                        std::fs::remove_dir_all(&path).map_err(|e| IndexError::io(&path, e))?;
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(IndexError::io(&format_file, e)),
        }
        let repos = directory.join("repos");
        std::fs::create_dir_all(&repos).map_err(|e| IndexError::io(&repos, e))?;
        let search = SearchIndex::open_or_create(&directory.join("search"))?;
        std::fs::write(&format_file, expected).map_err(|e| IndexError::io(&format_file, e))?;
        Ok(CodeIndex {
            directory: directory.to_path_buf(),
            search,
            settings: RwLock::new(Arc::new(settings)),
            graphs: RwLock::new(HashMap::new()),
            writing: Mutex::new(()),
            ranking: RwLock::new(Ranking::default()),
            git: Mutex::new(HashMap::new()),
        })
    }

    fn settings(&self) -> Arc<IndexSettings> {
        match self.settings.read() {
            Ok(settings) => settings.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Indexes from now on with `settings` (new detection rules): each repository is
    /// indexed afresh at its next run, as the settings digest it was built with no
    /// longer matches. A run under way finishes with the settings it started with.
    pub fn set_settings(&self, settings: IndexSettings) {
        match self.settings.write() {
            Ok(mut current) => *current = Arc::new(settings),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(settings),
        }
    }

    /// The detection rules' version indexing runs with.
    pub fn dlp_version(&self) -> String {
        self.settings().dlp_version.clone()
    }

    fn graph_path(&self, repo: &str) -> PathBuf {
        self.directory
            .join("repos")
            .join(format!("{}.graph", file_stem(repo)))
    }

    /// The indexed graph of a repository, reloaded if another process re-indexed it.
    pub fn graph(&self, repo: &str) -> Result<Option<Arc<RepoGraph>>, IndexError> {
        let path = self.graph_path(repo);
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        if let Ok(cache) = self.graphs.read()
            && let Some(cached) = cache.get(repo)
            && cached.modified == modified
        {
            return Ok(Some(cached.graph.clone()));
        }
        let Some(graph) = RepoGraph::load(&path)? else {
            return Ok(None);
        };
        let graph = Arc::new(graph);
        // A graph newer than our reader means new documents too.
        self.search.reload()?;
        if let Ok(mut cache) = self.graphs.write() {
            cache.insert(
                repo.to_string(),
                CachedGraph {
                    modified,
                    graph: graph.clone(),
                },
            );
        }
        Ok(Some(graph))
    }

    /// Indexes a repository at its reference: incrementally when an earlier commit is
    /// indexed with the same settings, from nothing otherwise.
    pub fn index_repo(
        &self,
        spec: &RepoSpec<'_>,
        progress: &dyn Progress,
    ) -> Result<IndexReport, IndexError> {
        let _guard = self.writing.lock().map_err(|_| IndexError::Busy)?;
        let settings = self.settings();
        let previous = self.graph(spec.name)?;
        let build = Build {
            search: &self.search,
            scrubber: Scrubber {
                detector: &settings.detector,
                fingerprint_key: &settings.fingerprint_key,
            },
            options: &settings.options,
            settings: crate::build::settings_digest(
                spec.exclude,
                &settings.options,
                &settings.dlp_version,
            ),
        };
        // Own the previous graph so unchanged files move into the new one uncopied.
        if let Ok(mut cache) = self.graphs.write() {
            cache.remove(spec.name);
        }
        let previous =
            previous.map(|graph| Arc::try_unwrap(graph).unwrap_or_else(|shared| (*shared).clone()));
        let (graph, mut report) = build.run(spec, previous, progress)?;
        if report.unchanged {
            let path = self.graph_path(spec.name);
            let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
            if let Ok(mut cache) = self.graphs.write() {
                cache.insert(
                    spec.name.to_string(),
                    CachedGraph {
                        modified,
                        graph: Arc::new(graph),
                    },
                );
            }
        } else {
            let started = std::time::Instant::now();
            let path = self.graph_path(spec.name);
            graph.save(&path)?;
            report
                .phases
                .insert("save".into(), started.elapsed().as_secs_f64());
            let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
            if let Ok(mut cache) = self.graphs.write() {
                cache.insert(
                    spec.name.to_string(),
                    CachedGraph {
                        modified,
                        graph: Arc::new(graph),
                    },
                );
            }
        }
        Ok(report)
    }

    /// Removes a repository's documents and graph.
    /// Records the outcome of indexing `repo` (see [`crate::runs`]).
    pub fn record_run(
        &self,
        repo: &str,
        at: i64,
        outcome: Result<&str, &str>,
    ) -> Result<crate::runs::IndexRun, IndexError> {
        crate::runs::record(&self.directory, repo, at, outcome)
            .map_err(|e| IndexError::io(&self.directory.join("runs"), e))
    }

    /// Each repository's last indexing run.
    pub fn runs(&self) -> Vec<crate::runs::IndexRun> {
        crate::runs::all(&self.directory)
    }

    pub fn remove_repo(&self, repo: &str) -> Result<bool, IndexError> {
        let _guard = self.writing.lock().map_err(|_| IndexError::Busy)?;
        let mut writer = self.search.writer()?;
        writer.delete_term(self.search.repo_term(repo));
        writer.commit()?;
        self.search.reload()?;
        if let Ok(mut cache) = self.graphs.write() {
            cache.remove(repo);
        }
        let path = self.graph_path(repo);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(IndexError::io(&path, e)),
        }
    }

    /// The repository `name` at `source`, opened once and shared.
    pub fn git(&self, name: &str, source: &Path) -> Result<Arc<crate::git::GitRepo>, IndexError> {
        if let Ok(cache) = self.git.lock()
            && let Some((cached_source, repo)) = cache.get(name)
            && cached_source == source
        {
            return Ok(repo.clone());
        }
        let repo = Arc::new(crate::git::GitRepo::open(name, source)?);
        if let Ok(mut cache) = self.git.lock() {
            cache.insert(name.to_string(), (source.to_path_buf(), repo.clone()));
        }
        Ok(repo)
    }

    /// Replaces the ranking parameters (benchmarks sweep them).
    pub fn set_ranking(&self, ranking: Ranking) {
        if let Ok(mut current) = self.ranking.write() {
            *current = ranking;
        }
    }

    /// Ranked symbols and files from the repositories in `query.repos` only, each
    /// ranked only on what its caller is shown of it.
    pub fn search(&self, query: &SearchQuery) -> Result<Vec<Hit>, IndexError> {
        Ok(self.search_understood(query)?.0)
    }

    /// [`Self::search`], with what the query was read as (its parts, the files and
    /// symbols it names), for the caller to report.
    pub fn search_understood(
        &self,
        query: &SearchQuery,
    ) -> Result<(Vec<Hit>, crate::Understanding), IndexError> {
        let understanding = crate::understand(&query.text);
        let hits = self.ranked(query, &understanding)?;
        Ok((hits, understanding))
    }

    fn ranked(
        &self,
        query: &SearchQuery,
        understanding: &crate::Understanding,
    ) -> Result<Vec<Hit>, IndexError> {
        let ranking = self.ranking.read().map(|r| *r).unwrap_or_default();
        let prepared = self.search.prepare(understanding, &query.text);
        let asked = Asked::from(understanding, &query.text);
        let limit = query.limit.clamp(1, 100);
        let mut graphs = HashMap::new();
        for repo in &query.repos {
            if let Some(graph) = self.graph(&repo.name)? {
                graphs.insert(repo.name.as_str(), graph);
            }
        }
        let candidates =
            self.search
                .candidates(query, &prepared, (limit * 20).max(200), &ranking)?;
        // How much each file as a whole is about the question (0..1).
        let file_scores = if query.kind.is_none() || query.kind == Some(SymbolKind::File) {
            self.search.file_scores(query, &prepared, 50, &ranking)?
        } else {
            Vec::new()
        };
        let best_file = file_scores
            .first()
            .map_or(1.0, |c| c.bm25.max(f32::MIN_POSITIVE));
        let file_support: HashMap<(&str, &str), f32> = file_scores
            .iter()
            .map(|c| ((c.repo.as_str(), c.path.as_str()), c.bm25 / best_file))
            .collect();
        let mut hits = Vec::with_capacity(candidates.len());
        for candidate in candidates {
            let Some(graph) = graphs.get(candidate.repo.as_str()) else {
                continue;
            };
            let Some(file) = graph.files.get(&candidate.path) else {
                continue;
            };
            let hit = match candidate.symbol {
                Some(index) => {
                    let Some(symbol) = file.parsed.symbols.get(index as usize) else {
                        continue;
                    };
                    let rank = file.rank.get(index as usize).copied().unwrap_or(0.0);
                    Hit {
                        repo: candidate.repo.clone(),
                        commit: graph.commit.clone(),
                        path: candidate.path.clone(),
                        language: file.language,
                        symbol: Some(index),
                        kind: symbol.kind,
                        name: symbol.name.clone(),
                        qualified_name: symbol.qualified_name.clone(),
                        signature: symbol.signature.clone(),
                        summary: symbol.summary().to_string(),
                        start_line: symbol.start_line,
                        end_line: symbol.end_line,
                        score: blend(candidate.bm25, symbol.kind, rank, &ranking)
                            * path_prior(&candidate.path, &asked, &ranking),
                    }
                }
                None => Hit {
                    repo: candidate.repo.clone(),
                    commit: graph.commit.clone(),
                    path: candidate.path.clone(),
                    language: file.language,
                    symbol: None,
                    kind: SymbolKind::File,
                    name: candidate
                        .path
                        .rsplit('/')
                        .next()
                        .unwrap_or(&candidate.path)
                        .to_string(),
                    qualified_name: candidate.path.clone(),
                    signature: String::new(),
                    summary: crate::summary_of(&file.parsed.doc).to_string(),
                    start_line: 1,
                    end_line: file.lines.max(1),
                    score: blend(candidate.bm25, SymbolKind::File, 0.0, &ranking)
                        * path_prior(&candidate.path, &asked, &ranking),
                },
            };
            hits.push(hit);
        }
        // The symbol's own match and its file's, each scaled to the best of its kind,
        // added: a symbol of the file that answers the question is lifted above an
        // equally named symbol elsewhere.
        let best_hit = hits
            .iter()
            .map(|h| h.score)
            .fold(f32::MIN_POSITIVE, f32::max);
        for hit in &mut hits {
            let support = file_support
                .get(&(hit.repo.as_str(), hit.path.as_str()))
                .copied()
                .unwrap_or(0.0)
                * path_prior(&hit.path, &asked, &ranking);
            let weight = if hit.symbol.is_some() {
                1.0
            } else {
                SymbolKind::File.prior()
            };
            hit.score = hit.score / best_hit + ranking.file_support * support * weight;
        }
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.path.cmp(&b.path))
                .then_with(|| a.start_line.cmp(&b.start_line))
        });
        // At most two results per file before any file's third: a list of distinct
        // places answers more than three overloads of one function.
        let mut per_file: HashMap<(String, String), usize> = HashMap::new();
        let (mut first, mut later) = (Vec::with_capacity(limit), Vec::new());
        for hit in hits {
            let seen = per_file
                .entry((hit.repo.clone(), hit.path.clone()))
                .or_insert(0);
            *seen += 1;
            if *seen <= MAX_HITS_PER_FILE {
                first.push(hit);
            } else {
                later.push(hit);
            }
        }
        first.extend(later);
        first.truncate(limit);
        Ok(first)
    }

    /// Definitions named `name` (or qualified as `name`) in the given repositories.
    pub fn find_definitions(
        &self,
        repos: &[String],
        name: &str,
    ) -> Result<Vec<(Arc<RepoGraph>, String, u32)>, IndexError> {
        let mut out = Vec::new();
        for repo in repos {
            let Some(graph) = self.graph(repo)? else {
                continue;
            };
            for (path, file) in &graph.files {
                for (index, symbol) in file.parsed.symbols.iter().enumerate() {
                    if symbol.name == name || symbol.qualified_name == name {
                        out.push((graph.clone(), path.clone(), index as u32));
                    }
                }
            }
        }
        out.sort_by(|a, b| {
            let rank = |(g, p, i): &(Arc<RepoGraph>, String, u32)| g.rank(p, *i);
            rank(b).total_cmp(&rank(a))
        });
        Ok(out)
    }

    /// Number of search documents (symbols and files), for reports.
    pub fn documents(&self) -> u64 {
        self.search.documents()
    }

    /// Bytes on disk of the search index and of the repository graphs.
    pub fn disk_bytes_by_part(&self) -> (u64, u64) {
        (
            directory_bytes(&self.directory.join("search")),
            directory_bytes(&self.directory.join("repos")),
        )
    }

    /// Bytes the index directory takes on disk.
    pub fn disk_bytes(&self) -> u64 {
        directory_bytes(&self.directory)
    }
}

fn directory_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => directory_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// Results from one file before others get a turn.
const MAX_HITS_PER_FILE: usize = 2;

/// A repository's name as a file name: safe characters kept, others `_`, and a digest
/// of the name so `a/b` and `a_b` never share a file.
pub(crate) fn file_stem(repo: &str) -> String {
    let safe: String = repo
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let digest = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(repo.as_bytes())[..4]);
    format!("{safe}-{digest}")
}

/// The symbols of a file as a tree: (depth, index) in source order.
pub fn outline(symbols: &[Symbol]) -> Vec<(usize, u32)> {
    let mut children: HashMap<Option<u32>, Vec<u32>> = HashMap::new();
    for (index, symbol) in symbols.iter().enumerate() {
        children
            .entry(symbol.parent)
            .or_default()
            .push(index as u32);
    }
    let mut out = Vec::with_capacity(symbols.len());
    let mut stack: Vec<(usize, u32)> = children
        .get(&None)
        .map(|roots| roots.iter().rev().map(|&i| (0, i)).collect())
        .unwrap_or_default();
    let mut seen = vec![false; symbols.len()];
    while let Some((depth, index)) = stack.pop() {
        if std::mem::replace(&mut seen[index as usize], true) {
            continue;
        }
        out.push((depth, index));
        if let Some(kids) = children.get(&Some(index)) {
            stack.extend(kids.iter().rev().map(|&k| (depth + 1, k)));
        }
    }
    out
}

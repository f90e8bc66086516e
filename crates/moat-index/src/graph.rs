//! The repository graph: every indexed file's symbols and relations, the resolution of
//! references by name, centrality (PageRank) and the repository overview.
//!
//! Persisted per repository as one file: a magic line, a format version, the SHA-256
//! of the payload and the payload (postcard, then lz4). A file with another version or a bad
//! checksum is treated as absent, so the repository is re-indexed rather than misread.

use crate::{IndexError, Language, ParsedFile, SkipReason, SymbolKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

const MAGIC: &[u8; 10] = b"MOATGRAPH\n";
pub const GRAPH_FORMAT: u32 = 4;

/// A sensitive value found while indexing, without the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRecord {
    pub line: u32,
    pub rule: String,
    pub kind: String,
    pub severity: String,
    /// Keyed fingerprint of the value (never the value).
    pub fingerprint: String,
}

/// One file of the indexed commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    pub blob: String,
    pub language: Option<Language>,
    pub bytes: u64,
    pub lines: u32,
    /// Why the file has no symbols, when it was skipped.
    pub skipped: Option<SkipReason>,
    pub parsed: ParsedFile,
    /// Centrality of each symbol, parallel to `parsed.symbols`.
    pub rank: Vec<f32>,
    pub findings: Vec<FindingRecord>,
    /// Winnowing fingerprints of the (scrubbed) text, sorted: how the gateway
    /// recognises this file's code in a prompt ([`crate::fingerprint`]).
    pub fingerprints: Vec<u32>,
}

/// A symbol's address within a repository graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SymbolId<'g> {
    pub path: &'g str,
    pub index: u32,
}

/// Everything indexed of one repository at one commit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RepoGraph {
    pub repo: String,
    pub commit: String,
    /// Digest of the settings it was built with; other settings rebuild it.
    pub settings: String,
    pub files: BTreeMap<String, FileEntry>,
    pub overview: Overview,
}

/// The shape of a repository, for `repo_overview`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    /// Files and lines per language.
    pub languages: BTreeMap<String, (u64, u64)>,
    /// Top-level directories: files, and the languages in them.
    pub directories: BTreeMap<String, DirectorySummary>,
    /// `path#qualified_name` of main functions, CLI definitions and HTTP handlers.
    pub entry_points: Vec<EntryPoint>,
    /// The most central symbols, best first.
    pub central: Vec<EntryPoint>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DirectorySummary {
    pub files: u64,
    pub languages: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryPoint {
    pub path: String,
    pub qualified_name: String,
    pub kind: SymbolKind,
    pub line: u32,
    /// Why it is listed (`main`, `http handler`, `cli`, or the rank).
    pub reason: String,
}

impl RepoGraph {
    pub fn save(&self, path: &Path) -> Result<(), IndexError> {
        let encoded = postcard::to_stdvec(self).map_err(|e| IndexError::Corrupt {
            what: path.display().to_string(),
            reason: format!("cannot encode: {e}"),
        })?;
        let payload = lz4_flex::compress_prepend_size(&encoded);
        let mut bytes = Vec::with_capacity(payload.len() + 64);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&GRAPH_FORMAT.to_le_bytes());
        bytes.extend_from_slice(&Sha256::digest(&payload));
        bytes.extend_from_slice(&payload);
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, &bytes).map_err(|e| IndexError::io(&temporary, e))?;
        std::fs::rename(&temporary, path).map_err(|e| IndexError::io(path, e))
    }

    /// The stored graph, or `None` when absent, of another format version or corrupt.
    pub fn load(path: &Path) -> Result<Option<RepoGraph>, IndexError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(IndexError::io(path, e)),
        };
        let header = MAGIC.len() + 4 + 32;
        if bytes.len() < header || &bytes[..MAGIC.len()] != MAGIC {
            tracing::warn!(path = %path.display(), "not a repository graph; rebuilding");
            return Ok(None);
        }
        let version = u32::from_le_bytes(
            bytes[MAGIC.len()..MAGIC.len() + 4]
                .try_into()
                .unwrap_or_default(),
        );
        if version != GRAPH_FORMAT {
            tracing::info!(path = %path.display(), version, "older graph format; rebuilding");
            return Ok(None);
        }
        let checksum = &bytes[MAGIC.len() + 4..header];
        let payload = &bytes[header..];
        if Sha256::digest(payload).as_slice() != checksum {
            tracing::warn!(path = %path.display(), "graph checksum mismatch; rebuilding");
            return Ok(None);
        }
        let Ok(decompressed) = lz4_flex::decompress_size_prepended(payload) else {
            tracing::warn!(path = %path.display(), "graph does not decompress; rebuilding");
            return Ok(None);
        };
        match postcard::from_bytes(&decompressed) {
            Ok(graph) => Ok(Some(graph)),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "graph does not decode; rebuilding");
                Ok(None)
            }
        }
    }

    pub fn symbol(&self, path: &str, index: u32) -> Option<&crate::Symbol> {
        self.files.get(path)?.parsed.symbols.get(index as usize)
    }

    pub fn rank(&self, path: &str, index: u32) -> f32 {
        self.files
            .get(path)
            .and_then(|f| f.rank.get(index as usize))
            .copied()
            .unwrap_or(0.0)
    }

    /// Definitions by name, for resolution.
    pub fn definitions(&self) -> HashMap<&str, Vec<SymbolId<'_>>> {
        let mut definitions: HashMap<&str, Vec<SymbolId<'_>>> = HashMap::new();
        for (path, file) in &self.files {
            for (index, symbol) in file.parsed.symbols.iter().enumerate() {
                definitions
                    .entry(symbol.name.as_str())
                    .or_default()
                    .push(SymbolId {
                        path,
                        index: index as u32,
                    });
            }
        }
        definitions
    }

    /// The definitions a name used in `from_path` most likely means: the same file,
    /// else files its imports name, else the repository if the name is not too common.
    pub fn resolve<'g>(
        &'g self,
        definitions: &HashMap<&str, Vec<SymbolId<'g>>>,
        from_path: &str,
        name: &str,
    ) -> Vec<SymbolId<'g>> {
        let imports = self
            .files
            .get(from_path)
            .map(|f| import_words(&f.parsed.imports))
            .unwrap_or_default();
        resolve_with(definitions, &imports, from_path, name)
    }

    /// Recomputes centrality and the overview from the files.
    pub fn analyse(&mut self) {
        let ranks = self.pagerank();
        for (path, file) in self.files.iter_mut() {
            file.rank = ranks.get(path.as_str()).cloned().unwrap_or_default();
        }
        self.overview = self.compute_overview();
    }

    fn pagerank(&self) -> HashMap<String, Vec<f32>> {
        // Number the symbols.
        let mut offsets: HashMap<&str, usize> = HashMap::new();
        let mut count = 0usize;
        for (path, file) in &self.files {
            offsets.insert(path, count);
            count += file.parsed.symbols.len();
        }
        if count == 0 {
            return HashMap::new();
        }
        let definitions = self.definitions();
        let imports: HashMap<&str, HashSet<&str>> = self
            .files
            .iter()
            .map(|(path, file)| (path.as_str(), import_words(&file.parsed.imports)))
            .collect();
        let empty = HashSet::new();
        // Edges from each symbol to what its body references, weight split among the
        // candidates a name resolves to.
        let mut edges: Vec<(u32, u32, f32)> = Vec::new();
        let mut out_weight = vec![0f32; count];
        // Global symbol numbers a name resolves to from one file, computed once per
        // file and name.
        let mut resolved: HashMap<&str, Vec<u32>> = HashMap::new();
        for (path, file) in &self.files {
            let base = offsets[path.as_str()];
            let file_imports = imports.get(path.as_str()).unwrap_or(&empty);
            resolved.clear();
            for (index, symbol) in file.parsed.symbols.iter().enumerate() {
                let from = base + index;
                for name in symbol.references.iter() {
                    if name == symbol.name {
                        continue;
                    }
                    let targets = resolved.entry(name).or_insert_with(|| {
                        resolve_with(&definitions, file_imports, path, name)
                            .into_iter()
                            .map(|t| (offsets[t.path] + t.index as usize) as u32)
                            .collect()
                    });
                    if targets.is_empty() {
                        continue;
                    }
                    let weight = 1.0 / targets.len() as f32;
                    for &to in targets.iter() {
                        let to = to as usize;
                        if to != from {
                            edges.push((from as u32, to as u32, weight));
                            out_weight[from] += weight;
                        }
                    }
                }
                // A member is reachable from its container.
                if let Some(parent) = symbol.parent {
                    let parent = base + parent as usize;
                    edges.push((parent as u32, from as u32, 0.5));
                    out_weight[parent] += 0.5;
                }
            }
        }
        let damping = 0.85f32;
        let uniform = 1.0 / count as f32;
        let mut rank = vec![uniform; count];
        let mut next = vec![0f32; count];
        for _ in 0..20 {
            let dangling: f32 = rank
                .iter()
                .zip(&out_weight)
                .filter(|(_, w)| **w == 0.0)
                .map(|(r, _)| r)
                .sum();
            let base = (1.0 - damping) * uniform + damping * dangling * uniform;
            next.iter_mut().for_each(|n| *n = base);
            for &(from, to, weight) in &edges {
                let from = from as usize;
                next[to as usize] += damping * rank[from] * weight / out_weight[from];
            }
            std::mem::swap(&mut rank, &mut next);
        }
        // Scale so the most central symbol of the repository is 1.
        let max = rank
            .iter()
            .copied()
            .fold(0f32, f32::max)
            .max(f32::MIN_POSITIVE);
        let mut out = HashMap::new();
        for (path, file) in &self.files {
            let base = offsets[path.as_str()];
            out.insert(
                path.clone(),
                rank[base..base + file.parsed.symbols.len()]
                    .iter()
                    .map(|r| r / max)
                    .collect(),
            );
        }
        out
    }

    fn compute_overview(&self) -> Overview {
        let mut overview = Overview::default();
        for (path, file) in &self.files {
            let language = file.language.map(|l| l.as_str()).unwrap_or("other");
            let entry = overview
                .languages
                .entry(language.to_string())
                .or_insert((0, 0));
            entry.0 += 1;
            entry.1 += file.lines as u64;
            let directory = match path.split_once('/') {
                Some((top, _)) => top.to_string(),
                None => ".".to_string(),
            };
            let summary = overview.directories.entry(directory).or_default();
            summary.files += 1;
            if file.language.is_some() && !summary.languages.iter().any(|l| l == language) {
                summary.languages.push(language.to_string());
            }
            let file_is_script = file.parsed.references.contains("__name__");
            for symbol in &file.parsed.symbols {
                if let Some(reason) = entry_point_reason(symbol, file_is_script) {
                    overview.entry_points.push(EntryPoint {
                        path: path.clone(),
                        qualified_name: symbol.qualified_name.clone(),
                        kind: symbol.kind,
                        line: symbol.start_line,
                        reason: reason.to_string(),
                    });
                }
            }
        }
        overview.entry_points.truncate(200);
        let mut ranked: Vec<(f32, &str, &crate::Symbol)> = self
            .files
            .iter()
            .flat_map(|(path, file)| {
                file.parsed
                    .symbols
                    .iter()
                    .zip(&file.rank)
                    .filter(|(s, _)| !matches!(s.kind, SymbolKind::Field | SymbolKind::Variant))
                    .map(move |(s, r)| (*r, path.as_str(), s))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        overview.central = ranked
            .into_iter()
            .take(20)
            .map(|(rank, path, symbol)| EntryPoint {
                path: path.to_string(),
                qualified_name: symbol.qualified_name.clone(),
                kind: symbol.kind,
                line: symbol.start_line,
                reason: format!("rank {rank:.3}"),
            })
            .collect();
        overview
    }
}

/// The words of a file's import statements (`use crate::http::router;` → `crate`,
/// `http`, `router`), which name the modules it draws on.
fn import_words(imports: &[String]) -> HashSet<&str> {
    imports
        .iter()
        .flat_map(|import| import.split(|c: char| !(c.is_alphanumeric() || c == '_')))
        .filter(|word| word.len() > 1)
        .collect()
}

fn resolve_with<'g>(
    definitions: &HashMap<&str, Vec<SymbolId<'g>>>,
    imports: &HashSet<&str>,
    from_path: &str,
    name: &str,
) -> Vec<SymbolId<'g>> {
    let Some(candidates) = definitions.get(name) else {
        return Vec::new();
    };
    let same_file: Vec<_> = candidates
        .iter()
        .filter(|c| c.path == from_path)
        .copied()
        .collect();
    if !same_file.is_empty() {
        return same_file;
    }
    let imported: Vec<_> = candidates
        .iter()
        .filter(|c| imports.contains(module_stem(c.path)))
        .copied()
        .collect();
    if !imported.is_empty() {
        return imported;
    }
    if candidates.len() <= MAX_AMBIGUITY {
        candidates.clone()
    } else {
        Vec::new()
    }
}

/// Names shared by more definitions than this are not resolved repository-wide.
const MAX_AMBIGUITY: usize = 8;

/// `src/http/router.rs` → `router`: what an import of that file usually names.
fn module_stem(path: &str) -> &str {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split('.').next().unwrap_or(file);
    if matches!(stem, "mod" | "index" | "__init__" | "lib") {
        let mut parts = path.rsplit('/');
        parts.next();
        parts.next().unwrap_or(stem)
    } else {
        stem
    }
}

fn entry_point_reason(symbol: &crate::Symbol, file_is_script: bool) -> Option<&'static str> {
    let signature = symbol.signature.as_str();
    let is_function = matches!(symbol.kind, SymbolKind::Function | SymbolKind::Method);
    if is_function && (symbol.name == "main" || symbol.name == "Main") {
        return Some("main");
    }
    if file_is_script && is_function && symbol.name == "main" {
        return Some("main");
    }
    let http_markers = [
        ".route(",
        ".get(",
        ".post(",
        ".put(",
        ".delete(",
        ".patch(",
        "Mapping(",
        "Mapping ",
        "[HttpGet",
        "[HttpPost",
        "[HttpPut",
        "[HttpDelete",
        "[Route(",
        "#[get(",
        "#[post(",
        "#[put(",
        "#[delete(",
        "#[route(",
        "http.ResponseWriter",
        "@api_view",
    ];
    if is_function && http_markers.iter().any(|m| signature.contains(m)) {
        return Some("http handler");
    }
    let cli_markers = [
        "@click.command",
        "@click.group",
        "derive(Parser",
        "derive(clap::Parser",
        "derive(Subcommand",
        "@app.command",
        "cobra.Command",
    ];
    if cli_markers.iter().any(|m| signature.contains(m)) {
        return Some("cli");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Extractor, Language};
    use std::time::Duration;

    fn file(language: Language, source: &str) -> FileEntry {
        let parsed = Extractor::new()
            .extract(language, source, Duration::from_secs(5))
            .unwrap();
        FileEntry {
            blob: String::new(),
            language: Some(language),
            bytes: source.len() as u64,
            lines: source.lines().count() as u32,
            skipped: None,
            parsed,
            rank: Vec::new(),
            findings: Vec::new(),
            fingerprints: Vec::new(),
        }
    }

    fn graph() -> RepoGraph {
        let mut graph = RepoGraph {
            repo: "r".into(),
            commit: "c".into(),
            ..RepoGraph::default()
        };
        graph.files.insert(
            "src/util.rs".into(),
            file(Language::Rust, "pub fn helper() {}\npub fn unused() {}\n"),
        );
        graph.files.insert(
            "src/a.rs".into(),
            file(
                Language::Rust,
                "use crate::util::helper;\nfn one() { helper(); }\nfn two() { helper(); one(); }\n",
            ),
        );
        graph.files.insert(
            "src/main.rs".into(),
            file(Language::Rust, "fn main() { two(); helper(); }\n"),
        );
        graph.analyse();
        graph
    }

    #[test]
    fn the_most_referenced_symbol_ranks_first() {
        let graph = graph();
        let helper = graph.rank("src/util.rs", 0);
        let unused = graph.rank("src/util.rs", 1);
        assert_eq!(helper, 1.0);
        assert!(unused < helper / 2.0, "unused {unused} helper {helper}");
        assert_eq!(graph.overview.central[0].qualified_name, "helper");
        assert_eq!(graph.overview.entry_points[0].qualified_name, "main");
        assert_eq!(graph.overview.languages["rust"], (3, 6));
    }

    #[test]
    fn resolution_prefers_the_same_file_then_imports() {
        let mut graph = graph();
        graph.files.insert(
            "src/other.rs".into(),
            file(Language::Rust, "fn helper() {}\n"),
        );
        let definitions = graph.definitions();
        let from_a = graph.resolve(&definitions, "src/a.rs", "helper");
        assert_eq!(from_a.len(), 1);
        assert_eq!(from_a[0].path, "src/util.rs");
        let from_other = graph.resolve(&definitions, "src/other.rs", "helper");
        assert_eq!(from_other[0].path, "src/other.rs");
        let from_main = graph.resolve(&definitions, "src/main.rs", "helper");
        assert_eq!(from_main.len(), 2, "no import: every candidate");
    }

    #[test]
    fn graphs_round_trip_and_damaged_files_are_not_misread() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("r.graph");
        let graph = graph();
        graph.save(&path).unwrap();
        assert_eq!(RepoGraph::load(&path).unwrap(), Some(graph));

        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(RepoGraph::load(&path).unwrap(), None, "checksum mismatch");

        bytes[MAGIC.len()] = 0; // another format version
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(RepoGraph::load(&path).unwrap(), None);
        assert_eq!(
            RepoGraph::load(&directory.path().join("absent")).unwrap(),
            None
        );
    }
}

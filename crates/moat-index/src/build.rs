//! Indexing one repository at one commit: list the tree, reuse what did not change
//! (content addressed by blob id), read, scrub and parse the rest on every core, then
//! replace those files' documents and recompute the graph.

use crate::git::{EntryKind, GitRepo};
use crate::graph::{FileEntry, FindingRecord, RepoGraph};
use crate::search::{FILE_DOCUMENT, SearchIndex};
use crate::{Extractor, IndexError, Language, ParsedFile, SkipReason};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tantivy::{IndexWriter, TantivyDocument};

/// Path components of vendored or generated trees.
const VENDORED: &[&str] = &[
    "node_modules",
    "vendor",
    "third_party",
    "bower_components",
    ".venv",
    "site-packages",
    "__pycache__",
    ".git",
    "target",
];

/// What a repository is and how to read it.
#[derive(Debug, Clone)]
pub struct RepoSpec<'a> {
    pub name: &'a str,
    /// A git repository (bare or not) on this machine.
    pub source: &'a Path,
    /// Branch, tag or commit; `None` follows HEAD.
    pub reference: Option<&'a str>,
    /// Globs of paths that never enter the index.
    pub exclude: &'a [String],
}

/// Limits for indexing.
#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// Larger files are skipped as oversized.
    pub max_file_bytes: u64,
    /// Parsing one file may take this long before it is skipped.
    pub parse_deadline: Duration,
    /// Parsing threads; 0 means one per core.
    pub threads: usize,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            max_file_bytes: 1 << 20,
            parse_deadline: Duration::from_secs(5),
            threads: 0,
        }
    }
}

/// Told how indexing advances (the CLI draws progress bars from it).
pub trait Progress: Sync {
    fn begin(&self, _files: u64, _bytes: u64) {}
    fn advance(&self, _files: u64, _bytes: u64) {}
    fn end(&self) {}
}

/// Reports nothing.
pub struct NoProgress;
impl Progress for NoProgress {}

/// What an indexing run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct IndexReport {
    pub repo: String,
    pub commit: String,
    pub previous_commit: Option<String>,
    /// Nothing changed since the indexed commit.
    pub unchanged: bool,
    /// Files in the commit's tree.
    pub files: u64,
    /// Files read and parsed in this run.
    pub parsed: u64,
    /// Files whose blob was already indexed.
    pub reused: u64,
    /// Files no longer in the commit.
    pub removed: u64,
    pub symbols: u64,
    /// Bytes read and parsed in this run.
    pub bytes: u64,
    /// Files skipped, by reason (this run and reused).
    pub skipped: BTreeMap<String, u64>,
    /// Secrets and personal data masked before indexing.
    pub findings: u64,
    /// The first few problems, for people.
    pub warnings: Vec<String>,
    pub seconds: f64,
    /// Seconds spent in each phase (list, parse, commit, analyse, save).
    pub phases: BTreeMap<String, f64>,
}

pub(crate) struct Scrubber<'a> {
    pub detector: &'a moat_dlp::Detector,
    pub fingerprint_key: &'a [u8],
}

struct Job {
    path: String,
    blob: String,
    language: Language,
}

struct Parsed {
    path: String,
    entry: FileEntry,
    warning: Option<String>,
    /// The scrubbed text, for the file's search document (never stored).
    text: String,
}

pub(crate) struct Build<'a> {
    pub search: &'a SearchIndex,
    pub scrubber: Scrubber<'a>,
    pub options: &'a IndexOptions,
    pub settings: String,
}

impl Build<'_> {
    pub fn run(
        &self,
        spec: &RepoSpec<'_>,
        previous: Option<RepoGraph>,
        progress: &dyn Progress,
    ) -> Result<(RepoGraph, IndexReport), IndexError> {
        let started = Instant::now();
        let git = GitRepo::open(spec.name, spec.source)?;
        let commit = git.resolve(spec.reference)?;
        let mut previous = previous.filter(|p| p.settings == self.settings);
        let mut report = IndexReport {
            repo: spec.name.to_string(),
            commit: commit.clone(),
            previous_commit: previous.as_ref().map(|p| p.commit.clone()),
            ..IndexReport::default()
        };
        if let Some(previous) = previous.take_if(|p| p.commit == commit) {
            report.unchanged = true;
            report.files = previous.files.len() as u64;
            report.symbols = count_symbols(&previous);
            report.seconds = started.elapsed().as_secs_f64();
            return Ok((previous, report));
        }
        let exclude = globs(spec.exclude)?;
        let mut phase = Instant::now();
        let mut lap = |report: &mut IndexReport, name: &str| {
            report
                .phases
                .insert(name.to_string(), phase.elapsed().as_secs_f64());
            phase = Instant::now();
        };
        let entries = git.entries(&commit)?;
        report.files = entries.len() as u64;
        let mut graph = RepoGraph {
            repo: spec.name.to_string(),
            commit: commit.clone(),
            settings: self.settings.clone(),
            ..RepoGraph::default()
        };
        let mut jobs = Vec::new();
        let skip = |report: &mut IndexReport, reason: SkipReason, path: &str| {
            *report
                .skipped
                .entry(reason.as_str().to_string())
                .or_insert(0) += 1;
            if matches!(reason, SkipReason::Unreadable) && report.warnings.len() < 20 {
                report
                    .warnings
                    .push(format!("{path}: unreadable git object, skipped"));
            }
        };
        for entry in entries {
            match entry.kind {
                EntryKind::Unreadable => {
                    skip(&mut report, SkipReason::Unreadable, &entry.path);
                    continue;
                }
                EntryKind::Symlink | EntryKind::Submodule => {
                    skip(&mut report, SkipReason::NotAFile, &entry.path);
                    continue;
                }
                EntryKind::File => {}
            }
            if exclude.is_match(&entry.path) {
                skip(&mut report, SkipReason::Excluded, &entry.path);
                continue;
            }
            if entry.path.split('/').any(|part| VENDORED.contains(&part)) {
                skip(&mut report, SkipReason::Vendored, &entry.path);
                continue;
            }
            let Some(language) = Language::detect(&entry.path) else {
                skip(&mut report, SkipReason::Unsupported, &entry.path);
                continue;
            };
            // Unchanged blobs move over as they are; what stays in `previous` after
            // this loop is what changed or went away.
            if let Some(previous) = previous.as_mut()
                && previous
                    .files
                    .get(&entry.path)
                    .is_some_and(|old| old.blob == entry.blob)
                && let Some(old) = previous.files.remove(&entry.path)
            {
                if let Some(reason) = old.skipped {
                    skip(&mut report, reason, &entry.path);
                }
                graph.files.insert(entry.path, old);
                report.reused += 1;
                continue;
            }
            jobs.push(Job {
                path: entry.path,
                blob: entry.blob,
                language,
            });
        }

        lap(&mut report, "list");
        let mut writer = self.search.writer()?;
        match &previous {
            Some(previous) => {
                let changed: std::collections::HashSet<&str> =
                    jobs.iter().map(|j| j.path.as_str()).collect();
                for path in previous.files.keys() {
                    writer.delete_term(self.search.file_term(spec.name, path));
                    if !changed.contains(path.as_str()) {
                        report.removed += 1;
                    }
                }
                // A file new since the last saved graph may have documents already, from
                // a run stopped after its commit and before its graph was saved: they go
                // too, so a rerun never holds a file twice.
                for path in changed {
                    if !previous.files.contains_key(path) {
                        writer.delete_term(self.search.file_term(spec.name, path));
                    }
                }
            }
            None => {
                writer.delete_term(self.search.repo_term(spec.name));
            }
        }
        // Reused files keep their documents.
        self.parse_all(
            &git,
            spec.name,
            jobs,
            &mut graph,
            &mut report,
            &writer,
            progress,
        )?;
        lap(&mut report, "parse");
        writer
            .commit()
            .map_err(|e| IndexError::Search(format!("commit failed: {e}")))?;
        // Let the merges the commit started finish (dropping the writer would throw
        // their work away), so segments and deleted documents do not pile up across
        // updates. The commit stands either way; tantivy logs a failed merge itself and
        // this only fails if an indexing thread could not be joined.
        if let Err(e) = writer.wait_merging_threads() {
            tracing::warn!(repo = spec.name, error = %e, "merging index segments failed; searches read more segments until the next update merges them");
        }
        self.search.reload()?;
        lap(&mut report, "commit");
        graph.analyse();
        lap(&mut report, "analyse");
        report.symbols = count_symbols(&graph);
        report.seconds = started.elapsed().as_secs_f64();
        Ok((graph, report))
    }

    #[allow(clippy::too_many_arguments)]
    fn parse_all(
        &self,
        git: &GitRepo,
        repo: &str,
        jobs: Vec<Job>,
        graph: &mut RepoGraph,
        report: &mut IndexReport,
        writer: &IndexWriter,
        progress: &dyn Progress,
    ) -> Result<(), IndexError> {
        let threads = match self.options.threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let total_bytes: u64 = {
            let local = git.local();
            jobs.iter()
                .map(|job| {
                    gix::ObjectId::from_hex(job.blob.as_bytes())
                        .ok()
                        .and_then(|id| local.find_header(id).ok())
                        .map_or(0, |h| h.size())
                })
                .sum()
        };
        progress.begin(jobs.len() as u64, total_bytes);
        let next = AtomicUsize::new(0);
        let (sender, receiver) = mpsc::sync_channel::<(Parsed, TantivyDocuments)>(256);
        let mut failure = None;
        std::thread::scope(|scope| {
            for _ in 0..threads.max(1) {
                let sender = sender.clone();
                let jobs = &jobs;
                let next = &next;
                scope.spawn(move || {
                    let local = git.local();
                    let mut extractor = Extractor::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(job) = jobs.get(i) else { break };
                        // A bug on one file must not stop the repository: count it.
                        let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            self.parse_one(git, &local, &mut extractor, job)
                        }))
                        .unwrap_or_else(|_| {
                            extractor = Extractor::new();
                            Parsed {
                                path: job.path.clone(),
                                entry: FileEntry {
                                    blob: job.blob.clone(),
                                    language: Some(job.language),
                                    bytes: 0,
                                    lines: 0,
                                    skipped: Some(SkipReason::Unreadable),
                                    parsed: ParsedFile::default(),
                                    rank: Vec::new(),
                                    findings: Vec::new(),
                                    fingerprints: Vec::new(),
                                },
                                warning: Some(format!(
                                    "{}: internal error while parsing; skipped",
                                    job.path
                                )),
                                text: String::new(),
                            }
                        });
                        let documents = self.documents(repo, &parsed);
                        let mut parsed = parsed;
                        parsed.entry.parsed.forget_indexed_text();
                        parsed.text = String::new();
                        if sender.send((parsed, documents)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(sender);
            for (parsed, documents) in receiver {
                for document in documents {
                    if let Err(e) = writer.add_document(document) {
                        failure.get_or_insert(IndexError::from(e));
                    }
                }
                report.parsed += 1;
                report.bytes += parsed.entry.bytes;
                report.findings += parsed.entry.findings.len() as u64;
                if let Some(reason) = parsed.entry.skipped {
                    *report
                        .skipped
                        .entry(reason.as_str().to_string())
                        .or_insert(0) += 1;
                }
                if let Some(warning) = parsed.warning
                    && report.warnings.len() < 20
                {
                    report.warnings.push(warning);
                }
                progress.advance(1, parsed.entry.bytes);
                graph.files.insert(parsed.path, parsed.entry);
            }
        });
        progress.end();
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn parse_one(
        &self,
        git: &GitRepo,
        local: &gix::Repository,
        extractor: &mut Extractor,
        job: &Job,
    ) -> Parsed {
        let mut entry = FileEntry {
            blob: job.blob.clone(),
            language: Some(job.language),
            bytes: 0,
            lines: 0,
            skipped: None,
            parsed: ParsedFile::default(),
            rank: Vec::new(),
            findings: Vec::new(),
            fingerprints: Vec::new(),
        };
        let skipped = |mut entry: FileEntry, reason: SkipReason, warning: Option<String>| {
            entry.skipped = Some(reason);
            Parsed {
                path: job.path.clone(),
                entry,
                warning,
                text: String::new(),
            }
        };
        let size = gix::ObjectId::from_hex(job.blob.as_bytes())
            .ok()
            .and_then(|id| local.find_header(id).ok())
            .map(|h| h.size());
        if let Some(size) = size
            && size > self.options.max_file_bytes
        {
            entry.bytes = size;
            return skipped(entry, SkipReason::Oversized, None);
        }
        let bytes = match git.read_blob_with(local, &job.blob) {
            Ok(bytes) => bytes,
            Err(e) => {
                let warning = format!("{}: {e}; skipped", job.path);
                return skipped(entry, SkipReason::Unreadable, Some(warning));
            }
        };
        entry.bytes = bytes.len() as u64;
        if bytes.len() as u64 > self.options.max_file_bytes {
            return skipped(entry, SkipReason::Oversized, None);
        }
        if bytes.iter().take(8192).any(|&b| b == 0) {
            return skipped(entry, SkipReason::Binary, None);
        }
        let Ok(text) = std::str::from_utf8(&bytes) else {
            let warning = format!("{}: not valid UTF-8, skipped", job.path);
            return skipped(entry, SkipReason::NotUtf8, Some(warning));
        };
        entry.lines = text.lines().count() as u32;
        if looks_generated(text) {
            return skipped(entry, SkipReason::Generated, None);
        }
        let (scrubbed, findings) = self.scrub(text);
        entry.findings = findings;
        match extractor.extract(job.language, &scrubbed, self.options.parse_deadline) {
            Ok(parsed) => {
                entry.parsed = parsed;
                entry.fingerprints = crate::fingerprint::fingerprints(&scrubbed);
                Parsed {
                    path: job.path.clone(),
                    entry,
                    warning: None,
                    text: scrubbed,
                }
            }
            Err(e) => {
                let warning = format!("{}: {e}; skipped", job.path);
                skipped(entry, SkipReason::ParseTimeout, Some(warning))
            }
        }
    }

    /// Secrets and personal data masked in place (same byte length, so lines and
    /// offsets stay true), and recorded without their values.
    fn scrub(&self, text: &str) -> (String, Vec<FindingRecord>) {
        let findings = self.scrubber.detector.scan(text);
        if findings.is_empty() {
            return (text.to_string(), Vec::new());
        }
        let mut masked = text.as_bytes().to_vec();
        let mut records = Vec::with_capacity(findings.len());
        for finding in &findings {
            let value = &text[finding.start..finding.end];
            for (offset, c) in value.char_indices() {
                if c != '\n' {
                    let at = finding.start + offset;
                    masked[at..at + c.len_utf8()].fill(b'*');
                }
            }
            records.push(FindingRecord {
                line: text[..finding.start].matches('\n').count() as u32 + 1,
                rule: finding.rule.to_string(),
                kind: finding.kind.as_str().to_string(),
                severity: finding.severity.as_str().to_string(),
                fingerprint: moat_dlp::fingerprint(self.scrubber.fingerprint_key, value),
            });
        }
        // Only ASCII bytes were written over whole characters: still UTF-8.
        let masked = String::from_utf8(masked)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        (masked, records)
    }

    fn documents(&self, repo: &str, parsed: &Parsed) -> TantivyDocuments {
        let mut out = Vec::new();
        let entry = &parsed.entry;
        if entry.skipped.is_some() {
            return out;
        }
        let fields = self.search.fields;
        let language = entry.language.map_or("text", |l| l.as_str());
        let file_key = format!("{repo}\u{0}{}", parsed.path);
        let base = |kind: &str, symbol: u64| {
            let mut document = TantivyDocument::default();
            document.add_text(fields.repo, repo);
            document.add_text(fields.file, &file_key);
            document.add_text(fields.path_raw, &parsed.path);
            document.add_text(fields.path, &parsed.path);
            document.add_text(fields.language, language);
            document.add_text(fields.kind, kind);
            document.add_u64(fields.symbol, symbol);
            document
        };
        let file_name = parsed.path.rsplit('/').next().unwrap_or(&parsed.path);
        let mut file = base("file", FILE_DOCUMENT);
        file.add_text(fields.name, file_name);
        file.add_text(fields.name_exact, file_name.to_lowercase());
        file.add_text(fields.signature, entry.parsed.imports.join("\n"));
        file.add_text(
            fields.doc,
            entry
                .parsed
                .source_doc
                .as_deref()
                .unwrap_or(&entry.parsed.doc),
        );
        // What lower tiers may rank a file on: its doc comment, the identifiers outside
        // every symbol (never imports, whose strings a masked view hides). A file
        // without a grammar has no masked view: none of its words.
        file.add_text(fields.doc_comment, &entry.parsed.doc);
        if entry.language.is_some_and(|l| l != Language::Text) {
            let code = entry.parsed.code_references.as_deref();
            file.add_text(
                fields.code,
                code.unwrap_or(entry.parsed.references.as_text()),
            );
        }
        // The whole (scrubbed) text: what the file as a whole is about.
        file.add_text(fields.body, &parsed.text);
        out.push(file);
        // Byte offset of each line start, to cut a symbol's body out of the text.
        let mut line_starts = vec![0usize];
        line_starts.extend(parsed.text.match_indices('\n').map(|(i, _)| i + 1));
        let line_offset = |line: u32| {
            line_starts
                .get(line.saturating_sub(1) as usize)
                .copied()
                .unwrap_or(parsed.text.len())
        };
        for (index, symbol) in entry.parsed.symbols.iter().enumerate() {
            let mut document = base(symbol.kind.as_str(), index as u64);
            // Functions are indexed with their whole (scrubbed) body for recall;
            // containers with the words of their own body only, so a class does not
            // repeat every method.
            if !symbol.kind.is_container() && !parsed.text.is_empty() {
                let start = line_offset(symbol.start_line);
                let end = line_offset(symbol.end_line + 1).max(start);
                if let Some(body) = parsed.text.get(start..end) {
                    document.add_text(fields.body, body);
                }
            }
            document.add_text(fields.name, &symbol.name);
            document.add_text(fields.name_exact, symbol.name.to_lowercase());
            document.add_text(fields.qualified_name, &symbol.qualified_name);
            // The source tier ranks on what it always has; lower tiers on what they show.
            document.add_text(
                fields.signature,
                symbol
                    .source_signature
                    .as_deref()
                    .unwrap_or(&symbol.signature),
            );
            document.add_text(
                fields.doc,
                symbol.source_doc.as_deref().unwrap_or(&symbol.doc),
            );
            document.add_text(fields.declaration, &symbol.signature);
            document.add_text(fields.doc_comment, &symbol.doc);
            let code = symbol.code_references.as_deref();
            document.add_text(fields.code, code.unwrap_or(symbol.references.as_text()));
            if symbol.kind.is_container() || parsed.text.is_empty() {
                document.add_text(fields.body, symbol.references.join(" "));
                document.add_text(fields.body, &symbol.words);
            }
            out.push(document);
        }
        out
    }
}

type TantivyDocuments = Vec<TantivyDocument>;

fn count_symbols(graph: &RepoGraph) -> u64 {
    graph
        .files
        .values()
        .map(|f| f.parsed.symbols.len() as u64)
        .sum()
}

fn globs(patterns: &[String]) -> Result<globset::GlobSet, IndexError> {
    let mut builder = globset::GlobSetBuilder::new();
    for pattern in patterns {
        builder.add(
            globset::Glob::new(pattern).map_err(|e| IndexError::Pattern {
                pattern: pattern.clone(),
                reason: e.to_string(),
            })?,
        );
    }
    builder.build().map_err(|e| IndexError::Pattern {
        pattern: patterns.join(", "),
        reason: e.to_string(),
    })
}

/// Generated or minified: a marker near the top, or lines too long for a person.
fn looks_generated(text: &str) -> bool {
    let mut cut = text.len().min(1024);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = &text[..cut];
    if [
        "@generated",
        "DO NOT EDIT",
        "Code generated by",
        "auto-generated",
        "autogenerated",
    ]
    .iter()
    .any(|marker| head.contains(marker))
    {
        return true;
    }
    let lines = text.lines().count().max(1);
    let longest = text.lines().map(str::len).max().unwrap_or(0);
    text.len() / lines > 300 || longest > 5000
}

/// A stable digest of everything that changes what indexing produces, so a change of
/// settings re-indexes everything.
pub(crate) fn settings_digest(
    spec_exclude: &[String],
    options: &IndexOptions,
    dlp: &str,
) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(crate::graph::GRAPH_FORMAT.to_le_bytes());
    hasher.update(crate::EXTRACTOR_VERSION.to_le_bytes());
    for pattern in spec_exclude {
        hasher.update(pattern.as_bytes());
        hasher.update([0]);
    }
    hasher.update(options.max_file_bytes.to_le_bytes());
    hasher.update(dlp.as_bytes());
    hex::encode(&hasher.finalize()[..8])
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_check_is_safe_on_multibyte_text() {
        let text = format!("{}文字 more text\n", "ab\n".repeat(341));
        assert!(!super::looks_generated(&text));
    }
}

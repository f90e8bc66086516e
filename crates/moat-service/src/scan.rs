//! Scanning for secrets, personal and health data (`moat scan`): a directory or a
//! connected repository's files at its branch, straight from git objects. Findings
//! carry a keyed fingerprint, never the value; files a model wrote through the gateway
//! are found by the fingerprints their code shares with its answers. With `code`, the
//! security rules of `moat_index::code_rules` run on the languages they read (SQL built
//! by concatenation, shell commands built from input, unsafe deserialization, TLS
//! verification off, weak password hashes), as findings of kind `code`.

use moat_dlp::{Detector, Severity};
use moat_store::{Store, StoreError};
use serde::Serialize;
use std::path::Path;

/// Files larger than this are skipped and counted (generated data, dumps).
const MAX_FILE_BYTES: usize = 2 << 20;
/// Directories never scanned: vendored or generated.
const SKIPPED_DIRS: &[&str] = &[
    ".git",
    "node_modules",
    "vendor",
    "target",
    "dist",
    "build",
    "__pycache__",
    ".venv",
];
/// Fingerprints a file must share with one model answer to count as written by it
/// (each stands for a run of about a dozen tokens).
const MIN_SHARED_WITH_ANSWER: u32 = 4;
/// The rule id of a finding that a file was written by a model.
pub const AI_GENERATED: &str = "ai-generated";

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// What was asked cannot be scanned as given (a missing repository, branch or
    /// commit, an invalid glob); safe to show as it is.
    #[error("{0}")]
    Invalid(String),
    #[error("{what}: {error}")]
    Io { what: String, error: std::io::Error },
    #[error("reading git objects: {0}")]
    Git(String),
    #[error("reading gateway provenance: {0}")]
    Store(#[from] StoreError),
}

/// One finding as shown: never the value.
#[derive(Debug, Serialize)]
pub struct Finding {
    pub repo: String,
    pub path: String,
    pub line: usize,
    pub rule: String,
    pub kind: &'static str,
    pub severity: &'static str,
    pub fingerprint: String,
    /// AI-generated code: the `gateway.request` audit event whose answer it matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_seq: Option<u64>,
    /// AI-generated code: the pinned model version that wrote it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Skipped {
    pub binary: u64,
    pub oversized: u64,
    pub vendored_or_generated: u64,
    pub not_utf8: u64,
    /// Matched `[dlp] allow_paths`.
    pub allowlisted: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub files: u64,
    pub skipped: Skipped,
    /// Fingerprints of each scanned file with their lines, to match against what
    /// models answered through the gateway (kept only when asked for).
    #[serde(skip)]
    code: Option<Vec<LocatedFile>>,
}

/// A scanned file's repository, path and located fingerprints.
type LocatedFile = (String, String, Vec<(u32, u32)>);

impl Report {
    /// An empty report; `provenance` keeps what [`mark_ai_generated`] needs.
    pub fn new(provenance: bool) -> Report {
        Report {
            code: provenance.then(Vec::new),
            ..Report::default()
        }
    }

    /// Keeps only the findings in files a model wrote through the gateway (those with
    /// an [`AI_GENERATED`] finding, which [`mark_ai_generated`] adds).
    pub fn keep_ai_written(&mut self) {
        let written: std::collections::HashSet<(String, String)> = self
            .findings
            .iter()
            .filter(|f| f.rule == AI_GENERATED)
            .map(|f| (f.repo.clone(), f.path.clone()))
            .collect();
        self.findings
            .retain(|f| written.contains(&(f.repo.clone(), f.path.clone())));
    }

    /// Whether any finding is at `min` or above.
    pub fn any_at_least(&self, min: Severity) -> bool {
        self.findings.iter().any(|f| severity_of(f.severity) >= min)
    }
}

fn severity_of(name: &str) -> Severity {
    match name {
        "critical" => Severity::Critical,
        "high" => Severity::High,
        "medium" => Severity::Medium,
        _ => Severity::Low,
    }
}

/// What a scan runs with.
pub struct Scanner<'a> {
    pub detector: &'a Detector,
    /// The key fingerprints are made with.
    pub key: &'a [u8],
    /// `[dlp] allow_paths`: files whose findings are accepted.
    pub allowed: globset::GlobSet,
    /// Run the code security rules too.
    pub code: bool,
}

/// A repository's files at a branch, tag or commit (`None`: HEAD).
pub struct GitTarget<'a> {
    pub name: &'a str,
    pub source: &'a str,
    pub reference: Option<&'a str>,
}

impl Scanner<'_> {
    /// Every regular file below `root`, named `name` in the findings.
    pub fn scan_dir(&self, root: &Path, name: &str, report: &mut Report) -> Result<(), ScanError> {
        walk(root, root, &mut |relative, bytes| {
            if self.allowed.is_match(relative) {
                report.skipped.allowlisted += 1;
            } else {
                self.scan_file(name, relative, bytes, report)
            }
        })
    }

    /// A repository's files at its reference, straight from git objects.
    pub fn scan_git(&self, target: &GitTarget<'_>, report: &mut Report) -> Result<(), ScanError> {
        let (name, source) = (target.name, target.source);
        let git = |e: &dyn std::fmt::Display| ScanError::Git(format!("`{name}`: {e}"));
        let repo = gix::open(source).map_err(|e| {
            ScanError::Invalid(format!(
                "repository `{name}` at {source} cannot be opened: {e}"
            ))
        })?;
        let commit = match target.reference {
            Some(reference) => match gix::ObjectId::from_hex(reference.as_bytes()) {
                Ok(id) => repo.find_commit(id).map_err(|e| {
                    ScanError::Invalid(format!(
                        "repository `{name}` has no commit {reference}: {e}"
                    ))
                })?,
                Err(_) => repo
                    .find_reference(reference)
                    .map_err(|e| {
                        ScanError::Invalid(format!(
                            "repository `{name}` has no branch or tag `{reference}`: {e}"
                        ))
                    })?
                    .peel_to_commit()
                    .map_err(|e| git(&e))?,
            },
            None => repo.head_commit().map_err(|e| {
                ScanError::Invalid(format!("repository `{name}` has no commit at HEAD: {e}"))
            })?,
        };
        let tree = commit.tree().map_err(|e| git(&e))?;
        let mut recorder = gix::traverse::tree::Recorder::default();
        tree.traverse()
            .breadthfirst(&mut recorder)
            .map_err(|e| git(&e))?;
        for entry in recorder.records {
            if !entry.mode.is_blob() {
                continue;
            }
            let path = entry.filepath.to_string();
            if path.split('/').any(|part| SKIPPED_DIRS.contains(&part)) {
                report.skipped.vendored_or_generated += 1;
                continue;
            }
            if self.allowed.is_match(&path) {
                report.skipped.allowlisted += 1;
                continue;
            }
            let object = repo
                .find_object(entry.oid)
                .map_err(|e| git(&format!("reading {path}: {e}")))?;
            self.scan_file(name, &path, &object.data, report);
        }
        Ok(())
    }

    fn scan_file(&self, repo: &str, path: &str, bytes: &[u8], report: &mut Report) {
        if bytes.len() > MAX_FILE_BYTES {
            report.skipped.oversized += 1;
            return;
        }
        if bytes.iter().take(8192).any(|&b| b == 0) {
            report.skipped.binary += 1;
            return;
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            report.skipped.not_utf8 += 1;
            return;
        };
        report.files += 1;
        if let Some(code) = report.code.as_mut() {
            let located = moat_index::fingerprint::located(text);
            if !located.is_empty() {
                code.push((repo.to_string(), path.to_string(), located));
            }
        }
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        for finding in self.detector.scan(text) {
            let line = line_starts.partition_point(|&start| start <= finding.start);
            report.findings.push(Finding {
                repo: repo.to_string(),
                path: path.to_string(),
                line,
                rule: finding.rule.to_string(),
                kind: finding.kind.as_str(),
                severity: finding.severity.as_str(),
                fingerprint: moat_dlp::fingerprint(self.key, &text[finding.start..finding.end]),
                audit_seq: None,
                model: None,
            });
        }
        if !self.code {
            return;
        }
        let Some(language) =
            moat_index::Language::detect(path).filter(|l| moat_index::code_rules::covers(*l))
        else {
            return;
        };
        for finding in moat_index::code_rules::check(language, text) {
            // A line that says `moat:allow` is accepted on purpose, as for the DLP rules.
            let start = line_starts.get(finding.line - 1).copied().unwrap_or(0);
            let end = line_starts.get(finding.line).copied().unwrap_or(text.len());
            if text
                .get(start..end)
                .is_some_and(|line| line.contains("moat:allow"))
            {
                continue;
            }
            report.findings.push(Finding {
                repo: repo.to_string(),
                path: path.to_string(),
                line: finding.line,
                rule: finding.rule.to_string(),
                kind: "code",
                severity: finding.class.severity(),
                fingerprint: moat_dlp::fingerprint(self.key, &finding.text),
                audit_seq: None,
                model: None,
            });
        }
    }
}

/// Every regular file below `root`, with its path relative to `root`.
fn walk(root: &Path, dir: &Path, visit: &mut dyn FnMut(&str, &[u8])) -> Result<(), ScanError> {
    let io = |what: &Path| {
        let what = what.display().to_string();
        move |error| ScanError::Io {
            what: format!("reading {what}"),
            error,
        }
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let file_type = entry.file_type().map_err(io(&path))?;
        if file_type.is_dir() {
            if !SKIPPED_DIRS.iter().any(|d| entry.file_name() == *d) {
                walk(root, &path, visit)?;
            }
        } else if file_type.is_file() {
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            let relative = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            visit(&relative, &bytes);
        }
    }
    Ok(())
}

/// Adds a finding for each scanned file that shares enough fingerprints with code a
/// model answered with through the gateway (kept by `moat serve`).
pub async fn mark_ai_generated(store: &dyn Store, report: &mut Report) -> Result<(), ScanError> {
    let Some(files) = report.code.take() else {
        return Ok(());
    };
    for (repo, path, located) in files {
        let mut hashes: Vec<u32> = located.iter().map(|&(hash, _)| hash).collect();
        hashes.sort_unstable();
        hashes.dedup();
        let matches = store
            .provenance_matches(&hashes, MIN_SHARED_WITH_ANSWER)
            .await?;
        let Some((answer, _)) = matches.into_iter().next() else {
            continue;
        };
        let line = located
            .iter()
            .find(|(hash, _)| hashes.binary_search(hash).is_ok())
            .map_or(1, |&(_, line)| line as usize);
        report.findings.push(Finding {
            repo,
            path,
            line,
            rule: AI_GENERATED.to_string(),
            kind: "code",
            severity: "low",
            fingerprint: format!("audit-{}", answer.seq),
            audit_seq: Some(answer.seq),
            model: Some(answer.model),
        });
    }
    Ok(())
}

/// The detector's configuration from `[dlp]`.
pub fn detector_config(dlp: &moat_config::Dlp) -> moat_dlp::DetectorConfig {
    use moat_config::{DlpKind, DlpSeverity};
    moat_dlp::DetectorConfig {
        disabled: dlp.disabled.clone(),
        custom_rules: dlp
            .rules
            .iter()
            .map(|rule| moat_dlp::CustomRule {
                id: rule.id.clone(),
                kind: match rule.kind {
                    DlpKind::Secret => moat_dlp::Kind::Secret,
                    DlpKind::Pii => moat_dlp::Kind::Pii,
                    DlpKind::Phi => moat_dlp::Kind::Phi,
                },
                severity: match rule.severity {
                    DlpSeverity::Low => Severity::Low,
                    DlpSeverity::Medium => Severity::Medium,
                    DlpSeverity::High => Severity::High,
                    DlpSeverity::Critical => Severity::Critical,
                },
                keywords: rule.keywords.clone(),
                pattern: rule.pattern.clone(),
            })
            .collect(),
    }
}

/// `[dlp] allow_paths` as a glob set.
pub fn allowlist(globs: &[String]) -> Result<globset::GlobSet, ScanError> {
    let mut builder = globset::GlobSetBuilder::new();
    for glob in globs {
        builder.add(
            globset::Glob::new(glob)
                .map_err(|e| ScanError::Invalid(format!("[dlp] allow_paths `{glob}`: {e}")))?,
        );
    }
    builder
        .build()
        .map_err(|e| ScanError::Invalid(format!("[dlp] allow_paths: {e}")))
}

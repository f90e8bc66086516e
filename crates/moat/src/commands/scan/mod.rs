//! `moat scan [REPO] | --path DIR`: secrets, personal and health data, as a table, JSON
//! or SARIF 2.1.0 for code-scanning dashboards. Findings carry a keyed fingerprint,
//! never the value. Exit 1 when a finding at or above `--fail-on` exists.

use crate::cli::{FailOn, ScanArgs, ScanFormat};
use crate::context::{Context, UsageError};
use crate::output;
use anyhow::{Context as _, Result};
use moat_dlp::{Detector, Severity};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

mod sarif;

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

/// One finding as printed: never the value.
#[derive(Debug, Serialize)]
pub struct FindingView {
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
struct Skipped {
    binary: u64,
    oversized: u64,
    vendored_or_generated: u64,
    not_utf8: u64,
    /// Matched `[dlp] allow_paths`.
    allowlisted: u64,
}

#[derive(Serialize)]
struct Report {
    findings: Vec<FindingView>,
    files: u64,
    skipped: Skipped,
    /// Fingerprints of each scanned file with their lines, to match against what
    /// models answered through the gateway (only when a deployment is configured).
    #[serde(skip)]
    code: Option<Vec<LocatedFile>>,
}

/// A scanned file's repository, path and located fingerprints.
type LocatedFile = (String, String, Vec<(u32, u32)>);

/// Fingerprints a file must share with one model answer to count as written by it
/// (each stands for a run of about a dozen tokens).
const MIN_SHARED_WITH_ANSWER: u32 = 4;

pub async fn run(context: Option<&Context>, args: ScanArgs, json: bool) -> Result<ExitCode> {
    let detector = match context {
        Some(context) => Detector::new(&detector_config(&context.config.dlp))
            .map_err(|e| UsageError(format!("[dlp] rules: {e}")))?,
        None => Detector::builtin(),
    };
    let allowed = allowlist(
        context
            .map(|c| c.config.dlp.allow_paths.as_slice())
            .unwrap_or_default(),
    )?;
    let key = fingerprint_key(context)?;
    let mut report = Report {
        findings: Vec::new(),
        files: 0,
        skipped: Skipped::default(),
        code: context.map(|_| Vec::new()),
    };
    match (&args.path, context) {
        (Some(path), _) => {
            let name = path.display().to_string();
            walk(path, path, &mut |relative, bytes| {
                if allowed.is_match(relative) {
                    report.skipped.allowlisted += 1;
                } else {
                    scan_file(&detector, &key, &name, relative, bytes, &mut report)
                }
            })?;
        }
        (None, Some(context)) => {
            let repos: Vec<_> = context
                .config
                .repos
                .iter()
                .filter(|r| args.repo.as_deref().is_none_or(|name| name == r.name))
                .collect();
            if repos.is_empty() {
                return Err(UsageError(match &args.repo {
                    Some(name) => format!("no repository named `{name}` in the configuration; `moat policy check` lists them"),
                    None => "no repositories in the configuration; pass --path DIR to scan a directory".into(),
                })
                .into());
            }
            for repo in repos {
                let target = GitTarget {
                    name: &repo.name,
                    source: &repo.source,
                    reference: repo.branch.as_deref().or(repo.pinned_ref.as_deref()),
                    allowed: &allowed,
                };
                scan_git(&detector, &key, &target, &mut report)?;
            }
        }
        (None, None) => {
            return Err(
                UsageError("pass a repository name with --config, or --path DIR".into()).into(),
            );
        }
    }

    if let Some(context) = context {
        ai_generated(context, &mut report).await?;
    }

    let format = if json { ScanFormat::Json } else { args.format };
    match format {
        ScanFormat::Json => output::json(&report)?,
        ScanFormat::Sarif => {
            let docs_base = docs_base(context);
            let run = sarif::SarifRun {
                rules: detector.rule_docs(),
                docs_base: &docs_base,
                root: args.path.as_deref(),
            };
            output::json(&sarif::log(&run, &report.findings))?
        }
        ScanFormat::Table => print_table(&report),
    }
    let threshold = match args.fail_on {
        FailOn::Low => Some(Severity::Low),
        FailOn::Medium => Some(Severity::Medium),
        FailOn::High => Some(Severity::High),
        FailOn::Critical => Some(Severity::Critical),
        FailOn::Never => None,
    };
    let failing = threshold.is_some_and(|min| {
        report
            .findings
            .iter()
            .any(|f| severity_of(f.severity) >= min)
    });
    Ok(if failing {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Adds a finding for each file that shares enough fingerprints with code a model
/// answered with through the gateway (kept by `moat serve`).
async fn ai_generated(context: &Context, report: &mut Report) -> Result<()> {
    let Some(files) = report.code.take() else {
        return Ok(());
    };
    let store = context.open_store().await?;
    for (repo, path, located) in files {
        let mut hashes: Vec<u32> = located.iter().map(|&(hash, _)| hash).collect();
        hashes.sort_unstable();
        hashes.dedup();
        let matches = store
            .provenance_matches(&hashes, MIN_SHARED_WITH_ANSWER)
            .await
            .context("reading gateway provenance")?;
        let Some((answer, _)) = matches.into_iter().next() else {
            continue;
        };
        let line = located
            .iter()
            .find(|(hash, _)| hashes.binary_search(hash).is_ok())
            .map_or(1, |&(_, line)| line as usize);
        report.findings.push(FindingView {
            repo,
            path,
            line,
            rule: sarif::AI_GENERATED.to_string(),
            kind: "code",
            severity: "low",
            fingerprint: format!("audit-{}", answer.seq),
            audit_seq: Some(answer.seq),
            model: Some(answer.model),
        });
    }
    Ok(())
}

/// The Moat server whose `/docs/rules` pages SARIF links to: `public_url`, else the
/// address it listens on (by default the one `moat demo` serves).
fn docs_base(context: Option<&Context>) -> String {
    let server = context.map_or_else(moat_config::Server::default, |c| c.config.server.clone());
    server
        .public_url
        .unwrap_or_else(|| format!("http://{}", server.listen))
}

fn severity_of(name: &str) -> Severity {
    match name {
        "critical" => Severity::Critical,
        "high" => Severity::High,
        "medium" => Severity::Medium,
        _ => Severity::Low,
    }
}

fn scan_file(
    detector: &Detector,
    key: &[u8],
    repo: &str,
    path: &str,
    bytes: &[u8],
    report: &mut Report,
) {
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
    for finding in detector.scan(text) {
        let line = line_starts.partition_point(|&start| start <= finding.start);
        report.findings.push(FindingView {
            repo: repo.to_string(),
            path: path.to_string(),
            line,
            rule: finding.rule.to_string(),
            kind: finding.kind.as_str(),
            severity: finding.severity.as_str(),
            fingerprint: moat_dlp::fingerprint(key, &text[finding.start..finding.end]),
            audit_seq: None,
            model: None,
        });
    }
}

/// Every regular file below `root`, with its path relative to `root`.
fn walk(root: &Path, dir: &Path, visit: &mut dyn FnMut(&str, &[u8])) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            if !SKIPPED_DIRS.iter().any(|d| entry.file_name() == *d) {
                walk(root, &path, visit)?;
            }
        } else if file_type.is_file() {
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
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

/// Scans a repository's files at its branch (or HEAD) straight from git objects.
struct GitTarget<'a> {
    name: &'a str,
    source: &'a str,
    reference: Option<&'a str>,
    allowed: &'a globset::GlobSet,
}

fn scan_git(
    detector: &Detector,
    key: &[u8],
    target: &GitTarget<'_>,
    report: &mut Report,
) -> Result<()> {
    let (name, source, reference) = (target.name, target.source, target.reference);
    let repo = gix::open(source).map_err(|e| {
        UsageError(format!(
            "repository `{name}` at {source} cannot be opened: {e}"
        ))
    })?;
    let commit = match reference {
        Some(reference) => match gix::ObjectId::from_hex(reference.as_bytes()) {
            Ok(id) => repo.find_commit(id).map_err(|e| {
                UsageError(format!(
                    "repository `{name}` has no commit {reference}: {e}"
                ))
            })?,
            Err(_) => repo
                .find_reference(reference)
                .map_err(|e| {
                    UsageError(format!(
                        "repository `{name}` has no branch or tag `{reference}`: {e}"
                    ))
                })?
                .peel_to_commit()?,
        },
        None => repo
            .head_commit()
            .with_context(|| format!("repository `{name}` has no commit at HEAD"))?,
    };
    let tree = commit.tree()?;
    let mut recorder = gix::traverse::tree::Recorder::default();
    tree.traverse().breadthfirst(&mut recorder)?;
    for entry in recorder.records {
        if !entry.mode.is_blob() {
            continue;
        }
        let path = entry.filepath.to_string();
        if path.split('/').any(|part| SKIPPED_DIRS.contains(&part)) {
            report.skipped.vendored_or_generated += 1;
            continue;
        }
        if target.allowed.is_match(&path) {
            report.skipped.allowlisted += 1;
            continue;
        }
        let object = repo
            .find_object(entry.oid)
            .with_context(|| format!("reading {path} in `{name}`"))?;
        scan_file(detector, key, name, &path, &object.data, report);
    }
    Ok(())
}

pub(crate) fn detector_config(dlp: &moat_config::Dlp) -> moat_dlp::DetectorConfig {
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

fn allowlist(globs: &[String]) -> Result<globset::GlobSet> {
    let mut builder = globset::GlobSetBuilder::new();
    for glob in globs {
        builder.add(
            globset::Glob::new(glob)
                .map_err(|e| UsageError(format!("[dlp] allow_paths `{glob}`: {e}")))?,
        );
    }
    Ok(builder.build()?)
}

/// Keys fingerprints when no deployment is configured (a CI job scanning a checkout):
/// 64 hex characters, kept as a CI secret, so alerts keep their identity across runs.
const FINGERPRINT_KEY_ENV: &str = "MOAT_FINGERPRINT_KEY";

/// The key findings are fingerprinted with: the deployment's own (kept in the data
/// directory), else `MOAT_FINGERPRINT_KEY`, else a random one (fingerprints then differ
/// run to run).
pub(crate) fn fingerprint_key(context: Option<&Context>) -> Result<Vec<u8>> {
    let Some(context) = context else {
        if let Some(text) = std::env::var_os(FINGERPRINT_KEY_ENV) {
            let key = text
                .to_str()
                .and_then(|t| hex::decode(t.trim()).ok())
                .filter(|k| k.len() == 32)
                .ok_or_else(|| {
                    UsageError(format!(
                        "{FINGERPRINT_KEY_ENV} must be 64 hexadecimal characters (32 bytes); `openssl rand -hex 32` makes one"
                    ))
                })?;
            return Ok(key);
        }
        let mut key = vec![0u8; 32];
        rand::fill(&mut key[..]);
        return Ok(key);
    };
    let path = context.data_dir.join("dlp").join("fingerprint.key");
    if let Ok(existing) = std::fs::read(&path)
        && existing.len() == 32
    {
        return Ok(existing);
    }
    let mut key = vec![0u8; 32];
    rand::fill(&mut key[..]);
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    output::write_private(&path, &key)?;
    Ok(key)
}

fn print_table(report: &Report) {
    let rows: Vec<Vec<String>> = report
        .findings
        .iter()
        .map(|f| {
            vec![
                f.severity.to_string(),
                f.kind.to_string(),
                f.rule.clone(),
                format!("{}:{}", f.path, f.line),
                f.fingerprint.chars().take(12).collect(),
            ]
        })
        .collect();
    output::table(&["SEVERITY", "KIND", "RULE", "WHERE", "FINGERPRINT"], &rows);
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &report.findings {
        *by_kind.entry(f.kind).or_insert(0) += 1;
    }
    output::say(&format!(
        "\n{} findings in {} files ({}); skipped {} binary, {} oversized, {} vendored, {} not UTF-8, {} allowlisted\n",
        report.findings.len(),
        report.files,
        by_kind
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", "),
        report.skipped.binary,
        report.skipped.oversized,
        report.skipped.vendored_or_generated,
        report.skipped.not_utf8,
        report.skipped.allowlisted
    ));
}

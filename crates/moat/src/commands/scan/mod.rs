//! `moat scan [REPO] | --path DIR`: secrets, personal and health data, as a table, JSON
//! or SARIF 2.1.0 for code-scanning dashboards. Findings carry a keyed fingerprint,
//! never the value. Exit 1 when a finding at or above `--fail-on` exists.

use crate::cli::{FailOn, ScanArgs, ScanFormat};
use crate::context::{Context, UsageError};
use crate::output;
use anyhow::Result;
use moat_dlp::{Detector, Severity};
use moat_service::scan::{self, GitTarget, Report, ScanError, Scanner, allowlist, detector_config};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

mod sarif;

/// A scan's error as the CLI says it: what was asked wrongly is a usage error.
fn said(error: ScanError) -> anyhow::Error {
    match error {
        ScanError::Invalid(message) => UsageError(message).into(),
        other => other.into(),
    }
}

pub async fn run(context: Option<&Context>, args: ScanArgs, json: bool) -> Result<ExitCode> {
    let detector = match context {
        Some(context) => Detector::new(&detector_config(&context.config.dlp))
            .map_err(|e| UsageError(format!("[dlp] rules: {e}")))?,
        None => Detector::builtin(),
    };
    if args.ai_only && context.is_none() {
        return Err(UsageError(
            "--ai-only needs the deployment whose gateway wrote the code: pass --config (or run where moat.toml is)".into(),
        )
        .into());
    }
    let key = fingerprint_key(context)?;
    let scanner = Scanner {
        detector: &detector,
        key: &key,
        allowed: allowlist(
            context
                .map(|c| c.config.dlp.allow_paths.as_slice())
                .unwrap_or_default(),
        )
        .map_err(said)?,
        code: args.code || args.ai_only,
    };
    let mut report = Report::new(context.is_some());
    match (&args.path, context) {
        (Some(path), _) => {
            let name = path.display().to_string();
            scanner.scan_dir(path, &name, &mut report).map_err(said)?;
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
                };
                scanner.scan_git(&target, &mut report).map_err(said)?;
            }
        }
        (None, None) => {
            return Err(
                UsageError("pass a repository name with --config, or --path DIR".into()).into(),
            );
        }
    }

    if let Some(context) = context {
        let store = context.open_store().await?;
        scan::mark_ai_generated(store.as_ref(), &mut report)
            .await
            .map_err(said)?;
        if args.ai_only {
            report.keep_ai_written();
        }
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
    Ok(if threshold.is_some_and(|min| report.any_at_least(min)) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The Moat server whose `/docs/rules` pages SARIF links to: `public_url`, else the
/// address it listens on (by default the one `moat demo` serves).
fn docs_base(context: Option<&Context>) -> String {
    let server = context.map_or_else(moat_config::Server::default, |c| c.config.server.clone());
    server
        .public_url
        .unwrap_or_else(|| format!("http://{}", server.listen))
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

//! `moat audit verify`, `prove` and `check-proof`.

use crate::audit_keys::trusted_keys;
use crate::context::{Context, UsageError};
use crate::output;
use anyhow::{Context as _, Result};
use moat_audit::verify::{External, Failure};
use moat_service::audit::read::{self, ConsistencyProofDoc, InclusionProofDoc, VerifyError};
use moat_store::Store;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Checkpoints to check besides the witness files: every `--against` file.
fn against_files(against: &[PathBuf]) -> Result<Vec<External>> {
    against
        .iter()
        .map(|path| {
            let note = std::fs::read_to_string(path)
                .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
            Ok(External {
                source: path.display().to_string(),
                note,
            })
        })
        .collect()
}

pub async fn verify(
    context: &Context,
    store: std::sync::Arc<dyn Store>,
    against: &[PathBuf],
    extra_keys: &[PathBuf],
    json: bool,
) -> Result<ExitCode> {
    let keys = trusted_keys(context, extra_keys)?;
    let audit = &context.config.audit;
    let extra = against_files(against)?;
    let sources: Vec<String> = audit
        .witness_files
        .iter()
        .map(|p| p.display().to_string())
        .chain(extra.iter().map(|w| w.source.clone()))
        .collect();
    let unread = &audit.witness_urls;
    let progress = output::progress(
        json,
        "{spinner} verifying {pos}/{len} events {per_sec} ETA {eta}",
    );
    let started = std::time::Instant::now();
    let result =
        read::verify_with_witness_files(store, keys, &audit.witness_files, extra, |done, total| {
            output::advance(&progress, done, total)
        })
        .await;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(report) => {
            if json {
                let checked: Vec<_> = report
                    .external
                    .iter()
                    .map(|(source, size)| serde_json::json!({"source": source, "size": size}))
                    .collect();
                output::json(&serde_json::json!({
                    "ok": true,
                    "events": report.events,
                    "checkpoints": report.checkpoints,
                    "signed_size": report.signed_size,
                    "root": hex::encode(report.root),
                    "witnesses": checked,
                    "witnesses_not_read": unread,
                    "seconds": seconds,
                }))?;
            } else {
                output::say(&format!(
                    "ok: {} events, {} checkpoints verified, root {}\n",
                    report.events,
                    report.checkpoints,
                    hex::encode(report.root),
                ));
                for (source, size) in &report.external {
                    output::say(&format!(
                        "  consistent with witness {source} (size {size})\n"
                    ));
                }
                for url in unread {
                    output::say(&format!(
                        "  not checked: witness {url} cannot be read back; pass its newest checkpoint with --against\n"
                    ));
                }
                if report.external.is_empty() {
                    output::say(
                        "  no witness checked: a rollback or a rewrite re-signed with this log's key would not show; set [audit] witness_files\n",
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(VerifyError::Failed(failure)) => failed(&failure, &sources, json),
        Err(VerifyError::Store(error)) => Err(error.into()),
    }
}

fn failed(failure: &Failure, witnesses: &[String], json: bool) -> Result<ExitCode> {
    if json {
        output::json(&serde_json::json!({
            "ok": false,
            "first_bad_seq": failure.first_bad_seq,
            "checkpoint_size": failure.checkpoint_size,
            "reason": failure.reason,
            "witnesses": witnesses,
        }))?;
    } else {
        let at = failure
            .first_bad_seq
            .map(|s| format!(" at seq {s}"))
            .unwrap_or_default();
        eprintln!("verification FAILED{at}: {}", failure.reason);
        if !witnesses.is_empty() {
            eprintln!("  witnesses used: {}", witnesses.join(", "));
        }
    }
    Ok(ExitCode::from(1))
}

pub async fn prove(
    store: &dyn Store,
    seq: Option<u64>,
    from_size: Option<u64>,
) -> Result<ExitCode> {
    match (seq, from_size) {
        (Some(seq), _) => output::json(&read::prove(store, seq).await?)?,
        (None, Some(old)) => output::json(&read::prove_consistency(store, old).await?)?,
        (None, None) => return Err(UsageError("pass --seq N or --from-size N".into()).into()),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn check_proof(
    context: &Context,
    file: &Path,
    extra_keys: &[PathBuf],
    json: bool,
) -> Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let keys = trusted_keys(context, extra_keys)?;
    let (result, claim) = if let Ok(doc) = serde_json::from_str::<InclusionProofDoc>(&text) {
        let claim = format!(
            "event {} is in the signed tree of size {}",
            doc.seq, doc.tree_size
        );
        (read::verify_proof_doc(&doc, &keys), claim)
    } else if let Ok(doc) = serde_json::from_str::<ConsistencyProofDoc>(&text) {
        let claim = "the newer checkpoint extends the older one".to_string();
        (read::verify_consistency_doc(&doc, &keys), claim)
    } else {
        return Err(UsageError(format!(
            "{} is not a proof from `moat audit prove`",
            file.display()
        ))
        .into());
    };
    if json {
        output::json(
            &serde_json::json!({"ok": result.is_ok(), "claim": claim, "reason": result.as_ref().err()}),
        )?;
    }
    match result {
        Ok(()) => {
            if !json {
                output::say(&format!("ok: {claim}\n"));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(reason) => {
            if !json {
                eprintln!("proof FAILED: {reason}");
            }
            Ok(ExitCode::from(1))
        }
    }
}

//! `moat evidence export|verify` over `moat_service::evidence`.

use crate::audit_keys::{signing_key, trusted_keys};
use crate::cli::EvidenceCommand;
use crate::context::{Context, UsageError};
use crate::output;
use anyhow::{Context as _, Result};
use moat_audit::checkpoint::VerifierKey;
use moat_service::evidence::{Evidence, EvidenceError, Period};
use moat_service::exceptions::ExceptionRules;
use moat_service::policy_document;
use std::path::Path;
use std::process::ExitCode;

pub async fn run(context: &Context, command: EvidenceCommand, json: bool) -> Result<ExitCode> {
    match command {
        EvidenceCommand::Export { from, to, out } => export(context, &from, &to, &out, json).await,
        EvidenceCommand::Verify { pack, keys } => {
            verify_with(&pack, &[], &trusted_keys(context, &keys)?, json)
        }
    }
}

async fn export(
    context: &Context,
    from: &str,
    to: &str,
    out: &Path,
    json: bool,
) -> Result<ExitCode> {
    let period = Period::parse(from, to).map_err(|e| UsageError(e.to_string()))?;
    if out.exists() {
        return Err(UsageError(format!(
            "{} exists; a pack is never written over a file (choose another --out)",
            out.display()
        ))
        .into());
    }
    let directory = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    // Written beside the target and renamed at the end: a failed export leaves no
    // half pack behind.
    let partial = tempfile::NamedTempFile::new_in(directory)
        .with_context(|| format!("creating a file in {}", directory.display()))?;
    let store = context.open_store().await?;
    let identity = std::sync::Arc::new(context.identity(store.clone()));
    let access = context.access(identity.clone(), store.clone())?;
    let audit = context.audit_log(store.clone()).await?;
    let policy_version = context.policy_version();
    let admin = moat_service::Admin {
        identity: &identity,
        audit: &audit,
        policy_version: &policy_version,
    };
    let policy = policy_document::Inputs {
        config: std::sync::Arc::new(context.config.clone()),
        policies: context.custom_policies()?,
        policy_version: policy_version.clone(),
        config_version: context.published.as_ref().map(|p| p.version),
    };
    let signing = signing_key(context)?;
    let keys = trusted_keys(context, &[])?;
    let evidence = Evidence {
        access: &access,
        admin: &admin,
        policy: &policy,
        exception_rules: ExceptionRules::from_config(&context.config.exceptions),
        signing: &signing,
        keys: &keys,
        witness_files: &context.config.audit.witness_files,
        max_events: None,
    };
    let progress = output::progress(
        json,
        "{spinner} writing {pos}/{len} events {per_sec} ETA {eta}",
    );
    let started = std::time::Instant::now();
    let written = evidence
        .export(
            &context.actor(),
            &period,
            std::io::BufWriter::with_capacity(1 << 20, partial.reopen()?),
            |done, total| output::advance(&progress, done, total),
        )
        .await;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    audit.close().await?;
    let (file, exported) = match written {
        Ok(done) => done,
        Err(EvidenceError::Usage(message)) => return Err(UsageError(message).into()),
        Err(error) => return Err(error.into()),
    };
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    partial
        .persist_noclobber(out)
        .map_err(|e| UsageError(format!("{}: {}", out.display(), e.error)))?;
    let events = exported.end_seq - exported.first_seq;
    if json {
        output::json(&serde_json::json!({
            "file": out,
            "from": period.from,
            "to": period.to,
            "first_seq": exported.first_seq,
            "end_seq": exported.end_seq,
            "events": events,
            "checkpoint_size": exported.checkpoint_size,
            "files": exported.files,
            "joiners": exported.joiners,
            "leavers": exported.leavers,
            "changes": exported.changes,
            "manifest_sha256": exported.manifest_sha256,
            "seconds": started.elapsed().as_secs_f64(),
        }))?;
    } else {
        output::say(&format!(
            "wrote {} ({} files; {events} events, {} changes, {} joiners, {} leavers), manifest sha256 {}\ncheck it with: moat evidence verify {} --key <the audit public key>\n",
            out.display(),
            exported.files,
            exported.changes,
            exported.joiners,
            exported.leavers,
            exported.manifest_sha256,
            out.display(),
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// Checks `pack` against the keys in `key_files` and `deployment_keys` (those of the
/// deployment in hand, if any).
pub fn verify_with(
    pack: &Path,
    key_files: &[std::path::PathBuf],
    deployment_keys: &[VerifierKey],
    json: bool,
) -> Result<ExitCode> {
    let mut keys = deployment_keys.to_vec();
    for file in key_files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| UsageError(format!("cannot read --key {}: {e}", file.display())))?;
        let key = VerifierKey::from_text(text.trim())
            .map_err(|e| UsageError(format!("--key {}: {e}", file.display())))?;
        keys.push(key);
    }
    let file = std::fs::File::open(pack)
        .map_err(|e| UsageError(format!("cannot open {}: {e}", pack.display())))?;
    let progress = output::progress(
        json,
        "{spinner} checking {pos}/{len} events {per_sec} ETA {eta}",
    );
    let started = std::time::Instant::now();
    let result = moat_service::evidence::verify(
        std::io::BufReader::with_capacity(1 << 20, file),
        &keys,
        |done, total| output::advance(&progress, done, total),
    );
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(verified) => {
            if json {
                output::json(&serde_json::json!({
                    "ok": true,
                    "org": verified.org,
                    "from": verified.from,
                    "to": verified.to,
                    "files": verified.files,
                    "events": verified.events,
                    "first_seq": verified.first_seq,
                    "end_seq": verified.end_seq,
                    "checkpoint_size": verified.checkpoint_size,
                    "signed_by": verified.signer,
                    "witnesses": verified.witnesses,
                    "seconds": seconds,
                }))?;
            } else {
                output::say(&format!(
                    "ok: {} files signed by {}; {} events ({} to {}) are the signed log's (checkpoint of {} events){}\n",
                    verified.files,
                    verified.signer,
                    verified.events,
                    verified.from,
                    verified.to,
                    verified.checkpoint_size,
                    if verified.witnesses.is_empty() {
                        "; no witness checkpoint in the pack".to_string()
                    } else {
                        format!(
                            ", consistent with witness {}",
                            verified.witnesses.join(", ")
                        )
                    }
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => {
            if json {
                output::json(&serde_json::json!({
                    "ok": false,
                    "file": failure.file,
                    "reason": failure.reason,
                }))?;
            } else {
                eprintln!("evidence pack FAILED: {failure}");
            }
            Ok(ExitCode::from(1))
        }
    }
}

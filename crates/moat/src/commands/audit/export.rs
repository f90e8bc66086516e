//! `moat audit export`: an extract a SIEM ingests as it is and an auditor can check
//! without Moat's database.
//!
//! JSONL: one flat JSON object per line, the event's own fields (its canonical JSON)
//! plus `leaf_hash`. CSV: one row per event naming what changed (operation, phase, tool,
//! query, decision, rule, reason). The checkpoint the proofs lead to, the public keys
//! and each event's inclusion proof go to a manifest beside the export
//! (`NAME.manifest.json`, or `--manifest FILE`), so the export file holds events only.
//! `moat audit check-export` checks a JSONL export against its manifest.

use crate::cli::ExportFormat;
use crate::context::{Context, UsageError};
use crate::output;
use anyhow::{Context as _, Result};
use moat_service::audit::export::{self, ExportError, Format};
use moat_service::audit::read;
use moat_store::Store;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Where an export goes.
pub struct Target<'a> {
    pub format: ExportFormat,
    /// A file, or `-` for standard output.
    pub out: &'a Path,
    pub manifest: Option<&'a Path>,
}

impl Target<'_> {
    fn to_stdout(&self) -> bool {
        self.out == Path::new("-")
    }

    /// The manifest's path: as given, else beside a file export, else none.
    fn manifest_path(&self) -> Option<PathBuf> {
        match self.manifest {
            Some(path) => Some(path.to_path_buf()),
            None if self.to_stdout() => None,
            None => Some(self.out.with_extension("manifest.json")),
        }
    }
}

pub async fn export(
    context: &Context,
    store: Arc<dyn Store>,
    from: Option<String>,
    to: Option<String>,
    target: Target<'_>,
    json: bool,
) -> Result<ExitCode> {
    // Proofs need a checkpoint that covers every exported event.
    let log = context.audit_log(store.clone()).await?;
    let signed = log.checkpoint().await;
    log.close().await?;
    let (size, note) = signed?;

    let range = export::resolve_range(store.as_ref(), from.as_deref(), to.as_deref(), size)
        .await
        .map_err(usage)?;
    let keys = crate::audit_keys::trusted_keys(context, &[])?;
    let mut out: Box<dyn Write> = if target.to_stdout() {
        Box::new(std::io::BufWriter::new(std::io::stdout().lock()))
    } else {
        Box::new(create(target.out)?)
    };
    let format = match target.format {
        ExportFormat::Jsonl => Format::Jsonl,
        ExportFormat::Csv => Format::Csv,
        ExportFormat::Ocsf => Format::Ocsf,
    };
    let proofs = export::write_events(store.as_ref(), format, range, (size, &note), &mut out)
        .await
        .map_err(usage)?;
    out.flush()?;
    drop(out);
    let count = range.map_or(0, |(first, last)| last - first + 1);
    let manifest_path = target.manifest_path();
    if let Some(path) = &manifest_path {
        let manifest = export::manifest(format, &note, size, &keys, range, proofs);
        let mut file = create(path)?;
        writeln!(file, "{manifest}")?;
        file.flush()?;
    }
    let manifest_text = manifest_path.as_ref().map_or(
        "none (pass --manifest FILE to keep the proofs)".to_string(),
        |p| p.display().to_string(),
    );
    if json && !target.to_stdout() {
        output::json(
            &json!({"events": count, "out": target.out.display().to_string(), "manifest": manifest_path.map(|p| p.display().to_string()), "tree_size": size}),
        )?;
    } else {
        // The export may be on standard output: the summary goes to standard error.
        eprintln!(
            "exported {count} events to {} (checkpoint of size {size} and proofs: {manifest_text})",
            target.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `moat audit check-export FILE --manifest M`: every line is an event whose canonical
/// JSON hashes to its leaf, the manifest proves each leaf into its signed checkpoint
/// (signed by a trusted key), and the file holds exactly the manifest's range.
pub fn check_export(
    context: &Context,
    file: &Path,
    manifest: &Path,
    extra_keys: &[PathBuf],
    json: bool,
) -> Result<ExitCode> {
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(manifest)
            .with_context(|| format!("reading {}", manifest.display()))?,
    )
    .map_err(|e| {
        UsageError(format!(
            "{} is not an export manifest: {e}",
            manifest.display()
        ))
    })?;
    let keys = crate::audit_keys::trusted_keys(context, extra_keys)?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let result = check_lines(&text, &manifest, &keys);
    let count = text.lines().filter(|l| !l.trim().is_empty()).count();
    if json {
        output::json(
            &json!({"ok": result.is_ok(), "events": count, "reason": result.as_ref().err()}),
        )?;
    }
    match result {
        Ok(()) => {
            if !json {
                output::say(&format!(
                    "ok: {count} events, each in the signed checkpoint, none missing\n"
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(reason) => {
            if !json {
                eprintln!("export FAILED: {reason}");
            }
            Ok(ExitCode::from(1))
        }
    }
}

fn check_lines(
    text: &str,
    manifest: &Value,
    keys: &[moat_audit::checkpoint::VerifierKey],
) -> Result<(), String> {
    let checkpoint = manifest["checkpoint"]
        .as_str()
        .ok_or("the manifest has no checkpoint")?;
    let tree_size = manifest["tree_size"]
        .as_u64()
        .ok_or("the manifest has no tree_size")?;
    let proofs: std::collections::HashMap<u64, &Value> = manifest["proofs"]
        .as_array()
        .ok_or("the manifest has no proofs")?
        .iter()
        .filter_map(|p| Some((p["seq"].as_u64()?, p)))
        .collect();
    let mut seen = Vec::new();
    for (number, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let mut event: Value = serde_json::from_str(line)
            .map_err(|e| format!("line {}: not JSON: {e}", number + 1))?;
        let seq = event["seq"]
            .as_u64()
            .ok_or(format!("line {}: no seq", number + 1))?;
        let claimed = event
            .as_object_mut()
            .and_then(|o| o.remove("leaf_hash"))
            .and_then(|v| v.as_str().map(str::to_string))
            .ok_or(format!("event {seq}: no leaf_hash"))?;
        let canonical = String::from_utf8(moat_audit::event::canonical_json(&event))
            .map_err(|_| format!("event {seq}: not UTF-8"))?;
        let proof = proofs
            .get(&seq)
            .ok_or(format!("event {seq} is not in the manifest"))?;
        let doc = read::InclusionProofDoc {
            seq,
            event: canonical,
            leaf_hash: claimed,
            tree_size,
            proof: proof["proof"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|h| h.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            checkpoint: checkpoint.to_string(),
        };
        read::verify_proof_doc(&doc, keys).map_err(|e| format!("event {seq}: {e}"))?;
        seen.push(seq);
    }
    let expected: Vec<u64> = {
        let mut seqs: Vec<u64> = proofs.keys().copied().collect();
        seqs.sort();
        seqs
    };
    seen.sort();
    if seen != expected {
        let missing: Vec<u64> = expected
            .iter()
            .filter(|s| !seen.contains(s))
            .copied()
            .collect();
        return Err(format!(
            "the file does not hold exactly the manifest's events (missing {missing:?}, {} lines for {} proofs)",
            seen.len(),
            expected.len()
        ));
    }
    Ok(())
}

fn create(path: &Path) -> Result<std::io::BufWriter<std::fs::File>> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(std::io::BufWriter::new(file))
}

/// An export failure, as a usage error where the request was at fault.
fn usage(error: ExportError) -> anyhow::Error {
    match error {
        ExportError::Usage(message) => UsageError(message).into(),
        other => other.into(),
    }
}

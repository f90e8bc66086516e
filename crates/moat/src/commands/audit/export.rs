//! `moat audit export`: an extract a SIEM ingests as it is and an auditor can check
//! without Moat's database.
//!
//! JSONL: one flat JSON object per line, the event's own fields (its canonical JSON)
//! plus `leaf_hash`. CSV: one row per event naming what changed (operation, phase, tool,
//! query, decision, rule, reason). The checkpoint the proofs lead to, the public keys
//! and each event's inclusion proof go to a manifest beside the export
//! (`NAME.manifest.json`, or `--manifest FILE`), so the export file holds events only.
//! `moat audit check-export` checks a JSONL export against its manifest.

use super::{Filter, normalize_time};
use crate::cli::ExportFormat;
use crate::context::{Context, UsageError};
use crate::output;
use anyhow::{Context as _, Result};
use moat_audit::event::Event;
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

    let (first, last) = resolve_range(store.as_ref(), from.as_deref(), to.as_deref(), size).await?;
    let keys = crate::audit_keys::trusted_keys(context, &[])?;
    let mut out: Box<dyn Write> = if target.to_stdout() {
        Box::new(std::io::BufWriter::new(std::io::stdout().lock()))
    } else {
        Box::new(create(target.out)?)
    };
    if matches!(target.format, ExportFormat::Csv) {
        writeln!(out, "{CSV_HEADER}")?;
    }
    let mut proofs = Vec::new();
    if let Some((first, last)) = first.zip(last) {
        for seq in first..=last {
            let doc = read::prove(store.as_ref(), seq).await?;
            match target.format {
                ExportFormat::Jsonl => {
                    let mut event: Value = serde_json::from_str(&doc.event)?;
                    event["leaf_hash"] = Value::String(doc.leaf_hash.clone());
                    writeln!(out, "{event}")?;
                }
                ExportFormat::Csv => {
                    let event = Event::from_canonical(doc.event.as_bytes())?;
                    writeln!(out, "{}", csv_row(&event, &doc.leaf_hash))?;
                }
                ExportFormat::Ocsf => {
                    let event = Event::from_canonical(doc.event.as_bytes())?;
                    let mut flat: Value = serde_json::from_str(&doc.event)?;
                    flat["leaf_hash"] = Value::String(doc.leaf_hash.clone());
                    writeln!(out, "{}", moat_service::audit::ocsf::to_ocsf(&event, &flat))?;
                }
            }
            // A CSV or OCSF line is not the hashed event: the manifest carries it.
            let mut proof = json!({"seq": seq, "leaf_hash": doc.leaf_hash, "proof": doc.proof});
            if !matches!(target.format, ExportFormat::Jsonl) {
                proof["event"] = Value::String(doc.event);
            }
            proofs.push(proof);
        }
    }
    out.flush()?;
    drop(out);
    let count = proofs.len();
    let manifest_path = target.manifest_path();
    if let Some(path) = &manifest_path {
        let manifest = json!({
            "moat_audit_export": 2,
            "format": match target.format { ExportFormat::Jsonl => "jsonl", ExportFormat::Csv => "csv", ExportFormat::Ocsf => "ocsf" },
            "checkpoint": note,
            "tree_size": size,
            "keys": keys.iter().map(|k| k.to_text()).collect::<Vec<_>>(),
            "from_seq": first,
            "to_seq": last,
            "proofs": proofs,
        });
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

/// The inclusive sequence range named by `from` and `to` (numbers or times).
async fn resolve_range(
    store: &dyn Store,
    from: Option<&str>,
    to: Option<&str>,
    size: u64,
) -> Result<(Option<u64>, Option<u64>)> {
    if size == 0 {
        return Ok((None, None));
    }
    let as_seq = |text: &str| text.parse::<u64>().ok();
    let first = match from {
        None => 0,
        Some(text) => match as_seq(text) {
            Some(seq) => seq,
            None => {
                let filter = Filter {
                    actor: None,
                    action: None,
                    repo: None,
                    since: Some(normalize_time(text)?),
                    until: None,
                };
                match super::search(store, &filter, 1).await?.first() {
                    Some(event) => event.seq,
                    None => return Ok((None, None)),
                }
            }
        },
    };
    let last = match to {
        None => size - 1,
        Some(text) => match as_seq(text) {
            Some(seq) => seq.min(size - 1),
            None => {
                let until = normalize_time(text)?;
                let filter = Filter {
                    actor: None,
                    action: None,
                    repo: None,
                    since: Some(until),
                    until: None,
                };
                match super::search(store, &filter, 1).await?.first() {
                    Some(event) if event.seq == 0 => return Ok((None, None)),
                    Some(event) => event.seq - 1,
                    None => size - 1,
                }
            }
        },
    };
    if first > last {
        return Err(UsageError(format!("the range is empty: from {first} to {last}")).into());
    }
    Ok((Some(first), Some(last)))
}

const CSV_HEADER: &str = "seq,time,action,operation,phase,tool,query,actor_user,actor_email,token_id,client,address,decision,rule,reason,repos,objects,policy_version,leaf_hash";

fn csv_row(event: &Event, leaf_hash: &str) -> String {
    let b = &event.body;
    let or_empty = |v: &Option<String>| v.clone().unwrap_or_default();
    let detail = |key: &str| b.details[key].as_str().unwrap_or_default().to_string();
    // What was asked: an MCP call's query, a search's (redacted before it was recorded).
    let query = b.details["arguments"]["query"]
        .as_str()
        .or_else(|| b.details["query"].as_str())
        .unwrap_or_default()
        .to_string();
    let fields = [
        event.seq.to_string(),
        event.time.clone(),
        b.action.clone(),
        detail("operation"),
        detail("phase"),
        detail("tool"),
        query,
        or_empty(&b.actor.user),
        or_empty(&b.actor.email),
        or_empty(&b.actor.token_id),
        or_empty(&b.actor.client),
        or_empty(&b.actor.address),
        format!("{:?}", b.decision.outcome).to_lowercase(),
        or_empty(&b.decision.rule),
        or_empty(&b.decision.reason),
        b.resources.repos.join(" "),
        b.resources.objects.join(" "),
        b.policy_version.clone(),
        leaf_hash.to_string(),
    ];
    fields
        .iter()
        .map(|f| crate::output::csv_field(f))
        .collect::<Vec<_>>()
        .join(",")
}

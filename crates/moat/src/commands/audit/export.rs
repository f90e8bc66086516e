//! `moat audit export`: an extract an auditor can check without Moat's database.
//!
//! JSONL: a header line with the checkpoint the proofs lead to and the public keys, then
//! one line per event with its canonical JSON and its inclusion proof. CSV: one row per
//! event for spreadsheets, with the same proofs beside it in `<out>.proofs.jsonl`.

use super::{Filter, normalize_time};
use crate::cli::ExportFormat;
use crate::context::{Context, UsageError};
use crate::output;
use anyhow::{Context as _, Result};
use moat_audit::event::Event;
use moat_service::audit::read;
use moat_store::Store;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

pub async fn export(
    context: &Context,
    store: Arc<dyn Store>,
    from: Option<String>,
    to: Option<String>,
    format: ExportFormat,
    out: &Path,
    json: bool,
) -> Result<ExitCode> {
    // Proofs need a checkpoint that covers every exported event.
    let log = context.audit_log(store.clone()).await?;
    let signed = log.checkpoint().await;
    log.close().await?;
    let (size, note) = signed?;

    let (first, last) = resolve_range(store.as_ref(), from.as_deref(), to.as_deref(), size).await?;
    let keys = crate::audit_keys::trusted_keys(context, &[])?;
    let header = serde_json::json!({
        "moat_audit_export": 1,
        "checkpoint": note,
        "tree_size": size,
        "keys": keys.iter().map(|k| k.to_text()).collect::<Vec<_>>(),
        "from_seq": first,
        "to_seq": last,
    });
    let proofs_path = match format {
        ExportFormat::Jsonl => out.to_path_buf(),
        ExportFormat::Csv => out.with_extension("proofs.jsonl"),
    };
    let mut proofs = create(&proofs_path)?;
    writeln!(proofs, "{header}")?;
    let mut csv = match format {
        ExportFormat::Csv => {
            let mut file = create(out)?;
            writeln!(
                file,
                "seq,time,action,actor_user,actor_email,token_id,client,address,outcome,rule,repos,objects,policy_version,leaf_hash"
            )?;
            Some(file)
        }
        ExportFormat::Jsonl => None,
    };
    let mut count = 0u64;
    if let Some((first, last)) = first.zip(last) {
        for seq in first..=last {
            let doc = read::prove(store.as_ref(), seq).await?;
            writeln!(
                proofs,
                "{}",
                serde_json::json!({"seq": seq, "event": doc.event, "leaf_hash": doc.leaf_hash, "proof": doc.proof})
            )?;
            if let Some(file) = csv.as_mut() {
                let event = Event::from_canonical(doc.event.as_bytes())?;
                writeln!(file, "{}", csv_row(&event, &doc.leaf_hash))?;
            }
            count += 1;
        }
    }
    proofs.flush()?;
    if json {
        output::json(
            &serde_json::json!({"events": count, "out": out.display().to_string(), "proofs": proofs_path.display().to_string(), "tree_size": size}),
        )?;
    } else {
        output::say(&format!(
            "exported {count} events to {} (proofs against the checkpoint of size {size} in {})\n",
            out.display(),
            proofs_path.display()
        ));
    }
    Ok(ExitCode::SUCCESS)
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

fn csv_row(event: &Event, leaf_hash: &str) -> String {
    let b = &event.body;
    let or_empty = |v: &Option<String>| v.clone().unwrap_or_default();
    let fields = [
        event.seq.to_string(),
        event.time.clone(),
        b.action.clone(),
        or_empty(&b.actor.user),
        or_empty(&b.actor.email),
        or_empty(&b.actor.token_id),
        or_empty(&b.actor.client),
        or_empty(&b.actor.address),
        format!("{:?}", b.decision.outcome).to_lowercase(),
        or_empty(&b.decision.rule),
        b.resources.repos.join(" "),
        b.resources.objects.join(" "),
        b.policy_version.clone(),
        leaf_hash.to_string(),
    ];
    fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",")
}

/// RFC 4180 quoting; a leading formula character is neutralised for spreadsheets.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

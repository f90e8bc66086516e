//! Where the audit log's signing key and trusted public keys come from.
//!
//! The signing key is `[audit] signing_key_file` or `signing_key_env` (C2SP text form,
//! `PRIVATE+KEY+name+id+base64`), or else a key generated once in
//! `<data>/audit/signing.key`. Every key's public half is kept in `<data>/audit/keys/`, so
//! checkpoints signed before a key rotation stay verifiable; `moat audit verify --key`
//! adds keys held elsewhere.

use crate::context::{Context, UsageError};
use anyhow::{Context as _, Result};
use moat_audit::checkpoint::{SigningKey, VerifierKey};
use std::path::{Path, PathBuf};

pub fn audit_dir(context: &Context) -> PathBuf {
    context.data_dir.join("audit")
}

pub fn signing_key(context: &Context) -> Result<SigningKey> {
    let audit = &context.config.audit;
    let key = if let Some(path) = &audit.signing_key_file {
        let path = moat_config::resolve(&context.data_dir, &Some(path.clone()), "");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading [audit] signing_key_file {}", path.display()))?;
        SigningKey::from_text(&text).map_err(|e| UsageError(format!("{}: {e}", path.display())))?
    } else if let Some(variable) = &audit.signing_key_env {
        let text = std::env::var(variable).map_err(|_| {
            UsageError(format!(
                "[audit] signing_key_env names ${variable}, which is not set"
            ))
        })?;
        SigningKey::from_text(&text).map_err(|e| UsageError(format!("${variable}: {e}")))?
    } else {
        generated_key(&audit_dir(context).join("signing.key"))?
    };
    remember_public_key(&audit_dir(context).join("keys"), &key.verifier())?;
    Ok(key)
}

/// `moat audit new-key`: a fresh signing key written owner-only to `out` (never over
/// an existing file); its public half printed for auditors and witnesses.
pub fn new_key(out: &Path, name: &str, json: bool) -> Result<std::process::ExitCode> {
    if out.exists() {
        return Err(UsageError(format!(
            "{} exists; a signing key is never overwritten (move it aside first)",
            out.display()
        ))
        .into());
    }
    let key = random_key(name)?;
    crate::output::write_private(out, key.to_text().as_bytes())?;
    let public = key.verifier().to_text();
    if json {
        crate::output::json(&serde_json::json!({"file": out, "public_key": public}))?;
    } else {
        crate::output::say(&format!(
            "wrote the signing key to {} (owner-only)
public key: {public}
",
            out.display()
        ));
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn random_key(name: &str) -> Result<SigningKey> {
    let mut seed = [0u8; 32];
    rand::fill(&mut seed);
    Ok(SigningKey::from_seed(name, seed)?)
}

/// Reads the generated key, creating it (owner-only) on first use.
fn generated_key(path: &Path) -> Result<SigningKey> {
    if path.exists() {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return SigningKey::from_text(&text)
            .map_err(|e| UsageError(format!("{}: {e}", path.display())).into());
    }
    let mut suffix = [0u8; 4];
    rand::fill(&mut suffix);
    let key = random_key(&format!("moat-audit-{}", hex::encode(suffix)))?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    crate::output::write_private(path, key.to_text().as_bytes())?;
    Ok(key)
}

fn remember_public_key(dir: &Path, key: &VerifierKey) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{}.vkey", key.name));
    if !path.exists() {
        std::fs::write(&path, format!("{}\n", key.to_text()))?;
    }
    Ok(())
}

/// Public keys from `<data>/audit/keys/` plus any given explicitly.
pub fn trusted_keys(context: &Context, extra: &[PathBuf]) -> Result<Vec<VerifierKey>> {
    let mut files: Vec<PathBuf> = extra.to_vec();
    let dir = audit_dir(context).join("keys");
    if let Ok(entries) = std::fs::read_dir(&dir) {
        files.extend(
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "vkey")),
        );
    }
    let mut keys = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        keys.push(
            VerifierKey::from_text(&text)
                .map_err(|e| UsageError(format!("{}: {e}", file.display())))?,
        );
    }
    if keys.is_empty() {
        return Err(UsageError(format!(
            "no public keys to verify with: {} is empty; pass --key FILE",
            dir.display()
        ))
        .into());
    }
    Ok(keys)
}

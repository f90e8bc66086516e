//! Every secret and file `moat.toml` refers to, checked together before serving, so an
//! operator fixes them in one pass instead of one restart per missing variable.

use crate::context::{Context, UsageError};
use anyhow::Result;
use std::path::{Path, PathBuf};

/// One reference: what uses it, and the variable or file it names.
struct Reference {
    what: String,
    env: Option<String>,
    file: Option<PathBuf>,
}

impl Context {
    /// The references `moat serve` resolves, each missing one named; all at once.
    pub fn check_references(&self) -> Result<()> {
        let problems: Vec<String> = self
            .references()
            .iter()
            .filter_map(|r| self.problem(r))
            .collect();
        if problems.is_empty() {
            return Ok(());
        }
        let source = match &self.published {
            Some(published) => format!("published configuration version {}", published.version),
            None => self.config_path.display().to_string(),
        };
        Err(UsageError(format!(
            "{} reference{} in {source} cannot be resolved:\n  {}\nset the variables (or create the files) and start again",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            problems.join("\n  ")
        ))
        .into())
    }

    fn problem(&self, reference: &Reference) -> Option<String> {
        if let Some(name) = &reference.env {
            let set = std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
            return (!set).then(|| {
                format!(
                    "{}: the environment variable {name} is not set",
                    reference.what
                )
            });
        }
        let path = reference.file.as_ref()?;
        let path = moat_config::resolve(&self.data_dir, &Some(path.clone()), "");
        std::fs::File::open(&path)
            .err()
            .map(|e| format!("{}: {}: {e}", reference.what, path.display()))
    }

    fn references(&self) -> Vec<Reference> {
        let c = &self.config;
        let mut out = Vec::new();
        let mut add = |what: String, env: &Option<String>, file: &Option<PathBuf>| {
            if env.is_some() || file.is_some() {
                out.push(Reference {
                    what,
                    env: env.clone(),
                    file: file.clone(),
                });
            }
        };
        add("[store] url".into(), &c.store.url_env, &c.store.url_file);
        add("[store] ca_file".into(), &None, &c.store.ca_file);
        for vendor in &c.vendors {
            add(
                format!("[[vendors]] `{}` key", vendor.name),
                &vendor.key_env,
                &vendor.key_file,
            );
        }
        add(
            "[identity] scim_token".into(),
            &c.identity.scim_token_env,
            &c.identity.scim_token_file,
        );
        if let Some(oidc) = &c.identity.oidc {
            add(
                "[identity.oidc] client_secret".into(),
                &oidc.client_secret_env,
                &oidc.client_secret_file,
            );
        }
        if let Some(g) = &c.permissions.github {
            add(
                "[permissions.github] token".into(),
                &g.token_env,
                &g.token_file,
            );
            add(
                "[permissions.github] webhook_secret".into(),
                &g.webhook_secret_env,
                &g.webhook_secret_file,
            );
            add(
                "[permissions.github] oauth_client_secret".into(),
                &g.oauth_client_secret_env,
                &g.oauth_client_secret_file,
            );
        }
        if let Some(g) = &c.permissions.gitlab {
            add(
                "[permissions.gitlab] token".into(),
                &g.token_env,
                &g.token_file,
            );
            add(
                "[permissions.gitlab] webhook_token".into(),
                &g.webhook_token_env,
                &g.webhook_token_file,
            );
            add(
                "[permissions.gitlab] oauth_client_secret".into(),
                &g.oauth_client_secret_env,
                &g.oauth_client_secret_file,
            );
        }
        add(
            "[audit] signing_key".into(),
            &c.audit.signing_key_env,
            &c.audit.signing_key_file,
        );
        for sink in &c.audit.sinks {
            add(
                format!("[[audit.sinks]] `{}` token", sink.name),
                &sink.token_env,
                &sink.token_file,
            );
            add(
                format!("[[audit.sinks]] `{}` ca_file", sink.name),
                &None,
                &sink.ca_file,
            );
        }
        // A published configuration carries its policies; no node reads its own copy.
        if self.published.is_none() {
            add(
                "[permissions] policies_file".into(),
                &None,
                &c.permissions.policies_file,
            );
        }
        out
    }
}

/// Where a command finds `moat.toml`: `--config` (or `MOAT_CONFIG`); else
/// `DIR/moat.toml` for `--data-dir DIR` (or `MOAT_DATA_DIR`); else `./moat.toml`; else
/// the demo's `./moat-demo/moat.toml`. `None`, with the places looked at, otherwise.
pub fn find_config(
    config: Option<&Path>,
    data_dir: Option<&Path>,
) -> std::result::Result<PathBuf, Vec<PathBuf>> {
    if let Some(path) = config {
        return Ok(path.to_path_buf());
    }
    let mut looked = Vec::new();
    if let Some(dir) = data_dir {
        looked.push(dir.join("moat.toml"));
    }
    looked.push(PathBuf::from("moat.toml"));
    looked.push(Path::new(crate::commands::DEMO_DATA_DIR).join("moat.toml"));
    match looked.iter().find(|p| p.is_file()) {
        Some(found) => Ok(found.clone()),
        None => Err(looked),
    }
}

//! Changes to the configuration file a node reads (`moat repo add|remove|classify`), on
//! the record like every other administrative change: `admin.change` requested (with
//! the policy version the new text makes) before the file is touched, then applied. The
//! text is written beside the file and renamed over it, so a reader never sees half of
//! it; the caller validated the text (`moat_config::edit`).

use crate::admin::{Admin, AdminActor, AdminError};
use crate::identity::IdentityError;
use serde_json::json;
use std::path::Path;

/// Replaces the file at `path` with `text`, on the record as `operation` on `repo`.
pub async fn replace(
    admin: &Admin<'_>,
    actor: &AdminActor,
    operation: &'static str,
    repo: &str,
    path: &Path,
    text: &str,
    new_policy_version: &str,
) -> Result<(), AdminError> {
    let file = path.display().to_string();
    let candidate = path.with_extension("toml.new");
    admin
        .record_change(
            actor,
            operation,
            format!("repo/{repo}"),
            json!({"repo": repo, "file": file, "new_policy_version": new_policy_version}),
            json!({"policy_version": admin.policy_version}),
            async {
                let (candidate, path, text) = (candidate, path.to_path_buf(), text.to_string());
                let written = tokio::task::spawn_blocking(move || {
                    let written = std::fs::write(&candidate, text)
                        .and_then(|()| std::fs::rename(&candidate, &path));
                    if written.is_err() {
                        let _ = std::fs::remove_file(&candidate);
                    }
                    written
                })
                .await
                .map_err(std::io::Error::other)
                .and_then(|written| written);
                written.map_err(|e| IdentityError::Invalid(format!("replacing {file}: {e}")))
            },
            |_| {
                (
                    format!("repo/{repo}"),
                    json!({"repo": repo, "file": file, "policy_version": new_policy_version}),
                )
            },
        )
        .await
}

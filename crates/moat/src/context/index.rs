//! The code index, its replicas and the sensitive-data detector, as configured.

use super::{Context, UsageError};
use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;

impl Context {
    /// The index directory of this node: derived data, rebuilt from git when missing.
    pub fn open_index(&self) -> Result<Arc<moat_index::CodeIndex>> {
        let settings = self.index_settings()?;
        let directory = self.data_dir.join("index");
        let index = moat_index::CodeIndex::open(&directory, settings)
            .with_context(|| format!("opening the index at {}", directory.display()))?;
        Ok(Arc::new(index))
    }

    /// How this configuration indexes: its detection rules and fingerprint key.
    pub fn index_settings(&self) -> Result<moat_index::IndexSettings> {
        Ok(moat_index::IndexSettings {
            options: moat_index::IndexOptions::default(),
            detector: self.detector()?,
            fingerprint_key: crate::commands::scan::fingerprint_key(Some(self))?,
            dlp_version: self.dlp_version(),
        })
    }

    /// The sensitive-data detector with the organisation's `[dlp]` rules.
    pub fn detector(&self) -> Result<moat_dlp::Detector> {
        moat_dlp::Detector::new(&moat_service::scan::detector_config(&self.config.dlp))
            .map_err(|e| UsageError(format!("[dlp] rules: {e}")).into())
    }

    /// Changes when the `[dlp]` section changes, so repositories are re-scrubbed.
    pub fn dlp_version(&self) -> String {
        use sha2::Digest;
        let section = serde_json::to_vec(&self.config.dlp).unwrap_or_default();
        hex::encode(&sha2::Sha256::digest(&section)[..8])
    }

    /// Repositories with their tier policy, as the context service needs them.
    pub fn repo_policies(&self) -> Vec<moat_service::RepoPolicy> {
        self.config
            .repos
            .iter()
            .map(|repo| moat_service::RepoPolicy {
                name: repo.name.clone(),
                source: self.repo_source(repo),
                tier: repo.tier,
                disclosure: repo
                    .disclosure
                    .unwrap_or_else(|| self.config.tiers.effective(repo.tier).mcp),
            })
            .collect()
    }

    /// Every connected repository as this node's index replica indexes it.
    pub fn replica_repos(&self) -> Vec<moat_service::index_replica::ReplicaRepo> {
        self.config
            .repos
            .iter()
            .map(|repo| moat_service::index_replica::ReplicaRepo {
                name: repo.name.clone(),
                source: self.repo_source(repo),
                remote: is_remote(&repo.source).then(|| repo.source.clone()),
                reference: repo.pinned_ref.clone().or_else(|| repo.branch.clone()),
                exclude: repo.exclude.clone(),
            })
            .collect()
    }

    /// Where a repository's git objects are read: its local path, or the mirror that
    /// `moat repo sync` keeps of a remote one.
    pub fn repo_source(&self, repo: &moat_config::Repo) -> PathBuf {
        if is_remote(&repo.source) {
            self.data_dir.join("git").join(format!("{}.git", repo.name))
        } else {
            let path = PathBuf::from(&repo.source);
            if path.is_absolute() {
                path
            } else {
                self.config_path
                    .parent()
                    .unwrap_or(Path::new("."))
                    .join(path)
            }
        }
    }
}

pub use moat_service::git_mirror::is_remote;

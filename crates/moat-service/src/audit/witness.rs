//! Witnesses: places outside the data directory that receive every checkpoint, so that
//! whoever controls the database cannot roll history back unseen.

use std::path::PathBuf;

#[async_trait::async_trait]
pub trait Witness: Send + Sync {
    /// Where the checkpoint goes, for logs.
    fn describe(&self) -> String;
    /// Delivers a signed checkpoint note. Runs on the writer thread's runtime.
    async fn publish(&self, note: &str) -> Result<(), String>;
}

/// Keeps the latest checkpoint in a file (replaced atomically), ready for
/// `moat audit verify --against FILE`.
pub struct FileWitness {
    pub path: PathBuf,
}

#[async_trait::async_trait]
impl Witness for FileWitness {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    async fn publish(&self, note: &str) -> Result<(), String> {
        let temporary = self.path.with_extension("tmp");
        std::fs::write(&temporary, note)
            .and_then(|_| std::fs::rename(&temporary, &self.path))
            .map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }
}

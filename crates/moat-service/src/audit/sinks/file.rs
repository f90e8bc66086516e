//! The file sink: JSON Lines appended and synced to disk before the cursor moves.

use super::Forwarded;
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct FileSink {
    path: PathBuf,
}

impl FileSink {
    pub fn new(path: &Path) -> FileSink {
        FileSink {
            path: path.to_path_buf(),
        }
    }

    pub async fn deliver(&mut self, events: &[Forwarded]) -> Result<(), String> {
        let mut text = String::with_capacity(events.iter().map(|e| e.body().len() + 1).sum());
        for event in events {
            text.push_str(event.body());
            text.push('\n');
        }
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || append(&path, text.as_bytes()))
            .await
            .map_err(|e| format!("the file sink's writer stopped: {e}"))?
    }
}

fn append(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let fail = |what: &str, e: std::io::Error| format!("{what} {}: {e}", path.display());
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| fail("opening", e))?;
    file.write_all(bytes).map_err(|e| fail("writing", e))?;
    file.sync_data().map_err(|e| fail("syncing", e))
}

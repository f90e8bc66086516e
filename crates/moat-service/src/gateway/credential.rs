//! A vendor credential that changes while Moat runs: a bearer token kept in a file by
//! whatever refreshes it (a Microsoft Entra ID token written by a managed-identity
//! agent, which lives about an hour). Read again once it is a minute old, so a
//! refreshed token is used within a minute and the file is not read per request.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a token read from its file is used before the file is read again.
const REREAD_AFTER: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct TokenFile {
    path: PathBuf,
    reread_after: Duration,
    read: Arc<Mutex<Option<(String, Instant)>>>,
    /// One read of the file at a time: the requests that find the token stale wait
    /// for it instead of each starting a read (a hung mount would hold one blocking
    /// thread per request).
    refreshing: Arc<tokio::sync::Mutex<()>>,
}

impl TokenFile {
    pub fn new(path: &Path) -> TokenFile {
        TokenFile::reread_after(path, REREAD_AFTER)
    }

    /// Read again once the token read is `after` old.
    pub fn reread_after(path: &Path, after: Duration) -> TokenFile {
        TokenFile {
            path: path.to_path_buf(),
            reread_after: after,
            read: Arc::new(Mutex::new(None)),
            refreshing: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current token, or why it cannot be had (never the token itself). A file
    /// that cannot be read, is larger than 64 KiB, takes over two seconds or holds
    /// nothing is an error, not the last token: a token that was withdrawn must stop
    /// being sent. The file is read off the async workers.
    pub async fn token(&self) -> Result<String, String> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let _refreshing = self.refreshing.lock().await;
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let path = self.path.clone();
        let text = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::task::spawn_blocking(move || read_capped(&path, MAX_TOKEN_FILE)),
        )
        .await
        .map_err(|_| {
            format!(
                "the token file {} took over 2 s to read",
                self.path.display()
            )
        })?
        .map_err(|e| format!("the token file could not be read: {e}"))?
        .map_err(|e| format!("the token file {} cannot be read: {e}", self.path.display()))?;
        let token = text.trim();
        if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "the token file {} does not hold one token",
                self.path.display()
            ));
        }
        let mut read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        *read = Some((token.to_string(), Instant::now()));
        Ok(token.to_string())
    }
}

impl TokenFile {
    /// The token read, while it is young enough.
    fn fresh(&self) -> Option<String> {
        let read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        read.as_ref()
            .filter(|(_, at)| at.elapsed() < self.reread_after)
            .map(|(token, _)| token.clone())
    }
}

/// The most a token file may hold.
const MAX_TOKEN_FILE: u64 = 64 * 1024;

/// A small file's text, at most `limit` bytes (more is `FileTooLarge`); blocking.
pub(super) fn read_capped(path: &Path, limit: u64) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("it is larger than {} KiB", limit / 1024),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::TokenFile;

    #[tokio::test]
    async fn a_token_is_read_from_its_file_and_a_bad_file_is_an_error_without_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let file = TokenFile::new(&path);
        assert!(file.token().await.unwrap_err().contains("cannot be read"));
        std::fs::write(&path, "eyJ0eXAi.first.sig\n").unwrap();
        assert_eq!(file.token().await.unwrap(), "eyJ0eXAi.first.sig");
        std::fs::write(&path, "two tokens").unwrap();
        // Within the minute the token read is used.
        assert_eq!(file.token().await.unwrap(), "eyJ0eXAi.first.sig");
        let fresh = TokenFile::new(&path);
        let error = fresh.token().await.unwrap_err();
        assert!(
            error.contains("does not hold one token") && !error.contains("two"),
            "{error}"
        );
    }
}

/// A failure to get a credential, held as the answer for a few seconds: the requests
/// queued behind a fetch that failed are refused at once rather than each trying again
/// in turn (a metadata service that does not answer would hold each for its timeout).
#[derive(Default)]
pub struct HeldFailure(Mutex<Option<(String, Instant)>>);

impl HeldFailure {
    /// How long a failure is the answer.
    pub const FOR: Duration = Duration::from_secs(5);

    /// The failure still held, if any.
    pub fn recent(&self) -> Option<String> {
        let held = self.0.lock().ok()?;
        held.as_ref()
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(why, _)| why.clone())
    }

    pub fn hold(&self, why: &str) {
        if let Ok(mut held) = self.0.lock() {
            *held = Some((why.to_string(), Instant::now() + Self::FOR));
        }
    }

    pub fn clear(&self) {
        if let Ok(mut held) = self.0.lock() {
            *held = None;
        }
    }
}

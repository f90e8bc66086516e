//! The index's error type.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("repository `{repo}`: {message}")]
    Git { repo: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("search index: {0}")]
    Search(String),
    #[error("another moat process is writing the index; wait for it to finish and try again")]
    Busy,
    #[error("{what} is damaged: {reason}")]
    Corrupt { what: String, reason: String },
    #[error("exclude pattern `{pattern}`: {reason}")]
    Pattern { pattern: String, reason: String },
    #[error("no repository `{0}` is indexed; run `moat index {0}`")]
    NotIndexed(String),
}

impl IndexError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> IndexError {
        IndexError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

impl From<tantivy::TantivyError> for IndexError {
    fn from(error: tantivy::TantivyError) -> IndexError {
        IndexError::Search(error.to_string())
    }
}

//! The store's error type.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} `{id}` not found")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    /// The row changed since the caller read it (a version or ETag that no longer
    /// matches); nothing was written.
    #[error("{what} `{id}` changed since it was read")]
    Stale { what: &'static str, id: String },
    #[error("the database at {path} cannot be used: {reason}")]
    Open { path: String, reason: String },
    #[error(
        "database schema version {found} is newer than this moat supports ({supported}); upgrade moat"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Backend(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(code, message) = &error
            && code.code == rusqlite::ErrorCode::ConstraintViolation
        {
            return StoreError::Conflict(
                message
                    .clone()
                    .unwrap_or_else(|| "constraint violated".to_string()),
            );
        }
        StoreError::Backend(error.to_string())
    }
}

//! Where Moat keeps its state: the [`Store`] trait and its embedded SQLite backend.
//!
//! Callers hold an `Arc<dyn Store>` and never see SQL. The trait is async so that the
//! scale-out PostgreSQL backend can implement it natively; the SQLite backend answers
//! point queries inline (they take microseconds) and keeps one writer connection plus a
//! small pool of readers in WAL mode. Schema changes are numbered migrations applied at
//! open, never edited once shipped.
//!
//! [`conformance`] holds the behavioural tests every backend must pass; each backend's
//! own test module runs them.

mod error;
mod sqlite;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use error::StoreError;
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use moat_domain::{Token, TokenId, TrainingAttestation, UnixTime, User, UserId, UserStatus};

pub type StoreResult<T> = Result<T, StoreError>;

/// A token together with the user it belongs to, as the request path needs them.
#[derive(Debug, Clone)]
pub struct Credential {
    pub token: Token,
    pub user: User,
}

/// Everything Moat persists. Implementations must be safe to share across threads and
/// must make each method atomic.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a new user; `Conflict` if the id, email or an external id is taken.
    async fn insert_user(&self, user: &User) -> StoreResult<()>;
    async fn user(&self, id: &UserId) -> StoreResult<Option<User>>;
    /// Email comparison is case-insensitive.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// All users ordered by email.
    async fn users(&self) -> StoreResult<Vec<User>>;
    /// Changes a user's status; when `revoke_tokens_at` is given, every token of the user
    /// that is not yet revoked is revoked at that time in the same transaction.
    async fn set_user_status(
        &self,
        id: &UserId,
        status: UserStatus,
        revoke_tokens_at: Option<UnixTime>,
    ) -> StoreResult<User>;
    async fn set_user_training(
        &self,
        id: &UserId,
        training: &TrainingAttestation,
    ) -> StoreResult<User>;

    /// Stores a new token; `NotFound` if its user does not exist.
    async fn insert_token(&self, token: &Token) -> StoreResult<()>;
    async fn token(&self, id: &TokenId) -> StoreResult<Option<Token>>;
    /// The request path: one lookup by the SHA-256 of the presented secret.
    async fn credential_by_secret_hash(&self, sha256: &[u8; 32])
    -> StoreResult<Option<Credential>>;
    /// Tokens ordered by creation time, optionally of one user.
    async fn tokens(&self, user: Option<&UserId>) -> StoreResult<Vec<Token>>;
    /// Marks a token revoked; revoking twice keeps the first time.
    async fn revoke_token(&self, id: &TokenId, at: UnixTime) -> StoreResult<Token>;
    /// Atomically stores `replacement` and makes `old` expire at `old_expires_at`,
    /// pointing it at its replacement.
    async fn rotate_token(
        &self,
        old: &TokenId,
        replacement: &Token,
        old_expires_at: UnixTime,
    ) -> StoreResult<()>;
    /// Records use of a token. Backends may skip the write when the stored time is
    /// less than `coarseness_seconds` older, to keep the request path read-only.
    async fn touch_token(
        &self,
        id: &TokenId,
        at: UnixTime,
        coarseness_seconds: i64,
    ) -> StoreResult<()>;
}

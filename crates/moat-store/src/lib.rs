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

pub mod access_states;
pub mod copy;
mod error;
pub mod exceptions;
pub mod incidents;
pub mod kill_switches;
pub mod oauth;
mod postgres;
mod rows;
mod scim;
pub mod sequencer;
mod sqlite;
pub mod tls;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use access_states::AccessState;
pub use error::StoreError;
pub use exceptions::PolicyException;
pub use incidents::StoredIncident;
pub use kill_switches::KillSwitch;
pub use oauth::{GrantsOf, OAuthClientRow, OAuthGrant, OAuthSecret, SecretKind};
pub use postgres::{PostgresOptions, PostgresStore};
pub use scim::{ScimUser, Team};
pub use sequencer::{AuditSeat, QueuedRecord};
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use moat_domain::{Token, TokenId, TrainingAttestation, UnixTime, User, UserId, UserStatus};

pub type StoreResult<T> = Result<T, StoreError>;

/// A model answer that contained code, as the gateway remembers it for provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenanceAnswer {
    /// The `gateway.request` audit event of the answer.
    pub seq: u64,
    pub at: UnixTime,
    /// User id and the pinned model version that answered.
    pub user: String,
    pub model: String,
}

/// One stored audit event: its sequence number and canonical bytes, and the body it
/// references (`content_ref`), stored in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub seq: u64,
    pub canonical: Vec<u8>,
    /// SHA-256 (hex) and bytes of the request/response body the event references.
    pub body: Option<(String, Vec<u8>)>,
    /// Code the answer contained, remembered for `moat scan` in the same transaction.
    pub provenance: Option<AuditProvenance>,
}

/// Who got code from which model, and its fingerprints: [`ProvenanceAnswer`] without
/// the sequence number, which the audit row gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditProvenance {
    pub user: String,
    pub model: String,
    pub fingerprints: Vec<u32>,
}

/// Which people, and which page of them (see [`Store::users_page`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserQuery {
    pub search: Option<String>,
    pub status: Option<UserStatus>,
    pub offset: u64,
    pub limit: u64,
}

/// A signed checkpoint (C2SP note) of the tree at `size`, stored in the transaction of
/// the batch that brings the tree to that size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheckpoint {
    pub size: u64,
    pub note: String,
    pub at: UnixTime,
}

/// A stored event with the leaf hash the tree holds for it (absent if the tree lost it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLeaf {
    pub seq: u64,
    pub canonical: Vec<u8>,
    pub leaf_hash: Option<[u8; 32]>,
}

/// What a repository host says about one repository: its readers (login, level) and
/// when the mirror was last fully synced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirroredReaders {
    pub repo: String,
    pub host: String,
    pub synced_at: Option<UnixTime>,
    pub readers: Vec<(String, String)>,
}

/// One reader's change in the permission mirror: the level the caller saw (`None`: no
/// row) and the level it wants (`None`: remove). Logins are compared lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderChange {
    pub repo: String,
    pub login: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A full sync of one repository that finished at `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorSynced {
    pub repo: String,
    pub host: String,
    pub at: UnixTime,
}

/// Everything one mirror write does, in one transaction: the reader changes, the sync
/// it completes (if any) and the webhook delivery that reported it (if any), so a
/// delivery is never marked seen without its change, nor a change made twice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorUpdate {
    pub changes: Vec<ReaderChange>,
    pub synced: Option<MirrorSynced>,
    /// Delivery id and when it arrived.
    pub delivery: Option<(String, UnixTime)>,
}

/// What [`Store::mirror_apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MirrorApplied {
    /// Everything was written.
    Applied,
    /// Nothing was written: this reader's row is no longer what the caller saw
    /// (another sync or webhook changed it); read again and retry.
    Conflict { repo: String, login: String },
    /// Nothing was written: the delivery was already applied.
    Duplicate,
}

/// An explicit link from a repository-host login to a Moat user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLink {
    /// `github` or `gitlab`.
    pub host: String,
    /// Stored lowercase.
    pub login: String,
    pub user: UserId,
    /// Where the link came from: `idp`, `scim`, `saml`, `host-sign-in`.
    pub source: String,
    pub linked_at: UnixTime,
}

/// An MCP session as every node sees it: who opened it (user and token ids) and the
/// client's `initialize` parameters (JSON), so any node can resume it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpSession {
    pub id: String,
    /// `(user id, token id)`; `None` until the opener is recorded.
    pub owner: Option<(String, String)>,
    pub state: Option<String>,
    pub created_at: UnixTime,
}

/// A configuration published for every node (`moat config publish`): the
/// `moat.toml` text as published, the Cedar policies file it names (carried along, so
/// no node reads its own copy), and who published it when. Versions count up from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedConfig {
    pub version: i64,
    pub text: String,
    pub policies: Option<String>,
    /// SHA-256 of `text`, hex.
    pub sha256: String,
    pub policy_version: String,
    pub published_at: UnixTime,
    pub published_by: String,
}

/// Indexing asked of whichever node takes it first: at most one job per repository,
/// held by one node at a time under a lease its worker renews.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexJob {
    pub repo: String,
    pub requested_at: UnixTime,
    pub reason: String,
    /// The node working on it and until when its claim holds.
    pub claimed: Option<(String, UnixTime)>,
    /// Failed runs so far; a failed job waits before it is taken again.
    pub attempts: i64,
    pub last_error: Option<String>,
}

/// The commit of a repository every node's replica serves: what the last indexing job
/// found at the repository's reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexHead {
    pub repo: String,
    pub commit: String,
    pub indexed_at: UnixTime,
    pub indexed_by: String,
}

impl PublishedConfig {
    /// Why this version cannot go in after `newest`.
    pub(crate) fn out_of_turn(&self, newest: i64) -> StoreError {
        StoreError::Conflict(format!(
            "configuration version {} cannot be published after version {newest}; read the newest and publish again",
            self.version
        ))
    }
}

/// One counter of the gateway's shared limits: `key` (what is counted, for whom) in
/// `window` (a minute or a day number), with the value that refuses and what to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterTake {
    pub key: String,
    pub window: i64,
    /// The counter must be below this for anything to be added.
    pub limit: u64,
    pub add: u64,
}

/// A signed change to one counter of the gateway's shared limits (a budget's hold
/// settled into what was spent); a counter never goes below zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterChange {
    pub key: String,
    pub window: i64,
    pub delta: i64,
}

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
    /// One page of people by email: those whose email or name contains `search` (ASCII
    /// case ignored) and who have `status`, when given; with how many match in all.
    async fn users_page(&self, query: &UserQuery) -> StoreResult<(Vec<User>, u64)>;
    /// How many people have each status, in `UserStatus` order (statuses nobody has
    /// are left out).
    async fn user_counts(&self) -> StoreResult<Vec<(UserStatus, u64)>>;
    /// Changes a user's status; when `revoke_tokens_at` is given, every token of the user
    /// that is not yet revoked is revoked at that time in the same transaction. Any
    /// status but active also revokes the user's OAuth grants in that transaction
    /// (their access tokens, refresh tokens, sessions and sign-in links with them).
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

    /// Appends events, the tree nodes they complete and the checkpoint that signs the
    /// result in one durable transaction. `Conflict` if any sequence number (or the
    /// checkpoint's size) is taken: another writer got there first.
    async fn audit_append(
        &self,
        events: &[AuditRow],
        nodes: &[(u64, [u8; 32])],
        checkpoint: Option<&AuditCheckpoint>,
    ) -> StoreResult<()>;
    /// Whether other processes may use this store at the same time (PostgreSQL), so
    /// what nodes must agree on (rate limits, the log's order) is kept in it rather
    /// than in one process's memory.
    fn is_shared(&self) -> bool {
        false
    }

    /// This node's seat for sequencing the audit log, for backends that several
    /// processes append to (PostgreSQL): each node queues its records
    /// ([`Store::audit_enqueue`]) and the one seat holding the sequencer role numbers
    /// and appends everyone's. `None` where one process is the only writer (SQLite).
    /// The seat connects when first used.
    async fn audit_seat(&self) -> StoreResult<Option<Box<dyn AuditSeat>>> {
        Ok(None)
    }
    /// Hands records to the sequencer, durably, in one transaction; returns their queue
    /// ids in order. Only where [`Store::audit_seat`] gives a seat.
    async fn audit_enqueue(&self, records: &[QueuedRecord]) -> StoreResult<Vec<u64>> {
        let _ = records;
        Err(StoreError::Backend(
            "this store has no audit queue: its one writer appends directly".into(),
        ))
    }
    /// Of the queued records `ids`, those the sequencer has appended, with their
    /// sequence numbers; they leave the queue. Ids still waiting are left out.
    async fn audit_dequeue(&self, ids: &[u64]) -> StoreResult<Vec<(u64, u64)>> {
        let _ = ids;
        Ok(Vec::new())
    }
    /// Number of events (the next sequence number).
    async fn audit_size(&self) -> StoreResult<u64>;
    /// Up to `limit` events from `from` on, in order, with their stored leaf hashes.
    async fn audit_leaves(&self, from: u64, limit: usize) -> StoreResult<Vec<AuditLeaf>>;
    /// Tree nodes by key; unknown keys are left out.
    async fn audit_nodes(&self, keys: &[u64]) -> StoreResult<Vec<(u64, [u8; 32])>>;
    /// Stores a signed checkpoint; storing the same size again keeps the first.
    async fn audit_put_checkpoint(&self, size: u64, note: &str, at: UnixTime) -> StoreResult<()>;
    /// Checkpoints of sizes `from..=to`, by size, at most `limit` (one per batch: a log
    /// holds many, so they are read in ranges).
    async fn audit_checkpoints(
        &self,
        from: u64,
        to: u64,
        limit: usize,
    ) -> StoreResult<Vec<(u64, String)>>;
    async fn audit_latest_checkpoint(&self) -> StoreResult<Option<(u64, String)>>;
    /// Keeps a request/response body referenced from events by its SHA-256.
    async fn audit_put_body(&self, sha256: &str, body: &[u8], at: UnixTime) -> StoreResult<()>;
    async fn audit_body(&self, sha256: &str) -> StoreResult<Option<Vec<u8>>>;
    /// Deletes bodies stored before `before`; returns how many.
    async fn audit_delete_bodies_before(&self, before: UnixTime) -> StoreResult<u64>;
    /// Where the audit sink `name` resumes: the first sequence number it has not
    /// delivered; `None` for a sink never seen.
    async fn audit_sink_cursor(&self, name: &str) -> StoreResult<Option<u64>>;
    /// Records that the sink `name` delivered every event before `next`. A cursor never
    /// moves back: an older position is ignored.
    async fn audit_sink_advance(&self, name: &str, next: u64, at: UnixTime) -> StoreResult<()>;
    /// Every sink's cursor, by name: where it resumes and when it last moved.
    async fn audit_sink_cursors(&self) -> StoreResult<Vec<(String, u64, UnixTime)>>;

    /// Remembers the winnowing fingerprints of code a model answered with.
    async fn provenance_add(
        &self,
        answer: &ProvenanceAnswer,
        fingerprints: &[u32],
    ) -> StoreResult<()>;
    /// Answers sharing at least `min_shared` of `fingerprints`, with how many they
    /// share, most first.
    async fn provenance_matches(
        &self,
        fingerprints: &[u32],
        min_shared: u32,
    ) -> StoreResult<Vec<(ProvenanceAnswer, u32)>>;

    /// Applies a mirror update atomically (see [`MirrorUpdate`]). Each change applies
    /// only if the reader's row is still its `before`; otherwise nothing is written
    /// and the conflict is returned. A delivery already recorded writes nothing.
    async fn mirror_apply(&self, update: &MirrorUpdate) -> StoreResult<MirrorApplied>;
    /// One repository's readers `(login, level)`, by login.
    async fn mirror_readers(&self, repo: &str) -> StoreResult<Vec<(String, String)>>;
    /// The repositories `login` reads `(repo, level)`, by repository.
    async fn mirror_rows_of(&self, login: &str) -> StoreResult<Vec<(String, String)>>;
    /// A number that changes whenever people or the permission mirror change.
    async fn access_version(&self) -> StoreResult<u64>;
    /// Every mirrored repository with its readers.
    async fn mirror_all(&self) -> StoreResult<Vec<MirroredReaders>>;
    /// The repositories whose mirror changed after `access_version` returned `version`,
    /// each whole (a repository whose readers all went comes back with none).
    async fn mirror_changed_since(&self, version: u64) -> StoreResult<Vec<MirroredReaders>>;
    /// Whether a webhook delivery id was applied already (a replay).
    async fn webhook_seen(&self, id: &str) -> StoreResult<bool>;

    /// Every host-login link.
    async fn host_links(&self) -> StoreResult<Vec<HostLink>>;
    /// Creates or updates the link of `link.host`/`link.login`; `NotFound` if the user
    /// does not exist. Returns whether anything changed (the same link again writes
    /// nothing, so it does not move the access version).
    async fn host_link_set(&self, link: &HostLink) -> StoreResult<bool>;
    /// Makes the links of one host from one source exactly `links` (links of other
    /// sources are kept), writing only what differs; returns how many rows changed.
    async fn host_links_replace(
        &self,
        host: &str,
        source: &str,
        links: &[HostLink],
    ) -> StoreResult<usize>;

    // The gateway's rate limits and token budgets, shared by every node.

    /// Adds each entry's `add` to its counter if every counter is below its `limit`,
    /// atomically across all of them and every node; otherwise adds nothing and returns
    /// the index of the first counter at its limit.
    async fn counters_take(&self, takes: &[CounterTake]) -> StoreResult<Option<usize>>;
    /// Applies every change in one transaction (a counter that does not exist starts
    /// at zero; none goes below zero).
    async fn counters_add(&self, changes: &[CounterChange]) -> StoreResult<()>;
    /// The value of each `(key, window)` counter (zero where there is none).
    async fn counters_get(&self, counters: &[(String, i64)]) -> StoreResult<Vec<u64>>;
    /// Forgets counters of windows before `window` for keys starting with `prefix`;
    /// returns how many.
    async fn counters_expire(&self, prefix: &str, window: i64) -> StoreResult<u64>;

    // Configuration published for every node.

    /// Stores `config` as the next version: its `version` must be one past the newest
    /// (1 for the first), else `Conflict` (someone published meanwhile) and nothing is
    /// written.
    async fn config_publish(&self, config: &PublishedConfig) -> StoreResult<()>;
    /// The newest version's number, `None` before the first: cheap enough to poll.
    async fn config_latest_version(&self) -> StoreResult<Option<i64>>;
    /// One version, or the newest with `None`.
    async fn config_published(&self, version: Option<i64>) -> StoreResult<Option<PublishedConfig>>;
    /// Every version, newest first.
    async fn config_history(&self) -> StoreResult<Vec<PublishedConfig>>;

    // Exceptions to the policy.

    /// Stores a new exception (its id must be new).
    async fn exception_insert(&self, exception: &PolicyException) -> StoreResult<()>;
    async fn exception_get(&self, id: &str) -> StoreResult<Option<PolicyException>>;
    /// Exceptions, newest request first; only those in `status` when given.
    async fn exceptions(&self, status: Option<&str>) -> StoreResult<Vec<PolicyException>>;
    /// Replaces the exception with `exception` if it is still in `expected` status;
    /// `false` (nothing written) when another decision came first. A change bumps the
    /// access version, so every node's authorizer takes it.
    async fn exception_update(
        &self,
        exception: &PolicyException,
        expected: &str,
    ) -> StoreResult<bool>;

    // Kill switches.

    /// Every engaged switch, oldest first.
    async fn kill_switches(&self) -> StoreResult<Vec<KillSwitch>>;
    /// Engages `switch`; `false` (nothing written) when one of its kind and target is
    /// engaged already. Moves the access version, so every node's authorizer takes it.
    async fn kill_switch_engage(&self, switch: &KillSwitch) -> StoreResult<bool>;
    /// Releases the switch of `kind` on `target`, returning it; `None` when none was
    /// engaged. Moves the access version.
    async fn kill_switch_release(
        &self,
        kind: &str,
        target: &str,
    ) -> StoreResult<Option<KillSwitch>>;

    // Recorded access states.

    /// Keeps `state` with its `body` (kept once per SHA-256); `false` (nothing
    /// written) when its day has one already, so nodes taking the day's state at once
    /// keep one.
    async fn access_state_put(&self, state: &AccessState, body: &[u8]) -> StoreResult<bool>;
    /// The last state taken at or before `at` (`before`), or the first at or after it.
    async fn access_state_near(
        &self,
        at: UnixTime,
        before: bool,
    ) -> StoreResult<Option<AccessState>>;
    /// The body kept for `sha256`.
    async fn access_state_body(&self, sha256: &str) -> StoreResult<Option<Vec<u8>>>;
    /// Forgets the states taken before `before` (and bodies no state names); returns
    /// how many states.
    async fn access_states_prune(&self, before: UnixTime) -> StoreResult<u64>;

    // Incidents.

    /// Stores a new incident (its id must be new).
    async fn incident_insert(&self, incident: &StoredIncident) -> StoreResult<()>;
    async fn incident_get(&self, id: &str) -> StoreResult<Option<StoredIncident>>;
    /// Incidents, newest first; only those in `status` when given.
    async fn incidents(&self, status: Option<&str>) -> StoreResult<Vec<StoredIncident>>;
    /// Replaces the incident with `incident` if the stored one is at `incident.version
    /// - 1`; `false` (nothing written) when another change came first.
    async fn incident_update(&self, incident: &StoredIncident) -> StoreResult<bool>;

    // Indexing jobs shared by the nodes, and the commit each repository is served at.

    /// Asks for `repo` to be indexed. A job already waiting absorbs the request; one
    /// under way runs once more after it ends. Returns whether a job was added.
    async fn index_job_request(&self, repo: &str, reason: &str, at: UnixTime) -> StoreResult<bool>;
    /// Takes the oldest job that is due (unclaimed or its claim lapsed, and past its
    /// wait after a failure) for `node` until `until`; `None` when there is none. Of
    /// nodes asking at once each gets a different job (PostgreSQL: `FOR UPDATE SKIP
    /// LOCKED`).
    async fn index_job_claim(
        &self,
        node: &str,
        now: UnixTime,
        until: UnixTime,
    ) -> StoreResult<Option<IndexJob>>;
    /// Extends `node`'s claim on `repo`; `false` when the claim is no longer its own.
    async fn index_job_renew(&self, repo: &str, node: &str, until: UnixTime) -> StoreResult<bool>;
    /// Ends `node`'s job on `repo`: `Ok(commit)` records the repository's head and
    /// removes the job (or makes it due again when it was asked for meanwhile); an error
    /// releases it to be tried again after `retry_at`. `false` when the claim was no
    /// longer `node`'s (another took it over): nothing is written.
    async fn index_job_finish(
        &self,
        repo: &str,
        node: &str,
        outcome: Result<&str, &str>,
        at: UnixTime,
        retry_at: UnixTime,
    ) -> StoreResult<bool>;
    /// Every job waiting or under way, oldest first.
    async fn index_jobs(&self) -> StoreResult<Vec<IndexJob>>;
    /// Every repository's head.
    async fn index_heads(&self) -> StoreResult<Vec<IndexHead>>;
    /// Records a head found outside the queue (`moat index` on one node), so the other
    /// replicas follow it instead of taking this one back to the head before.
    async fn index_head_set(&self, head: &IndexHead) -> StoreResult<()>;

    // MCP sessions, shared by every node.

    /// Records who opened session `id` (creating its row if needed); an owner once
    /// recorded is never replaced (`Conflict`).
    async fn mcp_session_bind(
        &self,
        id: &str,
        user: &str,
        token: &str,
        at: UnixTime,
    ) -> StoreResult<()>;
    /// Keeps the client's `initialize` parameters of session `id` (creating its row if
    /// needed).
    async fn mcp_session_keep(&self, id: &str, state: &str, at: UnixTime) -> StoreResult<()>;
    async fn mcp_session(&self, id: &str) -> StoreResult<Option<McpSession>>;
    async fn mcp_session_delete(&self, id: &str) -> StoreResult<()>;
    /// Forgets sessions opened before `before`; returns how many.
    async fn mcp_sessions_expire(&self, before: UnixTime) -> StoreResult<u64>;

    // Responses (and their output items) a vendor keeps, by whom they were kept for.

    /// Records that the vendor keeps each of `ids` (a response and its output items)
    /// for `user`; an id already recorded keeps its first owner.
    async fn gateway_kept_put(&self, ids: &[String], user: &str, at: UnixTime) -> StoreResult<()>;
    /// Whom the vendor keeps response or item `id` for, if it was kept through Moat.
    async fn gateway_kept_owner(&self, id: &str) -> StoreResult<Option<String>>;
    /// Forgets ids kept before `before`; returns how many.
    async fn gateway_kept_expire(&self, before: UnixTime) -> StoreResult<u64>;

    // OAuth: clients, grants and the secrets around them.

    /// Stores a client (replacing one with the same id).
    async fn oauth_client_put(&self, client: &OAuthClientRow) -> StoreResult<()>;
    async fn oauth_client(&self, id: &str) -> StoreResult<Option<OAuthClientRow>>;
    /// Stores a new grant; `NotFound` if its user does not exist.
    async fn oauth_grant_insert(&self, grant: &OAuthGrant) -> StoreResult<()>;
    async fn oauth_grant(&self, id: &str) -> StoreResult<Option<OAuthGrant>>;
    /// Grants of one user, or of everyone, oldest first (revoked ones included).
    async fn oauth_grants(&self, user: Option<&UserId>) -> StoreResult<Vec<OAuthGrant>>;
    /// Revokes the live grants selected, in one transaction with their access tokens
    /// and every secret issued under them (for a person: all their secrets). Returns
    /// the ids of the grants revoked.
    async fn oauth_revoke_grants(
        &self,
        which: GrantsOf<'_>,
        at: UnixTime,
        reason: &str,
    ) -> StoreResult<Vec<String>>;
    /// Stores a secret; `NotFound` if its user, or its grant while live, does not exist.
    async fn oauth_secret_insert(&self, secret: &OAuthSecret) -> StoreResult<()>;
    /// The secret as it was, marked used in the same step if it was not: of two
    /// concurrent takes exactly one sees `used_at: None`.
    async fn oauth_secret_take(
        &self,
        kind: SecretKind,
        sha256: &[u8; 32],
        at: UnixTime,
    ) -> StoreResult<Option<OAuthSecret>>;
    /// The secret without marking it (browser sessions).
    async fn oauth_secret(
        &self,
        kind: SecretKind,
        sha256: &[u8; 32],
    ) -> StoreResult<Option<OAuthSecret>>;
    /// Spends `spend` (the code or refresh token presented, if any) and stores `token`
    /// (an OAuth access token) and `refresh`, in one transaction, after checking that
    /// their grant is still live: a grant revoked meanwhile issues nothing (`NotFound`).
    /// `Ok(false)` if `spend` was already spent (by a concurrent request): nothing is
    /// issued.
    async fn oauth_issue(
        &self,
        spend: Option<(SecretKind, &[u8; 32])>,
        at: UnixTime,
        token: &Token,
        refresh: &OAuthSecret,
    ) -> StoreResult<bool>;
    /// Drops secrets that expired before `before`; returns how many.
    async fn oauth_secrets_expire(&self, before: UnixTime) -> StoreResult<u64>;
    /// Sets a secret's `used_at` and `expires_at` (a session seen, or ended); false if
    /// there is no such secret.
    async fn oauth_secret_mark(
        &self,
        kind: SecretKind,
        sha256: &[u8; 32],
        used_at: UnixTime,
        expires_at: UnixTime,
    ) -> StoreResult<bool>;

    // SCIM provisioning: people's SCIM view and teams.
    /// Everyone, deprovisioned people included, oldest first.
    async fn scim_users(&self) -> StoreResult<Vec<ScimUser>>;
    async fn scim_user(&self, id: &UserId) -> StoreResult<Option<ScimUser>>;
    /// userName compares case-insensitively.
    async fn scim_user_by_name(&self, user_name: &str) -> StoreResult<Option<ScimUser>>;
    /// A new person; `Conflict` if the id, email, userName or external id is taken.
    async fn scim_user_insert(&self, user: &ScimUser) -> StoreResult<()>;
    /// Writes the email, name, status, external id, userName and SCIM attributes of
    /// `user` if their version is still `expect` (`None`: whatever it is), else `Stale`
    /// and nothing written. A status change takes what [`Store::set_user_status`]
    /// takes with it, at `at`; deprovisioning also revokes every token and leaves
    /// every team.
    async fn scim_user_update(
        &self,
        user: &ScimUser,
        expect: Option<u64>,
        at: UnixTime,
    ) -> StoreResult<ScimUser>;
    /// Every team with its members, oldest first.
    async fn teams(&self) -> StoreResult<Vec<Team>>;
    async fn team(&self, id: &str) -> StoreResult<Option<Team>>;
    /// The teams `user` is a member of, `(id, name)`, by id.
    async fn teams_of(&self, user: &UserId) -> StoreResult<Vec<(String, String)>>;
    /// A new team; its members (who must exist and not be deprovisioned, else
    /// `NotFound`) gain its name. `Conflict` if the name or external id is taken.
    async fn team_insert(&self, team: &Team) -> StoreResult<()>;
    /// Writes a team's name, external id and members if its version is still `expect`,
    /// else `Stale`; its members' team names follow in the same transaction.
    async fn team_update(
        &self,
        team: &Team,
        expect: Option<u64>,
        at: UnixTime,
    ) -> StoreResult<Team>;
    /// Removes a team (if its version is still `expect`); its members lose its name.
    async fn team_delete(&self, id: &str, expect: Option<u64>) -> StoreResult<()>;
}

//! The embedded backend: SQLite in WAL mode with foreign keys on.

mod access_states;
mod audit;
mod counters;
mod exceptions;
mod incidents;
mod index_jobs;
mod kept;
mod kill_switches;
mod links;
mod migrations;
mod mirror;
mod oauth;
mod published;
mod scim;
mod sessions;
mod tokens;
mod users;

use crate::{StoreError, StoreResult};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;

/// Readers kept open beside the single writer. Point lookups are microseconds, so a
/// handful covers a 2-core node; extra concurrent readers open a connection and drop it.
const IDLE_READERS: usize = 8;

/// How often the checkpointer copies the write-ahead log into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Pages of write-ahead log past which the writer checkpoints by itself (64 MiB), in
/// case the checkpointer cannot keep up or has stopped: the log stays bounded.
const WRITER_CHECKPOINT_PAGES: u32 = 16_384;

/// SQLite-backed [`crate::Store`]. One writer connection serialises writes (SQLite allows
/// one writer anyway, and this avoids busy retries); readers come from a small pool.
///
/// Commits fsync the write-ahead log (`synchronous = FULL`). Copying the log into the
/// database (a checkpoint, which writes and fsyncs the database file) is left to a
/// thread of its own, so no commit — an audit event a request is waiting on — ever
/// waits for one.
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// Stopped and joined when the store is dropped (see `Drop`).
    checkpointer: Option<Checkpointer>,
}

struct Checkpointer {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Drop for SqliteStore {
    /// Closes the checkpointer's connection before the store's own, so the last
    /// connection to close is the store's: SQLite then copies the whole log into the
    /// database and removes it, and `moat.db` alone holds everything once Moat exits.
    fn drop(&mut self) {
        if let Some(Checkpointer { stop, thread }) = self.checkpointer.take() {
            drop(stop);
            let _ = thread.join();
        }
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                reason: format!("cannot create {}: {e}", parent.display()),
            })?;
        }
        let mut writer = open_connection(path)?;
        migrations::apply(&mut writer)?;
        writer
            .pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)
            .map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            checkpointer: Some(start_checkpointer(path)?),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the writer connection. The writer may be held by another commit
    /// (the audit log's, with its fsync), so the wait and the write happen off the
    /// async worker: its other tasks move to another thread meanwhile.
    fn write<T>(&self, f: impl FnOnce(&mut Connection) -> StoreResult<T>) -> StoreResult<T> {
        off_the_worker(|| {
            let mut conn = self
                .writer
                .lock()
                .map_err(|_| StoreError::Backend("writer lock poisoned".into()))?;
            f(&mut conn)
        })
    }

    /// Runs `f` on a pooled reader connection. In WAL mode a reader never waits for a
    /// lock, and reads are point queries or bounded scans: they run inline. (Large
    /// scans, such as the whole mirror, are made by callers that already run off the
    /// async workers.)
    fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let pooled = self.readers.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match pooled {
            Some(conn) => conn,
            None => open_connection(&self.path)?,
        };
        let result = f(&conn);
        if let Ok(mut idle) = self.readers.lock()
            && idle.len() < IDLE_READERS
        {
            idle.push(conn);
        }
        result
    }
}

/// Runs blocking work called from async code: on a multi-threaded runtime the worker
/// first hands its other tasks to another thread (`block_in_place`); on a
/// current-thread runtime (tests, the CLI's short commands) it runs as it is.
fn off_the_worker<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) if runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Starts the thread that checkpoints the write-ahead log every [`CHECKPOINT_EVERY`]
/// until its sender is dropped. A passive checkpoint never blocks the writer:
/// it copies what no reader still needs and leaves the rest for the next round.
fn start_checkpointer(path: &Path) -> StoreResult<Checkpointer> {
    let conn = open_connection(path)?;
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("moat-sqlite-checkpoint".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY)
            {
                // (busy, log frames, checkpointed frames); failures are retried next round
                // and the writer's own threshold bounds the log meanwhile.
                if let Err(error) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                {
                    tracing::debug!(%error, "checkpoint failed; retrying later");
                }
            }
        })
        .map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            reason: format!("cannot start the checkpoint thread: {e}"),
        })?;
    Ok(Checkpointer { stop, thread })
}

fn open_connection(path: &Path) -> StoreResult<Connection> {
    let open_error = |e: rusqlite::Error| StoreError::Open {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let conn = Connection::open(path).map_err(open_error)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(open_error)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;",
    )
    .map_err(open_error)?;
    Ok(conn)
}

#[async_trait::async_trait]
impl crate::Store for SqliteStore {
    async fn mirror_apply(
        &self,
        update: &crate::MirrorUpdate,
    ) -> StoreResult<crate::MirrorApplied> {
        self.write(|conn| mirror::apply(conn, update))
    }

    async fn mirror_readers(&self, repo: &str) -> StoreResult<Vec<(String, String)>> {
        self.read(|conn| mirror::readers(conn, repo))
    }

    async fn mirror_rows_of(&self, login: &str) -> StoreResult<Vec<(String, String)>> {
        self.read(|conn| mirror::rows_of(conn, login))
    }

    async fn access_version(&self) -> StoreResult<u64> {
        self.read(mirror::access_version)
    }

    async fn mirror_all(&self) -> StoreResult<Vec<crate::MirroredReaders>> {
        self.read(mirror::all)
    }

    async fn mirror_changed_since(&self, version: u64) -> StoreResult<Vec<crate::MirroredReaders>> {
        self.read(|conn| mirror::changed_since(conn, version))
    }

    async fn webhook_seen(&self, id: &str) -> StoreResult<bool> {
        self.read(|conn| mirror::delivery_seen(conn, id))
    }

    async fn host_links(&self) -> StoreResult<Vec<crate::HostLink>> {
        self.read(links::all)
    }

    async fn host_link_set(&self, link: &crate::HostLink) -> StoreResult<bool> {
        self.write(|conn| links::set(conn, link))
    }

    async fn host_links_replace(
        &self,
        host: &str,
        source: &str,
        links: &[crate::HostLink],
    ) -> StoreResult<usize> {
        self.write(|conn| links::replace(conn, host, source, links))
    }

    async fn counters_take(&self, takes: &[crate::CounterTake]) -> StoreResult<Option<usize>> {
        self.write(|conn| counters::take(conn, takes))
    }

    async fn counters_add(&self, changes: &[crate::CounterChange]) -> StoreResult<()> {
        self.write(|conn| counters::add(conn, changes))
    }

    async fn counters_get(&self, counters: &[(String, i64)]) -> StoreResult<Vec<u64>> {
        self.read(|conn| counters::get(conn, counters))
    }

    async fn counters_expire(&self, prefix: &str, window: i64) -> StoreResult<u64> {
        self.write(|conn| counters::expire(conn, prefix, window))
    }

    async fn config_publish(&self, config: &crate::PublishedConfig) -> StoreResult<()> {
        self.write(|conn| published::publish(conn, config))
    }

    async fn config_latest_version(&self) -> StoreResult<Option<i64>> {
        self.read(published::latest_version)
    }

    async fn config_published(
        &self,
        version: Option<i64>,
    ) -> StoreResult<Option<crate::PublishedConfig>> {
        self.read(|conn| published::get(conn, version))
    }

    async fn config_history(&self) -> StoreResult<Vec<crate::PublishedConfig>> {
        self.read(published::history)
    }

    async fn exception_insert(&self, exception: &crate::PolicyException) -> StoreResult<()> {
        self.write(|conn| exceptions::insert(conn, exception))
    }

    async fn exception_get(&self, id: &str) -> StoreResult<Option<crate::PolicyException>> {
        self.read(|conn| exceptions::get(conn, id))
    }

    async fn exceptions(&self, status: Option<&str>) -> StoreResult<Vec<crate::PolicyException>> {
        self.read(|conn| exceptions::list(conn, status))
    }

    async fn exception_update(
        &self,
        exception: &crate::PolicyException,
        expected: &str,
    ) -> StoreResult<bool> {
        self.write(|conn| exceptions::update(conn, exception, expected))
    }

    async fn access_state_put(&self, state: &crate::AccessState, body: &[u8]) -> StoreResult<bool> {
        self.write(|conn| access_states::put(conn, state, body))
    }

    async fn access_state_near(
        &self,
        at: moat_domain::UnixTime,
        before: bool,
    ) -> StoreResult<Option<crate::AccessState>> {
        self.read(|conn| access_states::near(conn, at, before))
    }

    async fn access_state_body(&self, sha256: &str) -> StoreResult<Option<Vec<u8>>> {
        self.read(|conn| access_states::body(conn, sha256))
    }

    async fn access_states_prune(&self, before: moat_domain::UnixTime) -> StoreResult<u64> {
        self.write(|conn| access_states::prune(conn, before))
    }

    async fn incident_insert(&self, incident: &crate::StoredIncident) -> StoreResult<()> {
        self.write(|conn| incidents::insert(conn, incident))
    }

    async fn incident_get(&self, id: &str) -> StoreResult<Option<crate::StoredIncident>> {
        self.read(|conn| incidents::get(conn, id))
    }

    async fn incidents(&self, status: Option<&str>) -> StoreResult<Vec<crate::StoredIncident>> {
        self.read(|conn| incidents::list(conn, status))
    }

    async fn incident_update(&self, incident: &crate::StoredIncident) -> StoreResult<bool> {
        self.write(|conn| incidents::update(conn, incident))
    }

    async fn kill_switches(&self) -> StoreResult<Vec<crate::KillSwitch>> {
        self.read(kill_switches::list)
    }

    async fn kill_switch_engage(&self, switch: &crate::KillSwitch) -> StoreResult<bool> {
        self.write(|conn| kill_switches::engage(conn, switch))
    }

    async fn kill_switch_release(
        &self,
        kind: &str,
        target: &str,
    ) -> StoreResult<Option<crate::KillSwitch>> {
        self.write(|conn| kill_switches::release(conn, kind, target))
    }

    async fn index_job_request(
        &self,
        repo: &str,
        reason: &str,
        at: moat_domain::UnixTime,
    ) -> StoreResult<bool> {
        self.write(|conn| index_jobs::request(conn, repo, reason, at))
    }

    async fn index_job_claim(
        &self,
        node: &str,
        now: moat_domain::UnixTime,
        until: moat_domain::UnixTime,
    ) -> StoreResult<Option<crate::IndexJob>> {
        self.write(|conn| index_jobs::claim(conn, node, now, until))
    }

    async fn index_job_renew(
        &self,
        repo: &str,
        node: &str,
        until: moat_domain::UnixTime,
    ) -> StoreResult<bool> {
        self.write(|conn| index_jobs::renew(conn, repo, node, until))
    }

    async fn index_job_finish(
        &self,
        repo: &str,
        node: &str,
        outcome: Result<&str, &str>,
        at: moat_domain::UnixTime,
        retry_at: moat_domain::UnixTime,
    ) -> StoreResult<bool> {
        self.write(|conn| index_jobs::finish(conn, repo, node, outcome, at, retry_at))
    }

    async fn index_jobs(&self) -> StoreResult<Vec<crate::IndexJob>> {
        self.read(index_jobs::jobs)
    }

    async fn index_heads(&self) -> StoreResult<Vec<crate::IndexHead>> {
        self.read(index_jobs::heads)
    }

    async fn index_head_set(&self, head: &crate::IndexHead) -> StoreResult<()> {
        self.write(|conn| {
            index_jobs::set_head(
                conn,
                &head.repo,
                &head.commit,
                head.indexed_at,
                &head.indexed_by,
            )
        })
    }

    async fn mcp_session_bind(
        &self,
        id: &str,
        user: &str,
        token: &str,
        at: moat_domain::UnixTime,
    ) -> StoreResult<()> {
        self.write(|conn| sessions::bind(conn, id, user, token, at))
    }

    async fn mcp_session_keep(
        &self,
        id: &str,
        state: &str,
        at: moat_domain::UnixTime,
    ) -> StoreResult<()> {
        self.write(|conn| sessions::keep(conn, id, state, at))
    }

    async fn mcp_session(&self, id: &str) -> StoreResult<Option<crate::McpSession>> {
        self.read(|conn| sessions::get(conn, id))
    }

    async fn mcp_session_delete(&self, id: &str) -> StoreResult<()> {
        self.write(|conn| sessions::delete(conn, id))
    }

    async fn mcp_sessions_expire(&self, before: moat_domain::UnixTime) -> StoreResult<u64> {
        self.write(|conn| sessions::expire(conn, before))
    }

    async fn gateway_kept_put(
        &self,
        ids: &[String],
        user: &str,
        at: moat_domain::UnixTime,
    ) -> StoreResult<()> {
        self.write(|conn| kept::put(conn, ids, user, at))
    }

    async fn gateway_kept_owner(&self, id: &str) -> StoreResult<Option<String>> {
        self.read(|conn| kept::owner(conn, id))
    }

    async fn gateway_kept_expire(&self, before: moat_domain::UnixTime) -> StoreResult<u64> {
        self.write(|conn| kept::expire(conn, before))
    }

    async fn oauth_client_put(&self, client: &crate::OAuthClientRow) -> StoreResult<()> {
        self.write(|conn| oauth::client_put(conn, client))
    }

    async fn oauth_client(&self, id: &str) -> StoreResult<Option<crate::OAuthClientRow>> {
        self.read(|conn| oauth::client(conn, id))
    }

    async fn oauth_grant_insert(&self, grant: &crate::OAuthGrant) -> StoreResult<()> {
        self.write(|conn| oauth::grant_insert(conn, grant))
    }

    async fn oauth_grant(&self, id: &str) -> StoreResult<Option<crate::OAuthGrant>> {
        self.read(|conn| oauth::grant(conn, id))
    }

    async fn oauth_grants(
        &self,
        user: Option<&moat_domain::UserId>,
    ) -> StoreResult<Vec<crate::OAuthGrant>> {
        self.read(|conn| oauth::grants(conn, user))
    }

    async fn oauth_revoke_grants(
        &self,
        which: crate::GrantsOf<'_>,
        at: moat_domain::UnixTime,
        reason: &str,
    ) -> StoreResult<Vec<String>> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            let revoked = oauth::revoke(&tx, which, at, reason)?;
            tx.commit()?;
            Ok(revoked)
        })
    }

    async fn oauth_secret_insert(&self, secret: &crate::OAuthSecret) -> StoreResult<()> {
        self.write(|conn| oauth::secret_insert(conn, secret))
    }

    async fn oauth_secret_take(
        &self,
        kind: crate::SecretKind,
        sha256: &[u8; 32],
        at: moat_domain::UnixTime,
    ) -> StoreResult<Option<crate::OAuthSecret>> {
        // On the one writer connection, so the read and the mark cannot interleave
        // with another take.
        self.write(|conn| {
            let tx = conn.transaction()?;
            let taken = oauth::secret_take(&tx, kind, sha256, at)?;
            tx.commit()?;
            Ok(taken)
        })
    }

    async fn oauth_secret(
        &self,
        kind: crate::SecretKind,
        sha256: &[u8; 32],
    ) -> StoreResult<Option<crate::OAuthSecret>> {
        self.read(|conn| oauth::secret(conn, kind, sha256))
    }

    async fn oauth_issue(
        &self,
        spend: Option<(crate::SecretKind, &[u8; 32])>,
        at: moat_domain::UnixTime,
        token: &moat_domain::Token,
        refresh: &crate::OAuthSecret,
    ) -> StoreResult<bool> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            if let Some((kind, sha256)) = spend
                && !oauth::secret_spend(&tx, kind, sha256, at)?
            {
                return Ok(false);
            }
            // The refresh token's insert checks the grant is live.
            oauth::secret_insert(&tx, refresh)?;
            tokens::insert(&tx, token)?;
            tx.commit()?;
            Ok(true)
        })
    }

    async fn oauth_secrets_expire(&self, before: moat_domain::UnixTime) -> StoreResult<u64> {
        self.write(|conn| oauth::secrets_expire(conn, before))
    }

    async fn oauth_secret_mark(
        &self,
        kind: crate::SecretKind,
        sha256: &[u8; 32],
        used_at: moat_domain::UnixTime,
        expires_at: moat_domain::UnixTime,
    ) -> StoreResult<bool> {
        self.write(|conn| oauth::secret_mark(conn, kind, sha256, used_at, expires_at))
    }

    async fn scim_users(&self) -> StoreResult<Vec<crate::ScimUser>> {
        self.read(scim::users_all)
    }

    async fn scim_user(&self, id: &moat_domain::UserId) -> StoreResult<Option<crate::ScimUser>> {
        self.read(|conn| scim::user_by_id(conn, id))
    }

    async fn scim_user_by_name(&self, user_name: &str) -> StoreResult<Option<crate::ScimUser>> {
        self.read(|conn| scim::user_by_name(conn, user_name))
    }

    async fn scim_user_insert(&self, user: &crate::ScimUser) -> StoreResult<()> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            scim::user_insert(&tx, user)?;
            tx.commit()?;
            Ok(())
        })
    }

    async fn scim_user_update(
        &self,
        user: &crate::ScimUser,
        expect: Option<u64>,
        at: moat_domain::UnixTime,
    ) -> StoreResult<crate::ScimUser> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            scim::user_update(&tx, user, expect, at)?;
            let stored =
                scim::user_by_id(&tx, &user.user.id)?.ok_or_else(|| StoreError::NotFound {
                    what: "user",
                    id: user.user.id.0.clone(),
                })?;
            tx.commit()?;
            Ok(stored)
        })
    }

    async fn teams(&self) -> StoreResult<Vec<crate::Team>> {
        self.read(scim::teams_all)
    }

    async fn team(&self, id: &str) -> StoreResult<Option<crate::Team>> {
        self.read(|conn| scim::team_by_id(conn, id))
    }

    async fn teams_of(&self, user: &moat_domain::UserId) -> StoreResult<Vec<(String, String)>> {
        self.read(|conn| scim::teams_of(conn, user))
    }

    async fn team_insert(&self, team: &crate::Team) -> StoreResult<()> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            scim::team_insert(&tx, team)?;
            tx.commit()?;
            Ok(())
        })
    }

    async fn team_update(
        &self,
        team: &crate::Team,
        expect: Option<u64>,
        at: moat_domain::UnixTime,
    ) -> StoreResult<crate::Team> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            scim::team_update(&tx, team, expect, at)?;
            let stored = scim::team_by_id(&tx, &team.id)?.ok_or_else(|| StoreError::NotFound {
                what: "team",
                id: team.id.clone(),
            })?;
            tx.commit()?;
            Ok(stored)
        })
    }

    async fn team_delete(&self, id: &str, expect: Option<u64>) -> StoreResult<()> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            scim::team_delete(&tx, id, expect)?;
            tx.commit()?;
            Ok(())
        })
    }

    async fn insert_user(&self, user: &moat_domain::User) -> StoreResult<()> {
        self.write(|conn| users::insert(conn, user))
    }

    async fn user(&self, id: &moat_domain::UserId) -> StoreResult<Option<moat_domain::User>> {
        self.read(|conn| users::by_id(conn, id))
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<moat_domain::User>> {
        self.read(|conn| users::by_email(conn, email))
    }

    async fn users(&self) -> StoreResult<Vec<moat_domain::User>> {
        self.read(users::all)
    }

    async fn users_page(
        &self,
        query: &crate::UserQuery,
    ) -> StoreResult<(Vec<moat_domain::User>, u64)> {
        self.read(|conn| users::page(conn, query))
    }

    async fn user_counts(&self) -> StoreResult<Vec<(moat_domain::UserStatus, u64)>> {
        self.read(users::counts)
    }

    async fn set_user_status(
        &self,
        id: &moat_domain::UserId,
        status: moat_domain::UserStatus,
        revoke_tokens_at: Option<moat_domain::UnixTime>,
    ) -> StoreResult<moat_domain::User> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            let now = revoke_tokens_at.unwrap_or_else(moat_domain::UnixTime::now);
            users::set_status(&tx, id, status, now)?;
            if let Some(at) = revoke_tokens_at {
                tokens::revoke_all_of_user(&tx, id, at)?;
            }
            if status != moat_domain::UserStatus::Active {
                oauth::revoke(
                    &tx,
                    crate::GrantsOf::User(id),
                    now,
                    &format!("user {status}"),
                )?;
            }
            if status == moat_domain::UserStatus::Deprovisioned {
                scim::leave_all_teams(&tx, id, now)?;
            }
            let user = users::require(&tx, id)?;
            tx.commit()?;
            Ok(user)
        })
    }

    async fn set_user_training(
        &self,
        id: &moat_domain::UserId,
        training: &moat_domain::TrainingAttestation,
    ) -> StoreResult<moat_domain::User> {
        self.write(|conn| {
            users::set_training(conn, id, training)?;
            users::require(conn, id)
        })
    }

    async fn insert_token(&self, token: &moat_domain::Token) -> StoreResult<()> {
        self.write(|conn| tokens::insert(conn, token))
    }

    async fn token(&self, id: &moat_domain::TokenId) -> StoreResult<Option<moat_domain::Token>> {
        self.read(|conn| tokens::by_id(conn, id))
    }

    async fn credential_by_secret_hash(
        &self,
        sha256: &[u8; 32],
    ) -> StoreResult<Option<crate::Credential>> {
        self.read(|conn| tokens::credential_by_hash(conn, sha256))
    }

    async fn tokens(
        &self,
        user: Option<&moat_domain::UserId>,
    ) -> StoreResult<Vec<moat_domain::Token>> {
        self.read(|conn| tokens::all(conn, user))
    }

    async fn revoke_token(
        &self,
        id: &moat_domain::TokenId,
        at: moat_domain::UnixTime,
    ) -> StoreResult<moat_domain::Token> {
        self.write(|conn| {
            tokens::revoke(conn, id, at)?;
            tokens::require(conn, id)
        })
    }

    async fn rotate_token(
        &self,
        old: &moat_domain::TokenId,
        replacement: &moat_domain::Token,
        old_expires_at: moat_domain::UnixTime,
    ) -> StoreResult<()> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            tokens::insert(&tx, replacement)?;
            tokens::mark_replaced(&tx, old, &replacement.id, old_expires_at)?;
            tx.commit()?;
            Ok(())
        })
    }

    async fn touch_token(
        &self,
        id: &moat_domain::TokenId,
        at: moat_domain::UnixTime,
        coarseness_seconds: i64,
    ) -> StoreResult<()> {
        if !self.read(|conn| tokens::needs_touch(conn, id, at, coarseness_seconds))? {
            return Ok(());
        }
        self.write(|conn| tokens::touch(conn, id, at, coarseness_seconds))
    }

    async fn audit_append(
        &self,
        events: &[crate::AuditRow],
        nodes: &[(u64, [u8; 32])],
        checkpoint: Option<&crate::AuditCheckpoint>,
    ) -> StoreResult<()> {
        self.write(|conn| audit::append(conn, events, nodes, checkpoint))
    }

    async fn audit_size(&self) -> StoreResult<u64> {
        self.read(audit::size)
    }

    async fn audit_leaves(&self, from: u64, limit: usize) -> StoreResult<Vec<crate::AuditLeaf>> {
        self.read(|conn| audit::leaves(conn, from, limit))
    }

    async fn audit_nodes(&self, keys: &[u64]) -> StoreResult<Vec<(u64, [u8; 32])>> {
        self.read(|conn| audit::nodes(conn, keys))
    }

    async fn audit_put_checkpoint(
        &self,
        size: u64,
        note: &str,
        at: moat_domain::UnixTime,
    ) -> StoreResult<()> {
        self.write(|conn| audit::put_checkpoint(conn, size, note, at))
    }

    async fn audit_checkpoints(
        &self,
        from: u64,
        to: u64,
        limit: usize,
    ) -> StoreResult<Vec<(u64, String)>> {
        self.read(|conn| audit::checkpoints(conn, from, to, limit))
    }

    async fn audit_latest_checkpoint(&self) -> StoreResult<Option<(u64, String)>> {
        self.read(audit::latest_checkpoint)
    }

    async fn audit_put_body(
        &self,
        sha256: &str,
        body: &[u8],
        at: moat_domain::UnixTime,
    ) -> StoreResult<()> {
        self.write(|conn| audit::put_body(conn, sha256, body, at))
    }

    async fn audit_body(&self, sha256: &str) -> StoreResult<Option<Vec<u8>>> {
        self.read(|conn| audit::body(conn, sha256))
    }

    async fn audit_delete_bodies_before(&self, before: moat_domain::UnixTime) -> StoreResult<u64> {
        self.write(|conn| audit::delete_bodies_before(conn, before))
    }

    async fn provenance_add(
        &self,
        answer: &crate::ProvenanceAnswer,
        fingerprints: &[u32],
    ) -> StoreResult<()> {
        self.write(|conn| audit::provenance_add(conn, answer, fingerprints))
    }

    async fn audit_sink_cursor(&self, name: &str) -> StoreResult<Option<u64>> {
        self.read(|conn| audit::sink_cursor(conn, name))
    }

    async fn audit_sink_advance(
        &self,
        name: &str,
        next: u64,
        at: moat_domain::UnixTime,
    ) -> StoreResult<()> {
        self.write(|conn| audit::sink_advance(conn, name, next, at))
    }

    async fn audit_sink_cursors(&self) -> StoreResult<Vec<(String, u64, moat_domain::UnixTime)>> {
        self.read(audit::sink_cursors)
    }

    async fn provenance_matches(
        &self,
        fingerprints: &[u32],
        min_shared: u32,
    ) -> StoreResult<Vec<(crate::ProvenanceAnswer, u32)>> {
        self.read(|conn| audit::provenance_matches(conn, fingerprints, min_shared))
    }
}

#[cfg(test)]
mod tests;

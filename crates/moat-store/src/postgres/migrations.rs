//! Numbered schema migrations for PostgreSQL. `moat_schema.version` holds the number
//! applied last. Shipped migrations are never edited: a change is a new entry at the
//! end. The first entry is the SQLite schema as of its ninth migration, written for
//! PostgreSQL: text that SQLite compares case-insensitively (`COLLATE NOCASE`) has
//! unique indexes on `lower(...)` of a `"C"`-collated column, which, like NOCASE,
//! folds ASCII only; every text column sorts bytewise, as SQLite's do.

use crate::{StoreError, StoreResult};
use deadpool_postgres::Object;

const MIGRATIONS: &[&str] = &[
    // 1: everything the SQLite backend holds at its migration 9.
    r#"
    CREATE TABLE users (
        id                    TEXT COLLATE "C" PRIMARY KEY,
        email                 TEXT COLLATE "C" NOT NULL,
        name                  TEXT NOT NULL,
        status                TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'deprovisioned')),
        roles                 TEXT NOT NULL,
        teams                 TEXT NOT NULL,
        oidc_subject          TEXT COLLATE "C" UNIQUE,
        scim_id               TEXT COLLATE "C" UNIQUE,
        training_version      TEXT,
        training_completed_at BIGINT,
        created_at            BIGINT NOT NULL,
        updated_at            BIGINT NOT NULL,
        scim_user_name        TEXT COLLATE "C" NOT NULL,
        scim_attributes       TEXT NOT NULL DEFAULT '{}',
        version               BIGINT NOT NULL DEFAULT 1
    );
    CREATE UNIQUE INDEX users_by_email ON users (lower(email));
    CREATE UNIQUE INDEX users_by_scim_user_name ON users (lower(scim_user_name));

    CREATE TABLE tokens (
        id            TEXT COLLATE "C" PRIMARY KEY,
        user_id       TEXT COLLATE "C" NOT NULL REFERENCES users (id),
        name          TEXT NOT NULL,
        scopes        TEXT NOT NULL,
        secret_sha256 BYTEA NOT NULL UNIQUE CHECK (octet_length(secret_sha256) = 32),
        created_at    BIGINT NOT NULL,
        expires_at    BIGINT,
        last_used_at  BIGINT,
        revoked_at    BIGINT,
        replaced_by   TEXT COLLATE "C" REFERENCES tokens (id),
        grant_id      TEXT COLLATE "C",
        audience      TEXT
    );
    CREATE INDEX tokens_by_user ON tokens (user_id, created_at);
    CREATE INDEX tokens_by_grant ON tokens (grant_id) WHERE grant_id IS NOT NULL;

    CREATE TABLE audit_events (
        seq       BIGINT PRIMARY KEY CHECK (seq >= 0),
        canonical BYTEA NOT NULL
    );
    CREATE TABLE audit_nodes (
        id   BIGINT PRIMARY KEY,
        hash BYTEA NOT NULL CHECK (octet_length(hash) = 32)
    );
    CREATE TABLE audit_checkpoints (
        size       BIGINT PRIMARY KEY CHECK (size >= 0),
        note       TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE audit_bodies (
        sha256     TEXT COLLATE "C" PRIMARY KEY,
        body       BYTEA NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX audit_bodies_by_age ON audit_bodies (created_at);
    CREATE TABLE audit_sink_cursors (
        name       TEXT COLLATE "C" PRIMARY KEY,
        next_seq   BIGINT NOT NULL CHECK (next_seq >= 0),
        updated_at BIGINT NOT NULL
    );

    CREATE TABLE provenance_answers (
        seq     BIGINT PRIMARY KEY,
        at      BIGINT NOT NULL,
        user_id TEXT NOT NULL,
        model   TEXT NOT NULL
    );
    CREATE TABLE provenance_fingerprints (
        fingerprint BIGINT NOT NULL,
        seq         BIGINT NOT NULL REFERENCES provenance_answers (seq),
        PRIMARY KEY (fingerprint, seq)
    );

    CREATE TABLE repo_readers (
        repo  TEXT COLLATE "C" NOT NULL,
        login TEXT COLLATE "C" NOT NULL,
        level TEXT NOT NULL,
        PRIMARY KEY (repo, login)
    );
    CREATE INDEX repo_readers_by_login ON repo_readers (login);
    CREATE TABLE repo_syncs (
        repo      TEXT COLLATE "C" PRIMARY KEY,
        host      TEXT NOT NULL,
        synced_at BIGINT NOT NULL
    );
    CREATE TABLE webhook_deliveries (
        id          TEXT COLLATE "C" PRIMARY KEY,
        received_at BIGINT NOT NULL
    );
    CREATE INDEX webhook_deliveries_by_age ON webhook_deliveries (received_at);
    CREATE TABLE mirror_versions (
        repo    TEXT COLLATE "C" PRIMARY KEY,
        version BIGINT NOT NULL
    );
    CREATE INDEX mirror_versions_by_version ON mirror_versions (version);

    CREATE TABLE host_identities (
        host      TEXT COLLATE "C" NOT NULL,
        login     TEXT COLLATE "C" NOT NULL CHECK (login = lower(login)),
        user_id   TEXT COLLATE "C" NOT NULL REFERENCES users (id),
        source    TEXT COLLATE "C" NOT NULL,
        linked_at BIGINT NOT NULL,
        PRIMARY KEY (host, login)
    );
    CREATE INDEX host_identities_by_user ON host_identities (user_id);

    CREATE TABLE oauth_clients (
        id         TEXT COLLATE "C" PRIMARY KEY,
        source     TEXT NOT NULL,
        metadata   TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE oauth_grants (
        id             TEXT COLLATE "C" PRIMARY KEY,
        user_id        TEXT COLLATE "C" NOT NULL REFERENCES users (id),
        client_id      TEXT NOT NULL,
        client_name    TEXT NOT NULL,
        scopes         TEXT NOT NULL,
        audience       TEXT NOT NULL,
        created_at     BIGINT NOT NULL,
        revoked_at     BIGINT,
        revoked_reason TEXT
    );
    CREATE INDEX oauth_grants_by_user ON oauth_grants (user_id);
    CREATE TABLE oauth_secrets (
        sha256     BYTEA PRIMARY KEY CHECK (octet_length(sha256) = 32),
        kind       TEXT NOT NULL,
        user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id),
        grant_id   TEXT COLLATE "C",
        data       TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at    BIGINT
    );
    CREATE INDEX oauth_secrets_by_grant ON oauth_secrets (grant_id) WHERE grant_id IS NOT NULL;
    CREATE INDEX oauth_secrets_by_user ON oauth_secrets (user_id);

    CREATE TABLE teams (
        id          TEXT COLLATE "C" PRIMARY KEY,
        name        TEXT COLLATE "C" NOT NULL,
        external_id TEXT COLLATE "C" UNIQUE,
        created_at  BIGINT NOT NULL,
        updated_at  BIGINT NOT NULL,
        version     BIGINT NOT NULL DEFAULT 1
    );
    CREATE UNIQUE INDEX teams_by_name ON teams (lower(name));
    CREATE TABLE team_members (
        team_id TEXT COLLATE "C" NOT NULL REFERENCES teams (id),
        user_id TEXT COLLATE "C" NOT NULL REFERENCES users (id),
        PRIMARY KEY (team_id, user_id)
    );
    CREATE INDEX team_members_by_user ON team_members (user_id);

    -- Moved by every transaction that changes people, the mirror or host links
    -- (triggers, so no write path can forget): the authorizer is rebuilt only when this
    -- moves. Once per transaction, not per row: each further update of the one row in
    -- the same transaction walks every version it made before, so a bulk write would
    -- slow down quadratically.
    CREATE TABLE access_version (id INTEGER PRIMARY KEY CHECK (id = 1), value BIGINT NOT NULL);
    INSERT INTO access_version (id, value) VALUES (1, 0);
    CREATE FUNCTION moat_bump_access_version() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF current_setting('moat.access_bumped', true) IS DISTINCT FROM 'on' THEN
            UPDATE access_version SET value = value + 1 WHERE id = 1;
            PERFORM set_config('moat.access_bumped', 'on', true);
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER users_bump AFTER INSERT OR UPDATE OR DELETE ON users
        FOR EACH ROW EXECUTE FUNCTION moat_bump_access_version();
    CREATE TRIGGER readers_bump AFTER INSERT OR UPDATE OR DELETE ON repo_readers
        FOR EACH ROW EXECUTE FUNCTION moat_bump_access_version();
    CREATE TRIGGER syncs_bump AFTER INSERT OR UPDATE ON repo_syncs
        FOR EACH ROW EXECUTE FUNCTION moat_bump_access_version();
    CREATE TRIGGER host_identities_bump AFTER INSERT OR UPDATE OR DELETE ON host_identities
        FOR EACH ROW EXECUTE FUNCTION moat_bump_access_version();
    "#,
    // 2: MCP sessions (SQLite's migration 10).
    r#"
    CREATE TABLE mcp_sessions (
        id         TEXT COLLATE "C" PRIMARY KEY,
        user_id    TEXT,
        token_id   TEXT,
        state      TEXT,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX mcp_sessions_by_age ON mcp_sessions (created_at);
    "#,
    // 3: the gateway's shared counters (SQLite's migration 11).
    r#"
    CREATE TABLE gateway_counters (
        key    TEXT COLLATE "C" NOT NULL,
        period BIGINT NOT NULL,
        value  BIGINT NOT NULL CHECK (value >= 0),
        PRIMARY KEY (key, period)
    );
    "#,
    // 4: configuration published for every node (SQLite's migration 12).
    r#"
    CREATE TABLE config_versions (
        version        BIGINT PRIMARY KEY CHECK (version >= 1),
        text           TEXT NOT NULL,
        policies       TEXT,
        sha256         TEXT NOT NULL,
        policy_version TEXT NOT NULL,
        published_at   BIGINT NOT NULL,
        published_by   TEXT NOT NULL
    );
    "#,
    // 5: indexing jobs and repository heads (SQLite's migration 13).
    r#"
    CREATE TABLE index_jobs (
        repo          TEXT COLLATE "C" PRIMARY KEY,
        requested_at  BIGINT NOT NULL,
        reason        TEXT NOT NULL,
        claimed_by    TEXT,
        claimed_until BIGINT,
        again         BIGINT NOT NULL DEFAULT 0,
        attempts      BIGINT NOT NULL DEFAULT 0,
        not_before    BIGINT NOT NULL DEFAULT 0,
        last_error    TEXT
    );
    CREATE TABLE index_heads (
        repo       TEXT COLLATE "C" PRIMARY KEY,
        commit_id  TEXT NOT NULL,
        indexed_at BIGINT NOT NULL,
        indexed_by TEXT NOT NULL
    );
    "#,
    // 6: exceptions to the policy (SQLite's migration 14); a decision moves the access
    // version.
    r#"
    CREATE TABLE policy_exceptions (
        id           TEXT COLLATE "C" PRIMARY KEY,
        user_id      TEXT NOT NULL REFERENCES users (id),
        kind         TEXT NOT NULL CHECK (kind IN ('repo', 'model')),
        target       TEXT NOT NULL,
        reason       TEXT NOT NULL,
        seconds      BIGINT NOT NULL CHECK (seconds > 0),
        status       TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'revoked')),
        requested_at BIGINT NOT NULL,
        requested_by TEXT NOT NULL,
        decided_at   BIGINT,
        decided_by   TEXT,
        note         TEXT,
        starts_at    BIGINT,
        ends_at      BIGINT
    );
    CREATE INDEX policy_exceptions_by_status ON policy_exceptions (status, requested_at);
    CREATE TRIGGER policy_exceptions_bump AFTER UPDATE ON policy_exceptions
        FOR EACH ROW EXECUTE FUNCTION moat_bump_access_version();
    "#,
    // 7: exceptions for a whole tier or a vendor too (SQLite's migration 15).
    r#"
    ALTER TABLE policy_exceptions
        DROP CONSTRAINT policy_exceptions_kind_check,
        ADD CONSTRAINT policy_exceptions_kind_check
            CHECK (kind IN ('repo', 'model', 'tier', 'vendor'));
    "#,
    // 8: records each node hands to the audit log's elected sequencer, marked with their
    // sequence number once appended, until the node that queued them collects it.
    r#"
    CREATE TABLE audit_queue (
        id                BIGSERIAL PRIMARY KEY,
        body              BYTEA NOT NULL,
        content           BYTEA,
        prov_user         TEXT,
        prov_model        TEXT,
        prov_fingerprints BYTEA,
        queued_at         BIGINT NOT NULL,
        seq               BIGINT
    );
    CREATE INDEX audit_queue_waiting ON audit_queue (id) WHERE seq IS NULL;
    "#,
    // 9: kill switches (SQLite's migration 16); engaging or releasing one moves the
    // access version.
    r#"
    CREATE TABLE kill_switches (
        kind       TEXT COLLATE "C" NOT NULL CHECK (kind IN ('repo', 'model', 'vendor')),
        target     TEXT COLLATE "C" NOT NULL,
        reason     TEXT NOT NULL,
        engaged_by TEXT NOT NULL,
        engaged_at BIGINT NOT NULL,
        PRIMARY KEY (kind, target)
    );
    CREATE TRIGGER kill_switches_bump AFTER INSERT OR UPDATE OR DELETE ON kill_switches
        FOR EACH ROW EXECUTE FUNCTION moat_bump_access_version();
    "#,
    // 10: incidents (SQLite's migration 17).
    r#"
    CREATE TABLE incidents (
        id        TEXT COLLATE "C" PRIMARY KEY,
        subject   TEXT NOT NULL,
        status    TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
        opened_at BIGINT NOT NULL,
        version   BIGINT NOT NULL CHECK (version > 0),
        body      TEXT NOT NULL
    );
    CREATE INDEX incidents_by_status ON incidents (status, opened_at);
    "#,
    // 11: recorded access states (SQLite's migration 18).
    r#"
    CREATE TABLE access_state_bodies (
        sha256 TEXT COLLATE "C" PRIMARY KEY,
        body   BYTEA NOT NULL
    );
    CREATE TABLE access_states (
        day      TEXT COLLATE "C" PRIMARY KEY,
        taken_at BIGINT NOT NULL,
        log_size BIGINT NOT NULL CHECK (log_size >= 0),
        sha256   TEXT COLLATE "C" NOT NULL,
        recorded_seq BIGINT NOT NULL CHECK (recorded_seq >= 0)
    );
    CREATE INDEX access_states_by_time ON access_states (taken_at);
    "#,
    // 12: responses a vendor keeps, and whom for (SQLite's migration 19).
    r#"
    CREATE TABLE gateway_kept (
        id      TEXT COLLATE "C" PRIMARY KEY,
        user_id TEXT NOT NULL,
        kept_at BIGINT NOT NULL
    );
    CREATE INDEX gateway_kept_by_time ON gateway_kept (kept_at);
    "#,
];

/// The schema version this build writes.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// Held while migrating, so nodes starting together migrate one after the other.
const MIGRATION_LOCK: i64 = 0x6d6f_6174_0000;

pub async fn apply(client: &mut Object) -> StoreResult<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS moat_schema (
             id      INTEGER PRIMARY KEY CHECK (id = 1),
             version BIGINT NOT NULL
         );
         INSERT INTO moat_schema (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;",
    )
    .await?;
    let current: i64 = tx
        .query_one("SELECT version FROM moat_schema WHERE id = 1", &[])
        .await?
        .get(0);
    if current > LATEST {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported: LATEST,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "UPDATE moat_schema SET version = $1 WHERE id = 1",
            &[&(index as i64 + 1)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

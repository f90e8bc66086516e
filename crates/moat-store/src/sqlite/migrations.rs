//! Numbered schema migrations. `PRAGMA user_version` holds the number applied last.
//! Shipped migrations are never edited: a change is a new entry at the end.

use crate::{StoreError, StoreResult};
use rusqlite::Connection;

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: people and credentials
    "CREATE TABLE users (
        id                    TEXT PRIMARY KEY,
        email                 TEXT NOT NULL UNIQUE COLLATE NOCASE,
        name                  TEXT NOT NULL,
        status                TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'deprovisioned')),
        roles                 TEXT NOT NULL,
        teams                 TEXT NOT NULL,
        oidc_subject          TEXT UNIQUE,
        scim_id               TEXT UNIQUE,
        training_version      TEXT,
        training_completed_at INTEGER,
        created_at            INTEGER NOT NULL,
        updated_at            INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE tokens (
        id            TEXT PRIMARY KEY,
        user_id       TEXT NOT NULL REFERENCES users (id),
        name          TEXT NOT NULL,
        scopes        TEXT NOT NULL,
        secret_sha256 BLOB NOT NULL UNIQUE CHECK (length(secret_sha256) = 32),
        created_at    INTEGER NOT NULL,
        expires_at    INTEGER,
        last_used_at  INTEGER,
        revoked_at    INTEGER,
        replaced_by   TEXT REFERENCES tokens (id)
    ) STRICT;
    CREATE INDEX tokens_by_user ON tokens (user_id, created_at);",
    // 2: the audit log. Events are their canonical bytes; nodes are the Merkle tree's
    // complete subtrees keyed by level << 56 | index (level 0 = leaf hashes).
    "CREATE TABLE audit_events (
        seq       INTEGER PRIMARY KEY CHECK (seq >= 0),
        canonical BLOB NOT NULL
    ) STRICT;
    CREATE TABLE audit_nodes (
        id   INTEGER PRIMARY KEY,
        hash BLOB NOT NULL CHECK (length(hash) = 32)
    ) STRICT;
    CREATE TABLE audit_checkpoints (
        size       INTEGER PRIMARY KEY CHECK (size >= 0),
        note       TEXT NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE audit_bodies (
        sha256     TEXT PRIMARY KEY,
        body       BLOB NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX audit_bodies_by_age ON audit_bodies (created_at);",
    // 3: the permission mirror: who a repository host says may read each repository,
    // when it was last fully synced, and webhook deliveries already applied.
    "CREATE TABLE repo_readers (
        repo  TEXT NOT NULL,
        login TEXT NOT NULL,
        level TEXT NOT NULL,
        PRIMARY KEY (repo, login)
    ) STRICT;
    CREATE TABLE repo_syncs (
        repo      TEXT PRIMARY KEY,
        host      TEXT NOT NULL,
        synced_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE webhook_deliveries (
        id          TEXT PRIMARY KEY,
        received_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX webhook_deliveries_by_age ON webhook_deliveries (received_at);
    -- Bumped by every change to people or the mirror (triggers, so no write path can
    -- forget): the authorizer is rebuilt only when this moves.
    CREATE TABLE access_version (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL) STRICT;
    INSERT INTO access_version (id, value) VALUES (1, 0);
    CREATE TRIGGER users_insert_bumps AFTER INSERT ON users BEGIN UPDATE access_version SET value = value + 1; END;
    CREATE TRIGGER users_update_bumps AFTER UPDATE ON users BEGIN UPDATE access_version SET value = value + 1; END;
    CREATE TRIGGER users_delete_bumps AFTER DELETE ON users BEGIN UPDATE access_version SET value = value + 1; END;
    CREATE TRIGGER readers_insert_bumps AFTER INSERT ON repo_readers BEGIN UPDATE access_version SET value = value + 1; END;
    CREATE TRIGGER readers_update_bumps AFTER UPDATE ON repo_readers BEGIN UPDATE access_version SET value = value + 1; END;
    CREATE TRIGGER readers_delete_bumps AFTER DELETE ON repo_readers BEGIN UPDATE access_version SET value = value + 1; END;
    CREATE TRIGGER syncs_insert_bumps AFTER INSERT ON repo_syncs BEGIN UPDATE access_version SET value = value + 1; END;
    CREATE TRIGGER syncs_update_bumps AFTER UPDATE ON repo_syncs BEGIN UPDATE access_version SET value = value + 1; END;",
    // 4: provenance: fingerprints of code that models answered with through the
    // gateway, so `moat scan` can tell which committed code came from a model.
    "CREATE TABLE provenance_answers (
        seq   INTEGER PRIMARY KEY,
        at    INTEGER NOT NULL,
        user  TEXT NOT NULL,
        model TEXT NOT NULL
    ) STRICT;
    CREATE TABLE provenance_fingerprints (
        fingerprint INTEGER NOT NULL,
        seq         INTEGER NOT NULL REFERENCES provenance_answers (seq),
        PRIMARY KEY (fingerprint, seq)
    ) STRICT, WITHOUT ROWID;",
    // 5: the access version at which each repository's mirror last changed, so the
    // authorizer re-reads only what moved (`mirror_changed_since`).
    "CREATE TABLE mirror_versions (
        repo    TEXT PRIMARY KEY,
        version INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX mirror_versions_by_version ON mirror_versions (version);
    INSERT INTO mirror_versions (repo, version)
        SELECT repo, (SELECT value FROM access_version WHERE id = 1)
        FROM (SELECT repo FROM repo_syncs UNION SELECT repo FROM repo_readers);",
    // 6: explicit links from repository-host logins to people (an identity provider's
    // or SCIM attribute, GitHub's SAML external identities, a sign-in to the host):
    // a login maps to a person only through a link, never by the look of an email.
    // A change to them moves the access version like a change to people does.
    "CREATE TABLE host_identities (
        host      TEXT NOT NULL,
        login     TEXT NOT NULL CHECK (login = lower(login)),
        user_id   TEXT NOT NULL REFERENCES users (id),
        source    TEXT NOT NULL,
        linked_at INTEGER NOT NULL,
        PRIMARY KEY (host, login)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX host_identities_by_user ON host_identities (user_id);
    -- Someone leaving an organisation is removed from every repository they read.
    CREATE INDEX repo_readers_by_login ON repo_readers (login);
    CREATE TRIGGER host_identities_insert_bumps AFTER INSERT ON host_identities BEGIN UPDATE access_version SET value = value + 1; END;
    CREATE TRIGGER host_identities_update_bumps AFTER UPDATE ON host_identities BEGIN UPDATE access_version SET value = value + 1; END;
    CREATE TRIGGER host_identities_delete_bumps AFTER DELETE ON host_identities BEGIN UPDATE access_version SET value = value + 1; END;",
    // 7: Moat as an OAuth authorization server. Access tokens are rows of `tokens`
    // bound to a grant and one resource; clients (configured, metadata documents,
    // dynamically registered), grants (a person's consent to a client), and the
    // one-time or short-lived secrets around them (authorization codes, refresh
    // tokens, sign-in links, browser sessions, pending consents), stored by SHA-256.
    "ALTER TABLE tokens ADD COLUMN grant_id TEXT;
    ALTER TABLE tokens ADD COLUMN audience TEXT;
    CREATE INDEX tokens_by_grant ON tokens (grant_id) WHERE grant_id IS NOT NULL;
    CREATE TABLE oauth_clients (
        id         TEXT PRIMARY KEY,
        source     TEXT NOT NULL,
        metadata   TEXT NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE oauth_grants (
        id             TEXT PRIMARY KEY,
        user_id        TEXT NOT NULL REFERENCES users (id),
        client_id      TEXT NOT NULL,
        client_name    TEXT NOT NULL,
        scopes         TEXT NOT NULL,
        audience       TEXT NOT NULL,
        created_at     INTEGER NOT NULL,
        revoked_at     INTEGER,
        revoked_reason TEXT
    ) STRICT;
    CREATE INDEX oauth_grants_by_user ON oauth_grants (user_id);
    CREATE TABLE oauth_secrets (
        sha256     BLOB PRIMARY KEY CHECK (length(sha256) = 32),
        kind       TEXT NOT NULL,
        user_id    TEXT NOT NULL REFERENCES users (id),
        grant_id   TEXT,
        data       TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at    INTEGER
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX oauth_secrets_by_grant ON oauth_secrets (grant_id) WHERE grant_id IS NOT NULL;
    CREATE INDEX oauth_secrets_by_user ON oauth_secrets (user_id);",
    // 8: SCIM provisioning. Every person has a SCIM userName (their email unless the
    // identity provider says otherwise), the SCIM attributes Moat keeps as sent, and a
    // version that every write of the row moves (the SCIM ETag). Teams are SCIM
    // groups; `users.teams` keeps their names for the request path, and the two are
    // written in one transaction.
    "ALTER TABLE users ADD COLUMN scim_user_name TEXT COLLATE NOCASE;
    UPDATE users SET scim_user_name = email;
    CREATE UNIQUE INDEX users_by_scim_user_name ON users (scim_user_name);
    ALTER TABLE users ADD COLUMN scim_attributes TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE users ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
    CREATE TABLE teams (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE COLLATE NOCASE,
        external_id TEXT UNIQUE,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        version     INTEGER NOT NULL DEFAULT 1
    ) STRICT;
    CREATE TABLE team_members (
        team_id TEXT NOT NULL REFERENCES teams (id),
        user_id TEXT NOT NULL REFERENCES users (id),
        PRIMARY KEY (team_id, user_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX team_members_by_user ON team_members (user_id);",
    // 9: where each audit sink resumes (the first sequence number it has not
    // delivered), so forwarding survives restarts and delivers every event.
    "CREATE TABLE audit_sink_cursors (
        name       TEXT PRIMARY KEY,
        next_seq   INTEGER NOT NULL CHECK (next_seq >= 0),
        updated_at INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;",
    // 10: MCP sessions, so a session survives its node (or a restart): who opened it
    // and the client's `initialize` parameters.
    "CREATE TABLE mcp_sessions (
        id         TEXT PRIMARY KEY,
        user_id    TEXT,
        token_id   TEXT,
        state      TEXT,
        created_at INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX mcp_sessions_by_age ON mcp_sessions (created_at);",
    // 11: the gateway's rate-limit and budget counters, when nodes share them.
    "CREATE TABLE gateway_counters (
        key    TEXT NOT NULL,
        period INTEGER NOT NULL,
        value  INTEGER NOT NULL CHECK (value >= 0),
        PRIMARY KEY (key, period)
    ) STRICT, WITHOUT ROWID;",
    // 12: configuration published for every node, one row per version.
    "CREATE TABLE config_versions (
        version        INTEGER PRIMARY KEY CHECK (version >= 1),
        text           TEXT NOT NULL,
        policies       TEXT,
        sha256         TEXT NOT NULL,
        policy_version TEXT NOT NULL,
        published_at   INTEGER NOT NULL,
        published_by   TEXT NOT NULL
    ) STRICT;",
    // 13: indexing jobs any node may take, and the commit each repository is served at.
    "CREATE TABLE index_jobs (
        repo          TEXT PRIMARY KEY,
        requested_at  INTEGER NOT NULL,
        reason        TEXT NOT NULL,
        claimed_by    TEXT,
        claimed_until INTEGER,
        again         INTEGER NOT NULL DEFAULT 0,
        attempts      INTEGER NOT NULL DEFAULT 0,
        not_before    INTEGER NOT NULL DEFAULT 0,
        last_error    TEXT
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE index_heads (
        repo       TEXT PRIMARY KEY,
        commit_id  TEXT NOT NULL,
        indexed_at INTEGER NOT NULL,
        indexed_by TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;",
    // 14: exceptions to the policy; a decision on one changes what the authorizer
    // allows, so it moves the access version.
    "CREATE TABLE policy_exceptions (
        id           TEXT PRIMARY KEY,
        user_id      TEXT NOT NULL REFERENCES users (id),
        kind         TEXT NOT NULL CHECK (kind IN ('repo', 'model')),
        target       TEXT NOT NULL,
        reason       TEXT NOT NULL,
        seconds      INTEGER NOT NULL CHECK (seconds > 0),
        status       TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'revoked')),
        requested_at INTEGER NOT NULL,
        requested_by TEXT NOT NULL,
        decided_at   INTEGER,
        decided_by   TEXT,
        note         TEXT,
        starts_at    INTEGER,
        ends_at      INTEGER
    ) STRICT;
    CREATE INDEX policy_exceptions_by_status ON policy_exceptions (status, requested_at);
    CREATE TRIGGER policy_exceptions_update_bumps AFTER UPDATE ON policy_exceptions
        BEGIN UPDATE access_version SET value = value + 1; END;",
    // 15: exceptions for a whole tier or a vendor too. SQLite cannot change a CHECK
    // constraint: the table is rebuilt, its rows kept.
    "CREATE TABLE policy_exceptions_15 (
        id           TEXT PRIMARY KEY,
        user_id      TEXT NOT NULL REFERENCES users (id),
        kind         TEXT NOT NULL CHECK (kind IN ('repo', 'model', 'tier', 'vendor')),
        target       TEXT NOT NULL,
        reason       TEXT NOT NULL,
        seconds      INTEGER NOT NULL CHECK (seconds > 0),
        status       TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'revoked')),
        requested_at INTEGER NOT NULL,
        requested_by TEXT NOT NULL,
        decided_at   INTEGER,
        decided_by   TEXT,
        note         TEXT,
        starts_at    INTEGER,
        ends_at      INTEGER
    ) STRICT;
    INSERT INTO policy_exceptions_15 SELECT * FROM policy_exceptions;
    DROP TABLE policy_exceptions;
    ALTER TABLE policy_exceptions_15 RENAME TO policy_exceptions;
    CREATE INDEX policy_exceptions_by_status ON policy_exceptions (status, requested_at);
    CREATE TRIGGER policy_exceptions_update_bumps AFTER UPDATE ON policy_exceptions
        BEGIN UPDATE access_version SET value = value + 1; END;",
    // 16: kill switches; engaging or releasing one moves the access version.
    "CREATE TABLE kill_switches (
        kind       TEXT NOT NULL CHECK (kind IN ('repo', 'model', 'vendor')),
        target     TEXT NOT NULL,
        reason     TEXT NOT NULL,
        engaged_by TEXT NOT NULL,
        engaged_at INTEGER NOT NULL,
        PRIMARY KEY (kind, target)
    ) STRICT;
    CREATE TRIGGER kill_switches_insert_bumps AFTER INSERT ON kill_switches
        BEGIN UPDATE access_version SET value = value + 1; END;
    CREATE TRIGGER kill_switches_delete_bumps AFTER DELETE ON kill_switches
        BEGIN UPDATE access_version SET value = value + 1; END;",
    // 17: incidents; the service writes the body, the columns are what lists filter on.
    "CREATE TABLE incidents (
        id        TEXT PRIMARY KEY,
        subject   TEXT NOT NULL,
        status    TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
        opened_at INTEGER NOT NULL,
        version   INTEGER NOT NULL CHECK (version > 0),
        body      TEXT NOT NULL
    ) STRICT;
    CREATE INDEX incidents_by_status ON incidents (status, opened_at);",
    // 18: recorded access states (one a day), their bodies kept once per content.
    "CREATE TABLE access_state_bodies (
        sha256 TEXT PRIMARY KEY,
        body   BLOB NOT NULL
    ) STRICT;
    CREATE TABLE access_states (
        day      TEXT PRIMARY KEY,
        taken_at INTEGER NOT NULL,
        log_size INTEGER NOT NULL CHECK (log_size >= 0),
        sha256   TEXT NOT NULL,
        recorded_seq INTEGER NOT NULL CHECK (recorded_seq >= 0)
    ) STRICT;
    CREATE INDEX access_states_by_time ON access_states (taken_at);",
    // 19: responses a vendor keeps (`store: true`), and whom for: only they continue one.
    "CREATE TABLE gateway_kept (
        id      TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        kept_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX gateway_kept_by_time ON gateway_kept (kept_at);",
];

/// The schema version this build writes.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

pub fn apply(conn: &mut Connection) -> StoreResult<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > LATEST {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported: LATEST,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

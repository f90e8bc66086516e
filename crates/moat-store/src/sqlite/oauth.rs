//! Rows of `oauth_clients`, `oauth_grants` and `oauth_secrets`.

use crate::oauth::{GrantsOf, OAuthClientRow, OAuthGrant, OAuthSecret, SecretKind};
use crate::rows::{RawGrant, names_json};
use crate::{StoreError, StoreResult};
use moat_domain::{UnixTime, UserId};
use rusqlite::{Connection, OptionalExtension, Row, params};

pub fn client_put(conn: &Connection, client: &OAuthClientRow) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO oauth_clients (id, source, metadata, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET source = excluded.source, metadata = excluded.metadata",
    )?
    .execute(params![
        client.id,
        client.source,
        client.metadata,
        client.created_at.0
    ])?;
    Ok(())
}

pub fn client(conn: &Connection, id: &str) -> StoreResult<Option<OAuthClientRow>> {
    Ok(conn
        .prepare_cached("SELECT id, source, metadata, created_at FROM oauth_clients WHERE id = ?1")?
        .query_row([id], |row| {
            Ok(OAuthClientRow {
                id: row.get(0)?,
                source: row.get(1)?,
                metadata: row.get(2)?,
                created_at: UnixTime(row.get(3)?),
            })
        })
        .optional()?)
}

pub fn grant_insert(conn: &Connection, grant: &OAuthGrant) -> StoreResult<()> {
    require_user(conn, &grant.user)?;
    conn.prepare_cached(
        "INSERT INTO oauth_grants (id, user_id, client_id, client_name, scopes, audience,
                                   created_at, revoked_at, revoked_reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        grant.id,
        grant.user.0,
        grant.client_id,
        grant.client_name,
        names_json(grant.scopes.iter().map(|s| s.as_str())),
        grant.audience.as_str(),
        grant.created_at.0,
        grant.revoked_at.map(|t| t.0),
        grant.revoked_reason,
    ])?;
    Ok(())
}

const GRANT_COLUMNS: &str = "id, user_id, client_id, client_name, scopes, audience, created_at, \
     revoked_at, revoked_reason";

pub fn grant(conn: &Connection, id: &str) -> StoreResult<Option<OAuthGrant>> {
    let sql = format!("SELECT {GRANT_COLUMNS} FROM oauth_grants WHERE id = ?1");
    let raw = conn
        .prepare_cached(&sql)?
        .query_row([id], raw_grant)
        .optional()?;
    raw.map(RawGrant::into_grant).transpose()
}

pub fn grants(conn: &Connection, user: Option<&UserId>) -> StoreResult<Vec<OAuthGrant>> {
    let sql = format!(
        "SELECT {GRANT_COLUMNS} FROM oauth_grants WHERE ?1 IS NULL OR user_id = ?1
         ORDER BY created_at, id"
    );
    let raws = conn
        .prepare_cached(&sql)?
        .query_map([user.map(|u| u.0.as_str())], raw_grant)?
        .collect::<Result<Vec<_>, _>>()?;
    raws.into_iter().map(RawGrant::into_grant).collect()
}

/// Revokes the live grants selected, their access tokens, and every secret issued under
/// them (refresh tokens, codes) — and, for a person, their sessions, sign-in links and
/// pending consents too. Returns the grants revoked.
pub fn revoke(
    conn: &Connection,
    which: GrantsOf<'_>,
    at: UnixTime,
    reason: &str,
) -> StoreResult<Vec<String>> {
    let ids: Vec<String> = match which {
        GrantsOf::Grant(id) => conn
            .prepare_cached("SELECT id FROM oauth_grants WHERE id = ?1 AND revoked_at IS NULL")?
            .query_map([id], |r| r.get(0))?
            .collect::<Result<_, _>>()?,
        GrantsOf::User(user) => conn
            .prepare_cached(
                "SELECT id FROM oauth_grants WHERE user_id = ?1 AND revoked_at IS NULL",
            )?
            .query_map([&user.0], |r| r.get(0))?
            .collect::<Result<_, _>>()?,
    };
    for id in &ids {
        conn.prepare_cached(
            "UPDATE oauth_grants SET revoked_at = ?2, revoked_reason = ?3 WHERE id = ?1",
        )?
        .execute(params![id, at.0, reason])?;
        conn.prepare_cached(
            "UPDATE tokens SET revoked_at = ?2 WHERE grant_id = ?1 AND revoked_at IS NULL",
        )?
        .execute(params![id, at.0])?;
        conn.prepare_cached("DELETE FROM oauth_secrets WHERE grant_id = ?1")?
            .execute([id])?;
    }
    if let GrantsOf::User(user) = which {
        conn.prepare_cached("DELETE FROM oauth_secrets WHERE user_id = ?1")?
            .execute([&user.0])?;
    }
    Ok(ids)
}

pub fn secret_insert(conn: &Connection, secret: &OAuthSecret) -> StoreResult<()> {
    require_user(conn, &secret.user)?;
    if let Some(grant) = &secret.grant {
        let live: bool = conn
            .prepare_cached("SELECT 1 FROM oauth_grants WHERE id = ?1 AND revoked_at IS NULL")?
            .exists([grant])?;
        if !live {
            return Err(StoreError::NotFound {
                what: "live grant",
                id: grant.clone(),
            });
        }
    }
    conn.prepare_cached(
        "INSERT INTO oauth_secrets (sha256, kind, user_id, grant_id, data, created_at,
                                    expires_at, used_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        &secret.sha256[..],
        secret.kind.as_str(),
        secret.user.0,
        secret.grant,
        secret.data,
        secret.created_at.0,
        secret.expires_at.0,
        secret.used_at.map(|t| t.0),
    ])?;
    Ok(())
}

/// The secret of this kind with this hash, as it was before this call; marks it used
/// if it was not. A caller that finds `used_at` set is looking at a replay.
pub fn secret_take(
    conn: &Connection,
    kind: SecretKind,
    sha256: &[u8; 32],
    at: UnixTime,
) -> StoreResult<Option<OAuthSecret>> {
    let found = secret(conn, kind, sha256)?;
    if let Some(found) = &found
        && found.used_at.is_none()
    {
        conn.prepare_cached("UPDATE oauth_secrets SET used_at = ?2 WHERE sha256 = ?1")?
            .execute(params![&sha256[..], at.0])?;
    }
    Ok(found)
}

/// Marks an unspent secret used; false if it is unknown or was already spent.
pub fn secret_spend(
    conn: &Connection,
    kind: SecretKind,
    sha256: &[u8; 32],
    at: UnixTime,
) -> StoreResult<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE oauth_secrets SET used_at = ?3
             WHERE sha256 = ?1 AND kind = ?2 AND used_at IS NULL",
        )?
        .execute(params![&sha256[..], kind.as_str(), at.0])?;
    Ok(changed == 1)
}

pub fn secret_mark(
    conn: &Connection,
    kind: SecretKind,
    sha256: &[u8; 32],
    used_at: UnixTime,
    expires_at: UnixTime,
) -> StoreResult<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE oauth_secrets SET used_at = ?3, expires_at = ?4
             WHERE sha256 = ?1 AND kind = ?2",
        )?
        .execute(params![&sha256[..], kind.as_str(), used_at.0, expires_at.0])?;
    Ok(changed == 1)
}

pub fn secret(
    conn: &Connection,
    kind: SecretKind,
    sha256: &[u8; 32],
) -> StoreResult<Option<OAuthSecret>> {
    Ok(conn
        .prepare_cached(
            "SELECT user_id, grant_id, data, created_at, expires_at, used_at
             FROM oauth_secrets WHERE sha256 = ?1 AND kind = ?2",
        )?
        .query_row(params![&sha256[..], kind.as_str()], |row| {
            Ok(OAuthSecret {
                sha256: *sha256,
                kind,
                user: UserId(row.get(0)?),
                grant: row.get(1)?,
                data: row.get(2)?,
                created_at: UnixTime(row.get(3)?),
                expires_at: UnixTime(row.get(4)?),
                used_at: row.get::<_, Option<i64>>(5)?.map(UnixTime),
            })
        })
        .optional()?)
}

/// Drops secrets that expired before `before` (used ones included: their replay is
/// refused as unknown once gone, which fails closed).
pub fn secrets_expire(conn: &Connection, before: UnixTime) -> StoreResult<u64> {
    Ok(conn
        .prepare_cached("DELETE FROM oauth_secrets WHERE expires_at < ?1")?
        .execute([before.0])? as u64)
}

fn require_user(conn: &Connection, user: &UserId) -> StoreResult<()> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM users WHERE id = ?1")?
        .exists([&user.0])?;
    if exists {
        Ok(())
    } else {
        Err(StoreError::NotFound {
            what: "user",
            id: user.0.clone(),
        })
    }
}

fn raw_grant(row: &Row<'_>) -> rusqlite::Result<RawGrant> {
    Ok(RawGrant {
        id: row.get(0)?,
        user: row.get(1)?,
        client_id: row.get(2)?,
        client_name: row.get(3)?,
        scopes: row.get(4)?,
        audience: row.get(5)?,
        created_at: row.get(6)?,
        revoked_at: row.get(7)?,
        revoked_reason: row.get(8)?,
    })
}

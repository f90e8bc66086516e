//! Rows of the `tokens` table.

use super::users::{USER_COLUMNS, raw_user_at};
use crate::rows::{RawToken, names_json};
use crate::{Credential, StoreError, StoreResult};
use moat_domain::{Token, TokenId, UnixTime, UserId};
use rusqlite::{Connection, OptionalExtension, Row, params};

const TOKEN_COLUMNS: &str = "t.id, t.user_id, t.name, t.scopes, t.secret_sha256, t.created_at, \
     t.expires_at, t.last_used_at, t.revoked_at, t.replaced_by, t.grant_id, t.audience";
const TOKEN_COLUMN_COUNT: usize = 12;

pub fn insert(conn: &Connection, token: &Token) -> StoreResult<()> {
    let user_exists: bool = conn
        .prepare_cached("SELECT 1 FROM users WHERE id = ?1")?
        .exists([&token.user_id.0])?;
    if !user_exists {
        return Err(StoreError::NotFound {
            what: "user",
            id: token.user_id.0.clone(),
        });
    }
    conn.execute(
        "INSERT INTO tokens (id, user_id, name, scopes, secret_sha256, created_at, expires_at,
                             last_used_at, revoked_at, replaced_by, grant_id, audience)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            token.id.0,
            token.user_id.0,
            token.name,
            names_json(token.scopes.iter().map(|s| s.as_str())),
            &token.secret_sha256[..],
            token.created_at.0,
            token.expires_at.map(|t| t.0),
            token.last_used_at.map(|t| t.0),
            token.revoked_at.map(|t| t.0),
            token.replaced_by.as_ref().map(|t| t.0.as_str()),
            token.oauth.as_ref().map(|o| o.grant.as_str()),
            token.oauth.as_ref().map(|o| o.audience.as_str()),
        ],
    )?;
    Ok(())
}

pub fn by_id(conn: &Connection, id: &TokenId) -> StoreResult<Option<Token>> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens t WHERE t.id = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let raw = stmt.query_row([&id.0], raw_token).optional()?;
    raw.map(RawToken::into_token).transpose()
}

pub fn require(conn: &Connection, id: &TokenId) -> StoreResult<Token> {
    by_id(conn, id)?.ok_or_else(|| StoreError::NotFound {
        what: "token",
        id: id.0.clone(),
    })
}

pub fn credential_by_hash(conn: &Connection, sha256: &[u8; 32]) -> StoreResult<Option<Credential>> {
    let sql = format!(
        "SELECT {TOKEN_COLUMNS}, {USER_COLUMNS} FROM tokens t JOIN users u ON u.id = t.user_id
         WHERE t.secret_sha256 = ?1"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let raw = stmt
        .query_row([&sha256[..]], |row| {
            Ok((raw_token(row)?, raw_user_at(row, TOKEN_COLUMN_COUNT)?))
        })
        .optional()?;
    match raw {
        None => Ok(None),
        Some((token, user)) => Ok(Some(Credential {
            token: token.into_token()?,
            user: user.into_user()?,
        })),
    }
}

pub fn all(conn: &Connection, user: Option<&UserId>) -> StoreResult<Vec<Token>> {
    let sql = format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens t WHERE ?1 IS NULL OR t.user_id = ?1
         ORDER BY t.created_at, t.id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let raws = stmt
        .query_map([user.map(|u| u.0.as_str())], raw_token)?
        .collect::<Result<Vec<_>, _>>()?;
    raws.into_iter().map(RawToken::into_token).collect()
}

pub fn revoke(conn: &Connection, id: &TokenId, at: UnixTime) -> StoreResult<()> {
    let changed = conn.execute(
        "UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
        params![id.0, at.0],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound {
            what: "token",
            id: id.0.clone(),
        });
    }
    Ok(())
}

pub fn revoke_all_of_user(conn: &Connection, user: &UserId, at: UnixTime) -> StoreResult<()> {
    conn.execute(
        "UPDATE tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
        params![user.0, at.0],
    )?;
    Ok(())
}

pub fn mark_replaced(
    conn: &Connection,
    old: &TokenId,
    replacement: &TokenId,
    expires_at: UnixTime,
) -> StoreResult<()> {
    let changed = conn.execute(
        "UPDATE tokens SET replaced_by = ?2,
                expires_at = CASE WHEN expires_at IS NULL OR expires_at > ?3 THEN ?3 ELSE expires_at END
         WHERE id = ?1",
        params![old.0, replacement.0, expires_at.0],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound {
            what: "token",
            id: old.0.clone(),
        });
    }
    Ok(())
}

pub fn touch(conn: &Connection, id: &TokenId, at: UnixTime, coarseness: i64) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE tokens SET last_used_at = ?2
         WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at <= ?2 - ?3)",
    )?
    .execute(params![id.0, at.0, coarseness])?;
    Ok(())
}

/// Whether a touch would change anything, so readers can skip taking the writer.
pub fn needs_touch(
    conn: &Connection,
    id: &TokenId,
    at: UnixTime,
    coarseness: i64,
) -> StoreResult<bool> {
    let last: Option<Option<i64>> = conn
        .prepare_cached("SELECT last_used_at FROM tokens WHERE id = ?1")?
        .query_row([&id.0], |r| r.get(0))
        .optional()?;
    Ok(match last {
        None => false,
        Some(None) => true,
        Some(Some(last)) => last <= at.0 - coarseness,
    })
}

fn raw_token(row: &Row<'_>) -> rusqlite::Result<RawToken> {
    Ok(RawToken {
        id: row.get(0)?,
        user_id: row.get(1)?,
        name: row.get(2)?,
        scopes: row.get(3)?,
        secret_sha256: row.get(4)?,
        created_at: row.get(5)?,
        expires_at: row.get(6)?,
        last_used_at: row.get(7)?,
        revoked_at: row.get(8)?,
        replaced_by: row.get(9)?,
        grant_id: row.get(10)?,
        audience: row.get(11)?,
    })
}

//! Rows of the `tokens` table.

use super::users::{USER_COLUMNS, raw_user_at, require_exists};
use crate::rows::{RawToken, names_json};
use crate::{Credential, StoreError, StoreResult};
use deadpool_postgres::GenericClient;
use moat_domain::{Token, TokenId, UnixTime, UserId};
use tokio_postgres::Row;

const TOKEN_COLUMNS: &str = "t.id, t.user_id, t.name, t.scopes, t.secret_sha256, t.created_at, \
     t.expires_at, t.last_used_at, t.revoked_at, t.replaced_by, t.grant_id, t.audience";
const TOKEN_COLUMN_COUNT: usize = 12;

pub async fn insert(c: &impl GenericClient, token: &Token) -> StoreResult<()> {
    require_exists(c, &token.user_id).await?;
    let statement = c
        .prepare_cached(
            "INSERT INTO tokens (id, user_id, name, scopes, secret_sha256, created_at, expires_at,
                                 last_used_at, revoked_at, replaced_by, grant_id, audience)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .await?;
    c.execute(
        &statement,
        &[
            &token.id.0,
            &token.user_id.0,
            &token.name,
            &names_json(token.scopes.iter().map(|s| s.as_str())),
            &&token.secret_sha256[..],
            &token.created_at.0,
            &token.expires_at.map(|t| t.0),
            &token.last_used_at.map(|t| t.0),
            &token.revoked_at.map(|t| t.0),
            &token.replaced_by.as_ref().map(|t| t.0.as_str()),
            &token.oauth.as_ref().map(|o| o.grant.as_str()),
            &token.oauth.as_ref().map(|o| o.audience.as_str()),
        ],
    )
    .await?;
    Ok(())
}

pub async fn by_id(c: &impl GenericClient, id: &TokenId) -> StoreResult<Option<Token>> {
    let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens t WHERE t.id = $1");
    let statement = c.prepare_cached(&sql).await?;
    match c.query_opt(&statement, &[&id.0]).await? {
        Some(row) => Ok(Some(raw_token(&row)?.into_token()?)),
        None => Ok(None),
    }
}

pub async fn require(c: &impl GenericClient, id: &TokenId) -> StoreResult<Token> {
    by_id(c, id).await?.ok_or_else(|| StoreError::NotFound {
        what: "token",
        id: id.0.clone(),
    })
}

pub async fn credential_by_hash(
    c: &impl GenericClient,
    sha256: &[u8; 32],
) -> StoreResult<Option<Credential>> {
    let sql = format!(
        "SELECT {TOKEN_COLUMNS}, {USER_COLUMNS} FROM tokens t JOIN users u ON u.id = t.user_id
         WHERE t.secret_sha256 = $1"
    );
    let statement = c.prepare_cached(&sql).await?;
    match c.query_opt(&statement, &[&&sha256[..]]).await? {
        None => Ok(None),
        Some(row) => Ok(Some(Credential {
            token: raw_token(&row)?.into_token()?,
            user: raw_user_at(&row, TOKEN_COLUMN_COUNT)?.into_user()?,
        })),
    }
}

pub async fn all(c: &impl GenericClient, user: Option<&UserId>) -> StoreResult<Vec<Token>> {
    let sql = format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens t WHERE $1::text IS NULL OR t.user_id = $1
         ORDER BY t.created_at, t.id"
    );
    let statement = c.prepare_cached(&sql).await?;
    c.query(&statement, &[&user.map(|u| u.0.as_str())])
        .await?
        .iter()
        .map(|row| raw_token(row)?.into_token())
        .collect()
}

pub async fn revoke(c: &impl GenericClient, id: &TokenId, at: UnixTime) -> StoreResult<()> {
    let changed = c
        .execute(
            "UPDATE tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
            &[&id.0, &at.0],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::NotFound {
            what: "token",
            id: id.0.clone(),
        });
    }
    Ok(())
}

pub async fn revoke_all_of_user(
    c: &impl GenericClient,
    user: &UserId,
    at: UnixTime,
) -> StoreResult<()> {
    c.execute(
        "UPDATE tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        &[&user.0, &at.0],
    )
    .await?;
    Ok(())
}

pub async fn mark_replaced(
    c: &impl GenericClient,
    old: &TokenId,
    replacement: &TokenId,
    expires_at: UnixTime,
) -> StoreResult<()> {
    let changed = c
        .execute(
            "UPDATE tokens SET replaced_by = $2,
                    expires_at = CASE WHEN expires_at IS NULL OR expires_at > $3 THEN $3
                                      ELSE expires_at END
             WHERE id = $1",
            &[&old.0, &replacement.0, &expires_at.0],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::NotFound {
            what: "token",
            id: old.0.clone(),
        });
    }
    Ok(())
}

/// Records use at `at` unless the stored time is less than `coarseness` older: one
/// statement, which writes nothing (and takes no row lock) when nothing is due.
pub async fn touch(
    c: &impl GenericClient,
    id: &TokenId,
    at: UnixTime,
    coarseness: i64,
) -> StoreResult<()> {
    let statement = c
        .prepare_cached(
            "UPDATE tokens SET last_used_at = $2
             WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $2::bigint - $3::bigint)",
        )
        .await?;
    c.execute(&statement, &[&id.0, &at.0, &coarseness]).await?;
    Ok(())
}

fn raw_token(row: &Row) -> StoreResult<RawToken> {
    Ok(RawToken {
        id: row.try_get(0)?,
        user_id: row.try_get(1)?,
        name: row.try_get(2)?,
        scopes: row.try_get(3)?,
        secret_sha256: row.try_get(4)?,
        created_at: row.try_get(5)?,
        expires_at: row.try_get(6)?,
        last_used_at: row.try_get(7)?,
        revoked_at: row.try_get(8)?,
        replaced_by: row.try_get(9)?,
        grant_id: row.try_get(10)?,
        audience: row.try_get(11)?,
    })
}

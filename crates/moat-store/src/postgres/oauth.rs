//! Rows of `oauth_clients`, `oauth_grants` and `oauth_secrets`.

use super::users::require_exists;
use crate::oauth::{GrantsOf, OAuthClientRow, OAuthGrant, OAuthSecret, SecretKind};
use crate::rows::{RawGrant, names_json};
use crate::{StoreError, StoreResult};
use deadpool_postgres::GenericClient;
use moat_domain::{UnixTime, UserId};
use tokio_postgres::Row;

pub async fn client_put(c: &impl GenericClient, client: &OAuthClientRow) -> StoreResult<()> {
    c.execute(
        "INSERT INTO oauth_clients (id, source, metadata, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET source = excluded.source, metadata = excluded.metadata",
        &[
            &client.id,
            &client.source,
            &client.metadata,
            &client.created_at.0,
        ],
    )
    .await?;
    Ok(())
}

pub async fn client(c: &impl GenericClient, id: &str) -> StoreResult<Option<OAuthClientRow>> {
    match c
        .query_opt(
            "SELECT id, source, metadata, created_at FROM oauth_clients WHERE id = $1",
            &[&id],
        )
        .await?
    {
        Some(row) => Ok(Some(OAuthClientRow {
            id: row.try_get(0)?,
            source: row.try_get(1)?,
            metadata: row.try_get(2)?,
            created_at: UnixTime(row.try_get(3)?),
        })),
        None => Ok(None),
    }
}

pub async fn grant_insert(c: &impl GenericClient, grant: &OAuthGrant) -> StoreResult<()> {
    require_exists(c, &grant.user).await?;
    c.execute(
        "INSERT INTO oauth_grants (id, user_id, client_id, client_name, scopes, audience,
                                   created_at, revoked_at, revoked_reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &grant.id,
            &grant.user.0,
            &grant.client_id,
            &grant.client_name,
            &names_json(grant.scopes.iter().map(|s| s.as_str())),
            &grant.audience.as_str(),
            &grant.created_at.0,
            &grant.revoked_at.map(|t| t.0),
            &grant.revoked_reason,
        ],
    )
    .await?;
    Ok(())
}

const GRANT_COLUMNS: &str = "id, user_id, client_id, client_name, scopes, audience, created_at, \
     revoked_at, revoked_reason";

pub async fn grant(c: &impl GenericClient, id: &str) -> StoreResult<Option<OAuthGrant>> {
    let sql = format!("SELECT {GRANT_COLUMNS} FROM oauth_grants WHERE id = $1");
    match c.query_opt(&sql, &[&id]).await? {
        Some(row) => Ok(Some(raw_grant(&row)?.into_grant()?)),
        None => Ok(None),
    }
}

pub async fn grants(c: &impl GenericClient, user: Option<&UserId>) -> StoreResult<Vec<OAuthGrant>> {
    let sql = format!(
        "SELECT {GRANT_COLUMNS} FROM oauth_grants WHERE $1::text IS NULL OR user_id = $1
         ORDER BY created_at, id"
    );
    c.query(&sql, &[&user.map(|u| u.0.as_str())])
        .await?
        .iter()
        .map(|row| raw_grant(row)?.into_grant())
        .collect()
}

/// Revokes the live grants selected, their access tokens, and every secret issued under
/// them (refresh tokens, codes) — and, for a person, their sessions, sign-in links and
/// pending consents too. Returns the grants revoked.
pub async fn revoke(
    c: &impl GenericClient,
    which: GrantsOf<'_>,
    at: UnixTime,
    reason: &str,
) -> StoreResult<Vec<String>> {
    let rows = match which {
        GrantsOf::Grant(id) => {
            c.query(
                "SELECT id FROM oauth_grants WHERE id = $1 AND revoked_at IS NULL",
                &[&id],
            )
            .await?
        }
        GrantsOf::User(user) => {
            c.query(
                "SELECT id FROM oauth_grants WHERE user_id = $1 AND revoked_at IS NULL
                 ORDER BY created_at, id",
                &[&user.0],
            )
            .await?
        }
    };
    let ids: Vec<String> = rows
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    if !ids.is_empty() {
        c.execute(
            "UPDATE oauth_grants SET revoked_at = $2, revoked_reason = $3 WHERE id = ANY($1)",
            &[&ids, &at.0, &reason],
        )
        .await?;
        c.execute(
            "UPDATE tokens SET revoked_at = $2 WHERE grant_id = ANY($1) AND revoked_at IS NULL",
            &[&ids, &at.0],
        )
        .await?;
        c.execute(
            "DELETE FROM oauth_secrets WHERE grant_id = ANY($1)",
            &[&ids],
        )
        .await?;
    }
    if let GrantsOf::User(user) = which {
        c.execute("DELETE FROM oauth_secrets WHERE user_id = $1", &[&user.0])
            .await?;
    }
    Ok(ids)
}

pub async fn secret_insert(c: &impl GenericClient, secret: &OAuthSecret) -> StoreResult<()> {
    require_exists(c, &secret.user).await?;
    if let Some(grant) = &secret.grant {
        let live = c
            .query_opt(
                "SELECT 1 FROM oauth_grants WHERE id = $1 AND revoked_at IS NULL",
                &[grant],
            )
            .await?
            .is_some();
        if !live {
            return Err(StoreError::NotFound {
                what: "live grant",
                id: grant.clone(),
            });
        }
    }
    c.execute(
        "INSERT INTO oauth_secrets (sha256, kind, user_id, grant_id, data, created_at,
                                    expires_at, used_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &&secret.sha256[..],
            &secret.kind.as_str(),
            &secret.user.0,
            &secret.grant,
            &secret.data,
            &secret.created_at.0,
            &secret.expires_at.0,
            &secret.used_at.map(|t| t.0),
        ],
    )
    .await?;
    Ok(())
}

/// The secret of this kind with this hash, as it was before this call; marks it used
/// if it was not. A caller that finds `used_at` set is looking at a replay. The row is
/// locked while read, so of two concurrent takes exactly one sees it unused.
pub async fn secret_take(
    c: &impl GenericClient,
    kind: SecretKind,
    sha256: &[u8; 32],
    at: UnixTime,
) -> StoreResult<Option<OAuthSecret>> {
    let found = select_secret(c, kind, sha256, " FOR UPDATE").await?;
    if let Some(found) = &found
        && found.used_at.is_none()
    {
        c.execute(
            "UPDATE oauth_secrets SET used_at = $2 WHERE sha256 = $1",
            &[&&sha256[..], &at.0],
        )
        .await?;
    }
    Ok(found)
}

/// Marks an unspent secret used; false if it is unknown or was already spent.
pub async fn secret_spend(
    c: &impl GenericClient,
    kind: SecretKind,
    sha256: &[u8; 32],
    at: UnixTime,
) -> StoreResult<bool> {
    let changed = c
        .execute(
            "UPDATE oauth_secrets SET used_at = $3
             WHERE sha256 = $1 AND kind = $2 AND used_at IS NULL",
            &[&&sha256[..], &kind.as_str(), &at.0],
        )
        .await?;
    Ok(changed == 1)
}

pub async fn secret_mark(
    c: &impl GenericClient,
    kind: SecretKind,
    sha256: &[u8; 32],
    used_at: UnixTime,
    expires_at: UnixTime,
) -> StoreResult<bool> {
    let changed = c
        .execute(
            "UPDATE oauth_secrets SET used_at = $3, expires_at = $4
             WHERE sha256 = $1 AND kind = $2",
            &[&&sha256[..], &kind.as_str(), &used_at.0, &expires_at.0],
        )
        .await?;
    Ok(changed == 1)
}

pub async fn secret(
    c: &impl GenericClient,
    kind: SecretKind,
    sha256: &[u8; 32],
) -> StoreResult<Option<OAuthSecret>> {
    select_secret(c, kind, sha256, "").await
}

async fn select_secret(
    c: &impl GenericClient,
    kind: SecretKind,
    sha256: &[u8; 32],
    lock: &str,
) -> StoreResult<Option<OAuthSecret>> {
    let sql = format!(
        "SELECT user_id, grant_id, data, created_at, expires_at, used_at
         FROM oauth_secrets WHERE sha256 = $1 AND kind = $2{lock}"
    );
    match c.query_opt(&sql, &[&&sha256[..], &kind.as_str()]).await? {
        Some(row) => Ok(Some(OAuthSecret {
            sha256: *sha256,
            kind,
            user: UserId(row.try_get(0)?),
            grant: row.try_get(1)?,
            data: row.try_get(2)?,
            created_at: UnixTime(row.try_get(3)?),
            expires_at: UnixTime(row.try_get(4)?),
            used_at: row.try_get::<_, Option<i64>>(5)?.map(UnixTime),
        })),
        None => Ok(None),
    }
}

/// Drops secrets that expired before `before` (used ones included: their replay is
/// refused as unknown once gone, which fails closed).
pub async fn secrets_expire(c: &impl GenericClient, before: UnixTime) -> StoreResult<u64> {
    Ok(c.execute(
        "DELETE FROM oauth_secrets WHERE expires_at < $1",
        &[&before.0],
    )
    .await?)
}

fn raw_grant(row: &Row) -> StoreResult<RawGrant> {
    Ok(RawGrant {
        id: row.try_get(0)?,
        user: row.try_get(1)?,
        client_id: row.try_get(2)?,
        client_name: row.try_get(3)?,
        scopes: row.try_get(4)?,
        audience: row.try_get(5)?,
        created_at: row.try_get(6)?,
        revoked_at: row.try_get(7)?,
        revoked_reason: row.try_get(8)?,
    })
}

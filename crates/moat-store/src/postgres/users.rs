//! Rows of the `users` table.

use crate::rows::{RawUser, names_json};
use crate::{StoreError, StoreResult};
use deadpool_postgres::GenericClient;
use moat_domain::{TrainingAttestation, UnixTime, User, UserId, UserStatus};
use tokio_postgres::Row;

pub const USER_COLUMNS: &str = "u.id, u.email, u.name, u.status, u.roles, u.teams, u.oidc_subject, \
     u.scim_id, u.training_version, u.training_completed_at, u.created_at";

pub async fn insert(c: &impl GenericClient, user: &User) -> StoreResult<()> {
    let statement = c
        .prepare_cached(
            "INSERT INTO users (id, email, name, status, roles, teams, oidc_subject, scim_id,
                                training_version, training_completed_at, created_at, updated_at,
                                scim_user_name)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $2)",
        )
        .await?;
    c.execute(
        &statement,
        &[
            &user.id.0,
            &user.email,
            &user.name,
            &user.status.as_str(),
            &names_json(user.roles.iter().map(|r| r.as_str())),
            &names_json(user.teams.iter().map(String::as_str)),
            &user.external.oidc_subject,
            &user.external.scim_id,
            &user.training.as_ref().map(|t| t.version.as_str()),
            &user.training.as_ref().map(|t| t.completed_at.0),
            &user.created_at.0,
        ],
    )
    .await?;
    Ok(())
}

async fn select(
    c: &impl GenericClient,
    filter: &str,
    args: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> StoreResult<Vec<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users u {filter}");
    let statement = c.prepare_cached(&sql).await?;
    c.query(&statement, args)
        .await?
        .iter()
        .map(|row| raw_user_at(row, 0)?.into_user())
        .collect()
}

pub async fn by_id(c: &impl GenericClient, id: &UserId) -> StoreResult<Option<User>> {
    Ok(select(c, "WHERE u.id = $1", &[&id.0]).await?.pop())
}

/// Case-insensitively, as SQLite's `COLLATE NOCASE` compares (ASCII only).
pub async fn by_email(c: &impl GenericClient, email: &str) -> StoreResult<Option<User>> {
    Ok(select(
        c,
        "WHERE lower(u.email) = lower($1::text COLLATE \"C\")",
        &[&email],
    )
    .await?
    .pop())
}

pub async fn all(c: &impl GenericClient) -> StoreResult<Vec<User>> {
    select(c, "ORDER BY lower(u.email), u.email", &[]).await
}

pub async fn page(
    c: &impl GenericClient,
    query: &crate::UserQuery,
) -> StoreResult<(Vec<User>, u64)> {
    let search = query.search.as_deref().map(str::to_ascii_lowercase);
    let status = query.status.map(UserStatus::as_str);
    // ASCII-only lowering on both sides, as SQLite's lower() does.
    let filter = "WHERE ($1::text IS NULL
                        OR strpos(lower(u.email COLLATE \"C\"), $1) > 0
                        OR strpos(lower(u.name COLLATE \"C\"), $1) > 0)
                    AND ($2::text IS NULL OR u.status = $2)";
    let count = c
        .prepare_cached(&format!("SELECT count(*) FROM users u {filter}"))
        .await?;
    let total: i64 = c.query_one(&count, &[&search, &status]).await?.try_get(0)?;
    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
    let offset = i64::try_from(query.offset).unwrap_or(i64::MAX);
    let users = select(
        c,
        &format!("{filter} ORDER BY lower(u.email), u.email LIMIT $3 OFFSET $4"),
        &[&search, &status, &limit, &offset],
    )
    .await?;
    Ok((users, total as u64))
}

pub async fn counts(c: &impl GenericClient) -> StoreResult<Vec<(UserStatus, u64)>> {
    let statement = c
        .prepare_cached("SELECT status, count(*) FROM users GROUP BY status")
        .await?;
    let mut counts = c
        .query(&statement, &[])
        .await?
        .iter()
        .map(|row| {
            let status: String = row.try_get(0)?;
            let count: i64 = row.try_get(1)?;
            let status = status
                .parse::<UserStatus>()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok((status, count as u64))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    counts.sort();
    Ok(counts)
}

pub async fn require(c: &impl GenericClient, id: &UserId) -> StoreResult<User> {
    by_id(c, id).await?.ok_or_else(|| StoreError::NotFound {
        what: "user",
        id: id.0.clone(),
    })
}

/// `NotFound` unless the user exists.
pub async fn require_exists(c: &impl GenericClient, id: &UserId) -> StoreResult<()> {
    let statement = c
        .prepare_cached("SELECT 1 FROM users WHERE id = $1")
        .await?;
    match c.query_opt(&statement, &[&id.0]).await? {
        Some(_) => Ok(()),
        None => Err(StoreError::NotFound {
            what: "user",
            id: id.0.clone(),
        }),
    }
}

pub async fn set_status(
    c: &impl GenericClient,
    id: &UserId,
    status: UserStatus,
    at: UnixTime,
) -> StoreResult<()> {
    let changed = c
        .execute(
            "UPDATE users SET status = $2, updated_at = $3, version = version + 1 WHERE id = $1",
            &[&id.0, &status.as_str(), &at.0],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::NotFound {
            what: "user",
            id: id.0.clone(),
        });
    }
    Ok(())
}

pub async fn set_training(
    c: &impl GenericClient,
    id: &UserId,
    training: &TrainingAttestation,
) -> StoreResult<()> {
    let changed = c
        .execute(
            "UPDATE users SET training_version = $2, training_completed_at = $3, updated_at = $3,
                              version = version + 1
             WHERE id = $1",
            &[&id.0, &training.version, &training.completed_at.0],
        )
        .await?;
    if changed == 0 {
        return Err(StoreError::NotFound {
            what: "user",
            id: id.0.clone(),
        });
    }
    Ok(())
}

/// Reads the [`USER_COLUMNS`] starting at column `offset`.
pub fn raw_user_at(row: &Row, offset: usize) -> StoreResult<RawUser> {
    Ok(RawUser {
        id: row.try_get(offset)?,
        email: row.try_get(offset + 1)?,
        name: row.try_get(offset + 2)?,
        status: row.try_get(offset + 3)?,
        roles: row.try_get(offset + 4)?,
        teams: row.try_get(offset + 5)?,
        oidc_subject: row.try_get(offset + 6)?,
        scim_id: row.try_get(offset + 7)?,
        training_version: row.try_get(offset + 8)?,
        training_completed_at: row.try_get(offset + 9)?,
        created_at: row.try_get(offset + 10)?,
    })
}

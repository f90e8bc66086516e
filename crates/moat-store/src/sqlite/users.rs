//! Rows of the `users` table.

use crate::rows::{RawUser, names_json};
use crate::{StoreError, StoreResult};
use moat_domain::{TrainingAttestation, UnixTime, User, UserId, UserStatus};
use rusqlite::{Connection, OptionalExtension, Row, params};

pub const USER_COLUMNS: &str = "u.id, u.email, u.name, u.status, u.roles, u.teams, u.oidc_subject, \
     u.scim_id, u.training_version, u.training_completed_at, u.created_at";

pub fn insert(conn: &Connection, user: &User) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO users (id, email, name, status, roles, teams, oidc_subject, scim_id,
                            training_version, training_completed_at, created_at, updated_at,
                            scim_user_name)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?2)",
        params![
            user.id.0,
            user.email,
            user.name,
            user.status.as_str(),
            names_json(user.roles.iter().map(|r| r.as_str())),
            names_json(user.teams.iter().map(String::as_str)),
            user.external.oidc_subject,
            user.external.scim_id,
            user.training.as_ref().map(|t| t.version.as_str()),
            user.training.as_ref().map(|t| t.completed_at.0),
            user.created_at.0,
        ],
    )?;
    Ok(())
}

pub fn by_id(conn: &Connection, id: &UserId) -> StoreResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let raw = stmt.query_row([&id.0], raw_user).optional()?;
    raw.map(RawUser::into_user).transpose()
}

pub fn by_email(conn: &Connection, email: &str) -> StoreResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.email = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let raw = stmt.query_row([email], raw_user).optional()?;
    raw.map(RawUser::into_user).transpose()
}

pub fn all(conn: &Connection) -> StoreResult<Vec<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.email");
    let mut stmt = conn.prepare_cached(&sql)?;
    let raws = stmt
        .query_map([], raw_user)?
        .collect::<Result<Vec<_>, _>>()?;
    raws.into_iter().map(RawUser::into_user).collect()
}

pub fn require(conn: &Connection, id: &UserId) -> StoreResult<User> {
    by_id(conn, id)?.ok_or_else(|| StoreError::NotFound {
        what: "user",
        id: id.0.clone(),
    })
}

pub fn set_status(
    conn: &Connection,
    id: &UserId,
    status: UserStatus,
    at: UnixTime,
) -> StoreResult<()> {
    let changed = conn.execute(
        "UPDATE users SET status = ?2, updated_at = ?3, version = version + 1 WHERE id = ?1",
        params![id.0, status.as_str(), at.0],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound {
            what: "user",
            id: id.0.clone(),
        });
    }
    Ok(())
}

pub fn set_training(
    conn: &Connection,
    id: &UserId,
    training: &TrainingAttestation,
) -> StoreResult<()> {
    let changed = conn.execute(
        "UPDATE users SET training_version = ?2, training_completed_at = ?3, updated_at = ?3,
                          version = version + 1
         WHERE id = ?1",
        params![id.0, training.version, training.completed_at.0],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound {
            what: "user",
            id: id.0.clone(),
        });
    }
    Ok(())
}

/// Reads the [`USER_COLUMNS`] starting at column `offset`.
pub fn raw_user_at(row: &Row<'_>, offset: usize) -> rusqlite::Result<RawUser> {
    Ok(RawUser {
        id: row.get(offset)?,
        email: row.get(offset + 1)?,
        name: row.get(offset + 2)?,
        status: row.get(offset + 3)?,
        roles: row.get(offset + 4)?,
        teams: row.get(offset + 5)?,
        oidc_subject: row.get(offset + 6)?,
        scim_id: row.get(offset + 7)?,
        training_version: row.get(offset + 8)?,
        training_completed_at: row.get(offset + 9)?,
        created_at: row.get(offset + 10)?,
    })
}

fn raw_user(row: &Row<'_>) -> rusqlite::Result<RawUser> {
    raw_user_at(row, 0)
}

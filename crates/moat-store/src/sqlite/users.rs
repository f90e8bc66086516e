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

pub fn page(conn: &Connection, query: &crate::UserQuery) -> StoreResult<(Vec<User>, u64)> {
    let search = query.search.as_deref().map(str::to_ascii_lowercase);
    let status = query.status.map(UserStatus::as_str);
    let filter =
        "WHERE (?1 IS NULL OR instr(lower(u.email), ?1) > 0 OR instr(lower(u.name), ?1) > 0)
                    AND (?2 IS NULL OR u.status = ?2)";
    let total: i64 = conn
        .prepare_cached(&format!("SELECT count(*) FROM users u {filter}"))?
        .query_row(params![search, status], |row| row.get(0))?;
    let sql =
        format!("SELECT {USER_COLUMNS} FROM users u {filter} ORDER BY u.email LIMIT ?3 OFFSET ?4");
    let raws = conn
        .prepare_cached(&sql)?
        .query_map(
            params![
                search,
                status,
                i64::try_from(query.limit).unwrap_or(i64::MAX),
                i64::try_from(query.offset).unwrap_or(i64::MAX)
            ],
            raw_user,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let users = raws
        .into_iter()
        .map(RawUser::into_user)
        .collect::<StoreResult<_>>()?;
    Ok((users, total as u64))
}

pub fn counts(conn: &Connection) -> StoreResult<Vec<(UserStatus, u64)>> {
    let rows = conn
        .prepare_cached("SELECT status, count(*) FROM users GROUP BY status")?
        .query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut counts = rows
        .into_iter()
        .map(|(status, count)| {
            let status = status
                .parse::<UserStatus>()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok((status, count as u64))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    counts.sort();
    Ok(counts)
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

//! Rows of `policy_exceptions`.

use crate::StoreResult;
use crate::exceptions::PolicyException;
use moat_domain::UnixTime;
use rusqlite::{Connection, OptionalExtension, Row, params};

const COLUMNS: &str = "id, user_id, kind, target, reason, seconds, status, requested_at, \
     requested_by, decided_at, decided_by, note, starts_at, ends_at";

pub fn insert(conn: &Connection, e: &PolicyException) -> StoreResult<()> {
    conn.execute(
        &format!(
            "INSERT INTO policy_exceptions ({COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        ),
        params![
            e.id,
            e.user_id,
            e.kind,
            e.target,
            e.reason,
            e.seconds,
            e.status,
            e.requested_at.0,
            e.requested_by,
            e.decided_at.map(|t| t.0),
            e.decided_by,
            e.note,
            e.starts_at.map(|t| t.0),
            e.ends_at.map(|t| t.0),
        ],
    )?;
    Ok(())
}

pub fn get(conn: &Connection, id: &str) -> StoreResult<Option<PolicyException>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM policy_exceptions WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?)
}

pub fn list(conn: &Connection, status: Option<&str>) -> StoreResult<Vec<PolicyException>> {
    let mut statement = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM policy_exceptions \
         WHERE ?1 IS NULL OR status = ?1 ORDER BY requested_at DESC, id"
    ))?;
    let rows = statement.query_map([status], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn update(conn: &Connection, e: &PolicyException, expected: &str) -> StoreResult<bool> {
    let changed = conn.execute(
        "UPDATE policy_exceptions SET status = ?2, decided_at = ?3, decided_by = ?4, \
         note = ?5, starts_at = ?6, ends_at = ?7 WHERE id = ?1 AND status = ?8",
        params![
            e.id,
            e.status,
            e.decided_at.map(|t| t.0),
            e.decided_by,
            e.note,
            e.starts_at.map(|t| t.0),
            e.ends_at.map(|t| t.0),
            expected,
        ],
    )?;
    Ok(changed == 1)
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<PolicyException> {
    let time = |at: Option<i64>| at.map(UnixTime);
    Ok(PolicyException {
        id: row.get(0)?,
        user_id: row.get(1)?,
        kind: row.get(2)?,
        target: row.get(3)?,
        reason: row.get(4)?,
        seconds: row.get(5)?,
        status: row.get(6)?,
        requested_at: UnixTime(row.get(7)?),
        requested_by: row.get(8)?,
        decided_at: time(row.get(9)?),
        decided_by: row.get(10)?,
        note: row.get(11)?,
        starts_at: time(row.get(12)?),
        ends_at: time(row.get(13)?),
    })
}

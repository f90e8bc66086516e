//! Rows of `incidents`.

use crate::StoreResult;
use crate::incidents::StoredIncident;
use moat_domain::UnixTime;
use rusqlite::{Connection, OptionalExtension, Row, params};

const COLUMNS: &str = "id, subject, status, opened_at, version, body";

pub fn insert(conn: &Connection, i: &StoredIncident) -> StoreResult<()> {
    conn.execute(
        &format!("INSERT INTO incidents ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
        params![i.id, i.subject, i.status, i.opened_at.0, i.version, i.body],
    )?;
    Ok(())
}

pub fn get(conn: &Connection, id: &str) -> StoreResult<Option<StoredIncident>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM incidents WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()?)
}

pub fn list(conn: &Connection, status: Option<&str>) -> StoreResult<Vec<StoredIncident>> {
    let mut statement = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM incidents \
         WHERE ?1 IS NULL OR status = ?1 ORDER BY opened_at DESC, id"
    ))?;
    let rows = statement.query_map([status], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn update(conn: &Connection, i: &StoredIncident) -> StoreResult<bool> {
    let changed = conn.execute(
        "UPDATE incidents SET status = ?2, version = ?3, body = ?4 \
         WHERE id = ?1 AND version = ?3 - 1",
        params![i.id, i.status, i.version, i.body],
    )?;
    Ok(changed == 1)
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<StoredIncident> {
    Ok(StoredIncident {
        id: row.get(0)?,
        subject: row.get(1)?,
        status: row.get(2)?,
        opened_at: UnixTime(row.get(3)?),
        version: row.get(4)?,
        body: row.get(5)?,
    })
}

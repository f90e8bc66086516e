//! Rows of `kill_switches`.

use crate::StoreResult;
use crate::kill_switches::KillSwitch;
use moat_domain::UnixTime;
use rusqlite::{Connection, OptionalExtension, Row, params};

const COLUMNS: &str = "kind, target, reason, engaged_by, engaged_at";

pub fn list(conn: &Connection) -> StoreResult<Vec<KillSwitch>> {
    let mut statement = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM kill_switches ORDER BY engaged_at, kind, target"
    ))?;
    let rows = statement.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn engage(conn: &Connection, s: &KillSwitch) -> StoreResult<bool> {
    let added = conn.execute(
        &format!(
            "INSERT INTO kill_switches ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (kind, target) DO NOTHING"
        ),
        params![s.kind, s.target, s.reason, s.engaged_by, s.engaged_at.0],
    )?;
    Ok(added == 1)
}

pub fn release(conn: &Connection, kind: &str, target: &str) -> StoreResult<Option<KillSwitch>> {
    Ok(conn
        .query_row(
            &format!(
                "DELETE FROM kill_switches WHERE kind = ?1 AND target = ?2 RETURNING {COLUMNS}"
            ),
            [kind, target],
            from_row,
        )
        .optional()?)
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<KillSwitch> {
    Ok(KillSwitch {
        kind: row.get(0)?,
        target: row.get(1)?,
        reason: row.get(2)?,
        engaged_by: row.get(3)?,
        engaged_at: UnixTime(row.get(4)?),
    })
}

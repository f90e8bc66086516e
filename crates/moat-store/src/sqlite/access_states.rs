//! Rows of `access_states` and `access_state_bodies`.

use crate::StoreResult;
use crate::access_states::AccessState;
use moat_domain::UnixTime;
use rusqlite::{Connection, OptionalExtension, Row, params};

const COLUMNS: &str = "day, taken_at, log_size, sha256, recorded_seq";

/// `false` (nothing written) when `state.day` has one already.
pub fn put(conn: &mut Connection, state: &AccessState, body: &[u8]) -> StoreResult<bool> {
    let tx = conn.transaction()?;
    let taken = tx.execute(
        &format!(
            "INSERT INTO access_states ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (day) DO NOTHING"
        ),
        params![
            state.day,
            state.taken_at.0,
            state.log_size as i64,
            state.sha256,
            state.recorded_seq as i64
        ],
    )? == 1;
    if taken {
        tx.execute(
            "INSERT INTO access_state_bodies (sha256, body) VALUES (?1, ?2) \
             ON CONFLICT (sha256) DO NOTHING",
            params![state.sha256, body],
        )?;
    }
    tx.commit()?;
    Ok(taken)
}

/// The last taken at or before `at` (`before`), or the first taken at or after it.
pub fn near(conn: &Connection, at: UnixTime, before: bool) -> StoreResult<Option<AccessState>> {
    let sql = if before {
        format!(
            "SELECT {COLUMNS} FROM access_states WHERE taken_at <= ?1 \
             ORDER BY taken_at DESC, day DESC LIMIT 1"
        )
    } else {
        format!(
            "SELECT {COLUMNS} FROM access_states WHERE taken_at >= ?1 \
             ORDER BY taken_at, day LIMIT 1"
        )
    };
    Ok(conn.query_row(&sql, [at.0], from_row).optional()?)
}

pub fn body(conn: &Connection, sha256: &str) -> StoreResult<Option<Vec<u8>>> {
    Ok(conn
        .query_row(
            "SELECT body FROM access_state_bodies WHERE sha256 = ?1",
            [sha256],
            |row| row.get(0),
        )
        .optional()?)
}

/// Forgets states taken before `before`, and bodies no state names any more.
pub fn prune(conn: &mut Connection, before: UnixTime) -> StoreResult<u64> {
    let tx = conn.transaction()?;
    let gone = tx.execute("DELETE FROM access_states WHERE taken_at < ?1", [before.0])?;
    tx.execute(
        "DELETE FROM access_state_bodies WHERE sha256 NOT IN \
         (SELECT sha256 FROM access_states)",
        [],
    )?;
    tx.commit()?;
    Ok(gone as u64)
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<AccessState> {
    Ok(AccessState {
        day: row.get(0)?,
        taken_at: UnixTime(row.get(1)?),
        log_size: row.get::<_, i64>(2)? as u64,
        sha256: row.get(3)?,
        recorded_seq: row.get::<_, i64>(4)? as u64,
    })
}

//! Rows of `gateway_kept`: responses a vendor keeps, and whom for.

use crate::StoreResult;
use moat_domain::UnixTime;
use rusqlite::{Connection, OptionalExtension, params};

/// All of `ids` in one transaction: none recorded, or all.
pub fn put(conn: &Connection, ids: &[String], user: &str, at: UnixTime) -> StoreResult<()> {
    let tx = conn.unchecked_transaction()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO gateway_kept (id, user_id, kept_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO NOTHING",
        )?;
        for id in ids {
            insert.execute(params![id, user, at.0])?;
        }
    }
    tx.commit()?;
    Ok(())
}

pub fn owner(conn: &Connection, id: &str) -> StoreResult<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT user_id FROM gateway_kept WHERE id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()?)
}

pub fn expire(conn: &Connection, before: UnixTime) -> StoreResult<u64> {
    Ok(conn.execute("DELETE FROM gateway_kept WHERE kept_at < ?1", [before.0])? as u64)
}

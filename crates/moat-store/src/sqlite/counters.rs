//! Rows of `gateway_counters`.

use crate::{CounterTake, StoreResult};
use rusqlite::{Connection, OptionalExtension, params};

pub fn take(conn: &mut Connection, takes: &[CounterTake]) -> StoreResult<Option<usize>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for (index, take) in takes.iter().enumerate() {
        let value: i64 = tx
            .prepare_cached("SELECT value FROM gateway_counters WHERE key = ?1 AND period = ?2")?
            .query_row(params![take.key, take.window], |r| r.get(0))
            .optional()?
            .unwrap_or(0);
        if value as u64 >= take.limit {
            return Ok(Some(index));
        }
    }
    for take in takes.iter().filter(|t| t.add > 0) {
        add_one(&tx, &take.key, take.window, take.add)?;
    }
    tx.commit()?;
    Ok(None)
}

fn add_one(conn: &Connection, key: &str, window: i64, amount: u64) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO gateway_counters (key, period, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (key, period) DO UPDATE SET value = value + excluded.value",
    )?
    .execute(params![key, window, amount as i64])?;
    Ok(())
}

pub fn add(conn: &mut Connection, counters: &[(String, i64)], amount: u64) -> StoreResult<()> {
    let tx = conn.transaction()?;
    for (key, window) in counters {
        add_one(&tx, key, *window, amount)?;
    }
    tx.commit()?;
    Ok(())
}

pub fn expire(conn: &Connection, prefix: &str, window: i64) -> StoreResult<u64> {
    Ok(conn.execute(
        "DELETE FROM gateway_counters WHERE substr(key, 1, length(?1)) = ?1 AND period < ?2",
        params![prefix, window],
    )? as u64)
}

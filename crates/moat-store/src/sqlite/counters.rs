//! Rows of `gateway_counters`.

use crate::{CounterChange, CounterTake, StoreResult};
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
        add_one(
            &tx,
            &take.key,
            take.window,
            i64::try_from(take.add).unwrap_or(i64::MAX),
        )?;
    }
    tx.commit()?;
    Ok(None)
}

fn add_one(conn: &Connection, key: &str, window: i64, delta: i64) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO gateway_counters (key, period, value) VALUES (?1, ?2, max(?3, 0))
         ON CONFLICT (key, period) DO UPDATE SET value = max(value + ?3, 0)",
    )?
    .execute(params![key, window, delta])?;
    Ok(())
}

pub fn add(conn: &mut Connection, changes: &[CounterChange]) -> StoreResult<()> {
    let tx = conn.transaction()?;
    for change in changes {
        add_one(&tx, &change.key, change.window, change.delta)?;
    }
    tx.commit()?;
    Ok(())
}

pub fn get(conn: &Connection, counters: &[(String, i64)]) -> StoreResult<Vec<u64>> {
    let mut statement =
        conn.prepare_cached("SELECT value FROM gateway_counters WHERE key = ?1 AND period = ?2")?;
    let mut values = Vec::with_capacity(counters.len());
    for (key, window) in counters {
        let value: Option<i64> = statement
            .query_row(params![key, window], |r| r.get(0))
            .optional()?;
        values.push(value.unwrap_or(0).max(0) as u64);
    }
    Ok(values)
}

pub fn expire(conn: &Connection, prefix: &str, window: i64) -> StoreResult<u64> {
    Ok(conn.execute(
        "DELETE FROM gateway_counters WHERE substr(key, 1, length(?1)) = ?1 AND period < ?2",
        params![prefix, window],
    )? as u64)
}

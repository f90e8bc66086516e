//! Rows of `gateway_counters`: every node counts against the same rows, each take in
//! one transaction holding the rows it checks, so two nodes cannot both pass a limit
//! that has room for one.

use super::to_i64;
use crate::{CounterChange, CounterTake, StoreResult};
use deadpool_postgres::{GenericClient, Object};

/// Creates the `(key, window)` rows that do not exist yet and locks them all, in key
/// order on every node (takes and changes alike), so no two transactions wait on each
/// other in a cycle and a first take in a window waits for another's like any other.
async fn lock_rows(
    tx: &deadpool_postgres::Transaction<'_>,
    keys: &[&str],
    windows: &[i64],
) -> StoreResult<Vec<tokio_postgres::Row>> {
    let ensure = tx
        .prepare_cached(
            "INSERT INTO gateway_counters (key, period, value)
             SELECT k, w, 0 FROM unnest($1::text[], $2::bigint[]) AS c (k, w)
             ORDER BY k, w
             ON CONFLICT (key, period) DO NOTHING",
        )
        .await?;
    tx.execute(&ensure, &[&keys, &windows]).await?;
    let lock = tx
        .prepare_cached(
            "SELECT g.key, g.period, g.value FROM gateway_counters g
             JOIN unnest($1::text[], $2::bigint[]) AS c (k, w) ON g.key = c.k AND g.period = c.w
             ORDER BY g.key, g.period FOR UPDATE OF g",
        )
        .await?;
    Ok(tx.query(&lock, &[&keys, &windows]).await?)
}

pub async fn take(client: &mut Object, takes: &[CounterTake]) -> StoreResult<Option<usize>> {
    let tx = client.transaction().await?;
    let keys: Vec<&str> = takes.iter().map(|t| t.key.as_str()).collect();
    let windows: Vec<i64> = takes.iter().map(|t| t.window).collect();
    let rows = lock_rows(&tx, &keys, &windows).await?;
    for (index, take) in takes.iter().enumerate() {
        let mut value = 0i64;
        for row in &rows {
            if row.try_get::<_, &str>(0)? == take.key && row.try_get::<_, i64>(1)? == take.window {
                value = row.try_get(2)?;
            }
        }
        if value as u64 >= take.limit {
            return Ok(Some(index));
        }
    }
    let (mut k, mut w, mut a) = (Vec::new(), Vec::new(), Vec::new());
    for take in takes.iter().filter(|t| t.add > 0) {
        k.push(take.key.as_str());
        w.push(take.window);
        a.push(to_i64(take.add, "counter")?);
    }
    if !k.is_empty() {
        let add = tx
            .prepare_cached(
                "UPDATE gateway_counters g SET value = g.value + c.a
                 FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS c (k, w, a)
                 WHERE g.key = c.k AND g.period = c.w",
            )
            .await?;
        tx.execute(&add, &[&k, &w, &a]).await?;
    }
    tx.commit().await?;
    Ok(None)
}

pub async fn add(client: &mut Object, changes: &[CounterChange]) -> StoreResult<()> {
    let keys: Vec<&str> = changes.iter().map(|c| c.key.as_str()).collect();
    let windows: Vec<i64> = changes.iter().map(|c| c.window).collect();
    let deltas: Vec<i64> = changes.iter().map(|c| c.delta).collect();
    let tx = client.transaction().await?;
    // Rows first, locked in key order as takes lock them, then every change at once.
    lock_rows(&tx, &keys, &windows).await?;
    let change = tx
        .prepare_cached(
            "UPDATE gateway_counters g SET value = GREATEST(g.value + c.d, 0)
             FROM (SELECT k, w, sum(d)::bigint AS d
                   FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS u (k, w, d)
                   GROUP BY k, w) AS c
             WHERE g.key = c.k AND g.period = c.w",
        )
        .await?;
    tx.execute(&change, &[&keys, &windows, &deltas]).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn get(c: &impl GenericClient, counters: &[(String, i64)]) -> StoreResult<Vec<u64>> {
    let keys: Vec<&str> = counters.iter().map(|(k, _)| k.as_str()).collect();
    let windows: Vec<i64> = counters.iter().map(|(_, w)| *w).collect();
    let statement = c
        .prepare_cached(
            "SELECT c.i, g.value FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS c (k, w, i)
             JOIN gateway_counters g ON g.key = c.k AND g.period = c.w",
        )
        .await?;
    let mut values = vec![0u64; counters.len()];
    for row in c.query(&statement, &[&keys, &windows]).await? {
        let index: i64 = row.try_get(0)?;
        let value: i64 = row.try_get(1)?;
        if let Some(slot) = usize::try_from(index - 1)
            .ok()
            .and_then(|i| values.get_mut(i))
        {
            *slot = value.max(0) as u64;
        }
    }
    Ok(values)
}

pub async fn expire(c: &impl GenericClient, prefix: &str, window: i64) -> StoreResult<u64> {
    Ok(c.execute(
        "DELETE FROM gateway_counters WHERE starts_with(key, $1) AND period < $2",
        &[&prefix, &window],
    )
    .await?)
}

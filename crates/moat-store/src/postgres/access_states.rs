//! Rows of `access_states` and `access_state_bodies`.

use crate::StoreResult;
use crate::access_states::AccessState;
use deadpool_postgres::{GenericClient, Object};
use moat_domain::UnixTime;
use tokio_postgres::Row;

const COLUMNS: &str = "day, taken_at, log_size, sha256, recorded_seq";

/// `false` (nothing written) when `state.day` has one already.
pub async fn put(client: &mut Object, state: &AccessState, body: &[u8]) -> StoreResult<bool> {
    let tx = client.transaction().await?;
    let taken = tx
        .execute(
            &format!(
                "INSERT INTO access_states ({COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (day) DO NOTHING"
            ),
            &[
                &state.day,
                &state.taken_at.0,
                &(state.log_size as i64),
                &state.sha256,
                &(state.recorded_seq as i64),
            ],
        )
        .await?
        == 1;
    if taken {
        tx.execute(
            "INSERT INTO access_state_bodies (sha256, body) VALUES ($1, $2) \
             ON CONFLICT (sha256) DO NOTHING",
            &[&state.sha256, &body],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(taken)
}

/// The last taken at or before `at` (`before`), or the first taken at or after it.
pub async fn near(
    c: &impl GenericClient,
    at: UnixTime,
    before: bool,
) -> StoreResult<Option<AccessState>> {
    let sql = if before {
        format!(
            "SELECT {COLUMNS} FROM access_states WHERE taken_at <= $1 \
             ORDER BY taken_at DESC, day DESC LIMIT 1"
        )
    } else {
        format!(
            "SELECT {COLUMNS} FROM access_states WHERE taken_at >= $1 \
             ORDER BY taken_at, day LIMIT 1"
        )
    };
    let row = c.query_opt(&sql, &[&at.0]).await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn body(c: &impl GenericClient, sha256: &str) -> StoreResult<Option<Vec<u8>>> {
    let row = c
        .query_opt(
            "SELECT body FROM access_state_bodies WHERE sha256 = $1",
            &[&sha256],
        )
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// Forgets states taken before `before`, and bodies no state names any more.
pub async fn prune(client: &mut Object, before: UnixTime) -> StoreResult<u64> {
    let tx = client.transaction().await?;
    let gone = tx
        .execute(
            "DELETE FROM access_states WHERE taken_at < $1",
            &[&before.0],
        )
        .await?;
    tx.execute(
        "DELETE FROM access_state_bodies b WHERE NOT EXISTS \
         (SELECT 1 FROM access_states s WHERE s.sha256 = b.sha256)",
        &[],
    )
    .await?;
    tx.commit().await?;
    Ok(gone)
}

fn from_row(row: &Row) -> StoreResult<AccessState> {
    Ok(AccessState {
        day: row.try_get(0)?,
        taken_at: UnixTime(row.try_get(1)?),
        log_size: row.try_get::<_, i64>(2)? as u64,
        sha256: row.try_get(3)?,
        recorded_seq: row.try_get::<_, i64>(4)? as u64,
    })
}

//! Rows of `kill_switches`.

use crate::StoreResult;
use crate::kill_switches::KillSwitch;
use deadpool_postgres::GenericClient;
use moat_domain::UnixTime;
use tokio_postgres::Row;

const COLUMNS: &str = "kind, target, reason, engaged_by, engaged_at";

pub async fn list(c: &impl GenericClient) -> StoreResult<Vec<KillSwitch>> {
    let rows = c
        .query(
            &format!("SELECT {COLUMNS} FROM kill_switches ORDER BY engaged_at, kind, target"),
            &[],
        )
        .await?;
    rows.iter().map(from_row).collect()
}

pub async fn engage(c: &impl GenericClient, s: &KillSwitch) -> StoreResult<bool> {
    let added = c
        .execute(
            &format!(
                "INSERT INTO kill_switches ({COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (kind, target) DO NOTHING"
            ),
            &[
                &s.kind,
                &s.target,
                &s.reason,
                &s.engaged_by,
                &s.engaged_at.0,
            ],
        )
        .await?;
    Ok(added == 1)
}

pub async fn release(
    c: &impl GenericClient,
    kind: &str,
    target: &str,
) -> StoreResult<Option<KillSwitch>> {
    let row = c
        .query_opt(
            &format!(
                "DELETE FROM kill_switches WHERE kind = $1 AND target = $2 RETURNING {COLUMNS}"
            ),
            &[&kind, &target],
        )
        .await?;
    row.as_ref().map(from_row).transpose()
}

fn from_row(row: &Row) -> StoreResult<KillSwitch> {
    Ok(KillSwitch {
        kind: row.try_get(0)?,
        target: row.try_get(1)?,
        reason: row.try_get(2)?,
        engaged_by: row.try_get(3)?,
        engaged_at: UnixTime(row.try_get(4)?),
    })
}

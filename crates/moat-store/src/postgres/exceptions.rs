//! Rows of `policy_exceptions`.

use crate::StoreResult;
use crate::exceptions::PolicyException;
use deadpool_postgres::GenericClient;
use moat_domain::UnixTime;
use tokio_postgres::Row;

const COLUMNS: &str = "id, user_id, kind, target, reason, seconds, status, requested_at, \
     requested_by, decided_at, decided_by, note, starts_at, ends_at";

pub async fn insert(c: &impl GenericClient, e: &PolicyException) -> StoreResult<()> {
    c.execute(
        &format!(
            "INSERT INTO policy_exceptions ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ),
        &[
            &e.id,
            &e.user_id,
            &e.kind,
            &e.target,
            &e.reason,
            &e.seconds,
            &e.status,
            &e.requested_at.0,
            &e.requested_by,
            &e.decided_at.map(|t| t.0),
            &e.decided_by,
            &e.note,
            &e.starts_at.map(|t| t.0),
            &e.ends_at.map(|t| t.0),
        ],
    )
    .await?;
    Ok(())
}

pub async fn get(c: &impl GenericClient, id: &str) -> StoreResult<Option<PolicyException>> {
    let row = c
        .query_opt(
            &format!("SELECT {COLUMNS} FROM policy_exceptions WHERE id = $1"),
            &[&id],
        )
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn list(
    c: &impl GenericClient,
    status: Option<&str>,
) -> StoreResult<Vec<PolicyException>> {
    let rows = c
        .query(
            &format!(
                "SELECT {COLUMNS} FROM policy_exceptions \
                 WHERE $1::TEXT IS NULL OR status = $1 ORDER BY requested_at DESC, id"
            ),
            &[&status],
        )
        .await?;
    rows.iter().map(from_row).collect()
}

pub async fn update(
    c: &impl GenericClient,
    e: &PolicyException,
    expected: &str,
) -> StoreResult<bool> {
    let changed = c
        .execute(
            "UPDATE policy_exceptions SET status = $2, decided_at = $3, decided_by = $4, \
             note = $5, starts_at = $6, ends_at = $7 WHERE id = $1 AND status = $8",
            &[
                &e.id,
                &e.status,
                &e.decided_at.map(|t| t.0),
                &e.decided_by,
                &e.note,
                &e.starts_at.map(|t| t.0),
                &e.ends_at.map(|t| t.0),
                &expected,
            ],
        )
        .await?;
    Ok(changed == 1)
}

fn from_row(row: &Row) -> StoreResult<PolicyException> {
    let time = |at: Option<i64>| at.map(UnixTime);
    Ok(PolicyException {
        id: row.try_get(0)?,
        user_id: row.try_get(1)?,
        kind: row.try_get(2)?,
        target: row.try_get(3)?,
        reason: row.try_get(4)?,
        seconds: row.try_get(5)?,
        status: row.try_get(6)?,
        requested_at: UnixTime(row.try_get(7)?),
        requested_by: row.try_get(8)?,
        decided_at: time(row.try_get(9)?),
        decided_by: row.try_get(10)?,
        note: row.try_get(11)?,
        starts_at: time(row.try_get(12)?),
        ends_at: time(row.try_get(13)?),
    })
}

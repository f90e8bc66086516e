//! Rows of `incidents`.

use crate::StoreResult;
use crate::incidents::StoredIncident;
use deadpool_postgres::GenericClient;
use moat_domain::UnixTime;
use tokio_postgres::Row;

const COLUMNS: &str = "id, subject, status, opened_at, version, body";

pub async fn insert(c: &impl GenericClient, i: &StoredIncident) -> StoreResult<()> {
    c.execute(
        &format!("INSERT INTO incidents ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"),
        &[
            &i.id,
            &i.subject,
            &i.status,
            &i.opened_at.0,
            &i.version,
            &i.body,
        ],
    )
    .await?;
    Ok(())
}

pub async fn get(c: &impl GenericClient, id: &str) -> StoreResult<Option<StoredIncident>> {
    let row = c
        .query_opt(
            &format!("SELECT {COLUMNS} FROM incidents WHERE id = $1"),
            &[&id],
        )
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub async fn list(
    c: &impl GenericClient,
    status: Option<&str>,
) -> StoreResult<Vec<StoredIncident>> {
    let rows = c
        .query(
            &format!(
                "SELECT {COLUMNS} FROM incidents \
                 WHERE $1::TEXT IS NULL OR status = $1 ORDER BY opened_at DESC, id"
            ),
            &[&status],
        )
        .await?;
    rows.iter().map(from_row).collect()
}

pub async fn update(c: &impl GenericClient, i: &StoredIncident) -> StoreResult<bool> {
    let changed = c
        .execute(
            "UPDATE incidents SET status = $2, version = $3, body = $4 \
             WHERE id = $1 AND version = $5",
            &[&i.id, &i.status, &i.version, &i.body, &(i.version - 1)],
        )
        .await?;
    Ok(changed == 1)
}

fn from_row(row: &Row) -> StoreResult<StoredIncident> {
    Ok(StoredIncident {
        id: row.try_get(0)?,
        subject: row.try_get(1)?,
        status: row.try_get(2)?,
        opened_at: UnixTime(row.try_get(3)?),
        version: row.try_get(4)?,
        body: row.try_get(5)?,
    })
}

//! Rows of `index_jobs` and `index_heads`, taken by nodes at once: a claim locks the
//! oldest due row and skips rows other nodes hold (`FOR UPDATE SKIP LOCKED`), so two
//! nodes never take the same repository.

use crate::{IndexHead, IndexJob, StoreResult};
use deadpool_postgres::{GenericClient, Object};
use moat_domain::UnixTime;
use tokio_postgres::Row;

const JOB_COLUMNS: &str =
    "repo, requested_at, reason, claimed_by, claimed_until, attempts, last_error";

pub async fn request(
    c: &impl GenericClient,
    repo: &str,
    reason: &str,
    at: UnixTime,
) -> StoreResult<bool> {
    // One statement: inserted, or (already there) marked to run again if under way.
    let row = c
        .query_one(
            "INSERT INTO index_jobs (repo, requested_at, reason) VALUES ($1, $2, $3)
             ON CONFLICT (repo) DO UPDATE SET again = CASE
                 WHEN index_jobs.claimed_by IS NOT NULL THEN 1 ELSE index_jobs.again END
             RETURNING (xmax = 0)",
            &[&repo, &at.0, &reason],
        )
        .await?;
    Ok(row.try_get(0)?)
}

pub async fn claim(
    client: &mut Object,
    node: &str,
    now: UnixTime,
    until: UnixTime,
) -> StoreResult<Option<IndexJob>> {
    let tx = client.transaction().await?;
    let row = tx
        .query_opt(
            &format!(
                "UPDATE index_jobs SET claimed_by = $2, claimed_until = $3, again = 0
                 WHERE repo = (
                     SELECT repo FROM index_jobs
                     WHERE (claimed_until IS NULL OR claimed_until < $1) AND not_before <= $1
                     ORDER BY requested_at, repo
                     LIMIT 1
                     FOR UPDATE SKIP LOCKED
                 )
                 RETURNING {JOB_COLUMNS}"
            ),
            &[&now.0, &node, &until.0],
        )
        .await?;
    tx.commit().await?;
    row.as_ref().map(job_from_row).transpose()
}

pub async fn renew(
    c: &impl GenericClient,
    repo: &str,
    node: &str,
    until: UnixTime,
) -> StoreResult<bool> {
    Ok(c.execute(
        "UPDATE index_jobs SET claimed_until = $3 WHERE repo = $1 AND claimed_by = $2",
        &[&repo, &node, &until.0],
    )
    .await?
        == 1)
}

pub async fn finish(
    client: &mut Object,
    repo: &str,
    node: &str,
    outcome: Result<&str, &str>,
    at: UnixTime,
    retry_at: UnixTime,
) -> StoreResult<bool> {
    let tx = client.transaction().await?;
    let Some(row) = tx
        .query_opt(
            "SELECT again FROM index_jobs WHERE repo = $1 AND claimed_by = $2 FOR UPDATE",
            &[&repo, &node],
        )
        .await?
    else {
        return Ok(false);
    };
    let again: i64 = row.try_get(0)?;
    match outcome {
        Ok(commit) => {
            set_head(&tx, repo, commit, at, node).await?;
            if again == 0 {
                tx.execute("DELETE FROM index_jobs WHERE repo = $1", &[&repo])
                    .await?;
            } else {
                tx.execute(
                    "UPDATE index_jobs SET claimed_by = NULL, claimed_until = NULL, again = 0,
                         attempts = 0, not_before = 0, last_error = NULL, requested_at = $2
                     WHERE repo = $1",
                    &[&repo, &at.0],
                )
                .await?;
            }
        }
        Err(error) => {
            tx.execute(
                "UPDATE index_jobs SET claimed_by = NULL, claimed_until = NULL,
                     attempts = attempts + 1, not_before = $2, last_error = $3
                 WHERE repo = $1",
                &[&repo, &retry_at.0, &error],
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(true)
}

pub async fn set_head(
    c: &impl GenericClient,
    repo: &str,
    commit: &str,
    at: UnixTime,
    by: &str,
) -> StoreResult<()> {
    c.execute(
        "INSERT INTO index_heads (repo, commit_id, indexed_at, indexed_by)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (repo) DO UPDATE SET commit_id = excluded.commit_id,
             indexed_at = excluded.indexed_at, indexed_by = excluded.indexed_by",
        &[&repo, &commit, &at.0, &by],
    )
    .await?;
    Ok(())
}

pub async fn jobs(c: &impl GenericClient) -> StoreResult<Vec<IndexJob>> {
    let rows = c
        .query(
            &format!("SELECT {JOB_COLUMNS} FROM index_jobs ORDER BY requested_at, repo"),
            &[],
        )
        .await?;
    rows.iter().map(job_from_row).collect()
}

pub async fn heads(c: &impl GenericClient) -> StoreResult<Vec<IndexHead>> {
    let rows = c
        .query(
            "SELECT repo, commit_id, indexed_at, indexed_by FROM index_heads ORDER BY repo",
            &[],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(IndexHead {
                repo: row.try_get(0)?,
                commit: row.try_get(1)?,
                indexed_at: UnixTime(row.try_get(2)?),
                indexed_by: row.try_get(3)?,
            })
        })
        .collect()
}

fn job_from_row(row: &Row) -> StoreResult<IndexJob> {
    let by: Option<String> = row.try_get(3)?;
    let until: Option<i64> = row.try_get(4)?;
    Ok(IndexJob {
        repo: row.try_get(0)?,
        requested_at: UnixTime(row.try_get(1)?),
        reason: row.try_get(2)?,
        claimed: by.zip(until.map(UnixTime)),
        attempts: row.try_get(5)?,
        last_error: row.try_get(6)?,
    })
}

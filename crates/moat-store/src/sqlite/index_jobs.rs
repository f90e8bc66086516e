//! Rows of `index_jobs` and `index_heads`. One process writes at a time (the writer
//! connection, immediate transactions), so claiming needs no row locks here.

use crate::{IndexHead, IndexJob, StoreResult};
use moat_domain::UnixTime;
use rusqlite::{Connection, OptionalExtension, Row, params};

const JOB_COLUMNS: &str =
    "repo, requested_at, reason, claimed_by, claimed_until, attempts, last_error";

pub fn request(conn: &mut Connection, repo: &str, reason: &str, at: UnixTime) -> StoreResult<bool> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let added = tx.execute(
        "INSERT INTO index_jobs (repo, requested_at, reason) VALUES (?1, ?2, ?3)
         ON CONFLICT (repo) DO NOTHING",
        params![repo, at.0, reason],
    )? == 1;
    if !added {
        // Under way: once more after it ends.
        tx.execute(
            "UPDATE index_jobs SET again = 1 WHERE repo = ?1 AND claimed_by IS NOT NULL",
            [repo],
        )?;
    }
    tx.commit()?;
    Ok(added)
}

pub fn claim(
    conn: &mut Connection,
    node: &str,
    now: UnixTime,
    until: UnixTime,
) -> StoreResult<Option<IndexJob>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let due: Option<String> = tx
        .query_row(
            "SELECT repo FROM index_jobs
             WHERE (claimed_until IS NULL OR claimed_until < ?1) AND not_before <= ?1
             ORDER BY requested_at, repo LIMIT 1",
            [now.0],
            |row| row.get(0),
        )
        .optional()?;
    let Some(repo) = due else {
        return Ok(None);
    };
    tx.execute(
        "UPDATE index_jobs SET claimed_by = ?2, claimed_until = ?3, again = 0 WHERE repo = ?1",
        params![repo, node, until.0],
    )?;
    let job = tx.query_row(
        &format!("SELECT {JOB_COLUMNS} FROM index_jobs WHERE repo = ?1"),
        [&repo],
        job_from_row,
    )?;
    tx.commit()?;
    Ok(Some(job))
}

pub fn renew(conn: &Connection, repo: &str, node: &str, until: UnixTime) -> StoreResult<bool> {
    Ok(conn.execute(
        "UPDATE index_jobs SET claimed_until = ?3 WHERE repo = ?1 AND claimed_by = ?2",
        params![repo, node, until.0],
    )? == 1)
}

pub fn finish(
    conn: &mut Connection,
    repo: &str,
    node: &str,
    outcome: Result<&str, &str>,
    at: UnixTime,
    retry_at: UnixTime,
) -> StoreResult<bool> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let again: Option<i64> = tx
        .query_row(
            "SELECT again FROM index_jobs WHERE repo = ?1 AND claimed_by = ?2",
            params![repo, node],
            |row| row.get(0),
        )
        .optional()?;
    let Some(again) = again else {
        return Ok(false);
    };
    match outcome {
        Ok(commit) => {
            set_head(&tx, repo, commit, at, node)?;
            if again == 0 {
                tx.execute("DELETE FROM index_jobs WHERE repo = ?1", [repo])?;
            } else {
                tx.execute(
                    "UPDATE index_jobs SET claimed_by = NULL, claimed_until = NULL, again = 0,
                         attempts = 0, not_before = 0, last_error = NULL, requested_at = ?2
                     WHERE repo = ?1",
                    params![repo, at.0],
                )?;
            }
        }
        Err(error) => {
            tx.execute(
                "UPDATE index_jobs SET claimed_by = NULL, claimed_until = NULL,
                     attempts = attempts + 1, not_before = ?2, last_error = ?3
                 WHERE repo = ?1",
                params![repo, retry_at.0, error],
            )?;
        }
    }
    tx.commit()?;
    Ok(true)
}

pub fn set_head(
    conn: &Connection,
    repo: &str,
    commit: &str,
    at: UnixTime,
    by: &str,
) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO index_heads (repo, commit_id, indexed_at, indexed_by)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (repo) DO UPDATE SET commit_id = excluded.commit_id,
             indexed_at = excluded.indexed_at, indexed_by = excluded.indexed_by",
        params![repo, commit, at.0, by],
    )?;
    Ok(())
}

pub fn jobs(conn: &Connection) -> StoreResult<Vec<IndexJob>> {
    let mut statement = conn.prepare(&format!(
        "SELECT {JOB_COLUMNS} FROM index_jobs ORDER BY requested_at, repo"
    ))?;
    let rows = statement.query_map([], job_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn heads(conn: &Connection) -> StoreResult<Vec<IndexHead>> {
    let mut statement = conn
        .prepare("SELECT repo, commit_id, indexed_at, indexed_by FROM index_heads ORDER BY repo")?;
    let rows = statement.query_map([], |row| {
        Ok(IndexHead {
            repo: row.get(0)?,
            commit: row.get(1)?,
            indexed_at: UnixTime(row.get(2)?),
            indexed_by: row.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<IndexJob> {
    let by: Option<String> = row.get(3)?;
    let until: Option<i64> = row.get(4)?;
    Ok(IndexJob {
        repo: row.get(0)?,
        requested_at: UnixTime(row.get(1)?),
        reason: row.get(2)?,
        claimed: by.zip(until.map(UnixTime)),
        attempts: row.get(5)?,
        last_error: row.get(6)?,
    })
}

//! Rows of the permission mirror: `repo_readers`, `repo_syncs`, `webhook_deliveries`.

use crate::{MirroredReaders, StoreResult};
use moat_domain::UnixTime;
use rusqlite::{Connection, OptionalExtension, params};

/// Replaces every reader of `repo` and records the sync time, in one transaction.
pub fn replace(
    conn: &mut Connection,
    repo: &str,
    host: &str,
    readers: &[(String, String)],
    synced_at: UnixTime,
) -> StoreResult<()> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM repo_readers WHERE repo = ?1", [repo])?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR REPLACE INTO repo_readers (repo, login, level) VALUES (?1, ?2, ?3)",
        )?;
        for (login, level) in readers {
            insert.execute(params![repo, login.to_lowercase(), level])?;
        }
    }
    tx.execute(
        "INSERT INTO repo_syncs (repo, host, synced_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (repo) DO UPDATE SET host = excluded.host, synced_at = excluded.synced_at",
        params![repo, host, synced_at.0],
    )?;
    tx.commit()?;
    Ok(())
}

/// Sets (or, with `None`, removes) one reader, as a webhook reports it.
pub fn set_one(conn: &Connection, repo: &str, login: &str, level: Option<&str>) -> StoreResult<()> {
    match level {
        Some(level) => conn.execute(
            "INSERT OR REPLACE INTO repo_readers (repo, login, level) VALUES (?1, ?2, ?3)",
            params![repo, login.to_lowercase(), level],
        )?,
        None => conn.execute(
            "DELETE FROM repo_readers WHERE repo = ?1 AND login = ?2",
            params![repo, login.to_lowercase()],
        )?,
    };
    Ok(())
}

pub fn all(conn: &Connection) -> StoreResult<Vec<MirroredReaders>> {
    let mut syncs =
        conn.prepare_cached("SELECT repo, host, synced_at FROM repo_syncs ORDER BY repo")?;
    let mut out: Vec<MirroredReaders> = syncs
        .query_map([], |row| {
            Ok(MirroredReaders {
                repo: row.get(0)?,
                host: row.get(1)?,
                synced_at: Some(UnixTime(row.get(2)?)),
                readers: Vec::new(),
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut readers =
        conn.prepare_cached("SELECT repo, login, level FROM repo_readers ORDER BY repo, login")?;
    let rows = readers.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
        ))
    })?;
    for row in rows {
        let (repo, login, level) = row?;
        match out.iter_mut().find(|m| m.repo == repo) {
            Some(mirror) => mirror.readers.push((login, level)),
            // Readers from webhooks before any full sync: listed, never fresh.
            None => out.push(MirroredReaders {
                repo,
                host: String::new(),
                synced_at: None,
                readers: vec![(login, level)],
            }),
        }
    }
    Ok(out)
}

/// Records a webhook delivery id; false if it was seen before (a replay).
pub fn first_delivery(conn: &Connection, id: &str, at: UnixTime) -> StoreResult<bool> {
    let seen: Option<i64> = conn
        .query_row(
            "SELECT received_at FROM webhook_deliveries WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    if seen.is_some() {
        return Ok(false);
    }
    conn.execute(
        "INSERT INTO webhook_deliveries (id, received_at) VALUES (?1, ?2)",
        params![id, at.0],
    )?;
    Ok(true)
}

pub fn access_version(conn: &Connection) -> StoreResult<u64> {
    let value: i64 = conn.query_row("SELECT value FROM access_version WHERE id = 1", [], |r| {
        r.get(0)
    })?;
    Ok(value as u64)
}

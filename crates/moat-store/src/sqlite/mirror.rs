//! Rows of the permission mirror: `repo_readers`, `repo_syncs`, `webhook_deliveries`.

use crate::{MirroredReaders, StoreResult};
use moat_domain::UnixTime;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;

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
    mark_changed(&tx, repo)?;
    tx.commit()?;
    Ok(())
}

/// Sets (or, with `None`, removes) one reader, as a webhook reports it.
pub fn set_one(
    conn: &mut Connection,
    repo: &str,
    login: &str,
    level: Option<&str>,
) -> StoreResult<()> {
    let tx = conn.transaction()?;
    let changed = match level {
        Some(level) => tx.execute(
            "INSERT OR REPLACE INTO repo_readers (repo, login, level) VALUES (?1, ?2, ?3)",
            params![repo, login.to_lowercase(), level],
        )?,
        None => tx.execute(
            "DELETE FROM repo_readers WHERE repo = ?1 AND login = ?2",
            params![repo, login.to_lowercase()],
        )?,
    };
    if changed > 0 {
        mark_changed(&tx, repo)?;
    }
    tx.commit()?;
    Ok(())
}

/// Removes one login from many repositories in one transaction.
pub fn remove_everywhere(
    conn: &mut Connection,
    login: &str,
    repos: &[String],
) -> StoreResult<Vec<String>> {
    let tx = conn.transaction()?;
    let mut removed = Vec::new();
    {
        let mut delete =
            tx.prepare_cached("DELETE FROM repo_readers WHERE repo = ?1 AND login = ?2")?;
        for repo in repos {
            if delete.execute(params![repo, login.to_lowercase()])? > 0 {
                mark_changed(&tx, repo)?;
                removed.push(repo.clone());
            }
        }
    }
    tx.commit()?;
    Ok(removed)
}

/// Records that `repo`'s mirror changed at the current access version (which the row
/// triggers have just moved).
fn mark_changed(conn: &Connection, repo: &str) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO mirror_versions (repo, version)
         SELECT ?1, value FROM access_version WHERE id = 1
         ON CONFLICT (repo) DO UPDATE SET version = excluded.version",
        [repo],
    )?;
    Ok(())
}

/// The mirror of each repository that changed after access version `version`
/// (readers, sync time), including repositories left with no readers.
pub fn changed_since(conn: &Connection, version: u64) -> StoreResult<Vec<MirroredReaders>> {
    let mut changed =
        conn.prepare_cached("SELECT repo FROM mirror_versions WHERE version > ?1 ORDER BY repo")?;
    let repos: Vec<String> = changed
        .query_map([version as i64], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let mut sync = conn.prepare_cached("SELECT host, synced_at FROM repo_syncs WHERE repo = ?1")?;
    let mut readers = conn
        .prepare_cached("SELECT login, level FROM repo_readers WHERE repo = ?1 ORDER BY login")?;
    let mut out = Vec::with_capacity(repos.len());
    for repo in repos {
        let (host, synced_at) = sync
            .query_row([&repo], |row| {
                Ok((row.get::<_, String>(0)?, Some(UnixTime(row.get(1)?))))
            })
            .optional()?
            .unwrap_or_default();
        let readers = readers
            .query_map([&repo], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        out.push(MirroredReaders {
            repo,
            host,
            synced_at,
            readers,
        });
    }
    Ok(out)
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
    // Hundreds of thousands of rows at a large organisation: find each row's repository
    // by index, not by scanning the list.
    let mut at: HashMap<String, usize> = out
        .iter()
        .enumerate()
        .map(|(i, m)| (m.repo.clone(), i))
        .collect();
    for row in rows {
        let (repo, login, level) = row?;
        match at.get(&repo) {
            Some(i) => out[*i].readers.push((login, level)),
            // Readers from webhooks before any full sync: listed, never fresh.
            None => {
                at.insert(repo.clone(), out.len());
                out.push(MirroredReaders {
                    repo,
                    host: String::new(),
                    synced_at: None,
                    readers: vec![(login, level)],
                });
            }
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

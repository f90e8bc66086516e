//! Rows of the permission mirror: `repo_readers`, `repo_syncs`, `webhook_deliveries`.
//! Every write goes through [`apply`], which checks what the caller saw and records the
//! webhook delivery in the same transaction as the change it reported.

use crate::{MirrorApplied, MirrorUpdate, MirroredReaders, StoreResult};
use moat_domain::UnixTime;
use rusqlite::{Connection, OptionalExtension, params};

/// Applies a [`MirrorUpdate`] in one transaction: the delivery is checked and
/// recorded, each change is compared with the row it expects, then written.
pub fn apply(conn: &mut Connection, update: &MirrorUpdate) -> StoreResult<MirrorApplied> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if let Some((id, at)) = &update.delivery {
        let inserted = tx.execute(
            "INSERT INTO webhook_deliveries (id, received_at) VALUES (?1, ?2)
             ON CONFLICT (id) DO NOTHING",
            params![id, at.0],
        )?;
        if inserted == 0 {
            return Ok(MirrorApplied::Duplicate);
        }
    }
    let mut changed: Vec<&str> = Vec::new();
    {
        let mut current =
            tx.prepare_cached("SELECT level FROM repo_readers WHERE repo = ?1 AND login = ?2")?;
        let mut upsert = tx.prepare_cached(
            "INSERT INTO repo_readers (repo, login, level) VALUES (?1, ?2, ?3)
             ON CONFLICT (repo, login) DO UPDATE SET level = excluded.level",
        )?;
        let mut delete =
            tx.prepare_cached("DELETE FROM repo_readers WHERE repo = ?1 AND login = ?2")?;
        for change in &update.changes {
            let login = change.login.to_lowercase();
            let now: Option<String> = current
                .query_row(params![change.repo, login], |row| row.get(0))
                .optional()?;
            if now != change.before {
                // Dropping the transaction rolls back the delivery and earlier changes.
                return Ok(MirrorApplied::Conflict {
                    repo: change.repo.clone(),
                    login,
                });
            }
            if now == change.after {
                continue;
            }
            match &change.after {
                Some(level) => upsert.execute(params![change.repo, login, level])?,
                None => delete.execute(params![change.repo, login])?,
            };
            changed.push(&change.repo);
        }
    }
    if let Some(synced) = &update.synced {
        tx.execute(
            "INSERT INTO repo_syncs (repo, host, synced_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (repo) DO UPDATE SET host = excluded.host, synced_at = excluded.synced_at",
            params![synced.repo, synced.host, synced.at.0],
        )?;
        changed.push(&synced.repo);
    }
    changed.sort_unstable();
    changed.dedup();
    for repo in changed {
        mark_changed(&tx, repo)?;
    }
    tx.commit()?;
    Ok(MirrorApplied::Applied)
}

/// One repository's readers, by login.
pub fn readers(conn: &Connection, repo: &str) -> StoreResult<Vec<(String, String)>> {
    let mut stmt = conn
        .prepare_cached("SELECT login, level FROM repo_readers WHERE repo = ?1 ORDER BY login")?;
    let rows = stmt
        .query_map([repo], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The repositories one login reads, by repository.
pub fn rows_of(conn: &Connection, login: &str) -> StoreResult<Vec<(String, String)>> {
    let mut stmt =
        conn.prepare_cached("SELECT repo, level FROM repo_readers WHERE login = ?1 ORDER BY repo")?;
    let rows = stmt
        .query_map([login.to_lowercase()], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
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
    let out: Vec<MirroredReaders> = syncs
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
    crate::rows::group_mirror(out, rows.map(|row| row.map_err(Into::into)))
}

/// Whether a webhook delivery id was recorded (with its change) before.
pub fn delivery_seen(conn: &Connection, id: &str) -> StoreResult<bool> {
    let seen: Option<i64> = conn
        .query_row(
            "SELECT received_at FROM webhook_deliveries WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(seen.is_some())
}

pub fn access_version(conn: &Connection) -> StoreResult<u64> {
    let value: i64 = conn.query_row("SELECT value FROM access_version WHERE id = 1", [], |r| {
        r.get(0)
    })?;
    Ok(value as u64)
}

//! Rows of the permission mirror: `repo_readers`, `repo_syncs`, `webhook_deliveries`.
//! Every write goes through [`apply`], under the writer lock, which checks what the
//! caller saw and records the webhook delivery in the same transaction as the change
//! it reported. It reads the rows it touches in one statement and writes them in one
//! more, whatever their number: the lock is held for a few round trips, not two per
//! reader.

use super::serial;
use crate::{MirrorApplied, MirrorUpdate, MirroredReaders, StoreResult};
use deadpool_postgres::{GenericClient, Object};
use moat_domain::UnixTime;
use std::collections::HashMap;

pub async fn apply(client: &mut Object, update: &MirrorUpdate) -> StoreResult<MirrorApplied> {
    let tx = serial(client).await?;
    if let Some((id, at)) = &update.delivery {
        let inserted = tx
            .execute(
                "INSERT INTO webhook_deliveries (id, received_at) VALUES ($1, $2)
                 ON CONFLICT (id) DO NOTHING",
                &[id, &at.0],
            )
            .await?;
        if inserted == 0 {
            return Ok(MirrorApplied::Duplicate);
        }
    }
    // The rows the changes touch, read at once (a first sync writes thousands).
    let keys: Vec<(String, String)> = update
        .changes
        .iter()
        .map(|c| (c.repo.clone(), c.login.to_lowercase()))
        .collect();
    let (repos, logins): (Vec<&str>, Vec<&str>) =
        keys.iter().map(|(r, l)| (r.as_str(), l.as_str())).unzip();
    let mut current: HashMap<(String, String), Option<String>> = HashMap::new();
    if !keys.is_empty() {
        for row in tx
            .query(
                "SELECT r.repo, r.login, r.level FROM repo_readers r
                 JOIN (SELECT DISTINCT * FROM unnest($1::text[], $2::text[])) AS c (repo, login)
                   ON r.repo = c.repo AND r.login = c.login",
                &[&repos, &logins],
            )
            .await?
        {
            current.insert((row.try_get(0)?, row.try_get(1)?), Some(row.try_get(2)?));
        }
    }
    let stored = current.clone();
    // Each change against what the caller saw, in order, as if applied one by one.
    let mut changed: Vec<&str> = Vec::new();
    for (change, key) in update.changes.iter().zip(&keys) {
        let now = current.get(key).cloned().flatten();
        if now != change.before {
            // Dropping the transaction rolls back the delivery.
            return Ok(MirrorApplied::Conflict {
                repo: change.repo.clone(),
                login: key.1.clone(),
            });
        }
        if now != change.after {
            current.insert(key.clone(), change.after.clone());
            changed.push(&change.repo);
        }
    }
    let (mut upserts, mut deletes): (Vec<_>, Vec<_>) = (Vec::new(), Vec::new());
    for (key, level) in &current {
        if stored.get(key).cloned().flatten() == *level {
            continue;
        }
        match level {
            Some(level) => upserts.push((key.0.as_str(), key.1.as_str(), level.as_str())),
            None => deletes.push((key.0.as_str(), key.1.as_str())),
        }
    }
    if !upserts.is_empty() {
        let (mut r, mut l, mut v) = (Vec::new(), Vec::new(), Vec::new());
        for (repo, login, level) in upserts {
            r.push(repo);
            l.push(login);
            v.push(level);
        }
        tx.execute(
            "INSERT INTO repo_readers (repo, login, level)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
             ON CONFLICT (repo, login) DO UPDATE SET level = excluded.level",
            &[&r, &l, &v],
        )
        .await?;
    }
    if !deletes.is_empty() {
        let (r, l): (Vec<&str>, Vec<&str>) = deletes.into_iter().unzip();
        tx.execute(
            "DELETE FROM repo_readers r USING unnest($1::text[], $2::text[]) AS d (repo, login)
             WHERE r.repo = d.repo AND r.login = d.login",
            &[&r, &l],
        )
        .await?;
    }
    if let Some(synced) = &update.synced {
        tx.execute(
            "INSERT INTO repo_syncs (repo, host, synced_at) VALUES ($1, $2, $3)
             ON CONFLICT (repo) DO UPDATE SET host = excluded.host, synced_at = excluded.synced_at",
            &[&synced.repo, &synced.host, &synced.at.0],
        )
        .await?;
        changed.push(&synced.repo);
    }
    changed.sort_unstable();
    changed.dedup();
    // Each repository that changed is stamped with the access version the row
    // triggers have just moved to.
    if !changed.is_empty() {
        tx.execute(
            "INSERT INTO mirror_versions (repo, version)
             SELECT r, (SELECT value FROM access_version WHERE id = 1) FROM unnest($1::text[]) AS r
             ON CONFLICT (repo) DO UPDATE SET version = excluded.version",
            &[&changed],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(MirrorApplied::Applied)
}

fn pairs(rows: Vec<tokio_postgres::Row>) -> StoreResult<Vec<(String, String)>> {
    rows.into_iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

pub async fn readers(c: &impl GenericClient, repo: &str) -> StoreResult<Vec<(String, String)>> {
    pairs(
        c.query(
            "SELECT login, level FROM repo_readers WHERE repo = $1 ORDER BY login",
            &[&repo],
        )
        .await?,
    )
}

pub async fn rows_of(c: &impl GenericClient, login: &str) -> StoreResult<Vec<(String, String)>> {
    pairs(
        c.query(
            "SELECT repo, level FROM repo_readers WHERE login = $1 ORDER BY repo",
            &[&login.to_lowercase()],
        )
        .await?,
    )
}

/// The mirror of each repository that changed after access version `version`,
/// including repositories left with no readers.
pub async fn changed_since(
    c: &impl GenericClient,
    version: u64,
) -> StoreResult<Vec<MirroredReaders>> {
    let version = super::to_i64(version, "access version")?;
    let rows = c
        .query(
            "SELECT v.repo, s.host, s.synced_at, r.login, r.level
             FROM mirror_versions v
             LEFT JOIN repo_syncs s ON s.repo = v.repo
             LEFT JOIN repo_readers r ON r.repo = v.repo
             WHERE v.version > $1
             ORDER BY v.repo, r.login",
            &[&version],
        )
        .await?;
    let mut out: Vec<MirroredReaders> = Vec::new();
    for row in rows {
        let repo: String = row.try_get(0)?;
        if out.last().is_none_or(|m| m.repo != repo) {
            let host: Option<String> = row.try_get(1)?;
            let synced_at: Option<i64> = row.try_get(2)?;
            out.push(MirroredReaders {
                repo,
                host: host.unwrap_or_default(),
                synced_at: synced_at.map(UnixTime),
                readers: Vec::new(),
            });
        }
        let login: Option<String> = row.try_get(3)?;
        let level: Option<String> = row.try_get(4)?;
        if let (Some(login), Some(level), Some(mirror)) = (login, level, out.last_mut()) {
            mirror.readers.push((login, level));
        }
    }
    Ok(out)
}

pub async fn all(c: &impl GenericClient) -> StoreResult<Vec<MirroredReaders>> {
    let out: Vec<MirroredReaders> = c
        .query(
            "SELECT repo, host, synced_at FROM repo_syncs ORDER BY repo",
            &[],
        )
        .await?
        .into_iter()
        .map(|row| {
            Ok(MirroredReaders {
                repo: row.try_get(0)?,
                host: row.try_get(1)?,
                synced_at: Some(UnixTime(row.try_get(2)?)),
                readers: Vec::new(),
            })
        })
        .collect::<StoreResult<_>>()?;
    let rows = c
        .query(
            "SELECT repo, login, level FROM repo_readers ORDER BY repo, login",
            &[],
        )
        .await?;
    crate::rows::group_mirror(
        out,
        rows.into_iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))),
    )
}

pub async fn delivery_seen(c: &impl GenericClient, id: &str) -> StoreResult<bool> {
    Ok(
        c.query_opt("SELECT 1 FROM webhook_deliveries WHERE id = $1", &[&id])
            .await?
            .is_some(),
    )
}

pub async fn access_version(c: &impl GenericClient) -> StoreResult<u64> {
    let statement = c
        .prepare_cached("SELECT value FROM access_version WHERE id = 1")
        .await?;
    let value: i64 = c.query_one(&statement, &[]).await?.try_get(0)?;
    Ok(value as u64)
}

//! Rows of the permission mirror: `repo_readers`, `repo_syncs`, `webhook_deliveries`.
//! Every write goes through [`apply`], under the writer lock, which checks what the
//! caller saw and records the webhook delivery in the same transaction as the change
//! it reported.

use super::serial;
use crate::{MirrorApplied, MirrorUpdate, MirroredReaders, StoreResult};
use deadpool_postgres::{GenericClient, Object};
use moat_domain::UnixTime;

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
    let mut changed: Vec<&str> = Vec::new();
    for change in &update.changes {
        let login = change.login.to_lowercase();
        let now: Option<String> = match tx
            .query_opt(
                "SELECT level FROM repo_readers WHERE repo = $1 AND login = $2",
                &[&change.repo, &login],
            )
            .await?
        {
            Some(row) => Some(row.try_get(0)?),
            None => None,
        };
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
            Some(level) => {
                tx.execute(
                    "INSERT INTO repo_readers (repo, login, level) VALUES ($1, $2, $3)
                     ON CONFLICT (repo, login) DO UPDATE SET level = excluded.level",
                    &[&change.repo, &login, level],
                )
                .await?
            }
            None => {
                tx.execute(
                    "DELETE FROM repo_readers WHERE repo = $1 AND login = $2",
                    &[&change.repo, &login],
                )
                .await?
            }
        };
        changed.push(&change.repo);
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
    for repo in changed {
        tx.execute(
            "INSERT INTO mirror_versions (repo, version)
             SELECT $1, value FROM access_version WHERE id = 1
             ON CONFLICT (repo) DO UPDATE SET version = excluded.version",
            &[&repo],
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

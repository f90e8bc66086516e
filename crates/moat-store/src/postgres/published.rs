//! Rows of `config_versions`.

use crate::{PublishedConfig, StoreResult};
use deadpool_postgres::GenericClient;
use moat_domain::UnixTime;
use tokio_postgres::Row;

const COLUMNS: &str = "version, text, policies, sha256, policy_version, published_at, published_by";

/// One statement: the row goes in only when its version is one past the newest, so of
/// two nodes publishing at once one writes and the other is told who was first (or
/// both insert the same version and the primary key refuses the second).
pub async fn publish(c: &impl GenericClient, config: &PublishedConfig) -> StoreResult<()> {
    let inserted = c
        .execute(
            &format!(
                "INSERT INTO config_versions ({COLUMNS})
                 SELECT $1, $2, $3, $4, $5, $6, $7
                 WHERE $1 = (SELECT coalesce(max(version), 0) + 1 FROM config_versions)"
            ),
            &[
                &config.version,
                &config.text,
                &config.policies,
                &config.sha256,
                &config.policy_version,
                &config.published_at.0,
                &config.published_by,
            ],
        )
        .await?;
    if inserted == 0 {
        let newest = latest_version(c).await?.unwrap_or(0);
        return Err(config.out_of_turn(newest));
    }
    Ok(())
}

pub async fn latest_version(c: &impl GenericClient) -> StoreResult<Option<i64>> {
    let row = c
        .query_one("SELECT max(version) FROM config_versions", &[])
        .await?;
    Ok(row.try_get(0)?)
}

pub async fn get(
    c: &impl GenericClient,
    version: Option<i64>,
) -> StoreResult<Option<PublishedConfig>> {
    let row = match version {
        Some(v) => {
            c.query_opt(
                &format!("SELECT {COLUMNS} FROM config_versions WHERE version = $1"),
                &[&v],
            )
            .await?
        }
        None => {
            c.query_opt(
                &format!("SELECT {COLUMNS} FROM config_versions ORDER BY version DESC LIMIT 1"),
                &[],
            )
            .await?
        }
    };
    row.as_ref().map(from_row).transpose()
}

pub async fn history(c: &impl GenericClient) -> StoreResult<Vec<PublishedConfig>> {
    let rows = c
        .query(
            &format!("SELECT {COLUMNS} FROM config_versions ORDER BY version DESC"),
            &[],
        )
        .await?;
    rows.iter().map(from_row).collect()
}

fn from_row(row: &Row) -> StoreResult<PublishedConfig> {
    Ok(PublishedConfig {
        version: row.try_get(0)?,
        text: row.try_get(1)?,
        policies: row.try_get(2)?,
        sha256: row.try_get(3)?,
        policy_version: row.try_get(4)?,
        published_at: UnixTime(row.try_get(5)?),
        published_by: row.try_get(6)?,
    })
}

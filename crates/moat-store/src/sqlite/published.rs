//! Rows of `config_versions`.

use crate::{PublishedConfig, StoreResult};
use moat_domain::UnixTime;
use rusqlite::{Connection, OptionalExtension, Row, params};

const COLUMNS: &str = "version, text, policies, sha256, policy_version, published_at, published_by";

/// Reads the newest and inserts in one immediate transaction, so another process
/// publishing at the same time waits for this one and then finds itself out of turn.
pub fn publish(conn: &mut Connection, config: &PublishedConfig) -> StoreResult<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let newest = latest_version(&tx)?.unwrap_or(0);
    if config.version != newest + 1 {
        return Err(config.out_of_turn(newest));
    }
    tx.execute(
        &format!("INSERT INTO config_versions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        params![
            config.version,
            config.text,
            config.policies,
            config.sha256,
            config.policy_version,
            config.published_at.0,
            config.published_by
        ],
    )?;
    tx.commit()?;
    Ok(())
}

pub fn latest_version(conn: &Connection) -> StoreResult<Option<i64>> {
    Ok(
        conn.query_row("SELECT max(version) FROM config_versions", [], |row| {
            row.get(0)
        })?,
    )
}

pub fn get(conn: &Connection, version: Option<i64>) -> StoreResult<Option<PublishedConfig>> {
    let sql = match version {
        Some(_) => format!("SELECT {COLUMNS} FROM config_versions WHERE version = ?1"),
        None => format!("SELECT {COLUMNS} FROM config_versions ORDER BY version DESC LIMIT 1"),
    };
    let mut statement = conn.prepare(&sql)?;
    Ok(match version {
        Some(v) => statement.query_row([v], from_row).optional()?,
        None => statement.query_row([], from_row).optional()?,
    })
}

pub fn history(conn: &Connection) -> StoreResult<Vec<PublishedConfig>> {
    let mut statement = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM config_versions ORDER BY version DESC"
    ))?;
    let rows = statement.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<PublishedConfig> {
    Ok(PublishedConfig {
        version: row.get(0)?,
        text: row.get(1)?,
        policies: row.get(2)?,
        sha256: row.get(3)?,
        policy_version: row.get(4)?,
        published_at: UnixTime(row.get(5)?),
        published_by: row.get(6)?,
    })
}

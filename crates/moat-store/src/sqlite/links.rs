//! Rows of `host_identities`: explicit links from repository-host logins to people.

use crate::{HostLink, StoreError, StoreResult};
use moat_domain::{UnixTime, UserId};
use rusqlite::{Connection, OptionalExtension, params};

pub fn all(conn: &Connection) -> StoreResult<Vec<HostLink>> {
    let mut stmt = conn.prepare_cached(
        "SELECT host, login, user_id, source, linked_at FROM host_identities ORDER BY host, login",
    )?;
    let links = stmt
        .query_map([], |row| {
            Ok(HostLink {
                host: row.get(0)?,
                login: row.get(1)?,
                user: UserId(row.get(2)?),
                source: row.get(3)?,
                linked_at: UnixTime(row.get(4)?),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(links)
}

/// `(user, source)` of the link of `host`/`login`, if any.
fn current(conn: &Connection, host: &str, login: &str) -> StoreResult<Option<(String, String)>> {
    Ok(conn
        .prepare_cached(
            "SELECT user_id, source FROM host_identities WHERE host = ?1 AND login = ?2",
        )?
        .query_row(params![host, login], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?)
}

fn upsert(conn: &Connection, link: &HostLink, login: &str) -> StoreResult<()> {
    let exists: bool = conn
        .prepare_cached("SELECT 1 FROM users WHERE id = ?1")?
        .query_row([&link.user.0], |_| Ok(()))
        .optional()?
        .is_some();
    if !exists {
        return Err(StoreError::NotFound {
            what: "user",
            id: link.user.0.clone(),
        });
    }
    conn.prepare_cached(
        "INSERT INTO host_identities (host, login, user_id, source, linked_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (host, login) DO UPDATE SET user_id = excluded.user_id,
             source = excluded.source, linked_at = excluded.linked_at",
    )?
    .execute(params![
        link.host,
        login,
        link.user.0,
        link.source,
        link.linked_at.0
    ])?;
    Ok(())
}

pub fn set(conn: &mut Connection, link: &HostLink) -> StoreResult<bool> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let login = link.login.to_lowercase();
    if current(&tx, &link.host, &login)? == Some((link.user.0.clone(), link.source.clone())) {
        return Ok(false);
    }
    upsert(&tx, link, &login)?;
    tx.commit()?;
    Ok(true)
}

/// Links of one host and source become exactly `links`; a login linked by another
/// source keeps that link (sources do not overwrite each other here).
pub fn replace(
    conn: &mut Connection,
    host: &str,
    source: &str,
    links: &[HostLink],
) -> StoreResult<usize> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let wanted: std::collections::HashMap<String, &HostLink> = links
        .iter()
        .filter(|l| l.host == host && l.source == source)
        .map(|l| (l.login.to_lowercase(), l))
        .collect();
    let mut changed = 0;
    let existing: Vec<String> = tx
        .prepare_cached("SELECT login FROM host_identities WHERE host = ?1 AND source = ?2")?
        .query_map(params![host, source], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    for login in existing {
        if !wanted.contains_key(&login) {
            changed += tx.execute(
                "DELETE FROM host_identities WHERE host = ?1 AND login = ?2",
                params![host, login],
            )?;
        }
    }
    for (login, link) in &wanted {
        match current(&tx, host, login)? {
            Some((user, from)) if from == source && user == link.user.0 => {}
            Some((_, from)) if from != source => {}
            _ => {
                upsert(&tx, link, login)?;
                changed += 1;
            }
        }
    }
    tx.commit()?;
    Ok(changed)
}

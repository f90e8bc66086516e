//! Rows of `host_identities`: explicit links from repository-host logins to people.

use super::serial;
use super::users::require_exists;
use crate::{HostLink, StoreResult};
use deadpool_postgres::{GenericClient, Object};
use moat_domain::{UnixTime, UserId};
use std::collections::HashMap;

pub async fn all(c: &impl GenericClient) -> StoreResult<Vec<HostLink>> {
    c.query(
        "SELECT host, login, user_id, source, linked_at FROM host_identities
         ORDER BY host, login",
        &[],
    )
    .await?
    .into_iter()
    .map(|row| {
        Ok(HostLink {
            host: row.try_get(0)?,
            login: row.try_get(1)?,
            user: UserId(row.try_get(2)?),
            source: row.try_get(3)?,
            linked_at: UnixTime(row.try_get(4)?),
        })
    })
    .collect()
}

/// `(user, source)` of the link of `host`/`login`, if any.
async fn current(
    c: &impl GenericClient,
    host: &str,
    login: &str,
) -> StoreResult<Option<(String, String)>> {
    match c
        .query_opt(
            "SELECT user_id, source FROM host_identities WHERE host = $1 AND login = $2",
            &[&host, &login],
        )
        .await?
    {
        Some(row) => Ok(Some((row.try_get(0)?, row.try_get(1)?))),
        None => Ok(None),
    }
}

async fn upsert(c: &impl GenericClient, link: &HostLink, login: &str) -> StoreResult<()> {
    require_exists(c, &link.user).await?;
    c.execute(
        "INSERT INTO host_identities (host, login, user_id, source, linked_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (host, login) DO UPDATE SET user_id = excluded.user_id,
             source = excluded.source, linked_at = excluded.linked_at",
        &[
            &link.host,
            &login,
            &link.user.0,
            &link.source,
            &link.linked_at.0,
        ],
    )
    .await?;
    Ok(())
}

pub async fn set(client: &mut Object, link: &HostLink) -> StoreResult<bool> {
    let tx = serial(client).await?;
    let login = link.login.to_lowercase();
    if current(&tx, &link.host, &login).await? == Some((link.user.0.clone(), link.source.clone())) {
        return Ok(false);
    }
    upsert(&tx, link, &login).await?;
    tx.commit().await?;
    Ok(true)
}

/// Links of one host and source become exactly `links`; a login linked by another
/// source keeps that link (sources do not overwrite each other here).
pub async fn replace(
    client: &mut Object,
    host: &str,
    source: &str,
    links: &[HostLink],
) -> StoreResult<usize> {
    let tx = serial(client).await?;
    let wanted: HashMap<String, &HostLink> = links
        .iter()
        .filter(|l| l.host == host && l.source == source)
        .map(|l| (l.login.to_lowercase(), l))
        .collect();
    let mut changed = 0;
    let existing: Vec<String> = tx
        .query(
            "SELECT login FROM host_identities WHERE host = $1 AND source = $2",
            &[&host, &source],
        )
        .await?
        .into_iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    for login in existing {
        if !wanted.contains_key(&login) {
            changed += tx
                .execute(
                    "DELETE FROM host_identities WHERE host = $1 AND login = $2",
                    &[&host, &login],
                )
                .await? as usize;
        }
    }
    for (login, link) in &wanted {
        match current(&tx, host, login).await? {
            Some((user, from)) if from == source && user == link.user.0 => {}
            Some((_, from)) if from != source => {}
            _ => {
                upsert(&tx, link, login).await?;
                changed += 1;
            }
        }
    }
    tx.commit().await?;
    Ok(changed)
}

//! SCIM rows: people's SCIM view and teams with their members. A team's name is kept
//! in each member's `users.teams` in the same transaction that changes the team.
//! Every writer here runs under the writer lock (see `serial`).

use super::users::{self, USER_COLUMNS, raw_user_at};
use crate::rows::{RawScimUser, edit_team_names};
use crate::{ScimUser, StoreError, StoreResult, Team};
use deadpool_postgres::GenericClient;
use moat_domain::{UnixTime, UserId, UserStatus};
use std::collections::BTreeSet;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

const SCIM_COLUMNS: &str = "u.scim_user_name, u.scim_attributes, u.version, u.updated_at";

fn raw_scim_user(row: &Row) -> StoreResult<RawScimUser> {
    Ok(RawScimUser {
        user: raw_user_at(row, 0)?,
        user_name: row.try_get(11)?,
        attributes: row.try_get(12)?,
        version: row.try_get(13)?,
        updated_at: row.try_get(14)?,
    })
}

async fn select_users(
    c: &impl GenericClient,
    filter: &str,
    args: &[&(dyn ToSql + Sync)],
) -> StoreResult<Vec<ScimUser>> {
    let sql = format!("SELECT {USER_COLUMNS}, {SCIM_COLUMNS} FROM users u {filter}");
    c.query(&sql, args)
        .await?
        .iter()
        .map(|row| raw_scim_user(row)?.into_scim_user())
        .collect()
}

pub async fn users_all(c: &impl GenericClient) -> StoreResult<Vec<ScimUser>> {
    select_users(c, "ORDER BY u.created_at, u.id", &[]).await
}

pub async fn user_by_id(c: &impl GenericClient, id: &UserId) -> StoreResult<Option<ScimUser>> {
    Ok(select_users(c, "WHERE u.id = $1", &[&id.0]).await?.pop())
}

/// Case-insensitively, as SQLite's `COLLATE NOCASE` compares (ASCII only).
pub async fn user_by_name(
    c: &impl GenericClient,
    user_name: &str,
) -> StoreResult<Option<ScimUser>> {
    Ok(select_users(
        c,
        "WHERE lower(u.scim_user_name) = lower($1::text COLLATE \"C\")",
        &[&user_name],
    )
    .await?
    .pop())
}

pub async fn user_insert(c: &impl GenericClient, scim: &ScimUser) -> StoreResult<()> {
    users::insert(c, &scim.user).await?;
    c.execute(
        "UPDATE users SET scim_user_name = $2, scim_attributes = $3 WHERE id = $1",
        &[
            &scim.user.id.0,
            &scim.user_name,
            &scim.attributes.to_string(),
        ],
    )
    .await?;
    Ok(())
}

/// Writes what SCIM may change of a person, if their version is still `expect`.
pub async fn user_update(
    c: &impl GenericClient,
    scim: &ScimUser,
    expect: Option<u64>,
    at: UnixTime,
) -> StoreResult<()> {
    let current = user_by_id(c, &scim.user.id)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "user",
            id: scim.user.id.0.clone(),
        })?;
    if expect.is_some_and(|v| v != current.version) {
        return Err(StoreError::Stale {
            what: "user",
            id: scim.user.id.0.clone(),
        });
    }
    let user = &scim.user;
    c.execute(
        "UPDATE users SET email = $2, name = $3, scim_id = $4, scim_user_name = $5,
                          scim_attributes = $6, updated_at = $7, version = version + 1
         WHERE id = $1",
        &[
            &user.id.0,
            &user.email,
            &user.name,
            &user.external.scim_id,
            &scim.user_name,
            &scim.attributes.to_string(),
            &at.0,
        ],
    )
    .await?;
    if user.status != current.user.status {
        users::set_status(c, &user.id, user.status, at).await?;
        status_consequences(c, &user.id, user.status, at).await?;
    }
    Ok(())
}

/// What a status change takes with it: any status but active revokes the person's
/// OAuth grants; deprovisioning also revokes every token and leaves every team.
pub async fn status_consequences(
    c: &impl GenericClient,
    id: &UserId,
    status: UserStatus,
    at: UnixTime,
) -> StoreResult<()> {
    if status != UserStatus::Active {
        super::oauth::revoke(c, crate::GrantsOf::User(id), at, &format!("user {status}")).await?;
    }
    if status == UserStatus::Deprovisioned {
        super::tokens::revoke_all_of_user(c, id, at).await?;
        leave_all_teams(c, id, at).await?;
    }
    Ok(())
}

pub async fn leave_all_teams(c: &impl GenericClient, id: &UserId, at: UnixTime) -> StoreResult<()> {
    for (team, name) in teams_of(c, id).await? {
        c.execute(
            "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2",
            &[&team, &id.0],
        )
        .await?;
        bump_team(c, &team, at).await?;
        edit_user_teams(c, id, Some(&name), None).await?;
    }
    Ok(())
}

async fn bump_team(c: &impl GenericClient, id: &str, at: UnixTime) -> StoreResult<()> {
    c.execute(
        "UPDATE teams SET version = version + 1, updated_at = $2 WHERE id = $1",
        &[&id, &at.0],
    )
    .await?;
    Ok(())
}

/// Takes `remove` out of a person's team names and puts `add` in, moving their version.
async fn edit_user_teams(
    c: &impl GenericClient,
    user: &UserId,
    remove: Option<&str>,
    add: Option<&str>,
) -> StoreResult<()> {
    let json: String = c
        .query_opt("SELECT teams FROM users WHERE id = $1", &[&user.0])
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "user",
            id: user.0.clone(),
        })?
        .try_get(0)?;
    let names = edit_team_names(&json, remove, add)?;
    c.execute(
        "UPDATE users SET teams = $2, version = version + 1 WHERE id = $1",
        &[&user.0, &names],
    )
    .await?;
    Ok(())
}

const TEAM_COLUMNS: &str = "id, name, external_id, created_at, updated_at, version";

fn team_from_row(row: &Row) -> StoreResult<Team> {
    Ok(Team {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        external_id: row.try_get(2)?,
        members: Vec::new(),
        created_at: UnixTime(row.try_get(3)?),
        updated_at: UnixTime(row.try_get(4)?),
        version: row.try_get::<_, i64>(5)? as u64,
    })
}

async fn members_of(c: &impl GenericClient, team: &str) -> StoreResult<Vec<UserId>> {
    c.query(
        "SELECT user_id FROM team_members WHERE team_id = $1 ORDER BY user_id",
        &[&team],
    )
    .await?
    .iter()
    .map(|row| Ok(UserId(row.try_get(0)?)))
    .collect()
}

pub async fn teams_all(c: &impl GenericClient) -> StoreResult<Vec<Team>> {
    let sql = format!("SELECT {TEAM_COLUMNS} FROM teams ORDER BY created_at, id");
    let mut teams: Vec<Team> = c
        .query(&sql, &[])
        .await?
        .iter()
        .map(team_from_row)
        .collect::<StoreResult<_>>()?;
    for team in &mut teams {
        team.members = members_of(c, &team.id).await?;
    }
    Ok(teams)
}

pub async fn teams_of(c: &impl GenericClient, user: &UserId) -> StoreResult<Vec<(String, String)>> {
    c.query(
        "SELECT t.id, t.name FROM team_members m JOIN teams t ON t.id = m.team_id
         WHERE m.user_id = $1 ORDER BY t.id",
        &[&user.0],
    )
    .await?
    .iter()
    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
    .collect()
}

pub async fn team_by_id(c: &impl GenericClient, id: &str) -> StoreResult<Option<Team>> {
    let sql = format!("SELECT {TEAM_COLUMNS} FROM teams WHERE id = $1");
    match c.query_opt(&sql, &[&id]).await? {
        Some(row) => {
            let mut team = team_from_row(&row)?;
            team.members = members_of(c, &team.id).await?;
            Ok(Some(team))
        }
        None => Ok(None),
    }
}

/// A member must exist and not be offboarded.
async fn check_member(c: &impl GenericClient, user: &UserId) -> StoreResult<()> {
    let status: Option<String> = match c
        .query_opt("SELECT status FROM users WHERE id = $1", &[&user.0])
        .await?
    {
        Some(row) => Some(row.try_get(0)?),
        None => None,
    };
    match status.as_deref() {
        Some("deprovisioned") | None => Err(StoreError::NotFound {
            what: "user",
            id: user.0.clone(),
        }),
        Some(_) => Ok(()),
    }
}

async fn add_member(c: &impl GenericClient, team: &Team, user: &UserId) -> StoreResult<()> {
    check_member(c, user).await?;
    c.execute(
        "INSERT INTO team_members (team_id, user_id) VALUES ($1, $2)",
        &[&team.id, &user.0],
    )
    .await?;
    edit_user_teams(c, user, None, Some(&team.name)).await
}

pub async fn team_insert(c: &impl GenericClient, team: &Team) -> StoreResult<()> {
    c.execute(
        "INSERT INTO teams (id, name, external_id, created_at, updated_at, version)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &team.id,
            &team.name,
            &team.external_id,
            &team.created_at.0,
            &team.updated_at.0,
            &(team.version as i64),
        ],
    )
    .await?;
    let members: BTreeSet<&UserId> = team.members.iter().collect();
    for user in members {
        add_member(c, team, user).await?;
    }
    Ok(())
}

async fn require_team(c: &impl GenericClient, id: &str, expect: Option<u64>) -> StoreResult<Team> {
    let current = team_by_id(c, id)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "team",
            id: id.to_string(),
        })?;
    if expect.is_some_and(|v| v != current.version) {
        return Err(StoreError::Stale {
            what: "team",
            id: id.to_string(),
        });
    }
    Ok(current)
}

/// Writes a team's name, external id and members, if its version is still `expect`;
/// members who left lose its name, members who joined gain it, and a new name
/// replaces the old one for those who stay.
pub async fn team_update(
    c: &impl GenericClient,
    team: &Team,
    expect: Option<u64>,
    at: UnixTime,
) -> StoreResult<()> {
    let current = require_team(c, &team.id, expect).await?;
    c.execute(
        "UPDATE teams SET name = $2, external_id = $3, updated_at = $4, version = version + 1
         WHERE id = $1",
        &[&team.id, &team.name, &team.external_id, &at.0],
    )
    .await?;
    let before: BTreeSet<&UserId> = current.members.iter().collect();
    let after: BTreeSet<&UserId> = team.members.iter().collect();
    for gone in before.difference(&after) {
        c.execute(
            "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2",
            &[&team.id, &gone.0],
        )
        .await?;
        edit_user_teams(c, gone, Some(&current.name), None).await?;
    }
    if current.name != team.name {
        for stays in before.intersection(&after) {
            edit_user_teams(c, stays, Some(&current.name), Some(&team.name)).await?;
        }
    }
    for joined in after.difference(&before) {
        add_member(c, team, joined).await?;
    }
    Ok(())
}

pub async fn team_delete(c: &impl GenericClient, id: &str, expect: Option<u64>) -> StoreResult<()> {
    let current = require_team(c, id, expect).await?;
    for member in &current.members {
        edit_user_teams(c, member, Some(&current.name), None).await?;
    }
    c.execute("DELETE FROM team_members WHERE team_id = $1", &[&id])
        .await?;
    c.execute("DELETE FROM teams WHERE id = $1", &[&id]).await?;
    Ok(())
}

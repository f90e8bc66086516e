//! SCIM rows: people's SCIM view and teams with their members. A team's name is kept
//! in each member's `users.teams` in the same transaction that changes the team.

use super::users::{self, USER_COLUMNS};
use crate::rows::{RawScimUser, edit_team_names};
use crate::{ScimUser, StoreError, StoreResult, Team};
use moat_domain::{UnixTime, UserId, UserStatus};
use rusqlite::{Connection, OptionalExtension, Row, params};

const SCIM_COLUMNS: &str = "u.scim_user_name, u.scim_attributes, u.version, u.updated_at";

fn raw_scim_user(row: &Row<'_>) -> rusqlite::Result<RawScimUser> {
    Ok(RawScimUser {
        user: users::raw_user_at(row, 0)?,
        user_name: row.get(11)?,
        attributes: row.get(12)?,
        version: row.get(13)?,
        updated_at: row.get(14)?,
    })
}

fn select_users(conn: &Connection, filter: &str, arg: Option<&str>) -> StoreResult<Vec<ScimUser>> {
    let sql = format!("SELECT {USER_COLUMNS}, {SCIM_COLUMNS} FROM users u {filter}");
    let mut stmt = conn.prepare_cached(&sql)?;
    let raws = match arg {
        Some(arg) => stmt.query_map([arg], raw_scim_user)?,
        None => stmt.query_map([], raw_scim_user)?,
    }
    .collect::<Result<Vec<_>, _>>()?;
    raws.into_iter().map(RawScimUser::into_scim_user).collect()
}

pub fn users_all(conn: &Connection) -> StoreResult<Vec<ScimUser>> {
    select_users(conn, "ORDER BY u.created_at, u.id", None)
}

pub fn user_by_id(conn: &Connection, id: &UserId) -> StoreResult<Option<ScimUser>> {
    Ok(select_users(conn, "WHERE u.id = ?1", Some(&id.0))?.pop())
}

pub fn user_by_name(conn: &Connection, user_name: &str) -> StoreResult<Option<ScimUser>> {
    Ok(select_users(conn, "WHERE u.scim_user_name = ?1", Some(user_name))?.pop())
}

pub fn user_insert(conn: &Connection, scim: &ScimUser) -> StoreResult<()> {
    users::insert(conn, &scim.user)?;
    conn.execute(
        "UPDATE users SET scim_user_name = ?2, scim_attributes = ?3 WHERE id = ?1",
        params![scim.user.id.0, scim.user_name, scim.attributes.to_string()],
    )?;
    Ok(())
}

/// Writes what SCIM may change of a person, if their version is still `expect`.
pub fn user_update(
    conn: &Connection,
    scim: &ScimUser,
    expect: Option<u64>,
    at: UnixTime,
) -> StoreResult<()> {
    let current = user_by_id(conn, &scim.user.id)?.ok_or_else(|| StoreError::NotFound {
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
    conn.execute(
        "UPDATE users SET email = ?2, name = ?3, scim_id = ?4, scim_user_name = ?5,
                          scim_attributes = ?6, updated_at = ?7, version = version + 1
         WHERE id = ?1",
        params![
            user.id.0,
            user.email,
            user.name,
            user.external.scim_id,
            scim.user_name,
            scim.attributes.to_string(),
            at.0
        ],
    )?;
    if user.status != current.user.status {
        users::set_status(conn, &user.id, user.status, at)?;
        status_consequences(conn, &user.id, user.status, at)?;
    }
    Ok(())
}

/// What a status change takes with it: any status but active revokes the person's
/// OAuth grants; deprovisioning also revokes every token and leaves every team.
pub fn status_consequences(
    conn: &Connection,
    id: &UserId,
    status: UserStatus,
    at: UnixTime,
) -> StoreResult<()> {
    if status != UserStatus::Active {
        super::oauth::revoke(
            conn,
            crate::GrantsOf::User(id),
            at,
            &format!("user {status}"),
        )?;
    }
    if status == UserStatus::Deprovisioned {
        super::tokens::revoke_all_of_user(conn, id, at)?;
        leave_all_teams(conn, id, at)?;
    }
    Ok(())
}

pub fn leave_all_teams(conn: &Connection, id: &UserId, at: UnixTime) -> StoreResult<()> {
    let teams: Vec<(String, String)> = conn
        .prepare_cached(
            "SELECT t.id, t.name FROM team_members m JOIN teams t ON t.id = m.team_id
             WHERE m.user_id = ?1",
        )?
        .query_map([&id.0], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (team, name) in teams {
        conn.execute(
            "DELETE FROM team_members WHERE team_id = ?1 AND user_id = ?2",
            params![team, id.0],
        )?;
        bump_team(conn, &team, at)?;
        edit_user_teams(conn, id, Some(&name), None)?;
    }
    Ok(())
}

fn bump_team(conn: &Connection, id: &str, at: UnixTime) -> StoreResult<()> {
    conn.prepare_cached("UPDATE teams SET version = version + 1, updated_at = ?2 WHERE id = ?1")?
        .execute(params![id, at.0])?;
    Ok(())
}

/// Takes `remove` out of a person's team names and puts `add` in (names compare
/// case-insensitively), moving their version.
fn edit_user_teams(
    conn: &Connection,
    user: &UserId,
    remove: Option<&str>,
    add: Option<&str>,
) -> StoreResult<()> {
    let json: String = conn
        .prepare_cached("SELECT teams FROM users WHERE id = ?1")?
        .query_row([&user.0], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound {
            what: "user",
            id: user.0.clone(),
        })?;
    let names = edit_team_names(&json, remove, add)?;
    conn.prepare_cached("UPDATE users SET teams = ?2, version = version + 1 WHERE id = ?1")?
        .execute(params![user.0, names])?;
    Ok(())
}

fn team_from_row(row: &Row<'_>) -> rusqlite::Result<Team> {
    Ok(Team {
        id: row.get(0)?,
        name: row.get(1)?,
        external_id: row.get(2)?,
        members: Vec::new(),
        created_at: UnixTime(row.get(3)?),
        updated_at: UnixTime(row.get(4)?),
        version: row.get::<_, i64>(5)? as u64,
    })
}

const TEAM_COLUMNS: &str = "id, name, external_id, created_at, updated_at, version";

fn members_of(conn: &Connection, team: &str) -> StoreResult<Vec<UserId>> {
    Ok(conn
        .prepare_cached("SELECT user_id FROM team_members WHERE team_id = ?1 ORDER BY user_id")?
        .query_map([team], |r| Ok(UserId(r.get(0)?)))?
        .collect::<Result<_, _>>()?)
}

pub fn teams_all(conn: &Connection) -> StoreResult<Vec<Team>> {
    let sql = format!("SELECT {TEAM_COLUMNS} FROM teams ORDER BY created_at, id");
    let mut teams: Vec<Team> = conn
        .prepare_cached(&sql)?
        .query_map([], team_from_row)?
        .collect::<Result<_, _>>()?;
    for team in &mut teams {
        team.members = members_of(conn, &team.id)?;
    }
    Ok(teams)
}

pub fn teams_of(conn: &Connection, user: &UserId) -> StoreResult<Vec<(String, String)>> {
    Ok(conn
        .prepare_cached(
            "SELECT t.id, t.name FROM team_members m JOIN teams t ON t.id = m.team_id
             WHERE m.user_id = ?1 ORDER BY t.id",
        )?
        .query_map([&user.0], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?)
}

pub fn team_by_id(conn: &Connection, id: &str) -> StoreResult<Option<Team>> {
    let sql = format!("SELECT {TEAM_COLUMNS} FROM teams WHERE id = ?1");
    let team = conn
        .prepare_cached(&sql)?
        .query_row([id], team_from_row)
        .optional()?;
    match team {
        Some(mut team) => {
            team.members = members_of(conn, &team.id)?;
            Ok(Some(team))
        }
        None => Ok(None),
    }
}

/// A member must exist and not be offboarded.
fn check_member(conn: &Connection, user: &UserId) -> StoreResult<()> {
    let status: Option<String> = conn
        .prepare_cached("SELECT status FROM users WHERE id = ?1")?
        .query_row([&user.0], |r| r.get(0))
        .optional()?;
    match status.as_deref() {
        Some("deprovisioned") | None => Err(StoreError::NotFound {
            what: "user",
            id: user.0.clone(),
        }),
        Some(_) => Ok(()),
    }
}

fn add_member(conn: &Connection, team: &Team, user: &UserId) -> StoreResult<()> {
    check_member(conn, user)?;
    conn.prepare_cached("INSERT INTO team_members (team_id, user_id) VALUES (?1, ?2)")?
        .execute(params![team.id, user.0])?;
    edit_user_teams(conn, user, None, Some(&team.name))
}

pub fn team_insert(conn: &Connection, team: &Team) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO teams (id, name, external_id, created_at, updated_at, version)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            team.id,
            team.name,
            team.external_id,
            team.created_at.0,
            team.updated_at.0,
            team.version as i64
        ],
    )?;
    let mut members = team.members.clone();
    members.sort();
    members.dedup();
    for user in &members {
        add_member(conn, team, user)?;
    }
    Ok(())
}

fn require_team(conn: &Connection, id: &str, expect: Option<u64>) -> StoreResult<Team> {
    let current = team_by_id(conn, id)?.ok_or_else(|| StoreError::NotFound {
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
pub fn team_update(
    conn: &Connection,
    team: &Team,
    expect: Option<u64>,
    at: UnixTime,
) -> StoreResult<()> {
    let current = require_team(conn, &team.id, expect)?;
    conn.execute(
        "UPDATE teams SET name = ?2, external_id = ?3, updated_at = ?4, version = version + 1
         WHERE id = ?1",
        params![team.id, team.name, team.external_id, at.0],
    )?;
    let before: std::collections::BTreeSet<&UserId> = current.members.iter().collect();
    let after: std::collections::BTreeSet<&UserId> = team.members.iter().collect();
    for gone in before.difference(&after) {
        conn.prepare_cached("DELETE FROM team_members WHERE team_id = ?1 AND user_id = ?2")?
            .execute(params![team.id, gone.0])?;
        edit_user_teams(conn, gone, Some(&current.name), None)?;
    }
    if current.name != team.name {
        for stays in before.intersection(&after) {
            edit_user_teams(conn, stays, Some(&current.name), Some(&team.name))?;
        }
    }
    for joined in after.difference(&before) {
        add_member(conn, team, joined)?;
    }
    Ok(())
}

pub fn team_delete(conn: &Connection, id: &str, expect: Option<u64>) -> StoreResult<()> {
    let current = require_team(conn, id, expect)?;
    for member in &current.members {
        edit_user_teams(conn, member, Some(&current.name), None)?;
    }
    conn.execute("DELETE FROM team_members WHERE team_id = ?1", [id])?;
    conn.execute("DELETE FROM teams WHERE id = ?1", [id])?;
    Ok(())
}

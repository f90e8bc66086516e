//! Rows of `mcp_sessions`.

use crate::{McpSession, StoreError, StoreResult};
use moat_domain::UnixTime;
use rusqlite::{Connection, OptionalExtension, params};

pub fn bind(conn: &Connection, id: &str, user: &str, token: &str, at: UnixTime) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO mcp_sessions (id, user_id, token_id, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, token_id = excluded.token_id
         WHERE mcp_sessions.user_id IS NULL",
        params![id, user, token, at.0],
    )?;
    match get(conn, id)?.and_then(|s| s.owner) {
        Some((u, t)) if u == user && t == token => Ok(()),
        _ => Err(StoreError::Conflict(format!(
            "MCP session {id} belongs to someone else"
        ))),
    }
}

pub fn keep(conn: &Connection, id: &str, state: &str, at: UnixTime) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO mcp_sessions (id, state, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET state = excluded.state",
        params![id, state, at.0],
    )?;
    Ok(())
}

pub fn get(conn: &Connection, id: &str) -> StoreResult<Option<McpSession>> {
    Ok(conn
        .prepare_cached(
            "SELECT user_id, token_id, state, created_at FROM mcp_sessions WHERE id = ?1",
        )?
        .query_row([id], |row| {
            let user: Option<String> = row.get(0)?;
            let token: Option<String> = row.get(1)?;
            Ok(McpSession {
                id: id.to_string(),
                owner: user.zip(token),
                state: row.get(2)?,
                created_at: UnixTime(row.get(3)?),
            })
        })
        .optional()?)
}

pub fn delete(conn: &Connection, id: &str) -> StoreResult<()> {
    conn.execute("DELETE FROM mcp_sessions WHERE id = ?1", [id])?;
    Ok(())
}

pub fn expire(conn: &Connection, before: UnixTime) -> StoreResult<u64> {
    Ok(conn.execute("DELETE FROM mcp_sessions WHERE created_at < ?1", [before.0])? as u64)
}

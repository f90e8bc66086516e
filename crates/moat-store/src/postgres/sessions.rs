//! Rows of `mcp_sessions`.

use crate::{McpSession, StoreError, StoreResult};
use deadpool_postgres::GenericClient;
use moat_domain::UnixTime;

pub async fn bind(
    c: &impl GenericClient,
    id: &str,
    user: &str,
    token: &str,
    at: UnixTime,
) -> StoreResult<()> {
    // One statement: of two nodes binding the same id at once, the second finds the
    // first's owner and, if it is not its own, gets a conflict.
    c.execute(
        "INSERT INTO mcp_sessions (id, user_id, token_id, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, token_id = excluded.token_id
         WHERE mcp_sessions.user_id IS NULL",
        &[&id, &user, &token, &at.0],
    )
    .await?;
    match get(c, id).await?.and_then(|s| s.owner) {
        Some((u, t)) if u == user && t == token => Ok(()),
        _ => Err(StoreError::Conflict(format!(
            "MCP session {id} belongs to someone else"
        ))),
    }
}

pub async fn keep(c: &impl GenericClient, id: &str, state: &str, at: UnixTime) -> StoreResult<()> {
    c.execute(
        "INSERT INTO mcp_sessions (id, state, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET state = excluded.state",
        &[&id, &state, &at.0],
    )
    .await?;
    Ok(())
}

pub async fn get(c: &impl GenericClient, id: &str) -> StoreResult<Option<McpSession>> {
    let statement = c
        .prepare_cached(
            "SELECT user_id, token_id, state, created_at FROM mcp_sessions WHERE id = $1",
        )
        .await?;
    match c.query_opt(&statement, &[&id]).await? {
        Some(row) => {
            let user: Option<String> = row.try_get(0)?;
            let token: Option<String> = row.try_get(1)?;
            Ok(Some(McpSession {
                id: id.to_string(),
                owner: user.zip(token),
                state: row.try_get(2)?,
                created_at: UnixTime(row.try_get(3)?),
            }))
        }
        None => Ok(None),
    }
}

pub async fn delete(c: &impl GenericClient, id: &str) -> StoreResult<()> {
    c.execute("DELETE FROM mcp_sessions WHERE id = $1", &[&id])
        .await?;
    Ok(())
}

pub async fn expire(c: &impl GenericClient, before: UnixTime) -> StoreResult<u64> {
    Ok(c.execute(
        "DELETE FROM mcp_sessions WHERE created_at < $1",
        &[&before.0],
    )
    .await?)
}

//! Rows of `gateway_kept`: responses a vendor keeps, and whom for.

use crate::StoreResult;
use deadpool_postgres::GenericClient;
use moat_domain::UnixTime;

pub async fn put(
    c: &impl GenericClient,
    ids: &[String],
    user: &str,
    at: UnixTime,
) -> StoreResult<()> {
    c.execute(
        "INSERT INTO gateway_kept (id, user_id, kept_at) SELECT unnest($1::text[]), $2, $3
         ON CONFLICT (id) DO NOTHING",
        &[&ids, &user, &at.0],
    )
    .await?;
    Ok(())
}

pub async fn owner(c: &impl GenericClient, id: &str) -> StoreResult<Option<String>> {
    let statement = c
        .prepare_cached("SELECT user_id FROM gateway_kept WHERE id = $1")
        .await?;
    Ok(match c.query_opt(&statement, &[&id]).await? {
        Some(row) => Some(row.try_get(0)?),
        None => None,
    })
}

pub async fn expire(c: &impl GenericClient, before: UnixTime) -> StoreResult<u64> {
    Ok(
        c.execute("DELETE FROM gateway_kept WHERE kept_at < $1", &[&before.0])
            .await?,
    )
}

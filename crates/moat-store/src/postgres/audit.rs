//! Rows of the `audit_*` and `provenance_*` tables. A batch goes in with one
//! statement per table (arrays unnested server-side), so an append costs a handful of
//! round trips and one commit whatever its size.

use super::to_i64;
use crate::{AuditCheckpoint, AuditLeaf, AuditRow, ProvenanceAnswer, StoreError, StoreResult};
use deadpool_postgres::{GenericClient, Object};
use moat_domain::UnixTime;

fn hash32(bytes: Vec<u8>, what: &str) -> StoreResult<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what} is not 32 bytes")))
}

pub async fn append(
    client: &mut Object,
    events: &[AuditRow],
    nodes: &[(u64, [u8; 32])],
    checkpoint: Option<&AuditCheckpoint>,
) -> StoreResult<()> {
    let tx = client.transaction().await?;
    // After the sequencer's turn, never interleaved with it.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])
        .await?;
    append_in(&tx, events, nodes, checkpoint).await?;
    tx.commit().await?;
    Ok(())
}

/// The statements of [`append`], in a transaction the caller opened.
pub(super) async fn append_in(
    tx: &impl GenericClient,
    events: &[AuditRow],
    nodes: &[(u64, [u8; 32])],
    checkpoint: Option<&AuditCheckpoint>,
) -> StoreResult<()> {
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| to_i64(e.seq, "seq"))
        .collect::<StoreResult<_>>()?;
    let canonical: Vec<&[u8]> = events.iter().map(|e| e.canonical.as_slice()).collect();
    let statement = tx
        .prepare_cached(
            "INSERT INTO audit_events (seq, canonical)
             SELECT * FROM unnest($1::bigint[], $2::bytea[])",
        )
        .await?;
    tx.execute(&statement, &[&seqs, &canonical]).await?;

    let now = UnixTime::now().0;
    let mut bodies: Vec<(&str, &[u8])> = events
        .iter()
        .filter_map(|e| e.body.as_ref())
        .map(|(sha256, body)| (sha256.as_str(), body.as_slice()))
        .collect();
    if !bodies.is_empty() {
        bodies.sort_unstable_by_key(|(sha256, _)| *sha256);
        bodies.dedup_by_key(|(sha256, _)| *sha256);
        let (keys, blobs): (Vec<&str>, Vec<&[u8]>) = bodies.into_iter().unzip();
        let statement = tx
            .prepare_cached(
                "INSERT INTO audit_bodies (sha256, body, created_at)
                 SELECT key, body, $3::bigint FROM unnest($1::text[], $2::bytea[]) AS b (key, body)
                 ON CONFLICT (sha256) DO NOTHING",
            )
            .await?;
        tx.execute(&statement, &[&keys, &blobs, &now]).await?;
    }

    if !nodes.is_empty() {
        let ids: Vec<i64> = nodes
            .iter()
            .map(|(key, _)| to_i64(*key, "node"))
            .collect::<StoreResult<_>>()?;
        let hashes: Vec<&[u8]> = nodes.iter().map(|(_, hash)| &hash[..]).collect();
        let statement = tx
            .prepare_cached(
                "INSERT INTO audit_nodes (id, hash) SELECT * FROM unnest($1::bigint[], $2::bytea[])",
            )
            .await?;
        tx.execute(&statement, &[&ids, &hashes]).await?;
    }

    for event in events {
        if let Some(provenance) = &event.provenance {
            let answer = ProvenanceAnswer {
                seq: event.seq,
                at: UnixTime(now),
                user: provenance.user.clone(),
                model: provenance.model.clone(),
            };
            insert_provenance(tx, &answer, &provenance.fingerprints).await?;
        }
    }
    if let Some(checkpoint) = checkpoint {
        // A plain INSERT: a size already signed means another writer got there first.
        let statement = tx
            .prepare_cached(
                "INSERT INTO audit_checkpoints (size, note, created_at) VALUES ($1, $2, $3)",
            )
            .await?;
        tx.execute(
            &statement,
            &[
                &to_i64(checkpoint.size, "size")?,
                &checkpoint.note,
                &checkpoint.at.0,
            ],
        )
        .await?;
    }
    Ok(())
}

/// The advisory lock of the audit log's appends, taken in every appending transaction.
pub(super) const AUDIT_LOCK: i64 = 0x6d6f_6174_0002;

pub async fn size(c: &impl GenericClient) -> StoreResult<u64> {
    let max: Option<i64> = c
        .query_one("SELECT max(seq) FROM audit_events", &[])
        .await?
        .try_get(0)?;
    Ok(max.map_or(0, |m| m as u64 + 1))
}

pub async fn leaves(
    c: &impl GenericClient,
    from: u64,
    limit: usize,
) -> StoreResult<Vec<AuditLeaf>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // Two range scans (events, then the level-0 nodes between the first and last
    // sequence number read, whose keys are the sequence numbers), as on SQLite: a join
    // would let the planner hash the whole node table for every page.
    let events = c
        .prepare_cached(
            "SELECT seq, canonical FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2",
        )
        .await?;
    let mut out = c
        .query(&events, &[&to_i64(from, "seq")?, &limit])
        .await?
        .into_iter()
        .map(|row| {
            Ok(AuditLeaf {
                seq: row.try_get::<_, i64>(0)? as u64,
                canonical: row.try_get(1)?,
                leaf_hash: None,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let (Some(first), Some(last)) = (out.first().map(|l| l.seq), out.last().map(|l| l.seq)) else {
        return Ok(out);
    };
    let nodes = c
        .prepare_cached("SELECT id, hash FROM audit_nodes WHERE id >= $1 AND id <= $2 ORDER BY id")
        .await?;
    let mut at = 0;
    for row in c
        .query(&nodes, &[&to_i64(first, "seq")?, &to_i64(last, "seq")?])
        .await?
    {
        let id = row.try_get::<_, i64>(0)? as u64;
        while at < out.len() && out[at].seq < id {
            at += 1;
        }
        if at < out.len() && out[at].seq == id {
            out[at].leaf_hash = row.try_get::<_, Vec<u8>>(1)?.try_into().ok();
        }
    }
    Ok(out)
}

pub async fn nodes(c: &impl GenericClient, keys: &[u64]) -> StoreResult<Vec<(u64, [u8; 32])>> {
    let ids: Vec<i64> = keys
        .iter()
        .map(|k| to_i64(*k, "node"))
        .collect::<StoreResult<_>>()?;
    let statement = c
        .prepare_cached("SELECT id, hash FROM audit_nodes WHERE id = ANY($1::bigint[])")
        .await?;
    c.query(&statement, &[&ids])
        .await?
        .into_iter()
        .map(|row| {
            let id: i64 = row.try_get(0)?;
            Ok((id as u64, hash32(row.try_get(1)?, "audit node")?))
        })
        .collect()
}

pub async fn put_checkpoint(
    c: &impl GenericClient,
    size: u64,
    note: &str,
    at: UnixTime,
) -> StoreResult<()> {
    c.execute(
        "INSERT INTO audit_checkpoints (size, note, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (size) DO NOTHING",
        &[&to_i64(size, "size")?, &note, &at.0],
    )
    .await?;
    Ok(())
}

pub async fn checkpoints(
    c: &impl GenericClient,
    from: u64,
    to: u64,
    limit: usize,
) -> StoreResult<Vec<(u64, String)>> {
    let to = i64::try_from(to).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    c.query(
        "SELECT size, note FROM audit_checkpoints WHERE size >= $1 AND size <= $2
         ORDER BY size LIMIT $3",
        &[&to_i64(from, "size")?, &to, &limit],
    )
    .await?
    .into_iter()
    .map(|row| Ok((row.try_get::<_, i64>(0)? as u64, row.try_get(1)?)))
    .collect()
}

pub async fn latest_checkpoint(c: &impl GenericClient) -> StoreResult<Option<(u64, String)>> {
    match c
        .query_opt(
            "SELECT size, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1",
            &[],
        )
        .await?
    {
        Some(row) => Ok(Some((row.try_get::<_, i64>(0)? as u64, row.try_get(1)?))),
        None => Ok(None),
    }
}

pub async fn put_body(
    c: &impl GenericClient,
    sha256: &str,
    body: &[u8],
    at: UnixTime,
) -> StoreResult<()> {
    c.execute(
        "INSERT INTO audit_bodies (sha256, body, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (sha256) DO NOTHING",
        &[&sha256, &body, &at.0],
    )
    .await?;
    Ok(())
}

pub async fn body(c: &impl GenericClient, sha256: &str) -> StoreResult<Option<Vec<u8>>> {
    match c
        .query_opt(
            "SELECT body FROM audit_bodies WHERE sha256 = $1",
            &[&sha256],
        )
        .await?
    {
        Some(row) => Ok(Some(row.try_get(0)?)),
        None => Ok(None),
    }
}

pub async fn delete_bodies_before(c: &impl GenericClient, before: UnixTime) -> StoreResult<u64> {
    Ok(c.execute(
        "DELETE FROM audit_bodies WHERE created_at < $1",
        &[&before.0],
    )
    .await?)
}

pub async fn sink_cursor(c: &impl GenericClient, name: &str) -> StoreResult<Option<u64>> {
    match c
        .query_opt(
            "SELECT next_seq FROM audit_sink_cursors WHERE name = $1",
            &[&name],
        )
        .await?
    {
        Some(row) => Ok(Some(row.try_get::<_, i64>(0)? as u64)),
        None => Ok(None),
    }
}

pub async fn sink_advance(
    c: &impl GenericClient,
    name: &str,
    next: u64,
    at: UnixTime,
) -> StoreResult<()> {
    c.execute(
        "INSERT INTO audit_sink_cursors (name, next_seq, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET next_seq = excluded.next_seq,
                                          updated_at = excluded.updated_at
         WHERE excluded.next_seq > audit_sink_cursors.next_seq",
        &[&name, &to_i64(next, "cursor")?, &at.0],
    )
    .await?;
    Ok(())
}

pub async fn sink_cursors(c: &impl GenericClient) -> StoreResult<Vec<(String, u64, UnixTime)>> {
    c.query(
        "SELECT name, next_seq, updated_at FROM audit_sink_cursors ORDER BY name",
        &[],
    )
    .await?
    .into_iter()
    .map(|row| {
        Ok((
            row.try_get(0)?,
            row.try_get::<_, i64>(1)? as u64,
            UnixTime(row.try_get(2)?),
        ))
    })
    .collect()
}

pub async fn insert_provenance(
    c: &impl GenericClient,
    answer: &ProvenanceAnswer,
    fingerprints: &[u32],
) -> StoreResult<()> {
    let seq = to_i64(answer.seq, "seq")?;
    c.execute(
        "INSERT INTO provenance_answers (seq, at, user_id, model) VALUES ($1, $2, $3, $4)
         ON CONFLICT (seq) DO NOTHING",
        &[&seq, &answer.at.0, &answer.user, &answer.model],
    )
    .await?;
    let fingerprints: Vec<i64> = fingerprints.iter().map(|&f| i64::from(f)).collect();
    c.execute(
        "INSERT INTO provenance_fingerprints (fingerprint, seq)
         SELECT DISTINCT f, $2::bigint FROM unnest($1::bigint[]) AS f
         ON CONFLICT (fingerprint, seq) DO NOTHING",
        &[&fingerprints, &seq],
    )
    .await?;
    Ok(())
}

/// Answers sharing at least `min_shared` of `fingerprints` (each counted once), most
/// first.
pub async fn provenance_matches(
    c: &impl GenericClient,
    fingerprints: &[u32],
    min_shared: u32,
) -> StoreResult<Vec<(ProvenanceAnswer, u32)>> {
    let mut fingerprints: Vec<i64> = fingerprints.iter().map(|&f| i64::from(f)).collect();
    fingerprints.sort_unstable();
    fingerprints.dedup();
    c.query(
        "SELECT a.seq, a.at, a.user_id, a.model, m.shared
         FROM (SELECT seq, count(*) AS shared FROM provenance_fingerprints
               WHERE fingerprint = ANY($1::bigint[]) GROUP BY seq
               HAVING count(*) >= $2) m
         JOIN provenance_answers a ON a.seq = m.seq
         ORDER BY m.shared DESC, a.seq",
        &[&fingerprints, &i64::from(min_shared)],
    )
    .await?
    .into_iter()
    .map(|row| {
        Ok((
            ProvenanceAnswer {
                seq: row.try_get::<_, i64>(0)? as u64,
                at: UnixTime(row.try_get(1)?),
                user: row.try_get(2)?,
                model: row.try_get(3)?,
            },
            row.try_get::<_, i64>(4)? as u32,
        ))
    })
    .collect()
}

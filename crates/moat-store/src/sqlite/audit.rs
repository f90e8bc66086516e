//! Rows of the `audit_*` tables.

use crate::{AuditCheckpoint, AuditLeaf, AuditRow, StoreError, StoreResult};
use moat_domain::UnixTime;
use rusqlite::{Connection, OptionalExtension, params};

fn to_i64(value: u64, what: &str) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| StoreError::Backend(format!("{what} {value} is out of range")))
}

fn hash32(bytes: Vec<u8>, what: &str) -> StoreResult<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("{what} is not 32 bytes")))
}

pub fn append(
    conn: &mut Connection,
    events: &[AuditRow],
    nodes: &[(u64, [u8; 32])],
    checkpoint: Option<&AuditCheckpoint>,
) -> StoreResult<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut insert_event =
            tx.prepare_cached("INSERT INTO audit_events (seq, canonical) VALUES (?1, ?2)")?;
        for event in events {
            insert_event.execute(params![to_i64(event.seq, "seq")?, event.canonical])?;
        }
        let mut insert_body = tx.prepare_cached(
            "INSERT OR IGNORE INTO audit_bodies (sha256, body, created_at) VALUES (?1, ?2, ?3)",
        )?;
        let now = UnixTime::now().0;
        for (sha256, body) in events.iter().filter_map(|e| e.body.as_ref()) {
            insert_body.execute(params![sha256, body, now])?;
        }
        let mut insert_node =
            tx.prepare_cached("INSERT INTO audit_nodes (id, hash) VALUES (?1, ?2)")?;
        for (key, hash) in nodes {
            insert_node.execute(params![to_i64(*key, "node")?, &hash[..]])?;
        }
        for event in events {
            if let Some(provenance) = &event.provenance {
                let answer = crate::ProvenanceAnswer {
                    seq: event.seq,
                    at: UnixTime(now),
                    user: provenance.user.clone(),
                    model: provenance.model.clone(),
                };
                insert_provenance(&tx, &answer, &provenance.fingerprints)?;
            }
        }
        if let Some(checkpoint) = checkpoint {
            // A plain INSERT: a size already signed means another writer got there first.
            tx.prepare_cached(
                "INSERT INTO audit_checkpoints (size, note, created_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![
                to_i64(checkpoint.size, "size")?,
                checkpoint.note,
                checkpoint.at.0
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

pub fn size(conn: &Connection) -> StoreResult<u64> {
    let max: Option<i64> = conn.query_row("SELECT max(seq) FROM audit_events", [], |r| r.get(0))?;
    Ok(max.map_or(0, |m| m as u64 + 1))
}

pub fn leaves(conn: &Connection, from: u64, limit: usize) -> StoreResult<Vec<AuditLeaf>> {
    // Two sequential range scans (events, then their level-0 nodes, whose keys are the
    // sequence numbers) instead of one probe per row.
    let mut events = conn.prepare_cached(
        "SELECT seq, canonical FROM audit_events WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = events.query_map(params![to_i64(from, "seq")?, limit as i64], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    let mut out: Vec<AuditLeaf> = Vec::with_capacity(limit.min(65_536));
    for row in rows {
        let (seq, canonical) = row?;
        out.push(AuditLeaf {
            seq: seq as u64,
            canonical,
            leaf_hash: None,
        });
    }
    let (Some(first), Some(last)) = (out.first().map(|l| l.seq), out.last().map(|l| l.seq)) else {
        return Ok(out);
    };
    let mut nodes = conn.prepare_cached(
        "SELECT id, hash FROM audit_nodes WHERE id >= ?1 AND id <= ?2 ORDER BY id",
    )?;
    let hashes = nodes.query_map(params![to_i64(first, "seq")?, to_i64(last, "seq")?], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?))
    })?;
    let mut at = 0;
    for hash in hashes {
        let (id, hash) = hash?;
        while at < out.len() && out[at].seq < id {
            at += 1;
        }
        if at < out.len() && out[at].seq == id {
            out[at].leaf_hash = hash.try_into().ok();
        }
    }
    Ok(out)
}

pub fn nodes(conn: &Connection, keys: &[u64]) -> StoreResult<Vec<(u64, [u8; 32])>> {
    // One statement for the whole set: a proof at ten million events needs ~50 nodes.
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(500) {
        let placeholders = vec!["?"; chunk.len()].join(",");
        let sql = format!("SELECT id, hash FROM audit_nodes WHERE id IN ({placeholders})");
        let mut stmt = conn.prepare_cached(&sql)?;
        let ids: Vec<i64> = chunk
            .iter()
            .map(|k| to_i64(*k, "node"))
            .collect::<StoreResult<_>>()?;
        let rows = stmt.query_map(rusqlite::params_from_iter(ids), |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?))
        })?;
        for row in rows {
            let (key, hash) = row?;
            out.push((key, hash32(hash, "audit node")?));
        }
    }
    Ok(out)
}

pub fn put_checkpoint(conn: &Connection, size: u64, note: &str, at: UnixTime) -> StoreResult<()> {
    conn.execute(
        "INSERT OR IGNORE INTO audit_checkpoints (size, note, created_at) VALUES (?1, ?2, ?3)",
        params![to_i64(size, "size")?, note, at.0],
    )?;
    Ok(())
}

pub fn checkpoints(
    conn: &Connection,
    from: u64,
    to: u64,
    limit: usize,
) -> StoreResult<Vec<(u64, String)>> {
    let to = i64::try_from(to).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(
        "SELECT size, note FROM audit_checkpoints WHERE size >= ?1 AND size <= ?2 ORDER BY size LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![to_i64(from, "size")?, to, limit], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn latest_checkpoint(conn: &Connection) -> StoreResult<Option<(u64, String)>> {
    Ok(conn
        .query_row(
            "SELECT size, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1",
            [],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?)),
        )
        .optional()?)
}

pub fn put_body(conn: &Connection, sha256: &str, body: &[u8], at: UnixTime) -> StoreResult<()> {
    conn.execute(
        "INSERT OR IGNORE INTO audit_bodies (sha256, body, created_at) VALUES (?1, ?2, ?3)",
        params![sha256, body, at.0],
    )?;
    Ok(())
}

pub fn sink_cursor(conn: &Connection, name: &str) -> StoreResult<Option<u64>> {
    Ok(conn
        .query_row(
            "SELECT next_seq FROM audit_sink_cursors WHERE name = ?1",
            [name],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
        .map(|n| n as u64))
}

pub fn sink_advance(conn: &Connection, name: &str, next: u64, at: UnixTime) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO audit_sink_cursors (name, next_seq, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET next_seq = excluded.next_seq, updated_at = excluded.updated_at
         WHERE excluded.next_seq > audit_sink_cursors.next_seq",
        params![name, next as i64, at.0],
    )?;
    Ok(())
}

pub fn sink_cursors(conn: &Connection) -> StoreResult<Vec<(String, u64, UnixTime)>> {
    let mut statement =
        conn.prepare("SELECT name, next_seq, updated_at FROM audit_sink_cursors ORDER BY name")?;
    let rows = statement.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)? as u64,
            UnixTime(r.get(2)?),
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn body(conn: &Connection, sha256: &str) -> StoreResult<Option<Vec<u8>>> {
    Ok(conn
        .query_row(
            "SELECT body FROM audit_bodies WHERE sha256 = ?1",
            [sha256],
            |r| r.get(0),
        )
        .optional()?)
}

pub fn delete_bodies_before(conn: &Connection, before: UnixTime) -> StoreResult<u64> {
    Ok(conn.execute("DELETE FROM audit_bodies WHERE created_at < ?1", [before.0])? as u64)
}

pub fn provenance_add(
    conn: &mut Connection,
    answer: &crate::ProvenanceAnswer,
    fingerprints: &[u32],
) -> StoreResult<()> {
    let tx = conn.transaction()?;
    insert_provenance(&tx, answer, fingerprints)?;
    tx.commit()?;
    Ok(())
}

fn insert_provenance(
    conn: &Connection,
    answer: &crate::ProvenanceAnswer,
    fingerprints: &[u32],
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO provenance_answers (seq, at, user, model) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        answer.seq as i64,
        answer.at.0,
        answer.user,
        answer.model
    ])?;
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO provenance_fingerprints (fingerprint, seq) VALUES (?1, ?2)",
    )?;
    for &fingerprint in fingerprints {
        insert.execute(params![fingerprint as i64, answer.seq as i64])?;
    }
    Ok(())
}

pub fn provenance_matches(
    conn: &Connection,
    fingerprints: &[u32],
    min_shared: u32,
) -> StoreResult<Vec<(crate::ProvenanceAnswer, u32)>> {
    let mut shared: std::collections::HashMap<i64, u32> = std::collections::HashMap::new();
    let mut lookup =
        conn.prepare_cached("SELECT seq FROM provenance_fingerprints WHERE fingerprint = ?1")?;
    for &fingerprint in fingerprints {
        let mut rows = lookup.query([fingerprint as i64])?;
        while let Some(row) = rows.next()? {
            *shared.entry(row.get(0)?).or_insert(0) += 1;
        }
    }
    let mut answer =
        conn.prepare_cached("SELECT at, user, model FROM provenance_answers WHERE seq = ?1")?;
    let mut out = Vec::new();
    for (seq, count) in shared {
        if count < min_shared {
            continue;
        }
        let found = answer
            .query_row([seq], |r| {
                Ok(crate::ProvenanceAnswer {
                    seq: seq as u64,
                    at: UnixTime(r.get(0)?),
                    user: r.get(1)?,
                    model: r.get(2)?,
                })
            })
            .optional()?;
        out.extend(found.map(|a| (a, count)));
    }
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.seq.cmp(&b.0.seq)));
    Ok(out)
}

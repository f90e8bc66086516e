//! Copying an embedded deployment into PostgreSQL: every table, row for row, in one
//! PostgreSQL transaction, from one SQLite snapshot. Nothing is re-derived: the audit
//! log's events, tree nodes and signed checkpoints arrive as they were, so the copy
//! verifies against the same checkpoints (and any witness's), and versions, ETags and
//! revocations are kept.
//!
//! Columns are matched by name (PostgreSQL calls `provenance_answers.user`
//! `user_id`, a reserved word there); a table or column on either side that the
//! other lacks stops the copy before anything is written, so a later migration
//! cannot be dropped silently.

use crate::{PostgresStore, StoreError, StoreResult};
use rusqlite::types::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Tables in the order their foreign keys need. `access_version` is carried over
/// apart (it is one counter), `moat_schema` is the destination's own.
const TABLES: &[&str] = &[
    "users",
    "tokens",
    "oauth_clients",
    "oauth_grants",
    "oauth_secrets",
    "teams",
    "team_members",
    "host_identities",
    "repo_readers",
    "repo_syncs",
    "webhook_deliveries",
    "mirror_versions",
    "audit_events",
    "audit_nodes",
    "audit_checkpoints",
    "audit_bodies",
    "audit_sink_cursors",
    "provenance_answers",
    "provenance_fingerprints",
    "mcp_sessions",
    "gateway_kept",
    "gateway_counters",
    "config_versions",
    "index_jobs",
    "index_heads",
    "policy_exceptions",
    "kill_switches",
    "incidents",
    "access_state_bodies",
    "access_states",
];

/// Rows per INSERT, and bytes of text and blobs at most (past one large row).
const BATCH: usize = 2_000;
const BATCH_BYTES: usize = 32 << 20;

/// How many rows of one table were copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub table: &'static str,
    pub rows: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
    Bytes,
}

struct Plan {
    table: &'static str,
    /// Destination column, its kind, and the source column it is read from.
    columns: Vec<(String, Kind, String)>,
}

enum Message {
    Rows(usize, Vec<Vec<Value>>),
    Done(usize, u64),
    AccessVersion(i64),
    Failed(StoreError),
}

/// Copies the SQLite database at `from` into `to`, which must hold no data yet.
/// `progress` hears each table's name and the rows copied so far.
pub async fn sqlite_to_postgres(
    from: &Path,
    to: &PostgresStore,
    mut progress: impl FnMut(&str, u64),
) -> StoreResult<Vec<Copied>> {
    let mut client = to.client().await?;
    let tx = client.transaction().await?;
    let plans = plan(&tx).await?;
    // Nothing else writes until the copy commits or rolls back: not a node started
    // against the database meanwhile (its locked writes wait on the writer lock, and
    // every other write on the tables' locks), not another copy.
    tx.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&crate::postgres::WRITER_LOCK],
    )
    .await?;
    let tables: Vec<&str> = plans.iter().map(|p| p.table).collect();
    tx.batch_execute(&format!(
        "LOCK TABLE {}, access_version IN ACCESS EXCLUSIVE MODE",
        tables.join(", ")
    ))
    .await?;
    for plan in &plans {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {})", plan.table);
        if tx.query_one(&sql, &[]).await?.try_get::<_, bool>(0)? {
            return Err(StoreError::Conflict(format!(
                "the destination already holds data (table {}); migrate into an empty database",
                plan.table
            )));
        }
    }

    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Message>(4);
    let reader = {
        let from = from.to_path_buf();
        let columns: Vec<(&'static str, Vec<String>)> = plans
            .iter()
            .map(|p| (p.table, p.columns.iter().map(|c| c.2.clone()).collect()))
            .collect();
        std::thread::spawn(move || read_snapshot(from, columns, sender))
    };

    let mut copied: Vec<Copied> = plans
        .iter()
        .map(|p| Copied {
            table: p.table,
            rows: 0,
        })
        .collect();
    let mut replacements: (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    let mut access_version = 0;
    let mut finished = 0;
    while let Some(message) = receiver.recv().await {
        match message {
            Message::Rows(index, mut rows) => {
                let plan = &plans[index];
                if plan.table == "tokens" {
                    // `replaced_by` points at a token that may come in a later batch:
                    // set once every token is in.
                    let id = column(plan, "id")?;
                    let replaced_by = column(plan, "replaced_by")?;
                    for row in &mut rows {
                        let next = std::mem::replace(&mut row[replaced_by], Value::Null);
                        if let (Value::Text(id), Value::Text(next)) = (&row[id], next) {
                            replacements.0.push(id.clone());
                            replacements.1.push(next);
                        }
                    }
                }
                copied[index].rows += rows.len() as u64;
                insert(&tx, plan, rows).await?;
                progress(plan.table, copied[index].rows);
            }
            Message::Done(index, rows) => {
                if copied[index].rows != rows {
                    return Err(StoreError::Backend(format!(
                        "{}: read {rows} rows but wrote {}",
                        plans[index].table, copied[index].rows
                    )));
                }
                finished += 1;
            }
            Message::AccessVersion(value) => access_version = value,
            Message::Failed(error) => return Err(error),
        }
    }
    let _ = reader.join();
    if finished != plans.len() {
        return Err(StoreError::Backend(
            "the SQLite reader stopped before the last table".into(),
        ));
    }
    if !replacements.0.is_empty() {
        tx.execute(
            "UPDATE tokens t SET replaced_by = r.next
             FROM unnest($1::text[], $2::text[]) AS r (id, next) WHERE t.id = r.id",
            &[&replacements.0, &replacements.1],
        )
        .await?;
    }
    // The rows' triggers moved the counter; it must not end below what the
    // repositories' mirror versions were stamped with.
    tx.execute(
        "UPDATE access_version SET value = GREATEST(value, $1) WHERE id = 1",
        &[&access_version],
    )
    .await?;
    tx.commit().await?;
    Ok(copied)
}

/// What each destination table holds, checked against the list above.
async fn plan(tx: &deadpool_postgres::Transaction<'_>) -> StoreResult<Vec<Plan>> {
    let present: BTreeSet<String> = tx
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            &[],
        )
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
    let expected: BTreeSet<String> = TABLES
        .iter()
        .map(|t| t.to_string())
        // The audit queue only passes records between nodes: nothing to copy into it.
        .chain([
            "access_version".into(),
            "moat_schema".into(),
            "audit_queue".into(),
        ])
        .collect();
    if present != expected {
        return Err(StoreError::Backend(format!(
            "the PostgreSQL schema has tables {present:?}, the copy knows {expected:?}; \
             this build of moat cannot copy it"
        )));
    }
    let mut plans = Vec::new();
    for &table in TABLES {
        let rows = tx
            .query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = $1
                 ORDER BY ordinal_position",
                &[&table],
            )
            .await?;
        let mut columns = Vec::new();
        for row in rows {
            let name: String = row.try_get(0)?;
            let kind = match row.try_get::<_, String>(1)?.as_str() {
                "bigint" | "integer" => Kind::Int,
                "text" => Kind::Text,
                "bytea" => Kind::Bytes,
                other => {
                    return Err(StoreError::Backend(format!(
                        "{table}.{name} is of type {other}, which the copy does not know"
                    )));
                }
            };
            let source = match (table, name.as_str()) {
                ("provenance_answers", "user_id") => quoted("user"),
                _ => quoted(&name),
            };
            columns.push((name, kind, source));
        }
        plans.push(Plan { table, columns });
    }
    Ok(plans)
}

/// An SQL identifier, quoted (the same rule in SQLite and PostgreSQL).
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn column(plan: &Plan, name: &str) -> StoreResult<usize> {
    plan.columns
        .iter()
        .position(|c| c.0 == name)
        .ok_or_else(|| StoreError::Backend(format!("{} has no column {name}", plan.table)))
}

/// One column of a batch, as the typed array PostgreSQL unnests.
enum Column {
    Int(Vec<Option<i64>>),
    Text(Vec<Option<String>>),
    Bytes(Vec<Option<Vec<u8>>>),
}

/// One INSERT of `rows`, each column sent as one typed array (values moved, not copied).
async fn insert(
    tx: &deadpool_postgres::Transaction<'_>,
    plan: &Plan,
    rows: Vec<Vec<Value>>,
) -> StoreResult<()> {
    let mut columns: Vec<Column> = plan
        .columns
        .iter()
        .map(|(_, kind, _)| match kind {
            Kind::Int => Column::Int(Vec::with_capacity(rows.len())),
            Kind::Text => Column::Text(Vec::with_capacity(rows.len())),
            Kind::Bytes => Column::Bytes(Vec::with_capacity(rows.len())),
        })
        .collect();
    for row in rows {
        for (index, value) in row.into_iter().enumerate() {
            match (&mut columns[index], value) {
                (Column::Int(v), Value::Null) => v.push(None),
                (Column::Text(v), Value::Null) => v.push(None),
                (Column::Bytes(v), Value::Null) => v.push(None),
                (Column::Int(v), Value::Integer(i)) => v.push(Some(i)),
                (Column::Text(v), Value::Text(t)) => v.push(Some(t)),
                (Column::Bytes(v), Value::Blob(b)) => v.push(Some(b)),
                (_, other) => {
                    let (name, kind, _) = &plan.columns[index];
                    return Err(StoreError::Corrupt(format!(
                        "{}.{name} holds {other:?} where {kind:?} belongs",
                        plan.table
                    )));
                }
            }
        }
    }
    let casts: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let ty = match column {
                Column::Int(_) => "bigint",
                Column::Text(_) => "text",
                Column::Bytes(_) => "bytea",
            };
            format!("${}::{ty}[]", i + 1)
        })
        .collect();
    let names: Vec<String> = plan.columns.iter().map(|c| quoted(&c.0)).collect();
    let sql = format!(
        "INSERT INTO {} ({}) SELECT * FROM unnest({})",
        plan.table,
        names.join(", "),
        casts.join(", ")
    );
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = columns
        .iter()
        .map(|column| match column {
            Column::Int(v) => v as &(dyn tokio_postgres::types::ToSql + Sync),
            Column::Text(v) => v as &(dyn tokio_postgres::types::ToSql + Sync),
            Column::Bytes(v) => v as &(dyn tokio_postgres::types::ToSql + Sync),
        })
        .collect();
    tx.execute(&sql, &params).await?;
    Ok(())
}

/// Reads every table from one snapshot of the SQLite file (a read transaction: a
/// server still writing does not tear the copy) and sends it in batches.
fn read_snapshot(
    path: PathBuf,
    tables: Vec<(&'static str, Vec<String>)>,
    sender: tokio::sync::mpsc::Sender<Message>,
) {
    let send = |message: Message| sender.blocking_send(message).is_ok();
    let result = (|| -> StoreResult<()> {
        let mut conn = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let snapshot = conn.transaction()?;
        let present: BTreeSet<String> = snapshot
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let expected: BTreeSet<String> = tables
            .iter()
            .map(|(t, _)| t.to_string())
            .chain(["access_version".into()])
            .collect();
        if present != expected {
            return Err(StoreError::Backend(format!(
                "the SQLite database has tables {present:?}, PostgreSQL has {expected:?}"
            )));
        }
        for (index, (table, columns)) in tables.iter().enumerate() {
            let source: BTreeSet<String> = snapshot
                .prepare("SELECT name FROM pragma_table_info(?1)")?
                .query_map([table], |r| r.get::<_, String>(0))?
                .map(|name| name.map(|n| quoted(&n)))
                .collect::<Result<_, _>>()?;
            let wanted: BTreeSet<String> = columns.iter().cloned().collect();
            if source != wanted {
                return Err(StoreError::Backend(format!(
                    "{table}: SQLite has columns {source:?}, PostgreSQL takes {wanted:?}"
                )));
            }
            let mut statement =
                snapshot.prepare(&format!("SELECT {} FROM {table}", columns.join(", ")))?;
            let mut rows = statement.query([])?;
            let mut batch = Vec::with_capacity(BATCH);
            let mut bytes = 0usize;
            let mut total = 0u64;
            while let Some(row) = rows.next()? {
                let values = (0..columns.len())
                    .map(|i| row.get::<_, Value>(i))
                    .collect::<Result<Vec<_>, _>>()?;
                bytes += values
                    .iter()
                    .map(|v| match v {
                        Value::Text(t) => t.len(),
                        Value::Blob(b) => b.len(),
                        _ => 8,
                    })
                    .sum::<usize>();
                batch.push(values);
                total += 1;
                // Stored bodies run to megabytes: a batch is bounded in bytes too, far
                // below PostgreSQL's 1 GB limit on one parameter.
                if (batch.len() == BATCH || bytes >= BATCH_BYTES)
                    && !send(Message::Rows(index, std::mem::take(&mut batch)))
                {
                    return Ok(());
                }
                if batch.is_empty() {
                    bytes = 0;
                }
            }
            if !batch.is_empty() && !send(Message::Rows(index, batch)) {
                return Ok(());
            }
            if !send(Message::Done(index, total)) {
                return Ok(());
            }
        }
        let version: i64 =
            snapshot.query_row("SELECT value FROM access_version WHERE id = 1", [], |r| {
                r.get(0)
            })?;
        send(Message::AccessVersion(version));
        Ok(())
    })();
    if let Err(error) = result {
        send(Message::Failed(error));
    }
}

//! The audit log's queue (`audit_queue`) and PostgreSQL's [`AuditSeat`]: a connection
//! of the seat's own, outside the pool, that listens for records queued and appended
//! and holds the session advisory lock whose holder is the sequencer. PostgreSQL
//! releases the lock when the connection goes (a node killed, a network cut the server
//! noticed), so another node's seat takes the role at its next try; the holder's turns
//! run on that same connection, so one that lost it cannot append afterwards.

use super::audit::{AUDIT_LOCK, append_in};
use super::to_i64;
use crate::sequencer::{AuditSeat, QueuedRecord};
use crate::{AuditCheckpoint, AuditProvenance, AuditRow, StoreError, StoreResult};
use deadpool_postgres::{ClientWrapper, GenericClient, Object};
use moat_domain::UnixTime;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The session advisory lock held by the sequencer's seat.
const SEQUENCER_LOCK: i64 = 0x6d6f_6174_0003;

/// Records appended but never collected (their node died waiting) are removed after this.
const UNCOLLECTED: Duration = Duration::from_secs(3600);

/// The holder reads the queue at least this often even without a notification.
const READ_ANYWAY: Duration = Duration::from_millis(100);

/// Queues `records` in one transaction and wakes the sequencer. The commit does not
/// wait for the disk: nothing is acknowledged until the sequencer's own (synchronous)
/// commit has appended the records, and that commit is written after this one, so it
/// makes both durable.
pub async fn enqueue(client: &mut Object, records: &[QueuedRecord]) -> StoreResult<Vec<u64>> {
    let bodies: Vec<&[u8]> = records.iter().map(|r| r.body.as_slice()).collect();
    let contents: Vec<Option<&[u8]>> = records.iter().map(|r| r.content.as_deref()).collect();
    let provenance = |f: fn(&AuditProvenance) -> &str| -> Vec<Option<&str>> {
        records
            .iter()
            .map(|r| r.provenance.as_ref().map(f))
            .collect()
    };
    let users = provenance(|p| p.user.as_str());
    let models = provenance(|p| p.model.as_str());
    let fingerprints: Vec<Option<Vec<u8>>> = records
        .iter()
        .map(|r| {
            r.provenance.as_ref().map(|p| {
                p.fingerprints
                    .iter()
                    .flat_map(|f| f.to_be_bytes())
                    .collect()
            })
        })
        .collect();
    // The ids are drawn in a materialised step and returned in the input's order, so
    // each caller learns its own record's id whatever order rows are inserted in.
    let tx = client.transaction().await?;
    tx.batch_execute("SET LOCAL synchronous_commit = off")
        .await?;
    let statement = tx
        .prepare_cached(
            "WITH q AS MATERIALIZED (
                 SELECT nextval(pg_get_serial_sequence('audit_queue', 'id')) AS id, r.*
                 FROM unnest($1::bytea[], $2::bytea[], $3::text[], $4::text[], $5::bytea[])
                      WITH ORDINALITY AS r (b, c, u, m, f, n)
             ), ins AS (
                 INSERT INTO audit_queue
                     (id, body, content, prov_user, prov_model, prov_fingerprints, queued_at)
                 SELECT id, b, c, u, m, f, $6 FROM q
             )
             SELECT id, pg_notify('moat_audit_queued', '') FROM q ORDER BY n",
        )
        .await?;
    let now = UnixTime::now().0;
    let ids = tx
        .query(
            &statement,
            &[&bodies, &contents, &users, &models, &fingerprints, &now],
        )
        .await?
        .into_iter()
        .map(|row| Ok(row.try_get::<_, i64>(0)? as u64))
        .collect::<StoreResult<Vec<_>>>()?;
    tx.commit().await?;
    Ok(ids)
}

/// Collects the sequence numbers of the queued records `ids` that were appended, and
/// removes them from the queue. The removal need not be durable (a row that comes back
/// after a crash is swept later), so it does not wait for the disk.
pub async fn dequeue(client: &Object, ids: &[u64]) -> StoreResult<Vec<(u64, u64)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    // One round trip: the ids are numbers formatted here, nothing else is spliced in.
    let messages = client
        .simple_query(&format!(
            "BEGIN; SET LOCAL synchronous_commit = off;
             DELETE FROM audit_queue WHERE id IN ({list}) AND seq IS NOT NULL RETURNING id, seq;
             COMMIT"
        ))
        .await?;
    let number = |value: Option<&str>, what: &str| -> StoreResult<u64> {
        value
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("audit_queue.{what} is not a number")))
    };
    messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        })
        .map(|row| Ok((number(row.get(0), "id")?, number(row.get(1), "seq")?)))
        .collect()
}

pub struct Seat {
    config: tokio_postgres::Config,
    tls: tokio_rustls::rustls::ClientConfig,
    client: Option<ClientWrapper>,
    /// Woken by every notification on the seat's connection.
    signals: Arc<Notify>,
    /// Set when another node queued records since the queue was last read.
    queued: Arc<AtomicBool>,
    /// When the queue was last read whatever the notifications said (one may be missed
    /// while the seat reconnects).
    read_at: Option<Instant>,
    leading: bool,
    /// When uncollected records were last removed.
    swept: Option<Instant>,
}

impl Seat {
    pub fn new(config: tokio_postgres::Config, tls: tokio_rustls::rustls::ClientConfig) -> Seat {
        Seat {
            config,
            tls,
            client: None,
            signals: Arc::new(Notify::new()),
            queued: Arc::new(AtomicBool::new(true)),
            read_at: None,
            leading: false,
            swept: None,
        }
    }

    fn alive(&self) -> Option<&ClientWrapper> {
        self.client.as_ref().filter(|client| !client.is_closed())
    }

    fn live(&self) -> StoreResult<&ClientWrapper> {
        self.alive().ok_or_else(|| {
            StoreError::Backend("the audit sequencer's connection to the database was lost".into())
        })
    }

    async fn connect(&mut self) -> StoreResult<()> {
        self.client = None;
        self.leading = false;
        let (client, mut connection) = self
            .config
            .connect(tokio_postgres_rustls::MakeRustlsConnect::new(
                self.tls.clone(),
            ))
            .await?;
        let signals = self.signals.clone();
        let queued = self.queued.clone();
        let task = tokio::spawn(async move {
            while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                match message {
                    Ok(tokio_postgres::AsyncMessage::Notification(notification)) => {
                        if notification.channel() == "moat_audit_queued" {
                            queued.store(true, Ordering::Release);
                        }
                        signals.notify_one();
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, "the audit sequencer's connection failed");
                        break;
                    }
                }
            }
            // Whoever waits looks again and finds the connection gone.
            signals.notify_one();
        });
        let client = ClientWrapper::new(client, task);
        client
            .batch_execute("LISTEN moat_audit_queued; LISTEN moat_audit_appended")
            .await?;
        self.client = Some(client);
        Ok(())
    }

    /// Removes appended records nobody collected (their node died or gave up
    /// waiting), at most once an hour. A failure is only logged: the rows wait for the
    /// next sweep and nothing depends on their removal.
    async fn sweep(&mut self) {
        if self.swept.is_some_and(|at| at.elapsed() < UNCOLLECTED) {
            return;
        }
        self.swept = Some(Instant::now());
        let before = UnixTime::now().0 - UNCOLLECTED.as_secs() as i64;
        let Some(client) = self.alive() else { return };
        if let Err(error) = client
            .execute(
                "DELETE FROM audit_queue WHERE seq IS NOT NULL AND queued_at < $1",
                &[&before],
            )
            .await
        {
            tracing::warn!(%error, "could not remove uncollected records from the audit queue");
        }
    }
}

#[async_trait::async_trait]
impl AuditSeat for Seat {
    async fn try_lead(&mut self) -> StoreResult<bool> {
        if self.alive().is_none() {
            self.connect().await?;
        } else if self.leading {
            self.sweep().await;
            return Ok(true);
        }
        let row = self
            .live()?
            .query_one("SELECT pg_try_advisory_lock($1)", &[&SEQUENCER_LOCK])
            .await?;
        self.leading = row.try_get(0)?;
        if self.leading {
            self.sweep().await;
        }
        Ok(self.leading)
    }

    async fn wait(&mut self, timeout: Duration) -> StoreResult<bool> {
        if self.alive().is_none() {
            tokio::time::sleep(timeout).await;
            return Ok(false);
        }
        Ok(tokio::time::timeout(timeout, self.signals.notified())
            .await
            .is_ok())
    }

    async fn take(&mut self, limit: usize) -> StoreResult<Vec<(u64, QueuedRecord)>> {
        if !self.leading {
            return Err(StoreError::Backend(
                "this node is not the audit log's sequencer".into(),
            ));
        }
        let notified = self.queued.swap(false, Ordering::AcqRel);
        if !notified && self.read_at.is_some_and(|at| at.elapsed() < READ_ANYWAY) {
            return Ok(Vec::new());
        }
        self.read_at = Some(Instant::now());
        let client = self.live()?;
        let statement = client
            .prepare_cached(
                "SELECT id, body, content, prov_user, prov_model, prov_fingerprints
                 FROM audit_queue WHERE seq IS NULL ORDER BY id LIMIT $1",
            )
            .await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let queued = client
            .query(&statement, &[&limit])
            .await?
            .into_iter()
            .map(queued_row)
            .collect::<StoreResult<Vec<_>>>()?;
        if queued.len() as i64 == limit {
            // More may be waiting: the next turn reads again.
            self.queued.store(true, Ordering::Release);
        }
        Ok(queued)
    }

    async fn append(
        &mut self,
        size: u64,
        events: &[AuditRow],
        nodes: &[(u64, [u8; 32])],
        checkpoint: &AuditCheckpoint,
        numbered: &[(u64, u64)],
    ) -> StoreResult<()> {
        if !self.leading {
            return Err(StoreError::Backend(
                "this node is not the audit log's sequencer".into(),
            ));
        }
        let client = self
            .client
            .as_mut()
            .filter(|client| !client.is_closed())
            .ok_or_else(|| {
                StoreError::Backend(
                    "the audit sequencer's connection to the database was lost".into(),
                )
            })?;
        let tx = client.transaction().await?;
        // The append lock too: a writer appending without the queue waits for this
        // transaction. A log that is not `size` long (another writer appended since the
        // holder last looked) makes the turn void.
        let statement = tx
            .prepare_cached(
                "SELECT pg_advisory_xact_lock($1)::text, (SELECT max(seq) FROM audit_events)",
            )
            .await?;
        let max: Option<i64> = tx.query_one(&statement, &[&AUDIT_LOCK]).await?.try_get(1)?;
        let now = max.map_or(0, |m| m as u64 + 1);
        if now != size {
            return Err(StoreError::Conflict(format!(
                "the log holds {now} events, not the {size} the sequencer numbered from"
            )));
        }
        append_in(&tx, events, nodes, Some(checkpoint)).await?;
        if !numbered.is_empty() {
            let (ids, seqs): (Vec<i64>, Vec<i64>) = numbered
                .iter()
                .map(|(id, seq)| Ok((to_i64(*id, "queue id")?, to_i64(*seq, "seq")?)))
                .collect::<StoreResult<Vec<_>>>()?
                .into_iter()
                .unzip();
            let statement = tx
                .prepare_cached(
                    "UPDATE audit_queue AS q SET seq = v.seq
                     FROM unnest($1::bigint[], $2::bigint[]) AS v (id, seq)
                     WHERE q.id = v.id AND q.seq IS NULL",
                )
                .await?;
            let marked = tx.execute(&statement, &[&ids, &seqs]).await?;
            if marked != ids.len() as u64 {
                return Err(StoreError::Conflict(format!(
                    "{} of {} queued records were no longer queued",
                    ids.len() as u64 - marked,
                    ids.len()
                )));
            }
            tx.batch_execute("NOTIFY moat_audit_appended").await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn queued_row(row: tokio_postgres::Row) -> StoreResult<(u64, QueuedRecord)> {
    let user: Option<String> = row.try_get(3)?;
    let model: Option<String> = row.try_get(4)?;
    let fingerprints: Option<Vec<u8>> = row.try_get(5)?;
    let provenance = match (user, model) {
        (Some(user), Some(model)) => Some(AuditProvenance {
            user,
            model,
            fingerprints: fingerprints
                .unwrap_or_default()
                .chunks_exact(4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        }),
        _ => None,
    };
    Ok((
        row.try_get::<_, i64>(0)? as u64,
        QueuedRecord {
            body: row.try_get(1)?,
            content: row.try_get(2)?,
            provenance,
        },
    ))
}

//! Metrics read at scrape time from what the services keep: the audit writer and its
//! witnesses, the audit sinks, the identity provider's key fetches, each repository's
//! last indexing run, each host's permission mirror, and the process itself.

use moat_service::AuditLog;
use moat_service::access::HostFreshness;
use moat_service::audit::sinks::SinkStatus;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use std::fmt::Error;
use std::sync::{Arc, Mutex};

/// One gauge family: every sample with its labels.
fn gauges<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: &[(L, f64)],
) -> Result<(), Error> {
    if samples.is_empty() {
        return Ok(());
    }
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in samples {
        ConstGauge::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

/// One counter family: every sample with its labels.
fn counters<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: &[(L, u64)],
) -> Result<(), Error> {
    if samples.is_empty() {
        return Ok(());
    }
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in samples {
        ConstCounter::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

/// One gauge without labels.
pub(super) fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: f64,
) -> Result<(), Error> {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric)
}

/// A collector's name as its `Debug` form (what it reads from has none).
macro_rules! named_debug {
    ($($collector:ident),*) => {$(
        impl std::fmt::Debug for $collector {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($collector))
            }
        }
    )*};
}

named_debug!(AuditMetrics, IdpMetrics, IndexMetrics);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WitnessLabels {
    witness: String,
}

/// The audit writer's queue, size and unsigned events, and each witness's lag.
pub struct AuditMetrics(pub Arc<AuditLog>);

impl Collector for AuditMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), Error> {
        let now = self.0.snapshot();
        gauge(
            &mut encoder,
            "audit_queue_depth",
            "Events waiting for the audit writer",
            now.queue_depth as f64,
        )?;
        gauge(
            &mut encoder,
            "audit_queue_capacity",
            "Events that may wait for the audit writer before requests get 503",
            now.queue_capacity as f64,
        )?;
        gauge(
            &mut encoder,
            "audit_events",
            "Events in the audit log",
            now.events as f64,
        )?;
        gauge(
            &mut encoder,
            "audit_events_since_checkpoint",
            "Durable events in no signed checkpoint yet (0: every batch is signed as it is written)",
            now.unsigned_events as f64,
        )?;
        gauge(
            &mut encoder,
            "audit_sequencer_leader",
            "1 where this node appends the audit log (the elected sequencer of nodes on one PostgreSQL database, or the one writer on SQLite), 0 on a node that hands its events to another; summed over nodes, 1",
            if now.sequencer == moat_service::audit::Sequencer::Follower {
                0.0
            } else {
                1.0
            },
        )?;
        gauge(
            &mut encoder,
            "audit_awaiting_sequencer",
            "This node's audit events queued for another node's sequencer and not yet appended",
            now.awaiting_sequencer as f64,
        )?;
        let behind: Vec<_> = now
            .witnesses
            .iter()
            .map(|w| {
                (
                    WitnessLabels {
                        witness: w.name.clone(),
                    },
                    w.behind_seconds,
                )
            })
            .collect();
        gauges(
            &mut encoder,
            "audit_witness_age_seconds",
            "Seconds the witness has not held the newest checkpoint (0: it holds it)",
            &behind,
        )?;
        let failures: Vec<_> = now
            .witnesses
            .iter()
            .map(|w| {
                (
                    WitnessLabels {
                        witness: w.name.clone(),
                    },
                    w.failures,
                )
            })
            .collect();
        counters(
            &mut encoder,
            "audit_witness_failures",
            "Checkpoint deliveries to the witness that failed",
            &failures,
        )
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabels {
    sink: String,
    kind: String,
}

/// Each audit sink's state, read at scrape time from what its task updates.
#[derive(Debug)]
pub struct SinkMetrics(pub Vec<Arc<SinkStatus>>);

impl Collector for SinkMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), Error> {
        let label = |s: &SinkStatus| SinkLabels {
            sink: s.name.clone(),
            kind: s.kind.to_string(),
        };
        let lag: Vec<_> = self.0.iter().map(|s| (label(s), s.lag() as f64)).collect();
        gauges(
            &mut encoder,
            "audit_sink_lag_events",
            "Events durable in the audit log and not yet delivered to the sink",
            &lag,
        )?;
        let failing: Vec<_> = self
            .0
            .iter()
            .map(|s| (label(s), f64::from(u8::from(s.last_error().is_some()))))
            .collect();
        gauges(
            &mut encoder,
            "audit_sink_failing",
            "1 while the sink's last delivery failed (it is being retried), else 0",
            &failing,
        )?;
        let delivered: Vec<_> = self.0.iter().map(|s| (label(s), s.delivered())).collect();
        counters(
            &mut encoder,
            "audit_sink_delivered_events",
            "Events delivered to the sink since the server started",
            &delivered,
        )?;
        let failures: Vec<_> = self.0.iter().map(|s| (label(s), s.failures())).collect();
        counters(
            &mut encoder,
            "audit_sink_failures",
            "Failed deliveries to the sink since the server started",
            &failures,
        )
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IssuerLabels {
    issuer: String,
}

/// Failed fetches of the identity provider's signing keys.
pub struct IdpMetrics(pub Arc<moat_service::OidcVerifier>);

impl Collector for IdpMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), Error> {
        counters(
            &mut encoder,
            "idp_key_fetch_failures",
            "Fetches of the identity provider's signing keys that failed (JWTs with keys not held are refused meanwhile)",
            &[(
                IssuerLabels {
                    issuer: self.0.issuer().to_string(),
                },
                self.0.key_fetch_failures(),
            )],
        )
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RepoLabels {
    repo: String,
}

/// Each connected repository's last indexing run (`moat index` records them).
pub struct IndexMetrics {
    pub index: Arc<moat_index::CodeIndex>,
    pub repos: Vec<String>,
}

impl Collector for IndexMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), Error> {
        let runs = self.index.runs();
        let now = moat_domain::UnixTime::now().0;
        let mut indexed = Vec::new();
        let mut age = Vec::new();
        let mut failed = Vec::new();
        for repo in &self.repos {
            let labels = RepoLabels { repo: repo.clone() };
            let run = runs.iter().find(|r| &r.repo == repo);
            let success = run.and_then(|r| r.last_success);
            indexed.push((labels.clone(), f64::from(u8::from(success.is_some()))));
            if let Some(at) = success {
                age.push((labels.clone(), (now - at).max(0) as f64));
            }
            let error = run.is_some_and(|r| r.error.is_some());
            failed.push((labels, f64::from(u8::from(error))));
        }
        gauges(
            &mut encoder,
            "index_indexed",
            "1 once the repository has been indexed successfully",
            &indexed,
        )?;
        gauges(
            &mut encoder,
            "index_age_seconds",
            "Seconds since the repository was last indexed successfully",
            &age,
        )?;
        gauges(
            &mut encoder,
            "index_last_run_failed",
            "1 when the repository's last indexing run failed (its error: runs/ in the index directory)",
            &failed,
        )
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HostLabels {
    host: String,
}

/// Each host's permission mirror, as of the last scrape's refresh.
#[derive(Debug, Default)]
pub struct MirrorMetrics(pub Mutex<Vec<HostFreshness>>);

impl Collector for MirrorMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), Error> {
        let hosts = self.0.lock().map(|h| h.clone()).unwrap_or_default();
        let per_host = |value: fn(&HostFreshness) -> f64| -> Vec<(HostLabels, f64)> {
            hosts
                .iter()
                .map(|h| {
                    (
                        HostLabels {
                            host: h.host.clone(),
                        },
                        value(h),
                    )
                })
                .collect()
        };
        let ages: Vec<_> = hosts
            .iter()
            .filter_map(|h| {
                let age = h.oldest_sync_age_seconds?;
                Some((
                    HostLabels {
                        host: h.host.clone(),
                    },
                    age as f64,
                ))
            })
            .collect();
        gauges(
            &mut encoder,
            "permission_mirror_age_seconds",
            "Seconds since the least recently synced repository of the host was synced (absent until one is)",
            &ages,
        )?;
        gauges(
            &mut encoder,
            "permission_mirror_max_staleness_seconds",
            "The host's staleness bound: past it, mirrored readers are not trusted",
            &per_host(|h| h.max_staleness_seconds as f64),
        )?;
        gauges(
            &mut encoder,
            "permission_mirror_stale_repositories",
            "Repositories whose mirror is past the bound (their code is refused to everyone)",
            &per_host(|h| h.stale as f64),
        )?;
        gauges(
            &mut encoder,
            "permission_mirror_unsynced_repositories",
            "Repositories of the host never synced",
            &per_host(|h| h.never_synced as f64),
        )
    }
}

/// Exceptions to the policy as of the last scrape: pending (and how long the oldest has
/// waited, to alert on the review SLA) and in force.
#[derive(Debug, Default)]
pub struct ExceptionMetrics(pub Mutex<Option<ExceptionCounts>>);

#[derive(Debug, Default, Clone, Copy)]
pub struct ExceptionCounts {
    pub pending: usize,
    pub oldest_pending_age_seconds: i64,
    pub in_force: usize,
}

impl ExceptionCounts {
    pub fn of(exceptions: &[moat_store::PolicyException], now: moat_domain::UnixTime) -> Self {
        let pending: Vec<_> = exceptions
            .iter()
            .filter(|e| e.status == moat_store::exceptions::PENDING)
            .collect();
        ExceptionCounts {
            pending: pending.len(),
            oldest_pending_age_seconds: pending
                .iter()
                .map(|e| (now.0 - e.requested_at.0).max(0))
                .max()
                .unwrap_or(0),
            in_force: exceptions.iter().filter(|e| e.in_force(now)).count(),
        }
    }
}

impl Collector for ExceptionMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), Error> {
        let Some(counts) = self.0.lock().ok().and_then(|c| *c) else {
            return Ok(());
        };
        gauge(
            &mut encoder,
            "exceptions_pending",
            "Exception requests waiting for review",
            counts.pending as f64,
        )?;
        gauge(
            &mut encoder,
            "exceptions_pending_oldest_age_seconds",
            "How long the oldest pending exception request has waited (alert past [exceptions] review_sla)",
            counts.oldest_pending_age_seconds as f64,
        )?;
        gauge(
            &mut encoder,
            "exceptions_in_force",
            "Approved exceptions whose window holds now",
            counts.in_force as f64,
        )
    }
}

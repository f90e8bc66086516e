//! Prometheus metrics, owned by the app (no global registry), served at `/metrics`:
//! HTTP requests here, the services' own instruments ([`moat_service::Telemetry`]) and
//! what [`collectors`] read at scrape time.

mod collectors;
mod process;

use crate::AppState;
use axum::body::Body;
use axum::extract::{MatchedPath, State};
use axum::http::Request;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route template (`/api/v1/users/{id}`), never the raw path, to bound cardinality.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

/// The access service and the collector its mirror freshness is kept in.
type MirrorRefresh = (
    Arc<moat_service::Access>,
    Arc<collectors::MirrorMetrics>,
    Arc<collectors::ExceptionMetrics>,
);

/// A collector kept behind an `Arc`, so a scrape can refresh what it holds.
#[derive(Debug)]
struct SharedCollector<C>(Arc<C>);

impl<C: prometheus_client::collector::Collector> prometheus_client::collector::Collector
    for SharedCollector<C>
{
    fn encode(
        &self,
        encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        self.0.encode(encoder)
    }
}

/// The HTTP request counters, kept across the apps one process serves in turn (a
/// published configuration swapped in builds a new app, not new counters).
#[derive(Clone)]
pub struct HttpCounters {
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram>,
}

impl Default for HttpCounters {
    fn default() -> HttpCounters {
        HttpCounters {
            requests: Family::default(),
            durations: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0001, 2.0, 18))
            }),
        }
    }
}

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram>,
    mirror: Option<MirrorRefresh>,
}

impl Metrics {
    /// HTTP metrics only (until [`Metrics::build`] sees the whole app).
    pub fn new() -> Metrics {
        Metrics::with_registry(Registry::with_prefix("moat"), None, HttpCounters::default())
    }

    /// Every metric the app has: HTTP, the services' telemetry, the audit writer,
    /// witnesses and sinks, the identity provider, the index, the permission mirror and
    /// the process.
    pub fn build(state: &AppState) -> Metrics {
        let mut registry = Registry::with_prefix("moat");
        state.telemetry.register(&mut registry);
        registry.register(
            "audit_commit_duration_seconds",
            "Time to make one batch of audit events durable, its signed checkpoint included",
            state.audit.commit_seconds(),
        );
        registry.register_collector(Box::new(collectors::AuditMetrics(state.audit.clone())));
        if !state.audit_sinks.is_empty() {
            registry
                .register_collector(Box::new(collectors::SinkMetrics(state.audit_sinks.clone())));
        }
        if let Some(oidc) = state.identity.oidc() {
            registry.register_collector(Box::new(collectors::IdpMetrics(oidc.clone())));
        }
        if let Some(mcp) = &state.mcp {
            registry.register_collector(Box::new(collectors::IndexMetrics {
                index: mcp.index.clone(),
                repos: mcp.repos.iter().map(|r| r.name.clone()).collect(),
            }));
        }
        let mirror = state.access.as_ref().map(|access| {
            let collector = Arc::new(collectors::MirrorMetrics::default());
            registry.register_collector(Box::new(SharedCollector(collector.clone())));
            let exceptions = Arc::new(collectors::ExceptionMetrics::default());
            registry.register_collector(Box::new(SharedCollector(exceptions.clone())));
            (access.clone(), collector, exceptions)
        });
        registry.register_collector(Box::new(process::ProcessMetrics::new()));
        Metrics::with_registry(registry, mirror, state.http_counters.clone())
    }

    fn with_registry(
        mut registry: Registry,
        mirror: Option<MirrorRefresh>,
        counters: HttpCounters,
    ) -> Metrics {
        let HttpCounters {
            requests,
            durations,
        } = counters;
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, to the first byte",
            durations.clone(),
        );
        Metrics {
            registry: Arc::new(registry),
            requests,
            durations,
            mirror,
        }
    }

    /// Reads what only an asynchronous call can (the permission mirror's freshness),
    /// before a scrape is rendered. A failure leaves the previous reading.
    pub async fn refresh(&self) {
        if let Some((access, collector, exceptions)) = &self.mirror {
            match access.mirror_freshness().await {
                Ok(hosts) => {
                    if let Ok(mut held) = collector.0.lock() {
                        *held = hosts;
                    }
                }
                Err(error) => tracing::warn!(%error, "permission mirror freshness unavailable"),
            }
            match access.store().exceptions(None).await {
                Ok(all) => {
                    if let Ok(mut held) = exceptions.0.lock() {
                        *held = Some(collectors::ExceptionCounts::of(&all, access.now()));
                    }
                }
                Err(error) => tracing::warn!(%error, "exceptions unavailable for the metrics"),
            }
        }
    }

    /// The OpenMetrics text format (for scrapers that ask for it).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(%error, "metrics encoding failed");
        }
        out
    }

    /// The Prometheus text format 0.0.4, what Prometheus and `promtool` read by default.
    pub fn render_prometheus(&self) -> String {
        to_prometheus_text(&self.render())
    }
}

/// OpenMetrics text as Prometheus text 0.0.4: a counter's HELP and TYPE name its
/// samples (`x_total`, where OpenMetrics names the family `x`); no `# EOF` or `# UNIT`.
fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(line) => out.push_str(&line),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

pub async fn track(State(metrics): State<Metrics>, request: Request<Body>, next: Next) -> Response {
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    metrics
        .durations
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

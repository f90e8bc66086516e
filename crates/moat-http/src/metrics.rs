//! Prometheus metrics, owned by the app (no global registry), served at `/metrics`.

use axum::body::Body;
use axum::extract::{MatchedPath, State};
use axum::http::Request;
use axum::middleware::Next;
use axum::response::Response;
use moat_service::audit::sinks::SinkStatus;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
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

#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram>,
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::with_sinks(Vec::new())
    }

    /// Metrics that also report each audit sink's lag, deliveries and failures.
    pub fn with_sinks(sinks: Vec<Arc<SinkStatus>>) -> Metrics {
        let mut registry = Registry::with_prefix("moat");
        if !sinks.is_empty() {
            registry.register_collector(Box::new(SinkMetrics(sinks)));
        }
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        let durations = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 18))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, to the first byte",
            durations.clone(),
        );
        Metrics {
            registry: Arc::new(registry),
            requests,
            durations,
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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabels {
    sink: String,
    kind: String,
}

/// A sink family: its name, its help and how to read its value off a sink's status.
type SinkSample<T> = (&'static str, &'static str, fn(&SinkStatus) -> T);

/// Each audit sink's state, read at scrape time from what its task updates.
#[derive(Debug)]
struct SinkMetrics(Vec<Arc<SinkStatus>>);

impl Collector for SinkMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let labels: Vec<SinkLabels> = self
            .0
            .iter()
            .map(|s| SinkLabels {
                sink: s.name.clone(),
                kind: s.kind.to_string(),
            })
            .collect();
        let gauges: [SinkSample<i64>; 2] = [
            (
                "audit_sink_lag_events",
                "Events durable in the audit log and not yet delivered to the sink",
                |s| i64::try_from(s.lag()).unwrap_or(i64::MAX),
            ),
            (
                "audit_sink_failing",
                "1 while the sink's last delivery failed (it is being retried), else 0",
                |s| i64::from(s.last_error().is_some()),
            ),
        ];
        for (name, help, value) in gauges {
            let mut family = encoder.encode_descriptor(
                name,
                help,
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for (status, labels) in self.0.iter().zip(&labels) {
                ConstGauge::new(value(status)).encode(family.encode_family(labels)?)?;
            }
        }
        let counters: [SinkSample<u64>; 2] = [
            (
                "audit_sink_delivered_events",
                "Events delivered to the sink since the server started",
                SinkStatus::delivered,
            ),
            (
                "audit_sink_failures",
                "Failed deliveries to the sink since the server started",
                SinkStatus::failures,
            ),
        ];
        for (name, help, value) in counters {
            let mut family = encoder.encode_descriptor(
                name,
                help,
                None,
                prometheus_client::metrics::MetricType::Counter,
            )?;
            for (status, labels) in self.0.iter().zip(&labels) {
                ConstCounter::new(value(status)).encode(family.encode_family(labels)?)?;
            }
        }
        Ok(())
    }
}

//! Logs to stderr (text or JSON, `MOAT_LOG` overriding the level) and, for `moat serve`
//! with `[server] otlp_endpoint`, one OpenTelemetry span per request (target
//! `moat::request`, see `moat_http`'s `trace`) over OTLP/HTTP. Off by default.

use crate::cli::LogFormatArg;
use moat_config::LogFormat;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// Holds the trace exporter, if any, until the process ends.
#[must_use]
pub struct Logging {
    traces: Option<SdkTracerProvider>,
}

impl Logging {
    /// Sends the spans still batched (the last requests' traces would be lost).
    pub fn shutdown(self) {
        if let Some(provider) = self.traces
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "the last traces could not be sent");
        }
    }
}

pub fn init(
    flag: Option<LogFormatArg>,
    configured: Option<LogFormat>,
    default_level: &str,
    otlp_endpoint: Option<&str>,
) -> Logging {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MOAT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let json = match flag {
        Some(LogFormatArg::Json) => true,
        Some(LogFormatArg::Text) => false,
        None => configured == Some(LogFormat::Json),
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = vec![if json {
        fmt.json().with_filter(filter).boxed()
    } else {
        fmt.with_filter(filter).boxed()
    }];
    let traces = otlp_endpoint.and_then(|endpoint| match exporter(endpoint) {
        Ok(provider) => {
            let tracer = provider.tracer("moat");
            layers.push(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    .with_location(false)
                    .with_threads(false)
                    .with_tracked_inactivity(false)
                    .with_target(false)
                    // Requests and tool calls only: never the exporter's own HTTP.
                    .with_filter(Targets::new().with_target("moat::request", tracing::Level::INFO))
                    .boxed(),
            );
            Some(provider)
        }
        Err(error) => {
            eprintln!("warning: traces are not sent to {endpoint}: {error}");
            None
        }
    });
    let _ = tracing_subscriber::registry().with(layers).try_init();
    Logging { traces }
}

fn exporter(endpoint: &str) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .with_timeout(std::time::Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    Ok(SdkTracerProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name("moat")
                .with_attribute(opentelemetry::KeyValue::new(
                    "service.version",
                    env!("CARGO_PKG_VERSION"),
                ))
                .build(),
        )
        .with_batch_exporter(exporter)
        .build())
}

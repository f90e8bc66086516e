//! What the operator metrics cost on the request path (issue #19): one gateway
//! request's counters, histograms and redaction counts, one MCP call's, and a whole
//! scrape's encoding, with realistic label sets already present.

use criterion::{Criterion, criterion_group, criterion_main};
use moat_service::Telemetry;
use moat_service::gateway::{ModelSpec, RequestRecord, Route, VendorKind, VendorSpec};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

fn record() -> RequestRecord {
    let vendor = Arc::new(VendorSpec {
        name: "anthropic".into(),
        kind: VendorKind::Anthropic,
        base_url: "https://api.anthropic.com".into(),
        api_key: String::new(),
        api_version: None,
        token_file: None,
        replicas: None,
        aws: None,
        vertex: None,
        region: "us".into(),
        on_prem: false,
        attestations: Default::default(),
        expires: Default::default(),
    });
    let model = Arc::new(ModelSpec {
        alias: "claude".into(),
        vendor: "anthropic".into(),
        version: "claude-sonnet-4-5-20250929".into(),
        teams: vec![],
        fallback: None,
        options: vec![],
        responses_api: false,
    });
    RequestRecord {
        endpoint: "messages".into(),
        alias: Some("claude".into()),
        route: Some(Route {
            model,
            vendor,
            exceptions: Vec::new(),
        }),
        status: 200,
        latency: Duration::from_millis(420),
        first_byte: Some(Duration::from_millis(180)),
        tokens_in: 1_850,
        tokens_out: 320,
        redactions: BTreeMap::from([
            ("aws-access-key-id".to_string(), 1),
            ("email".to_string(), 2),
        ]),
        ..RequestRecord::default()
    }
}

fn telemetry(c: &mut Criterion) {
    let telemetry = Telemetry::default();
    let record = record();
    let mcp_redactions = BTreeMap::from([("email".to_string(), 1_u64)]);
    // Label sets present already, as in a server that has been up a while.
    for tool in ["search_code", "get_symbol", "read_source", "repo_overview"] {
        telemetry.mcp_call(tool, "ok", Duration::from_millis(3), &mcp_redactions);
    }
    telemetry.gateway_request(&record, "answered", "claude");

    c.bench_function("telemetry/gateway_request", |b| {
        b.iter(|| telemetry.gateway_request(black_box(&record), "answered", "claude"))
    });
    c.bench_function("telemetry/mcp_call", |b| {
        b.iter(|| {
            telemetry.mcp_call(
                black_box("search_code"),
                "ok",
                Duration::from_micros(2_500),
                &mcp_redactions,
            )
        })
    });
    let mut registry = prometheus_client::registry::Registry::with_prefix("moat");
    telemetry.register(&mut registry);
    c.bench_function("telemetry/encode_scrape", |b| {
        b.iter(|| {
            let mut out = String::new();
            prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
            black_box(out.len())
        })
    });
}

criterion_group!(benches, telemetry);
criterion_main!(benches);

//! The operator's instruments that use cases keep as they work: MCP calls, gateway
//! requests, tokens, time to first byte, redactions and refusals. Plain atomics
//! (prometheus-client's types); the HTTP edge registers them and serves `/metrics`.
//!
//! Labels are bounded: tools, configured model aliases and vendors, HTTP statuses,
//! rule ids and refusal rules, never anything a caller typed.

use crate::gateway::RequestRecord;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabels {
    tool: String,
    /// `ok`, `denied`, `bad_request`, `index_error` or `unrecorded`.
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolName {
    tool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GatewayLabels {
    /// The configured alias that answered or was asked for; `other` for an alias
    /// that is not configured.
    model: String,
    vendor: String,
    status: u16,
    /// `answered`, `refused`, `failed` or `aborted`.
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    model: String,
    vendor: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    model: String,
    vendor: String,
    /// `in` (prompt) or `out` (completion).
    direction: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RedactionLabels {
    /// `mcp` or `gateway`.
    surface: String,
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    /// The refusal's rule, as in the audit event (`gateway.egress`, ...).
    reason: String,
}

/// Shared by the MCP endpoint and the gateway; cheap to clone (handles to atomics).
#[derive(Clone, Debug)]
pub struct Telemetry {
    mcp_calls: Family<ToolLabels, Counter>,
    mcp_seconds: Family<ToolName, Histogram>,
    gateway_requests: Family<GatewayLabels, Counter>,
    gateway_seconds: Family<RouteLabels, Histogram>,
    gateway_first_byte: Family<RouteLabels, Histogram>,
    gateway_tokens: Family<TokenLabels, Counter>,
    gateway_refusals: Family<RefusalLabels, Counter>,
    redactions: Family<RedactionLabels, Counter>,
}

fn latency_buckets() -> Histogram {
    // 0.5 ms to about 65 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 18))
}

impl Default for Telemetry {
    fn default() -> Telemetry {
        Telemetry {
            mcp_calls: Family::default(),
            mcp_seconds: Family::new_with_constructor(latency_buckets),
            gateway_requests: Family::default(),
            gateway_seconds: Family::new_with_constructor(latency_buckets),
            gateway_first_byte: Family::new_with_constructor(latency_buckets),
            gateway_tokens: Family::default(),
            gateway_refusals: Family::default(),
            redactions: Family::default(),
        }
    }
}

impl Telemetry {
    /// Adds every instrument to `registry` (prefixed there, e.g. `moat_`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "mcp_calls",
            "MCP tool calls by tool and outcome",
            self.mcp_calls.clone(),
        );
        registry.register(
            "mcp_call_duration_seconds",
            "Time to answer an MCP tool call, its audit event included",
            self.mcp_seconds.clone(),
        );
        registry.register(
            "gateway_requests",
            "Gateway requests by model, vendor, HTTP status and outcome",
            self.gateway_requests.clone(),
        );
        registry.register(
            "gateway_request_duration_seconds",
            "Time from a gateway request to the end of its answer",
            self.gateway_seconds.clone(),
        );
        registry.register(
            "gateway_time_to_first_byte_seconds",
            "Time from a gateway request to the vendor's first byte",
            self.gateway_first_byte.clone(),
        );
        registry.register(
            "gateway_tokens",
            "Tokens sent to (in) and received from (out) vendors",
            self.gateway_tokens.clone(),
        );
        registry.register(
            "gateway_refusals",
            "Gateway requests refused, by the rule that refused them (gateway.egress: code that may not go to the vendor)",
            self.gateway_refusals.clone(),
        );
        registry.register(
            "redactions",
            "Sensitive values redacted before leaving, by surface and rule",
            self.redactions.clone(),
        );
    }

    /// One MCP tool call: its outcome, how long it took and what it redacted.
    pub fn mcp_call<'a>(
        &self,
        tool: &str,
        outcome: &str,
        took: Duration,
        redactions: impl IntoIterator<Item = (&'a String, &'a u64)>,
    ) {
        self.mcp_calls
            .get_or_create(&ToolLabels {
                tool: tool.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
        self.mcp_seconds
            .get_or_create(&ToolName {
                tool: tool.to_string(),
            })
            .observe(took.as_secs_f64());
        self.redacted("mcp", redactions);
    }

    /// One gateway request as it is recorded; `requested` is the configured model
    /// asked for (`other` for anything else), named when no route was taken.
    pub fn gateway_request(&self, record: &RequestRecord, outcome: &str, requested: &str) {
        let (model, vendor) = match &record.route {
            Some(route) => (route.model.alias.clone(), route.vendor.name.clone()),
            None => (requested.to_string(), "none".to_string()),
        };
        self.gateway_requests
            .get_or_create(&GatewayLabels {
                model: model.clone(),
                vendor: vendor.clone(),
                status: record.status,
                outcome: outcome.to_string(),
            })
            .inc();
        if let Some(refusal) = &record.refusal {
            self.gateway_refusals
                .get_or_create(&RefusalLabels {
                    reason: refusal.rule().to_string(),
                })
                .inc();
        }
        self.redacted("gateway", &record.redactions);
        if record.route.is_none() {
            return;
        }
        let route = RouteLabels {
            model: model.clone(),
            vendor: vendor.clone(),
        };
        self.gateway_seconds
            .get_or_create(&route)
            .observe(record.latency.as_secs_f64());
        if let Some(first_byte) = record.first_byte {
            self.gateway_first_byte
                .get_or_create(&route)
                .observe(first_byte.as_secs_f64());
        }
        for (direction, tokens) in [("in", record.tokens_in), ("out", record.tokens_out)] {
            self.gateway_tokens
                .get_or_create(&TokenLabels {
                    model: model.clone(),
                    vendor: vendor.clone(),
                    direction: direction.to_string(),
                })
                .inc_by(tokens);
        }
    }

    fn redacted<'a>(
        &self,
        surface: &str,
        redactions: impl IntoIterator<Item = (&'a String, &'a u64)>,
    ) {
        for (rule, count) in redactions {
            self.redactions
                .get_or_create(&RedactionLabels {
                    surface: surface.to_string(),
                    rule: rule.clone(),
                })
                .inc_by(*count);
        }
    }
}

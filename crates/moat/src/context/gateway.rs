//! The gateway's vendors, models, tier requirements and limits.

use super::{Context, secret};
use anyhow::Result;

impl Context {
    /// The gateway's vendors (credentials resolved now: a missing one stops the
    /// start), models, tier requirements and limits; `None` without `[[models]]`.
    pub fn gateway_settings(&self) -> Result<Option<moat_service::gateway::GatewaySettings>> {
        use moat_service::gateway::{GatewaySettings, Limits, from_config};
        let config = &self.config;
        if config.models.is_empty() {
            return Ok(None);
        }
        let mut vendors = Vec::new();
        for vendor in &config.vendors {
            let what = format!("vendor `{}` credential", vendor.name);
            let api_key = secret(vendor.key_env.as_deref(), vendor.key_file.as_deref(), &what)?
                .unwrap_or_default();
            vendors.push(from_config::vendor(vendor, api_key));
        }
        let models = config.models.iter().map(from_config::model).collect();
        let tiers = from_config::tiers(&config.tiers);
        let g = &config.gateway;
        Ok(Some(GatewaySettings {
            vendors,
            models,
            tiers,
            per_user: Limits {
                requests_per_minute: g.requests_per_minute,
                tokens_per_day: g.tokens_per_day,
            },
            per_team: g
                .teams
                .iter()
                .map(|(team, l)| {
                    (
                        team.clone(),
                        Limits {
                            requests_per_minute: l.requests_per_minute,
                            tokens_per_day: l.tokens_per_day,
                        },
                    )
                })
                .collect(),
            max_prompt_bytes: g
                .max_prompt_bytes
                .min(usize::try_from(config.server.max_body_bytes).unwrap_or(usize::MAX)),
            restore_placeholders: g.restore_placeholders,
            redact_answers: g.redact_answers,
            anthropic_beta: g.anthropic_beta.clone(),
            detect_min_matches: g.detect_min_matches,
            first_byte_timeout: g.first_byte_timeout.as_std(),
            attempts: g.attempts,
            policy_version: self.policy_version(),
            keep_bodies: config.audit.body_retention.seconds > 0,
            max_in_flight: g.max_in_flight,
            allow_binary: g.allow_binary,
            max_in_flight_per_user: g.max_in_flight_per_user,
            body_timeout: g.body_timeout.as_std(),
            request_deadline: g.request_deadline.as_std(),
            output_hold_tokens: g.output_hold_tokens,
        }))
    }
}

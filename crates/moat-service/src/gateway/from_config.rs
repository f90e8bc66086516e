//! The gateway's vendors, models and tier requirements as `moat.toml` states them
//! (credentials aside, which the caller resolves). One mapping, used by the gateway
//! that enforces them and by the written policy that describes them
//! (`policy_document`), so the two cannot say different things.

use super::{ModelSpec, TierEgress, VendorKind, VendorSpec};
use moat_domain::{Tier, UnixTime};
use std::collections::{BTreeMap, BTreeSet};

/// A vendor with `api_key` (empty where only its posture matters).
pub fn vendor(vendor: &moat_config::Vendor, api_key: String) -> VendorSpec {
    VendorSpec {
        name: vendor.name.clone(),
        kind: match vendor.kind {
            moat_config::VendorKind::Openai => VendorKind::OpenAi,
            moat_config::VendorKind::Anthropic => VendorKind::Anthropic,
            moat_config::VendorKind::OpenaiCompatible => VendorKind::OpenAiCompatible,
            moat_config::VendorKind::AzureOpenai => VendorKind::AzureOpenAi,
            moat_config::VendorKind::Bedrock => VendorKind::Bedrock,
            moat_config::VendorKind::Vertex => VendorKind::Vertex,
        },
        base_url: vendor.base_url.trim_end_matches('/').to_string(),
        api_key,
        api_version: vendor.api_version.clone(),
        token_file: vendor
            .token_file
            .as_deref()
            .map(super::credential::TokenFile::new),
        replicas: (!vendor.replicas.is_empty()).then(|| {
            let urls = std::iter::once(&vendor.base_url)
                .chain(&vendor.replicas)
                .map(|url| url.trim_end_matches('/').to_string())
                .collect();
            std::sync::Arc::new(super::replicas::Replicas::new(
                urls,
                vendor
                    .health_path
                    .clone()
                    .unwrap_or_else(|| "/v1/models".to_string()),
                vendor
                    .health_interval
                    .map_or(std::time::Duration::from_secs(10), |d| d.as_std()),
            ))
        }),
        aws: vendor.aws_region.as_deref().map(|region| {
            std::sync::Arc::new(super::aws::AwsSigner::from_environment(
                region,
                vendor.aws_profile.as_deref(),
            ))
        }),
        vertex: match (&vendor.gcp_project, &vendor.gcp_location) {
            (Some(project), Some(location)) => {
                let key_file = vendor
                    .credentials_file
                    .clone()
                    .or_else(|| std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS").map(Into::into));
                Some(std::sync::Arc::new(super::gcp::Vertex {
                    project: project.clone(),
                    location: location.clone(),
                    tokens: match key_file {
                        Some(file) => super::gcp::GcpTokens::new(&file),
                        None => super::gcp::GcpTokens::metadata_server(
                            &std::env::var("GCE_METADATA_HOST")
                                .ok()
                                .filter(|host| !host.trim().is_empty())
                                .map_or_else(
                                    || super::gcp::METADATA_SERVER.to_string(),
                                    // `host[:port]`, as Google's libraries read it.
                                    |host| format!("http://{}", host.trim()),
                                ),
                        ),
                    },
                }))
            }
            _ => None,
        },
        region: vendor.region.clone(),
        on_prem: vendor.on_prem,
        attestations: attestations(&vendor.attestations),
        expires: expiries(&vendor.attestations),
    }
}

/// When each attestation stops counting: the start of the day after its last (UTC).
/// Dates were checked when the configuration was read.
pub fn expiries(held: &moat_config::Attestations) -> BTreeMap<String, UnixTime> {
    held.expires
        .iter()
        .filter_map(|(attestation, last_day)| {
            let day = UnixTime::from_date(last_day)?;
            Some((attestation_name(*attestation), day.plus_seconds(86_400)))
        })
        .collect()
}

/// The attestations a vendor holds, by their configuration names.
pub fn attestations(held: &moat_config::Attestations) -> BTreeSet<String> {
    use moat_config::Attestation::*;
    [Soc2Type2, Iso27001, Baa, Dpa, ZeroRetention]
        .into_iter()
        .filter(|a| held.holds(*a))
        .map(attestation_name)
        .collect()
}

/// `soc2_type2`, `baa`, ...: an attestation's name in the configuration.
pub fn attestation_name(attestation: moat_config::Attestation) -> String {
    serde_json::to_value(attestation)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

pub fn model(model: &moat_config::Model) -> ModelSpec {
    ModelSpec {
        alias: model.alias.clone(),
        vendor: model.vendor.clone(),
        version: model.version.clone(),
        teams: model.teams.clone(),
        fallback: model.fallback.clone(),
        options: model.options.clone(),
        responses_api: model.api == moat_config::ModelApi::Responses,
    }
}

/// What each tier requires of a vendor, defaults filled in.
pub fn tiers(tiers: &moat_config::Tiers) -> BTreeMap<Tier, TierEgress> {
    Tier::ALL
        .iter()
        .map(|&tier| {
            let effective = tiers.effective(tier);
            (
                tier,
                TierEgress {
                    require: effective
                        .require
                        .iter()
                        .map(|a| attestation_name(*a))
                        .collect(),
                    on_prem_only: effective.on_prem_only,
                },
            )
        })
        .collect()
}

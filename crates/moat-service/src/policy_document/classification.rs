//! Data classification: what MCP shows of each tier, which vendors may receive it
//! (decided by the gateway's own egress check), each repository and vendor.

use super::sections::{capitalised, say};
use super::{Statement, english_list, quoted};
use crate::gateway::{egress_refusal, from_config};
use moat_config::Config;
use moat_domain::{Disclosure, Tier, UnixTime};

fn disclosure_words(disclosure: Disclosure) -> &'static str {
    match disclosure {
        Disclosure::Source => "source code",
        Disclosure::RedactedSource => "source code with secrets and personal data redacted",
        Disclosure::Signatures => "signatures and documentation, never bodies",
        Disclosure::Structure => "file and symbol names only",
    }
}

/// The configured vendors that may receive code of `repo`, decided as the gateway
/// decides.
fn receivers(config: &Config, repo: &moat_policy::OrgRepo, now: UnixTime) -> Vec<String> {
    let tiers = from_config::tiers(&config.tiers);
    config
        .vendors
        .iter()
        .map(|v| from_config::vendor(v, String::new()))
        .filter(|v| egress_refusal(v, repo, &tiers, now).is_none())
        .map(|v| v.name)
        .collect()
}

/// A repository of `tier` with nothing else to it: what a tier's rule alone allows.
fn bare_repo(config: &Config, tier: Tier) -> moat_policy::OrgRepo {
    moat_policy::OrgRepo {
        name: String::new(),
        tier,
        disclosure: config.tiers.effective(tier).mcp,
        tags: Vec::new(),
        region: None,
        source: moat_policy::PermissionSource::Static,
        host_readers: Vec::new(),
    }
}

pub(super) fn classification(config: &Config, now: UnixTime) -> Vec<Statement> {
    let mut out = Vec::new();
    for &tier in Tier::ALL {
        let rule = config.tiers.effective(tier);
        out.push(say(
            format!("tiers.{tier}.mcp"),
            format!(
                "From {tier} repositories, MCP discloses {}.",
                disclosure_words(rule.mcp)
            ),
        ));
        let required: Vec<String> = rule
            .require
            .iter()
            .map(|a| from_config::attestation_name(*a))
            .collect();
        out.push(say(
            format!("tiers.{tier}.require"),
            if required.is_empty() {
                format!("A vendor needs no attestation to receive {tier} code.")
            } else {
                format!(
                    "A vendor must hold {} to receive {tier} code.",
                    english_list(&quoted(&required), "")
                )
            },
        ));
        if rule.on_prem_only {
            out.push(say(
                format!("tiers.{tier}.on_prem_only"),
                format!(
                    "{} code goes only to on-premises vendors.",
                    capitalised(tier.as_str())
                ),
            ));
        }
        let receivers = receivers(config, &bare_repo(config, tier), now);
        out.push(say(
            format!("tiers.{tier}"),
            format!(
                "Of the configured vendors, {} may receive {tier} code.",
                english_list(&quoted(&receivers), "none")
            ),
        ));
    }
    out.push(say(
        "repos[].tags",
        "Code tagged `phi` also requires a BAA of the vendor; code tagged `pci` or `export-controlled` goes only to on-premises vendors.",
    ));
    // Each repository as the authorisation service and the gateway see it.
    let org_repos = crate::access_settings::from_config(config, None).repos;
    for (repo, org_repo) in config.repos.iter().zip(&org_repos) {
        let disclosure = org_repo.disclosure;
        let receivers = receivers(config, org_repo, now);
        out.push(say(
            format!("repos[name={}].tier", repo.name),
            format!(
                "Repository `{}` is {}{}{}: MCP discloses {}, and {} may receive its code.",
                repo.name,
                repo.tier,
                if repo.tags.is_empty() {
                    String::new()
                } else {
                    format!(", tagged {}", english_list(&quoted(&repo.tags), ""))
                },
                repo.region
                    .as_deref()
                    .map(|r| format!(", kept in region `{r}`"))
                    .unwrap_or_default(),
                disclosure_words(disclosure),
                english_list(&quoted(&receivers), "no vendor")
            ),
        ));
    }
    for vendor in &config.vendors {
        let expires = from_config::expiries(&vendor.attestations);
        let held: Vec<String> = from_config::attestations(&vendor.attestations)
            .into_iter()
            .map(|name| match expires.get(&name) {
                None => format!("`{name}`"),
                Some(until) if *until > now => {
                    format!("`{name}` until {}", until.plus_seconds(-86_400).to_date())
                }
                Some(until) => format!(
                    "`{name}` (expired on {}, so it no longer counts)",
                    until.plus_seconds(-86_400).to_date()
                ),
            })
            .collect();
        out.push(say(
            format!("vendors[name={}]", vendor.name),
            format!(
                "Vendor `{}` processes in region `{}`{} and holds {}{}.",
                vendor.name,
                vendor.region,
                if vendor.on_prem {
                    " inside the organisation's boundary (on premises)"
                } else {
                    ""
                },
                english_list(&held, "no attestation"),
                vendor
                    .attestations
                    .retention_days
                    .map(|days| format!("; it keeps what it receives {days} days"))
                    .unwrap_or_default()
            ),
        ));
    }
    out
}

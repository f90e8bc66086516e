//! Access and authentication, exceptions, incident response and training.

use super::sections::{capitalised, human, plural, say};
use super::{Statement, english_list, quoted};
use moat_config::{Config, PermissionSource};

pub(super) fn access(config: &Config, policies: Option<&str>) -> Vec<Statement> {
    let identity = &config.identity;
    let mut out = vec![match &identity.oidc {
        Some(oidc) => say(
            "identity.oidc.issuer",
            format!(
                "People sign in through the company identity provider at `{}`.",
                oidc.issuer
            ),
        ),
        None => say(
            "identity.oidc",
            "No identity provider is configured: administrators issue tokens and one-time sign-in links.",
        ),
    }];
    out.push(
        if identity.scim_token_env.is_some() || identity.scim_token_file.is_some() {
            say(
                "identity.scim_token_env",
                "The identity provider provisions and deprovisions people over SCIM; a deprovisioned or suspended person's tokens and sessions are refused from their next request.",
            )
        } else {
            say(
                "identity.scim_token_env",
                "People are added and removed by administrators (no SCIM); a suspended or removed person's tokens and sessions are refused from their next request.",
            )
        },
    );
    out.push(say(
        "identity.token_ttl",
        format!(
            "A Moat token lives {} unless issued for less, and never more than {} (`identity.token_max_ttl`); a rotated token keeps working {} beside its replacement (`identity.rotation_grace`).",
            human(identity.token_ttl), human(identity.token_max_ttl), human(identity.rotation_grace)
        ),
    ));
    out.push(say(
        "identity.oauth.access_token_ttl",
        format!(
            "A token a tool obtains by sign-in lives {}, renewed by a refresh token that lives {} (`identity.oauth.refresh_token_ttl`).",
            human(identity.oauth.access_token_ttl), human(identity.oauth.refresh_token_ttl)
        ),
    ));
    out.push(say(
        "console.idle_timeout",
        format!(
            "A console session ends after {} without use and {} after sign-in at the latest (`console.session_lifetime`).",
            human(config.console.idle_timeout), human(config.console.session_lifetime)
        ),
    ));
    let permissions = &config.permissions;
    for repo in &config.repos {
        let (key, text) = match repo.permissions {
            PermissionSource::Static => (
                format!("repos[name={}].permissions", repo.name),
                format!(
                    "Who may read `{}` is decided by the grants in this policy.",
                    repo.name
                ),
            ),
            PermissionSource::Github | PermissionSource::Gitlab => {
                let (host, interval, staleness) = match (
                    repo.permissions,
                    &permissions.github,
                    &permissions.gitlab,
                ) {
                    (PermissionSource::Github, Some(g), _) => {
                        ("github", g.sync_interval, g.max_staleness)
                    }
                    (PermissionSource::Gitlab, _, Some(g)) => {
                        ("gitlab", g.sync_interval, g.max_staleness)
                    }
                    (source, _, _) => {
                        let host = if source == PermissionSource::Github {
                            "github"
                        } else {
                            "gitlab"
                        };
                        out.push(say(
                            format!("repos[name={}].permissions", repo.name),
                            format!("`{}` follows {host} permissions, which are not configured (`permissions.{host}`): nobody can read it.", repo.name),
                        ));
                        continue;
                    }
                };
                (
                    format!("repos[name={}].permissions", repo.name),
                    format!(
                        "Who may read `{}` is mirrored from {host} every {} (`permissions.{host}.sync_interval`) and on webhooks; if the mirror is older than {} (`permissions.{host}.max_staleness`), nobody can read it.",
                        repo.name,
                        human(interval),
                        human(staleness)
                    ),
                )
            }
        };
        out.push(say(key, text));
    }
    if let Some(grants) = &permissions.static_grants {
        for (i, grant) in grants.grants.iter().enumerate() {
            let mut who = Vec::new();
            if !grant.teams.is_empty() {
                who.push(format!(
                    "the team{} {}",
                    plural(grant.teams.len()),
                    english_list(&quoted(&grant.teams), "")
                ));
            }
            if !grant.users.is_empty() {
                who.push(english_list(&quoted(&grant.users), ""));
            }
            let repos = if grant.repos.iter().any(|r| r == "*") {
                "every repository whose permissions are static".to_string()
            } else {
                english_list(&quoted(&grant.repos), "")
            };
            out.push(say(
                format!("permissions.static.grants[{i}]"),
                format!(
                    "{} may read {repos}.",
                    capitalised(&english_list(&who, "nobody"))
                ),
            ));
        }
    }
    if policies.is_some() {
        out.push(say(
            "permissions.policies_file",
            "The organisation's own Cedar policies apply on top of these rules, on every query, model call and administrative action.",
        ));
    }
    out
}

pub(super) fn exceptions(config: &Config) -> Vec<Statement> {
    let rules = &config.exceptions;
    vec![
        say(
            "exceptions.max_duration",
            format!(
                "A person may ask (or an administrator may ask for them), saying why, for at most {}, to read one repository or every repository of one tier the rules do not let them read, to use one approved model their teams may not, or to send code to one registered vendor whose attestations do not cover it; nothing else is granted by exception.",
                human(rules.max_duration)
            ),
        ),
        say(
            "exceptions.review_sla",
            format!(
                "A member of the security team who neither asked nor benefits approves or denies each request within {}; a request waiting longer is flagged overdue and raises an alert on the audit record.",
                human(rules.review_sla)
            ),
        ),
        say(
            "exceptions",
            "An approved exception names itself in every decision and audit event it allows, ends by itself at the end of its window, can be revoked at any time, and every step is on the audit record with the state before and after.",
        ),
    ]
}

pub(super) fn incidents(config: &Config) -> Vec<Statement> {
    let audit = &config.audit;
    let mut out = vec![say(
        "audit.retention",
        format!(
            "Every query, model call and administrative change is recorded in a tamper-evident log kept {}; prompts and answers themselves are kept {} (`audit.body_retention`).",
            human(audit.retention),
            human(audit.body_retention)
        ),
    )];
    let sinks: Vec<String> = audit.sinks.iter().map(|s| s.name.clone()).collect();
    out.push(say(
        "audit.sinks",
        if sinks.is_empty() {
            "The log is not forwarded to a SIEM.".to_string()
        } else {
            format!(
                "The log is forwarded as it is written to {}.",
                english_list(&quoted(&sinks), "")
            )
        },
    ));
    let witnesses = audit.witness_files.len() + audit.witness_urls.len();
    out.push(say(
        "audit.witness_files",
        match witnesses {
            0 => "No witness outside Moat's data directory keeps the log's signed checkpoints.".to_string(),
            1 => "One witness outside Moat's data directory keeps the log's signed checkpoints (`audit.witness_urls` too).".to_string(),
            n => format!("{n} witnesses outside Moat's data directory keep the log's signed checkpoints (`audit.witness_urls` too)."),
        },
    ));
    // `[alerts]` is read but nothing sends alerts yet: the document says what happens,
    // not what the file asks for.
    out.push(say(
        "alerts",
        "Moat sends no alerts of its own: incidents are found in the audit log and its forwarded copy, and vendor attestations within 30 and 7 days of their last day are recorded there as `vendor.attestation_expiring` events.",
    ));
    for vendor in &config.vendors {
        out.push(say(
            format!(
                "vendors[name={}].attestations.breach_notice_hours",
                vendor.name
            ),
            match vendor.attestations.breach_notice_hours {
                Some(hours) => format!(
                    "Vendor `{}` must notify a breach within {hours} hours.",
                    vendor.name
                ),
                None => format!(
                    "Vendor `{}` has no breach-notification period on record.",
                    vendor.name
                ),
            },
        ));
    }
    out
}

pub(super) fn training(config: &Config) -> Vec<Statement> {
    let training = &config.training;
    vec![if training.required {
        say(
            "training.required",
            format!(
                "Before they get code context or models, people must attest the training{}, renewed every {} (`training.renewal`).",
                training
                    .current_version
                    .as_deref()
                    .map(|v| format!(" version `{v}` (`training.current_version`)"))
                    .unwrap_or_default(),
                human(training.renewal)
            ),
        )
    } else {
        say(
            "training.required",
            "Moat does not require training before use.",
        )
    }]
}

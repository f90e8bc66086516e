//! Checks across sections: repositories and their permission sources, vendors and the
//! models that name them, and the organisation's DLP rules.

use super::{Problems, check_url, exactly_one_reference, is_slug};
use crate::locate::KeyPath;
use crate::model::{Config, VendorKind};
use std::collections::HashSet;

pub(super) fn check_dlp(config: &Config, p: &mut Problems) {
    let dlp = KeyPath::root().key("dlp");
    let mut seen = HashSet::new();
    for (index, rule) in config.dlp.rules.iter().enumerate() {
        let at = dlp.key("rules").index(index);
        if !is_slug(&rule.id) {
            p.add(
                at.key("id"),
                format!("`{}` is not a usable rule id", rule.id),
                "use lowercase letters, digits and `-`, e.g. `acme-employee-id`",
            );
        } else if !seen.insert(rule.id.as_str()) {
            p.add(
                at.key("id"),
                format!("rule `{}` is declared twice", rule.id),
                "give each [[dlp.rules]] entry its own id",
            );
        }
        // The detector compiles patterns this way (bytes, no Unicode classes).
        if let Err(error) = regex::bytes::RegexBuilder::new(&rule.pattern)
            .unicode(false)
            .size_limit(8 << 20)
            .build()
        {
            let reason = error
                .to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
                .to_string();
            p.add(at.key("pattern"), format!("the pattern does not compile: {reason}"), "write a regular expression in Rust `regex` syntax; use a capture group for the value");
        }
        if rule.keywords.iter().any(|k| k.trim().is_empty()) {
            p.add(
                at.key("keywords"),
                "an empty keyword",
                "remove it; a rule with no keywords runs on all text",
            );
        }
    }
    for (index, glob) in config.dlp.allow_paths.iter().enumerate() {
        if glob.trim().is_empty() {
            p.add(
                dlp.key("allow_paths").index(index),
                "an empty path glob",
                "remove it or write a glob such as `tests/fixtures/**`",
            );
        }
    }
}

pub(super) fn check_repos(config: &Config, p: &mut Problems) {
    let mut seen = HashSet::new();
    for (index, repo) in config.repos.iter().enumerate() {
        let at = KeyPath::root().key("repos").index(index);
        if !is_slug(&repo.name) {
            p.add(at.key("name"), format!("`{}` is not a usable repository name", repo.name), "use lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit (at most 64)");
        } else if !seen.insert(repo.name.as_str()) {
            p.add(
                at.key("name"),
                format!("repository `{}` is declared twice", repo.name),
                "give each [[repos]] entry its own name",
            );
        }
        if repo.source.trim().is_empty() {
            p.add(
                at.key("source"),
                "the source is empty",
                "write a local path to a git repository or a git URL",
            );
        }
        if repo.branch.is_some() && repo.pinned_ref.is_some() {
            p.add(
                at.key("ref"),
                "a repository follows a branch or is pinned to a ref, not both",
                "remove `branch` or `ref`",
            );
        }
        for (tag_index, tag) in repo.tags.iter().enumerate() {
            if !is_slug(tag) {
                p.add(
                    at.key("tags").index(tag_index),
                    format!("`{tag}` is not a usable tag"),
                    "use lowercase words joined by `-`, e.g. `phi`, `pci`, `export-controlled`",
                );
            }
        }
        for (glob_index, glob) in repo.exclude.iter().enumerate() {
            if glob.trim().is_empty() {
                p.add(
                    at.key("exclude").index(glob_index),
                    "an empty exclusion glob",
                    "remove it or write a glob such as `**/fixtures/**`",
                );
            }
        }
        let provider_missing = match repo.permissions {
            crate::PermissionSource::Static => false,
            crate::PermissionSource::Github => config.permissions.github.is_none(),
            crate::PermissionSource::Gitlab => config.permissions.gitlab.is_none(),
        };
        if provider_missing {
            let kind = serde_json::to_value(repo.permissions)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            p.add(at.key("permissions"), format!("permissions come from `{kind}` but there is no [permissions.{kind}] section"), format!("add [permissions.{kind}] with its API token reference, or use `permissions = \"static\"`"));
        }
    }
}

pub(super) fn check_permissions(config: &Config, p: &mut Problems) {
    let permissions = KeyPath::root().key("permissions");
    let names: HashSet<&str> = config.repos.iter().map(|r| r.name.as_str()).collect();
    if let Some(grants) = &config.permissions.static_grants {
        for (index, grant) in grants.grants.iter().enumerate() {
            let at = permissions.key("static").key("grants").index(index);
            for (repo_index, repo) in grant.repos.iter().enumerate() {
                if repo != "*" && !names.contains(repo.as_str()) {
                    p.add(
                        at.key("repos").index(repo_index),
                        format!("no repository named `{repo}`"),
                        "name a repository declared in [[repos]], or `\"*\"` for all",
                    );
                }
            }
            if grant.teams.is_empty() && grant.users.is_empty() {
                p.add(
                    at.key("repos"),
                    "this grant names no team and no user",
                    "add `teams = [...]` or `users = [...]`",
                );
            }
        }
    }
    if let Some(github) = &config.permissions.github {
        let at = permissions.key("github");
        check_url(p, at.key("api_url"), &github.api_url);
        exactly_one_reference(
            p,
            &at,
            "token",
            github.token_env.is_some(),
            github.token_file.is_some(),
            true,
        );
        exactly_one_reference(
            p,
            &at,
            "webhook_secret",
            github.webhook_secret_env.is_some(),
            github.webhook_secret_file.is_some(),
            false,
        );
        check_oauth_app(
            p,
            &at,
            github.oauth_client_id.is_some(),
            github.oauth_client_secret_env.is_some(),
            github.oauth_client_secret_file.is_some(),
        );
    }
    if let Some(gitlab) = &config.permissions.gitlab {
        let at = permissions.key("gitlab");
        check_url(p, at.key("api_url"), &gitlab.api_url);
        exactly_one_reference(
            p,
            &at,
            "token",
            gitlab.token_env.is_some(),
            gitlab.token_file.is_some(),
            true,
        );
        check_oauth_app(
            p,
            &at,
            gitlab.oauth_client_id.is_some(),
            gitlab.oauth_client_secret_env.is_some(),
            gitlab.oauth_client_secret_file.is_some(),
        );
        exactly_one_reference(
            p,
            &at,
            "webhook_token",
            gitlab.webhook_token_env.is_some(),
            gitlab.webhook_token_file.is_some(),
            false,
        );
    }
}

pub(super) fn check_vendors_and_models(config: &Config, p: &mut Problems) {
    let mut vendors = HashSet::new();
    for (index, vendor) in config.vendors.iter().enumerate() {
        let at = KeyPath::root().key("vendors").index(index);
        if !is_slug(&vendor.name) {
            p.add(
                at.key("name"),
                format!("`{}` is not a usable vendor name", vendor.name),
                "use lowercase letters, digits, `.`, `_` and `-`",
            );
        } else if !vendors.insert(vendor.name.as_str()) {
            p.add(
                at.key("name"),
                format!("vendor `{}` is declared twice", vendor.name),
                "give each [[vendors]] entry its own name",
            );
        }
        check_url(p, at.key("base_url"), &vendor.base_url);
        let azure = vendor.kind == VendorKind::AzureOpenai;
        let bedrock = vendor.kind == VendorKind::Bedrock;
        let key_required = !matches!(
            vendor.kind,
            VendorKind::OpenaiCompatible | VendorKind::Bedrock | VendorKind::Vertex
        );
        check_bedrock(p, &at, vendor, bedrock);
        check_vertex(p, &at, vendor);
        let token = vendor.token_file.is_some();
        let key = vendor.key_env.is_some() || vendor.key_file.is_some();
        if token && !azure {
            p.add(
                at.key("token_file"),
                "`token_file` is for `kind = \"azure-openai\"` only",
                "give this vendor its key with `key_env` or `key_file`",
            );
        }
        if azure && token && key {
            p.add(
                at.key("token_file"),
                "both a key and `token_file` are set",
                "keep the key (`key_env`/`key_file`, sent as `api-key`) or the Entra ID token file (sent as a bearer token), not both",
            );
        }
        exactly_one_reference(
            p,
            &at,
            "key",
            vendor.key_env.is_some(),
            vendor.key_file.is_some(),
            key_required && !(azure && token),
        );
        let pooled = !vendor.replicas.is_empty();
        if pooled && vendor.kind != VendorKind::OpenaiCompatible {
            p.add(
                at.key("replicas"),
                "`replicas` is for `kind = \"openai-compatible\"` only",
                "list the other hosts of an on-premises server; a cloud vendor balances its own",
            );
        }
        for (i, url) in vendor.replicas.iter().enumerate() {
            check_url(p, at.key("replicas").index(i), url);
            if url.trim_end_matches('/') == vendor.base_url.trim_end_matches('/')
                || vendor.replicas[..i].contains(url)
            {
                p.add(
                    at.key("replicas").index(i),
                    format!("`{url}` is listed twice"),
                    "list each host once: `base_url` and then the others",
                );
            }
        }
        if let Some(path) = &vendor.health_path
            && (!path.starts_with('/') || path.contains(['?', '#', ' ']))
        {
            p.add(
                at.key("health_path"),
                format!("`{path}` is not a path"),
                "write the path each host answers health checks on, e.g. `/health` or `/v1/models`",
            );
        }
        if let Some(every) = vendor.health_interval
            && !(1..=3600).contains(&every.seconds)
        {
            p.add(
                at.key("health_interval"),
                "a health check interval must be between 1 second and an hour",
                "e.g. `health_interval = \"10s\"`",
            );
        }
        if (vendor.health_path.is_some() || vendor.health_interval.is_some()) && !pooled {
            p.add(
                at.key(if vendor.health_path.is_some() {
                    "health_path"
                } else {
                    "health_interval"
                }),
                "health checks are for a vendor with `replicas`",
                "list the other hosts in `replicas`, or remove the health settings",
            );
        }
        match (&vendor.api_version, azure) {
            (None, true) => p.add(
                at.key("api_version"),
                "an Azure OpenAI vendor needs its `api_version`",
                "write the API version the deployments serve, e.g. `api_version = \"2024-10-21\"`",
            ),
            (Some(version), true)
                if version.is_empty()
                    || !version
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') =>
            {
                p.add(
                    at.key("api_version"),
                    format!("`{version}` is not an API version"),
                    "write it as Azure names it, e.g. `2024-10-21` or `2025-04-01-preview`",
                )
            }
            (Some(_), false) => p.add(
                at.key("api_version"),
                "`api_version` is for `kind = \"azure-openai\"` only",
                "remove it",
            ),
            _ => {}
        }
        if vendor.region.trim().is_empty() {
            p.add(
                at.key("region"),
                "the region is empty",
                "write where the vendor processes data, e.g. `region = \"us\"`",
            );
        }
    }
    let aliases: HashSet<&str> = config.models.iter().map(|m| m.alias.as_str()).collect();
    let mut seen = HashSet::new();
    for (index, model) in config.models.iter().enumerate() {
        let at = KeyPath::root().key("models").index(index);
        if model.alias.trim().is_empty() {
            p.add(
                at.key("alias"),
                "the alias is empty",
                "write the model name clients will ask for",
            );
        } else if !seen.insert(model.alias.as_str()) {
            p.add(
                at.key("alias"),
                format!("model alias `{}` is declared twice", model.alias),
                "give each [[models]] entry its own alias",
            );
        }
        if !vendors.contains(model.vendor.as_str()) {
            p.add(
                at.key("vendor"),
                format!("no vendor named `{}`", model.vendor),
                "name a vendor declared in [[vendors]]",
            );
        }
        if model.api == crate::ModelApi::Responses
            && let Some(vendor) = config.vendors.iter().find(|v| v.name == model.vendor)
            && !matches!(
                vendor.kind,
                crate::VendorKind::Openai
                    | crate::VendorKind::AzureOpenai
                    | crate::VendorKind::OpenaiCompatible
            )
        {
            p.add(
                at.key("api"),
                format!(
                    "`api = \"responses\"` is for models of OpenAI-format vendors, and `{}` is not one",
                    model.vendor
                ),
                "remove `api`, or name a vendor of kind openai, azure-openai or openai-compatible",
            );
        }
        let version = model.version.trim();
        if version.is_empty() || version == "latest" || version.ends_with("-latest") {
            p.add(
                at.key("version"),
                format!("`{}` is not a pinned version", model.version),
                "write the vendor's dated model version, e.g. `claude-sonnet-4-5-20250929`",
            );
        }
        if let Some(fallback) = &model.fallback
            && (fallback == &model.alias || !aliases.contains(fallback.as_str()))
        {
            p.add(
                at.key("fallback"),
                format!("`{fallback}` is not another declared model"),
                "name the alias of a different [[models]] entry, or remove `fallback`",
            );
        }
        for option in &model.options {
            if !MODEL_OPTIONS.contains(&option.as_str()) {
                p.add(
                    at.key("options"),
                    format!("`{option}` is not an option Moat governs"),
                    format!("use some of: {}", MODEL_OPTIONS.join(", ")),
                );
            }
        }
        // A response can be continued only where the vendor kept it.
        if model.options.iter().any(|o| o == "previous_response_id")
            && !model.options.iter().any(|o| o == "store")
        {
            p.add(
                at.key("options"),
                "`previous_response_id` is allowed without `store`: the vendor keeps no response to continue",
                "add `store` to the same options, or remove `previous_response_id`",
            );
        }
    }
}

/// Bedrock signs with AWS credentials for one AWS region: it needs the region and takes
/// no key; the AWS settings are for Bedrock only.
fn check_bedrock(p: &mut Problems, at: &KeyPath, vendor: &crate::Vendor, bedrock: bool) {
    check_signed_url(p, at, vendor, bedrock);
    if bedrock && (vendor.key_env.is_some() || vendor.key_file.is_some()) {
        p.add(
            at.key(if vendor.key_env.is_some() { "key_env" } else { "key_file" }),
            "a Bedrock vendor takes no key: requests are signed with AWS credentials",
            "remove the key; give Moat AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile of ~/.aws/credentials, or the instance's role)",
        );
    }
    match (&vendor.aws_region, bedrock) {
        (None, true) => p.add(
            at.key("aws_region"),
            "a Bedrock vendor needs its `aws_region`",
            "write the AWS region its models run in, e.g. `aws_region = \"us-east-1\"`",
        ),
        (Some(region), true)
            if region.is_empty()
                || !region
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') =>
        {
            p.add(
                at.key("aws_region"),
                format!("`{region}` is not an AWS region"),
                "write it as AWS names it, e.g. `us-east-1` or `eu-central-1`",
            )
        }
        (Some(_), false) => p.add(
            at.key("aws_region"),
            "`aws_region` is for `kind = \"bedrock\"` only",
            "remove it",
        ),
        _ => {}
    }
    if vendor.aws_profile.is_some() && !bedrock {
        p.add(
            at.key("aws_profile"),
            "`aws_profile` is for `kind = \"bedrock\"` only",
            "remove it",
        );
    }
}

/// Vertex authenticates as a service account for one project and location: it needs
/// both and takes no key; the Google settings are for Vertex only.
fn check_vertex(p: &mut Problems, at: &KeyPath, vendor: &crate::Vendor) {
    let vertex = vendor.kind == VendorKind::Vertex;
    check_signed_url(p, at, vendor, vertex);
    if vertex && (vendor.key_env.is_some() || vendor.key_file.is_some()) {
        p.add(
            at.key(if vendor.key_env.is_some() { "key_env" } else { "key_file" }),
            "a Vertex vendor takes no key: requests carry a service account's access token",
            "remove the key; name the service account's key file in `credentials_file` (or GOOGLE_APPLICATION_CREDENTIALS)",
        );
    }
    let named = |value: &Option<String>| {
        value.as_deref().is_some_and(|v| {
            !v.is_empty()
                && v.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
    };
    for (key, value, example) in [
        (
            "gcp_project",
            &vendor.gcp_project,
            "gcp_project = \"acme-ml-prod\"",
        ),
        (
            "gcp_location",
            &vendor.gcp_location,
            "gcp_location = \"us-east5\"",
        ),
    ] {
        match (value, vertex) {
            (None, true) => p.add(
                at.key(key),
                format!("a Vertex vendor needs its `{key}`"),
                format!("e.g. `{example}`"),
            ),
            (Some(v), true) if !named(value) => p.add(
                at.key(key),
                format!("`{v}` is not a Google Cloud name"),
                format!("write it as Google Cloud names it, e.g. `{example}`"),
            ),
            (Some(_), false) => p.add(
                at.key(key),
                format!("`{key}` is for `kind = \"vertex\"` only"),
                "remove it",
            ),
            _ => {}
        }
    }
    if vendor.credentials_file.is_some() && !vertex {
        p.add(
            at.key("credentials_file"),
            "`credentials_file` is for `kind = \"vertex\"` only",
            "remove it",
        );
    }
}

/// A cloud called with signed requests or access tokens is called over TLS (plain
/// http only to this machine).
fn check_signed_url(p: &mut Problems, at: &KeyPath, vendor: &crate::Vendor, signed: bool) {
    let url = vendor.base_url.as_str();
    // The host of `http://host[:port]/…` (no credentials in it), when it is this machine.
    let loopback = url.strip_prefix("http://").is_some_and(|rest| {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.split(':').next().unwrap_or_default(),
        };
        !authority.contains('@')
            && (host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback()))
    });
    if signed && !url.starts_with("https://") && !loopback {
        p.add(
            at.key("base_url"),
            "a Bedrock or Vertex vendor is called over https",
            "write its https address, e.g. `https://bedrock-runtime.us-east-1.amazonaws.com`",
        );
    }
}

/// Request options that change what a vendor does or keeps, allowed per model.
const MODEL_OPTIONS: &[&str] = &[
    "store",
    "n",
    "service_tier",
    "modalities",
    "audio",
    "web_search_options",
    "container",
    "mcp_servers",
    "context_management",
    "previous_response_id",
    "prompt_cache_retention",
    "shell",
    "web_search",
    "file_search",
    "code_interpreter",
    "mcp",
    "image_generation",
    "computer_use",
];

/// A host's OAuth app for people's sign-in: a client id needs its secret, and a secret
/// needs its client id.
fn check_oauth_app(p: &mut Problems, at: &KeyPath, id: bool, env: bool, file: bool) {
    if id {
        exactly_one_reference(p, at, "oauth_client_secret", env, file, true);
    } else if env || file {
        p.add(
            at.key("oauth_client_id"),
            "an OAuth client secret is set without its client id",
            "add `oauth_client_id` (the OAuth app people sign in to the host with) or remove the secret",
        );
    }
}

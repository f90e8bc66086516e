//! Checks that need more than one key at a time: references between sections, mutually
//! exclusive keys, secrets written in clear. Each finding names the key to fix.

mod attestations;
mod references;
mod sinks;

pub use sinks::is_loopback;

use crate::locate::KeyPath;
use crate::model::{Config, StoreBackend};
use std::path::PathBuf;

/// One thing wrong with the configuration, before it is placed on a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: KeyPath,
    pub message: String,
    pub hint: Option<String>,
}

pub(crate) struct Problems(Vec<Problem>);

impl Problems {
    pub(crate) fn add(
        &mut self,
        key: KeyPath,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        let hint: String = hint.into();
        self.0.push(Problem {
            key,
            message: message.into(),
            hint: (!hint.is_empty()).then_some(hint),
        });
    }
}

/// Prefixes of credentials that must never be written into `moat.toml` in clear.
const SECRET_PREFIXES: &[&str] = &[
    "sk-",
    "sk_live_",
    "rk_live_",
    "ghp_",
    "gho_",
    "ghs_",
    "ghu_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "AKIA",
    "ASIA",
    "moat_",
    "-----BEGIN",
];

pub fn secrets_in_clear(values: &[(KeyPath, &str)]) -> Vec<Problem> {
    let mut problems = Problems(Vec::new());
    for (key, value) in values {
        let credential_shaped = value.len() >= 16 && !value.contains(char::is_whitespace);
        let looks_secret = value.starts_with("-----BEGIN")
            || (credential_shaped
                && SECRET_PREFIXES
                    .iter()
                    .any(|prefix| value.starts_with(prefix)));
        if looks_secret {
            problems.add(
                key.clone(),
                "this value looks like a credential written in clear",
                "secrets are never written in moat.toml: put it in an environment variable or a file and reference it, e.g. `key_env = \"ANTHROPIC_API_KEY\"`",
            );
        }
    }
    problems.0
}

pub fn check(config: &Config) -> Vec<Problem> {
    let mut p = Problems(Vec::new());
    let root = KeyPath::root();

    if config.org.name.trim().is_empty() {
        p.add(
            root.key("org").key("name"),
            "the organisation name is empty",
            "write the name auditors will see, e.g. `name = \"Example Health\"`",
        );
    }
    check_server(config, &mut p);
    check_store(config, &mut p);
    check_identity(config, &mut p);
    check_audit(config, &mut p);
    references::check_repos(config, &mut p);
    references::check_permissions(config, &mut p);
    references::check_vendors_and_models(config, &mut p);
    attestations::check_attestations(config, &mut p);
    if config.training.required && config.training.current_version.is_none() {
        p.add(
            root.key("training").key("current_version"),
            "training is required but no current version is set",
            "write `current_version = \"2026.1\"` (the version people attest to)",
        );
    }
    check_env_names(config, &mut p);
    references::check_dlp(config, &mut p);
    sinks::check_sinks(config, &mut p);
    check_gateway(config, &mut p);
    check_console(config, &mut p);
    check_exceptions(config, &mut p);
    check_incidents(config, &mut p);
    check_detect(config, &mut p);
    p.0
}

/// `[console]`: an idle timeout from a minute to a day, a lifetime from five minutes to
/// a week, and the idle timeout no longer than the lifetime.
fn check_console(config: &Config, p: &mut Problems) {
    let key = KeyPath::root().key("console");
    let console = &config.console;
    let (idle, life) = (
        console.idle_timeout.seconds,
        console.session_lifetime.seconds,
    );
    if !(60..=86_400).contains(&idle) {
        p.add(
            key.key("idle_timeout"),
            "idle_timeout must lie between 60 s and 86400 s",
            "write for example \"30m\"",
        );
    }
    if !(300..=7 * 86_400).contains(&life) {
        p.add(
            key.key("session_lifetime"),
            "session_lifetime must lie between 300 s and 604800 s",
            "write for example \"8h\"",
        );
    } else if idle > life {
        p.add(
            key.key("idle_timeout"),
            "idle_timeout is longer than session_lifetime, so it never applies",
            "make idle_timeout shorter than session_lifetime, e.g. \"30m\" and \"8h\"",
        );
    }
}

/// `[exceptions]`: at most a year long, reviewed within an hour to thirty days.
fn check_exceptions(config: &Config, p: &mut Problems) {
    let key = KeyPath::root().key("exceptions");
    let rules = &config.exceptions;
    if !(3_600..=365 * 86_400).contains(&rules.max_duration.seconds) {
        p.add(
            key.key("max_duration"),
            "max_duration must lie between 1h and 365d",
            "write for example \"30d\"",
        );
    }
    if !(3_600..=30 * 86_400).contains(&rules.review_sla.seconds) {
        p.add(
            key.key("review_sla"),
            "review_sla must lie between 1h and 30d",
            "write for example \"2d\"",
        );
    }
}

/// `[incidents]`: deadlines from a minute to a year, each class once, whom in words.
fn check_incidents(config: &Config, p: &mut Problems) {
    let key = KeyPath::root().key("incidents");
    let rules = &config.incidents;
    for (name, within) in [
        ("acknowledge_within", rules.acknowledge_within),
        ("contain_within", rules.contain_within),
    ] {
        if !(60..=30 * 86_400).contains(&within.seconds) {
            p.add(
                key.key(name),
                format!("{name} must lie between 1m and 30d"),
                "write for example \"1h\"",
            );
        }
    }
    let mut classes = std::collections::HashSet::new();
    for (index, notify) in rules.notify.iter().enumerate() {
        let at = key.key("notify").index(index);
        if !is_slug(&notify.class) {
            p.add(
                at.key("class"),
                format!("`{}` is not a data class", notify.class),
                "name a repository tag or a DLP kind (`pii`, `phi`, `secret`), e.g. `class = \"phi\"`",
            );
        } else if !classes.insert(notify.class.as_str()) {
            p.add(
                at.key("class"),
                format!("class `{}` is listed twice", notify.class),
                "keep one deadline per class: the shortest that applies",
            );
        }
        if !(3_600..=365 * 86_400).contains(&notify.within.seconds) {
            p.add(
                at.key("within"),
                "a notification deadline must lie between 1h and 365d",
                "write for example \"72h\" or \"60d\"",
            );
        }
        if notify.who.trim().is_empty() {
            p.add(
                at.key("who"),
                "say whom to notify, and under which rule",
                "e.g. `who = \"the supervisory authority (GDPR art. 33)\"`",
            );
        }
    }
}

/// `[detect]`: thresholds that can fire (positive), windows from a minute to a day, a
/// baseline from a day to 90 days.
fn check_detect(config: &Config, p: &mut Problems) {
    let key = KeyPath::root().key("detect");
    let d = &config.detect;
    for (name, z) in [("volume_z", d.volume_z), ("egress_z", d.egress_z)] {
        if !(z.is_finite() && (0.5..=100.0).contains(&z)) {
            p.add(
                key.key(name),
                format!("{name} = {z} is no usable number of standard deviations"),
                "write a number between 0.5 and 100, e.g. 4.0",
            );
        }
    }
    for (name, value) in [
        ("volume_min_bytes", d.volume_min_bytes),
        ("volume_ceiling_bytes", d.volume_ceiling_bytes),
        ("egress_min_bytes", d.egress_min_bytes),
        (
            "breadth_repos_per_hour",
            u64::from(d.breadth_repos_per_hour),
        ),
        (
            "breadth_files_per_hour",
            u64::from(d.breadth_files_per_hour),
        ),
        ("enumeration_files", u64::from(d.enumeration_files)),
        ("denials", u64::from(d.denials)),
        ("redactions_per_hour", u64::from(d.redactions_per_hour)),
    ] {
        if value == 0 {
            p.add(
                key.key(name),
                format!("{name} = 0 would raise an alert on every event"),
                "write a positive threshold, or `enabled = false` to run no rules",
            );
        }
    }
    for (name, window) in [
        ("enumeration_window", d.enumeration_window),
        ("denials_window", d.denials_window),
    ] {
        if !(60..=86_400).contains(&window.seconds) {
            p.add(
                key.key(name),
                format!("{name} must lie between 1m and 1d"),
                "write for example \"10m\"",
            );
        }
    }
    for (index, rule) in d.suspend_on.iter().enumerate() {
        if !crate::detect::PERSON_RULES.contains(&rule.as_str()) {
            p.add(
                key.key("suspend_on").index(index),
                format!("`{rule}` is no rule whose alert names a person"),
                format!("use some of: {}", crate::detect::PERSON_RULES.join(", ")),
            );
        }
    }
    if !(86_400..=90 * 86_400).contains(&d.baseline.seconds) {
        p.add(
            key.key("baseline"),
            "baseline must lie between 1d and 90d",
            "write for example \"14d\"",
        );
    }
}

fn check_server(config: &Config, p: &mut Problems) {
    let server = KeyPath::root().key("server");
    let max_body = config.server.max_body_bytes;
    if !(1024..=1024 * 1024 * 1024).contains(&max_body) {
        p.add(
            server.key("max_body_bytes"),
            format!("{max_body} bytes is outside the allowed range"),
            "write a size between 1024 (1 KiB) and 1073741824 (1 GiB)",
        );
    }
    let timeout = config.server.request_timeout.seconds;
    if !(1..=3600).contains(&timeout) {
        p.add(
            server.key("request_timeout"),
            format!(
                "{} is outside the allowed range",
                config.server.request_timeout
            ),
            "write a duration between \"1s\" and \"1h\"",
        );
    }
    let every = config.server.index_interval.seconds;
    if every != 0 && !(1..=86_400).contains(&every) {
        p.add(
            server.key("index_interval"),
            format!("{} is outside the allowed range", config.server.index_interval),
            "write a duration between \"1s\" and \"24h\", or \"0s\" to index only with `moat index`",
        );
    }
    let idle = config.server.mcp_session_idle.seconds;
    if !(1..=86_400).contains(&idle) {
        p.add(
            server.key("mcp_session_idle"),
            format!(
                "{} is outside the allowed range",
                config.server.mcp_session_idle
            ),
            "write a duration between \"1s\" and \"24h\"",
        );
    } else if idle < timeout {
        // A request still running when its session is parked would lose its answer.
        p.add(
            server.key("mcp_session_idle"),
            format!(
                "{} is shorter than request_timeout ({})",
                config.server.mcp_session_idle, config.server.request_timeout
            ),
            "make mcp_session_idle at least as long as request_timeout",
        );
    }
    if !(1..=300).contains(&config.server.header_timeout.seconds) {
        p.add(
            server.key("header_timeout"),
            format!(
                "{} is outside the allowed range",
                config.server.header_timeout
            ),
            "write a duration between \"1s\" and \"5m\", e.g. header_timeout = \"10s\"",
        );
    }
    if config.server.max_connections == 0 {
        p.add(
            server.key("max_connections"),
            "0 would accept no connection",
            "write how many connections may be open at once, e.g. max_connections = 10000",
        );
    }
    if let Some(url) = &config.server.otlp_endpoint {
        check_url(p, server.key("otlp_endpoint"), url);
    }
    if let Some(url) = &config.server.public_url {
        check_url(p, server.key("public_url"), url);
    }
}

fn check_store(config: &Config, p: &mut Problems) {
    let store = KeyPath::root().key("store");
    let s = &config.store;
    match s.backend {
        StoreBackend::Sqlite => {
            if s.url_env.is_some() || s.url_file.is_some() {
                let key = if s.url_env.is_some() {
                    "url_env"
                } else {
                    "url_file"
                };
                p.add(
                    store.key(key),
                    "a connection URL is only used with `backend = \"postgres\"`",
                    "remove it, or set `backend = \"postgres\"`",
                );
            }
            for (key, set) in [
                ("ca_file", s.ca_file.is_some()),
                ("max_connections", s.max_connections.is_some()),
            ] {
                if set {
                    p.add(
                        store.key(key),
                        "only used with `backend = \"postgres\"`",
                        "remove it, or set `backend = \"postgres\"`",
                    );
                }
            }
        }
        StoreBackend::Postgres => {
            exactly_one_reference(
                p,
                &store,
                "url",
                s.url_env.is_some(),
                s.url_file.is_some(),
                true,
            );
            if s.path.is_some() {
                p.add(
                    store.key("path"),
                    "`path` is only used with `backend = \"sqlite\"`",
                    "remove it",
                );
            }
            if s.max_connections.is_some_and(|n| !(1..=1000).contains(&n)) {
                p.add(
                    store.key("max_connections"),
                    "must be between 1 and 1000",
                    "PostgreSQL serves a few hundred connections in all; 16 per node is plenty",
                );
            }
        }
    }
}

fn check_identity(config: &Config, p: &mut Problems) {
    let identity = KeyPath::root().key("identity");
    let i = &config.identity;
    if i.token_ttl.seconds <= 0 {
        p.add(
            identity.key("token_ttl"),
            "tokens must live for some time",
            "write a duration such as \"90d\"",
        );
    }
    if i.token_ttl > i.token_max_ttl {
        p.add(
            identity.key("token_ttl"),
            format!(
                "the default lifetime {} is longer than `token_max_ttl` ({})",
                i.token_ttl, i.token_max_ttl
            ),
            "shorten `token_ttl` or raise `token_max_ttl`",
        );
    }
    if i.rotation_grace.seconds > 30 * 86_400 {
        p.add(
            identity.key("rotation_grace"),
            format!(
                "a grace period of {} keeps rotated tokens alive too long",
                i.rotation_grace
            ),
            "write at most \"30d\"",
        );
    }
    exactly_one_reference(
        p,
        &identity,
        "scim_token",
        i.scim_token_env.is_some(),
        i.scim_token_file.is_some(),
        false,
    );
    check_oauth(p, &identity, &i.oauth);
    if let Some(oidc) = &i.oidc {
        check_url(p, identity.key("oidc").key("issuer"), &oidc.issuer);
        if oidc.audience.trim().is_empty() {
            p.add(
                identity.key("oidc").key("audience"),
                "the audience is empty",
                "write the audience your IdP puts in tokens for Moat, usually Moat's public URL",
            );
        }
        if let Some(url) = &oidc.jwks_url {
            check_url(p, identity.key("oidc").key("jwks_url"), url);
        }
        let has_secret = oidc.client_secret_env.is_some() || oidc.client_secret_file.is_some();
        match &oidc.client_id {
            Some(id) if id.trim().is_empty() => p.add(
                identity.key("oidc").key("client_id"),
                "the client id is empty",
                "write the client id the identity provider gave Moat's application",
            ),
            Some(_) => exactly_one_reference(
                p,
                &identity.key("oidc"),
                "client_secret",
                oidc.client_secret_env.is_some(),
                oidc.client_secret_file.is_some(),
                true,
            ),
            None if has_secret => p.add(
                identity.key("oidc").key("client_id"),
                "a client secret is set without a client id",
                "add `client_id` (people then sign in through the identity provider) or remove the secret",
            ),
            None => {}
        }
        for (host, claim) in &oidc.login_claims {
            let key = identity.key("oidc").key("login_claims").key(host);
            if host != "github" && host != "gitlab" {
                p.add(
                    key,
                    "login claims are for the repository hosts Moat mirrors",
                    "use `github` or `gitlab` as the key",
                );
            } else if claim.trim().is_empty() {
                p.add(
                    key,
                    "the claim name is empty",
                    "name the claim your identity provider puts the login in",
                );
            }
        }
    }
}

fn check_audit(config: &Config, p: &mut Problems) {
    let audit = KeyPath::root().key("audit");
    let a = &config.audit;
    if a.checkpoint_every_events == 0 {
        p.add(
            audit.key("checkpoint_every_events"),
            "a checkpoint every 0 events is meaningless",
            "write a positive number such as 1000",
        );
    }
    if a.checkpoint_interval.seconds <= 0 {
        p.add(
            audit.key("checkpoint_interval"),
            "checkpoints need a positive interval",
            "write a duration such as \"60s\"",
        );
    }
    exactly_one_reference(
        p,
        &audit,
        "signing_key",
        a.signing_key_env.is_some(),
        a.signing_key_file.is_some(),
        false,
    );
    if a.body_retention > a.retention {
        p.add(
            audit.key("body_retention"),
            "bodies would outlive the events that reference them",
            "make `body_retention` no longer than `retention`",
        );
    }
    for (index, url) in a.witness_urls.iter().enumerate() {
        check_url(p, audit.key("witness_urls").index(index), url);
    }
}

fn check_gateway(config: &Config, p: &mut Problems) {
    let gateway = KeyPath::root().key("gateway");
    let g = &config.gateway;
    if g.max_prompt_bytes < 1024 {
        p.add(
            gateway.key("max_prompt_bytes"),
            format!("{} bytes cannot hold a prompt", g.max_prompt_bytes),
            "write a size such as `max_prompt_bytes = 1048576` (the smaller of it and [server] max_body_bytes applies)",
        );
    }
    if !(1..=5).contains(&g.attempts) {
        p.add(
            gateway.key("attempts"),
            format!("{} attempts is outside 1..=5", g.attempts),
            "write `attempts = 2` (one retry before the first byte)",
        );
    }
    if g.first_byte_timeout.seconds < 1 {
        p.add(
            gateway.key("first_byte_timeout"),
            "the timeout is shorter than a second",
            "write a duration such as `first_byte_timeout = \"60s\"`",
        );
    }
    if g.max_in_flight == 0 {
        p.add(
            gateway.key("max_in_flight"),
            "0 would refuse every request",
            "write the number of requests served at once, e.g. `max_in_flight = 4096`",
        );
    }
    if g.output_hold_tokens == 0 {
        p.add(
            gateway.key("output_hold_tokens"),
            "0 would hold nothing for answers of unknown length, so budgets could be overspent",
            "write the tokens to hold for an answer whose request names no max_tokens, e.g. `output_hold_tokens = 4096`",
        );
    }
    if g.max_in_flight_per_user == 0 || g.max_in_flight_per_user > g.max_in_flight {
        p.add(
            gateway.key("max_in_flight_per_user"),
            format!(
                "{} is not between 1 and max_in_flight ({})",
                g.max_in_flight_per_user, g.max_in_flight
            ),
            "write how many requests one person may have in progress, e.g. `max_in_flight_per_user = 64`",
        );
    }
    if !(1..=300).contains(&g.body_timeout.seconds) {
        p.add(
            gateway.key("body_timeout"),
            "the body timeout is outside 1s..5m",
            "write a duration such as `body_timeout = \"10s\"`",
        );
    }
    if g.request_deadline.seconds < g.first_byte_timeout.seconds {
        p.add(
            gateway.key("request_deadline"),
            "the deadline is shorter than first_byte_timeout",
            "write a duration such as `request_deadline = \"15m\"`",
        );
    }
    if g.detect_min_matches == 0 {
        p.add(
            gateway.key("detect_min_matches"),
            "0 would count every repository as present in every prompt",
            "write a small positive number, e.g. `detect_min_matches = 3`",
        );
    }
    let limits = std::iter::once((gateway.clone(), g.requests_per_minute, g.tokens_per_day)).chain(
        g.teams.iter().map(|(team, l)| {
            (
                gateway.key("teams").key(team),
                l.requests_per_minute,
                l.tokens_per_day,
            )
        }),
    );
    for (at, rpm, tpd) in limits {
        if rpm == Some(0) {
            p.add(
                at.key("requests_per_minute"),
                "a limit of 0 refuses every request",
                "remove the key for no limit, or write a positive number",
            );
        }
        if tpd == Some(0) {
            p.add(
                at.key("tokens_per_day"),
                "a budget of 0 refuses every request",
                "remove the key for no budget, or write a positive number",
            );
        }
    }
}

fn check_env_names(config: &Config, p: &mut Problems) {
    let root = KeyPath::root();
    let mut refs: Vec<(KeyPath, String)> = Vec::new();
    let mut push = |key: KeyPath, value: &Option<String>| {
        if let Some(v) = value {
            refs.push((key, v.clone()));
        }
    };
    push(root.key("store").key("url_env"), &config.store.url_env);
    push(
        root.key("identity").key("scim_token_env"),
        &config.identity.scim_token_env,
    );
    push(
        root.key("audit").key("signing_key_env"),
        &config.audit.signing_key_env,
    );
    push(
        root.key("alerts").key("webhook_url_env"),
        &config.alerts.webhook_url_env,
    );
    if let Some(g) = &config.permissions.github {
        push(
            root.key("permissions").key("github").key("token_env"),
            &g.token_env,
        );
        push(
            root.key("permissions")
                .key("github")
                .key("webhook_secret_env"),
            &g.webhook_secret_env,
        );
        push(
            root.key("permissions")
                .key("github")
                .key("oauth_client_secret_env"),
            &g.oauth_client_secret_env,
        );
    }
    if let Some(g) = &config.permissions.gitlab {
        push(
            root.key("permissions").key("gitlab").key("token_env"),
            &g.token_env,
        );
        push(
            root.key("permissions")
                .key("gitlab")
                .key("webhook_token_env"),
            &g.webhook_token_env,
        );
        push(
            root.key("permissions")
                .key("gitlab")
                .key("oauth_client_secret_env"),
            &g.oauth_client_secret_env,
        );
    }
    for (index, vendor) in config.vendors.iter().enumerate() {
        push(
            root.key("vendors").index(index).key("key_env"),
            &vendor.key_env,
        );
    }
    for (key, name) in refs {
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            p.add(
                key,
                format!("`{name}` is not an environment variable name"),
                "write the variable's NAME (uppercase letters, digits, `_`), never its value",
            );
        }
    }
}

/// Either `<base>_env` or `<base>_file`, not both; and at least one when `required`.
pub(crate) fn exactly_one_reference(
    p: &mut Problems,
    at: &KeyPath,
    base: &str,
    env: bool,
    file: bool,
    required: bool,
) {
    if env && file {
        p.add(
            at.key(&format!("{base}_file")),
            format!("both `{base}_env` and `{base}_file` are set"),
            format!("keep one of `{base}_env` and `{base}_file`"),
        );
    } else if required && !env && !file {
        p.add(at.key(&format!("{base}_env")), format!("no `{base}_env` or `{base}_file` is set"), format!("reference the secret, e.g. `{base}_env = \"NAME_OF_ENV_VAR\"` or `{base}_file = \"/run/secrets/name\"`"));
    }
}

pub(crate) fn check_url(p: &mut Problems, key: KeyPath, url: &str) {
    if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() < 10 {
        p.add(
            key,
            format!("`{url}` is not an http(s) URL"),
            "write a full URL such as `https://api.example.com`",
        );
    }
}

pub(crate) fn is_slug(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

/// Paths in the configuration that are relative resolve against the data directory.
pub fn resolve(base: &std::path::Path, path: &Option<PathBuf>, default: &str) -> PathBuf {
    let path = path.clone().unwrap_or_else(|| PathBuf::from(default));
    if path.is_absolute() {
        path
    } else {
        base.join(path)
    }
}

/// `[identity.oauth]`: lifetimes in sane bounds, clients with an id, a name and at
/// least one redirect URI (whose form the server checks when it starts).
fn check_oauth(p: &mut Problems, identity: &KeyPath, oauth: &crate::model::OAuth) {
    let key = identity.key("oauth");
    let bounds = [
        (
            "access_token_ttl",
            oauth.access_token_ttl.seconds,
            60,
            86_400,
            "\"1h\"",
        ),
        (
            "refresh_token_ttl",
            oauth.refresh_token_ttl.seconds,
            3600,
            365 * 86_400,
            "\"30d\"",
        ),
        (
            "session_ttl",
            oauth.session_ttl.seconds,
            60,
            7 * 86_400,
            "\"8h\"",
        ),
        (
            "sign_in_link_ttl",
            oauth.sign_in_link_ttl.seconds,
            60,
            86_400,
            "\"15m\"",
        ),
    ];
    for (name, seconds, least, most, example) in bounds {
        if seconds < least || seconds > most {
            p.add(
                key.key(name),
                format!("{name} must lie between {least} s and {most} s"),
                format!("write for example {example}"),
            );
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (index, client) in oauth.clients.iter().enumerate() {
        let at = key.key("clients").index(index);
        if client.id.trim().is_empty() || client.id.len() > 200 {
            p.add(
                at.key("id"),
                "the client id is empty or too long",
                "write a short id such as \"cursor\"",
            );
        } else if !seen.insert(client.id.as_str()) {
            p.add(
                at.key("id"),
                format!("the client id `{}` is used twice", client.id),
                "give each client its own id",
            );
        }
        if client.name.trim().is_empty() {
            p.add(
                at.key("name"),
                "the client name is empty",
                "write the name people see on the consent page, e.g. \"Cursor\"",
            );
        }
        if client.redirect_uris.is_empty() {
            p.add(
                at.key("redirect_uris"),
                "a client needs at least one redirect URI",
                "write where the tool listens, e.g. [\"http://127.0.0.1/callback\"]",
            );
        }
    }
    if oauth.dynamic_registration && oauth.registrations_per_hour == 0 {
        p.add(
            key.key("registrations_per_hour"),
            "dynamic registration is on but no registration is allowed",
            "set dynamic_registration = false, or allow some registrations per hour",
        );
    }
}

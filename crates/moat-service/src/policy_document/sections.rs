//! The policy's sections, each statement from the configuration key that makes it so.

use super::{Section, Statement, classification, english_list, governance, quoted};
use moat_config::Config;

pub(super) fn all(
    config: &Config,
    policies: Option<&str>,
    now: moat_domain::UnixTime,
) -> Vec<Section> {
    vec![
        Section {
            title: "Approved tools and models",
            statements: tools_and_models(config),
        },
        Section {
            title: "Prohibited uses",
            statements: prohibited(config),
        },
        Section {
            title: "Data classification",
            statements: classification::classification(config, now),
        },
        Section {
            title: "Access and authentication",
            statements: governance::access(config, policies),
        },
        Section {
            title: "Exception process",
            statements: governance::exceptions(config),
        },
        Section {
            title: "Incident response",
            statements: governance::incidents(config),
        },
        Section {
            title: "Training",
            statements: governance::training(config),
        },
    ]
}

pub(super) fn say(key: impl Into<String>, text: impl Into<String>) -> Statement {
    Statement {
        key: key.into(),
        text: text.into(),
    }
}

pub(super) fn teams_phrase(teams: &[String]) -> String {
    if teams.iter().any(|t| t == "*") {
        "everyone".to_string()
    } else {
        format!(
            "the team{} {}",
            plural(teams.len()),
            english_list(&quoted(teams), "none")
        )
    }
}

/// `90 days`, `1 hour`, `30 minutes`.
pub(super) fn human(duration: moat_config::Duration) -> String {
    let s = duration.seconds;
    let (n, unit) = match s {
        0 => (0, "seconds"),
        _ if s % 86_400 == 0 => (s / 86_400, "day"),
        _ if s % 3_600 == 0 => (s / 3_600, "hour"),
        _ if s % 60 == 0 => (s / 60, "minute"),
        _ => (s, "second"),
    };
    match (n, unit) {
        (0, _) => "0 seconds".to_string(),
        (1, unit) => format!("1 {unit}"),
        (n, unit) => format!("{n} {unit}s"),
    }
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn tools_and_models(config: &Config) -> Vec<Statement> {
    let base = config
        .server
        .public_url
        .as_deref()
        .map(|url| url.trim_end_matches('/').to_string());
    let at = |path: &str| match &base {
        Some(base) => format!("`{base}{path}`"),
        None => format!("this deployment's `{path}`"),
    };
    let mut out = vec![say(
        "server.public_url",
        format!(
            "AI coding tools reach the organisation's code only through Moat's MCP endpoint at {} and its approved models only through Moat's gateway at {}; both answer only a Moat token or a person's sign-in.",
            at("/mcp"),
            at("/v1")
        ),
    )];
    let oauth = &config.identity.oauth;
    out.push(if oauth.dynamic_registration {
        say(
            "identity.oauth.dynamic_registration",
            format!(
                "Any MCP client may register itself (at most {} registrations an hour across all clients); it still needs a person's sign-in and consent before it gets a token.",
                oauth.registrations_per_hour
            ),
        )
    } else {
        say(
            "identity.oauth.dynamic_registration",
            "Only the clients the administrators registered may obtain tokens; tools cannot register themselves.",
        )
    });
    for client in &oauth.clients {
        out.push(say(
            format!("identity.oauth.clients[id={}]", client.id),
            format!(
                "The tool `{}` (client `{}`) is registered by the administrators.",
                client.name, client.id
            ),
        ));
    }
    if config.models.is_empty() {
        out.push(say(
            "models",
            "No model is approved: the gateway is off and no prompt leaves through Moat.",
        ));
    }
    for model in &config.models {
        out.push(say(
            format!("models[alias={}]", model.alias),
            format!(
                "Model `{}` is approved for {}: vendor `{}` receives exactly the pinned version `{}`.",
                model.alias,
                teams_phrase(&model.teams),
                model.vendor,
                model.version
            ),
        ));
        if let Some(fallback) = &model.fallback {
            out.push(say(
                format!("models[alias={}].fallback", model.alias),
                format!(
                    "When `{}` fails, requests for `{}` go to `{fallback}`.",
                    model.vendor, model.alias
                ),
            ));
        }
    }
    out
}

fn prohibited(config: &Config) -> Vec<Statement> {
    let vendors: Vec<&str> = config.vendors.iter().map(|v| v.name.as_str()).collect();
    let mut out = vec![say(
        "vendors",
        format!(
            "Prompts and code leave through Moat only to {}; the gateway knows no other endpoint, and the keys are the organisation's, never a person's.",
            match vendors.len() {
                0 => "no vendor".to_string(),
                1 => format!("the vendor `{}`", vendors[0]),
                _ => format!("the vendors {}", english_list(&quoted(&vendors), "")),
            }
        ),
    )];
    for model in &config.models {
        out.push(say(
            format!("models[alias={}].options", model.alias),
            format!(
                "Request options that change what a vendor does or keeps are refused for `{}`{}.",
                model.alias,
                if model.options.is_empty() {
                    String::new()
                } else {
                    format!(", except {}", english_list(&quoted(&model.options), ""))
                }
            ),
        ));
    }
    let gateway = &config.gateway;
    out.push(say(
        "gateway.allow_binary",
        if gateway.allow_binary {
            "Images and files that cannot be scanned as text may be sent to models unscanned."
        } else {
            "Images and files that cannot be scanned as text are refused in prompts."
        },
    ));
    out.push(say(
        "gateway.max_prompt_bytes",
        format!(
            "A prompt larger than {} bytes is refused.",
            gateway.max_prompt_bytes
        ),
    ));
    let dlp = &config.dlp;
    let rules: Vec<&str> = dlp.rules.iter().map(|r| r.id.as_str()).collect();
    out.push(say(
        "dlp",
        format!(
            "Secrets and personal data found in a prompt are replaced before it leaves{}{}.",
            if rules.is_empty() {
                String::new()
            } else {
                format!(
                    "; the organisation's rules {} add to the built-in ones",
                    english_list(&quoted(&rules), "")
                )
            },
            if dlp.disabled.is_empty() {
                String::new()
            } else {
                format!(
                    "; the built-in rules {} are off",
                    english_list(&quoted(&dlp.disabled), "")
                )
            }
        ),
    ));
    out
}

pub(super) fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

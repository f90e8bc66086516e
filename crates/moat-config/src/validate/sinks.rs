//! `[[audit.sinks]]` and `[[alerts.sinks]]`: each sink names what it needs for its kind
//! and nothing it would ignore, and never sends the audit log or an alert in the clear
//! off the machine.

use super::{Problems, exactly_one_reference, is_slug};
use crate::locate::KeyPath;
use crate::model::{AuditSink, Config, SinkFormat, SinkKind};
use std::collections::HashSet;

/// Most events one delivery may carry.
const MAX_SINK_BATCH: usize = 10_000;

pub(super) fn check_sinks(config: &Config, p: &mut Problems) {
    check_list(&config.audit.sinks, "audit", p);
    check_list(&config.alerts.sinks, "alerts", p);
    let alerts = KeyPath::root().key("alerts");
    exactly_one_reference(
        p,
        &alerts,
        "webhook_url",
        config.alerts.webhook_url_env.is_some(),
        config.alerts.webhook_url_file.is_some(),
        false,
    );
    let shorthand =
        config.alerts.webhook_url_env.is_some() || config.alerts.webhook_url_file.is_some();
    if shorthand && config.alerts.sinks.iter().any(|s| s.name == "webhook") {
        p.add(
            alerts.key("webhook_url_env"),
            "`webhook_url_env` names a sink `webhook`, and [[alerts.sinks]] has one too",
            "move the URL into that [[alerts.sinks]] entry, or rename it",
        );
    }
    for (index, action) in config.alerts.on.iter().enumerate() {
        let usable = !action.is_empty()
            && action
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
        if !usable {
            p.add(
                alerts.key("on").index(index),
                format!("`{action}` is not an event action"),
                "write an action as the audit log records it, e.g. `access.denied`",
            );
        }
    }
}

/// The sinks of `[[<section>.sinks]]`: webhooks only among the alerts' sinks.
fn check_list(sinks: &[AuditSink], section: &str, p: &mut Problems) {
    let alerts = section == "alerts";
    let mut names = HashSet::new();
    for (index, sink) in sinks.iter().enumerate() {
        let at = KeyPath::root().key(section).key("sinks").index(index);
        if !is_slug(&sink.name) {
            p.add(
                at.key("name"),
                format!("`{}` is not a usable sink name", sink.name),
                "use lowercase letters, digits, `.`, `_` and `-`, e.g. `siem`",
            );
        } else if !names.insert(sink.name.as_str()) {
            p.add(
                at.key("name"),
                format!("sink `{}` is declared twice", sink.name),
                format!(
                    "give each [[{section}.sinks]] entry its own name (it names the sink's cursor)"
                ),
            );
        }
        if sink.batch == 0 || sink.batch > MAX_SINK_BATCH {
            p.add(
                at.key("batch"),
                format!("a batch of {} events", sink.batch),
                format!("write a number from 1 to {MAX_SINK_BATCH}, e.g. `batch = 500`"),
            );
        }
        match sink.kind {
            SinkKind::Syslog => check_syslog(sink, &at, p),
            SinkKind::Http => check_http(sink, &at, p),
            SinkKind::File => {
                if sink.path.is_none() {
                    p.add(
                        at.key("path"),
                        "a file sink needs a path",
                        "write `path = \"/var/log/moat/audit.jsonl\"`",
                    );
                }
            }
            SinkKind::Webhook if !alerts => p.add(
                at.key("kind"),
                "a webhook sink carries alerts, not the whole audit log",
                "move it to [[alerts.sinks]], or use `kind = \"http\"` for a collector",
            ),
            SinkKind::Webhook => check_webhook(sink, &at, p),
        }
        check_format(sink, &at, p);
        let kind = sink.kind;
        let misplaced: [(&str, bool, &[SinkKind]); 9] = [
            ("address", sink.address.is_some(), &[SinkKind::Syslog]),
            ("ca_file", sink.ca_file.is_some(), &[SinkKind::Syslog]),
            (
                "server_name",
                sink.server_name.is_some(),
                &[SinkKind::Syslog],
            ),
            ("tls", !sink.tls, &[SinkKind::Syslog]),
            (
                "url",
                sink.url.is_some(),
                &[SinkKind::Http, SinkKind::Webhook],
            ),
            ("url_env", sink.url_env.is_some(), &[SinkKind::Webhook]),
            ("url_file", sink.url_file.is_some(), &[SinkKind::Webhook]),
            (
                "token_env",
                sink.token_env.is_some() || sink.token_file.is_some(),
                &[SinkKind::Http, SinkKind::Webhook],
            ),
            ("path", sink.path.is_some(), &[SinkKind::File]),
        ];
        for (key, set, applies_to) in misplaced {
            if set && !applies_to.contains(&kind) {
                let kinds: Vec<&str> = applies_to
                    .iter()
                    .filter(|k| alerts || **k != SinkKind::Webhook)
                    .map(|k| name(*k))
                    .collect();
                p.add(
                    at.key(key),
                    format!(
                        "`{key}` applies to {} sinks, not to this {} sink",
                        kinds.join(" and "),
                        name(kind)
                    ),
                    "remove it, or change `kind`",
                );
            }
        }
    }
}

fn name(kind: SinkKind) -> &'static str {
    match kind {
        SinkKind::Syslog => "syslog",
        SinkKind::Http => "http",
        SinkKind::File => "file",
        SinkKind::Webhook => "webhook",
    }
}

/// Each kind sends the formats it can frame.
fn check_format(sink: &AuditSink, at: &KeyPath, p: &mut Problems) {
    use SinkFormat::*;
    let (allowed, names): (&[SinkFormat], &str) = match sink.kind {
        SinkKind::Syslog => (&[Json], "`json` (the default)"),
        SinkKind::Http => (&[Json, Hec, Ocsf], "`json`, `hec` or `ocsf`"),
        SinkKind::File => (&[Json, Ocsf], "`json` or `ocsf`"),
        SinkKind::Webhook => (&[Json, Slack, Teams], "`slack`, `teams` or `json`"),
    };
    if !allowed.contains(&sink.format) {
        p.add(
            at.key("format"),
            format!("a {} sink cannot send this format", name(sink.kind)),
            format!("write one of {names}"),
        );
    }
}

fn check_webhook(sink: &AuditSink, at: &KeyPath, p: &mut Problems) {
    let references = [
        sink.url.is_some(),
        sink.url_env.is_some(),
        sink.url_file.is_some(),
    ];
    match references.iter().filter(|set| **set).count() {
        0 => p.add(
            at.key("url_env"),
            "a webhook sink needs the webhook's URL",
            "reference it: `url_env = \"MOAT_SLACK_WEBHOOK\"` or `url_file = \"/run/secrets/slack\"`",
        ),
        1 => {}
        _ => p.add(
            at.key("url_env"),
            "more than one of `url`, `url_env` and `url_file` is set",
            "keep one",
        ),
    }
    if sink.format == SinkFormat::Json {
        exactly_one_reference(
            p,
            at,
            "token",
            sink.token_env.is_some(),
            sink.token_file.is_some(),
            false,
        );
    } else if sink.token_env.is_some() || sink.token_file.is_some() {
        p.add(
            at.key("token_env"),
            "Slack and Teams webhooks take no token: the URL is the secret",
            "remove `token_env`/`token_file`",
        );
    }
    if let Some(url) = &sink.url {
        if sink.format != SinkFormat::Json {
            // A Slack or Teams webhook's URL is its credential: in the file it would be
            // published to the store and shown in errors.
            p.add(
                at.key("url"),
                "a Slack or Teams webhook URL is a secret and must not be written in the configuration",
                "reference it: `url_env = \"MOAT_SLACK_WEBHOOK\"` or `url_file = \"/run/secrets/slack\"`",
            );
        } else {
            check_plain_url(url, &at.key("url"), "an alert", p);
        }
    }
}

fn check_syslog(sink: &AuditSink, at: &KeyPath, p: &mut Problems) {
    let Some(address) = &sink.address else {
        p.add(
            at.key("address"),
            "a syslog sink needs the receiver's address",
            "write `address = \"siem.example.com:6514\"` (RFC 5425, syslog over TLS)",
        );
        return;
    };
    let Some(host) = host_of_address(address) else {
        p.add(
            at.key("address"),
            format!("`{address}` is not host:port"),
            "write `address = \"siem.example.com:6514\"`",
        );
        return;
    };
    if !sink.tls && !is_loopback(host) {
        p.add(
            at.key("tls"),
            format!("the audit log would cross the network to `{host}` in the clear"),
            "remove `tls = false` (plain TCP is allowed only to a receiver on loopback)",
        );
    }
}

fn check_http(sink: &AuditSink, at: &KeyPath, p: &mut Problems) {
    exactly_one_reference(
        p,
        at,
        "token",
        sink.token_env.is_some(),
        sink.token_file.is_some(),
        sink.format == SinkFormat::Hec,
    );
    let Some(url) = &sink.url else {
        p.add(
            at.key("url"),
            "an http sink needs a URL",
            "write `url = \"https://splunk.example.com:8088/services/collector/event\"`",
        );
        return;
    };
    check_plain_url(url, &at.key("url"), "the audit log", p);
}

/// `url` is http(s), and plain http only to loopback.
fn check_plain_url(url: &str, at: &KeyPath, what: &str, p: &mut Problems) {
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .map(|rest| rest.split('/').next().unwrap_or(rest))
        .filter(|authority| !authority.is_empty());
    match host {
        None => p.add(
            at.clone(),
            format!("`{url}` is not an http(s) URL"),
            "write a full URL such as `https://siem.example.com/ingest`",
        ),
        Some(authority) => {
            let host = host_of_address(authority).unwrap_or(authority);
            if url.starts_with("http://") && !is_loopback(host) {
                p.add(
                    at.clone(),
                    format!("{what} would cross the network to `{host}` in the clear"),
                    "use an https:// URL (plain http is allowed only to a receiver on loopback)",
                );
            }
        }
    }
}

/// The host of `host:port` or `[v6]:port`, if the port is a number.
fn host_of_address(address: &str) -> Option<&str> {
    let (host, port) = address.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    (!host.is_empty()).then_some(host)
}

/// Whether `host` (a name or an address, without brackets) is this machine.
pub fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

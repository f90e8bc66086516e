//! `[[audit.sinks]]`: each sink names what it needs for its kind and nothing it would
//! ignore, and never sends the audit log in the clear off the machine.

use super::{Problems, exactly_one_reference, is_slug};
use crate::locate::KeyPath;
use crate::model::{AuditSink, Config, SinkFormat, SinkKind};
use std::collections::HashSet;

/// Most events one delivery may carry.
const MAX_SINK_BATCH: usize = 10_000;

pub(super) fn check_sinks(config: &Config, p: &mut Problems) {
    let mut names = HashSet::new();
    for (index, sink) in config.audit.sinks.iter().enumerate() {
        let at = KeyPath::root().key("audit").key("sinks").index(index);
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
                "give each [[audit.sinks]] entry its own name (it names the sink's cursor)",
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
        }
        let kind = sink.kind;
        let misplaced: [(&str, bool, SinkKind); 8] = [
            ("address", sink.address.is_some(), SinkKind::Syslog),
            ("ca_file", sink.ca_file.is_some(), SinkKind::Syslog),
            ("server_name", sink.server_name.is_some(), SinkKind::Syslog),
            ("tls", !sink.tls, SinkKind::Syslog),
            ("url", sink.url.is_some(), SinkKind::Http),
            (
                "format",
                sink.format != SinkFormat::Json
                    && !(kind == SinkKind::File && sink.format == SinkFormat::Ocsf),
                SinkKind::Http,
            ),
            (
                "token_env",
                sink.token_env.is_some() || sink.token_file.is_some(),
                SinkKind::Http,
            ),
            ("path", sink.path.is_some(), SinkKind::File),
        ];
        for (key, set, applies_to) in misplaced {
            if set && kind != applies_to {
                p.add(
                    at.key(key),
                    format!(
                        "`{key}` applies to {} sinks, not to this {} sink",
                        name(applies_to),
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
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .map(|rest| rest.split('/').next().unwrap_or(rest))
        .filter(|authority| !authority.is_empty());
    match host {
        None => p.add(
            at.key("url"),
            format!("`{url}` is not an http(s) URL"),
            "write a full URL such as `https://siem.example.com/ingest`",
        ),
        Some(authority) => {
            let host = host_of_address(authority).unwrap_or(authority);
            if url.starts_with("http://") && !is_loopback(host) {
                p.add(
                    at.key("url"),
                    format!("the audit log would cross the network to `{host}` in the clear"),
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

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

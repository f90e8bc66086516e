//! `[[audit.sinks]]` and `[[alerts.sinks]]` → the forwarder's settings, secrets and CA
//! files read, each sink's TLS set up before anything is served (a sink that could never
//! deliver is a configuration error at start, not a lag discovered later).

use crate::context::{Context, UsageError, secret};
use anyhow::Result;
use moat_config::{AuditSink, SinkFormat, SinkKind};
use moat_service::audit::sinks::{
    HttpFormat, Select, SinkSettings, SinkStart, SinkTarget, TlsSettings, WebhookFormat,
};

impl Context {
    /// Every sink the forwarder runs: the audit log's, then the alerts'.
    pub fn audit_sinks(&self) -> Result<Vec<SinkSettings>> {
        let mut sinks = Vec::new();
        for sink in &self.config.audit.sinks {
            sinks.push(self.sink(sink, "audit", Select::All)?);
        }
        let alerts = &self.config.alerts;
        let select = Select::Alerts {
            also: alerts.on.clone(),
        };
        for sink in &alerts.sinks {
            sinks.push(self.sink(sink, "alerts", select.clone())?);
        }
        if alerts.webhook_url_env.is_some() || alerts.webhook_url_file.is_some() {
            let url = secret(
                alerts.webhook_url_env.as_deref(),
                alerts.webhook_url_file.as_deref(),
                "[alerts] webhook_url",
            )?
            .ok_or_else(|| UsageError("[alerts] webhook_url: no URL".into()))?;
            let url = checked_webhook("[alerts] webhook_url", url)?;
            sinks.push(SinkSettings {
                name: "webhook".into(),
                target: SinkTarget::Webhook {
                    url,
                    format: WebhookFormat::Slack,
                    token: None,
                },
                batch: 500,
                start: SinkStart::End,
                select,
            });
        }
        Ok(sinks)
    }

    fn sink(&self, sink: &AuditSink, section: &str, select: Select) -> Result<SinkSettings> {
        let hostname = moat_service::audit::sinks::hostname();
        {
            let what = format!("[[{section}.sinks]] `{}`", sink.name);
            let missing = |key: &str| UsageError(format!("{what}: `{key}` is missing"));
            let target = match sink.kind {
                SinkKind::Syslog => {
                    let address = sink.address.clone().ok_or_else(|| missing("address"))?;
                    let tls = if sink.tls {
                        let host = address
                            .rsplit_once(':')
                            .map_or(address.as_str(), |(host, _)| host)
                            .trim_start_matches('[')
                            .trim_end_matches(']');
                        let ca_pem = match &sink.ca_file {
                            Some(path) => {
                                let path =
                                    moat_config::resolve(&self.data_dir, &Some(path.clone()), "");
                                Some(std::fs::read(&path).map_err(|e| {
                                    UsageError(format!("{what}: ca_file {}: {e}", path.display()))
                                })?)
                            }
                            None => None,
                        };
                        let tls = TlsSettings {
                            server_name: sink
                                .server_name
                                .clone()
                                .unwrap_or_else(|| host.to_string()),
                            ca_pem,
                        };
                        tls.connector()
                            .map_err(|e| UsageError(format!("{what}: {e}")))?;
                        Some(tls)
                    } else {
                        None
                    };
                    SinkTarget::Syslog {
                        address,
                        tls,
                        hostname: hostname.clone(),
                    }
                }
                SinkKind::Http => SinkTarget::Http {
                    url: sink.url.clone().ok_or_else(|| missing("url"))?,
                    format: match sink.format {
                        SinkFormat::Json => HttpFormat::Json,
                        SinkFormat::Hec => HttpFormat::Hec,
                        SinkFormat::Ocsf => HttpFormat::Ocsf,
                        // Refused by validation before this runs.
                        SinkFormat::Slack | SinkFormat::Teams => {
                            return Err(UsageError(format!(
                                "{what}: an http sink sends json, hec or ocsf"
                            ))
                            .into());
                        }
                    },
                    token: secret(sink.token_env.as_deref(), sink.token_file.as_deref(), &what)?,
                    hostname: hostname.clone(),
                },
                SinkKind::File => SinkTarget::File {
                    path: moat_config::resolve(&self.data_dir, &sink.path, ""),
                    ocsf: sink.format == SinkFormat::Ocsf,
                },
                SinkKind::Webhook => SinkTarget::Webhook {
                    url: checked_webhook(
                        &what,
                        match &sink.url {
                            Some(url) => url.clone(),
                            None => {
                                secret(sink.url_env.as_deref(), sink.url_file.as_deref(), &what)?
                                    .ok_or_else(|| missing("url_env"))?
                            }
                        },
                    )?,
                    format: match sink.format {
                        SinkFormat::Teams => WebhookFormat::Teams,
                        SinkFormat::Json => WebhookFormat::Json,
                        SinkFormat::Slack | SinkFormat::Hec | SinkFormat::Ocsf => {
                            WebhookFormat::Slack
                        }
                    },
                    token: secret(sink.token_env.as_deref(), sink.token_file.as_deref(), &what)?,
                },
            };
            let alerts = matches!(select, Select::Alerts { .. });
            Ok(SinkSettings {
                name: sink.name.clone(),
                target,
                batch: sink.batch,
                start: match sink.start {
                    Some(moat_config::SinkStart::Beginning) => SinkStart::Beginning,
                    Some(moat_config::SinkStart::End) => SinkStart::End,
                    None if alerts => SinkStart::End,
                    None => SinkStart::Beginning,
                },
                select,
            })
        }
    }
}

/// A webhook URL read from the environment or a file, checked as the configuration
/// checks a written one: https, or plain http only to loopback. The URL is a secret, so
/// the error names its host at most.
fn checked_webhook(what: &str, url: String) -> Result<String> {
    let Ok(parsed) = reqwest::Url::parse(&url) else {
        return Err(UsageError(format!("{what}: the webhook URL is not a URL")).into());
    };
    let host = parsed.host_str().unwrap_or_default().to_string();
    let loopback = moat_config::is_loopback(host.trim_start_matches('[').trim_end_matches(']'));
    match parsed.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(UsageError(format!(
            "{what}: alerts would cross the network to `{host}` in the clear; use an https:// webhook URL"
        ))
        .into()),
        other => Err(UsageError(format!(
            "{what}: a webhook URL is https:// (found `{other}:`)"
        ))
        .into()),
    }
}

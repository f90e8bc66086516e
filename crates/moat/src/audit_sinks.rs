//! `[[audit.sinks]]` → the forwarder's settings, secrets and CA files read, each sink's
//! TLS set up before anything is served (a sink that could never deliver is a
//! configuration error at start, not a lag discovered later).

use crate::context::{Context, UsageError, secret};
use anyhow::Result;
use moat_config::{SinkFormat, SinkKind};
use moat_service::audit::sinks::{HttpFormat, SinkSettings, SinkStart, SinkTarget, TlsSettings};

impl Context {
    pub fn audit_sinks(&self) -> Result<Vec<SinkSettings>> {
        let hostname = moat_service::audit::sinks::hostname();
        let mut sinks = Vec::new();
        for sink in &self.config.audit.sinks {
            let what = format!("[[audit.sinks]] `{}`", sink.name);
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
                    },
                    token: secret(sink.token_env.as_deref(), sink.token_file.as_deref(), &what)?,
                    hostname: hostname.clone(),
                },
                SinkKind::File => SinkTarget::File {
                    path: moat_config::resolve(&self.data_dir, &sink.path, ""),
                    ocsf: sink.format == SinkFormat::Ocsf,
                },
            };
            sinks.push(SinkSettings {
                name: sink.name.clone(),
                target,
                batch: sink.batch,
                start: match sink.start {
                    moat_config::SinkStart::Beginning => SinkStart::Beginning,
                    moat_config::SinkStart::End => SinkStart::End,
                },
            });
        }
        Ok(sinks)
    }
}

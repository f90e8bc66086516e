//! The syslog sink: RFC 5424 messages, octet-counted, over TLS (RFC 5425).
//!
//! Syslog has no acknowledgement, so a batch counts as delivered only once the
//! receiver has read all of it: each batch goes over its own connection, which Moat
//! closes after the last message (TLS `close_notify`, then its half of TCP) and then
//! waits for the receiver to close its side, which it does only after reading
//! everything before the close. A receiver that dies first resets the connection or
//! never closes, and the batch is sent again.

use super::Forwarded;
use super::format::octet_counted;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types;

/// How the receiver's certificate is checked.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    /// The name its certificate must carry.
    pub server_name: String,
    /// PEM certificates of the CAs to trust; `None`: the system's.
    pub ca_pem: Option<Vec<u8>>,
}

impl TlsSettings {
    /// The connector these settings describe, or why there is none (a CA file without
    /// certificates, an unusable server name): checked at start-up.
    pub fn connector(&self) -> Result<(TlsConnector, pki_types::ServerName<'static>), String> {
        let config = moat_store::tls::client_config(self.ca_pem.as_deref())?;
        let name = pki_types::ServerName::try_from(self.server_name.clone())
            .map_err(|_| format!("`{}` is not a server name", self.server_name))?;
        Ok((TlsConnector::from(Arc::new(config)), name))
    }
}

pub struct SyslogSink {
    address: String,
    tls: Option<Result<(TlsConnector, pki_types::ServerName<'static>), String>>,
    hostname: String,
    procid: u32,
}

/// Longest a connection may take to open, and a batch to be read and closed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const BATCH_TIMEOUT: Duration = Duration::from_secs(60);

impl SyslogSink {
    pub fn new(address: &str, tls: Option<TlsSettings>, hostname: &str) -> SyslogSink {
        SyslogSink {
            address: address.to_string(),
            tls: tls.map(|settings| settings.connector()),
            hostname: hostname.to_string(),
            procid: std::process::id(),
        }
    }

    pub async fn deliver(&mut self, events: &[Forwarded]) -> Result<(), String> {
        let mut frames = String::new();
        for event in events {
            frames.push_str(&octet_counted(&event.syslog(&self.hostname, self.procid)));
        }
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&self.address))
            .await
            .map_err(|_| format!("connecting to {}: timed out", self.address))?
            .map_err(|e| format!("connecting to {}: {e}", self.address))?;
        let _ = tcp.set_nodelay(true);
        let sent = async {
            match &self.tls {
                None => send_and_close(tcp, frames.as_bytes()).await,
                Some(Err(why)) => Err(why.clone()),
                Some(Ok((connector, name))) => {
                    let stream = connector
                        .connect(name.clone(), tcp)
                        .await
                        .map_err(|e| format!("TLS: {e}"))?;
                    send_and_close(stream, frames.as_bytes()).await
                }
            }
        };
        tokio::time::timeout(BATCH_TIMEOUT, sent)
            .await
            .map_err(|_| format!("{} did not read the batch in time", self.address))?
            .map_err(|e| format!("{}: {e}", self.address))
    }
}

/// Writes everything, closes Moat's side, and waits until the receiver closes its own:
/// only then has it read the whole batch.
async fn send_and_close<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    bytes: &[u8],
) -> Result<(), String> {
    stream
        .write_all(bytes)
        .await
        .map_err(|e| format!("sending: {e}"))?;
    stream
        .shutdown()
        .await
        .map_err(|e| format!("closing: {e}"))?;
    let mut sink = [0u8; 1024];
    loop {
        match stream.read(&mut sink).await {
            Ok(0) => return Ok(()),
            Ok(_) => continue,
            // The receiver closed TCP without TLS's close_notify after reading ours.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(format!("the receiver broke the connection: {e}")),
        }
    }
}

//! The HTTP sink: a batch per POST, delivered when the collector answers 2xx.

use super::{Forwarded, HttpFormat};
use std::time::Duration;

pub struct HttpSink {
    client: reqwest::Client,
    url: String,
    format: HttpFormat,
    token: Option<String>,
    hostname: String,
}

/// Longest a collector may take to accept a batch.
const TIMEOUT: Duration = Duration::from_secs(30);

impl HttpSink {
    pub fn new(url: &str, format: HttpFormat, token: Option<String>, hostname: &str) -> HttpSink {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        HttpSink {
            client,
            url: url.to_string(),
            format,
            token,
            hostname: hostname.to_string(),
        }
    }

    pub async fn deliver(&mut self, events: &[Forwarded]) -> Result<(), String> {
        let body = match self.format {
            HttpFormat::Json | HttpFormat::Ocsf => {
                let items: Vec<&str> = events.iter().map(Forwarded::body).collect();
                format!("[{}]", items.join(","))
            }
            HttpFormat::Hec => events
                .iter()
                .map(|e| e.hec(&self.hostname))
                .collect::<Vec<_>>()
                .join("\n"),
        };
        let mut request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = &self.token {
            let scheme = match self.format {
                HttpFormat::Hec => "Splunk",
                HttpFormat::Json | HttpFormat::Ocsf => "Bearer",
            };
            request = request.header("authorization", format!("{scheme} {token}"));
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("POST {}: {e}", self.url))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        let text: String = text.chars().take(200).collect();
        Err(format!("POST {} answered {status}: {text}", self.url))
    }
}

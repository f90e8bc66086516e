//! The HTTP witness: every checkpoint is POSTed (as `text/plain`, the signed note) to
//! each `[audit] witness_urls` endpoint, e.g. a transparency-log witness or a service in
//! another trust domain. A failed delivery is logged and does not stop the log; the next
//! checkpoint is delivered again in full.

use moat_service::audit::Witness;
use std::time::Duration;

pub struct HttpWitness {
    url: String,
    client: reqwest::Client,
}

impl HttpWitness {
    pub fn new(url: &str) -> anyhow::Result<HttpWitness> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the HTTP client for witness {url}: {e}"))?;
        Ok(HttpWitness {
            url: url.to_string(),
            client,
        })
    }
}

#[async_trait::async_trait]
impl Witness for HttpWitness {
    fn describe(&self) -> String {
        self.url.clone()
    }

    async fn publish(&self, note: &str) -> Result<(), String> {
        let response = self
            .client
            .post(&self.url)
            .header("content-type", "text/plain; charset=utf-8")
            .body(note.to_string())
            .send()
            .await
            .map_err(|e| format!("POST {} failed: {e}", self.url))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("POST {} answered {}", self.url, response.status()))
        }
    }
}

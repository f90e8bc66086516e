//! Helpers shared by the integration tests: clients for each vendor and an SSE reader.

use serde_json::Value;
use standin_vendor::StandIn;

/// One server-sent event: its `event:` name, if any, and its `data:` text.
#[derive(Debug)]
pub struct Event {
    pub name: Option<String>,
    pub data: String,
}

impl Event {
    /// The data as JSON; panics with the text if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|error| panic!("event data {:?} is not JSON: {error}", self.data))
    }
}

/// Splits an event-stream body into its events; a partial last event is kept.
pub fn events(body: &str) -> Vec<Event> {
    body.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut event = Event {
                name: None,
                data: String::new(),
            };
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event: ") {
                    event.name = Some(name.to_owned());
                } else if let Some(data) = line.strip_prefix("data: ") {
                    event.data.push_str(data);
                }
            }
            event
        })
        .collect()
}

/// `POST /v1/chat/completions` with a bearer key.
pub async fn openai_chat(standin: &StandIn, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", standin.url))
        .bearer_auth("sk-test")
        .json(body)
        .send()
        .await
        .expect("the stand-in answers")
}

/// `POST /v1/messages` (or another Anthropic path) with a key and a version.
pub async fn anthropic_post(standin: &StandIn, path: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}{path}", standin.url))
        .header("x-api-key", "sk-ant-test")
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .expect("the stand-in answers")
}

/// The number of tokens the stand-in estimates for `bytes` bytes.
pub fn tokens(bytes: usize) -> u64 {
    bytes.div_ceil(4) as u64
}

/// Reads a body chunk by chunk: the text that arrived, and whether the read then failed.
pub async fn read_body_until_failure(mut response: reqwest::Response) -> (String, bool) {
    let mut received = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => received.extend_from_slice(&chunk),
            Ok(None) => return (String::from_utf8_lossy(&received).into_owned(), false),
            Err(_) => return (String::from_utf8_lossy(&received).into_owned(), true),
        }
    }
}

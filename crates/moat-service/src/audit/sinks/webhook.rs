//! The webhook sink: one POST per alert, as a Slack message, a Teams Adaptive Card or
//! the event's own JSON. Delivered when the receiver answers 2xx.

use super::{Forwarded, WebhookFormat};
use serde_json::{Value, json};
use std::time::Duration;

pub struct WebhookSink {
    client: reqwest::Client,
    url: String,
    format: WebhookFormat,
    token: Option<String>,
}

/// Longest a receiver may take to accept a message.
const TIMEOUT: Duration = Duration::from_secs(15);

impl WebhookSink {
    pub fn new(url: &str, format: WebhookFormat, token: Option<String>) -> WebhookSink {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        WebhookSink {
            client,
            url: url.to_string(),
            format,
            token,
        }
    }

    pub async fn deliver(&mut self, events: &[Forwarded]) -> Result<(), String> {
        for event in events {
            self.post(event).await?;
        }
        Ok(())
    }

    async fn post(&self, event: &Forwarded) -> Result<(), String> {
        let parsed: Value = serde_json::from_str(&event.json)
            .map_err(|e| format!("event {} cannot be read: {e}", event.seq))?;
        let summary = Summary::of(&parsed);
        let body = match self.format {
            WebhookFormat::Slack => slack(&summary),
            WebhookFormat::Teams => teams(&summary),
            WebhookFormat::Json => parsed,
        };
        match self.send(&body).await {
            // A chat service that refuses the message itself (400: too long, a shape
            // it no longer takes) would refuse it forever and hold up every later alert:
            // it gets the shortest message that still says where to look.
            Err((Some(status), error))
                if status.is_client_error()
                    && status != reqwest::StatusCode::TOO_MANY_REQUESTS
                    && status != reqwest::StatusCode::REQUEST_TIMEOUT
                    && self.format != WebhookFormat::Json =>
            {
                tracing::warn!(%error, "the webhook refused an alert; sending the short form");
                let short = Summary {
                    title: truncate(&summary.title, 150),
                    text: "The full alert could not be posted here.".into(),
                    facts: summary
                        .facts
                        .iter()
                        .filter(|(name, _)| *name == "see")
                        .cloned()
                        .collect(),
                };
                let body = match self.format {
                    WebhookFormat::Teams => teams(&short),
                    _ => slack(&short),
                };
                self.send(&body).await.map_err(|(_, error)| error)
            }
            other => other.map_err(|(_, error)| error),
        }
    }

    /// One POST; on failure, the status (if the receiver answered) and why.
    async fn send(&self, body: &Value) -> Result<(), (Option<reqwest::StatusCode>, String)> {
        let mut request = self.client.post(&self.url).json(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        // The URL of a Slack or Teams webhook is its secret: errors name the host only.
        let host = reqwest::Url::parse(&self.url)
            .ok()
            .and_then(|u| u.host_str().map(String::from))
            .unwrap_or_else(|| "the webhook".into());
        let response = request
            .send()
            .await
            .map_err(|e| (None, format!("POST to {host}: {}", e.without_url())))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        let text: String = text.chars().take(200).collect();
        Err((
            Some(status),
            format!("POST to {host} answered {status}: {text}"),
        ))
    }
}

/// What a person reading the alert in a channel needs.
#[derive(Clone)]
pub struct Summary {
    pub title: String,
    pub text: String,
    pub facts: Vec<(&'static str, String)>,
}

impl Summary {
    /// From an event as exported (flat JSON with `seq` and `leaf_hash`).
    pub fn of(event: &Value) -> Summary {
        let text_of = |v: &Value| v.as_str().map(String::from);
        let action = text_of(&event["action"]).unwrap_or_default();
        let who = text_of(&event["actor"]["email"])
            .or_else(|| text_of(&event["details"]["subject"]))
            .or_else(|| text_of(&event["actor"]["user"]))
            .unwrap_or_else(|| "-".into());
        let title = match action.strip_prefix("alert.") {
            Some(rule) => format!("Moat alert: {rule} ({who})"),
            None => format!("Moat: {action} ({who})"),
        };
        let text = text_of(&event["decision"]["reason"]).unwrap_or_else(|| action.clone());
        let seq = event["seq"].as_u64().unwrap_or_default();
        let mut facts = vec![
            ("event", format!("{action}, seq {seq}")),
            ("time", text_of(&event["time"]).unwrap_or_default()),
            ("who", who),
        ];
        if let Some(rule) = text_of(&event["decision"]["rule"]) {
            facts.push(("rule", rule));
        }
        if let Some(seqs) = event["details"]["seqs"].as_array() {
            let seqs: Vec<String> = seqs.iter().map(Value::to_string).collect();
            facts.push(("triggered by", format!("events {}", seqs.join(", "))));
        }
        facts.push(("see", format!("moat audit show {seq}")));
        Summary { title, text, facts }
    }
}

/// A Slack incoming-webhook message: `text` for notifications, `blocks` for the card.
/// Slack's limits: a header's text, a section's text, a field's text.
const SLACK_HEADER: usize = 150;
const SLACK_SECTION: usize = 3000;
const SLACK_FIELD: usize = 2000;

pub fn slack(summary: &Summary) -> Value {
    // Escaped first, then cut: escaping lengthens, and Slack counts what it receives.
    let fields: Vec<Value> = summary
        .facts
        .iter()
        .map(|(name, value)| {
            let text = format!("*{name}*\n{}", escape_slack(value));
            json!({"type": "mrkdwn", "text": truncate(&text, SLACK_FIELD)})
        })
        .collect();
    let text = escape_slack(&format!("{}: {}", summary.title, summary.text));
    json!({
        "text": truncate(&text, SLACK_SECTION),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": truncate(&summary.title, SLACK_HEADER)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": truncate(&escape_slack(&summary.text), SLACK_SECTION)}},
            {"type": "section", "fields": fields.into_iter().take(10).collect::<Vec<_>>()},
        ],
    })
}

/// A Teams message carrying an Adaptive Card, as a Workflows webhook takes it.
///
/// Every value is a `TextRun` of a `RichTextBlock`, which Adaptive Cards render as
/// written: a `TextBlock` or a `FactSet` reads its text as Markdown, so a reason or an
/// email could show `[a link](…)` of its own choosing or bold text posing as Moat's.
pub fn teams(summary: &Summary) -> Value {
    let run = |text: String| json!({"type": "TextRun", "text": text});
    let mut body = vec![
        json!({"type": "RichTextBlock", "inlines": [
            {"type": "TextRun", "text": truncate(&summary.title, 300), "weight": "Bolder", "size": "Medium"}
        ]}),
        json!({"type": "RichTextBlock", "inlines": [run(truncate(&summary.text, 3000))]}),
    ];
    body.extend(summary.facts.iter().map(|(name, value)| {
        json!({"type": "RichTextBlock", "inlines": [
            {"type": "TextRun", "text": format!("{name}: "), "weight": "Bolder"},
            run(truncate(value, 1000)),
        ]})
    }));
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            },
        }],
    })
}

/// Slack's mrkdwn treats `&`, `<` and `>` as markup: a value can't forge a link.
fn escape_slack(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `chars` characters, an ellipsis marking a cut; never inside an escape
/// (`&amp;` cut in half would show as text).
fn truncate(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_string();
    }
    let mut out: String = text.chars().take(chars.saturating_sub(1)).collect();
    if let Some(amp) = out.rfind('&')
        && !out[amp..].contains(';')
    {
        out.truncate(amp);
    }
    out.push('…');
    out
}

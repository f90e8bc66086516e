//! What each sink sends for an event: the flat JSON of `moat audit export --format
//! jsonl` (the event's own fields plus `leaf_hash`), wrapped for Splunk HEC or framed
//! as an RFC 5424 syslog message.

use moat_audit::event::event_leaf_hash;
use moat_store::AuditLeaf;
use serde_json::Value;

/// One event as the sinks send it.
pub struct Forwarded {
    pub seq: u64,
    /// The event's fields plus `leaf_hash`, compact JSON.
    pub json: String,
    /// RFC 3339 UTC with milliseconds, as the log writes it.
    pub time: String,
    pub action: String,
    pub denied: bool,
    /// The event as OCSF (see `audit::ocsf`), when the sink sends OCSF.
    pub ocsf: Option<String>,
}

impl Forwarded {
    /// The event of `leaf` as sent; with `ocsf`, its OCSF form too.
    pub fn from_leaf(leaf: &AuditLeaf, ocsf: bool) -> Result<Forwarded, String> {
        let unreadable = |why: String| format!("event {} cannot be read: {why}", leaf.seq);
        let mut event: Value =
            serde_json::from_slice(&leaf.canonical).map_err(|e| unreadable(e.to_string()))?;
        let object = event
            .as_object_mut()
            .ok_or_else(|| unreadable("not a JSON object".into()))?;
        let text = |key: &str| object.get(key).and_then(Value::as_str).map(String::from);
        let time = text("time").ok_or_else(|| unreadable("no time".into()))?;
        let action = text("action").unwrap_or_default();
        let denied = object
            .get("decision")
            .and_then(|d| d.get("outcome"))
            .and_then(Value::as_str)
            == Some("deny");
        // Recomputed rather than trusted from the row: it is what an auditor checks.
        let leaf_hash = hex::encode(event_leaf_hash(&leaf.canonical));
        object.insert("leaf_hash".into(), Value::String(leaf_hash));
        let ocsf = if ocsf {
            let parsed = moat_audit::event::Event::from_canonical(&leaf.canonical)
                .map_err(|e| unreadable(e.to_string()))?;
            Some(crate::audit::ocsf::to_ocsf(&parsed, &event).to_string())
        } else {
            None
        };
        Ok(Forwarded {
            seq: leaf.seq,
            json: event.to_string(),
            time,
            action,
            denied,
            ocsf,
        })
    }

    /// What a JSON sink sends: the OCSF form when there is one, else the event.
    pub fn body(&self) -> &str {
        self.ocsf.as_deref().unwrap_or(&self.json)
    }

    /// Seconds since the epoch (with milliseconds), HEC's `time`.
    fn epoch_seconds(&self) -> f64 {
        time::OffsetDateTime::parse(&self.time, &time::format_description::well_known::Rfc3339)
            .map(|t| t.unix_timestamp_nanos() as f64 / 1e9)
            .unwrap_or(0.0)
    }

    /// One Splunk HEC event object.
    pub fn hec(&self, host: &str) -> String {
        format!(
            r#"{{"time":{:.3},"host":{},"source":"moat","sourcetype":"moat:audit","event":{}}}"#,
            self.epoch_seconds(),
            Value::String(host.to_string()),
            self.json
        )
    }

    /// An RFC 5424 message: facility log audit (13), severity notice for a refusal
    /// and informational otherwise, APP-NAME `moat`, MSGID the action, the sequence
    /// number and leaf hash as structured data, and the event's JSON as MSG.
    pub fn syslog(&self, hostname: &str, procid: u32) -> String {
        const LOG_AUDIT: u32 = 13;
        let severity = if self.denied { 5 } else { 6 };
        format!(
            "<{}>1 {} {} moat {} {} [moat@32473 seq=\"{}\"] {}",
            LOG_AUDIT * 8 + severity,
            self.time,
            header_field(hostname, 255),
            procid,
            header_field(&self.action, 32),
            self.seq,
            self.json
        )
    }
}

/// A header field of RFC 5424: printable US-ASCII without spaces, bounded, `-` if empty.
fn header_field(value: &str, max: usize) -> String {
    let field: String = value
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if field.is_empty() {
        "-".to_string()
    } else {
        field
    }
}

/// Octet-counting framing (RFC 6587 §3.4.1, as RFC 5425 requires): `LEN SP MSG`.
pub fn octet_counted(message: &str) -> String {
    format!("{} {message}", message.len())
}

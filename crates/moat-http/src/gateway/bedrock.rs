//! Amazon Bedrock as AWS documents it for Anthropic's models: `InvokeModel`
//! (`POST /model/<model id>/invoke`) and `InvokeModelWithResponseStream`
//! (`.../invoke-with-response-stream`), the Messages body without `model` and `stream`
//! and with `anthropic_version: "bedrock-2023-05-31"` (betas as `anthropic_beta`),
//! signed with SigV4. A whole answer is Anthropic's message; a stream is AWS
//! event-stream frames, each `chunk` carrying one of Anthropic's events base64-encoded,
//! which are turned back into Anthropic's SSE events here, so everything after reads
//! them as from Anthropic. Bedrock's other models are called through Converse
//! (`.../converse`, `.../converse-stream`), whose body and events
//! `moat_service::gateway::translate::converse` turns from and into Anthropic's.

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use base64::Engine;
use moat_service::gateway::translate::converse::ConverseStream;
use serde_json::{Value, json};

/// The body Bedrock takes for an Anthropic model.
pub(super) fn body(sent: &mut Value, betas: &[&str]) {
    if let Some(fields) = sent.as_object_mut() {
        fields.remove("model");
        fields.remove("stream");
        fields.insert("anthropic_version".into(), json!("bedrock-2023-05-31"));
        if !betas.is_empty() {
            fields.insert("anthropic_beta".into(), json!(betas));
        }
    }
}

/// The address of a model's invocation: its id as one path segment, encoded as the AWS
/// SDKs encode it (`:` as `%3A`).
pub(super) fn url(base: &str, model: &str, stream: bool, converse: bool) -> String {
    let id: String = model
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect();
    let action = match (converse, stream) {
        (false, true) => "invoke-with-response-stream",
        (false, false) => "invoke",
        (true, true) => "converse-stream",
        (true, false) => "converse",
    };
    format!("{base}/model/{id}/{action}")
}

/// Turns a Bedrock event stream into Anthropic's SSE events, keeping a partial frame
/// across chunks.
#[derive(Default)]
pub(super) struct EventStream {
    buffer: Vec<u8>,
    decoder: MessageFrameDecoder,
    /// The decoder holds the start of a frame (its prelude) it has not finished.
    pending: bool,
    /// A Converse stream's events, turned into Anthropic's.
    converse: Option<ConverseStream>,
}

/// A frame longer than this is a broken stream.
const MAX_FRAME: usize = 16 << 20;

impl EventStream {
    /// A ConverseStream answer from `model`, given message id `id`.
    pub(super) fn converse(model: &str, id: &str) -> EventStream {
        EventStream {
            converse: Some(ConverseStream::new(model, id)),
            ..Default::default()
        }
    }

    /// The SSE events of the frames complete in `chunk` (with what was kept).
    pub(super) fn push(&mut self, chunk: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        // Frames are read off the front and the buffer shortened once, after.
        let mut rest: &[u8] = &self.buffer;
        let result = loop {
            let before = rest.len();
            match self.decoder.decode_frame(&mut rest) {
                Err(e) => break Err(format!("the vendor's event stream is broken: {e}")),
                Ok(DecodedFrame::Incomplete) => {
                    self.pending |= rest.len() < before;
                    break Ok(());
                }
                Ok(DecodedFrame::Complete(message)) => {
                    self.pending = false;
                    match event_of(&message, self.converse.as_mut()) {
                        Ok(more) => events.extend(more),
                        Err(why) => break Err(why),
                    }
                }
            }
        };
        let used = self.buffer.len() - rest.len();
        self.buffer.drain(..used);
        result?;
        if self.buffer.len() > MAX_FRAME {
            return Err(format!("an event stream frame exceeded {MAX_FRAME} bytes"));
        }
        Ok(events)
    }

    /// A frame begun and not finished at the end of the stream.
    pub(super) fn leftover(&self) -> bool {
        self.pending || !self.buffer.is_empty()
    }
}

/// One frame as SSE events: a `chunk`'s Anthropic event, a Converse event's (through
/// `converse`), or an exception as Anthropic's `error` event.
fn event_of(
    message: &aws_smithy_types::event_stream::Message,
    converse: Option<&mut ConverseStream>,
) -> Result<Vec<Vec<u8>>, String> {
    let header = |name: &str| {
        message
            .headers()
            .iter()
            .find(|h| h.name().as_str() == name)
            .and_then(|h| h.value().as_string().ok())
            .map(|v| v.as_str().to_string())
    };
    let payload: Value = serde_json::from_slice(message.payload()).unwrap_or(Value::Null);
    match (header(":message-type").as_deref(), converse) {
        (Some("event"), Some(converse)) => {
            let kind = header(":event-type").unwrap_or_default();
            let events = converse
                .push(&kind, &payload)
                .map_err(|why| format!("the vendor's Converse stream is broken: {why}"))?;
            Ok(events
                .into_iter()
                .map(|(name, data)| {
                    format!("event: {}\ndata: {data}\n\n", name.unwrap_or_default()).into_bytes()
                })
                .collect())
        }
        (Some("event"), None) if header(":event-type").as_deref() == Some("chunk") => {
            let bytes = payload["bytes"].as_str().unwrap_or_default();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(bytes)
                .map_err(|_| {
                    "the vendor's event stream carried a chunk that is not base64".to_string()
                })?;
            let event: Value = serde_json::from_slice(&decoded).map_err(|_| {
                "the vendor's event stream carried a chunk that is not JSON".to_string()
            })?;
            // The event's type becomes its SSE name: only a name as Anthropic writes
            // them, so a chunk cannot write lines (events) of its own.
            let name = event["type"]
                .as_str()
                .filter(|t| {
                    !t.is_empty() && t.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                })
                .ok_or("the vendor's event stream carried a chunk that is not one of Anthropic's events")?;
            Ok(vec![
                format!("event: {name}\ndata: {event}\n\n").into_bytes(),
            ])
        }
        (Some("event"), None) => Ok(Vec::new()),
        _ => {
            let kind = header(":exception-type")
                .or_else(|| header(":error-code"))
                .unwrap_or_else(|| "exception".into());
            let text = payload["message"]
                .as_str()
                .or_else(|| payload["Message"].as_str())
                .unwrap_or("the vendor reported an error")
                .to_string();
            let error = json!({"type": "error", "error": {"type": "api_error", "message": format!("{kind}: {text}")}});
            Ok(vec![
                format!("event: error\ndata: {error}\n\n").into_bytes(),
            ])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::write_message_to;
    use aws_smithy_types::event_stream::{Header, HeaderValue, Message};

    fn frame(headers: &[(&str, &str)], payload: Value) -> Vec<u8> {
        let mut message = Message::new(payload.to_string().into_bytes());
        for (name, value) in headers {
            message = message.add_header(Header::new(
                name.to_string(),
                HeaderValue::String(value.to_string().into()),
            ));
        }
        let mut out = Vec::new();
        write_message_to(&message, &mut out).unwrap();
        out
    }

    #[test]
    fn frames_cut_anywhere_become_anthropics_events() {
        let event = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}});
        let encoded = base64::engine::general_purpose::STANDARD.encode(event.to_string());
        let mut bytes = frame(
            &[(":message-type", "event"), (":event-type", "chunk")],
            json!({"bytes": encoded}),
        );
        bytes.extend(frame(
            &[
                (":message-type", "exception"),
                (":exception-type", "throttlingException"),
            ],
            json!({"message": "slow down"}),
        ));
        for cut in [1, 7, 13, bytes.len() - 1] {
            let mut stream = EventStream::default();
            let mut events = stream.push(&bytes[..cut]).unwrap();
            events.extend(stream.push(&bytes[cut..]).unwrap());
            assert!(!stream.leftover());
            assert_eq!(events.len(), 2);
            let first = String::from_utf8(events[0].clone()).unwrap();
            assert!(
                first.starts_with("event: content_block_delta\ndata: {"),
                "{first}"
            );
            assert!(first.contains("\"text\":\"hi\""), "{first}");
            let second = String::from_utf8(events[1].clone()).unwrap();
            assert!(
                second.starts_with("event: error\n")
                    && second.contains("throttlingException: slow down"),
                "{second}"
            );
        }
        let mut stream = EventStream::default();
        assert!(
            stream
                .push(&[0, 0, 0, 16, 0, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9, 9])
                .is_err(),
            "a bad checksum is a broken stream"
        );
        // A frame cut off after its prelude is left over, though no byte is buffered.
        let mut stream = EventStream::default();
        stream.push(&bytes[..12]).unwrap();
        assert!(stream.leftover());
        // A chunk whose type would write lines of its own is refused.
        for kind in [
            "ping\n\nevent: message_stop",
            "ping\revent: message_stop",
            "",
            "Message_Stop",
        ] {
            let injected = json!({"type": kind});
            let encoded = base64::engine::general_purpose::STANDARD.encode(injected.to_string());
            let frame = frame(
                &[(":message-type", "event"), (":event-type", "chunk")],
                json!({"bytes": encoded}),
            );
            let error = EventStream::default().push(&frame).unwrap_err();
            assert!(
                error.contains("not one of Anthropic's events"),
                "{kind:?}: {error}"
            );
        }
    }

    #[test]
    fn the_body_and_address_are_bedrocks() {
        let mut sent = json!({"model": "m", "stream": true, "max_tokens": 5, "messages": []});
        body(&mut sent, &["context-1m-2025-08-07"]);
        assert_eq!(
            sent,
            json!({"max_tokens": 5, "messages": [], "anthropic_version": "bedrock-2023-05-31", "anthropic_beta": ["context-1m-2025-08-07"]})
        );
        assert_eq!(
            url(
                "https://bedrock-runtime.us-east-1.amazonaws.com",
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                true,
                false
            ),
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream"
        );
        assert_eq!(
            url("https://b", "meta.llama3-1-70b-instruct-v1:0", true, true),
            "https://b/model/meta.llama3-1-70b-instruct-v1%3A0/converse-stream"
        );
        assert_eq!(
            url("https://b", "m", false, true),
            "https://b/model/m/converse"
        );
    }
}

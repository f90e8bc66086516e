//! Putting a request's redacted values back into a streamed answer, event by event.

use super::relay::encode_event;
use super::wire;
use moat_service::gateway::{WireFormat, restore_json};
use serde_json::Value;

/// Restores placeholders in streamed text deltas. A placeholder may be split across
/// deltas, so an unfinished one is held back and sent with the next delta (or on its
/// own, in the shape of the last delta, before any other event).
pub(super) struct DeltaRestorer {
    format: WireFormat,
    originals: moat_dlp::Originals,
    pending: String,
    /// The last delta event (name and JSON), the shape for flushing held-back text.
    template: Option<(Option<String>, Value, &'static str)>,
}

impl DeltaRestorer {
    pub(super) fn new(format: WireFormat, originals: moat_dlp::Originals) -> DeltaRestorer {
        DeltaRestorer {
            format,
            originals,
            pending: String::new(),
            template: None,
        }
    }

    pub(super) fn process(
        &mut self,
        name: Option<String>,
        data: &str,
        raw: Vec<u8>,
    ) -> Vec<Vec<u8>> {
        if let Ok(mut value) = serde_json::from_str::<Value>(data)
            && let Some(pointer) = wire::delta_text_pointer(self.format, &value)
        {
            let mut text = std::mem::take(&mut self.pending);
            text.push_str(value.pointer(pointer).and_then(Value::as_str).unwrap_or(""));
            if let Some(cut) = self.originals.unfinished(&text) {
                self.pending = text.split_off(cut);
            }
            if let Some(slot) = value.pointer_mut(pointer) {
                *slot = Value::String(self.originals.restore(&text));
            }
            let out = encode_event(name.as_deref(), &value);
            self.template = Some((name, value, pointer));
            return vec![out];
        }
        let mut out = self.flush();
        // Any other event that carries a placeholder (a finished text, a tool call's
        // arguments, the Responses API's whole response) is restored whole.
        match serde_json::from_str::<Value>(data) {
            Ok(mut value) if data.contains("[REDACTED:") => {
                restore_json(&mut value, &self.originals);
                out.push(encode_event(name.as_deref(), &value));
            }
            _ => out.push(raw),
        }
        out
    }

    /// Sends held-back text as it is (it never became a whole placeholder).
    pub(super) fn flush(&mut self) -> Vec<Vec<u8>> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        let text = std::mem::take(&mut self.pending);
        match self.template.as_mut() {
            Some((name, value, pointer)) => {
                if let Some(slot) = value.pointer_mut(pointer) {
                    *slot = Value::String(text);
                }
                vec![encode_event(name.as_deref(), value)]
            }
            None => Vec::new(),
        }
    }
}

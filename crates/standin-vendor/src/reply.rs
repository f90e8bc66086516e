//! What to answer, decided from the request alone; the same rules for both vendors.
//!
//! The reply echoes the last user message. Markers in that text ask for a failure or a
//! tool call, so a test steers the stand-in through the prompt it sends through the
//! gateway, with no side channel. Usage counts are an estimate that depends only on byte
//! lengths, so a test can predict them exactly.

use serde_json::Value;

/// In the last user text: answer 500 before sending anything.
pub const MARKER_FAIL_BEFORE: &str = "STANDIN_FAIL_BEFORE";
/// In the last user text: cut a stream off after its first events (500 if not streaming).
pub const MARKER_FAIL_MIDSTREAM: &str = "STANDIN_FAIL_MIDSTREAM";
/// In the last user text, with a non-empty `tools` array: call the first tool.
pub const MARKER_TOOL: &str = "STANDIN_TOOL";
/// In the last user text: stream the answer slowly (a pause before each event), so a
/// benchmark can hold many streams open at once.
pub const MARKER_SLOW_STREAM: &str = "STANDIN_SLOW_STREAM";
/// In the last user text: wait [`SLOW_ANSWER_PAUSE`] before answering, so a test can
/// go away while the vendor is still working.
pub const MARKER_SLOW_ANSWER: &str = "STANDIN_SLOW_ANSWER";
/// How long a [`MARKER_SLOW_ANSWER`] request waits.
pub const SLOW_ANSWER_PAUSE: std::time::Duration = std::time::Duration::from_secs(2);
/// In the last user text: report no usage, even when asked for it (as some
/// OpenAI-compatible servers do).
pub const MARKER_NO_USAGE: &str = "STANDIN_NO_USAGE";
/// In the last user text: answer with [`WRITTEN_CODE`] in a fenced block, code the
/// prompt did not contain (as a model writing code would).
pub const MARKER_WRITE_CODE: &str = "STANDIN_WRITE_CODE";
/// The code a [`MARKER_WRITE_CODE`] answer contains.
pub const WRITTEN_CODE: &str = "pub fn backoff_schedule(attempts: u32, base_ms: u64) -> Vec<u64> {\n    (0..attempts)\n        .map(|i| base_ms.saturating_mul(1 << i).min(30_000))\n        .collect()\n}\n";

/// In the last user text: answer with [`WRITTEN_VULNERABLE_CODE`], Python that builds SQL
/// by concatenation — the kind of mistake `moat scan --ai-only` is for.
pub const MARKER_WRITE_VULNERABLE: &str = "STANDIN_WRITE_VULNERABLE";
/// The code a [`MARKER_WRITE_VULNERABLE`] answer contains.
pub const WRITTEN_VULNERABLE_CODE: &str = "def orders_of(cursor, customer_name):
    query = \"SELECT id, total, placed_at FROM orders WHERE customer = '\" + customer_name + \"'\"
    cursor.execute(query)
    rows = cursor.fetchall()
    return [dict(id=r[0], total=r[1], placed_at=r[2]) for r in rows]
";

/// Into how many pieces a streamed reply is cut.
const STREAM_PIECES: usize = 3;

/// What the stand-in does with a request.
#[derive(Debug, PartialEq)]
pub(crate) enum Plan {
    /// Answer 500 in the vendor's error format.
    Fail,
    /// Answer with `reply`; when streaming and `abort_midstream`, stop after the first events.
    Answer { reply: Reply, abort_midstream: bool },
}

/// The assistant's turn.
#[derive(Debug, PartialEq)]
pub(crate) enum Reply {
    /// Plain text.
    Text(String),
    /// A call of the tool named `name`, with `input` as a JSON value and as text.
    ToolCall {
        name: String,
        input: Value,
        arguments: String,
    },
}

impl Reply {
    /// What is streamed and counted: the text, or the tool arguments as JSON text.
    pub fn output(&self) -> &str {
        match self {
            Reply::Text(text) => text,
            Reply::ToolCall { arguments, .. } => arguments,
        }
    }

    /// Output tokens, estimated from [`Reply::output`].
    pub fn output_tokens(&self) -> u64 {
        token_estimate(self.output().len())
    }

    /// [`Reply::output`] cut into about three pieces, for streaming.
    pub fn pieces(&self) -> Vec<&str> {
        pieces(self.output())
    }
}

/// Decides the answer from the last user text and the first tool's name, if any.
pub(crate) fn plan(last_user_text: &str, first_tool_name: Option<&str>, streaming: bool) -> Plan {
    let midstream = last_user_text.contains(MARKER_FAIL_MIDSTREAM);
    if last_user_text.contains(MARKER_FAIL_BEFORE) || (midstream && !streaming) {
        return Plan::Fail;
    }
    let reply = match first_tool_name {
        Some(name) if last_user_text.contains(MARKER_TOOL) => {
            let input = serde_json::json!({ "echo": last_user_text });
            Reply::ToolCall {
                name: name.to_owned(),
                arguments: input.to_string(),
                input,
            }
        }
        _ if last_user_text.contains(MARKER_WRITE_VULNERABLE) => Reply::Text(format!(
            "Here you go:\n```python\n{WRITTEN_VULNERABLE_CODE}```\n"
        )),
        _ if last_user_text.contains(MARKER_WRITE_CODE) => {
            Reply::Text(format!("Here you go:\n```rust\n{WRITTEN_CODE}```\n"))
        }
        _ => Reply::Text(format!("echo: {last_user_text}")),
    };
    Plan::Answer {
        reply,
        abort_midstream: midstream,
    }
}

/// Tokens for `bytes` bytes: one per four bytes, rounded up.
pub(crate) fn token_estimate(bytes: usize) -> u64 {
    u64::try_from(bytes.div_ceil(4)).unwrap_or(u64::MAX)
}

/// The text of the last message whose role is `user`, or `""` if there is none.
///
/// Content may be a string or an array of parts. Text parts (`{"type":"text","text":..}`,
/// both vendors) count, and so do Anthropic `tool_result` blocks whose `content` is a
/// string or text blocks; other parts (images, documents) are skipped. Parts are joined
/// with a newline.
pub(crate) fn last_user_text(messages: Option<&Value>) -> String {
    messages
        .and_then(Value::as_array)
        .and_then(|messages| {
            messages
                .iter()
                .rev()
                .find(|message| message.get("role").and_then(Value::as_str) == Some("user"))
        })
        .and_then(|message| message.get("content"))
        .map(content_text)
        .unwrap_or_default()
}

/// The text of a `content` value: a string, or the text parts of an array.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(part_text)
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The text one content part contributes, if any.
fn part_text(part: &Value) -> Option<String> {
    match part.get("type").and_then(Value::as_str)? {
        "text" => part.get("text").and_then(Value::as_str).map(str::to_owned),
        "tool_result" => part.get("content").map(content_text),
        _ => None,
    }
}

/// `text` cut at character boundaries into [`STREAM_PIECES`] pieces or fewer.
fn pieces(text: &str) -> Vec<&str> {
    let per_piece = text.chars().count().div_ceil(STREAM_PIECES).max(1);
    let mut pieces = Vec::with_capacity(STREAM_PIECES);
    let mut rest = text;
    while !rest.is_empty() {
        let cut = rest
            .char_indices()
            .nth(per_piece)
            .map_or(rest.len(), |(index, _)| index);
        let (piece, tail) = rest.split_at(cut);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn last_user_text_reads_strings_parts_and_tool_results() {
        let messages = json!([
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ignored"},
            {"role": "user", "content": [
                {"type": "text", "text": "hello"},
                {"type": "image_url", "image_url": {"url": "x"}},
                {"type": "tool_result", "tool_use_id": "t", "content": "result"},
                {"type": "tool_result", "tool_use_id": "u", "content": [{"type": "text", "text": "block"}]}
            ]},
            {"role": "tool", "content": "not a user"}
        ]);
        assert_eq!(last_user_text(Some(&messages)), "hello\nresult\nblock");
        assert_eq!(last_user_text(Some(&json!([]))), "");
        assert_eq!(last_user_text(None), "");
    }

    #[test]
    fn plan_writes_code_the_prompt_did_not_contain() {
        let Plan::Answer { reply, .. } = plan("please STANDIN_WRITE_CODE", None, false) else {
            panic!("expected an answer");
        };
        assert!(reply.output().contains(WRITTEN_CODE));
        assert!(reply.output().starts_with("Here you go:\n```rust\n"));
    }

    #[test]
    fn plan_echoes_text_by_default() {
        let expected = Plan::Answer {
            reply: Reply::Text("echo: hi".to_owned()),
            abort_midstream: false,
        };
        assert_eq!(plan("hi", Some("tool"), true), expected);
    }

    #[test]
    fn plan_fails_before_and_midstream_only_when_streaming() {
        assert_eq!(plan("x STANDIN_FAIL_BEFORE", None, true), Plan::Fail);
        assert_eq!(plan("STANDIN_FAIL_MIDSTREAM", None, false), Plan::Fail);
        let Plan::Answer {
            abort_midstream, ..
        } = plan("STANDIN_FAIL_MIDSTREAM", None, true)
        else {
            panic!("a streamed mid-stream failure still starts an answer");
        };
        assert!(abort_midstream);
    }

    #[test]
    fn plan_calls_the_first_tool_only_when_there_is_one() {
        let Plan::Answer { reply, .. } = plan("STANDIN_TOOL now", Some("lookup"), false) else {
            panic!("a tool marker is not a failure");
        };
        assert_eq!(reply.output(), r#"{"echo":"STANDIN_TOOL now"}"#);
        assert!(matches!(reply, Reply::ToolCall { ref name, .. } if name == "lookup"));
        let Plan::Answer { reply, .. } = plan("STANDIN_TOOL", None, false) else {
            panic!("a tool marker is not a failure");
        };
        assert_eq!(reply, Reply::Text("echo: STANDIN_TOOL".to_owned()));
    }

    #[test]
    fn tokens_round_up() {
        assert_eq!(token_estimate(0), 0);
        assert_eq!(token_estimate(1), 1);
        assert_eq!(token_estimate(8), 2);
        assert_eq!(token_estimate(9), 3);
    }

    #[test]
    fn pieces_respect_character_boundaries_and_rejoin() {
        assert_eq!(pieces("echo: hi"), ["ech", "o: ", "hi"]);
        assert_eq!(pieces("ab"), ["a", "b"]);
        assert!(pieces("").is_empty());
        let text = "échø: ☃☃☃";
        assert_eq!(pieces(text).concat(), text);
        assert_eq!(pieces(text).len(), 3);
    }
}

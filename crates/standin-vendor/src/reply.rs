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
/// In the last user text (Responses API streams): name the last event
/// `response.in_progress` while its `type` says `response.completed`, as a vendor (or
/// anything between) might, to see that the gateway goes by what clients read.
pub const MARKER_MISNAMED_EVENT: &str = "STANDIN_MISNAMED_EVENT";
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

/// In the last user text: answer with [`WRITTEN_SECRETS`] (as text, or as the content of a
/// file a tool call writes when [`MARKER_TOOL`] is there too), streamed in
/// [`SECRET_PIECE_CHARS`]-character pieces so each value is cut across many events.
pub const MARKER_WRITE_SECRET: &str = "STANDIN_WRITE_SECRET";
/// An AWS access key id a [`MARKER_WRITE_SECRET`] answer contains.
pub const WRITTEN_AWS_KEY: &str = "AKIAZ7VQ2MXR4HT8PLWN";
/// A PEM private key (random bytes, no key behind them) a [`MARKER_WRITE_SECRET`]
/// answer contains: about 1.7 KB, longer than one event.
pub const WRITTEN_PEM_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nUvImZaYMEtKJGF2VDuiBNgkWb2sRPReNbA/TkB/yOaGglfIPk5VlDPk4C47bIkpr\nJIoekk6P0K4uGpSSozBfGIy2EJAPnjR/rohtxlB3lex0XEw/yy6yxz4Uk0yGfuBX\nunJJm/oSHoNrKsFXJu59awr2qxPDjpLK4NFQV7FZmH+UzHQR1xfxRXmyqhAPu7NP\npZP+rtJySLdi46tYBfB2WiucHX4PN8RJIb0/ZWTq338UKnJmjEfiI9Fu3YxHtGr8\nW67iYfU7JhUtJjuoOwN81JYuQ0gBJWuIXpyQUfMgsNuD856nrb0NdObex/PfrsyP\nZGVmZBp7omYPMBH8NXApHFeZDRoAkSaJGfJdnQYS3zWdYCaiQPRYml15Hx3ZfP76\nd3p7TxUkGr9XvUN61LEphAU08/OHXCWwi+oGwodM+qTdF7LYQoRd6CpbxTmIiseA\nVKI5nM/J/MLaMc490Wa9zTozhH5buwf9B8pHeEIxsZr0WHLO77n8WfT5XRQ4Gjp4\nMlY0e5/85pzXAHrop1jMpBXVqR7oY8i2wDN64y1vyqJVFs3y+Lhldma+8hW5KCv+\nIAcml+d3zqclnNOY+nmo71knjIwhBQPM+LmmGoa/7yNv/N8x0982B0A2SoA9w5ZT\nQotr1SEP6L1a5XWpldDnhGvT6uCAIYgmhoIE33DGLpsBxswmLCR5nrkejg9TroSH\njnvIxhvijw4/MEYKxRmBc48HwuTpEHFTnPmBm4MzsUZzgojOeoHxP7KF4ODx7ULs\nj+TxM9dyI2ofZHFQEqs9bRI2q03IH+XGJ/C3pKldJEDiI/d3OL/zGGXifCn9qtU5\nKbRu/oNnVmsyW1EXuF0EVo11cLQEYlSEn0uD9RAc/OvJOvjgGhVDRQrnxy5FwSHR\nbNnprdHyQmcmieuDkn6zUxZHDsywLmzlEkTwBKIWzUIVm9s4EUPcH3QCVv6Nau3q\nRJ8hC4a1PfAc+ClDDC4z7k+gTofCNEpygKwtRVjNBP5ACQMEu4GN+jCDeT7vchuo\n0aZuqH6L1eNk+IFOsDf7Olcy1eG0uqIjZ/1Y+w3WIQMSoL3hQW4pDhWq12Hegav4\nSJk+sUsLdS8oRHIAQ132VPj8jFI+CPfhTzdbLgBVYRV5R4CnMz+BxgEXQ9EWJGaW\nCmQFTE2hOxWV9YfawCeo5LfI4Zhjw1O4/H4mSLmepCUL09W35IOgbbuzz4Ej6IbA\ngZHV0M0E06+VzOS2rvSxpDoVBwoio1z1GmDVc44MoASgiK4+fUMAdMwRv+6A5YkX\nqIYQvrx5QM8T2EM8usE0O72m+XV+2GETeumvScQLnaGkMhOZJVRBpr6xTZ+RIgN7\nD3xE+KwZsTesfUq1hEl2d3fEHv7kjDNP+hXveQRKdRPRgff+c/5EYzXq8u41E5QX\nJL+GQ/NcIZrRoYJH4xy0XTt/5eB8ZAYoAPN9rnNnTbokalhgUB7XVABTwFbWZR7w\n7TK2A+a9SkBfEGRj/96WE1zsbcFG2gxHGg3VqUmi7yY/+ERvglAwxV/I9G3iB8/C\noWbp4PCNjDS4FAzuu2lzncAjpN5JfAzp7YwgK3hqV0hMQb29+ac=\n-----END RSA PRIVATE KEY-----\n";
/// What a [`MARKER_WRITE_SECRET`] answer writes.
pub fn written_secrets() -> String {
    format!("AWS_ACCESS_KEY_ID={WRITTEN_AWS_KEY}\n{WRITTEN_PEM_KEY}")
}
/// Characters per streamed piece of a [`MARKER_WRITE_SECRET`] answer.
pub const SECRET_PIECE_CHARS: usize = 7;

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

    /// [`Reply::output`] cut into about three pieces, for streaming; an answer that
    /// writes secrets into [`SECRET_PIECE_CHARS`]-character pieces.
    pub fn pieces(&self) -> Vec<&str> {
        if self.output().contains(WRITTEN_AWS_KEY) {
            let count = self.output().chars().count().div_ceil(SECRET_PIECE_CHARS);
            return pieces_of(self.output(), count);
        }
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
        Some(name)
            if last_user_text.contains(MARKER_TOOL)
                && last_user_text.contains(MARKER_WRITE_SECRET) =>
        {
            let input = serde_json::json!({ "path": ".env", "content": written_secrets() });
            Reply::ToolCall {
                name: name.to_owned(),
                arguments: input.to_string(),
                input,
            }
        }
        Some(name) if last_user_text.contains(MARKER_TOOL) => {
            let input = serde_json::json!({ "echo": last_user_text });
            Reply::ToolCall {
                name: name.to_owned(),
                arguments: input.to_string(),
                input,
            }
        }
        _ if last_user_text.contains(MARKER_WRITE_SECRET) => Reply::Text(format!(
            "Put this in .env:\n```\n{}```\n",
            written_secrets()
        )),
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
    pieces_of(text, STREAM_PIECES)
}

/// `text` cut at character boundaries into `count` pieces or fewer.
fn pieces_of(text: &str, count: usize) -> Vec<&str> {
    let per_piece = text.chars().count().div_ceil(count.max(1)).max(1);
    let mut pieces = Vec::with_capacity(count);
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
    fn a_written_secret_is_streamed_in_small_pieces_as_text_or_tool_arguments() {
        let Plan::Answer { reply, .. } = plan(MARKER_WRITE_SECRET, None, true) else {
            panic!("an answer");
        };
        assert!(
            reply.output().contains(WRITTEN_AWS_KEY) && reply.output().contains(WRITTEN_PEM_KEY)
        );
        let pieces = reply.pieces();
        assert!(
            pieces
                .iter()
                .all(|p| p.chars().count() <= SECRET_PIECE_CHARS)
        );
        assert_eq!(pieces.concat(), reply.output());
        let Plan::Answer { reply, .. } = plan(
            &format!("{MARKER_TOOL} {MARKER_WRITE_SECRET}"),
            Some("write"),
            true,
        ) else {
            panic!("an answer");
        };
        let Reply::ToolCall { input, .. } = reply else {
            panic!("a tool call");
        };
        assert_eq!(input["content"], written_secrets());
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

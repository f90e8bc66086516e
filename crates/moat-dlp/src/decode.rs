//! Secrets inside base64 or hex: a run of 24 or more characters of either alphabet that
//! decodes to text is scanned once more, decoded (never deeper: what a decoded text
//! encodes again is not decoded). If that text holds a finding, the whole run is one.
//! Each run is decoded at most a few times, so the cost stays linear in the input;
//! binary data (images, hashes, compressed blobs) fails the text check at once.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// A run of base64 (standard or URL-safe) or hex characters worth decoding. Hex digits
/// are a subset of the base64 alphabet, so one pattern finds both.
pub(crate) const RUN: &str = r"[A-Za-z0-9+/_-]{24,}={0,2}";

/// Fewest decoded bytes that can hold a secret worth a rule.
const MIN_DECODED: usize = 16;

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

/// The text a run (`start..end` of `text`) decodes to, if any: as hex, as base64 in the
/// alphabet its symbols say, or else each of its pieces between `_` and `-` as standard
/// base64 (a value glued to a name: `key_QUtJQ...`). Each yields the span it decoded.
pub(crate) fn decoded(text: &str, start: usize, end: usize) -> Vec<(usize, usize, String)> {
    let run = &text[start..end];
    let unprefixed = run.strip_prefix("0x").unwrap_or(run);
    // Hex digits that do not decode to text may still be base64 (`deadbeef...`).
    if unprefixed.len().is_multiple_of(2)
        && unprefixed.bytes().all(|b| b.is_ascii_hexdigit())
        && let Some(decoded) = hex::decode(unprefixed).ok().and_then(as_text)
    {
        return vec![(start, end, decoded)];
    }
    let standard = run.bytes().any(|b| b == b'+' || b == b'/');
    let url_safe = run.bytes().any(|b| b == b'-' || b == b'_');
    let whole = match (standard, url_safe) {
        (true, true) => None,
        (true, false) | (false, false) => from_base64(&STANDARD, run),
        (false, true) => from_base64(&URL_SAFE, run),
    };
    if let Some(decoded) = whole {
        return vec![(start, end, decoded)];
    }
    if !url_safe {
        return Vec::new();
    }
    let mut found = Vec::new();
    let mut at = start;
    for piece in run.split(['_', '-']) {
        if piece.len() >= 24
            && let Some(decoded) = from_base64(&STANDARD, piece)
        {
            found.push((at, at + piece.len(), decoded));
        }
        at += piece.len() + 1;
    }
    found
}

fn from_base64(engine: &GeneralPurpose, run: &str) -> Option<String> {
    let body = run.trim_end_matches('=');
    // A lone trailing character holds no whole byte; decode what comes before it.
    let body = if body.len() % 4 == 1 {
        &body[..body.len() - 1]
    } else {
        body
    };
    engine.decode(body).ok().and_then(as_text)
}

/// Decoded bytes that read as text: UTF-8, long enough, and nearly all printable.
fn as_text(bytes: Vec<u8>) -> Option<String> {
    if bytes.len() < MIN_DECODED {
        return None;
    }
    let text = String::from_utf8(bytes).ok()?;
    let (mut printable, mut total) = (0usize, 0usize);
    for c in text.chars() {
        total += 1;
        if !c.is_control() || matches!(c, '\n' | '\r' | '\t') {
            printable += 1;
        }
    }
    (printable * 10 >= total * 9).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_standard_url_safe_and_glued_runs_decode() {
        let text = "6768705f68656c6c6f5f776f726c645f31323334";
        assert_eq!(decoded(text, 0, text.len())[0].2, "ghp_hello_world_1234");
        let text = "Z2hwX2hlbGxvX3dvcmxkXzEyMzQ1Ng==";
        assert_eq!(decoded(text, 0, text.len())[0].2, "ghp_hello_world_123456");
        let text = "key_Z2hwX2hlbGxvX3dvcmxkXzEyMzQ1Ng";
        assert_eq!(
            decoded(text, 0, text.len()),
            vec![(4, text.len(), "ghp_hello_world_123456".to_string())]
        );
    }

    #[test]
    fn binary_and_identifiers_do_not_decode_to_text() {
        for run in [
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "a_very_long_function_name_that_is_not_base64",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(decoded(run, 0, run.len()).is_empty(), "{run}");
        }
    }
}

//! Secrets inside base64 or hex: a run of 24 or more characters of either alphabet that
//! decodes to text is scanned once more, decoded (never deeper: what a decoded text
//! encodes again is not decoded). If that text holds a finding, the whole run is one.
//! Each run is decoded at most a few times, so the cost stays linear in the input;
//! binary data (images, hashes, compressed blobs) fails the text check at once.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Fewest characters of a run worth decoding.
const MIN_RUN: usize = 24;

/// Bytes of the base64 alphabets (standard and URL-safe); hex digits are among them.
const ALPHABET: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'_' | b'-');
        byte += 1;
    }
    table
};

/// The runs of `text` worth decoding: 24 or more characters of the base64 alphabets,
/// with their `=` padding. No regex: runs are common in code (paths, long identifiers)
/// and a pattern for them in the rules' `RegexSet` multiplied its DFA states. A run of
/// 24 must cover every 24th byte, so only those are probed; a probe that lands in the
/// alphabet reads the run around it.
pub(crate) fn runs(text: &[u8]) -> Vec<(usize, usize)> {
    let in_alphabet = |at: usize| ALPHABET[text[at] as usize];
    let mut found = Vec::new();
    // Every run that starts before `at` has been seen; `text[at - 1]` is outside the
    // alphabet, so no run crosses `at`.
    let mut at = 0;
    while at + MIN_RUN <= text.len() {
        let probe = at + MIN_RUN - 1;
        if !in_alphabet(probe) {
            at = probe + 1;
            continue;
        }
        let mut start = probe;
        while start > at && in_alphabet(start - 1) {
            start -= 1;
        }
        let mut end = probe + 1;
        while end < text.len() && in_alphabet(end) {
            end += 1;
        }
        if end - start >= MIN_RUN {
            let body = end;
            while end < text.len() && end - body < 2 && text[end] == b'=' {
                end += 1;
            }
            found.push((start, end));
        }
        at = end;
    }
    found
}

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
pub(crate) fn decoded(
    text: &str,
    start: usize,
    end: usize,
    buffer: &mut Vec<u8>,
) -> Vec<(usize, usize, String)> {
    let run = &text[start..end];
    let unprefixed = run.strip_prefix("0x").unwrap_or(run);
    // Hex digits that do not decode to text may still be base64 (`deadbeef...`).
    if unprefixed.len().is_multiple_of(2) && unprefixed.bytes().all(|b| b.is_ascii_hexdigit()) {
        buffer.clear();
        buffer.resize(unprefixed.len() / 2, 0);
        if hex::decode_to_slice(unprefixed, buffer).is_ok()
            && let Some(decoded) = as_text(buffer)
        {
            return vec![(start, end, decoded)];
        }
    }
    let standard = run.bytes().any(|b| b == b'+' || b == b'/');
    let url_safe = run.bytes().any(|b| b == b'-' || b == b'_');
    let whole = match (standard, url_safe) {
        (true, true) => None,
        (true, false) | (false, false) => from_base64(&STANDARD, run, buffer),
        (false, true) => from_base64(&URL_SAFE, run, buffer),
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
            && let Some(decoded) = from_base64(&STANDARD, piece, buffer)
        {
            found.push((at, at + piece.len(), decoded));
        }
        at += piece.len() + 1;
    }
    found
}

fn from_base64(engine: &GeneralPurpose, run: &str, buffer: &mut Vec<u8>) -> Option<String> {
    let body = run.trim_end_matches('=');
    // A lone trailing character holds no whole byte; decode what comes before it.
    let body = if body.len() % 4 == 1 {
        &body[..body.len() - 1]
    } else {
        body
    };
    buffer.clear();
    engine.decode_vec(body, buffer).ok()?;
    as_text(buffer)
}

/// Decoded bytes that read as text: UTF-8, long enough, and nearly all printable.
fn as_text(bytes: &[u8]) -> Option<String> {
    if bytes.len() < MIN_DECODED {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let (mut printable, mut total) = (0usize, 0usize);
    for c in text.chars() {
        total += 1;
        if !c.is_control() || matches!(c, '\n' | '\r' | '\t') {
            printable += 1;
        }
    }
    (printable * 10 >= total * 9).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_standard_url_safe_and_glued_runs_decode() {
        let text = "6768705f68656c6c6f5f776f726c645f31323334";
        assert_eq!(
            decoded(text, 0, text.len(), &mut Vec::new())[0].2,
            "ghp_hello_world_1234"
        );
        let text = "Z2hwX2hlbGxvX3dvcmxkXzEyMzQ1Ng==";
        assert_eq!(
            decoded(text, 0, text.len(), &mut Vec::new())[0].2,
            "ghp_hello_world_123456"
        );
        let text = "key_Z2hwX2hlbGxvX3dvcmxkXzEyMzQ1Ng";
        assert_eq!(
            decoded(text, 0, text.len(), &mut Vec::new()),
            vec![(4, text.len(), "ghp_hello_world_123456".to_string())]
        );
    }

    proptest::proptest! {
        /// Probing every 24th byte finds exactly the runs a byte-by-byte walk finds.
        #[test]
        fn probing_finds_every_run(text in "[a-zA-Z0-9+/_= .:-]{0,300}") {
            let bytes = text.as_bytes();
            let mut expected = Vec::new();
            let mut at = 0;
            while at < bytes.len() {
                let start = at;
                while at < bytes.len() && ALPHABET[bytes[at] as usize] {
                    at += 1;
                }
                if at - start >= MIN_RUN {
                    let mut end = at;
                    while end < bytes.len() && end - at < 2 && bytes[end] == b'=' {
                        end += 1;
                    }
                    expected.push((start, end));
                }
                at = at.max(start + 1);
            }
            proptest::prop_assert_eq!(runs(bytes), expected);
        }
    }

    #[test]
    fn binary_and_identifiers_do_not_decode_to_text() {
        for run in [
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "a_very_long_function_name_that_is_not_base64",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(
                decoded(run, 0, run.len(), &mut Vec::new()).is_empty(),
                "{run}"
            );
        }
    }
}

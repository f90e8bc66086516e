//! Code-aware tokenisation: identifiers are split where a developer reads word breaks
//! (`parseHTTPHeader` → `parse`, `http`, `header`; `max_body_bytes`; `kebab-case`;
//! `sha256` → `sha`, `256`), and the whole identifier is kept too, so an exact name
//! still matches best. Used for indexing and for queries alike.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// Splits text into lowercase code tokens.
#[derive(Clone, Default)]
pub struct CodeTokenizer;

pub struct CodeTokenStream {
    tokens: Vec<Token>,
    index: usize,
}

impl Tokenizer for CodeTokenizer {
    type TokenStream<'a> = CodeTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CodeTokenStream {
        let mut tokens = Vec::new();
        for_each_token(text, |from, to, word| {
            let position = tokens.len();
            tokens.push(Token {
                offset_from: from,
                offset_to: to,
                position,
                text: word,
                position_length: 1,
            });
        });
        CodeTokenStream { tokens, index: 0 }
    }
}

impl TokenStream for CodeTokenStream {
    fn advance(&mut self) -> bool {
        if self.index < self.tokens.len() {
            self.index += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self.index - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.index - 1]
    }
}

/// Longest word kept; longer runs (hashes, base64) are noise.
const MAX_WORD: usize = 40;

/// Calls `emit(from, to, lowercase_text)` for every token of `text`: each identifier's
/// parts and, when it has several, the whole identifier (without separators).
pub fn for_each_token(text: &str, mut emit: impl FnMut(usize, usize, String)) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !is_word_byte(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && (is_word_byte(bytes[i]) || bytes[i] == b'_') {
            i += 1;
        }
        let word = &text[start..i];
        if word.len() > MAX_WORD {
            continue;
        }
        let mut parts = 0;
        let mut whole = String::with_capacity(word.len());
        split_identifier(word, |from, to| {
            let part = &word[from..to];
            whole.push_str(&part.to_lowercase());
            parts += 1;
            emit(start + from, start + to, part.to_lowercase());
        });
        if parts > 1 {
            emit(start, i, whole);
        }
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

#[derive(PartialEq, Clone, Copy)]
enum Class {
    Lower,
    Upper,
    Digit,
    Other,
}

fn class_of(c: char) -> Class {
    if c.is_ascii_digit() {
        Class::Digit
    } else if c.is_uppercase() {
        Class::Upper
    } else if c.is_alphabetic() {
        Class::Lower
    } else {
        Class::Other
    }
}

/// Byte ranges of the parts of one identifier: `_` separates, and case or digit
/// changes start a new part (`HTTPServer` → `HTTP`, `Server`).
fn split_identifier(word: &str, mut part: impl FnMut(usize, usize)) {
    let chars: Vec<(usize, char)> = word.char_indices().collect();
    let mut start: Option<usize> = None;
    for (k, &(offset, c)) in chars.iter().enumerate() {
        if c == '_' {
            if let Some(s) = start.take() {
                part(s, offset);
            }
            continue;
        }
        let Some(s) = start else {
            start = Some(offset);
            continue;
        };
        let previous = class_of(chars[k - 1].1);
        let current = class_of(c);
        let next = chars.get(k + 1).map(|&(_, n)| class_of(n));
        let boundary = match (previous, current) {
            (Class::Lower, Class::Upper) => true,
            (Class::Upper, Class::Upper) => next == Some(Class::Lower),
            (Class::Digit, Class::Lower | Class::Upper) => true,
            (Class::Lower | Class::Upper, Class::Digit) => true,
            _ => false,
        };
        if boundary {
            part(s, offset);
            start = Some(offset);
        }
    }
    if let Some(s) = start {
        part(s, word.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_token(text, |_, _, t| out.push(t));
        out
    }

    #[test]
    fn splits_the_ways_code_is_written() {
        assert_eq!(
            tokens("parseHTTPHeader"),
            ["parse", "http", "header", "parsehttpheader"]
        );
        assert_eq!(
            tokens("max_body_bytes"),
            ["max", "body", "bytes", "maxbodybytes"]
        );
        assert_eq!(tokens("kebab-case"), ["kebab", "case"]);
        assert_eq!(tokens("sha256sum"), ["sha", "256", "sum", "sha256sum"]);
        assert_eq!(tokens("Router"), ["router"]);
        assert_eq!(tokens("__init__(self)"), ["init", "self"]);
        assert_eq!(
            tokens("XMLHttpRequest"),
            ["xml", "http", "request", "xmlhttprequest"]
        );
    }

    #[test]
    fn offsets_point_at_the_text() {
        let text = "fn getUser(id)";
        let mut seen = Vec::new();
        for_each_token(text, |from, to, t| seen.push((t, &text[from..to])));
        assert!(seen.contains(&("get".to_string(), "get")));
        assert!(seen.contains(&("user".to_string(), "User")));
        assert!(seen.contains(&("getuser".to_string(), "getUser")));
    }

    #[test]
    fn long_runs_and_unicode_do_not_break_it() {
        let long = "a".repeat(10_000);
        assert!(tokens(&long).is_empty());
        assert_eq!(
            tokens("größeBerechnen"),
            ["größe", "berechnen", "größeberechnen"]
        );
    }
}

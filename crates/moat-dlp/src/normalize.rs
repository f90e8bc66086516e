//! Text as a reader sees it, before detection and fingerprinting: characters that show
//! nothing (zero-width spaces and joiners, soft hyphens, byte-order marks, variation
//! selectors: Unicode's default-ignorable code points) are dropped, and a character
//! that stands for an ASCII one is replaced by it — compatibility forms by NFKC
//! (fullwidth `ｇ`, mathematical `𝐀`, ligatures) and look-alikes by the confusable
//! skeleton of Unicode TS #39 (Cyrillic `А`, Greek `Ο`). Otherwise `AKIA` with a
//! zero-width space inside, or with a Cyrillic first letter, passes every ASCII rule
//! while the vendor, a model and a human all read the key.
//!
//! Only characters outside ASCII change; a character with no ASCII reading (accents,
//! CJK, most of any other script) stays as it is. [`Folded`] keeps, for every byte of
//! the folded text, where it came from, so a finding in it is a span of the original.

use std::borrow::Cow;
use unicode_normalization::UnicodeNormalization;

/// Folded text and the original byte offset of each of its bytes.
#[derive(Debug)]
pub struct Folded {
    pub text: String,
    origin: Vec<u32>,
}

impl Folded {
    /// The span of `original` that folded bytes `start..end` came from: whole original
    /// characters, including any dropped invisible ones between them.
    pub fn original_span(&self, original: &str, start: usize, end: usize) -> (usize, usize) {
        let from = self.origin[start] as usize;
        let last = self.origin[end - 1] as usize;
        let width = original[last..].chars().next().map_or(1, char::len_utf8);
        (from, last + width)
    }
}

/// How one character reads.
enum Reading {
    Same,
    Dropped,
    Ascii(String),
}

fn reading(c: char) -> Reading {
    if c.is_ascii() {
        return Reading::Same;
    }
    // CJK, kana and Hangul have no ASCII reading; skip the tables for them.
    if ('\u{2E80}'..='\u{D7FF}').contains(&c) {
        return Reading::Same;
    }
    let compatible: String = std::iter::once(c).nfkc().collect();
    if !compatible.is_empty() && compatible.is_ascii() {
        return Reading::Ascii(compatible);
    }
    let mut buffer = [0u8; 4];
    let skeleton: String = unicode_security::skeleton(c.encode_utf8(&mut buffer)).collect();
    if skeleton.is_empty() {
        Reading::Dropped
    } else if skeleton.is_ascii() {
        Reading::Ascii(skeleton)
    } else {
        Reading::Same
    }
}

/// `text` folded, or `None` when folding changes nothing (all ASCII, say).
pub fn fold(text: &str) -> Option<Folded> {
    if text.is_ascii() {
        return None;
    }
    let mut first_change = None;
    for (at, c) in text.char_indices() {
        if !matches!(reading(c), Reading::Same) {
            first_change = Some(at);
            break;
        }
    }
    let first_change = first_change?;
    let mut folded = String::with_capacity(text.len());
    let mut origin: Vec<u32> = Vec::with_capacity(text.len());
    folded.push_str(&text[..first_change]);
    origin.extend(0..first_change as u32);
    for (at, c) in text[first_change..].char_indices() {
        let at = (first_change + at) as u32;
        match reading(c) {
            Reading::Same => {
                folded.push(c);
                origin.extend(std::iter::repeat_n(at, c.len_utf8()));
            }
            Reading::Dropped => {}
            Reading::Ascii(ascii) => {
                folded.push_str(&ascii);
                origin.extend(std::iter::repeat_n(at, ascii.len()));
            }
        }
    }
    Some(Folded {
        text: folded,
        origin,
    })
}

/// `text` as a reader sees it (see the module documentation).
pub fn fold_text(text: &str) -> Cow<'_, str> {
    match fold(text) {
        Some(folded) => Cow::Owned(folded.text),
        None => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_characters_go_and_look_alikes_read_as_ascii() {
        assert_eq!(fold_text("AK\u{200B}IA\u{FEFF}\u{00AD}"), "AKIA");
        assert_eq!(fold_text("\u{0410}KIA"), "AKIA");
        assert_eq!(fold_text("\u{FF47}\u{FF48}\u{FF50}_"), "ghp_");
        assert_eq!(fold_text("\u{1D400}\u{1D401}"), "AB");
        assert_eq!(fold_text("p\u{0430}ss"), "pass");
    }

    #[test]
    fn text_without_an_ascii_reading_is_kept() {
        for text in ["plain ascii", "日本語のコメント", "café", "Ελλ", "한국어"] {
            assert!(!text.is_ascii() || fold(text).is_none());
            assert_eq!(
                fold_text(text).chars().count(),
                text.chars().count(),
                "{text}"
            );
        }
        assert_eq!(fold_text("日本語のコメント"), "日本語のコメント");
    }

    #[test]
    fn spans_of_the_folded_text_map_back_to_whole_original_characters() {
        let original = "x = \u{0410}K\u{200B}IA; \u{FF47}!";
        let folded = fold(original).unwrap();
        let start = folded.text.find("AKIA").unwrap();
        let (from, to) = folded.original_span(original, start, start + 4);
        assert_eq!(&original[from..to], "\u{0410}K\u{200B}IA");
        let g = folded.text.find('g').unwrap();
        let (from, to) = folded.original_span(original, g, g + 1);
        assert_eq!(&original[from..to], "\u{FF47}");
    }
}

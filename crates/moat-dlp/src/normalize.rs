//! Text as a reader sees it, before detection and fingerprinting: characters that show
//! nothing (zero-width spaces and joiners, soft hyphens, byte-order marks, variation
//! selectors: Unicode's default-ignorable code points) are dropped, and a character
//! that stands for an ASCII one is replaced by it — compatibility forms by NFKC
//! (fullwidth `ｇ`, mathematical `𝐀`, ligatures) and look-alikes by the confusable
//! skeleton of Unicode TS #39 (Cyrillic `А`, Greek `Ο`). Otherwise `AKIA` with a
//! zero-width space inside, or with a Cyrillic first letter, passes every ASCII rule
//! while the vendor, a model and a human all read the key.
//!
//! Only characters outside ASCII change, and only into ASCII letters and digits: a
//! character with no such reading (accents, CJK, most of any other script, typographic
//! quotes and dashes) stays as it is. [`Folded`] keeps where each piece of the folded
//! text came from, so a finding in it is a span of the original.

use std::borrow::Cow;
use std::collections::HashMap;
use unicode_normalization::UnicodeNormalization;

/// Folded text, and where its pieces came from in the original.
#[derive(Debug)]
pub struct Folded {
    pub text: String,
    /// In folded order: pieces copied byte for byte, and characters replaced by their
    /// ASCII reading. A dropped character is the gap between two pieces.
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, Copy)]
struct Piece {
    /// Where the piece starts in the folded text and in the original.
    folded: usize,
    original: usize,
    /// `None`: copied (the same length in both); `Some(n)`: one original character of
    /// `n` bytes replaced.
    replaced: Option<usize>,
}

impl Folded {
    /// The span of `original` that folded bytes `start..end` came from: whole original
    /// characters, including any dropped invisible ones between them.
    pub fn original_span(&self, start: usize, end: usize) -> (usize, usize) {
        let piece = |at: usize| {
            let index = self.pieces.partition_point(|p| p.folded <= at) - 1;
            self.pieces[index]
        };
        let first = piece(start);
        let from = match first.replaced {
            None => first.original + (start - first.folded),
            Some(_) => first.original,
        };
        let last = piece(end - 1);
        let to = match last.replaced {
            None => last.original + (end - last.folded),
            Some(width) => last.original + width,
        };
        (from, to)
    }
}

/// How one character reads.
#[derive(Debug, Clone)]
enum Reading {
    Same,
    Dropped,
    Ascii(String),
}

fn reading(c: char) -> Reading {
    // CJK, kana and Hangul have no ASCII reading; skip the tables for them.
    if ('\u{2E80}'..='\u{D7FF}').contains(&c) {
        return Reading::Same;
    }
    // Only letters and digits are read as ASCII: a look-alike quote, dash or ellipsis
    // hides no value, and leaving it keeps ordinary prose and comments uncopied.
    let letters = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric());
    let compatible: String = std::iter::once(c).nfkc().collect();
    if letters(&compatible) {
        return Reading::Ascii(compatible);
    }
    let mut buffer = [0u8; 4];
    let skeleton: String = unicode_security::skeleton(c.encode_utf8(&mut buffer)).collect();
    if skeleton.is_empty() {
        Reading::Dropped
    } else if letters(&skeleton) {
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
    // Texts hold few distinct non-ASCII characters; each is looked up once.
    let mut readings: HashMap<char, Reading> = HashMap::new();
    let mut read = |c: char| readings.entry(c).or_insert_with(|| reading(c)).clone();
    let mut folded = String::new();
    let mut pieces: Vec<Piece> = Vec::new();
    // Start of the original text not yet copied.
    let mut copied = 0;
    for (at, c) in non_ascii(text) {
        let replacement = match read(c) {
            Reading::Same => continue,
            Reading::Dropped => None,
            Reading::Ascii(ascii) => Some(ascii),
        };
        if folded.capacity() == 0 {
            folded.reserve(text.len());
        }
        if copied < at {
            pieces.push(Piece {
                folded: folded.len(),
                original: copied,
                replaced: None,
            });
            folded.push_str(&text[copied..at]);
        }
        if let Some(ascii) = replacement {
            pieces.push(Piece {
                folded: folded.len(),
                original: at,
                replaced: Some(c.len_utf8()),
            });
            folded.push_str(&ascii);
        }
        copied = at + c.len_utf8();
    }
    if pieces.is_empty() && copied == 0 {
        return None;
    }
    if copied < text.len() {
        pieces.push(Piece {
            folded: folded.len(),
            original: copied,
            replaced: None,
        });
        folded.push_str(&text[copied..]);
    }
    if pieces.is_empty() {
        // Only dropped characters, nothing left.
        pieces.push(Piece {
            folded: 0,
            original: 0,
            replaced: None,
        });
    }
    Some(Folded {
        text: folded,
        pieces,
    })
}

/// The characters of `text` outside ASCII, with their offsets. ASCII is skipped a block
/// at a time (`is_ascii` on a slice is vectorised), so mostly-ASCII text costs little.
fn non_ascii(text: &str) -> impl Iterator<Item = (usize, char)> + '_ {
    const BLOCK: usize = 32;
    let bytes = text.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < bytes.len() {
            if at + BLOCK <= bytes.len() && bytes[at..at + BLOCK].is_ascii() {
                at += BLOCK;
            } else if bytes[at].is_ascii() {
                at += 1;
            } else {
                let c = text[at..].chars().next()?;
                let found = (at, c);
                at += c.len_utf8();
                return Some(found);
            }
        }
        None
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
        let (from, to) = folded.original_span(start, start + 4);
        assert_eq!(&original[from..to], "\u{0410}K\u{200B}IA");
        let g = folded.text.find('g').unwrap();
        let (from, to) = folded.original_span(g, g + 1);
        assert_eq!(&original[from..to], "\u{FF47}");
    }
}

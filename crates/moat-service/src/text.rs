//! Free text as the API documents bound it.

/// `text` without the white space around it, as the API's documents mean it (`\S` in
/// JSON Schema is ECMAScript's): a character they call visible is kept, so a value the
/// document accepts is never found empty here.
pub fn trimmed(text: &str) -> &str {
    text.trim_matches(|c: char| {
        matches!(
            c,
            '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
                ..='\u{200a}'
                    | '\u{2028}'
                    | '\u{2029}'
                    | '\u{202f}'
                    | '\u{205f}'
                    | '\u{3000}'
                    | '\u{feff}'
        )
    })
}

#[cfg(test)]
mod tests {
    use super::trimmed;

    #[test]
    fn trims_what_ecmascript_calls_white_space_and_nothing_else() {
        assert_eq!(trimmed("\u{feff}\u{3000} why \t\u{2028}"), "why");
        // U+0085 is white space to Rust, not to ECMAScript's `\S`: the document takes
        // it as a reason, so it is one here too.
        assert_eq!(trimmed("\u{85}"), "\u{85}");
        assert_eq!(trimmed("\u{200b}"), "\u{200b}");
        assert_eq!(trimmed(" \u{a0}\n"), "");
    }
}

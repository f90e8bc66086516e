//! Doc text: what each language itself marks as documentation, and nothing else.
//!
//! A symbol's `doc` (and so its summary) is shown by every tier that shows
//! declarations, so an ordinary comment must never become one. Per language:
//! - Rust: `///` and `/** */` before an item; `//!` and `/*! */` for the file.
//! - Python: docstrings only (a function's, a class's, the module's); `#` comments never.
//! - JavaScript, TypeScript, Java: `/** */` (JSDoc, TSDoc, Javadoc) only.
//! - C#: `///` XML doc comments and `/** */`.
//! - C, C++: Doxygen's markers only: `///`, `//!`, `/** */`, `/*! */` (not the
//!   trailing `///<` forms, which document the member before).
//! - Go: the comment block right before a declaration (and before `package` for the
//!   file), which is Go's own convention, without directives (`//go:build`, `//nolint`).
//! - Ruby: the `#` block right before a definition (RDoc and YARD), without magic
//!   comments (`# frozen_string_literal: true`) and shebangs.
//!
//! Go and Ruby have no doc marker, so there a block also loses what is plainly not
//! documentation: paragraphs starting `TODO`, `FIXME`, `XXX` or `HACK`, and lines that
//! read as commented-out code (a call, an assignment, a line ending in `{`, `}` or `;`;
//! indented lines stay, being a doc's preformatted examples). Everywhere, a block that
//! reads as a licence header is not doc text. What the source tier has always ranked on
//! (every comment right before a definition) is indexed for that tier only.

use super::signature::truncate;
use crate::Language;

/// Longest doc kept, in bytes.
pub(super) const MAX_DOC: usize = 2000;

/// Whether a comment is documentation by `language`'s own syntax.
pub(super) fn is_doc_comment(language: Language, text: &str) -> bool {
    let triple_slash = text.starts_with("///") && !text.starts_with("////");
    let block = text.starts_with("/**") && !text.starts_with("/***") && text != "/**/";
    match language {
        Language::Rust => triple_slash || block,
        Language::JavaScript | Language::TypeScript | Language::Tsx | Language::Java => block,
        Language::CSharp => triple_slash || block,
        Language::C | Language::Cpp => {
            let trailing = ["///<", "//!<", "/**<", "/*!<"]
                .iter()
                .any(|m| text.starts_with(m));
            !trailing
                && (triple_slash || block || text.starts_with("//!") || text.starts_with("/*!"))
        }
        Language::Go | Language::Ruby => true,
        Language::Python | Language::Text => false,
    }
}

/// A comment that reads as a licence header rather than documentation.
pub(super) fn is_licence(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    [
        "copyright",
        "spdx-license-identifier",
        "licensed under",
        "all rights reserved",
        "permission is hereby granted",
    ]
    .iter()
    .any(|marker| lower.contains(marker))
}

/// The doc shown for a definition, from the comments right before it (source order).
pub(super) fn shown_doc(language: Language, comments: &[&str]) -> String {
    let kept: Vec<&str> = comments
        .iter()
        .copied()
        .filter(|c| is_doc_comment(language, c) && !is_licence(c))
        .collect();
    let joined = kept.join("\n");
    match language {
        // One comment a line: a licence header is judged as a block.
        Language::Go | Language::Ruby if is_licence(&joined) => String::new(),
        Language::Go | Language::Ruby => clean_comment(&plain_doc_lines(language, &joined)),
        _ => clean_comment(&joined),
    }
}

/// Go and Ruby comment blocks without directives, magic comments, TODO paragraphs and
/// commented-out code (see the module doc).
fn plain_doc_lines(language: Language, text: &str) -> String {
    let mut kept = Vec::new();
    let mut in_todo = false;
    for line in text.lines() {
        let raw = line.trim_start();
        if is_directive(language, raw) {
            continue;
        }
        let content = strip_marker(raw);
        let body = content.strip_prefix(' ').unwrap_or(content);
        if body.trim().is_empty() {
            in_todo = false;
            kept.push(line);
            continue;
        }
        let word: String = body
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        if matches!(word.as_str(), "TODO" | "FIXME" | "XXX" | "HACK") {
            in_todo = true;
        }
        let preformatted = body.starts_with([' ', '\t']);
        if in_todo || (!preformatted && looks_like_code(body)) {
            continue;
        }
        kept.push(line);
    }
    kept.join("\n")
}

fn strip_marker(line: &str) -> &str {
    for marker in ["//", "/*", "#", "*/", "*"] {
        if let Some(rest) = line.strip_prefix(marker) {
            return rest.trim_end_matches("*/");
        }
    }
    line.trim_end_matches("*/")
}

/// Go directives (`//go:build`, `//line`, `//nolint`, `// +build`) and Ruby magic
/// comments and shebangs: instructions to tools, not documentation.
fn is_directive(language: Language, line: &str) -> bool {
    match language {
        Language::Go => {
            let Some(rest) = line.strip_prefix("//") else {
                return false;
            };
            let word: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            rest.starts_with(" +build")
                || rest.starts_with("line ")
                || (!word.is_empty() && rest[word.len()..].starts_with(':'))
                || matches!(word.as_str(), "export" | "extern" | "nolint")
        }
        Language::Ruby => {
            let lower = line.to_ascii_lowercase();
            let body = lower.trim_start_matches('#').trim_start();
            line.starts_with("#!")
                || [
                    "frozen_string_literal:",
                    "encoding:",
                    "coding:",
                    "-*-",
                    "rubocop:",
                    "warn_indent:",
                    "shareable_constant_value:",
                    "typed:",
                ]
                .iter()
                .any(|magic| body.starts_with(magic))
        }
        _ => false,
    }
}

/// A comment line that reads as code rather than prose.
fn looks_like_code(line: &str) -> bool {
    let t = line.trim();
    if t.ends_with(['{', '}', ';']) || t == "end" || t.contains(":=") {
        return true;
    }
    if [
        "func ", "def ", "return ", "import ", "require ", "package ", "puts ",
    ]
    .iter()
    .any(|keyword| t.starts_with(keyword))
    {
        return true;
    }
    // `fmt.Println(x)`, `foo!(bar)`: a call and nothing else.
    if let Some(open) = t.find('(')
        && open > 0
        && t.ends_with(')')
        && t[..open]
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | ':' | '!' | '@' | '$'))
    {
        return true;
    }
    // `x = 5`, `@cache[key] += value`: one assignable name, then `=` and a value.
    if let Some(equals) = t.find('=') {
        let after = &t[equals + 1..];
        let lhs = t[..equals]
            .trim_end()
            .trim_end_matches(['+', '-', '*', '/', '|', '&']);
        let comparison = after.starts_with('=') || t[..equals].ends_with(['!', '<', '>']);
        if !comparison
            && !lhs.is_empty()
            && !after.trim().is_empty()
            && lhs
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '@' | '$' | '[' | ']'))
        {
            return true;
        }
    }
    false
}

/// Comment markers stripped, lines dedented, cut at [`MAX_DOC`].
pub(super) fn clean_comment(text: &str) -> String {
    let mut lines = Vec::new();
    for line in text.lines() {
        let mut line = line.trim();
        for marker in ["///", "//!", "//", "/**", "/*!", "/*", "#"] {
            if let Some(rest) = line.strip_prefix(marker) {
                line = rest;
                break;
            }
        }
        line = line.trim_end_matches("*/");
        if let Some(rest) = line.trim_start().strip_prefix('*') {
            line = rest;
        }
        lines.push(line.strip_prefix(' ').unwrap_or(line).trim_end());
    }
    // C# XML doc comments: keep the words, drop the tags.
    let joined = lines.join("\n");
    if joined.contains("<summary>") || joined.contains("<param") {
        let mut plain = String::with_capacity(joined.len());
        let mut in_tag = false;
        for c in joined.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                _ if !in_tag => plain.push(c),
                _ => {}
            }
        }
        return truncate(plain.trim(), MAX_DOC);
    }
    while lines.first().is_some_and(|l| l.is_empty()) {
        lines.remove(0);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    truncate(&lines.join("\n"), MAX_DOC)
}

pub(super) fn dedent(text: &str) -> String {
    let indent = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out: Vec<&str> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 {
            out.push(line.trim());
        } else {
            out.push(line.get(indent..).unwrap_or(line.trim_start()).trim_end());
        }
    }
    out.join("\n").trim().to_string()
}

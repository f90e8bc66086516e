//! Symbols, docs, imports and references from source text, with tree-sitter.
//!
//! One generic walker for every language; `spec.rs` says which nodes are definitions,
//! imports, identifiers and calls. The walk is iterative (deeply nested code cannot
//! overflow the stack) and parsing has a deadline (a pathological file is skipped, not
//! waited on). References are resolved later, by name (see `graph.rs`).

mod spec;
#[cfg(test)]
mod tests;

use crate::{Language, ParsedFile, Symbol, SymbolKind};
use spec::Scope;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};
use tree_sitter::{Node, Parser};

/// Longest signature kept, in bytes.
const MAX_SIGNATURE: usize = 300;
/// Longest doc kept, in bytes.
const MAX_DOC: usize = 2000;
/// Most distinct references kept per symbol.
const MAX_REFERENCES: usize = 256;
/// Most comment and string text kept per symbol for indexing, in bytes.
const MAX_WORDS: usize = 2048;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExtractError {
    #[error("parsing took longer than {0:?}")]
    Timeout(Duration),
    #[error("no grammar for {0}")]
    NoGrammar(Language),
}

/// Holds one tree-sitter parser per language; one per thread.
#[derive(Default)]
pub struct Extractor {
    parsers: HashMap<Language, Parser>,
}

impl Extractor {
    pub fn new() -> Extractor {
        Extractor::default()
    }

    /// Extracts `text` as `language`. `Text` files yield only their identifiers.
    pub fn extract(
        &mut self,
        language: Language,
        text: &str,
        deadline: Duration,
    ) -> Result<ParsedFile, ExtractError> {
        let Some(grammar) = language.grammar() else {
            return Ok(ParsedFile {
                references: text_identifiers(text).into_iter().collect(),
                ..ParsedFile::default()
            });
        };
        let parser = match self.parsers.entry(language) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let mut parser = Parser::new();
                parser
                    .set_language(&grammar)
                    .map_err(|_| ExtractError::NoGrammar(language))?;
                e.insert(parser)
            }
        };
        let Some(tree) = parse_within(parser, text, deadline) else {
            parser.reset();
            return Err(ExtractError::Timeout(deadline));
        };
        Ok(Walker::new(language, text.as_bytes()).walk(tree.root_node()))
    }
}

/// Parses `text`, giving up (`None`) once `deadline` has passed.
fn parse_within(parser: &mut Parser, text: &str, deadline: Duration) -> Option<tree_sitter::Tree> {
    let started = Instant::now();
    let mut check = |_: &tree_sitter::ParseState| {
        if started.elapsed() > deadline {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let bytes = text.as_bytes();
    parser.parse_with_options(
        &mut |offset, _| &bytes[offset.min(bytes.len())..],
        None,
        Some(tree_sitter::ParseOptions::new().progress_callback(&mut check)),
    )
}

/// The `redacted-source` view of a file: structure and identifiers kept, the contents
/// of every string literal and comment replaced by `…` (newlines kept, so line
/// numbers still match). `None` when the language has no grammar or parsing fails.
pub fn mask_literals_and_comments(
    language: Language,
    text: &str,
    deadline: Duration,
) -> Option<String> {
    let grammar = language.grammar()?;
    let mut parser = Parser::new();
    parser.set_language(&grammar).ok()?;
    let tree = parse_within(&mut parser, text, deadline)?;
    let mut ranges = Vec::new();
    let mut cursor = tree.root_node().walk();
    'walk: loop {
        let node = cursor.node();
        let kind = node.kind();
        let masked = spec::is_comment(kind) || spec::is_string(kind);
        if masked {
            ranges.push(node.byte_range());
        }
        if !masked && cursor.goto_first_child() {
            continue;
        }
        while !cursor.goto_next_sibling() {
            if !cursor.goto_parent() {
                break 'walk;
            }
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for range in ranges {
        if range.start < at {
            continue;
        }
        out.push_str(&text[at..range.start]);
        let literal = &text[range.clone()];
        // Keep the delimiters a reader needs to see what was there.
        let open: String = literal
            .chars()
            .take_while(|c| !c.is_alphanumeric() && !c.is_whitespace())
            .take(3)
            .collect();
        let close: String = {
            let tail: Vec<char> = literal
                .chars()
                .rev()
                .take_while(|c| !c.is_alphanumeric() && !c.is_whitespace())
                .take(3)
                .collect();
            tail.into_iter().rev().collect()
        };
        out.push_str(&open);
        out.push('…');
        if literal.len() > open.len() + close.len() {
            out.push_str(&close);
        }
        out.extend(std::iter::repeat_n('\n', literal.matches('\n').count()));
        at = range.end;
    }
    out.push_str(&text[at..]);
    Some(out)
}

/// Identifiers of a file without a grammar: word-like runs, deduplicated.
fn text_identifiers(text: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    for word in text.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
        if (3..=64).contains(&word.len())
            && word.starts_with(|c: char| c.is_alphabetic() || c == '_')
        {
            seen.insert(word.to_string());
            if seen.len() >= 4096 {
                break;
            }
        }
    }
    seen.into_iter().collect()
}

struct Context {
    /// The symbol references are attributed to (innermost definition).
    owner: Option<u32>,
    /// The symbol new definitions belong to.
    parent: Option<u32>,
    prefix: String,
    scope: Scope,
}

struct Walker<'s> {
    language: Language,
    source: &'s [u8],
    symbols: Vec<Symbol>,
    references: Vec<BTreeSet<String>>,
    calls: Vec<BTreeSet<String>>,
    words: Vec<String>,
    file_words: String,
    file_references: BTreeSet<String>,
    imports: Vec<String>,
    contexts: Vec<Context>,
    name_nodes: HashSet<usize>,
    /// Symbols whose container is named in the definition (`impl Foo`, Go receivers,
    /// `Foo::bar`) and is resolved to a symbol of this file after the walk.
    pending_parents: Vec<(u32, String)>,
    syntax_errors: u32,
}

impl<'s> Walker<'s> {
    fn new(language: Language, source: &'s [u8]) -> Walker<'s> {
        Walker {
            language,
            source,
            symbols: Vec::new(),
            references: Vec::new(),
            calls: Vec::new(),
            words: Vec::new(),
            file_words: String::new(),
            file_references: BTreeSet::new(),
            imports: Vec::new(),
            contexts: vec![Context {
                owner: None,
                parent: None,
                prefix: String::new(),
                scope: Scope {
                    in_function: false,
                    in_type: false,
                },
            }],
            name_nodes: HashSet::new(),
            pending_parents: Vec::new(),
            syntax_errors: 0,
        }
    }

    fn text(&self, node: Node<'_>) -> &'s str {
        std::str::from_utf8(&self.source[node.byte_range()]).unwrap_or("")
    }

    fn walk(mut self, root: Node<'_>) -> ParsedFile {
        let doc = self.file_doc(root);
        // One cursor over the whole tree: no recursion and no per-node allocation.
        // `context` is the context the node under the cursor is visited in; the stack
        // holds it for each ancestor level to restore when the cursor climbs back.
        let mut cursor = root.walk();
        let mut context = 0usize;
        let mut saved: Vec<usize> = Vec::new();
        'walk: loop {
            let node = cursor.node();
            let descend = if node.is_named() {
                self.visit(node, context)
            } else {
                if node.is_missing() {
                    self.syntax_errors += 1;
                }
                None
            };
            if let Some(child_context) = descend
                && cursor.goto_first_child()
            {
                saved.push(context);
                context = child_context;
                continue;
            }
            while !cursor.goto_next_sibling() {
                if !cursor.goto_parent() {
                    break 'walk;
                }
                context = saved.pop().unwrap_or(0);
            }
        }
        self.resolve_pending_parents();
        let references = std::mem::take(&mut self.references);
        let calls = std::mem::take(&mut self.calls);
        let words = std::mem::take(&mut self.words);
        for (((symbol, references), calls), words) in self
            .symbols
            .iter_mut()
            .zip(references)
            .zip(calls)
            .zip(words)
        {
            symbol.references = references.into_iter().collect();
            symbol.calls = calls.into_iter().collect();
            symbol.words = words;
        }
        ParsedFile {
            symbols: self.symbols,
            imports: self.imports,
            doc,
            references: self.file_references.into_iter().collect(),
            syntax_errors: self.syntax_errors,
            words: self.file_words,
        }
    }

    /// Handles one named node; returns the context its children are visited in, or
    /// `None` when its children need no visit.
    fn visit(&mut self, node: Node<'_>, context: usize) -> Option<usize> {
        if node.is_error() || node.is_missing() {
            self.syntax_errors += 1;
        }
        let kind = node.kind();
        if spec::is_comment(kind) || spec::is_string(kind) {
            self.add_words(self.contexts[context].owner, node);
            return None;
        }
        if spec::is_import(self.language, node, self.source) {
            self.imports.push(collapse(self.text(node), 200));
            return None;
        }
        let mut child_context = context;
        let scope = self.contexts[context].scope;
        if let Some(definition) = spec::definition(self.language, node, scope, self.source)
            && let Some(index) = self.add_symbol(node, &definition, context)
        {
            let symbol = &self.symbols[index as usize];
            let kind = symbol.kind;
            let prefix = symbol.qualified_name.clone();
            child_context = self.contexts.len();
            self.contexts.push(Context {
                owner: Some(index),
                parent: Some(index),
                prefix,
                scope: Scope {
                    in_function: scope.in_function || spec::is_function_kind(kind),
                    in_type: kind.is_container()
                        && !matches!(kind, SymbolKind::Module | SymbolKind::Namespace),
                },
            });
        } else if let Some(target) = spec::impl_target(self.language, node, self.source) {
            child_context = self.contexts.len();
            let prefix = join(
                &self.contexts[context].prefix,
                &target,
                self.language.path_separator(),
            );
            // Resolved after the walk: items of `impl Foo` are members of `Foo`.
            self.pending_parents
                .push((u32::MAX, format!("{prefix}\u{0}{target}")));
            self.contexts.push(Context {
                owner: self.contexts[context].owner,
                parent: None,
                prefix,
                scope: Scope {
                    in_function: false,
                    in_type: true,
                },
            });
        } else if node.child_count() == 0 && spec::is_identifier(kind) {
            if !self.name_nodes.contains(&node.id()) {
                self.add_reference(self.contexts[context].owner, node, false);
            }
            return None;
        }
        if let Some(callee) = spec::callee(node) {
            self.add_reference(self.contexts[context].owner, callee, true);
        }
        Some(child_context)
    }

    /// Comment and string text, for recall on natural-language questions.
    fn add_words(&mut self, owner: Option<u32>, node: Node<'_>) {
        let text = self.text(node);
        let words = match owner {
            Some(owner) => &mut self.words[owner as usize],
            None => &mut self.file_words,
        };
        if words.len() >= MAX_WORDS || text.len() > 4 * MAX_WORDS {
            return;
        }
        words.push_str(text);
        words.push('\n');
    }

    fn add_reference(&mut self, owner: Option<u32>, node: Node<'_>, call: bool) {
        let text = self.text(node).trim_start_matches(['#', '@', '$']);
        if !(2..=64).contains(&text.len()) || !text.chars().all(|c| c.is_alphanumeric() || c == '_')
        {
            return;
        }
        match owner {
            Some(owner) => {
                let owner = owner as usize;
                if call {
                    self.calls[owner].insert(text.to_string());
                }
                let references = &mut self.references[owner];
                if references.len() < MAX_REFERENCES {
                    references.insert(text.to_string());
                }
            }
            None => {
                if self.file_references.len() < 4 * MAX_REFERENCES {
                    self.file_references.insert(text.to_string());
                }
            }
        }
    }

    fn add_symbol(
        &mut self,
        node: Node<'_>,
        definition: &spec::Definition<'_>,
        context: usize,
    ) -> Option<u32> {
        let raw_name = match &definition.name {
            Some(name) => name.clone(),
            None => self.text(definition.name_node).to_string(),
        };
        let name = collapse(&raw_name, 120);
        if name.is_empty() {
            return None;
        }
        self.name_nodes.insert(definition.name_node.id());
        let mut kind = definition.kind;
        let scope = self.contexts[context].scope;
        if kind == SymbolKind::Function && (scope.in_type || definition.qualifier.is_some()) {
            kind = SymbolKind::Method;
        }
        let separator = self.language.path_separator();
        let mut prefix = self.contexts[context].prefix.clone();
        if let Some(qualifier) = &definition.qualifier {
            prefix = join(&prefix, qualifier, separator);
        }
        let qualified_name = join(&prefix, &name, separator);
        let outer = outermost_wrapper(node);
        let start = self.signature_start(outer);
        let mut end = definition
            .body
            .map(|b| b.start_byte())
            .unwrap_or(node.end_byte());
        // A comment between the declaration and its body is not part of the signature.
        let mut cursor = node.walk();
        for child in node.children(&mut cursor) {
            if child.start_byte() >= end {
                break;
            }
            if spec::is_comment(child.kind()) && child.start_byte() > start {
                end = child.start_byte();
                break;
            }
        }
        let end = end.max(start);
        let signature = signature_text(std::str::from_utf8(&self.source[start..end]).unwrap_or(""));
        let doc = self.doc_for(node, outer, definition.body);
        let visibility = spec::visibility(self.language, node, &name, self.source);
        let index = self.symbols.len() as u32;
        self.symbols.push(Symbol {
            name,
            qualified_name,
            kind,
            signature,
            doc,
            visibility,
            start_line: outer.start_position().row as u32 + 1,
            end_line: node.end_position().row as u32 + 1,
            parent: self.contexts[context].parent,
            references: Default::default(),
            calls: Default::default(),
            words: String::new(),
        });
        self.references.push(BTreeSet::new());
        self.calls.push(BTreeSet::new());
        self.words.push(String::new());
        if let Some(qualifier) = &definition.qualifier
            && self.contexts[context].parent.is_none()
        {
            let container = qualifier.rsplit(separator).next().unwrap_or(qualifier);
            self.pending_parents.push((index, container.to_string()));
        }
        Some(index)
    }

    fn resolve_pending_parents(&mut self) {
        let containers: HashMap<&str, u32> = self
            .symbols
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind.is_container())
            .map(|(i, s)| (s.name.as_str(), i as u32))
            .collect();
        let mut assignments = Vec::new();
        for (index, name) in &self.pending_parents {
            if *index == u32::MAX {
                // An impl block: its direct items (parent None, qualified under the
                // impl prefix) become members of the type.
                let Some((prefix, target)) = name.split_once('\u{0}') else {
                    continue;
                };
                let Some(&container) = containers.get(target) else {
                    continue;
                };
                let separator = self.language.path_separator();
                for (i, symbol) in self.symbols.iter().enumerate() {
                    if symbol.parent.is_none()
                        && i as u32 != container
                        && symbol
                            .qualified_name
                            .strip_prefix(prefix)
                            .and_then(|rest| rest.strip_prefix(separator))
                            .is_some_and(|rest| !rest.contains(separator))
                    {
                        assignments.push((i, container));
                    }
                }
            } else if let Some(&container) = containers.get(name.as_str())
                && container != *index
            {
                assignments.push((*index as usize, container));
            }
        }
        for (index, container) in assignments {
            self.symbols[index].parent = Some(container);
        }
    }

    /// Where a signature starts: the outer node, or the first attribute before it.
    fn signature_start(&self, outer: Node<'_>) -> usize {
        let mut start = outer.start_byte();
        let mut previous = outer.prev_named_sibling();
        while let Some(sibling) = previous {
            if matches!(sibling.kind(), "attribute_item" | "attribute" | "decorator") {
                start = sibling.start_byte();
                previous = sibling.prev_named_sibling();
            } else {
                break;
            }
        }
        start
    }

    fn doc_for(&self, node: Node<'_>, outer: Node<'_>, body: Option<Node<'_>>) -> String {
        if self.language == Language::Python
            && let Some(doc) = body.and_then(|b| self.docstring(b))
        {
            return doc;
        }
        let mut lines: Vec<&str> = Vec::new();
        let mut next_row = outer.start_position().row;
        let mut previous = outer.prev_sibling();
        // The first item of a body: its comment may sit before the body node itself
        // (Ruby puts comments beside `body_statement`).
        if previous.is_none()
            && let Some(parent) = outer.parent()
            && parent.start_position().row == outer.start_position().row
        {
            previous = parent.prev_sibling();
        }
        while let Some(sibling) = previous {
            let kind = sibling.kind();
            if matches!(kind, "attribute_item" | "attribute" | "decorator") {
                next_row = sibling.start_position().row;
                previous = sibling.prev_sibling();
                continue;
            }
            if !spec::is_comment(kind) || sibling.end_position().row + 1 < next_row {
                break;
            }
            let text = self.text(sibling);
            if self.language == Language::Rust
                && !(text.starts_with("///") && !text.starts_with("////")
                    || text.starts_with("/**"))
            {
                break;
            }
            lines.push(text);
            next_row = sibling.start_position().row;
            previous = sibling.prev_sibling();
        }
        let _ = node;
        lines.reverse();
        clean_comment(&lines.join("\n"))
    }

    /// A Python docstring: the first statement of a body, if it is a string.
    fn docstring(&self, body: Node<'_>) -> Option<String> {
        let first = body.named_child(0)?;
        if first.kind() != "expression_statement" {
            return None;
        }
        let string = first.named_child(0)?;
        if string.kind() != "string" {
            return None;
        }
        let text = self.text(string);
        let text = text.trim_start_matches(['r', 'u', 'b', 'R', 'U', 'B', 'f', 'F']);
        let text = text
            .trim_start_matches("\"\"\"")
            .trim_start_matches("'''")
            .trim_end_matches("\"\"\"")
            .trim_end_matches("'''")
            .trim_matches(['"', '\'']);
        Some(truncate(&dedent(text), MAX_DOC))
    }

    /// The file's own doc: `//!` lines, a module docstring, or the first comment that is
    /// not a licence header.
    fn file_doc(&self, root: Node<'_>) -> String {
        if self.language == Language::Python {
            return self.docstring(root).unwrap_or_default();
        }
        let mut cursor = root.walk();
        let mut lines = Vec::new();
        for child in root.named_children(&mut cursor) {
            if !spec::is_comment(child.kind()) {
                break;
            }
            let text = self.text(child);
            if self.language == Language::Rust {
                if text.starts_with("//!") || text.starts_with("/*!") {
                    lines.push(text);
                }
                continue;
            }
            let lower = text.to_ascii_lowercase();
            if lower.contains("copyright") || lower.contains("license") {
                continue;
            }
            lines.push(text);
        }
        clean_comment(&lines.join("\n"))
    }
}

/// Climbs through export statements, decorators, templates and declarations that wrap
/// a definition, so docs and signatures include them.
fn outermost_wrapper(node: Node<'_>) -> Node<'_> {
    let mut outer = node;
    for _ in 0..4 {
        match outer.parent() {
            Some(parent) if spec::is_wrapper(parent.kind()) && parent.named_child_count() <= 3 => {
                outer = parent
            }
            _ => break,
        }
    }
    outer
}

fn join(prefix: &str, name: &str, separator: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}{separator}{name}")
    }
}

/// Whitespace collapsed to single spaces, cut at `max` bytes.
fn collapse(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
        if out.len() >= max {
            break;
        }
    }
    truncate(&out, max)
}

fn signature_text(text: &str) -> String {
    let collapsed = collapse(text, MAX_SIGNATURE);
    collapsed
        .trim_end_matches(|c: char| c == '{' || c == ':' || c == '=' || c.is_whitespace())
        .to_string()
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &text[..cut])
}

/// Comment markers stripped, lines dedented, cut at [`MAX_DOC`].
fn clean_comment(text: &str) -> String {
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

fn dedent(text: &str) -> String {
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

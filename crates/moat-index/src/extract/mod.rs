//! Symbols, docs, imports and references from source text, with tree-sitter.
//!
//! One generic walker for every language; `spec.rs` says which nodes are definitions,
//! imports, identifiers and calls. The walk is iterative (deeply nested code cannot
//! overflow the stack) and parsing has a deadline (a pathological file is skipped, not
//! waited on). References are resolved later, by name (see `graph.rs`).

mod doc;
mod signature;
mod spec;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tier_tests;

use crate::{Language, ParsedFile, Symbol, SymbolKind};
use doc::{MAX_DOC, clean_comment, dedent};
use signature::{collapse, truncate};
use spec::Scope;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};
use tree_sitter::{Node, Parser};

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
        let masked = spec::is_comment(kind) || spec::is_masked_literal(kind);
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
    /// Inside a literal a masked view hides whole (a C# interpolated string, a Ruby
    /// heredoc) whose interpolations the walk still reads for relations.
    in_literal: bool,
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
    /// Per symbol (and for the file): identifiers seen so far only inside a literal a
    /// masked view hides, so never ranked for a tier that sees masked code.
    literal_references: Vec<BTreeSet<String>>,
    file_literal_references: BTreeSet<String>,
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
            literal_references: Vec::new(),
            file_literal_references: BTreeSet::new(),
            imports: Vec::new(),
            contexts: vec![Context {
                owner: None,
                parent: None,
                prefix: String::new(),
                scope: Scope {
                    in_function: false,
                    in_type: false,
                },
                in_literal: false,
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
        let (doc, source_doc) = self.file_doc(root);
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
        let literal = std::mem::take(&mut self.literal_references);
        for ((((symbol, references), calls), words), literal) in self
            .symbols
            .iter_mut()
            .zip(references)
            .zip(calls)
            .zip(words)
            .zip(literal)
        {
            symbol.code_references = code_references(&references, &literal);
            symbol.references = references.into_iter().collect();
            symbol.calls = calls.into_iter().collect();
            symbol.words = words;
        }
        let code_references = code_references(&self.file_references, &self.file_literal_references);
        ParsedFile {
            symbols: self.symbols,
            imports: self.imports,
            code_references,
            references: self.file_references.into_iter().collect(),
            syntax_errors: self.syntax_errors,
            words: self.file_words,
            source_doc: (source_doc != doc).then_some(source_doc),
            doc,
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
                in_literal: false,
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
                in_literal: self.contexts[context].in_literal,
            });
        } else if node.child_count() == 0 && spec::is_identifier(kind) {
            if !self.name_nodes.contains(&node.id()) {
                self.add_reference(context, node, false);
            }
            return None;
        } else if spec::is_masked_literal(kind) && !self.contexts[context].in_literal {
            child_context = self.contexts.len();
            let outer = &self.contexts[context];
            self.contexts.push(Context {
                owner: outer.owner,
                parent: outer.parent,
                prefix: outer.prefix.clone(),
                scope: outer.scope,
                in_literal: true,
            });
        }
        if let Some(callee) = spec::callee(node) {
            self.add_reference(context, callee, true);
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

    fn add_reference(&mut self, context: usize, node: Node<'_>, call: bool) {
        let text = self.text(node).trim_start_matches(['#', '@', '$']);
        if !(2..=64).contains(&text.len()) || !text.chars().all(|c| c.is_alphanumeric() || c == '_')
        {
            return;
        }
        let (owner, in_literal) = (
            self.contexts[context].owner,
            self.contexts[context].in_literal,
        );
        let (references, literal, limit) = match owner {
            Some(owner) => {
                let owner = owner as usize;
                if call {
                    self.calls[owner].insert(text.to_string());
                }
                (
                    &mut self.references[owner],
                    &mut self.literal_references[owner],
                    MAX_REFERENCES,
                )
            }
            None => (
                &mut self.file_references,
                &mut self.file_literal_references,
                4 * MAX_REFERENCES,
            ),
        };
        // Seen only inside hidden literals so far, or seen in code at last.
        if in_literal {
            if !references.contains(text) {
                literal.insert(text.to_string());
            }
        } else if !literal.is_empty() {
            literal.remove(text);
        }
        if references.len() < limit {
            references.insert(text.to_string());
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
        let signature = signature::signature(
            node,
            outer,
            definition.body,
            definition.name_node,
            self.source,
        );
        let source_signature =
            signature::source_signature(node, outer, definition.body, self.source);
        let source_signature = (source_signature != signature).then_some(source_signature);
        let (doc, source_doc) = self.doc_for(outer, definition.body);
        let source_doc = (source_doc != doc).then_some(source_doc);
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
            source_signature,
            source_doc,
            code_references: None,
        });
        self.references.push(BTreeSet::new());
        self.literal_references.push(BTreeSet::new());
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

    /// The doc shown for a definition (see `doc.rs`) and the text the source tier
    /// ranks on: every comment right before it (for Rust, its doc comments).
    fn doc_for(&self, outer: Node<'_>, body: Option<Node<'_>>) -> (String, String) {
        let docstring = if self.language == Language::Python {
            body.and_then(|b| self.docstring(b))
        } else {
            None
        };
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
            if self.language == Language::Rust && !doc::is_doc_comment(Language::Rust, text) {
                break;
            }
            lines.push(text);
            next_row = sibling.start_position().row;
            previous = sibling.prev_sibling();
        }
        lines.reverse();
        match docstring {
            Some(docstring) => (docstring.clone(), docstring),
            None if self.language == Language::Python => {
                (String::new(), clean_comment(&lines.join("\n")))
            }
            None => (
                doc::shown_doc(self.language, &lines),
                clean_comment(&lines.join("\n")),
            ),
        }
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

    /// The file's own doc shown (see `doc.rs`), and the text the source tier ranks on:
    /// `//!` lines, a module docstring, or the first comments that are not a licence
    /// header.
    fn file_doc(&self, root: Node<'_>) -> (String, String) {
        if self.language == Language::Python {
            let doc = self.docstring(root).unwrap_or_default();
            return (doc.clone(), doc);
        }
        let mut cursor = root.walk();
        let mut lines = Vec::new();
        let mut shown = Vec::new();
        for child in root.named_children(&mut cursor) {
            if !spec::is_comment(child.kind()) {
                break;
            }
            let text = self.text(child);
            if self.language == Language::Rust {
                if text.starts_with("//!") || text.starts_with("/*!") {
                    lines.push(text);
                    shown.push(text);
                }
                continue;
            }
            let lower = text.to_ascii_lowercase();
            if lower.contains("copyright") || lower.contains("license") {
                continue;
            }
            lines.push(text);
            if self.language != Language::Go {
                shown.push(text);
            }
        }
        let source = clean_comment(&lines.join("\n"));
        let shown = match self.language {
            Language::Rust => clean_comment(&shown.join("\n")),
            // Go's package doc is the block right before `package`.
            Language::Go => self.go_package_doc(root),
            _ => doc::shown_doc(self.language, &shown),
        };
        (shown, source)
    }

    fn go_package_doc(&self, root: Node<'_>) -> String {
        let mut cursor = root.walk();
        let Some(package) = root
            .named_children(&mut cursor)
            .find(|c| c.kind() == "package_clause")
        else {
            return String::new();
        };
        let mut lines = Vec::new();
        let mut next_row = package.start_position().row;
        let mut previous = package.prev_sibling();
        while let Some(sibling) = previous {
            if !spec::is_comment(sibling.kind()) || sibling.end_position().row + 1 < next_row {
                break;
            }
            lines.push(self.text(sibling));
            next_row = sibling.start_position().row;
            previous = sibling.prev_sibling();
        }
        lines.reverse();
        if lines
            .iter()
            .any(|l| l.to_ascii_lowercase().contains("license"))
        {
            return String::new();
        }
        doc::shown_doc(Language::Go, &lines)
    }
}

/// The references a masked view shows, one a line, when some are seen only inside
/// literals it hides (`None`: all of them).
fn code_references(references: &BTreeSet<String>, literal: &BTreeSet<String>) -> Option<String> {
    if literal.is_empty() {
        return None;
    }
    let shown: Vec<&str> = references
        .iter()
        .filter(|r| !literal.contains(*r))
        .map(String::as_str)
        .collect();
    Some(shown.join("\n"))
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

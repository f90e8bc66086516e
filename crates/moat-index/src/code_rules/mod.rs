//! Security rules over code: tree-sitter queries per language for the mistakes AI
//! assistants are known to write — SQL built by string concatenation, shell commands
//! built from input, unsafe deserialization, TLS verification turned off, weak hashes
//! for passwords. (Hard-coded secrets are the DLP engine's.) Each rule is one query
//! whose `@finding` capture is reported; two conventions refine what a query alone
//! cannot say:
//!
//! - a capture named `@dynamic` must not be a constant: a plain string literal, or a
//!   concatenation of literals, means the command or query is fixed, not built from
//!   input, and the match is dropped;
//! - a rule with `near` holds only when the enclosing function (or, at top level, the
//!   file) mentions it, e.g. a password for a weak-hash rule;
//! - a capture named `@arg` must name a variable that the same function built, before
//!   that point, from something another rule of the same class found (see [`flow`]):
//!   `cursor.execute(sql)` after `sql = "SELECT … " + id`.

mod flow;
mod queries;

use crate::Language;
use regex::Regex;
use serde::Serialize;
use std::sync::OnceLock;
use streaming_iterator::StreamingIterator;
use tree_sitter::{Node, Parser, Query, QueryCursor};

/// The class of mistake a rule finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    SqlConcatenation,
    ShellInjection,
    UnsafeDeserialization,
    TlsVerificationDisabled,
    WeakPasswordHash,
}

impl Class {
    pub const ALL: [Class; 5] = [
        Class::SqlConcatenation,
        Class::ShellInjection,
        Class::UnsafeDeserialization,
        Class::TlsVerificationDisabled,
        Class::WeakPasswordHash,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::SqlConcatenation => "sql-concatenation",
            Class::ShellInjection => "shell-injection",
            Class::UnsafeDeserialization => "unsafe-deserialization",
            Class::TlsVerificationDisabled => "tls-verification-disabled",
            Class::WeakPasswordHash => "weak-password-hash",
        }
    }

    /// The CWE a finding of the class is an instance of.
    pub fn cwe(self) -> &'static str {
        match self {
            Class::SqlConcatenation => "CWE-89",
            Class::ShellInjection => "CWE-78",
            Class::UnsafeDeserialization => "CWE-502",
            Class::TlsVerificationDisabled => "CWE-295",
            Class::WeakPasswordHash => "CWE-916",
        }
    }

    /// `high` or `medium`, as `moat scan --fail-on` reads it.
    pub fn severity(self) -> &'static str {
        match self {
            Class::SqlConcatenation | Class::ShellInjection | Class::UnsafeDeserialization => {
                "high"
            }
            Class::TlsVerificationDisabled | Class::WeakPasswordHash => "medium",
        }
    }

    /// What the mistake is and what to do instead.
    pub fn advice(self) -> &'static str {
        match self {
            Class::SqlConcatenation => {
                "SQL built from strings and values: pass the values as parameters of a prepared statement instead"
            }
            Class::ShellInjection => {
                "a shell command built from values: run the program with an argument list and no shell"
            }
            Class::UnsafeDeserialization => {
                "data deserialized into arbitrary objects: use a data-only format (JSON) or a safe loader"
            }
            Class::TlsVerificationDisabled => {
                "TLS certificate or host verification turned off: keep it on and trust the right CA instead"
            }
            Class::WeakPasswordHash => {
                "a password hashed with MD5 or SHA-1: use a password hash (argon2, scrypt, bcrypt, PBKDF2)"
            }
        }
    }
}

/// One rule: a query over one grammar.
pub struct Rule {
    pub id: &'static str,
    pub class: Class,
    pub language: Language,
    pub query: &'static str,
    /// Holds only where the enclosing function mentions this (a regex).
    pub near: Option<&'static str>,
}

/// One finding in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CodeFinding {
    pub rule: &'static str,
    pub class: Class,
    /// 1-based.
    pub line: usize,
    /// The matched code, for fingerprinting (never shown whole).
    pub text: String,
}

struct Compiled {
    rule: &'static Rule,
    query: Query,
    near: Option<Regex>,
}

/// Every rule, compiled once per process.
fn compiled() -> &'static Vec<Compiled> {
    static COMPILED: OnceLock<Vec<Compiled>> = OnceLock::new();
    COMPILED.get_or_init(|| {
        rules()
            .iter()
            .map(|rule| {
                let grammar = rule
                    .language
                    .grammar()
                    .expect("rules are for parsed languages");
                // One group: the predicates after the pattern belong to it.
                let query = Query::new(&grammar, &format!("({})", rule.query))
                    .unwrap_or_else(|e| panic!("rule {}: {e}", rule.id));
                Compiled {
                    rule,
                    query,
                    near: rule.near.map(|r| Regex::new(r).expect("a rule's regex")),
                }
            })
            .collect()
    })
}

/// Every rule, for documentation and SARIF.
pub fn rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(queries::all)
}

/// Whether any rule reads `language` (TypeScript and TSX run JavaScript's).
pub fn covers(language: Language) -> bool {
    rules().iter().any(|r| r.language == language)
}

/// Runs every rule for `language` over `source`; findings in line order, one per rule
/// and line.
pub fn check(language: Language, source: &str) -> Vec<CodeFinding> {
    let rules: Vec<&Compiled> = compiled()
        .iter()
        .filter(|c| c.rule.language == language)
        .collect();
    let Some(grammar) = language.grammar() else {
        return Vec::new();
    };
    if rules.is_empty() {
        return Vec::new();
    }
    let mut parser = Parser::new();
    if parser.set_language(&grammar).is_err() {
        return Vec::new();
    }
    let Some(tree) = parser.parse(source, None) else {
        return Vec::new();
    };
    let bytes = source.as_bytes();
    let mut findings = Vec::new();
    // Rules that follow a variable run after the others, over what they found.
    let (plain, following): (Vec<&Compiled>, Vec<&Compiled>) = rules
        .into_iter()
        .partition(|c| !c.query.capture_names().contains(&"arg"));
    let mut found_ranges: Vec<(Class, usize, usize)> = Vec::new();
    let mut built: Option<flow::Built> = None;
    // Whether a scope mentions a rule's `near`, by (rule, scope): a file of thousands of
    // matches at top level reads the file once per rule, not once per match.
    let mut near_seen: std::collections::HashMap<(&str, usize), bool> = Default::default();
    // One finding per rule and line, decided before anything is copied: a chain of a
    // hundred thousand joins on one line is one finding, not a hundred thousand.
    let mut kept: std::collections::HashSet<(usize, &str)> = Default::default();
    for compiled in plain.into_iter().chain(following) {
        let names = compiled.query.capture_names();
        let follows = names.contains(&"arg");
        if follows && built.is_none() {
            built = Some(flow::built(language, &tree, bytes, &found_ranges));
        }
        let mut cursor = QueryCursor::new();
        cursor.set_max_start_depth(Some(MAX_MATCH_DEPTH));
        let mut matches = cursor.matches(&compiled.query, tree.root_node(), bytes);
        while let Some(found) = matches.next() {
            let mut finding = None;
            let mut constant = false;
            let mut held = !follows;
            for capture in found.captures {
                match names[capture.index as usize] {
                    "finding" => finding = Some(capture.node),
                    "dynamic" => constant |= is_constant(capture.node, bytes, 0),
                    "arg" => {
                        held |= built
                            .as_ref()
                            .is_some_and(|b| b.holds(compiled.rule.class, capture.node, bytes))
                    }
                    _ => {}
                }
            }
            let Some(node) = finding else { continue };
            if constant || !held {
                continue;
            }
            if let Some(near) = &compiled.near {
                let scope = enclosing_scope(node);
                let mentioned = *near_seen
                    .entry((compiled.rule.id, scope.id()))
                    .or_insert_with(|| near.is_match(scope.utf8_text(bytes).unwrap_or_default()));
                if !mentioned {
                    continue;
                }
            }
            let line = node.start_position().row + 1;
            if !kept.insert((line, compiled.rule.id)) {
                continue;
            }
            found_ranges.push((compiled.rule.class, node.start_byte(), node.end_byte()));
            let text = node.utf8_text(bytes).unwrap_or_default();
            let cut = (0..=text.len().min(MAX_FINDING_TEXT))
                .rev()
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(0);
            findings.push(CodeFinding {
                rule: compiled.rule.id,
                class: compiled.rule.class,
                line,
                text: text[..cut].to_string(),
            });
        }
    }
    findings.sort_by(|a, b| (a.line, a.rule).cmp(&(b.line, b.rule)));
    findings.dedup_by(|a, b| a.line == b.line && a.rule == b.rule);
    findings
}

/// How deep in a file's tree a match may start: code nests far less, and a file nested
/// deeper (a hundred thousand joins) would make matching take minutes; what starts
/// deeper is not looked at.
const MAX_MATCH_DEPTH: u32 = 1_000;

/// The most of a finding's code kept (for its fingerprint).
const MAX_FINDING_TEXT: usize = 512;

/// How deep a join of literals is followed; deeper counts as built from values (a
/// file cannot exhaust the stack with a million nested parentheses).
const MAX_CONSTANT_DEPTH: usize = 64;

/// A literal, or literals joined: nothing in it came from input.
fn is_constant(node: Node<'_>, bytes: &[u8], depth: usize) -> bool {
    if depth > MAX_CONSTANT_DEPTH {
        return false;
    }
    match node.kind() {
        // A string with an interpolation inside is built from values.
        "string"
        | "template_string"
        | "interpreted_string_literal"
        | "raw_string_literal"
        | "string_literal"
        | "text_block" => {
            let mut cursor = node.walk();
            let interpolated = node
                .children(&mut cursor)
                .any(|c| matches!(c.kind(), "interpolation" | "template_substitution"));
            !interpolated
        }
        "concatenated_string"
        | "binary_expression"
        | "binary_operator"
        | "parenthesized_expression" => {
            let operator_is_concatenation = node
                .child_by_field_name("operator")
                .is_none_or(|op| op.utf8_text(bytes).is_ok_and(|t| t == "+"));
            let mut cursor = node.walk();
            let named: Vec<Node<'_>> = node.named_children(&mut cursor).collect();
            operator_is_concatenation
                && !named.is_empty()
                && named.iter().all(|c| is_constant(*c, bytes, depth + 1))
        }
        _ => false,
    }
}

/// The function a node is in, or the whole file.
fn enclosing_scope(node: Node<'_>) -> Node<'_> {
    let mut at = node;
    while let Some(parent) = at.parent() {
        if matches!(
            parent.kind(),
            "function_definition"
                | "function_declaration"
                | "method_declaration"
                | "constructor_declaration"
                | "arrow_function"
                | "function_expression"
                | "method_definition"
                | "func_literal"
        ) {
            return parent;
        }
        at = parent;
    }
    at
}

#[cfg(test)]
mod tests;

//! One step of data flow inside a function: what a variable was built from. A rule
//! with an `@arg` capture holds only where that identifier names a variable of the same
//! function that was, before that point, assigned something another rule of the rule's
//! class found (`sql = "SELECT … " + id` then `cursor.execute(sql)`), or assigned an SQL
//! statement and then appended to with something not constant (`sql = "SELECT "` then
//! `sql += field`). No flow across functions, fields or other variables is followed.

use super::{Class, enclosing_scope, is_constant};
use crate::Language;
use regex::Regex;
use std::collections::HashMap;
use std::sync::OnceLock;
use streaming_iterator::StreamingIterator;
use tree_sitter::{Node, Query, QueryCursor, Tree};

/// Where a variable is assigned: `@name`, `@value`, and `@append` for `+=`.
fn assignments(language: Language) -> Option<&'static str> {
    Some(match language {
        Language::Python => {
            r#"[(assignment left: (identifier) @name right: (_) @value)
                (augmented_assignment left: (identifier) @name operator: "+=" @append right: (_) @value)]"#
        }
        Language::JavaScript | Language::TypeScript | Language::Tsx => {
            r#"[(variable_declarator name: (identifier) @name value: (_) @value)
                (assignment_expression left: (identifier) @name right: (_) @value)
                (augmented_assignment_expression left: (identifier) @name operator: "+=" @append right: (_) @value)]"#
        }
        Language::Java => {
            r#"[(variable_declarator name: (identifier) @name value: (_) @value)
                (assignment_expression left: (identifier) @name operator: "=" right: (_) @value)
                (assignment_expression left: (identifier) @name operator: "+=" @append right: (_) @value)]"#
        }
        Language::Go => {
            r#"[(short_var_declaration left: (expression_list . (identifier) @name) right: (expression_list . (_) @value))
                (assignment_statement left: (expression_list . (identifier) @name) operator: "=" right: (expression_list . (_) @value))
                (assignment_statement left: (expression_list . (identifier) @name) operator: "+=" @append right: (expression_list . (_) @value))
                (var_spec name: (identifier) @name value: (expression_list . (_) @value))]"#
        }
        _ => return None,
    })
}

fn compiled(language: Language) -> Option<&'static Query> {
    static QUERIES: OnceLock<HashMap<Language, Query>> = OnceLock::new();
    QUERIES
        .get_or_init(|| {
            crate::Language::PARSED
                .iter()
                .filter_map(|&language| {
                    let text = assignments(language)?;
                    let grammar = language.grammar()?;
                    let query = Query::new(&grammar, text)
                        .unwrap_or_else(|e| panic!("assignments in {language:?}: {e}"));
                    Some((language, query))
                })
                .collect()
        })
        .get(&language)
}

/// A string literal that starts an SQL statement.
fn sql_statement() -> &'static Regex {
    static SQL: OnceLock<Regex> = OnceLock::new();
    SQL.get_or_init(|| {
        Regex::new(r#"(?i)^[rbuf]*["'`]+\s*(select|insert|update|delete|drop|create|alter|merge|replace|truncate)\s"#)
            .expect("a valid regex")
    })
}

/// What a variable holds after an assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holds {
    /// Something a rule of this class found.
    Built(Class),
    /// An SQL statement, constant so far.
    Statement,
    /// Anything else.
    Other,
}

/// Variables by (function, name): what each assignment left in it, from which byte on,
/// in source order.
pub(super) struct Built(HashMap<(usize, String), Vec<(usize, Holds)>>);

impl Built {
    /// Whether `name`, used at `node`, holds something of `class` built in its
    /// function before it (by the last assignment before it).
    pub(super) fn holds(&self, class: Class, node: Node<'_>, bytes: &[u8]) -> bool {
        let Ok(name) = node.utf8_text(bytes) else {
            return false;
        };
        let scope = enclosing_scope(node).id();
        self.0
            .get(&(scope, name.to_string()))
            .is_some_and(|history| {
                let before = history.partition_point(|(from, _)| *from <= node.start_byte());
                before > 0 && history[before - 1].1 == Holds::Built(class)
            })
    }
}

/// Reads every assignment of the file against `found` (each finding's class and byte
/// range).
pub(super) fn built(
    language: Language,
    tree: &Tree,
    bytes: &[u8],
    found: &[(Class, usize, usize)],
) -> Built {
    let mut built: HashMap<(usize, String), Vec<(usize, Holds)>> = HashMap::new();
    let Some(query) = compiled(language) else {
        return Built(built);
    };
    let mut found = found.to_vec();
    found.sort_by_key(|(_, from, _)| *from);
    let names = query.capture_names();
    let mut assigned = Vec::new();
    let mut cursor = QueryCursor::new();
    cursor.set_max_start_depth(Some(super::MAX_MATCH_DEPTH));
    let mut matches = cursor.matches(query, tree.root_node(), bytes);
    while let Some(found_match) = matches.next() {
        let (mut name, mut value, mut append) = (None, None, false);
        for capture in found_match.captures {
            match names[capture.index as usize] {
                "name" => name = Some(capture.node),
                "value" => value = Some(capture.node),
                "append" => append = true,
                _ => {}
            }
        }
        if let (Some(name), Some(value)) = (name, value) {
            assigned.push((name, value, append));
        }
    }
    assigned.sort_by_key(|(_, value, _)| value.start_byte());
    for (name, value, append) in assigned {
        let Ok(text) = name.utf8_text(bytes) else {
            continue;
        };
        let (start, end) = (value.start_byte(), value.end_byte());
        // A finding inside the value (found is sorted by start).
        let first = found.partition_point(|(_, from, _)| *from < start);
        let inside = found[first..]
            .iter()
            .take_while(|(_, from, _)| *from < end)
            .find(|(_, _, to)| *to <= end)
            .map(|(class, _, _)| *class);
        let history = built
            .entry((enclosing_scope(name).id(), text.to_string()))
            .or_default();
        let was = history.last().map_or(Holds::Other, |(_, holds)| *holds);
        let now = match (inside, append) {
            (Some(class), _) => Holds::Built(class),
            (None, true) if was == Holds::Statement && !is_constant(value, bytes, 0) => {
                Holds::Built(Class::SqlConcatenation)
            }
            // Appending keeps what was there (a built query stays built).
            (None, true) => was,
            (None, false)
                if is_literal(value)
                    && value
                        .utf8_text(bytes)
                        .is_ok_and(|t| sql_statement().is_match(t)) =>
            {
                Holds::Statement
            }
            (None, false) => Holds::Other,
        };
        history.push((end, now));
    }
    Built(built)
}

fn is_literal(node: Node<'_>) -> bool {
    matches!(
        node.kind(),
        "string"
            | "string_literal"
            | "interpreted_string_literal"
            | "raw_string_literal"
            | "template_string"
            | "text_block"
    )
}

//! Signatures: a declaration up to its body or its value, never either.
//!
//! What the `signatures` tier shows of a symbol, so it must hold no code and no data:
//! - the body is cut (as before), and so is the value of whatever is declared: a
//!   constant's or static's initialiser, a field's or property's initialiser, an enum
//!   variant's discriminant or constructor arguments, a `#define`'s replacement text, a
//!   `macro_rules!` macro's rules, a C# property's accessor bodies (the accessors
//!   themselves stay: `{ get; private set; }`). A field or constant holding a function
//!   keeps that function's parameters (`handler = (event) =>`), never its body;
//! - a parameter's default value is shown as `…` (`def connect(timeout=…)`);
//! - comments anywhere in the declaration are dropped;
//! - of a wrapper that declares several names at once (`const a = 1, b = () => {}`,
//!   Go's `const ( … )`), only its keywords are kept, never the other declarations.
//!
//! Types stay: a type alias's aliased type (`type Id = string | number`) is its
//! declaration, not a value. Attributes, annotations and decorators stay, arguments
//! included (`@GetMapping("/accounts")`): they are part of the declared interface.
//!
//! [`source_signature`] is the text the source tier has always ranked on (everything up
//! to the body, values included); it is indexed for that tier only and never shown.

use super::spec;
use tree_sitter::Node;

/// Longest signature kept, in bytes.
pub(super) const MAX_SIGNATURE: usize = 300;

/// Parents whose `=` starts the value of what they declare: cut there.
fn value_follows_equals(parent: &str) -> bool {
    matches!(
        parent,
        "const_item"
            | "static_item"
            | "enum_variant"
            | "public_field_definition"
            | "field_definition"
            | "variable_declarator"
            | "init_declarator"
            | "field_declaration"
            | "enumerator"
            | "enum_member_declaration"
            | "const_spec"
            | "property_declaration"
    )
}

/// Parameters whose `=` starts a default value: shown as `…`.
fn default_follows_equals(parent: &str) -> bool {
    matches!(
        parent,
        "default_parameter"
            | "typed_default_parameter"
            | "required_parameter"
            | "optional_parameter"
            | "assignment_pattern"
            | "object_assignment_pattern"
            | "optional_parameter_declaration"
            | "parameter"
    )
}

/// Values named by a field rather than after an `=`.
fn is_value_field(parent: &str, field: &str) -> bool {
    matches!(
        (parent, field),
        (
            "preproc_def" | "preproc_function_def" | "property_declaration",
            "value"
        ) | ("enum_constant", "arguments")
    )
}

/// `virtual f() = 0;`: the `= 0` says the method is abstract; it is no value.
fn pure_virtual(equals: Node<'_>) -> bool {
    equals.parent().is_some_and(|p| {
        p.kind() == "field_declaration"
            && p.child_by_field_name("declarator")
                .is_some_and(|d| d.kind() == "function_declarator")
    })
}

/// Values that declare a function or class: their parameters or heading are part of
/// the declaration, their body is not.
fn is_declared_value(kind: &str) -> bool {
    matches!(
        kind,
        "arrow_function"
            | "function_expression"
            | "function"
            | "generator_function"
            | "lambda_expression"
            | "class"
    )
}

/// The signature shown wherever declarations are: see the module doc.
pub(super) fn signature(
    node: Node<'_>,
    outer: Node<'_>,
    body: Option<Node<'_>>,
    name_node: Node<'_>,
    source: &[u8],
) -> String {
    let mut out = String::new();
    for attribute in attributes_before(outer) {
        header(attribute, attribute.end_byte(), source, &mut out);
        out.push(' ');
    }
    // The wrappers' own words: `export`, decorators, `template <…>`, `const`.
    let mut level = outer;
    while level.id() != node.id() {
        let Some(chain) = level.child_with_descendant(node) else {
            break;
        };
        let mut cursor = level.walk();
        for child in level.children(&mut cursor) {
            if child.id() == chain.id() {
                break;
            }
            let kind = child.kind();
            if spec::is_comment(kind) || kind == chain.kind() || matches!(kind, "," | "(" | ";") {
                continue;
            }
            header(child, child.end_byte(), source, &mut out);
            out.push(' ');
        }
        level = chain;
    }
    let mut end = body.map_or(node.end_byte(), |b| b.start_byte());
    if node.kind() == "macro_definition" {
        end = end.min(name_node.end_byte());
    }
    // Ruby's `def f(a) end` without a body: the closing `end` is not declaration.
    if body.is_none()
        && let Some(last) = node.child(node.child_count().saturating_sub(1) as u32)
        && last.kind() == "end"
        && !last.is_named()
    {
        end = end.min(last.start_byte());
    }
    header(node, end, source, &mut out);
    finish(&out)
}

/// Attributes right before a definition (`#[derive(..)]`, decorators), in source order.
fn attributes_before(outer: Node<'_>) -> Vec<Node<'_>> {
    let mut attributes = Vec::new();
    let mut previous = outer.prev_named_sibling();
    while let Some(sibling) = previous {
        if !is_attribute(sibling.kind()) {
            break;
        }
        attributes.push(sibling);
        previous = sibling.prev_named_sibling();
    }
    attributes.reverse();
    attributes
}

fn is_attribute(kind: &str) -> bool {
    matches!(kind, "attribute_item" | "attribute" | "decorator")
}

/// Appends `node`'s text up to `end`: comments dropped, defaults masked, and cut at the
/// value of what it declares.
fn header(node: Node<'_>, mut end: usize, source: &[u8], out: &mut String) {
    let text = |from: usize, to: usize| std::str::from_utf8(&source[from..to]).unwrap_or("");
    let mut at = node.start_byte();
    let mut cursor = node.walk();
    // Kinds of the ancestors of the cursor's node, within `node`.
    let mut parents: Vec<&'static str> = Vec::new();
    'walk: loop {
        let current = cursor.node();
        if current.start_byte() >= end {
            break;
        }
        let kind = current.kind();
        let parent = parents.last().copied().unwrap_or("");
        let mut skip = false;
        if spec::is_comment(kind) {
            out.push_str(text(at, current.start_byte()));
            out.push(' ');
            at = current.end_byte().min(end);
            skip = true;
        } else if kind == "="
            && !current.is_named()
            && value_follows_equals(parent)
            && !pure_virtual(current)
        {
            match current.next_named_sibling() {
                Some(value) if is_declared_value(value.kind()) => {
                    if let Some(body) = value.child_by_field_name("body") {
                        end = end.min(body.start_byte());
                    } else {
                        end = end.min(current.start_byte());
                        break;
                    }
                }
                _ => {
                    end = end.min(current.start_byte());
                    break;
                }
            }
        } else if kind == "=" && !current.is_named() && default_follows_equals(parent) {
            out.push_str(text(at, current.end_byte()));
            if source
                .get(current.end_byte())
                .is_some_and(u8::is_ascii_whitespace)
            {
                out.push(' ');
            }
            out.push('…');
            // The rest of the parameter is its default: climb out of it.
            if !cursor.goto_parent() {
                break;
            }
            parents.pop();
            at = cursor.node().end_byte().min(end);
            skip = true;
        } else if let Some(field) = cursor.field_name() {
            if is_value_field(parent, field) {
                end = end.min(current.start_byte());
                break;
            }
            if parent == "keyword_parameter" && field == "value" {
                out.push_str(text(at, current.start_byte()));
                out.push('…');
                at = current.end_byte().min(end);
                skip = true;
            }
        }
        if !skip && kind == "accessor_list" {
            out.push_str(text(at, current.start_byte()));
            out.push_str(&accessors(current, source));
            at = current.end_byte().min(end);
            skip = true;
        }
        if !skip && cursor.goto_first_child() {
            parents.push(kind);
            continue;
        }
        while !cursor.goto_next_sibling() {
            if !cursor.goto_parent() {
                break 'walk;
            }
            parents.pop();
            if cursor.node().id() == node.id() {
                break 'walk;
            }
        }
    }
    if at < end {
        out.push_str(text(at, end));
    }
}

/// A C# accessor list without bodies: `{ get; private set; }`.
fn accessors(list: Node<'_>, source: &[u8]) -> String {
    let mut out = String::from("{ ");
    let mut cursor = list.walk();
    for accessor in list.named_children(&mut cursor) {
        if accessor.kind() != "accessor_declaration" {
            continue;
        }
        let end = accessor
            .child_by_field_name("body")
            .map_or(accessor.end_byte(), |b| b.start_byte());
        let mut text = String::new();
        header(accessor, end, source, &mut text);
        let text = collapse(&text, MAX_SIGNATURE);
        let text = text.trim_end_matches([';', ' ']);
        if !text.is_empty() {
            out.push_str(text);
            out.push_str("; ");
        }
    }
    out.push('}');
    out
}

/// The text the source tier ranks on: from the first attribute to the body (the end of
/// the node when it has none), cut at a comment between them. Never shown.
pub(super) fn source_signature(
    node: Node<'_>,
    outer: Node<'_>,
    body: Option<Node<'_>>,
    source: &[u8],
) -> String {
    let start = attributes_before(outer)
        .first()
        .map_or(outer.start_byte(), |a| a.start_byte());
    let mut end = body.map(|b| b.start_byte()).unwrap_or(node.end_byte());
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
    trim_end(&collapse(
        std::str::from_utf8(&source[start..end]).unwrap_or(""),
        MAX_SIGNATURE,
    ))
}

fn finish(text: &str) -> String {
    // A dropped comment leaves `( a` or `a )` behind.
    let collapsed = collapse(text, MAX_SIGNATURE)
        .replace("( ", "(")
        .replace(" )", ")");
    trim_end(&collapsed)
}

fn trim_end(text: &str) -> String {
    text.trim_end_matches(|c: char| c == '{' || c == ':' || c == '=' || c.is_whitespace())
        .to_string()
}

/// Whitespace collapsed to single spaces, cut at `max` bytes.
pub(super) fn collapse(text: &str, max: usize) -> String {
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

pub(super) fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &text[..cut])
}

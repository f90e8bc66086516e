//! Per-language knowledge: which tree-sitter nodes define symbols, where their names
//! and bodies are, which are imports, identifiers and calls. The walker in `mod.rs` is
//! the same for every language; everything that differs lives here.

use crate::{Language, SymbolKind};
use tree_sitter::Node;

/// A definition node recognised by [`definition`].
pub(super) struct Definition<'t> {
    pub kind: SymbolKind,
    /// The node holding the name (excluded from references).
    pub name_node: Node<'t>,
    /// The name when it is not simply the name node's text (qualified C++ names).
    pub name: Option<String>,
    /// A container the name belongs to, given in the definition itself
    /// (`func (s *Server) Serve`, `void Foo::bar()`).
    pub qualifier: Option<String>,
    pub body: Option<Node<'t>>,
}

/// What the walker knows of the scope a node is in.
#[derive(Clone, Copy)]
pub(super) struct Scope {
    /// Inside a function or method body (so local closures are not symbols).
    pub in_function: bool,
    /// Directly inside a type (class, impl, trait...): functions are methods.
    pub in_type: bool,
}

fn field<'t>(node: Node<'t>, name: &str) -> Option<Node<'t>> {
    node.child_by_field_name(name)
}

fn named<'t>(kind: SymbolKind, node: Node<'t>, name_field: &str) -> Option<Definition<'t>> {
    let name_node = field(node, name_field)?;
    Some(Definition {
        kind,
        name_node,
        name: None,
        qualifier: None,
        body: field(node, "body"),
    })
}

fn first_child_of_kind<'t>(node: Node<'t>, kinds: &[&str]) -> Option<Node<'t>> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor)
        .find(|c| kinds.contains(&c.kind()))
}

/// If `node` defines a symbol, what it is.
pub(super) fn definition<'t>(
    language: Language,
    node: Node<'t>,
    scope: Scope,
    source: &[u8],
) -> Option<Definition<'t>> {
    use SymbolKind::*;
    let kind = node.kind();
    match language {
        Language::Rust => match kind {
            "function_item" | "function_signature_item" => named(Function, node, "name"),
            "struct_item" => named(Struct, node, "name"),
            "enum_item" => named(Enum, node, "name"),
            "union_item" => named(Union, node, "name"),
            "trait_item" => named(Trait, node, "name"),
            "mod_item" => named(Module, node, "name"),
            "type_item" | "associated_type" => named(TypeAlias, node, "name"),
            "const_item" | "static_item" if !scope.in_function => named(Constant, node, "name"),
            "macro_definition" => named(Macro, node, "name"),
            "enum_variant" => named(Variant, node, "name"),
            "field_declaration" => named(Field, node, "name"),
            _ => None,
        },
        Language::Python => match kind {
            "function_definition" => named(Function, node, "name"),
            "class_definition" => named(Class, node, "name"),
            _ => None,
        },
        Language::JavaScript | Language::TypeScript | Language::Tsx => match kind {
            "function_declaration" | "generator_function_declaration" | "function_signature" => {
                named(Function, node, "name")
            }
            "class_declaration" | "abstract_class_declaration" => named(Class, node, "name"),
            "method_definition" | "method_signature" | "abstract_method_signature" => {
                let mut definition = named(Method, node, "name")?;
                if definition.name_node.utf8_text(source).ok() == Some("constructor") {
                    definition.kind = Constructor;
                }
                Some(definition)
            }
            "interface_declaration" => named(Interface, node, "name"),
            "type_alias_declaration" => named(TypeAlias, node, "name"),
            "enum_declaration" => named(Enum, node, "name"),
            "internal_module" | "module" => named(Namespace, node, "name"),
            "public_field_definition" if !scope.in_function => named(Property, node, "name"),
            "field_definition" if !scope.in_function => named(Property, node, "property"),
            "variable_declarator" if !scope.in_function => {
                let name_node = field(node, "name")?;
                if name_node.kind() != "identifier" {
                    return None;
                }
                let value = field(node, "value")?;
                let kind = match value.kind() {
                    "arrow_function"
                    | "function_expression"
                    | "function"
                    | "generator_function" => Function,
                    "class" => Class,
                    _ => return None,
                };
                Some(Definition {
                    kind,
                    name_node,
                    name: None,
                    qualifier: None,
                    body: field(value, "body"),
                })
            }
            _ => None,
        },
        Language::Go => match kind {
            "function_declaration" => named(Function, node, "name"),
            "method_declaration" => {
                let mut definition = named(Method, node, "name")?;
                definition.qualifier =
                    field(node, "receiver").and_then(|receiver| go_receiver_type(receiver, source));
                Some(definition)
            }
            "type_spec" | "type_alias" => {
                let name_node = field(node, "name")?;
                let (kind, body) = match field(node, "type") {
                    Some(t) if t.kind() == "struct_type" => (Struct, Some(t)),
                    Some(t) if t.kind() == "interface_type" => (Interface, Some(t)),
                    _ => (TypeAlias, None),
                };
                Some(Definition {
                    kind,
                    name_node,
                    name: None,
                    qualifier: None,
                    body,
                })
            }
            "method_elem" | "method_spec" => named(Method, node, "name"),
            "field_declaration" => named(Field, node, "name"),
            "const_spec" if !scope.in_function => named(Constant, node, "name"),
            _ => None,
        },
        Language::Java => match kind {
            "class_declaration" | "record_declaration" => named(Class, node, "name"),
            "interface_declaration" | "annotation_type_declaration" => {
                named(Interface, node, "name")
            }
            "enum_declaration" => named(Enum, node, "name"),
            "method_declaration" => named(Method, node, "name"),
            "constructor_declaration" | "compact_constructor_declaration" => {
                named(Constructor, node, "name")
            }
            "enum_constant" => named(Variant, node, "name"),
            "field_declaration" | "constant_declaration" => {
                let declarator = field(node, "declarator")?;
                let name_node = field(declarator, "name")?;
                Some(Definition {
                    kind: if kind == "constant_declaration" {
                        Constant
                    } else {
                        Field
                    },
                    name_node,
                    name: None,
                    qualifier: None,
                    body: None,
                })
            }
            _ => None,
        },
        Language::C | Language::Cpp => c_definition(node, scope, source),
        Language::CSharp => match kind {
            "class_declaration" | "record_declaration" => named(Class, node, "name"),
            "struct_declaration" | "record_struct_declaration" => named(Struct, node, "name"),
            "interface_declaration" => named(Interface, node, "name"),
            "enum_declaration" => named(Enum, node, "name"),
            "method_declaration" | "local_function_statement" if !scope.in_function => {
                named(Method, node, "name")
            }
            "constructor_declaration" => named(Constructor, node, "name"),
            "property_declaration" => named(Property, node, "name"),
            "namespace_declaration" | "file_scoped_namespace_declaration" => {
                named(Namespace, node, "name")
            }
            "enum_member_declaration" => named(Variant, node, "name"),
            "delegate_declaration" => named(TypeAlias, node, "name"),
            "field_declaration" => {
                let declaration = first_child_of_kind(node, &["variable_declaration"])?;
                let declarator = first_child_of_kind(declaration, &["variable_declarator"])?;
                let name_node = field(declarator, "name")
                    .or_else(|| first_child_of_kind(declarator, &["identifier"]))?;
                Some(Definition {
                    kind: Field,
                    name_node,
                    name: None,
                    qualifier: None,
                    body: None,
                })
            }
            _ => None,
        },
        Language::Ruby => match kind {
            "class" => named(Class, node, "name"),
            "module" => named(Module, node, "name"),
            "method" => named(if scope.in_type { Method } else { Function }, node, "name"),
            "singleton_method" => named(Method, node, "name"),
            _ => None,
        },
        Language::Text => None,
    }
}

fn go_receiver_type(receiver: Node<'_>, source: &[u8]) -> Option<String> {
    // (s *Server) or (s Server[T]): the type identifier inside the parameter.
    let mut stack = vec![receiver];
    while let Some(node) = stack.pop() {
        if node.kind() == "type_identifier" {
            return node.utf8_text(source).ok().map(str::to_string);
        }
        let mut cursor = node.walk();
        let children: Vec<_> = node.named_children(&mut cursor).collect();
        stack.extend(children.into_iter().rev());
    }
    None
}

/// C and C++: names hide inside declarators (`int *(*f)(void)`, `Foo::bar`).
fn c_definition<'t>(node: Node<'t>, scope: Scope, source: &[u8]) -> Option<Definition<'t>> {
    use SymbolKind::*;
    match node.kind() {
        "function_definition" => {
            let (name_node, name, qualifier) = declarator_name(field(node, "declarator")?, source)?;
            Some(Definition {
                kind: if scope.in_type { Method } else { Function },
                name_node,
                name,
                qualifier,
                body: field(node, "body"),
            })
        }
        "declaration" | "field_declaration" if !scope.in_function => {
            let declarator = field(node, "declarator")?;
            let is_function = contains_function_declarator(declarator);
            let (name_node, name, qualifier) = declarator_name(declarator, source)?;
            let kind = match (is_function, node.kind(), scope.in_type) {
                (true, _, true) | (true, "field_declaration", _) => Method,
                (true, _, false) => Function,
                (false, "field_declaration", _) => Field,
                _ => return None,
            };
            Some(Definition {
                kind,
                name_node,
                name,
                qualifier,
                body: None,
            })
        }
        "struct_specifier" | "class_specifier" | "union_specifier" | "enum_specifier" => {
            let body = field(node, "body")?;
            let kind = match node.kind() {
                "struct_specifier" => Struct,
                "class_specifier" => Class,
                "union_specifier" => Union,
                _ => Enum,
            };
            let name_node = field(node, "name")?;
            let (name, qualifier) = split_qualified(name_node, source);
            Some(Definition {
                kind,
                name_node,
                name,
                qualifier,
                body: Some(body),
            })
        }
        "type_definition" => {
            let declarator = field(node, "declarator")?;
            let (name_node, name, qualifier) = declarator_name(declarator, source)?;
            Some(Definition {
                kind: TypeAlias,
                name_node,
                name,
                qualifier,
                body: None,
            })
        }
        "alias_declaration" => named(TypeAlias, node, "name"),
        "namespace_definition" => named(Namespace, node, "name"),
        "preproc_def" | "preproc_function_def" => named(Macro, node, "name"),
        "enumerator" => named(Variant, node, "name"),
        _ => None,
    }
}

fn contains_function_declarator(mut node: Node<'_>) -> bool {
    for _ in 0..16 {
        if node.kind() == "function_declarator" {
            return true;
        }
        match field(node, "declarator") {
            Some(inner) => node = inner,
            None => return false,
        }
    }
    false
}

/// The name inside a declarator chain, with its C++ qualifier when qualified.
fn declarator_name<'t>(
    mut node: Node<'t>,
    source: &[u8],
) -> Option<(Node<'t>, Option<String>, Option<String>)> {
    for _ in 0..16 {
        match node.kind() {
            "identifier" | "field_identifier" | "type_identifier" | "destructor_name"
            | "operator_name" | "primitive_type" => return Some((node, None, None)),
            "qualified_identifier" => {
                let (name, qualifier) = split_qualified(node, source);
                return Some((node, name, qualifier));
            }
            _ => {
                node = field(node, "declarator").or_else(|| {
                    let mut cursor = node.walk();
                    node.named_children(&mut cursor).find(|c| {
                        matches!(
                            c.kind(),
                            "identifier"
                                | "field_identifier"
                                | "qualified_identifier"
                                | "type_identifier"
                                | "destructor_name"
                                | "operator_name"
                        )
                    })
                })?;
            }
        }
    }
    None
}

/// `a::b::c` → name `c`, qualifier `a::b`; anything else → no override.
fn split_qualified(node: Node<'_>, source: &[u8]) -> (Option<String>, Option<String>) {
    if node.kind() != "qualified_identifier" {
        return (None, None);
    }
    let text = node.utf8_text(source).unwrap_or_default();
    let text: String = text.split_whitespace().collect();
    // Template arguments may hold `::` too; split at the last top-level one.
    let mut depth = 0i32;
    let bytes = text.as_bytes();
    let mut split = None;
    for i in 0..bytes.len() {
        match bytes[i] {
            b'<' => depth += 1,
            b'>' => depth -= 1,
            b':' if depth == 0 && i + 1 < bytes.len() && bytes[i + 1] == b':' => split = Some(i),
            _ => {}
        }
    }
    match split {
        Some(i) if i > 0 => (Some(text[i + 2..].to_string()), Some(text[..i].to_string())),
        Some(_) => (Some(text[2..].to_string()), None),
        None => (Some(text), None),
    }
}

/// Rust `impl` blocks: not symbols themselves, but their items belong to the type.
pub(super) fn impl_target(language: Language, node: Node<'_>, source: &[u8]) -> Option<String> {
    if language != Language::Rust || node.kind() != "impl_item" {
        return None;
    }
    let target = field(node, "type")?;
    let mut text = target.utf8_text(source).ok()?;
    if let Some(i) = text.find('<') {
        text = &text[..i];
    }
    Some(text.rsplit("::").next().unwrap_or(text).trim().to_string())
}

/// Nodes that wrap a definition and carry its doc comment or decorators.
pub(super) fn is_wrapper(kind: &str) -> bool {
    matches!(
        kind,
        "export_statement"
            | "decorated_definition"
            | "template_declaration"
            | "ambient_declaration"
            | "type_declaration"
            | "lexical_declaration"
            | "variable_declaration"
            | "const_declaration"
    )
}

pub(super) fn is_import(language: Language, node: Node<'_>, source: &[u8]) -> bool {
    let kind = node.kind();
    match language {
        Language::Rust => matches!(kind, "use_declaration" | "extern_crate_declaration"),
        Language::Python => matches!(
            kind,
            "import_statement" | "import_from_statement" | "future_import_statement"
        ),
        Language::JavaScript | Language::TypeScript | Language::Tsx => kind == "import_statement",
        Language::Go => kind == "import_declaration",
        Language::Java => kind == "import_declaration",
        Language::C | Language::Cpp => matches!(kind, "preproc_include" | "using_declaration"),
        Language::CSharp => kind == "using_directive",
        Language::Ruby => {
            kind == "call"
                && field(node, "method")
                    .and_then(|m| m.utf8_text(source).ok())
                    .is_some_and(|m| matches!(m, "require" | "require_relative" | "load"))
        }
        Language::Text => false,
    }
}

pub(super) fn is_identifier(kind: &str) -> bool {
    matches!(
        kind,
        "identifier"
            | "type_identifier"
            | "field_identifier"
            | "property_identifier"
            | "shorthand_property_identifier"
            | "shorthand_property_identifier_pattern"
            | "private_property_identifier"
            | "constant"
            | "namespace_identifier"
            | "package_identifier"
    )
}

pub(super) fn is_string(kind: &str) -> bool {
    matches!(
        kind,
        "string"
            | "string_literal"
            | "interpreted_string_literal"
            | "raw_string_literal"
            | "template_string"
            | "verbatim_string_literal"
    )
}

/// Literals the `redacted-source` view masks: every string above, plus literals the
/// walk reads for relations or that hold no identifier (characters, runes, regular
/// expressions, C# interpolated strings, Ruby heredocs and word arrays).
pub(super) fn is_masked_literal(kind: &str) -> bool {
    is_string(kind)
        || matches!(
            kind,
            "char_literal"
                | "character_literal"
                | "rune_literal"
                | "regex"
                | "interpolated_string_expression"
                | "heredoc_body"
                | "string_array"
                | "symbol_array"
                | "delimited_symbol"
                | "character"
                | "html_comment"
        )
}

pub(super) fn is_comment(kind: &str) -> bool {
    matches!(kind, "comment" | "line_comment" | "block_comment")
}

/// For a call node, the node naming what is called.
pub(super) fn callee<'t>(node: Node<'t>) -> Option<Node<'t>> {
    let function_field = match node.kind() {
        "call_expression" | "call" | "invocation_expression" => {
            field(node, "function").or_else(|| field(node, "method"))
        }
        "method_invocation" => field(node, "name"),
        "macro_invocation" => field(node, "macro"),
        "new_expression" => field(node, "constructor"),
        "object_creation_expression" => field(node, "type"),
        _ => None,
    }?;
    // The rightmost name of `a.b.c`, `a::b::c`, `a->b`...
    let mut current = function_field;
    for _ in 0..8 {
        if is_identifier(current.kind()) {
            return Some(current);
        }
        let next = match current.kind() {
            "field_expression" => field(current, "field"),
            "member_expression" => field(current, "property"),
            "selector_expression" => field(current, "field"),
            "attribute" => field(current, "attribute"),
            "scoped_identifier"
            | "qualified_identifier"
            | "member_access_expression"
            | "template_function"
            | "scoped_type_identifier"
            | "generic_type" => field(current, "name"),
            "generic_function" => field(current, "function"),
            _ => {
                let count = current.named_child_count();
                if count == 0 {
                    None
                } else {
                    current.named_child(count as u32 - 1)
                }
            }
        };
        current = next?;
    }
    None
}

/// Visibility where the language has it.
pub(super) fn visibility(
    language: Language,
    node: Node<'_>,
    name: &str,
    source: &[u8],
) -> Option<String> {
    let modifier = |kinds: &[&str]| -> Option<String> {
        let mut cursor = node.walk();
        let texts: Vec<&str> = node
            .children(&mut cursor)
            .filter(|c| kinds.contains(&c.kind()))
            .filter_map(|c| c.utf8_text(source).ok())
            .collect();
        texts
            .into_iter()
            .flat_map(str::split_whitespace)
            .find(|word| {
                word.starts_with("pub")
                    || matches!(*word, "public" | "private" | "protected" | "internal")
            })
            .map(str::to_string)
    };
    match language {
        Language::Rust => modifier(&["visibility_modifier"]),
        Language::Python | Language::Ruby => Some(
            if name.starts_with('_') && !(name.starts_with("__") && name.ends_with("__")) {
                "private"
            } else {
                "public"
            }
            .to_string(),
        ),
        Language::Go => Some(
            if name.starts_with(|c: char| c.is_uppercase()) {
                "exported"
            } else {
                "unexported"
            }
            .to_string(),
        ),
        Language::Java => modifier(&["modifiers"]),
        Language::CSharp => modifier(&["modifier"]),
        Language::TypeScript | Language::Tsx | Language::JavaScript => {
            if name.starts_with('#') {
                Some("private".to_string())
            } else {
                modifier(&["accessibility_modifier"])
            }
        }
        Language::C | Language::Cpp => {
            let mut cursor = node.walk();
            let is_static = node.children(&mut cursor).any(|c| {
                c.kind() == "storage_class_specifier" && c.utf8_text(source).ok() == Some("static")
            });
            is_static.then(|| "static".to_string())
        }
        Language::Text => None,
    }
}

/// Kinds whose children are a function body (locals there are not symbols).
pub(super) fn is_function_kind(kind: SymbolKind) -> bool {
    matches!(
        kind,
        SymbolKind::Function | SymbolKind::Method | SymbolKind::Constructor
    )
}

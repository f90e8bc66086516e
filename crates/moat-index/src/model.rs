//! What extraction produces for one file: symbols with their relations, imports, and
//! the identifiers used outside any symbol. Plain data; persisted inside the repository
//! graph (see `graph.rs`).

use crate::Language;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SymbolKind {
    Module,
    Namespace,
    Class,
    Struct,
    Enum,
    Union,
    Interface,
    Trait,
    Impl,
    Function,
    Method,
    Constructor,
    Field,
    Property,
    Variant,
    Constant,
    TypeAlias,
    Macro,
    /// A whole file (documents for file-level search).
    File,
}

impl SymbolKind {
    pub const ALL: &'static [SymbolKind] = &[
        SymbolKind::Module,
        SymbolKind::Namespace,
        SymbolKind::Class,
        SymbolKind::Struct,
        SymbolKind::Enum,
        SymbolKind::Union,
        SymbolKind::Interface,
        SymbolKind::Trait,
        SymbolKind::Impl,
        SymbolKind::Function,
        SymbolKind::Method,
        SymbolKind::Constructor,
        SymbolKind::Field,
        SymbolKind::Property,
        SymbolKind::Variant,
        SymbolKind::Constant,
        SymbolKind::TypeAlias,
        SymbolKind::Macro,
        SymbolKind::File,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SymbolKind::Module => "module",
            SymbolKind::Namespace => "namespace",
            SymbolKind::Class => "class",
            SymbolKind::Struct => "struct",
            SymbolKind::Enum => "enum",
            SymbolKind::Union => "union",
            SymbolKind::Interface => "interface",
            SymbolKind::Trait => "trait",
            SymbolKind::Impl => "impl",
            SymbolKind::Function => "function",
            SymbolKind::Method => "method",
            SymbolKind::Constructor => "constructor",
            SymbolKind::Field => "field",
            SymbolKind::Property => "property",
            SymbolKind::Variant => "variant",
            SymbolKind::Constant => "constant",
            SymbolKind::TypeAlias => "type",
            SymbolKind::Macro => "macro",
            SymbolKind::File => "file",
        }
    }

    pub fn from_name(name: &str) -> Option<SymbolKind> {
        SymbolKind::ALL.iter().copied().find(|k| k.as_str() == name)
    }

    /// Kinds that hold other symbols (their members).
    pub fn is_container(self) -> bool {
        matches!(
            self,
            SymbolKind::Module
                | SymbolKind::Namespace
                | SymbolKind::Class
                | SymbolKind::Struct
                | SymbolKind::Enum
                | SymbolKind::Union
                | SymbolKind::Interface
                | SymbolKind::Trait
                | SymbolKind::Impl
        )
    }

    /// A ranking prior: how likely a symbol of this kind is what a question is about.
    pub fn prior(self) -> f32 {
        match self {
            SymbolKind::Function | SymbolKind::Method | SymbolKind::Constructor => 1.0,
            SymbolKind::Class
            | SymbolKind::Struct
            | SymbolKind::Trait
            | SymbolKind::Interface
            | SymbolKind::Enum => 0.95,
            SymbolKind::Macro | SymbolKind::TypeAlias | SymbolKind::Union => 0.8,
            SymbolKind::Module | SymbolKind::Namespace | SymbolKind::Impl => 0.7,
            SymbolKind::Constant | SymbolKind::Property => 0.6,
            SymbolKind::File => 0.55,
            SymbolKind::Field | SymbolKind::Variant => 0.45,
        }
    }
}

impl std::fmt::Display for SymbolKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Distinct, sorted identifiers in one allocation. A repository's graph holds millions
/// of them; as separate `String`s they were most of a loaded graph's memory.
/// Stored newline-separated (identifiers never contain a newline).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Words(Box<str>);

impl Words {
    /// The words one a line, as stored.
    pub fn as_text(&self) -> &str {
        &self.0
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.split('\n').filter(|w| !w.is_empty())
    }

    pub fn contains(&self, word: &str) -> bool {
        self.iter().any(|w| w == word)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn join(&self, separator: &str) -> String {
        self.iter().collect::<Vec<_>>().join(separator)
    }
}

impl<S: AsRef<str>> FromIterator<S> for Words {
    /// Words in the order given; callers pass sorted, distinct identifiers.
    fn from_iter<I: IntoIterator<Item = S>>(words: I) -> Words {
        let mut joined = String::new();
        for word in words {
            let word = word.as_ref();
            if word.is_empty() || word.contains('\n') {
                continue;
            }
            if !joined.is_empty() {
                joined.push('\n');
            }
            joined.push_str(word);
        }
        Words(joined.into_boxed_str())
    }
}

impl std::fmt::Debug for Words {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// One definition in a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Symbol {
    pub name: String,
    /// Container path within the file, e.g. `Router::route` or `Flask.route`.
    pub qualified_name: String,
    pub kind: SymbolKind,
    /// The declaration up to its body or value, never either: whitespace collapsed,
    /// comments dropped, parameter defaults shown as `…` (see `extract/signature.rs`).
    pub signature: String,
    /// The language's doc comment or docstring, markers stripped; never an ordinary
    /// comment (see `extract/doc.rs`). Empty when there is none.
    pub doc: String,
    /// `pub`, `public`, `private`, `exported`... where the language has it.
    pub visibility: Option<String>,
    /// 1-based, inclusive.
    pub start_line: u32,
    pub end_line: u32,
    /// Index of the enclosing symbol in the same file.
    pub parent: Option<u32>,
    /// Distinct identifiers used in the body (not in nested symbols), sorted.
    pub references: Words,
    /// Distinct names called from the body (not from nested symbols), sorted.
    pub calls: Words,
    /// Words of the comments and string literals in the body: indexed for recall,
    /// never stored.
    #[serde(skip)]
    pub words: String,
    /// Indexed for the source tier only, never stored: the declaration as the source
    /// tier has always ranked it (values included), when it differs from `signature`.
    #[serde(skip)]
    pub source_signature: Option<String>,
    /// Indexed for the source tier only, never stored: every comment right before the
    /// definition, when that differs from `doc`.
    #[serde(skip)]
    pub source_doc: Option<String>,
    /// Indexed, never stored: the `references` a masked view shows, one a line, when
    /// some appear only inside literals it hides (C# interpolated strings, heredocs).
    #[serde(skip)]
    pub code_references: Option<String>,
}

impl Symbol {
    /// The doc's first sentence or line.
    pub fn summary(&self) -> &str {
        summary_of(&self.doc)
    }
}

pub fn summary_of(doc: &str) -> &str {
    let first_paragraph = doc.split("\n\n").next().unwrap_or("").trim();
    let mut end = first_paragraph.len();
    if let Some(i) = first_paragraph.find(". ") {
        end = end.min(i + 1);
    }
    if let Some(i) = first_paragraph.find('\n') {
        // A line break ends the summary only if the line ends a sentence.
        if first_paragraph[..i]
            .trim_end()
            .ends_with(['.', ':', '!', '?'])
        {
            end = end.min(i);
        }
    }
    let summary = first_paragraph[..end].trim();
    if summary.len() > 200 {
        let mut cut = 200;
        while !summary.is_char_boundary(cut) {
            cut -= 1;
        }
        &summary[..cut]
    } else {
        summary
    }
}

/// Everything extracted from one file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ParsedFile {
    pub symbols: Vec<Symbol>,
    /// Import, use, include and require statements, whitespace collapsed.
    pub imports: Vec<String>,
    /// The file's own doc comment (module docstring, `//!` lines, package doc...);
    /// never an ordinary comment.
    pub doc: String,
    /// Distinct identifiers used outside every symbol, sorted.
    pub references: Words,
    /// Nodes tree-sitter could not parse (the file is still indexed).
    pub syntax_errors: u32,
    /// Comment and string words outside every symbol: indexed, never stored.
    #[serde(skip)]
    pub words: String,
    /// Indexed for the source tier only, never stored: the leading comments the source
    /// tier has always ranked as the file's doc, when they differ from `doc`.
    #[serde(skip)]
    pub source_doc: Option<String>,
    /// Indexed, never stored: as [`Symbol::code_references`], for `references`.
    #[serde(skip)]
    pub code_references: Option<String>,
}

impl ParsedFile {
    /// Drops the text that is indexed but never stored, once the documents are built.
    pub fn forget_indexed_text(&mut self) {
        self.words = String::new();
        self.source_doc = None;
        self.code_references = None;
        for symbol in &mut self.symbols {
            symbol.words = String::new();
            symbol.source_signature = None;
            symbol.source_doc = None;
            symbol.code_references = None;
        }
    }
}

/// Why a file is not parsed for symbols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SkipReason {
    Binary,
    Oversized,
    Vendored,
    Generated,
    Excluded,
    NotUtf8,
    Unreadable,
    /// Symlinks and submodules: not file content.
    NotAFile,
    /// Parsing took longer than the per-file limit.
    ParseTimeout,
    /// Not source or text Moat reads (images, archives, lock files...).
    Unsupported,
}

impl SkipReason {
    pub const ALL: &'static [SkipReason] = &[
        SkipReason::Binary,
        SkipReason::Oversized,
        SkipReason::Vendored,
        SkipReason::Generated,
        SkipReason::Excluded,
        SkipReason::NotUtf8,
        SkipReason::Unreadable,
        SkipReason::NotAFile,
        SkipReason::ParseTimeout,
        SkipReason::Unsupported,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Binary => "binary",
            SkipReason::Oversized => "oversized",
            SkipReason::Vendored => "vendored",
            SkipReason::Generated => "generated",
            SkipReason::Excluded => "excluded",
            SkipReason::NotUtf8 => "not-utf8",
            SkipReason::Unreadable => "unreadable",
            SkipReason::NotAFile => "not-a-file",
            SkipReason::ParseTimeout => "parse-timeout",
            SkipReason::Unsupported => "unsupported",
        }
    }
}

/// Ties a language to a parsed file for callers that do not keep both.
#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    pub language: Language,
    pub file: ParsedFile,
}

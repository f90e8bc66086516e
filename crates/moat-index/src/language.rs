//! Which language a path is, and the tree-sitter grammar that parses it.

use serde::{Deserialize, Serialize};

/// A language Moat extracts symbols from; every other text file is `Text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Language {
    Rust,
    Python,
    JavaScript,
    TypeScript,
    Tsx,
    Go,
    Java,
    C,
    Cpp,
    CSharp,
    Ruby,
    /// Indexed by path and identifiers only.
    Text,
}

impl Language {
    pub const PARSED: &'static [Language] = &[
        Language::Rust,
        Language::Python,
        Language::JavaScript,
        Language::TypeScript,
        Language::Tsx,
        Language::Go,
        Language::Java,
        Language::C,
        Language::Cpp,
        Language::CSharp,
        Language::Ruby,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::JavaScript => "javascript",
            Language::TypeScript => "typescript",
            Language::Tsx => "tsx",
            Language::Go => "go",
            Language::Java => "java",
            Language::C => "c",
            Language::Cpp => "cpp",
            Language::CSharp => "csharp",
            Language::Ruby => "ruby",
            Language::Text => "text",
        }
    }

    pub fn from_name(name: &str) -> Option<Language> {
        let lower = name.to_ascii_lowercase();
        let alias = match lower.as_str() {
            "rs" => "rust",
            "py" => "python",
            "js" => "javascript",
            "ts" => "typescript",
            "c++" | "cc" => "cpp",
            "c#" | "cs" => "csharp",
            "rb" => "ruby",
            other => other,
        };
        Language::PARSED
            .iter()
            .chain([&Language::Text])
            .copied()
            .find(|l| l.as_str() == alias)
    }

    /// The language of a path by its extension (or name), `None` for files that are not
    /// worth indexing as text either (images, archives, lock files...).
    pub fn detect(path: &str) -> Option<Language> {
        let file = path.rsplit('/').next().unwrap_or(path);
        let extension = file.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
        let language = match extension.as_deref() {
            Some("rs") => Language::Rust,
            Some("py" | "pyi") => Language::Python,
            Some("js" | "mjs" | "cjs" | "jsx") => Language::JavaScript,
            Some("ts" | "mts" | "cts") => Language::TypeScript,
            Some("tsx") => Language::Tsx,
            Some("go") => Language::Go,
            Some("java") => Language::Java,
            Some("c" | "h") => Language::C,
            Some("cc" | "cpp" | "cxx" | "hpp" | "hh" | "hxx" | "ipp" | "inl") => Language::Cpp,
            Some("cs") => Language::CSharp,
            Some("rb" | "rake" | "gemspec") => Language::Ruby,
            Some(
                "md" | "markdown" | "rst" | "txt" | "toml" | "yaml" | "yml" | "json" | "xml"
                | "html" | "css" | "scss" | "sql" | "sh" | "bash" | "proto" | "graphql" | "gql"
                | "ini" | "cfg" | "conf" | "gradle" | "kt" | "kts" | "swift" | "scala" | "php"
                | "lua" | "pl" | "r" | "ex" | "exs" | "erl" | "hs" | "ml" | "tf" | "hcl" | "vue"
                | "svelte",
            ) => Language::Text,
            None if matches!(file, "Makefile" | "Dockerfile" | "Rakefile" | "Gemfile") => {
                if file == "Rakefile" || file == "Gemfile" {
                    Language::Ruby
                } else {
                    Language::Text
                }
            }
            _ => return None,
        };
        Some(language)
    }

    pub(crate) fn grammar(self) -> Option<tree_sitter::Language> {
        Some(match self {
            Language::Rust => tree_sitter_rust::LANGUAGE.into(),
            Language::Python => tree_sitter_python::LANGUAGE.into(),
            Language::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Language::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Language::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Language::Go => tree_sitter_go::LANGUAGE.into(),
            Language::Java => tree_sitter_java::LANGUAGE.into(),
            Language::C => tree_sitter_c::LANGUAGE.into(),
            Language::Cpp => tree_sitter_cpp::LANGUAGE.into(),
            Language::CSharp => tree_sitter_c_sharp::LANGUAGE.into(),
            Language::Ruby => tree_sitter_ruby::LANGUAGE.into(),
            Language::Text => return None,
        })
    }

    /// Separator between the parts of a qualified name.
    pub(crate) fn path_separator(self) -> &'static str {
        match self {
            Language::Rust | Language::Cpp | Language::Ruby => "::",
            _ => ".",
        }
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

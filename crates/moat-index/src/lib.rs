//! The semantic code index: what AI tools get instead of pasted code.
//!
//! A connected repository is read straight from git objects at a commit (`git.rs`, no
//! working checkout); each file is scrubbed of secrets (moat-dlp) and parsed with
//! tree-sitter into symbols, docs, imports and references (`extract/`); references
//! are resolved by name with scope heuristics and ranked by PageRank (`graph.rs`); and
//! symbols go into a tantivy index with code-aware tokenisation (`search.rs`).
//!
//! **Raw source is never stored.** Bodies are tokenised for recall, but text shown to
//! anyone is read from git at the indexed commit, by the caller, when a tier allows it.
//! **Derived data only:** everything under the index directory can be rebuilt from git;
//! a format version is checked at open and an older index is rebuilt, never misread.
//!
//! This crate knows nothing of users, tiers, HTTP or the store.

mod extract;
mod language;
mod model;
mod tokenize;

pub use extract::{ExtractError, Extractor, mask_literals_and_comments};
pub use language::Language;
pub use model::{Extracted, ParsedFile, SkipReason, Symbol, SymbolKind, Words, summary_of};
pub use tokenize::{CodeTokenizer, for_each_token};

mod build;
pub mod code_rules;
mod error;
pub mod fingerprint;
pub mod git;
pub mod graph;
mod index;
mod prior;
mod queries;
mod query;
pub mod runs;
mod search;
mod search_stats;

pub use build::{IndexOptions, IndexReport, NoProgress, Progress, RepoSpec};
pub use error::IndexError;
pub use graph::{FileEntry, FindingRecord, Overview, RepoGraph};
pub use index::{CodeIndex, Hit, INDEX_FORMAT, IndexSettings, outline};
pub use queries::{MAX_RELATED, SymbolRef};
pub use query::{MAX_NAMED, Part, PartKind, Understanding, understand};
pub use search::{MAX_TERMS, Ranking, SearchQuery, SearchRepo, Shown};

/// Bumped when extraction changes what it produces, so indexed repositories are
/// re-parsed rather than left with symbols of the old rules.
pub const EXTRACTOR_VERSION: u32 = 4;

/// The tree-sitter grammar of a language, for benchmarks that time parsing alone.
#[doc(hidden)]
pub fn grammar_for_bench(language: Language) -> Option<tree_sitter::Language> {
    language.grammar()
}

//! The tools' arguments: their input schemas (from `schemars`) and what each field
//! means, written for a model.

use rmcp::schemars;
use serde::Deserialize;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SearchArgs {
    /// A question in plain words ("where are webhook signatures checked?") or an identifier.
    pub query: String,
    /// Only this repository (see list_repositories).
    #[serde(default)]
    #[schemars(with = "String")]
    pub repo: Option<String>,
    /// Only this language: rust, python, javascript, typescript, tsx, go, java, c, cpp, csharp, ruby.
    #[serde(default)]
    #[schemars(with = "String")]
    pub language: Option<String>,
    /// Only this kind: function, method, class, struct, trait, interface, enum, module, constant, type, file.
    #[serde(default)]
    #[schemars(with = "String")]
    pub kind: Option<String>,
    /// How many results (1-50, default 10).
    #[serde(default)]
    #[schemars(with = "u32")]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SymbolArgs {
    /// A symbol name (`post`) or qualified name (`Ledger::post`).
    pub name: String,
    /// Only this repository.
    #[serde(default)]
    #[schemars(with = "String")]
    pub repo: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct OutlineArgs {
    pub repo: String,
    /// A path inside the repository, as search results give it.
    pub path: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ReferencesArgs {
    /// The name whose use sites to find.
    pub symbol: String,
    #[serde(default)]
    #[schemars(with = "String")]
    pub repo: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct RepoArgs {
    pub repo: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ReadArgs {
    pub repo: String,
    pub path: String,
    /// First line, 1-based (default 1).
    #[serde(default)]
    #[schemars(with = "u32")]
    pub start: Option<u32>,
    /// Last line, inclusive (default start + 199; at most 400 lines).
    #[serde(default)]
    #[schemars(with = "u32")]
    pub end: Option<u32>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct NoArgs {}

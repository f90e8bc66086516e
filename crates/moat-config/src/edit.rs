//! Changes to configuration text that keep its comments and layout (`toml_edit`), for
//! the use cases that change the configuration on a person's behalf (`moat repo
//! add|remove|classify`, the console's reclassification). Each returns the new text only
//! if it still parses and validates.

use crate::{Config, ConfigError, parse};
use moat_domain::Tier;

/// The text with repository `repo`'s `tier` set, and the configuration it makes.
pub fn set_repo_tier(
    text: &str,
    file: &str,
    repo: &str,
    tier: Tier,
) -> Result<(String, Config), EditError> {
    let mut document = parse_document(text)?;
    let table = document
        .get_mut("repos")
        .and_then(|r| r.as_array_of_tables_mut())
        .and_then(|repos| {
            repos
                .iter_mut()
                .find(|t| t.get("name").and_then(|n| n.as_str()) == Some(repo))
        })
        .ok_or_else(|| EditError::NoSuchRepo(repo.to_string()))?;
    table.insert("tier", toml_edit::value(tier.as_str()));
    finish(document, file)
}

/// A repository to connect (`moat repo add`).
#[derive(Debug, Clone, Default)]
pub struct NewRepo {
    pub name: String,
    pub source: String,
    pub tier: Option<Tier>,
    pub branch: Option<String>,
    pub pinned_ref: Option<String>,
    pub tags: Vec<String>,
    pub exclude: Vec<String>,
}

fn parse_document(text: &str) -> Result<toml_edit::DocumentMut, EditError> {
    text.parse()
        .map_err(|e: toml_edit::TomlError| EditError::Syntax(e.message().to_string()))
}

fn finish(document: toml_edit::DocumentMut, file: &str) -> Result<(String, Config), EditError> {
    let text = document.to_string();
    let config = parse(&text, file).map_err(EditError::Invalid)?;
    Ok((text, config))
}

/// The text with a `[[repos]]` entry for `repo` appended.
pub fn add_repo(text: &str, file: &str, repo: &NewRepo) -> Result<(String, Config), EditError> {
    let mut document = parse_document(text)?;
    let strings = |values: &[String]| {
        values
            .iter()
            .map(String::as_str)
            .collect::<toml_edit::Array>()
    };
    let mut table = toml_edit::Table::new();
    table.insert("name", toml_edit::value(repo.name.as_str()));
    table.insert("source", toml_edit::value(repo.source.as_str()));
    if let Some(branch) = &repo.branch {
        table.insert("branch", toml_edit::value(branch.as_str()));
    }
    if let Some(pinned) = &repo.pinned_ref {
        table.insert("ref", toml_edit::value(pinned.as_str()));
    }
    if let Some(tier) = repo.tier {
        table.insert("tier", toml_edit::value(tier.as_str()));
    }
    if !repo.tags.is_empty() {
        table.insert("tags", toml_edit::value(strings(&repo.tags)));
    }
    if !repo.exclude.is_empty() {
        table.insert("exclude", toml_edit::value(strings(&repo.exclude)));
    }
    let repos = document
        .entry("repos")
        .or_insert(toml_edit::Item::ArrayOfTables(Default::default()));
    let Some(array) = repos.as_array_of_tables_mut() else {
        return Err(EditError::Syntax(
            "`repos` in the configuration is not an array of tables ([[repos]])".into(),
        ));
    };
    array.push(table);
    finish(document, file)
}

/// The text without repository `repo`'s entry.
pub fn remove_repo(text: &str, file: &str, repo: &str) -> Result<(String, Config), EditError> {
    let mut document = parse_document(text)?;
    let array = document
        .get_mut("repos")
        .and_then(|r| r.as_array_of_tables_mut())
        .filter(|array| {
            array
                .iter()
                .any(|t| t.get("name").and_then(|n| n.as_str()) == Some(repo))
        })
        .ok_or_else(|| EditError::NoSuchRepo(repo.to_string()))?;
    array.retain(|t| t.get("name").and_then(|n| n.as_str()) != Some(repo));
    finish(document, file)
}

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("the configuration is not valid TOML: {0}")]
    Syntax(String),
    #[error("no repository named `{0}` in the configuration")]
    NoSuchRepo(String),
    #[error("the change would make the configuration invalid: {0}")]
    Invalid(ConfigError),
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[org]\nname = \"Example\"\n\n# the org's repositories\n[[repos]]\nname = \"payments\" # money\nsource = \"/srv/payments\"\ntier = \"internal\"\n\n[[repos]]\nname = \"web\"\nsource = \"/srv/web\"\ntier = \"public\"\n";

    #[test]
    fn sets_one_repository_tier_and_keeps_the_rest_of_the_text() {
        let (text, config) = set_repo_tier(TEXT, "t", "payments", Tier::Restricted).unwrap();
        assert!(text.contains("name = \"payments\" # money"), "{text}");
        assert!(
            text.contains("\n# the org's repositories\n[[repos]]"),
            "{text}"
        );
        let tiers: Vec<_> = config
            .repos
            .iter()
            .map(|r| (r.name.as_str(), r.tier))
            .collect();
        assert_eq!(
            tiers,
            [("payments", Tier::Restricted), ("web", Tier::Public)]
        );
    }

    #[test]
    fn repositories_are_added_and_removed_keeping_the_rest() {
        let new = NewRepo {
            name: "claims".into(),
            source: "/srv/claims".into(),
            tier: Some(Tier::Confidential),
            tags: vec!["phi".into()],
            ..NewRepo::default()
        };
        let (text, config) = add_repo(TEXT, "t", &new).unwrap();
        assert!(text.contains("name = \"payments\" # money"), "{text}");
        assert_eq!(config.repos.len(), 3);
        let (text, config) = remove_repo(&text, "t", "payments").unwrap();
        assert!(!text.contains("payments"), "{text}");
        let names: Vec<_> = config.repos.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["web", "claims"]);
        assert!(matches!(
            remove_repo(&text, "t", "payments"),
            Err(EditError::NoSuchRepo(_))
        ));
        // A change that makes the file invalid is refused, not returned.
        let bad = NewRepo {
            name: "web".into(),
            source: "/srv/web".into(),
            ..NewRepo::default()
        };
        assert!(matches!(
            add_repo(&text, "t", &bad),
            Err(EditError::Invalid(_))
        ));
    }

    #[test]
    fn an_unknown_repository_is_refused() {
        assert!(matches!(
            set_repo_tier(TEXT, "t", "nope", Tier::Public),
            Err(EditError::NoSuchRepo(name)) if name == "nope"
        ));
    }
}

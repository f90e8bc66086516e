//! Changes to configuration text that keep its comments and layout (`toml_edit`), for
//! the use cases that change the configuration on a person's behalf (the console's
//! reclassification). Each returns the new text only if it still parses and validates.

use crate::{Config, ConfigError, parse};
use moat_domain::Tier;

/// The text with repository `repo`'s `tier` set, and the configuration it makes.
pub fn set_repo_tier(
    text: &str,
    file: &str,
    repo: &str,
    tier: Tier,
) -> Result<(String, Config), EditError> {
    let mut document: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| EditError::Syntax(e.message().to_string()))?;
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
    let text = document.to_string();
    let config = parse(&text, file).map_err(EditError::Invalid)?;
    Ok((text, config))
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
    fn an_unknown_repository_is_refused() {
        assert!(matches!(
            set_repo_tier(TEXT, "t", "nope", Tier::Public),
            Err(EditError::NoSuchRepo(name)) if name == "nope"
        ));
    }
}

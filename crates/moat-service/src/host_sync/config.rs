//! Which repositories the mirror syncs, from the configuration: each repository whose
//! permissions come from GitHub or GitLab, its path there and the token to read it.
//! Secrets are resolved by the caller (`HostTokens`), as configuration references are.

use super::{HostKind, HostRepo};
use moat_config::{Config, PermissionSource as Source};

/// The hosts' API tokens, resolved from `[permissions.github]` and `[permissions.gitlab]`.
#[derive(Debug, Clone, Default)]
pub struct HostTokens {
    pub github: Option<String>,
    pub gitlab: Option<String>,
}

/// The mirrored repositories of `config`; an error (said as the fix) when a repository
/// names a host whose section or token is missing, or a GitLab path cannot be told.
pub fn repos_from_config(config: &Config, tokens: &HostTokens) -> Result<Vec<HostRepo>, String> {
    let permissions = &config.permissions;
    let mut out = Vec::new();
    for repo in &config.repos {
        let (kind, api_url, token) = match repo.permissions {
            Source::Static => continue,
            Source::Github => {
                let github = permissions.github.as_ref().ok_or_else(|| {
                    format!(
                        "repository `{}` uses GitHub permissions but [permissions.github] is missing",
                        repo.name
                    )
                })?;
                let token = tokens
                    .github
                    .clone()
                    .ok_or("[permissions.github] needs token_env or token_file")?;
                (HostKind::Github, github.api_url.clone(), token)
            }
            Source::Gitlab => {
                let gitlab = permissions.gitlab.as_ref().ok_or_else(|| {
                    format!(
                        "repository `{}` uses GitLab permissions but [permissions.gitlab] is missing",
                        repo.name
                    )
                })?;
                let token = tokens
                    .gitlab
                    .clone()
                    .ok_or("[permissions.gitlab] needs token_env or token_file")?;
                (HostKind::Gitlab, gitlab.api_url.clone(), token)
            }
        };
        let path = match (&repo.host_path, &kind) {
            (Some(path), _) => path.clone(),
            (None, HostKind::Github) => format!(
                "{}/{}",
                permissions
                    .github
                    .as_ref()
                    .map(|g| g.org.as_str())
                    .unwrap_or_default(),
                repo.name
            ),
            (None, HostKind::Gitlab) => path_of_url(&repo.source).ok_or_else(|| {
                format!(
                    "repository `{}`: set host_path to its GitLab project path",
                    repo.name
                )
            })?,
        };
        out.push(HostRepo {
            repo: repo.name.clone(),
            kind,
            path,
            api_url,
            token,
        });
    }
    Ok(out)
}

/// `https://gitlab.example.com/group/project.git` → `group/project`.
fn path_of_url(url: &str) -> Option<String> {
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .or_else(|| url.split_once(':').map(|(_, r)| r))?;
    let path = rest.split_once('/').map(|(_, p)| p).unwrap_or(rest);
    let path = path.trim_end_matches(".git").trim_matches('/');
    (!path.is_empty()).then(|| path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_missing_hosts_are_told_from_the_configuration() {
        let config = moat_config::parse(
            "[org]\nname = \"x\"\n\n[permissions.github]\norg = \"acme\"\ntoken_env = \"GH\"\n\n\
             [permissions.gitlab]\ntoken_env = \"GL\"\n\n\
             [[repos]]\nname = \"web\"\nsource = \"/srv/web\"\npermissions = \"github\"\n\n\
             [[repos]]\nname = \"ledger\"\nsource = \"https://gitlab.example.com/fin/ledger.git\"\npermissions = \"gitlab\"\n",
            "moat.toml",
        )
        .unwrap();
        let tokens = HostTokens {
            github: Some("gh".into()),
            gitlab: Some("gl".into()),
        };
        let repos = repos_from_config(&config, &tokens).unwrap();
        let paths: Vec<&str> = repos.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["acme/web", "fin/ledger"]);
        let refused = repos_from_config(&config, &HostTokens::default()).unwrap_err();
        assert!(
            refused.contains("needs token_env or token_file"),
            "{refused}"
        );
    }
}

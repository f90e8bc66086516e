//! The authorisation service's settings as `moat.toml` states them: repositories with
//! their tier, disclosure, tags, region and permission source; static grants; the
//! training rule; staleness bounds and login tables per host. One mapping, for the
//! service that decides and for whatever describes it.

use moat_config::Config;

/// `config`'s access settings, with the organisation's Cedar policies (`None` without).
pub fn from_config(config: &Config, custom_policies: Option<String>) -> crate::AccessSettings {
    use moat_config::PermissionSource as Source;
    let training = &config.training;
    crate::AccessSettings {
        repos: config
            .repos
            .iter()
            .map(|r| moat_policy::OrgRepo {
                name: r.name.clone(),
                tier: r.tier,
                disclosure: r
                    .disclosure
                    .unwrap_or_else(|| config.tiers.effective(r.tier).mcp),
                tags: r.tags.clone(),
                region: r.region.clone(),
                // Mirrored repositories start stale with no readers: the service fills both
                // from the permission mirror on every call, and a stale mirror fails closed.
                source: match r.permissions {
                    Source::Static => moat_policy::PermissionSource::Static,
                    Source::Github => moat_policy::PermissionSource::Mirrored {
                        host: "github".into(),
                        fresh: false,
                    },
                    Source::Gitlab => moat_policy::PermissionSource::Mirrored {
                        host: "gitlab".into(),
                        fresh: false,
                    },
                },
                host_readers: Vec::new(),
            })
            .collect(),
        grants: config
            .permissions
            .static_grants
            .iter()
            .flat_map(|s| s.grants.iter())
            .map(|g| moat_policy::OrgGrant {
                repos: g.repos.clone(),
                teams: g.teams.clone(),
                users: g.users.clone(),
            })
            .collect(),
        training: crate::TrainingRule {
            required: training.required,
            current_version: training.current_version.clone(),
            renewal_seconds: training.renewal.seconds,
        },
        custom_policies,
        max_staleness: {
            let permissions = &config.permissions;
            let mut bounds = std::collections::HashMap::new();
            if let Some(github) = &permissions.github {
                bounds.insert("github".to_string(), github.max_staleness.seconds);
            }
            if let Some(gitlab) = &permissions.gitlab {
                bounds.insert("gitlab".to_string(), gitlab.max_staleness.seconds);
            }
            bounds
        },
        logins: {
            let permissions = &config.permissions;
            let table = |users: &std::collections::BTreeMap<String, String>| {
                users
                    .iter()
                    .map(|(login, email)| (login.to_lowercase(), email.clone()))
                    .collect()
            };
            let mut logins = std::collections::HashMap::new();
            if let Some(github) = &permissions.github {
                logins.insert("github".to_string(), table(&github.users));
            }
            if let Some(gitlab) = &permissions.gitlab {
                logins.insert("gitlab".to_string(), table(&gitlab.users));
            }
            logins
        },
    }
}

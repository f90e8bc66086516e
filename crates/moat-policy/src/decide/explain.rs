//! Words for a denial: the rule that forbade it, or what no rule permitted, said so a
//! person can act on it.

use super::*;

impl Authorizer {
    /// Words for a denial: the forbidding rule, or what no rule permitted.
    pub(super) fn explain_denial(
        &self,
        user: &OrgUser,
        action: Action,
        repo: Option<&OrgRepo>,
        rules: &[String],
    ) -> String {
        if let Some(rule) = rules.first() {
            return match rule.as_str() {
                "active-users-only" => format!(
                    "{} is {}; an administrator can restore access with `moat user reactivate {}`",
                    user.email, user.status, user.email
                ),
                "training-current" => format!(
                    "{} has no current security-training attestation; complete the training, then an administrator records it with `moat user attest {}`",
                    user.email, user.email
                ),
                "permission-mirror-fresh" => {
                    let host = match repo.map(|r| &r.source) {
                        Some(PermissionSource::Mirrored { host, .. }) => host.as_str(),
                        _ => "the repository host",
                    };
                    format!(
                        "the {host} permissions of `{}` are not synced within the staleness bound, so access fails closed; check the sync (token, rate limit) and run it again",
                        repo.map_or("", |r| r.name.as_str())
                    )
                }
                "source-needs-source-tier" => format!(
                    "`{}` is {} and shows only {}; raw source is not available at this tier",
                    repo.map_or("", |r| r.name.as_str()),
                    repo.map_or(Tier::Restricted, |r| r.tier),
                    repo.map_or(Disclosure::Structure, |r| r.disclosure)
                ),
                switch if switch.starts_with(KILL_SWITCH_PREFIX) => {
                    let name = repo.map_or("", |r| r.name.as_str());
                    let reason = self
                        .switched_off(SwitchKind::Repo, name)
                        .map_or("", |s| s.reason.as_str());
                    format!(
                        "`{name}` is frozen by a kill switch ({reason}); nothing of it is answered or sent to a model until the security team releases it with `moat kill-switch release repo {name}`"
                    )
                }
                custom if !self.base_ids.contains(custom) => {
                    format!("denied by the organisation's policy `{custom}`")
                }
                other => format!("denied by policy `{other}`"),
            };
        }
        if user.status != UserStatus::Active {
            return format!("{} is {}", user.email, user.status);
        }
        match (action, repo) {
            (Action::QueryContext | Action::ReadSource, Some(repo)) => {
                if !user.roles.contains(&Role::Developer) {
                    return format!(
                        "{} has no developer role, which code context needs; an administrator can add it",
                        user.email
                    );
                }
                let teams_granted: Vec<&String> = user
                    .teams
                    .iter()
                    .filter(|t| {
                        self.team_repos
                            .get(*t)
                            .is_some_and(|repos| repos.contains(&repo.name))
                    })
                    .collect();
                if !teams_granted.is_empty() {
                    return "no policy permitted it".to_string();
                }
                match &repo.source {
                    PermissionSource::Static => format!(
                        "no grant in [permissions.static] gives {} or their teams ({}) access to `{}`; add one to moat.toml",
                        user.email,
                        if user.teams.is_empty() {
                            "none".to_string()
                        } else {
                            user.teams.join(", ")
                        },
                        repo.name
                    ),
                    PermissionSource::Mirrored { host, .. } => format!(
                        "{host} does not list {} as a reader of `{}`; access follows the repository host",
                        user.email, repo.name
                    ),
                }
            }
            (Action::Administer, None) => format!("{} has no admin role", user.email),
            (Action::ReviewException, None) => {
                format!(
                    "{} has no security role, which reviews exceptions",
                    user.email
                )
            }
            (Action::Contain, None) => format!(
                "{} has neither the security nor the admin role, which kill switches need",
                user.email
            ),
            (Action::ViewAudit | Action::ExportEvidence, None) => format!(
                "{} has none of the roles security, auditor or admin",
                user.email
            ),
            (Action::SendToModel, _) => format!("{} has no developer role", user.email),
            _ => "no policy permitted it".to_string(),
        }
    }
}

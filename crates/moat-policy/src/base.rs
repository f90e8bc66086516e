//! The base policies Moat generates from configuration. Ids are stable: decisions and
//! audit events name them, and `moat access explain` prints them.

/// `(id, text)` of every base policy in force for these settings.
pub(crate) fn policies(training_required: bool) -> Vec<(&'static str, String)> {
    let mut out = vec![
        (
            "repo-readers",
            r#"permit(
  principal,
  action in [Moat::Action::"QueryContext", Moat::Action::"ReadSource"],
  resource is Moat::Repository
) when {
  (resource.readers.contains(principal.email) || principal in resource.reader_teams) &&
  principal.roles.contains("developer")
};"#
                .to_string(),
        ),
        (
            "active-users-only",
            r#"forbid(principal, action, resource) unless { principal.active };"#.to_string(),
        ),
        (
            "permission-mirror-fresh",
            r#"forbid(
  principal,
  action in [Moat::Action::"QueryContext", Moat::Action::"ReadSource", Moat::Action::"SendToModel"],
  resource is Moat::Repository
) unless { resource.permissions_fresh };"#
                .to_string(),
        ),
        (
            "source-needs-source-tier",
            r#"forbid(principal, action == Moat::Action::"ReadSource", resource is Moat::Repository)
when { resource.disclosure_level > 1 };"#
                .to_string(),
        ),
        (
            "developers-use-models",
            r#"permit(principal, action == Moat::Action::"SendToModel", resource is Moat::Org)
when { principal.roles.contains("developer") };"#
                .to_string(),
        ),
        (
            "admins-administer",
            r#"permit(principal, action == Moat::Action::"Administer", resource is Moat::Org)
when { principal.roles.contains("admin") };"#
                .to_string(),
        ),
        (
            "audit-roles",
            r#"permit(
  principal,
  action in [Moat::Action::"ViewAudit", Moat::Action::"ExportEvidence"],
  resource is Moat::Org
) when {
  principal.roles.contains("security") ||
  principal.roles.contains("auditor") ||
  principal.roles.contains("admin")
};"#
            .to_string(),
        ),
        (
            "security-and-admins-contain",
            r#"permit(principal, action == Moat::Action::"Contain", resource is Moat::Org)
when { principal.roles.contains("security") || principal.roles.contains("admin") };"#
                .to_string(),
        ),
        (
            "security-reviews-exceptions",
            r#"permit(principal, action == Moat::Action::"ReviewException", resource is Moat::Org)
when { principal.roles.contains("security") };"#
                .to_string(),
        ),
    ];
    if training_required {
        out.push((
            "training-current",
            r#"forbid(
  principal,
  action in [Moat::Action::"QueryContext", Moat::Action::"ReadSource", Moat::Action::"SendToModel"],
  resource
) unless { principal.training_current };"#
                .to_string(),
        ));
    }
    out
}

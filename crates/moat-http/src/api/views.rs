//! JSON shapes of the admin API, also used by the CLI's `--json` output so both speak
//! the same fields (SPEC.md "Machine-readable shapes").

use moat_domain::{Role, Scope, Token, User};
use moat_service::Principal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TrainingView {
    pub version: String,
    /// RFC 3339.
    pub completed_at: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: String,
    /// `active`, `suspended` or `deprovisioned`.
    pub status: String,
    /// `admin`, `security`, `auditor`, `developer`.
    pub roles: Vec<String>,
    pub teams: Vec<String>,
    pub training: Option<TrainingView>,
    pub created_at: String,
}

impl From<&User> for UserView {
    fn from(user: &User) -> UserView {
        UserView {
            id: user.id.0.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            status: user.status.to_string(),
            roles: user.roles.iter().map(|r| r.to_string()).collect(),
            teams: user.teams.clone(),
            training: user.training.as_ref().map(|t| TrainingView {
                version: t.version.clone(),
                completed_at: t.completed_at.to_rfc3339(),
            }),
            created_at: user.created_at.to_rfc3339(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserView>,
}

/// A token as listed: never its secret or hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    pub replaced_by: Option<String>,
    /// For a token issued by OAuth: the grant it belongs to (`moat`'s consent record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_grant: Option<String>,
    /// For a token issued by OAuth: the one resource it is for (`mcp` or `gateway`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
}

impl From<&Token> for TokenView {
    fn from(token: &Token) -> TokenView {
        TokenView {
            id: token.id.0.clone(),
            user_id: token.user_id.0.clone(),
            name: token.name.clone(),
            scopes: token.scopes.iter().map(|s| s.to_string()).collect(),
            created_at: token.created_at.to_rfc3339(),
            expires_at: token.expires_at.map(|t| t.to_rfc3339()),
            last_used_at: token.last_used_at.map(|t| t.to_rfc3339()),
            revoked_at: token.revoked_at.map(|t| t.to_rfc3339()),
            replaced_by: token.replaced_by.as_ref().map(|t| t.0.clone()),
            oauth_grant: token.oauth.as_ref().map(|o| o.grant.clone()),
            audience: token.oauth.as_ref().map(|o| o.audience.to_string()),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenView>,
    /// OAuth grants: a person's consent to a tool, under which its tokens were issued.
    #[serde(default)]
    pub grants: Vec<GrantView>,
}

/// An OAuth grant, as `moat token list` and `/api/v1/tokens` show it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GrantView {
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub client_name: String,
    pub scopes: Vec<String>,
    /// The one resource its tokens are for: `mcp` or `gateway`.
    pub audience: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
    pub revoked_reason: Option<String>,
}

impl From<&moat_service::oauth::OAuthGrant> for GrantView {
    fn from(grant: &moat_service::oauth::OAuthGrant) -> GrantView {
        GrantView {
            id: grant.id.clone(),
            user_id: grant.user.0.clone(),
            client_id: grant.client_id.clone(),
            client_name: grant.client_name.clone(),
            scopes: grant.scopes.iter().map(|s| s.to_string()).collect(),
            audience: grant.audience.to_string(),
            created_at: grant.created_at.to_rfc3339(),
            revoked_at: grant.revoked_at.map(|t| t.to_rfc3339()),
            revoked_reason: grant.revoked_reason.clone(),
        }
    }
}

/// A new token; `secret` is shown this once and cannot be retrieved again.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IssuedTokenView {
    pub token: TokenView,
    pub secret: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    pub email: String,
    #[serde(default)]
    pub name: String,
    #[schema(value_type = Vec<String>, example = json!(["developer"]))]
    pub roles: Vec<Role>,
    #[serde(default)]
    pub teams: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueTokenRequest {
    /// User id or email.
    pub user: String,
    pub name: String,
    #[schema(value_type = Vec<String>, example = json!(["mcp", "gateway"]))]
    pub scopes: Vec<Scope>,
    /// Lifetime in seconds; default `[identity] token_ttl`, at most
    /// `[identity] token_max_ttl`.
    #[serde(default, deserialize_with = "whole_seconds")]
    pub ttl_seconds: Option<i64>,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateTokenRequest {
    /// How long the old token keeps working, 0 to 30 days; default
    /// `[identity] rotation_grace`.
    #[serde(default, deserialize_with = "whole_seconds")]
    pub grace_seconds: Option<i64>,
}

/// [`whole_seconds`] for a field that must be there.
pub(super) fn required_whole_seconds<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<i64, D::Error> {
    whole_seconds(deserializer)?
        .ok_or_else(|| serde::de::Error::custom("a number of seconds is required"))
}

/// Seconds as JSON writes an integer either way (`60` or `60.0`, as JSON Schema's
/// `integer` allows); a fraction or a number past `i64` is refused.
fn whole_seconds<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    whole_number(deserializer, "seconds")
}

/// A whole number of `unit` as JSON writes an integer either way (`60` or `60.0`);
/// a fraction or a number past `i64` is refused, naming the unit.
pub(super) fn whole_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
    unit: &str,
) -> Result<Option<i64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(whole) = number.as_i64() {
        return Ok(Some(whole));
    }
    number
        .as_f64()
        .filter(|f| f.fract() == 0.0 && *f >= i64::MIN as f64 && *f < i64::MAX as f64)
        .map(|f| Some(f as i64))
        .ok_or_else(|| {
            serde::de::Error::custom(format!("{number} is not a whole number of {unit}"))
        })
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    pub user: UserView,
    pub token_id: String,
    pub scopes: Vec<String>,
}

impl From<&Principal> for WhoAmI {
    fn from(principal: &Principal) -> WhoAmI {
        WhoAmI {
            user: UserView::from(&principal.user),
            token_id: principal.token_id.0.clone(),
            scopes: principal.scopes.iter().map(|s| s.to_string()).collect(),
        }
    }
}

/// SPEC.md's decision shape (`moat access explain --json`, `/api/v1/access/explain`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DecisionView {
    /// `allow` or `deny`.
    pub decision: String,
    pub tier: Option<String>,
    pub disclosure: Option<String>,
    /// Ids of the policies that decided.
    pub rules: Vec<String>,
    pub reason: String,
}

impl From<&moat_policy::Decision> for DecisionView {
    fn from(decision: &moat_policy::Decision) -> Self {
        DecisionView {
            decision: if decision.allow { "allow" } else { "deny" }.to_string(),
            tier: decision.tier.map(|t| t.to_string()),
            disclosure: decision.disclosure.map(|d| d.to_string()),
            rules: decision.rules.clone(),
            reason: decision.reason.clone(),
        }
    }
}

/// One cell of the access matrix.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MatrixCellView {
    pub user: String,
    pub email: String,
    pub repo: String,
    /// Raw source may be read, beside querying context.
    pub read_source: bool,
    pub decision: DecisionView,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MatrixView {
    pub matrix: Vec<MatrixCellView>,
    /// Pass as `after` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

impl From<&[moat_policy::MatrixEntry]> for MatrixView {
    fn from(entries: &[moat_policy::MatrixEntry]) -> Self {
        MatrixView {
            matrix: entries
                .iter()
                .map(|cell| MatrixCellView {
                    user: cell.user.clone(),
                    email: cell.email.clone(),
                    repo: cell.repo.clone(),
                    read_source: cell.read_source,
                    decision: DecisionView::from(&cell.decision),
                })
                .collect(),
            next: None,
        }
    }
}

/// A host login the permission mirror lists that is linked to no Moat user: it grants
/// nothing until it is linked.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UnmappedView {
    /// `github` or `gitlab`.
    pub host: String,
    pub login: String,
    /// Mirrored repositories that list it.
    pub repos: Vec<String>,
    /// The email a link names when that email is no Moat user.
    pub linked_to: Option<String>,
}

impl From<&moat_service::UnmappedLogin> for UnmappedView {
    fn from(login: &moat_service::UnmappedLogin) -> Self {
        UnmappedView {
            host: login.host.clone(),
            login: login.login.clone(),
            repos: login.repos.clone(),
            linked_to: login.linked_to.clone(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UnmappedListView {
    pub unmapped: Vec<UnmappedView>,
}

/// A page of audit events.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventsView {
    /// Events as the log holds them (SPEC.md's event fields), in sequence order.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<serde_json::Value>,
    /// `from` for the next page; `null` once the log was read to its end.
    pub next_from: Option<u64>,
}

/// A checkpoint held outside the log that verification checked.
#[derive(Debug, Serialize, ToSchema)]
pub struct WitnessCheckView {
    pub source: String,
    pub size: u64,
}

/// Why verification failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditFailureView {
    /// The first sequence number that cannot be trusted, when one can be named.
    pub first_bad_seq: Option<u64>,
    pub checkpoint_size: Option<u64>,
    pub reason: String,
}

/// What verifying the whole log found.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditVerifyView {
    pub ok: bool,
    /// Events recomputed.
    pub events: u64,
    /// Size of the newest signed checkpoint.
    pub signed_size: Option<u64>,
    pub checkpoints: usize,
    /// Hex Merkle root of the verified tree.
    pub root: Option<String>,
    pub witnesses: Vec<WitnessCheckView>,
    pub failure: Option<AuditFailureView>,
}

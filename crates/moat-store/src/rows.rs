//! Rows as both backends read them, before their text columns are parsed into domain
//! types: each backend fills these from its own row type, and the parsing (with its
//! `Corrupt` errors) is written once.

use crate::{MirroredReaders, OAuthGrant, ScimUser, StoreError, StoreResult};
use moat_domain::{
    Audience, ExternalIds, OAuthBinding, Role, Scope, Token, TokenId, TrainingAttestation,
    UnixTime, User, UserId, UserStatus,
};

/// A list of names as stored: a JSON array of strings.
pub fn names_json<'a>(names: impl Iterator<Item = &'a str>) -> String {
    serde_json::Value::Array(names.map(|n| n.into()).collect()).to_string()
}

pub fn parse_names<T: std::str::FromStr>(column: &str, json: &str) -> StoreResult<Vec<T>>
where
    T::Err: std::fmt::Display,
{
    let names: Vec<String> =
        serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))?;
    names
        .iter()
        .map(|n| {
            n.parse::<T>()
                .map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
        })
        .collect()
}

/// A `users` row.
pub struct RawUser {
    pub id: String,
    pub email: String,
    pub name: String,
    pub status: String,
    pub roles: String,
    pub teams: String,
    pub oidc_subject: Option<String>,
    pub scim_id: Option<String>,
    pub training_version: Option<String>,
    pub training_completed_at: Option<i64>,
    pub created_at: i64,
}

impl RawUser {
    pub fn into_user(self) -> StoreResult<User> {
        let status = self
            .status
            .parse::<UserStatus>()
            .map_err(|e| StoreError::Corrupt(format!("users.status: {e}")))?;
        let training = match (self.training_version, self.training_completed_at) {
            (Some(version), Some(at)) => Some(TrainingAttestation {
                version,
                completed_at: UnixTime(at),
            }),
            _ => None,
        };
        Ok(User {
            id: UserId(self.id),
            email: self.email,
            name: self.name,
            status,
            roles: parse_names::<Role>("users.roles", &self.roles)?,
            teams: parse_names::<String>("users.teams", &self.teams)?,
            external: ExternalIds {
                oidc_subject: self.oidc_subject,
                scim_id: self.scim_id,
            },
            training,
            created_at: UnixTime(self.created_at),
        })
    }
}

/// A `users` row with its SCIM columns.
pub struct RawScimUser {
    pub user: RawUser,
    pub user_name: String,
    pub attributes: String,
    pub version: i64,
    pub updated_at: i64,
}

impl RawScimUser {
    pub fn into_scim_user(self) -> StoreResult<ScimUser> {
        Ok(ScimUser {
            user: self.user.into_user()?,
            user_name: self.user_name,
            attributes: serde_json::from_str(&self.attributes)
                .map_err(|e| StoreError::Corrupt(format!("users.scim_attributes: {e}")))?,
            version: self.version as u64,
            updated_at: UnixTime(self.updated_at),
        })
    }
}

/// A `tokens` row.
pub struct RawToken {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub scopes: String,
    pub secret_sha256: Vec<u8>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub replaced_by: Option<String>,
    pub grant_id: Option<String>,
    pub audience: Option<String>,
}

impl RawToken {
    pub fn into_token(self) -> StoreResult<Token> {
        let secret_sha256: [u8; 32] = self
            .secret_sha256
            .try_into()
            .map_err(|_| StoreError::Corrupt("tokens.secret_sha256 is not 32 bytes".into()))?;
        Ok(Token {
            id: TokenId(self.id),
            user_id: UserId(self.user_id),
            name: self.name,
            scopes: parse_names::<Scope>("tokens.scopes", &self.scopes)?,
            secret_sha256,
            created_at: UnixTime(self.created_at),
            expires_at: self.expires_at.map(UnixTime),
            last_used_at: self.last_used_at.map(UnixTime),
            revoked_at: self.revoked_at.map(UnixTime),
            replaced_by: self.replaced_by.map(TokenId),
            oauth: match (self.grant_id, self.audience) {
                (None, None) => None,
                (Some(grant), Some(audience)) => Some(OAuthBinding {
                    grant,
                    audience: audience.parse::<Audience>().map_err(|_| {
                        StoreError::Corrupt(format!("tokens.audience `{audience}` is unknown"))
                    })?,
                }),
                _ => {
                    return Err(StoreError::Corrupt(
                        "tokens.grant_id and tokens.audience are set together".into(),
                    ));
                }
            },
        })
    }
}

/// An `oauth_grants` row.
pub struct RawGrant {
    pub id: String,
    pub user: String,
    pub client_id: String,
    pub client_name: String,
    pub scopes: String,
    pub audience: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
}

impl RawGrant {
    pub fn into_grant(self) -> StoreResult<OAuthGrant> {
        Ok(OAuthGrant {
            id: self.id,
            user: UserId(self.user),
            client_id: self.client_id,
            client_name: self.client_name,
            scopes: parse_names::<Scope>("oauth_grants.scopes", &self.scopes)?,
            audience: self.audience.parse::<Audience>().map_err(|_| {
                StoreError::Corrupt(format!("oauth_grants.audience `{}`", self.audience))
            })?,
            created_at: UnixTime(self.created_at),
            revoked_at: self.revoked_at.map(UnixTime),
            revoked_reason: self.revoked_reason,
        })
    }
}

/// Takes `remove` out of a person's team names and puts `add` in (names compare
/// case-insensitively), returning the list as stored.
pub fn edit_team_names(json: &str, remove: Option<&str>, add: Option<&str>) -> StoreResult<String> {
    let mut names = parse_names::<String>("users.teams", json)?;
    if let Some(remove) = remove {
        names.retain(|n| !n.eq_ignore_ascii_case(remove));
    }
    if let Some(add) = add
        && !names.iter().any(|n| n.eq_ignore_ascii_case(add))
    {
        names.push(add.to_string());
    }
    Ok(names_json(names.iter().map(String::as_str)))
}

/// The whole mirror: each fully synced repository (by name) with its readers, then
/// repositories that only have readers (from webhooks before any full sync: listed,
/// never fresh). `readers` come as `(repo, login, level)`.
pub fn group_mirror(
    mut synced: Vec<MirroredReaders>,
    readers: impl IntoIterator<Item = StoreResult<(String, String, String)>>,
) -> StoreResult<Vec<MirroredReaders>> {
    // Hundreds of thousands of rows at a large organisation: find each row's repository
    // by index, not by scanning the list.
    let mut at: std::collections::HashMap<String, usize> = synced
        .iter()
        .enumerate()
        .map(|(i, m)| (m.repo.clone(), i))
        .collect();
    for row in readers {
        let (repo, login, level) = row?;
        match at.get(&repo) {
            Some(i) => synced[*i].readers.push((login, level)),
            None => {
                at.insert(repo.clone(), synced.len());
                synced.push(MirroredReaders {
                    repo,
                    host: String::new(),
                    synced_at: None,
                    readers: vec![(login, level)],
                });
            }
        }
    }
    Ok(synced)
}

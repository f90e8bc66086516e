//! SCIM 2.0 provisioning (RFC 7643, RFC 7644): the company's identity provider creates,
//! changes, suspends and removes people, and keeps teams (SCIM groups) and their
//! members, so nobody arrives or leaves by hand.
//!
//! Resources are handled as JSON against the schema tables of [`schema`]: a request is
//! canonicalised (attribute names, booleans, unknown attributes dropped), changed
//! ([`patch`]), and turned back into a person or a team ([`resources`]). Each write goes
//! through [`crate::Admin`], so it is an `admin.change` event naming the SCIM client,
//! recorded before it takes effect, and is written only if the resource's version is
//! still the one it was computed from (the ETag). `active: false` suspends a person and
//! revokes their OAuth grants in the same transaction; the request path reads the
//! status on every request, so the next request is refused. Delete deprovisions.

pub mod filter;
mod groups;
mod kinds;
mod links;
pub mod patch;
mod resources;
pub mod schema;
mod users;
mod values;

use crate::Clock;
use crate::admin::{Admin, AdminActor, AdminError};
use crate::audit::AuditLog;
use crate::identity::{Identity, IdentityError};
use filter::{AttrPath, Filter};
pub use kinds::Kind;
use moat_store::{Store, StoreError};
use serde_json::{Value, json};
use sha2::Digest;
use std::sync::Arc;

/// A SCIM error (RFC 7644 §3.12): HTTP status, `scimType` and a detail safe to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    pub fn bad_request(scim_type: &'static str, detail: impl Into<String>) -> ScimError {
        ScimError {
            status: 400,
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }

    pub fn not_found(detail: impl Into<String>) -> ScimError {
        ScimError {
            status: 404,
            scim_type: None,
            detail: detail.into(),
        }
    }

    fn conflict(detail: impl Into<String>) -> ScimError {
        ScimError {
            status: 409,
            scim_type: Some("uniqueness"),
            detail: detail.into(),
        }
    }

    fn stale(detail: impl Into<String>) -> ScimError {
        ScimError {
            status: 412,
            scim_type: None,
            detail: detail.into(),
        }
    }

    fn unavailable(detail: impl Into<String>) -> ScimError {
        ScimError {
            status: 503,
            scim_type: None,
            detail: detail.into(),
        }
    }

    /// The error body.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "schemas": [schema::ERROR],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        body
    }
}

impl From<StoreError> for ScimError {
    fn from(error: StoreError) -> ScimError {
        match error {
            StoreError::NotFound { what, id } => {
                ScimError::not_found(format!("{what} {id} not found"))
            }
            StoreError::Conflict(detail) => {
                ScimError::conflict(format!("another resource already has this value: {detail}"))
            }
            StoreError::Stale { what, id } => ScimError::stale(format!(
                "{what} {id} changed since that version; read it again"
            )),
            other => {
                tracing::error!(error = %other, "SCIM request failed in the store");
                ScimError::unavailable("the store cannot answer right now; retry shortly")
            }
        }
    }
}

impl From<IdentityError> for ScimError {
    fn from(error: IdentityError) -> ScimError {
        match error {
            IdentityError::NotFound(d) => ScimError::not_found(d),
            IdentityError::Invalid(d) => ScimError::bad_request("invalidValue", d),
            IdentityError::Conflict(d) => ScimError::conflict(d),
            IdentityError::Store(e) => e.into(),
        }
    }
}

impl From<AdminError> for ScimError {
    fn from(error: AdminError) -> ScimError {
        match error {
            AdminError::Identity(e) => e.into(),
            other => {
                tracing::error!(error = %other, "SCIM change not recorded");
                ScimError::unavailable(other.to_string())
            }
        }
    }
}

/// What a list or search asks for (RFC 7644 §3.4.2).
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub filter: Option<String>,
    pub sort_by: Option<String>,
    pub descending: bool,
    /// 1-based.
    pub start_index: Option<i64>,
    pub count: Option<i64>,
    pub projection: Projection,
}

/// `attributes` / `excludedAttributes`.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    pub attributes: Vec<String>,
    pub excluded: Vec<String>,
}

impl ListQuery {
    /// A `SearchRequest` body (`POST .search`).
    pub fn from_search(body: &Value) -> Result<ListQuery, ScimError> {
        let text = |key: &str| {
            filter::get_ci(body, key)
                .and_then(Value::as_str)
                .map(String::from)
        };
        let list = |key: &str| -> Vec<String> {
            match filter::get_ci(body, key) {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect(),
                Some(Value::String(s)) => split_list(s),
                _ => Vec::new(),
            }
        };
        let number = |key: &str| filter::get_ci(body, key).and_then(Value::as_i64);
        Ok(ListQuery {
            filter: text("filter"),
            sort_by: text("sortBy"),
            descending: text("sortOrder").is_some_and(|o| o.eq_ignore_ascii_case("descending")),
            start_index: number("startIndex"),
            count: number("count"),
            projection: Projection {
                attributes: list("attributes"),
                excluded: list("excludedAttributes"),
            },
        })
    }
}

/// `a,b, c` as a list.
pub fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// The ETag of a version.
pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// Whether an `If-Match` header admits `version` (`*`, or one of its tags; weak and
/// strong forms compare alike).
pub fn if_match_admits(header: &str, version: u64) -> bool {
    header.split(',').map(str::trim).any(|tag| {
        tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == version.to_string()
    })
}

/// A write's precondition: the `If-Match` the client sent, checked against the version
/// the change was computed from.
fn check_if_match(if_match: Option<&str>, version: u64, what: &str) -> Result<(), ScimError> {
    match if_match {
        Some(header) if !if_match_admits(header, version) => Err(ScimError::stale(format!(
            "{what} is at version {}, not {header}; read it again",
            etag(version)
        ))),
        _ => Ok(()),
    }
}

/// The bearer token of the SCIM client (`[identity] scim_token_env`), kept as its
/// SHA-256 and compared in constant time.
pub struct ScimToken([u8; 32]);

impl ScimToken {
    pub fn new(secret: &str) -> ScimToken {
        ScimToken(sha2::Sha256::digest(secret.as_bytes()).into())
    }

    pub fn admits(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        let presented: [u8; 32] = sha2::Sha256::digest(presented.as_bytes()).into();
        bool::from(self.0.ct_eq(&presented))
    }
}

/// The SCIM service over the store, recording every change.
pub struct Scim {
    store: Arc<dyn Store>,
    identity: Arc<Identity>,
    audit: Arc<AuditLog>,
    clock: Arc<dyn Clock>,
    policy_version: String,
    /// Where host-login links from SCIM are recorded; without it none are made.
    links: Option<Arc<crate::mirror::MirrorWriter>>,
}

/// Who is calling and where the endpoint lives, for one request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// `https://moat.example.com/scim/v2`, for `location` and `$ref`.
    pub base: String,
    /// `client` names the SCIM client (`scim` or `scim:<name>`).
    pub actor: AdminActor,
}

/// A resource as answered, with its ETag.
#[derive(Debug, Clone)]
pub struct Answer {
    pub resource: Value,
    pub etag: String,
}

/// Times a change whose version moved under it is tried again when the client sent no
/// `If-Match` (another write won the race; the change is recomputed on the new state).
const RETRIES: usize = 3;

impl Scim {
    pub fn new(
        store: Arc<dyn Store>,
        identity: Arc<Identity>,
        audit: Arc<AuditLog>,
        clock: Arc<dyn Clock>,
        policy_version: String,
    ) -> Scim {
        Scim {
            store,
            identity,
            audit,
            clock,
            policy_version,
            links: None,
        }
    }

    fn admin(&self) -> Admin<'_> {
        Admin {
            identity: &self.identity,
            audit: &self.audit,
            policy_version: &self.policy_version,
        }
    }

    pub fn service_provider_config(&self, base: &str) -> Value {
        schema::service_provider_config(base)
    }

    pub fn schemas(&self, base: &str) -> Vec<Value> {
        schema::schemas(base)
    }

    pub fn resource_types(&self, base: &str) -> Vec<Value> {
        schema::resource_types(base)
    }

    /// One page of `resources` (already rendered, each with its schema) after filter
    /// and sort.
    fn page(
        &self,
        resources: Vec<(Value, &'static schema::ResourceSchema)>,
        query: &ListQuery,
    ) -> Result<Value, ScimError> {
        let mut resources = resources;
        if let Some(filter) = query.filter.as_deref().map(filter::parse).transpose()? {
            resources.retain(|(r, schema)| filter.matches(r, filter::Scope::Resource(schema)));
        }
        if let Some(sort_by) = &query.sort_by {
            let path = filter::parse_attr_path(sort_by)?;
            let mut keyed: Vec<(Option<String>, (Value, &'static schema::ResourceSchema))> =
                resources
                    .into_iter()
                    .map(|(r, schema)| (filter::sort_key(&r, &path, schema), (r, schema)))
                    .collect();
            // Resources without the attribute come last either way.
            keyed.sort_by(|(a, _), (b, _)| match (a, b) {
                (Some(a), Some(b)) if query.descending => b.cmp(a),
                (Some(a), Some(b)) => a.cmp(b),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            });
            resources = keyed.into_iter().map(|(_, r)| r).collect();
        }
        let total = resources.len();
        let start = query.start_index.unwrap_or(1).max(1) as usize;
        let count = query
            .count
            .unwrap_or(schema::MAX_RESULTS as i64)
            .clamp(0, schema::MAX_RESULTS as i64) as usize;
        let page: Vec<Value> = resources
            .into_iter()
            .skip(start - 1)
            .take(count)
            .map(|(mut r, schema)| {
                resources::project(&mut r, &query.projection, schema);
                r
            })
            .collect();
        Ok(json!({
            "schemas": [schema::LIST],
            "totalResults": total,
            "startIndex": start,
            "itemsPerPage": page.len(),
            "Resources": page,
        }))
    }

    /// `POST /.search` at the root: people and teams together.
    pub async fn search_all(&self, base: &str, query: &ListQuery) -> Result<Value, ScimError> {
        let mut all: Vec<(Value, &'static schema::ResourceSchema)> = self
            .rendered_users(base, None)
            .await?
            .into_iter()
            .map(|u| (u, &schema::USER_RESOURCE))
            .collect();
        all.extend(
            self.rendered_groups(base)
                .await?
                .into_iter()
                .map(|g| (g, &schema::GROUP_RESOURCE)),
        );
        self.page(all, query)
    }
}

/// The one filter that is answered by an index rather than a scan: `userName eq "…"`,
/// which identity providers send before creating each person.
fn user_name_lookup(filter: &Filter) -> Option<&str> {
    match filter {
        Filter::Compare(
            AttrPath {
                urn: None,
                attr,
                sub: None,
            },
            filter::Op::Eq,
            Value::String(name),
        ) if attr.eq_ignore_ascii_case("userName") => Some(name),
        _ => None,
    }
}

#[cfg(test)]
mod tests;

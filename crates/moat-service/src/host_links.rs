//! Links from GitHub logins to people through the organisation's SAML single sign-on:
//! GitHub records, for each member who signed in through the identity provider, the
//! identity the provider asserted (its `NameID`, usually the work email). That is an
//! explicit link made by the provider, so it may map a login to the Moat user with that
//! email; nothing is inferred from how a login looks.
//!
//! GraphQL `organization(login:) { samlIdentityProvider { externalIdentities } }`
//! (`POST /graphql`, cursor-paginated, 100 a page). An organisation without SAML
//! (`samlIdentityProvider: null`) has no such links. The links found replace the
//! previous SAML links as a whole, so an identity removed at the provider unlinks the
//! login at the next sync.

use crate::host_sync::{HostSync, SyncError};
use crate::mirror::LinkChange;
use moat_store::HostLink;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Pages of external identities fetched at most (100 each).
const MAX_PAGES: usize = 500;

const QUERY: &str = "query($org: String!, $after: String) {
  organization(login: $org) {
    samlIdentityProvider {
      externalIdentities(first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes {
          samlIdentity { nameId emails { value primary } }
          user { login }
        }
      }
    }
  }
}";

/// What a SAML link sync did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SamlLinkReport {
    /// Identities GitHub listed with a linked login.
    pub identities: usize,
    /// Of those, linked to a Moat user.
    pub linked: usize,
    /// Links added, changed or removed in the store.
    pub changed: usize,
}

/// The GraphQL endpoint beside a REST API URL: `https://api.github.com/graphql`, or
/// `https://HOST/api/graphql` for GitHub Enterprise Server (`https://HOST/api/v3`).
pub fn graphql_url(api_url: &str) -> String {
    let base = api_url.trim_end_matches('/');
    match base.strip_suffix("/api/v3") {
        Some(host) => format!("{host}/api/graphql"),
        None => format!("{base}/graphql"),
    }
}

impl HostSync {
    /// Fetches the organisation's SAML external identities and makes them the `saml`
    /// links of `github` logins. Fails (keeping the previous links) when GitHub cannot
    /// be asked or answers an error; the token needs to read the organisation's SAML
    /// identities (an organisation owner's `admin:org` or `read:org`).
    pub async fn link_saml_identities(
        &self,
        api_url: &str,
        org: &str,
        token: &str,
    ) -> Result<SamlLinkReport, SyncError> {
        let url = graphql_url(api_url);
        let shape = |message: String| SyncError::Shape {
            host: "github",
            message,
        };
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let response = self
                .http
                .post(&url)
                .bearer_auth(token)
                .header("accept", "application/vnd.github+json")
                .json(&json!({"query": QUERY, "variables": {"org": org, "after": after}}))
                .send()
                .await
                .map_err(|e| SyncError::Transport {
                    host: "github",
                    message: e.to_string(),
                })?;
            let status = response.status().as_u16();
            if status == 401 || status == 403 {
                return Err(SyncError::Refused {
                    host: "github",
                    path: format!("{org} (SAML identities)"),
                    status,
                });
            }
            if status != 200 {
                return Err(SyncError::Status {
                    host: "github",
                    path: format!("{org} (SAML identities)"),
                    status,
                });
            }
            let body: Value = response.json().await.map_err(|e| shape(e.to_string()))?;
            if let Some(errors) = body.get("errors").filter(|e| !e.is_null()) {
                return Err(shape(format!("GraphQL errors: {errors}")));
            }
            let organization = &body["data"]["organization"];
            if organization.is_null() {
                return Err(shape(format!(
                    "organization `{org}` is not visible to the token"
                )));
            }
            let provider = &organization["samlIdentityProvider"];
            if provider.is_null() {
                break; // no SAML single sign-on: no links of this kind
            }
            let identities = &provider["externalIdentities"];
            let nodes = identities["nodes"]
                .as_array()
                .ok_or_else(|| shape("externalIdentities has no nodes".into()))?;
            for node in nodes {
                let Some(login) = node["user"]["login"].as_str() else {
                    continue; // an identity not linked to a GitHub account yet
                };
                if let Some(email) = asserted_email(&node["samlIdentity"]) {
                    pairs.push((login.to_lowercase(), email));
                }
            }
            let page = &identities["pageInfo"];
            after = page["endCursor"].as_str().map(str::to_string);
            if page["hasNextPage"].as_bool() != Some(true) || after.is_none() {
                break;
            }
        }
        let users = self.store.users().await?;
        let by_email: HashMap<String, &moat_domain::User> =
            users.iter().map(|u| (u.email.to_lowercase(), u)).collect();
        let now = self.clock.now();
        let links: Vec<HostLink> = pairs
            .iter()
            .filter_map(|(login, email)| {
                by_email.get(email).map(|user| HostLink {
                    host: "github".into(),
                    login: login.clone(),
                    user: user.id.clone(),
                    source: "saml".into(),
                    linked_at: now,
                })
            })
            .collect();
        // Each link that appears, moves or goes is recorded before it is written.
        let current: BTreeMap<String, String> = self
            .store
            .host_links()
            .await?
            .into_iter()
            .filter(|l| l.host == "github" && l.source == "saml")
            .map(|l| (l.login, l.user.0))
            .collect();
        let wanted: BTreeMap<String, String> = links
            .iter()
            .map(|l| (l.login.clone(), l.user.0.clone()))
            .collect();
        let changes: Vec<LinkChange> = current
            .keys()
            .chain(wanted.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|login| current.get(*login) != wanted.get(*login))
            .map(|login| LinkChange {
                login: login.clone(),
                before: current.get(login).cloned(),
                after: wanted.get(login).cloned(),
            })
            .collect();
        self.writer
            .record_links("github", "saml", &changes)
            .await
            .map_err(SyncError::Mirror)?;
        let changed = self
            .store
            .host_links_replace("github", "saml", &links)
            .await?;
        Ok(SamlLinkReport {
            identities: pairs.len(),
            linked: links.len(),
            changed,
        })
    }
}

/// The email the identity provider asserted: the `NameID` when it is one, else the
/// primary (or only) email attribute.
fn asserted_email(saml: &Value) -> Option<String> {
    if let Some(name_id) = saml["nameId"].as_str()
        && name_id.contains('@')
    {
        return Some(name_id.trim().to_lowercase());
    }
    let emails = saml["emails"].as_array()?;
    emails
        .iter()
        .find(|e| e["primary"].as_bool() == Some(true))
        .or_else(|| (emails.len() == 1).then(|| &emails[0]))
        .and_then(|e| e["value"].as_str())
        .filter(|v| v.contains('@'))
        .map(|v| v.trim().to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_asserted_emails() {
        assert_eq!(
            graphql_url("https://api.github.com"),
            "https://api.github.com/graphql"
        );
        assert_eq!(
            graphql_url("https://ghe.example.com/api/v3/"),
            "https://ghe.example.com/api/graphql"
        );
        let email = |v: Value| asserted_email(&v);
        assert_eq!(
            email(json!({"nameId": "Ann@Example.com"})).as_deref(),
            Some("ann@example.com")
        );
        assert_eq!(
            email(json!({"nameId": "00u1opaque", "emails": [{"value": "x@example.com", "primary": false}, {"value": "ann@example.com", "primary": true}]})).as_deref(),
            Some("ann@example.com")
        );
        assert_eq!(
            email(
                json!({"nameId": "00u1opaque", "emails": [{"value": "a@example.com"}, {"value": "b@example.com"}]})
            ),
            None,
            "no primary among several: no guess"
        );
        assert_eq!(email(json!({"nameId": "ann"})), None);
    }
}

//! Repository-host logins the identity provider names through SCIM: an explicit link
//! from a GitHub or GitLab login to the person (source `scim`), never a guess from how
//! the login looks. The provider sends them in Moat's extension
//! (`urn:ietf:params:scim:schemas:extension:moat:2.0:User`: `githubLogin`,
//! `gitlabLogin`), mapped from an attribute people cannot edit themselves.
//!
//! Each change is an `access.link` event, durable before the link is written; a login
//! another source (SAML, the provider's sign-in claims, a sign-in to the host) already
//! links to someone else is left alone and logged. Deprovisioning unlinks.

use super::Scim;
use super::schema::{Attr, Kind, MOAT};
use crate::mirror::{LinkChange, MirrorWriter};
use moat_domain::UserStatus;
use moat_store::{HostLink, ScimUser};
use std::sync::Arc;

/// The hosts whose logins the extension carries, and the attribute of each.
pub const HOST_ATTRS: &[(&str, &str)] = &[("github", "githubLogin"), ("gitlab", "gitlabLogin")];

pub const MOAT_ATTRS: &[Attr] = &[
    Attr {
        name: "githubLogin",
        kind: Kind::String,
        multi: false,
        required: false,
        case_exact: false,
        mutability: super::schema::Mutability::ReadWrite,
        unique: false,
        canonical: &[],
        references: &[],
        subs: &[],
    },
    Attr {
        name: "gitlabLogin",
        kind: Kind::String,
        multi: false,
        required: false,
        case_exact: false,
        mutability: super::schema::Mutability::ReadWrite,
        unique: false,
        canonical: &[],
        references: &[],
        subs: &[],
    },
];

impl Scim {
    /// Records and makes host-login links from the logins SCIM sends.
    pub fn with_links(mut self, writer: Arc<MirrorWriter>) -> Scim {
        self.links = Some(writer);
        self
    }

    /// Makes this person's `scim` links what their attributes now say (none once they
    /// are deprovisioned). Failing to link never fails the SCIM request: the login
    /// then grants nothing, which is the safe side.
    pub(super) async fn sync_links(&self, scim: &ScimUser) {
        for (host, attr) in HOST_ATTRS {
            let wanted = (scim.user.status != UserStatus::Deprovisioned)
                .then(|| scim.attributes.get(MOAT).and_then(|ext| ext.get(*attr)))
                .flatten()
                .and_then(|v| v.as_str())
                .map(|login| login.trim().to_lowercase())
                .filter(|login| !login.is_empty());
            if let Err(error) = self.link(host, scim, wanted.as_deref()).await {
                tracing::warn!(%error, host, user = %scim.user.id, "the host login SCIM named is not linked");
            }
        }
    }

    async fn link(&self, host: &str, scim: &ScimUser, wanted: Option<&str>) -> Result<(), String> {
        let user = &scim.user.id;
        let links = self.store.host_links().await.map_err(|e| e.to_string())?;
        let mine = links
            .iter()
            .find(|l| l.host == host && l.source == "scim" && &l.user == user);
        if mine.map(|l| l.login.as_str()) == wanted {
            return Ok(());
        }
        let wanted = match wanted {
            Some(login) => match links.iter().find(|l| l.host == host && l.login == login) {
                Some(other) if &other.user != user && other.source != "scim" => {
                    tracing::warn!(host, login, user = %user, linked_to = %other.user, source = %other.source,
                        "SCIM names a login another source links to someone else; left unchanged");
                    None
                }
                _ => Some(login),
            },
            None => None,
        };
        let Some(writer) = &self.links else {
            return Err("no audit log to record a login link on".into());
        };
        let mut changes = Vec::new();
        if let Some(mine) = mine
            && Some(mine.login.as_str()) != wanted
        {
            changes.push(LinkChange {
                login: mine.login.clone(),
                before: Some(user.0.clone()),
                after: None,
            });
        }
        let mut set: Vec<HostLink> = links
            .iter()
            .filter(|l| l.host == host && l.source == "scim" && &l.user != user)
            .filter(|l| Some(l.login.as_str()) != wanted)
            .cloned()
            .collect();
        if let Some(login) = wanted {
            let before = links
                .iter()
                .find(|l| l.host == host && l.login == login)
                .map(|l| l.user.0.clone());
            changes.push(LinkChange {
                login: login.to_string(),
                before,
                after: Some(user.0.clone()),
            });
            set.push(HostLink {
                host: host.to_string(),
                login: login.to_string(),
                user: user.clone(),
                source: "scim".into(),
                linked_at: self.clock.now(),
            });
        }
        if changes.is_empty() {
            return Ok(());
        }
        writer
            .record_links(host, "scim", &changes)
            .await
            .map_err(|e| e.to_string())?;
        self.store
            .host_links_replace(host, "scim", &set)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

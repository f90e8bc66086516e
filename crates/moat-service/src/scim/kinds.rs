//! The two resource endpoints, `/Users` and `/Groups`, behind one set of calls, so an
//! adapter serves both with the same code.

use super::{Answer, Caller, ListQuery, Projection, Scim, ScimError};
use serde_json::Value;

/// Which resource endpoint a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Users,
    Groups,
}

impl Kind {
    /// `Users` or `Groups`, as the path names them (case-sensitive, RFC 7644 §3.2).
    pub fn from_path(segment: &str) -> Option<Kind> {
        match segment {
            "Users" => Some(Kind::Users),
            "Groups" => Some(Kind::Groups),
            _ => None,
        }
    }
}

impl Scim {
    pub async fn list(
        &self,
        kind: Kind,
        base: &str,
        query: &ListQuery,
    ) -> Result<Value, ScimError> {
        match kind {
            Kind::Users => self.list_users(base, query).await,
            Kind::Groups => self.list_groups(base, query).await,
        }
    }

    pub async fn get(
        &self,
        kind: Kind,
        base: &str,
        id: &str,
        projection: &Projection,
    ) -> Result<Answer, ScimError> {
        match kind {
            Kind::Users => self.get_user(base, id, projection).await,
            Kind::Groups => self.get_group(base, id, projection).await,
        }
    }

    pub async fn create(
        &self,
        kind: Kind,
        caller: &Caller,
        body: Value,
    ) -> Result<Answer, ScimError> {
        match kind {
            Kind::Users => self.create_user(caller, body).await,
            Kind::Groups => self.create_group(caller, body).await,
        }
    }

    pub async fn replace(
        &self,
        kind: Kind,
        caller: &Caller,
        id: &str,
        body: Value,
        if_match: Option<&str>,
    ) -> Result<Answer, ScimError> {
        match kind {
            Kind::Users => self.replace_user(caller, id, body, if_match).await,
            Kind::Groups => self.replace_group(caller, id, body, if_match).await,
        }
    }

    pub async fn patch(
        &self,
        kind: Kind,
        caller: &Caller,
        id: &str,
        body: Value,
        if_match: Option<&str>,
    ) -> Result<Answer, ScimError> {
        match kind {
            Kind::Users => self.patch_user(caller, id, body, if_match).await,
            Kind::Groups => self.patch_group(caller, id, body, if_match).await,
        }
    }

    pub async fn delete(
        &self,
        kind: Kind,
        caller: &Caller,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), ScimError> {
        match kind {
            Kind::Users => self.delete_user(caller, id, if_match).await,
            Kind::Groups => self.delete_group(caller, id, if_match).await,
        }
    }
}

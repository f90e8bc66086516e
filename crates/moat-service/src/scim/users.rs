//! SCIM Users: people created, changed, suspended and offboarded by the identity
//! provider. A deprovisioned person is gone as far as SCIM is concerned (404); creating
//! them again (same userName or email) reactivates them with their history and no
//! old credential.

use super::patch::{PatchKind, apply};
use super::resources::{canonical, project, render_user, user_from_doc};
use super::schema::USER_RESOURCE;
use super::{
    Answer, Caller, ListQuery, Projection, RETRIES, Scim, ScimError, check_if_match, etag,
};
use crate::admin::user_json;
use crate::identity::random_id;
use moat_domain::{UserId, UserStatus};
use moat_store::ScimUser;
use serde_json::{Value, json};
use std::collections::HashMap;

impl Scim {
    /// Team ids and names of each member (for lists; one person reads only theirs).
    async fn groups_of_all(&self) -> Result<HashMap<UserId, Vec<(String, String)>>, ScimError> {
        let mut by_user: HashMap<UserId, Vec<(String, String)>> = HashMap::new();
        for team in self.store.teams().await? {
            for member in &team.members {
                by_user
                    .entry(member.clone())
                    .or_default()
                    .push((team.id.clone(), team.name.clone()));
            }
        }
        Ok(by_user)
    }

    async fn render_one(&self, scim: &ScimUser, base: &str) -> Result<Value, ScimError> {
        let groups = self.store.teams_of(&scim.user.id).await?;
        Ok(render_user(scim, &groups, base))
    }

    /// A person SCIM may see: anyone not deprovisioned.
    async fn visible_user(&self, id: &str) -> Result<ScimUser, ScimError> {
        self.store
            .scim_user(&UserId(id.to_string()))
            .await?
            .filter(|u| u.user.status != UserStatus::Deprovisioned)
            .ok_or_else(|| ScimError::not_found(format!("no user {id}")))
    }

    /// Everyone SCIM may see, rendered; only the person named when `user_name` is given.
    pub(super) async fn rendered_users(
        &self,
        base: &str,
        user_name: Option<&str>,
    ) -> Result<Vec<Value>, ScimError> {
        let people = match user_name {
            Some(name) => self
                .store
                .scim_user_by_name(name)
                .await?
                .into_iter()
                .collect(),
            None => self.store.scim_users().await?,
        };
        let groups = self.groups_of_all().await?;
        Ok(people
            .iter()
            .filter(|u| u.user.status != UserStatus::Deprovisioned)
            .map(|u| {
                render_user(
                    u,
                    groups.get(&u.user.id).map_or(&[][..], Vec::as_slice),
                    base,
                )
            })
            .collect())
    }

    pub async fn list_users(&self, base: &str, query: &ListQuery) -> Result<Value, ScimError> {
        let filter = query
            .filter
            .as_deref()
            .map(super::filter::parse)
            .transpose()?;
        let docs = self
            .rendered_users(base, filter.as_ref().and_then(super::user_name_lookup))
            .await?;
        self.page(
            docs.into_iter().map(|d| (d, &USER_RESOURCE)).collect(),
            query,
        )
    }

    pub async fn get_user(
        &self,
        base: &str,
        id: &str,
        projection: &Projection,
    ) -> Result<Answer, ScimError> {
        let scim = self.visible_user(id).await?;
        let mut resource = self.render_one(&scim, base).await?;
        project(&mut resource, projection, &USER_RESOURCE);
        Ok(Answer {
            resource,
            etag: etag(scim.version),
        })
    }

    /// Creates a person, or reactivates the deprovisioned person with this userName or
    /// email.
    pub async fn create_user(&self, caller: &Caller, body: Value) -> Result<Answer, ScimError> {
        let doc = canonical(body, &USER_RESOURCE)?;
        let now = self.clock.now();
        let fresh = user_from_doc(doc.clone(), None, UserId(random_id("usr_", 8)), now)?;
        self.identity.check_email(&fresh.user.email)?;
        let mut previous = self.store.scim_user_by_name(&fresh.user_name).await?;
        if previous.is_none()
            && let Some(by_email) = self.store.user_by_email(&fresh.user.email).await?
        {
            previous = self.store.scim_user(&by_email.id).await?;
        }
        let scim = match previous {
            Some(previous) if previous.user.status == UserStatus::Deprovisioned => {
                let next = user_from_doc(doc, Some(&previous), previous.user.id.clone(), now)?;
                self.write_user(
                    caller,
                    "scim.user.reactivate",
                    Some(&previous),
                    next,
                    Value::Null,
                )
                .await?
            }
            Some(previous) => {
                return Err(ScimError::conflict(format!(
                    "{} already exists as {} (userName {}); find it with filter=userName eq \"{}\"",
                    fresh.user.email, previous.user.id, previous.user_name, previous.user_name
                )));
            }
            None => {
                self.write_user(caller, "scim.user.create", None, fresh, Value::Null)
                    .await?
            }
        };
        Ok(Answer {
            resource: self.render_one(&scim, &caller.base).await?,
            etag: etag(scim.version),
        })
    }

    pub async fn replace_user(
        &self,
        caller: &Caller,
        id: &str,
        body: Value,
        if_match: Option<&str>,
    ) -> Result<Answer, ScimError> {
        let doc = canonical(body, &USER_RESOURCE)?;
        self.change_user(
            caller,
            id,
            if_match,
            "scim.user.replace",
            Value::Null,
            |_| Ok(doc.clone()),
        )
        .await
    }

    /// Applies a `PatchOp` body.
    pub async fn patch_user(
        &self,
        caller: &Caller,
        id: &str,
        body: Value,
        if_match: Option<&str>,
    ) -> Result<Answer, ScimError> {
        let ops = operations(&body)?;
        let request = summary(&ops);
        self.change_user(
            caller,
            id,
            if_match,
            "scim.user.patch",
            request,
            |current| patched(current, &USER_RESOURCE, &ops),
        )
        .await
    }

    /// Deprovisions a person: every token and grant revoked, every team left.
    pub async fn delete_user(
        &self,
        caller: &Caller,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), ScimError> {
        let current = self.visible_user(id).await?;
        check_if_match(if_match, current.version, id)?;
        let mut next = current.clone();
        next.user.status = UserStatus::Deprovisioned;
        self.write_user(
            caller,
            "scim.user.delete",
            Some(&current),
            next,
            Value::Null,
        )
        .await?;
        Ok(())
    }

    /// Reads the person, computes the new document from the current one, and writes it
    /// if nothing changed in between (retrying when the client named no version).
    async fn change_user(
        &self,
        caller: &Caller,
        id: &str,
        if_match: Option<&str>,
        operation: &'static str,
        request: Value,
        compute: impl Fn(&Value) -> Result<Value, ScimError>,
    ) -> Result<Answer, ScimError> {
        let mut attempt = 0;
        loop {
            let current = self.visible_user(id).await?;
            check_if_match(if_match, current.version, id)?;
            let rendered = self.render_one(&current, &caller.base).await?;
            let doc = compute(&rendered)?;
            let next = user_from_doc(
                doc,
                Some(&current),
                current.user.id.clone(),
                self.clock.now(),
            )?;
            self.identity.check_email(&next.user.email)?;
            match self
                .write_user(caller, operation, Some(&current), next, request.clone())
                .await
            {
                Err(e) if e.status == 412 && if_match.is_none() && attempt + 1 < RETRIES => {
                    attempt += 1
                }
                Err(e) => return Err(e),
                Ok(scim) => {
                    return Ok(Answer {
                        resource: self.render_one(&scim, &caller.base).await?,
                        etag: etag(scim.version),
                    });
                }
            }
        }
    }

    /// Writes a person through the admin record: requested (with the state before),
    /// applied or failed.
    async fn write_user(
        &self,
        caller: &Caller,
        operation: &'static str,
        before: Option<&ScimUser>,
        next: ScimUser,
        request: Value,
    ) -> Result<ScimUser, ScimError> {
        let target = next.user.id.0.clone();
        let store = self.store.clone();
        let now = self.clock.now();
        let expect = before.map(|b| b.version);
        let apply = async move {
            let written: Result<ScimUser, crate::identity::IdentityError> = match expect {
                None => {
                    store.scim_user_insert(&next).await?;
                    store.scim_user(&next.user.id).await?.ok_or_else(|| {
                        moat_store::StoreError::NotFound {
                            what: "user",
                            id: next.user.id.0.clone(),
                        }
                        .into()
                    })
                }
                Some(version) => Ok(store.scim_user_update(&next, Some(version), now).await?),
            };
            written
        };
        let written = self
            .admin()
            .record_change(
                &caller.actor,
                operation,
                target,
                request,
                before.map_or(Value::Null, scim_json),
                apply,
                |u: &ScimUser| (u.user.id.0.clone(), scim_json(u)),
            )
            .await?;
        tracing::info!(user = %written.user.id, operation, status = %written.user.status, "SCIM change applied");
        self.sync_links(&written).await;
        Ok(written)
    }
}

/// A person as the admin record shows them.
fn scim_json(scim: &ScimUser) -> Value {
    let mut out = user_json(&scim.user);
    out["user_name"] = json!(scim.user_name);
    out["external_id"] = json!(scim.user.external.scim_id);
    out["scim_attributes"] = scim.attributes.clone();
    out
}

/// What the record says a PATCH asked: each operation and path, without values (the
/// states before and after hold them, and a value Moat does not keep is never written).
pub(super) fn summary(ops: &[Operation]) -> Value {
    Value::Array(
        ops.iter()
            .map(|(k, p, _)| json!({"op": format!("{k:?}").to_lowercase(), "path": p}))
            .collect(),
    )
}

/// `current` with `ops` applied, in order; the first refused operation refuses all.
pub(super) fn patched(
    current: &Value,
    resource: &super::schema::ResourceSchema,
    ops: &[Operation],
) -> Result<Value, ScimError> {
    let mut doc = current.clone();
    for (kind, path, value) in ops {
        apply(&mut doc, resource, *kind, path.as_deref(), value.clone())?;
    }
    Ok(doc)
}

/// One PATCH operation: op, path, value.
pub(super) type Operation = (PatchKind, Option<String>, Option<Value>);

/// The operations of a `PatchOp` body.
pub(super) fn operations(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let ops = super::filter::get_ci(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ScimError::bad_request("invalidSyntax", "a PATCH body needs `Operations`, a list")
        })?;
    ops.iter()
        .map(|op| {
            let kind = super::filter::get_ci(op, "op")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ScimError::bad_request("invalidSyntax", "each operation needs `op`")
                })?;
            let path = super::filter::get_ci(op, "path")
                .and_then(Value::as_str)
                .map(String::from);
            let value = super::filter::get_ci(op, "value").cloned();
            Ok((PatchKind::parse(kind)?, path, value))
        })
        .collect()
}

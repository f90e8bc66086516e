//! SCIM Groups: the company's teams. A team's name is what static grants and model
//! allowlists name in `moat.toml`, so membership here decides what its members may
//! see and use. Members are people; the admin record of a change lists who joined and
//! who left.

use super::resources::{canonical, project, render_group, team_from_doc};
use super::schema::GROUP_RESOURCE;
use super::users::{operations, patched, summary};
use super::{
    Answer, Caller, ListQuery, Projection, RETRIES, Scim, ScimError, check_if_match, etag,
};
use crate::identity::{IdentityError, random_id};
use moat_store::{StoreError, Team};
use serde_json::{Value, json};

impl Scim {
    async fn visible_team(&self, id: &str) -> Result<Team, ScimError> {
        self.store
            .team(id)
            .await?
            .ok_or_else(|| ScimError::not_found(format!("no group {id}")))
    }

    pub(super) async fn rendered_groups(&self, base: &str) -> Result<Vec<Value>, ScimError> {
        let teams = self.store.teams().await?;
        Ok(teams.iter().map(|t| render_group(t, base)).collect())
    }

    pub async fn list_groups(&self, base: &str, query: &ListQuery) -> Result<Value, ScimError> {
        let docs = self.rendered_groups(base).await?;
        self.page(
            docs.into_iter().map(|d| (d, &GROUP_RESOURCE)).collect(),
            query,
        )
    }

    pub async fn get_group(
        &self,
        base: &str,
        id: &str,
        projection: &Projection,
    ) -> Result<Answer, ScimError> {
        let team = self.visible_team(id).await?;
        let mut resource = render_group(&team, base);
        project(&mut resource, projection, &GROUP_RESOURCE);
        Ok(Answer {
            resource,
            etag: etag(team.version),
        })
    }

    pub async fn create_group(&self, caller: &Caller, body: Value) -> Result<Answer, ScimError> {
        let doc = canonical(body, &GROUP_RESOURCE)?;
        let team = team_from_doc(&doc, None, random_id("team_", 8), self.clock.now())?;
        let team = self
            .write_team(caller, "scim.group.create", None, team, Value::Null)
            .await?;
        Ok(Answer {
            resource: render_group(&team, &caller.base),
            etag: etag(team.version),
        })
    }

    pub async fn replace_group(
        &self,
        caller: &Caller,
        id: &str,
        body: Value,
        if_match: Option<&str>,
    ) -> Result<Answer, ScimError> {
        let doc = canonical(body, &GROUP_RESOURCE)?;
        self.change_team(
            caller,
            id,
            if_match,
            "scim.group.replace",
            Value::Null,
            |_| Ok(doc.clone()),
        )
        .await
    }

    pub async fn patch_group(
        &self,
        caller: &Caller,
        id: &str,
        body: Value,
        if_match: Option<&str>,
    ) -> Result<Answer, ScimError> {
        let ops = operations(&body)?;
        let request = summary(&ops);
        self.change_team(
            caller,
            id,
            if_match,
            "scim.group.patch",
            request,
            |current| patched(current, &GROUP_RESOURCE, &ops),
        )
        .await
    }

    pub async fn delete_group(
        &self,
        caller: &Caller,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<(), ScimError> {
        let current = self.visible_team(id).await?;
        check_if_match(if_match, current.version, id)?;
        let store = self.store.clone();
        let team_id = current.id.clone();
        let version = current.version;
        let left: Vec<&str> = current.members.iter().map(|m| m.0.as_str()).collect();
        let after = json!({"deleted": team_json(&current), "joined": [], "left": left});
        let apply = async move {
            let deleted: Result<(), IdentityError> =
                Ok(store.team_delete(&team_id, Some(version)).await?);
            deleted
        };
        self.admin()
            .record_change(
                &caller.actor,
                "scim.group.delete",
                current.id.clone(),
                Value::Null,
                team_json(&current),
                apply,
                |_| (id.to_string(), after),
            )
            .await
            .map_err(member_error)?;
        Ok(())
    }

    async fn change_team(
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
            let current = self.visible_team(id).await?;
            check_if_match(if_match, current.version, id)?;
            let doc = compute(&render_group(&current, &caller.base))?;
            let next = team_from_doc(&doc, Some(&current), current.id.clone(), self.clock.now())?;
            match self
                .write_team(caller, operation, Some(&current), next, request.clone())
                .await
            {
                Err(e) if e.status == 412 && if_match.is_none() && attempt + 1 < RETRIES => {
                    attempt += 1
                }
                Err(e) => return Err(e),
                Ok(team) => {
                    return Ok(Answer {
                        resource: render_group(&team, &caller.base),
                        etag: etag(team.version),
                    });
                }
            }
        }
    }

    async fn write_team(
        &self,
        caller: &Caller,
        operation: &'static str,
        before: Option<&Team>,
        next: Team,
        request: Value,
    ) -> Result<Team, ScimError> {
        let was: std::collections::HashSet<&moat_domain::UserId> = before
            .map(|b| b.members.iter().collect())
            .unwrap_or_default();
        let now_in: std::collections::HashSet<&moat_domain::UserId> = next.members.iter().collect();
        let joined: Vec<&str> = next
            .members
            .iter()
            .filter(|m| !was.contains(m))
            .map(|m| m.0.as_str())
            .collect();
        let mut left: Vec<&str> = was
            .iter()
            .filter(|m| !now_in.contains(*m))
            .map(|m| m.0.as_str())
            .collect();
        left.sort();
        let after_change = json!({"joined": joined, "left": left});
        let store = self.store.clone();
        let now = self.clock.now();
        let expect = before.map(|b| b.version);
        let target = next.id.clone();
        let apply = async move {
            let written: Result<Team, IdentityError> = match expect {
                None => {
                    store.team_insert(&next).await?;
                    store.team(&next.id).await?.ok_or_else(|| {
                        StoreError::NotFound {
                            what: "team",
                            id: next.id.clone(),
                        }
                        .into()
                    })
                }
                Some(version) => Ok(store.team_update(&next, Some(version), now).await?),
            };
            written
        };
        let team = self
            .admin()
            .record_change(
                &caller.actor,
                operation,
                target,
                request,
                before.map_or(Value::Null, team_json),
                apply,
                |t: &Team| {
                    let mut after = after_change;
                    after["team"] = team_json(t);
                    (t.id.clone(), after)
                },
            )
            .await
            .map_err(member_error)?;
        tracing::info!(team = %team.id, operation, members = team.members.len(), "SCIM change applied");
        Ok(team)
    }
}

/// A member who is not a Moat user (or was deprovisioned) is the request's fault.
fn member_error(error: crate::admin::AdminError) -> ScimError {
    match error {
        crate::admin::AdminError::Identity(IdentityError::Store(StoreError::NotFound {
            what: "user",
            id,
        })) => ScimError::bad_request(
            "invalidValue",
            format!("member {id} is not a Moat user (or was deprovisioned)"),
        ),
        other => other.into(),
    }
}

/// A team as the admin record shows it; members are listed as joined and left.
fn team_json(team: &Team) -> Value {
    json!({"id": team.id, "name": team.name, "external_id": team.external_id, "members": team.members.len()})
}

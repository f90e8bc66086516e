//! The authorization server's audit events, one builder for all of them.
//!
//! Actions: `oauth.client` (a registration), `oauth.sign_in` (a sign-in link issued or
//! redeemed), `oauth.grant` (consent given or declined), `oauth.token` (an access and
//! refresh token issued, from a code or a refresh), `oauth.revoke` (a grant ended:
//! by request, or because a code or refresh token was presented twice). Secrets never
//! appear; tokens are named by their public id, grants by theirs.

use super::{Client, Consent, OAuthServer};
use crate::AdminActor;
use crate::audit::AuditError;
use moat_audit::event::{Actor, Decision, EventBody, Outcome, Resources};
use moat_domain::{Token, UnixTime, User};
use moat_store::OAuthGrant;
use serde_json::{Value, json};

struct Event<'a> {
    action: &'static str,
    object: String,
    outcome: Outcome,
    rule: &'static str,
    reason: Option<String>,
    /// The person acted on or for, when the actor is not them.
    user: Option<&'a User>,
    details: Value,
}

async fn record(
    server: &OAuthServer,
    actor: &AdminActor,
    event: Event<'_>,
) -> Result<u64, AuditError> {
    let body = EventBody {
        actor: Actor {
            user: actor
                .user
                .clone()
                .or_else(|| event.user.map(|u| u.id.0.clone())),
            email: actor
                .email
                .clone()
                .or_else(|| event.user.map(|u| u.email.clone())),
            token_id: actor.token_id.clone(),
            client: Some(actor.client.clone()),
            client_version: None,
            address: actor.address.clone(),
        },
        action: event.action.into(),
        resources: Resources {
            objects: vec![event.object],
            ..Resources::default()
        },
        decision: Decision {
            outcome: event.outcome,
            rule: Some(event.rule.into()),
            reason: event.reason,
        },
        policy_version: server.policy_version.clone(),
        disclosed: Default::default(),
        redactions: Default::default(),
        egress: None,
        content_ref: None,
        details: event.details,
    };
    server.audit.record(body).await
}

fn client_json(client: &Client) -> Value {
    json!({"id": client.id, "name": client.name, "source": client.source.as_str(), "redirect_uris": client.redirect_uris})
}

pub(super) async fn client_registered(
    server: &OAuthServer,
    actor: &AdminActor,
    client: &Client,
) -> Result<u64, AuditError> {
    let event = Event {
        action: "oauth.client",
        object: client.id.clone(),
        outcome: Outcome::Allow,
        rule: "oauth:dynamic-registration",
        reason: None,
        user: None,
        details: json!({"operation": "register", "client": client_json(client)}),
    };
    record(server, actor, event).await
}

pub(super) async fn sign_in_link_issued(
    server: &OAuthServer,
    actor: &AdminActor,
    user: &User,
    expires_at: UnixTime,
) -> Result<u64, AuditError> {
    let event = Event {
        action: "oauth.sign_in",
        object: user.id.0.clone(),
        outcome: Outcome::Allow,
        rule: "local:data-directory-access",
        reason: None,
        user: None,
        details: json!({"operation": "link.issue", "user": user.id.0, "email": user.email, "expires_at": expires_at.0}),
    };
    record(server, actor, event).await
}

pub(super) async fn signed_in(
    server: &OAuthServer,
    actor: &AdminActor,
    user: &User,
    method: &str,
) -> Result<u64, AuditError> {
    let event = Event {
        action: "oauth.sign_in",
        object: user.id.0.clone(),
        outcome: Outcome::Allow,
        rule: "oauth:sign-in",
        reason: None,
        user: Some(user),
        details: json!({"operation": "sign-in", "method": method}),
    };
    record(server, actor, event).await
}

/// A sign-in through the identity provider that named someone Moat refuses.
pub(super) async fn idp_refused(
    server: &OAuthServer,
    actor: &AdminActor,
    email: &str,
    subject: &str,
    reason: &str,
) -> Result<u64, AuditError> {
    let event = Event {
        action: "oauth.sign_in",
        object: email.to_string(),
        outcome: Outcome::Deny,
        rule: "oauth:sign-in",
        reason: Some(reason.to_string()),
        user: None,
        details: json!({"operation": "sign-in", "method": "identity-provider", "subject": subject}),
    };
    record(server, actor, event).await
}

pub(super) async fn granted(
    server: &OAuthServer,
    actor: &AdminActor,
    user: &User,
    consent: &Consent,
    grant: &str,
) -> Result<u64, AuditError> {
    let event = Event {
        action: "oauth.grant",
        object: grant.to_string(),
        outcome: Outcome::Allow,
        rule: "oauth:consent",
        reason: None,
        user: Some(user),
        details: consent_json(consent, Some(grant)),
    };
    record(server, actor, event).await
}

pub(super) async fn consent_denied(
    server: &OAuthServer,
    actor: &AdminActor,
    user: &User,
    consent: &Consent,
) -> Result<u64, AuditError> {
    let event = Event {
        action: "oauth.grant",
        object: consent.client.id.clone(),
        outcome: Outcome::Deny,
        rule: "oauth:consent",
        reason: Some("the person declined".into()),
        user: Some(user),
        details: consent_json(consent, None),
    };
    record(server, actor, event).await
}

fn consent_json(consent: &Consent, grant: Option<&str>) -> Value {
    json!({
        "grant": grant,
        "client": client_json(&consent.client),
        "redirect_uri": consent.redirect_uri,
        "scopes": consent.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "resource": consent.resource,
    })
}

pub(super) async fn token_issued(
    server: &OAuthServer,
    actor: &AdminActor,
    user: &User,
    grant: &OAuthGrant,
    token: &Token,
    how: &str,
) -> Result<u64, AuditError> {
    let event = Event {
        action: "oauth.token",
        object: token.id.0.clone(),
        outcome: Outcome::Allow,
        rule: "oauth:grant",
        reason: None,
        user: Some(user),
        details: json!({
            "operation": how,
            "grant": grant.id,
            "client": grant.client_id,
            "token": token.id.0,
            "scopes": token.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "audience": grant.audience.as_str(),
            "expires_at": token.expires_at.map(|t| t.0),
        }),
    };
    record(server, actor, event).await
}

pub(super) async fn grant_revoked(
    server: &OAuthServer,
    actor: &AdminActor,
    grant: Option<&OAuthGrant>,
    grant_id: &str,
    reason: &str,
) -> Result<u64, AuditError> {
    let reused = reason.contains("reused");
    let event = Event {
        action: "oauth.revoke",
        object: grant_id.to_string(),
        outcome: if reused {
            Outcome::Deny
        } else {
            Outcome::Allow
        },
        rule: if reused {
            "oauth:reuse-detection"
        } else {
            "oauth:revocation"
        },
        reason: Some(reason.to_string()),
        user: None,
        details: json!({
            "grant": grant_id,
            "user": grant.map(|g| g.user.0.clone()),
            "client": grant.map(|g| g.client_id.clone()),
            "reason": reason,
        }),
    };
    record(server, actor, event).await
}

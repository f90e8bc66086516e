//! Where a workload on AWS gets its role's temporary keys, as AWS documents them: STS
//! `AssumeRoleWithWebIdentity` (a form `POST`, answered in XML; `POST /_aws/sts`) and
//! the container credentials endpoint of ECS and EKS Pod Identity (`GET
//! /_aws/container-credentials`, answered in JSON). Both hand out the stand-in's own
//! key pair (the one the Bedrock routes check signatures with) and a session token,
//! and only for the credential they were given: STS for [`WEB_IDENTITY_TOKEN`], whose
//! issuer a real STS would verify, and the container endpoint for
//! [`CONTAINER_AUTHORIZATION_TOKEN`] in `Authorization`.

use crate::bedrock::{AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY};
use crate::incoming::Incoming;
use axum::Json;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::BTreeMap;

/// The web identity token STS takes (a real one is a JWT from the cluster's OIDC issuer).
pub const WEB_IDENTITY_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.c3RhbmRpbi13ZWItaWRlbnRpdHk.c2lnbmVk";
/// The token the container credentials endpoint wants in `Authorization`.
pub const CONTAINER_AUTHORIZATION_TOKEN: &str = "standin-pod-identity-token";
/// The session token each hands out with the stand-in's keys.
pub const SESSION_TOKEN: &str = "standin-role-session-token";

/// In an hour, as RFC 3339.
fn expiration() -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `POST /_aws/sts`: `AssumeRoleWithWebIdentity`.
pub(crate) async fn sts(incoming: Incoming) -> Response {
    let body = String::from_utf8_lossy(&incoming.raw_body);
    let Ok(Query(form)) = format!("/?{body}")
        .parse()
        .map_err(|_| ())
        .and_then(|uri| Query::<BTreeMap<String, String>>::try_from_uri(&uri).map_err(|_| ()))
    else {
        return sts_error("InvalidParameterValue", "The request body is not a form.");
    };
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    if field("Action") != "AssumeRoleWithWebIdentity" || field("Version") != "2011-06-15" {
        return sts_error(
            "InvalidAction",
            "Could not find operation for this version.",
        );
    }
    let arn = field("RoleArn");
    let role_ok = arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split_once(":role/"))
        .is_some_and(|(account, name)| {
            account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && !name.is_empty()
        });
    if !role_ok {
        return sts_error("ValidationError", "RoleArn is not a role's ARN.");
    }
    let session = field("RoleSessionName");
    if !(2..=64).contains(&session.len())
        || !session
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        return sts_error(
            "ValidationError",
            "Value at 'roleSessionName' failed to satisfy constraint.",
        );
    }
    if field("WebIdentityToken") != WEB_IDENTITY_TOKEN {
        return sts_error(
            "InvalidIdentityToken",
            "Couldn't retrieve verification key from your identity provider.",
        );
    }
    let xml = format!(
        r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:moat:gateway</SubjectFromWebIdentityToken>
    <AssumedRoleUser>
      <Arn>{arn}/{session}</Arn>
      <AssumedRoleId>AROASTANDIN:{session}</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>{SESSION_TOKEN}</SessionToken>
      <SecretAccessKey>{}</SecretAccessKey>
      <Expiration>{}</Expiration>
      <AccessKeyId>{AWS_ACCESS_KEY_ID}</AccessKeyId>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>standin-sts</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>"#,
        AWS_SECRET_ACCESS_KEY.replace('&', "&amp;"),
        expiration()
    );
    (StatusCode::OK, [("content-type", "text/xml")], xml).into_response()
}

fn sts_error(code: &str, message: &str) -> Response {
    let xml = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>standin-sts</RequestId></ErrorResponse>"
    );
    (StatusCode::BAD_REQUEST, [("content-type", "text/xml")], xml).into_response()
}

/// `GET /_aws/container-credentials`.
pub(crate) async fn container(incoming: Incoming) -> Response {
    let authorized = incoming
        .headers
        .get("authorization")
        .is_some_and(|value| value == CONTAINER_AUTHORIZATION_TOKEN);
    if !authorized {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"code": "AccessDeniedException", "message": "Invalid token"})),
        )
            .into_response();
    }
    Json(json!({
        "AccessKeyId": AWS_ACCESS_KEY_ID,
        "SecretAccessKey": AWS_SECRET_ACCESS_KEY,
        "Token": SESSION_TOKEN,
        "AccountId": "123456789012",
        "Expiration": expiration(),
    }))
    .into_response()
}

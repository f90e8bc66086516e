//! The one error shape of every Moat endpoint: `{"error": {"code", "message", "hint"?}}`.
//! Internal details are logged, never sent.

use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use moat_service::{AdminError, AuthError, IdentityError, Refused};
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub hint: Option<String>,
    pub www_authenticate: Option<String>,
    /// Why an authentication was refused, counted on the record (`auth.refused`).
    pub refusal: Option<Box<Refused>>,
}

/// Marks a response that refused an authentication, with the reason; the router's
/// refusal layer counts it per source and minute (`moat_service::audit::refusals`).
#[derive(Debug, Clone)]
pub struct AuthRefused(pub Refused);

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            hint: None,
            www_authenticate: None,
            refusal: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> ApiError {
        self.hint = Some(hint.into());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                hint: self.hint,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(refused) = self.refusal {
            response.extensions_mut().insert(AuthRefused(*refused));
        }
        if let Some(value) = self
            .www_authenticate
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

impl From<IdentityError> for ApiError {
    fn from(error: IdentityError) -> ApiError {
        match error {
            IdentityError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "not_found", m),
            IdentityError::Invalid(m) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m)
            }
            IdentityError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            IdentityError::Store(e) => {
                tracing::error!(error = %e, "store failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the store is unavailable; try again shortly",
                )
            }
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(error: AdminError) -> ApiError {
        match error {
            AdminError::Identity(e) => e.into(),
            AdminError::Refused(e) => {
                tracing::error!(error = %e, "admin change refused: the audit log cannot record");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "audit_unavailable", "the change was refused because the audit log cannot record it; nothing was changed")
                    .with_hint("check the server log and run `moat audit verify`")
            }
            AdminError::NotRecorded(e) => {
                tracing::error!(error = %e, "admin change not recorded");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "audit_unavailable",
                    "the change was applied and its request is on the record, but its outcome could not be recorded",
                )
                .with_hint("check the server log and run `moat audit verify`")
            }
        }
    }
}

impl From<moat_service::operator::OperatorError> for ApiError {
    fn from(error: moat_service::operator::OperatorError) -> ApiError {
        use moat_service::operator::OperatorError;
        match error {
            OperatorError::Denied(reason) => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", reason).with_hint(
                    "an organisation policy or your roles refuse this; `moat access explain` and the policy file say which",
                )
            }
            OperatorError::Unavailable(reason) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "policy_unavailable",
                format!("access policy cannot be evaluated ({reason}); nothing is done"),
            ),
            OperatorError::NotRecorded(e) => {
                tracing::error!(error = %e, "a refusal could not be recorded");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "audit_unavailable",
                    "the request was refused and the refusal could not be recorded",
                )
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> ApiError {
        let message = error.to_string();
        let refusal = error.refusal().map(Box::new);
        let (status, code, challenge) = match &error {
            AuthError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", None),
            AuthError::InsufficientScope { required } => (
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                Some(format!(
                    r#"Bearer realm="moat", error="insufficient_scope", scope="{required}""#
                )),
            ),
            e if e.is_forbidden() => (StatusCode::FORBIDDEN, "forbidden", None),
            AuthError::Missing => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                Some(r#"Bearer realm="moat""#.to_string()),
            ),
            _ => (
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                Some(format!(
                    r#"Bearer realm="moat", error="invalid_token", error_description="{}""#,
                    message.replace('"', "'")
                )),
            ),
        };
        ApiError {
            status,
            code,
            message,
            hint: None,
            www_authenticate: challenge,
            refusal,
        }
    }
}

/// Counts every response marked [`AuthRefused`] by source address, route template and
/// reason; the counts become `auth.refused` events once a minute.
pub async fn count_refusals(
    axum::extract::State(refusals): axum::extract::State<
        Option<std::sync::Arc<moat_service::audit::refusals::Refusals>>,
    >,
    request: Request<Body>,
    next: axum::middleware::Next,
) -> Response {
    let Some(refusals) = refusals else {
        return next.run(request).await;
    };
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let source = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip().to_string());
    let response = next.run(request).await;
    if let Some(AuthRefused(refused)) = response.extensions().get::<AuthRefused>() {
        refusals.note(source.as_deref(), &route, refused);
    }
    response
}

pub async fn not_found(request: Request<Body>) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route for {} {}", request.method(), request.uri().path()),
    )
    .with_hint("the admin API is described at /api/v1/openapi.json")
}

pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error; the server logged it",
    )
    .into_response()
}

/// Rewrites error responses that are not JSON (from extractor rejections, the method
/// router, limit layers) into the error shape, so clients see one format everywhere.
pub async fn json_error_bodies(request: Request<Body>, next: axum::middleware::Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        // Pages for people (the OAuth sign-in and consent) keep their own errors.
        .is_some_and(|v| {
            v.starts_with("application/json")
                || v.starts_with("text/html")
                // SCIM errors have their own shape (RFC 7644 §3.12).
                || v.starts_with("application/scim+json")
        });
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let detail = axum::body::to_bytes(body, 4096)
        .await
        .ok()
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .filter(|t| !t.is_empty());
    let (code, hint) = code_for_status(status);
    let message = match (status.is_server_error(), detail) {
        (false, Some(detail)) => detail,
        _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let mut error = ApiError::new(status, code, message);
    error.hint = hint.map(String::from);
    let mut rewritten = error.into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten
}

/// The error code and hint the API uses for a bare HTTP status.
pub fn code_for_status(status: StatusCode) -> (&'static str, Option<&'static str>) {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload_too_large",
            Some("send a smaller body; the limit is [server] max_body_bytes"),
        ),
        StatusCode::REQUEST_TIMEOUT => (
            "timeout",
            Some("the request took longer than [server] request_timeout"),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            Some("see /api/v1/openapi.json for the methods each path takes"),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            Some("send `Content-Type: application/json`"),
        ),
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => (
            "bad_request",
            Some("see /api/v1/openapi.json for the request shape"),
        ),
        _ if status.is_server_error() => ("internal", None),
        _ => ("error", None),
    }
}

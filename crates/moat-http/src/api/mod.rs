//! The admin REST API under `/api/v1`, described by `/api/v1/openapi.json`, which is
//! generated from these handlers and types (utoipa) so it cannot drift from the code.

mod access;
mod audit;
mod contract;
mod evidence;
mod exceptions;
mod incidents;
mod kill_switches;
mod tokens;
mod users;
pub mod views;

use crate::AppState;
use crate::auth::{Caller, Guard, require};
use axum::routing::{get, post};
use axum::{Json, Router};
use moat_domain::Scope;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(title = "Moat admin API", description = "People, credentials, access decisions and the audit record. Every endpoint except this document and `/whoami` (any valid token) needs a token with the `admin` scope; changes need the `admin` role, reading the record `ViewAudit` (admin, security or auditor), the evidence pack `ExportEvidence` (the same roles), engaging or releasing a kill switch and handling an incident `Contain` (security or admin), reading incidents `ViewAudit`. Every error is `{\"error\": {\"code\", \"message\", \"hint\"?}}`."),
    paths(
        users::list, users::add, users::show, users::suspend, users::reactivate, users::deprovision,
        tokens::list, tokens::issue, tokens::revoke, tokens::rotate, tokens::revoke_grant, whoami,
        access::explain, access::matrix, access::unmapped,
        audit::events, audit::verify,
        exceptions::list, exceptions::request, exceptions::approve, exceptions::deny, exceptions::revoke,
        evidence::export,
        kill_switches::list, kill_switches::engage, kill_switches::release,
        incidents::list, incidents::show, incidents::open, incidents::step, incidents::note, incidents::assign,
    ),
    components(schemas(views::UserView, views::TrainingView, views::UserList, views::TokenView, views::GrantView, views::TokenList, views::IssuedTokenView, views::NewUserRequest, views::IssueTokenRequest, views::RotateTokenRequest, views::WhoAmI, views::DecisionView, views::MatrixCellView, views::MatrixView, views::UnmappedView, views::UnmappedListView, views::AuditEventsView, views::AuditVerifyView, views::AuditFailureView, views::WitnessCheckView, exceptions::ExceptionView, exceptions::ExceptionList, exceptions::ExceptionRequest, exceptions::ExceptionDecision, exceptions::ExceptionDenial, exceptions::ExceptionStatus, evidence::EvidenceRequest, kill_switches::SwitchKindView, kill_switches::KillSwitchView, kill_switches::KillSwitchList, kill_switches::KillSwitchEngage, kill_switches::KillSwitchRelease, incidents::IncidentView, incidents::IncidentList, incidents::IncidentAlertView, incidents::IncidentEntryView, incidents::IncidentDeadlineView, incidents::IncidentOpen, incidents::IncidentStep, incidents::IncidentStepKind, incidents::IncidentNote, incidents::IncidentOwner, incidents::IncidentStatus, crate::error::ErrorBody, crate::error::ErrorDetail)),
    modifiers(&SecuritySchemes),
    security(("bearer" = []), ("api_key" = [])),
)]
struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("moat_...")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))),
        );
    }
}

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub fn router(state: AppState) -> Router<AppState> {
    let admin = Router::new()
        .route("/users", get(users::list).post(users::add))
        .route("/users/{user}", get(users::show))
        .route("/users/{user}/suspend", post(users::suspend))
        .route("/users/{user}/reactivate", post(users::reactivate))
        .route("/users/{user}/deprovision", post(users::deprovision))
        .route("/tokens", get(tokens::list).post(tokens::issue))
        .route("/tokens/{token}/revoke", post(tokens::revoke))
        .route("/grants/{grant}/revoke", post(tokens::revoke_grant))
        .route("/tokens/{token}/rotate", post(tokens::rotate))
        .route("/access/explain", get(access::explain))
        .route("/access/matrix", get(access::matrix))
        .route("/access/unmapped", get(access::unmapped));
    let admin = guarded(&state, admin, Some(moat_policy::Action::Administer));
    // Reading the record is `ViewAudit`, which security and auditor roles hold too.
    let audit = Router::new()
        .route("/audit/events", get(audit::events))
        .route("/audit/verify", get(audit::verify));
    let audit = guarded(&state, audit, Some(moat_policy::Action::ViewAudit));
    // Exceptions: reading them is `ViewAudit`; asking and reviewing are decided by the
    // use case for the token's person.
    let exceptions_read = Router::new().route("/exceptions", get(exceptions::list));
    let exceptions_read = guarded(
        &state,
        exceptions_read,
        Some(moat_policy::Action::ViewAudit),
    );
    let exceptions_change = Router::new()
        .route("/exceptions", post(exceptions::request))
        .route("/exceptions/{id}/approve", post(exceptions::approve))
        .route("/exceptions/{id}/deny", post(exceptions::deny))
        .route("/exceptions/{id}/revoke", post(exceptions::revoke));
    let exceptions_change = guarded(&state, exceptions_change, None);
    // The evidence pack: `ExportEvidence` (admin, security, auditor).
    let evidence = Router::new().route("/evidence", post(evidence::export));
    let evidence = guarded(&state, evidence, Some(moat_policy::Action::ExportEvidence));
    // Kill switches: reading them is `ViewAudit`; engaging and releasing are decided by
    // the use case (`Contain`) for the token's person.
    let switches_read = Router::new().route("/kill-switches", get(kill_switches::list));
    let switches_read = guarded(&state, switches_read, Some(moat_policy::Action::ViewAudit));
    let switches_change = Router::new()
        .route("/kill-switches", post(kill_switches::engage))
        .route("/kill-switches/release", post(kill_switches::release));
    let switches_change = guarded(&state, switches_change, None);
    // Incidents: the use case decides (`ViewAudit` to read, `Contain` to change).
    let incidents = Router::new()
        .route("/incidents", get(incidents::list).post(incidents::open))
        .route("/incidents/{id}", get(incidents::show))
        .route("/incidents/{id}/steps", post(incidents::step))
        .route("/incidents/{id}/notes", post(incidents::note))
        .route("/incidents/{id}/owner", post(incidents::assign));
    let incidents = guarded(&state, incidents, None);
    let any_token = Router::new().route("/whoami", get(whoami)).route_layer(
        axum::middleware::from_fn_with_state(Guard { state, scope: None }, require),
    );
    Router::new()
        .route(
            "/openapi.json",
            get(
                |axum::extract::State(state): axum::extract::State<AppState>| async move {
                    Json(contract::document(
                        state.identity.settings().token_max_ttl_seconds,
                    ))
                },
            ),
        )
        .merge(admin)
        .merge(audit)
        .merge(exceptions_read)
        .merge(exceptions_change)
        .merge(evidence)
        .merge(switches_read)
        .merge(switches_change)
        .merge(incidents)
        .merge(any_token)
}

/// `routes` behind an admin-scoped token and, with `action`, Cedar's decision on it for
/// the token's person and the record of each read (inside the auth layer: a read is
/// recorded once the caller is known and allowed).
fn guarded(
    state: &AppState,
    routes: Router<AppState>,
    action: Option<moat_policy::Action>,
) -> Router<AppState> {
    let routes = match action {
        Some(action) => routes
            .route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                record_reads,
            ))
            .route_layer(axum::middleware::from_fn_with_state(
                (state.clone(), action),
                authorize,
            )),
        None => routes,
    };
    routes.route_layer(axum::middleware::from_fn_with_state(
        Guard {
            state: state.clone(),
            scope: Some(Scope::Admin),
        },
        require,
    ))
}

/// Cedar decides the route's action (`Administer`, or `ViewAudit` for the record) for
/// the token's person on every admin endpoint, so an organisation policy on it holds
/// here (the admin scope is checked before, by the token layer). Without an access
/// service nothing is answered: fail closed.
async fn authorize(
    axum::extract::State((state, action)): axum::extract::State<(AppState, moat_policy::Action)>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (Some(principal), Some(actor)) = (
        request
            .extensions()
            .get::<moat_service::Principal>()
            .cloned(),
        request
            .extensions()
            .get::<moat_service::AdminActor>()
            .cloned(),
    ) else {
        return crate::ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthorized",
            "no authenticated caller",
        )
        .into_response();
    };
    let Some(access) = state.access.clone() else {
        return crate::ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "access control is not configured on this server; nothing can be administered",
        )
        .into_response();
    };
    let what = request.uri().path().to_string();
    let decided = moat_service::operator::authorize(
        &access,
        &state.audit,
        &state.settings.policy_version,
        &actor,
        &moat_service::operator::Operator::Person(principal.user.id.0.clone()),
        action,
        &what,
    )
    .await;
    let span = tracing::Span::current();
    match decided {
        Ok(_) => {
            crate::trace::record_decision(&span, true, None, Some(&principal.user.id.0));
            next.run(request).await
        }
        Err(error) => {
            crate::trace::record_decision(&span, false, None, Some(&principal.user.id.0));
            crate::ApiError::from(error).into_response()
        }
    }
}

/// Records every read of administrative data before answering it; if the audit log
/// cannot record, the read is refused. Changes record themselves (requested/applied).
async fn record_reads(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if request.method() == axum::http::Method::GET {
        // The full path, as the caller sent it (nesting strips the `/api/v1` prefix).
        let uri = request
            .extensions()
            .get::<axum::extract::OriginalUri>()
            .map_or_else(|| request.uri().clone(), |original| original.0.clone());
        let what = uri
            .path_and_query()
            .map_or_else(|| uri.path().to_string(), |p| p.to_string());
        let actor = request
            .extensions()
            .get::<moat_service::AdminActor>()
            .cloned()
            .unwrap_or_default();
        if let Err(error) = state.admin().record_read(&actor, &what).await {
            return crate::ApiError::from(error).into_response();
        }
    }
    next.run(request).await
}

/// Who the presented token belongs to and what it may do; any valid token.
#[utoipa::path(get, path = "/api/v1/whoami", operation_id = "whoami", tag = "identity",
    responses((status = 200, body = views::WhoAmI), (status = 401, body = crate::error::ErrorBody)))]
async fn whoami(caller: Caller) -> Json<views::WhoAmI> {
    Json(views::WhoAmI::from(&caller.0))
}

/// A JSON body read by hand (where no body is allowed too), refused as [`ApiJson`]
/// refuses: 415 without a JSON content type, 400 for text that is not JSON, 422 for JSON
/// of the wrong shape.
fn json_body<T: serde::de::DeserializeOwned>(
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Result<T, crate::ApiError> {
    use axum::http::StatusCode;
    let json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            let t = t.trim();
            t.eq_ignore_ascii_case("application/json")
                || (t.starts_with("application/") && t.ends_with("+json"))
        });
    if !json {
        let (code, hint) = crate::error::code_for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let mut error = crate::ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code,
            "Expected request with `Content-Type: application/json`",
        );
        error.hint = hint.map(String::from);
        return Err(error);
    }
    let value = serde_json::from_slice(body).map_err(|e| {
        let (code, _) = crate::error::code_for_status(StatusCode::BAD_REQUEST);
        crate::ApiError::new(
            StatusCode::BAD_REQUEST,
            code,
            format!("invalid JSON body: {e}"),
        )
    })?;
    object_of(value)
}

/// A request body's value as `T`, which must be a JSON object (serde would also read a
/// struct from an array of its fields, which the document does not allow): 422 if not.
fn object_of<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, crate::ApiError> {
    use axum::http::StatusCode;
    let refuse = |message: String| {
        let (code, hint) = crate::error::code_for_status(StatusCode::UNPROCESSABLE_ENTITY);
        let mut error = crate::ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message);
        error.hint = hint.map(String::from);
        error
    };
    if !value.is_object() {
        return Err(refuse("the body must be a JSON object".into()));
    }
    serde_json::from_value(value).map_err(|e| refuse(format!("invalid JSON body: {e}")))
}

/// JSON bodies whose rejections use the API's error shape.
pub struct ApiJson<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = crate::ApiError;

    async fn from_request(
        request: axum::extract::Request,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match Json::<serde_json::Value>::from_request(request, state).await {
            Ok(Json(value)) => object_of(value).map(ApiJson),
            Err(rejection) => {
                let (code, hint) = crate::error::code_for_status(rejection.status());
                let mut error =
                    crate::ApiError::new(rejection.status(), code, rejection.body_text());
                error.hint = hint.map(String::from);
                Err(error)
            }
        }
    }
}

/// The access service a use case needs; 503 where the server decides no access.
fn access_of(state: &AppState) -> Result<&moat_service::Access, crate::ApiError> {
    state.access.as_deref().ok_or_else(|| {
        crate::ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "access_unavailable",
            "access decisions are not configured on this server",
        )
    })
}

/// The aliases of the gateway's models and the names of its vendors (none without a
/// gateway), which exceptions and kill switches may name.
fn models_and_vendors(state: &AppState) -> (Vec<String>, Vec<String>) {
    match state.gateway.as_ref().map(|g| g.gateway.settings()) {
        Some(g) => (
            g.models.iter().map(|m| m.alias.clone()).collect(),
            g.vendors.iter().map(|v| v.name.clone()).collect(),
        ),
        None => (Vec::new(), Vec::new()),
    }
}

/// The token's person, as the operator of a use case.
fn person(actor: &moat_service::AdminActor) -> moat_service::operator::Operator {
    moat_service::operator::Operator::Person(
        actor
            .email
            .clone()
            .or_else(|| actor.user.clone())
            .unwrap_or_default(),
    )
}

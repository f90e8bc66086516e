//! `/scim/v2`: SCIM 2.0 provisioning for the company's identity provider (Okta, Entra,
//! ...). Decodes the request, calls [`moat_service::scim::Scim`], answers
//! `application/scim+json` with ETags. Every route needs the SCIM bearer token;
//! without `[identity] scim_token_env` the whole endpoint answers 404.

use crate::AppState;
use crate::oauth::Peer;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use moat_service::AdminActor;
use moat_service::scim::{
    Answer, Caller, Kind, ListQuery, Projection, Scim, ScimError, ScimToken, split_list,
};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// The SCIM service and the token its client presents.
pub struct ScimEndpoint {
    pub service: Arc<Scim>,
    pub token: ScimToken,
}

const CONTENT_TYPE: &str = "application/scim+json";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{id}", get(resource_type))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{id}", get(schema))
        .route("/.search", post(search_all))
        .route("/{resource}", get(list).post(create))
        .route("/{resource}/.search", post(search))
        .route(
            "/{resource}/{id}",
            get(get_one).put(replace).patch(patch).delete(delete),
        )
        .fallback(not_found)
}

/// A SCIM answer: the resource (or list) as `application/scim+json`, with headers.
struct Scimmed(StatusCode, Value, Vec<(header::HeaderName, String)>);

impl IntoResponse for Scimmed {
    fn into_response(self) -> Response {
        let mut response = (self.0, self.1.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        for (name, value) in self.2 {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        response
    }
}

struct Failed(ScimError);

impl From<ScimError> for Failed {
    fn from(error: ScimError) -> Failed {
        Failed(error)
    }
}

impl IntoResponse for Failed {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut headers = Vec::new();
        if status == StatusCode::UNAUTHORIZED {
            headers.push((
                header::WWW_AUTHENTICATE,
                "Bearer realm=\"moat-scim\"".to_string(),
            ));
        }
        let mut response = Scimmed(status, self.0.body(), headers).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.extensions_mut().insert(crate::error::AuthRefused(
                moat_service::Refused::because("scim_token"),
            ));
        }
        response
    }
}

type Answered = Result<Scimmed, Failed>;

fn fail(status: u16, detail: &str) -> Failed {
    Failed(ScimError {
        status,
        scim_type: None,
        detail: detail.to_string(),
    })
}

/// The endpoint, the caller checked against the SCIM token, and where it lives.
fn authorized(
    state: &AppState,
    headers: &HeaderMap,
    peer: &Peer,
) -> Result<(Arc<ScimEndpoint>, Caller), Failed> {
    let endpoint = state
        .scim
        .clone()
        .ok_or_else(|| fail(404, "SCIM provisioning is off; set [identity] scim_token_env (or scim_token_file) and restart"))?;
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match presented {
        None => {
            return Err(fail(
                401,
                "send the SCIM token as `Authorization: Bearer ...`",
            ));
        }
        Some(token) if !endpoint.token.admits(token) => {
            tracing::warn!(address = ?peer.address(), "SCIM request with a wrong token refused");
            return Err(fail(
                401,
                "wrong SCIM token; it is the value of [identity] scim_token_env",
            ));
        }
        Some(_) => {}
    }
    let base = crate::mcp_routes::public_url(state, headers).map_err(|e| fail(403, &e.message))?;
    let caller = Caller {
        base: format!("{base}/scim/v2"),
        actor: AdminActor {
            client: "scim".into(),
            address: peer.address().map(|a| a.ip().to_string()),
            ..AdminActor::default()
        },
    };
    Ok((endpoint, caller))
}

fn json_body(body: &Bytes) -> Result<Value, Failed> {
    serde_json::from_slice(body).map_err(|e| {
        Failed(ScimError::bad_request(
            "invalidSyntax",
            format!("the body is not JSON: {e}"),
        ))
    })
}

fn if_match(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok())
}

fn projection(query: &HashMap<String, String>) -> Projection {
    Projection {
        attributes: query
            .get("attributes")
            .map(|a| split_list(a))
            .unwrap_or_default(),
        excluded: query
            .get("excludedAttributes")
            .map(|a| split_list(a))
            .unwrap_or_default(),
    }
}

fn list_query(query: &HashMap<String, String>) -> Result<ListQuery, Failed> {
    let number = |key: &str| -> Result<Option<i64>, Failed> {
        query
            .get(key)
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    Failed(ScimError::bad_request(
                        "invalidValue",
                        format!("`{key}` must be a whole number"),
                    ))
                })
            })
            .transpose()
    };
    Ok(ListQuery {
        filter: query.get("filter").cloned(),
        sort_by: query.get("sortBy").cloned(),
        descending: query
            .get("sortOrder")
            .is_some_and(|o| o.eq_ignore_ascii_case("descending")),
        start_index: number("startIndex")?,
        count: number("count")?,
        projection: projection(query),
    })
}

/// A single resource, answered with its ETag, 304 when `If-None-Match` names it.
fn resource_answer(
    status: StatusCode,
    answer: Answer,
    headers: &HeaderMap,
    location: bool,
) -> Scimmed {
    let not_modified = status == StatusCode::OK
        && headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|tags| tags.split(',').any(|t| t.trim() == answer.etag));
    let mut out = vec![(header::ETAG, answer.etag.clone())];
    if location && let Some(at) = answer.resource["meta"]["location"].as_str() {
        out.push((header::LOCATION, at.to_string()));
    }
    if not_modified {
        return Scimmed(StatusCode::NOT_MODIFIED, Value::Null, out);
    }
    Scimmed(status, answer.resource, out)
}

async fn not_found(State(state): State<AppState>, headers: HeaderMap, peer: Peer) -> Answered {
    authorized(&state, &headers, &peer)?;
    Err(fail(
        404,
        "no such SCIM endpoint; see /scim/v2/ResourceTypes",
    ))
}

async fn service_provider_config(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Peer,
) -> Answered {
    let (scim, caller) = authorized(&state, &headers, &peer)?;
    Ok(Scimmed(
        StatusCode::OK,
        scim.service.service_provider_config(&caller.base),
        vec![],
    ))
}

fn listed(items: Vec<Value>) -> Value {
    serde_json::json!({
        "schemas": [moat_service::scim::schema::LIST],
        "totalResults": items.len(),
        "startIndex": 1,
        "itemsPerPage": items.len(),
        "Resources": items,
    })
}

async fn resource_types(State(state): State<AppState>, headers: HeaderMap, peer: Peer) -> Answered {
    let (scim, caller) = authorized(&state, &headers, &peer)?;
    Ok(Scimmed(
        StatusCode::OK,
        listed(scim.service.resource_types(&caller.base)),
        vec![],
    ))
}

async fn resource_type(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Peer,
    Path(id): Path<String>,
) -> Answered {
    let (scim, caller) = authorized(&state, &headers, &peer)?;
    let found = scim
        .service
        .resource_types(&caller.base)
        .into_iter()
        .find(|r| r["id"] == id.as_str());
    found
        .map(|r| Scimmed(StatusCode::OK, r, vec![]))
        .ok_or_else(|| fail(404, "no such resource type; there are User and Group"))
}

async fn schemas(State(state): State<AppState>, headers: HeaderMap, peer: Peer) -> Answered {
    let (scim, caller) = authorized(&state, &headers, &peer)?;
    Ok(Scimmed(
        StatusCode::OK,
        listed(scim.service.schemas(&caller.base)),
        vec![],
    ))
}

async fn schema(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Peer,
    Path(id): Path<String>,
) -> Answered {
    let (scim, caller) = authorized(&state, &headers, &peer)?;
    let found = scim
        .service
        .schemas(&caller.base)
        .into_iter()
        .find(|s| s["id"] == id.as_str());
    found
        .map(|s| Scimmed(StatusCode::OK, s, vec![]))
        .ok_or_else(|| fail(404, "no such schema; see /scim/v2/Schemas"))
}

/// The resource endpoint a path names, or 404.
fn kind(segment: &str) -> Result<Kind, Failed> {
    Kind::from_path(segment)
        .ok_or_else(|| fail(404, "no such SCIM endpoint; see /scim/v2/ResourceTypes"))
}

async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Peer,
    Path(resource): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Answered {
    let kind = kind(&resource)?;
    let (scim, caller) = authorized(&state, &headers, &peer)?;
    let page = scim
        .service
        .list(kind, &caller.base, &list_query(&query)?)
        .await?;
    Ok(Scimmed(StatusCode::OK, page, vec![]))
}

async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Peer,
    Path(resource): Path<String>,
    body: Bytes,
) -> Answered {
    let kind = kind(&resource)?;
    let (scim, caller) = authorized(&state, &headers, &peer)?;
    let query = ListQuery::from_search(&json_body(&body)?)?;
    let page = scim.service.list(kind, &caller.base, &query).await?;
    Ok(Scimmed(StatusCode::OK, page, vec![]))
}

async fn get_one(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Peer,
    Path((resource, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Answered {
    let kind = kind(&resource)?;
    let (scim, caller) = authorized(&state, &headers, &peer)?;
    let answer = scim
        .service
        .get(kind, &caller.base, &id, &projection(&query))
        .await?;
    Ok(resource_answer(StatusCode::OK, answer, &headers, false))
}

async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Peer,
    Path(resource): Path<String>,
    body: Bytes,
) -> Answered {
    let kind = kind(&resource)?;
    let (scim, caller) = authorized(&state, &headers, &peer)?;
    let answer = scim
        .service
        .create(kind, &caller, json_body(&body)?)
        .await?;
    Ok(resource_answer(StatusCode::CREATED, answer, &headers, true))
}

async fn replace(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Peer,
    Path((resource, id)): Path<(String, String)>,
    body: Bytes,
) -> Answered {
    let kind = kind(&resource)?;
    let (scim, caller) = authorized(&state, &headers, &peer)?;
    let answer = scim
        .service
        .replace(kind, &caller, &id, json_body(&body)?, if_match(&headers))
        .await?;
    Ok(resource_answer(StatusCode::OK, answer, &headers, false))
}

async fn patch(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Peer,
    Path((resource, id)): Path<(String, String)>,
    body: Bytes,
) -> Answered {
    let kind = kind(&resource)?;
    let (scim, caller) = authorized(&state, &headers, &peer)?;
    let answer = scim
        .service
        .patch(kind, &caller, &id, json_body(&body)?, if_match(&headers))
        .await?;
    Ok(resource_answer(StatusCode::OK, answer, &headers, false))
}

async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Peer,
    Path((resource, id)): Path<(String, String)>,
) -> Result<StatusCode, Failed> {
    let kind = kind(&resource)?;
    let (scim, caller) = authorized(&state, &headers, &peer)?;
    scim.service
        .delete(kind, &caller, &id, if_match(&headers))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn search_all(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Peer,
    body: Bytes,
) -> Answered {
    let (scim, caller) = authorized(&state, &headers, &peer)?;
    let query = ListQuery::from_search(&json_body(&body)?)?;
    Ok(Scimmed(
        StatusCode::OK,
        scim.service.search_all(&caller.base, &query).await?,
        vec![],
    ))
}

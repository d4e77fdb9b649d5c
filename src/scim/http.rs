//! The HTTP side (axum): routes, bearer tokens, body limits, logs and
//! metrics. Requests become [`Directory`] calls on the blocking pool, one
//! writer at a time; every answer is SCIM JSON (`application/scim+json`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use subtle::ConstantTimeEq;
use tokio::sync::Notify;

use super::config::Config;
use super::directory::{Directory, ListQuery};
use super::discovery;
use super::error::{ScimError, ScimType};
use super::metrics::Metrics;
use super::schema::Kind;
use super::store::{Query as _, Store};
use crate::time::UnixTime;

/// Everything a request may touch.
pub struct Service {
    pub config: Config,
    pub store: Mutex<Store>,
    /// Woken after every committed change; the publisher waits on it.
    pub changed: Notify,
    pub metrics: Metrics,
}

const SCIM_JSON: &str = "application/scim+json";

pub fn router(service: Arc<Service>) -> Router {
    let max_body = service.config.limits.max_body_bytes;
    let scim = Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{name}", get(resource_type))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{urn}", get(schema))
        .route("/Users", get(list_users).post(create_user))
        .route(
            "/Users/{id}",
            get(get_user)
                .put(put_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .route("/Groups", get(list_groups).post(create_group))
        .route(
            "/Groups/{id}",
            get(get_group)
                .put(put_group)
                .patch(patch_group)
                .delete(delete_group),
        )
        // POST /.search (RFC 7644 §3.4.3) is optional and not offered.
        .route("/.search", post(search))
        .route("/Users/.search", post(search))
        .route("/Groups/.search", post(search))
        .fallback(|| async { scim_error(ScimError::not_found("no such endpoint")) })
        .layer(middleware::from_fn_with_state(
            service.clone(),
            authenticate,
        ))
        .layer(DefaultBodyLimit::max(max_body));
    Router::new()
        .nest("/scim/v2", scim)
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(service)
}

/// Checks the bearer token against every connection's digests (all of them,
/// in constant time each), then logs and counts the request under the
/// connection's name.
async fn authenticate(State(s): State<Arc<Service>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| Sha256::digest(t.trim().as_bytes()));
    let mut caller = None;
    if let Some(digest) = presented {
        for c in &s.config.connections {
            for known in &c.token_digests {
                if bool::from(known.ct_eq(digest.as_slice())) {
                    caller = Some(c.name.clone());
                }
            }
        }
    }
    let (name, response) = match caller {
        Some(name) => (name, next.run(request).await),
        None => {
            let mut r = scim_error(ScimError::status(401, "a valid bearer token is required"));
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            ("-".to_owned(), r)
        }
    };
    let status = response.status().as_u16();
    s.metrics.request(&name, method.as_str(), status);
    tracing::info!(
        connection = %name,
        method = %method,
        path = %path,
        status,
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

fn scim_error(e: ScimError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::error!(detail = %e.detail, "request failed");
    }
    scim_json(status, &e.to_json())
}

fn scim_json(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    r
}

fn answer(result: Result<Value, ScimError>, status: StatusCode) -> Response {
    match result {
        Ok(v) => {
            let location = v
                .pointer("/meta/location")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let mut r = scim_json(status, &v);
            if status == StatusCode::CREATED
                && let Some(l) = location.and_then(|l| HeaderValue::from_str(&l).ok())
            {
                r.headers_mut().insert(header::LOCATION, l);
            }
            r
        }
        Err(e) => scim_error(e),
    }
}

/// A body as JSON: 413 over the limit, 400 invalidSyntax when not JSON.
fn body_json(body: Body, max: usize) -> Result<Value, ScimError> {
    let bytes = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ScimError::status(413, format!("the body is larger than {max} bytes"))
        }
        s => ScimError::status(s.as_u16(), e.body_text()),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ScimError::new(
            ScimType::InvalidSyntax,
            format!("the body is not JSON: {e}"),
        )
    })
}

fn now() -> UnixTime {
    super::now()
}

/// Runs `f` on the blocking pool with the store locked; wakes the publisher
/// after a write that was committed.
async fn with_store<T: Send + 'static>(
    s: &Arc<Service>,
    writes: bool,
    f: impl FnOnce(&Directory<'_>, &mut Store) -> Result<T, ScimError> + Send + 'static,
) -> Result<T, ScimError> {
    let service = s.clone();
    let out = tokio::task::spawn_blocking(move || {
        let mut store = service.store.lock().unwrap_or_else(|p| p.into_inner());
        f(
            &Directory {
                config: &service.config,
            },
            &mut store,
        )
    })
    .await
    .map_err(|e| ScimError::status(500, format!("the request's task failed: {e}")))?;
    if writes && out.is_ok() {
        s.changed.notify_one();
    }
    out
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Params {
    filter: Option<String>,
    start_index: Option<i64>,
    count: Option<i64>,
    attributes: Option<String>,
    excluded_attributes: Option<String>,
}

impl From<Params> for ListQuery {
    fn from(p: Params) -> Self {
        ListQuery {
            filter: p.filter,
            start_index: p.start_index,
            count: p.count,
            attributes: p.attributes,
            excluded_attributes: p.excluded_attributes,
        }
    }
}

async fn list(s: Arc<Service>, kind: Kind, params: ParamsResult) -> Response {
    let q: ListQuery = match params {
        Ok(Query(p)) => p.into(),
        Err(e) => return scim_error(ScimError::new(ScimType::InvalidValue, e.body_text())),
    };
    answer(
        with_store(&s, false, move |d, st| d.list(st, kind, &q)).await,
        StatusCode::OK,
    )
}

async fn fetch(s: Arc<Service>, kind: Kind, id: String, params: ParamsResult) -> Response {
    let q: ListQuery = match params {
        Ok(Query(p)) => p.into(),
        Err(e) => return scim_error(ScimError::new(ScimType::InvalidValue, e.body_text())),
    };
    answer(
        with_store(&s, false, move |d, st| d.get(st, kind, &id, &q)).await,
        StatusCode::OK,
    )
}

async fn create(s: Arc<Service>, kind: Kind, body: Body) -> Response {
    let body = match body_json(body, s.config.limits.max_body_bytes) {
        Ok(b) => b,
        Err(e) => return scim_error(e),
    };
    answer(
        with_store(&s, true, move |d, st| d.create(st, kind, body, now())).await,
        StatusCode::CREATED,
    )
}

async fn put(s: Arc<Service>, kind: Kind, id: String, body: Body) -> Response {
    let body = match body_json(body, s.config.limits.max_body_bytes) {
        Ok(b) => b,
        Err(e) => return scim_error(e),
    };
    answer(
        with_store(&s, true, move |d, st| d.replace(st, kind, &id, body, now())).await,
        StatusCode::OK,
    )
}

async fn patch(s: Arc<Service>, kind: Kind, id: String, body: Body) -> Response {
    let body = match body_json(body, s.config.limits.max_body_bytes) {
        Ok(b) => b,
        Err(e) => return scim_error(e),
    };
    answer(
        with_store(&s, true, move |d, st| d.patch(st, kind, &id, &body, now())).await,
        StatusCode::OK,
    )
}

async fn delete(s: Arc<Service>, kind: Kind, id: String) -> Response {
    match with_store(&s, true, move |d, st| d.delete(st, kind, &id)).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => scim_error(e),
    }
}

type Body = Result<Bytes, axum::extract::rejection::BytesRejection>;
type ParamsResult = Result<Query<Params>, axum::extract::rejection::QueryRejection>;

async fn list_users(State(s): State<Arc<Service>>, p: ParamsResult) -> Response {
    list(s, Kind::User, p).await
}
async fn list_groups(State(s): State<Arc<Service>>, p: ParamsResult) -> Response {
    list(s, Kind::Group, p).await
}
async fn get_user(
    State(s): State<Arc<Service>>,
    Path(id): Path<String>,
    p: ParamsResult,
) -> Response {
    fetch(s, Kind::User, id, p).await
}
async fn get_group(
    State(s): State<Arc<Service>>,
    Path(id): Path<String>,
    p: ParamsResult,
) -> Response {
    fetch(s, Kind::Group, id, p).await
}
async fn create_user(State(s): State<Arc<Service>>, b: Body) -> Response {
    create(s, Kind::User, b).await
}
async fn create_group(State(s): State<Arc<Service>>, b: Body) -> Response {
    create(s, Kind::Group, b).await
}
async fn put_user(State(s): State<Arc<Service>>, Path(id): Path<String>, b: Body) -> Response {
    put(s, Kind::User, id, b).await
}
async fn put_group(State(s): State<Arc<Service>>, Path(id): Path<String>, b: Body) -> Response {
    put(s, Kind::Group, id, b).await
}
async fn patch_user(State(s): State<Arc<Service>>, Path(id): Path<String>, b: Body) -> Response {
    patch(s, Kind::User, id, b).await
}
async fn patch_group(State(s): State<Arc<Service>>, Path(id): Path<String>, b: Body) -> Response {
    patch(s, Kind::Group, id, b).await
}
async fn delete_user(State(s): State<Arc<Service>>, Path(id): Path<String>) -> Response {
    delete(s, Kind::User, id).await
}
async fn delete_group(State(s): State<Arc<Service>>, Path(id): Path<String>) -> Response {
    delete(s, Kind::Group, id).await
}

async fn service_provider_config(State(s): State<Arc<Service>>) -> Response {
    let c = &s.config;
    scim_json(
        StatusCode::OK,
        &discovery::service_provider_config(&c.base_url, c.limits.max_results as u32),
    )
}
async fn resource_types(State(s): State<Arc<Service>>) -> Response {
    scim_json(
        StatusCode::OK,
        &discovery::resource_types(&s.config.base_url),
    )
}
async fn resource_type(State(s): State<Arc<Service>>, Path(name): Path<String>) -> Response {
    match discovery::resource_type(&s.config.base_url, &name) {
        Some(v) => scim_json(StatusCode::OK, &v),
        None => scim_error(ScimError::not_found(format!("resource type {name:?}"))),
    }
}
async fn schemas(State(s): State<Arc<Service>>) -> Response {
    scim_json(StatusCode::OK, &discovery::schemas(&s.config.base_url))
}
async fn schema(State(s): State<Arc<Service>>, Path(urn): Path<String>) -> Response {
    match discovery::schema(&s.config.base_url, &urn) {
        Some(v) => scim_json(StatusCode::OK, &v),
        None => scim_error(ScimError::not_found(format!("schema {urn:?}"))),
    }
}

async fn search() -> Response {
    scim_error(ScimError::status(
        501,
        "POST .search is not supported: use GET with filter",
    ))
}

/// 200 when the database answers.
async fn healthz(State(s): State<Arc<Service>>) -> Response {
    let service = s.clone();
    let ok = tokio::task::spawn_blocking(move || {
        let store = service.store.lock().unwrap_or_else(|p| p.into_inner());
        store.read().change().is_ok()
    })
    .await
    .unwrap_or(false);
    match ok {
        true => (StatusCode::OK, "ok\n").into_response(),
        false => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response(),
    }
}

async fn metrics(State(s): State<Arc<Service>>, _: HeaderMap, _: Method) -> Response {
    let mut r = s.metrics.render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    r
}

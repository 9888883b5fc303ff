//! Layers around every route: request ids, structured request logs,
//! latency metrics, security headers, CORS, body limits, panic capture.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tracing::Instrument;

use crate::error::ApiError;
use crate::metrics::HttpLabels;
use crate::state::AppState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Times the request and records it by route template, and logs it with
/// its request id.
pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let request_id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let span = tracing::info_span!("request", %method, %route, request_id = %request_id);
    let context = crate::audit::RequestContext {
        address: request
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|axum::extract::ConnectInfo(address)| address.ip().to_string()),
        request_id: (!request_id.is_empty()).then(|| request_id.clone()),
    };
    let response = crate::audit::within(context, next.run(request).instrument(span.clone())).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state.metrics.observe_request(
        HttpLabels { method: method.to_string(), route: route.clone(), status },
        elapsed.as_secs_f64(),
    );
    span.in_scope(|| {
        tracing::info!(status, latency_ms = elapsed.as_secs_f64() * 1000.0, "Request served.");
    });
    response
}

/// Headers that keep browsers from misusing API responses.
pub fn security_headers() -> Vec<SetResponseHeaderLayer<HeaderValue>> {
    [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CONTENT_SECURITY_POLICY, "default-src 'none'; frame-ancestors 'none'"),
        (header::STRICT_TRANSPORT_SECURITY, "max-age=63072000"),
        (header::CACHE_CONTROL, "no-store"),
    ]
    .into_iter()
    .map(|(name, value)| SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value)))
    .collect()
}

/// CORS for the configured origins (`*` for any; none by default).
pub fn cors(origins: &[String]) -> CorsLayer {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("last-event-id")])
        .expose_headers([REQUEST_ID, header::RETRY_AFTER, header::CONTENT_RANGE])
        .max_age(std::time::Duration::from_secs(600))
}

/// A panicking handler answers 500 in the API's error shape; the panic is logged.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown panic".to_owned());
    ApiError::internal("the request failed inside the server", &detail).into_response()
}

/// Unknown paths answer 404 in the API's error shape.
pub async fn not_found(request: Request) -> ApiError {
    ApiError::not_found(format!(
        "no route {} {}; the API is described at /api/v1/openapi.json",
        request.method(),
        request.uri().path()
    ))
}

/// Known paths with the wrong method.
pub async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}; see /api/v1/openapi.json", request.method(), request.uri().path()),
    )
}

//! Hangar's REST API on axum: accounts and JWT auth with roles, stored
//! pipelines, runs with live Server-Sent Events, uploads and downloads,
//! cron schedules, health and Prometheus metrics, described by an OpenAPI
//! document generated from the handlers. The binary builds an
//! [`AppState`] around an engine and serves [`router`].

pub mod audit;
pub mod auth;
pub mod console;
pub mod error;
pub mod limits;
pub mod metrics;
pub mod middleware;
pub mod notify;
pub mod openapi;
pub mod routes;
pub mod state;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa::OpenApi;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

pub use auth::tokens::{Claims, TokenKeys, random_secret};
pub use auth::{Permission, Role};
pub use error::ApiError;
pub use routes::auth::new_user;
pub use routes::keys::{KeyRequest, validate as validate_key};
pub use state::{ApiConfig, AppState, RateLimit};

/// The routes under `/api/v1`, with their OpenAPI description.
fn api_routes(state: &AppState) -> OpenApiRouter<AppState> {
    use routes::{
        audit, auth, events, generate, keys, models, pipelines, roots, runs, schedules, session, two_factor, uploads,
        users, webhooks,
    };
    let upload_limit = usize::try_from(state.config.upload_limit).unwrap_or(usize::MAX).saturating_add(1 << 20);
    OpenApiRouter::new()
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(session::start, session::current, session::end))
        .routes(routes!(users::me, users::update_me))
        .routes(routes!(users::list))
        .routes(routes!(users::update))
        .routes(routes!(keys::create, keys::list))
        .routes(routes!(keys::revoke))
        .routes(routes!(two_factor::status, two_factor::enrol, two_factor::remove))
        .routes(routes!(two_factor::confirm))
        .routes(routes!(two_factor::reset))
        .routes(routes!(two_factor::required_roles, two_factor::set_required_roles))
        .routes(routes!(audit::list))
        .routes(routes!(webhooks::create, webhooks::list))
        .routes(routes!(webhooks::delete))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::allowed_hosts, webhooks::set_allowed_hosts))
        .routes(routes!(pipelines::create, pipelines::list))
        .routes(routes!(pipelines::detail, pipelines::delete))
        .routes(routes!(runs::create))
        .routes(routes!(runs::list))
        .routes(routes!(runs::detail))
        .routes(routes!(runs::cancel))
        .routes(routes!(runs::retry))
        .routes(routes!(runs::logs))
        .routes(routes!(runs::output))
        .routes(routes!(events::stream_events))
        .routes(routes!(uploads::create, uploads::list).layer(DefaultBodyLimit::max(upload_limit)))
        .routes(routes!(uploads::download))
        .routes(routes!(roots::list))
        .routes(routes!(schedules::list, schedules::create))
        .routes(routes!(schedules::delete, schedules::update))
        .routes(routes!(models::list))
        .routes(routes!(models::detail))
        .routes(routes!(models::versions))
        .routes(routes!(models::set_alias, models::delete_alias))
        .routes(routes!(models::rollback))
        .routes(routes!(models::delete_version))
        .routes(routes!(generate::generate))
}

/// The OpenAPI document of the whole API.
pub fn openapi(state: &AppState) -> utoipa::openapi::OpenApi {
    let (_, document) = assemble(state).split_for_parts();
    document
}

fn assemble(state: &AppState) -> OpenApiRouter<AppState> {
    use routes::ops;
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .nest("/api/v1", api_routes(state))
        .routes(routes!(ops::health))
        .routes(routes!(ops::ready))
        .routes(routes!(ops::metrics))
        .routes(routes!(routes::generate::completions))
        .routes(routes!(routes::generate::chat_completions))
        .routes(routes!(routes::generate::list_models))
        .routes(routes!(routes::generate::retrieve_model))
}

/// The whole service: API, operations endpoints, OpenAPI document, and
/// the layers every request passes through.
pub fn router(state: AppState) -> Router {
    let (router, document) = assemble(&state).split_for_parts();
    let document = std::sync::Arc::new(document);
    let router = router
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let document = document.clone();
                async move { axum::Json(document.as_ref().clone()) }
            }),
        )
        .merge(console::routes())
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::observe))
        .layer(DefaultBodyLimit::max(state.config.body_limit));
    let mut router = router.with_state(state.clone());
    for header in middleware::security_headers() {
        router = router.layer(header);
    }
    router
        .layer(middleware::cors(&state.config.cors_origins))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(PropagateRequestIdLayer::new(middleware::REQUEST_ID))
        .layer(SetRequestIdLayer::new(middleware::REQUEST_ID, MakeRequestUuid))
}

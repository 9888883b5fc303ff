//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Hangar API",
        description = "Pipelines, runs, uploads and schedules of a Hangar server. Sign in with \
            POST /api/v1/auth/login and send `Authorization: Bearer ACCESS_TOKEN`.",
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Accounts and tokens"),
        (name = "users", description = "Profiles and account management"),
        (name = "keys", description = "Personal API keys: scoped, expiring, revocable"),
        (name = "webhooks", description = "Signed webhook notifications of run ends and task failures, with a delivery log"),
        (name = "two-factor", description = "Two-factor sign-in (TOTP) and the roles that must use it"),
        (name = "audit", description = "The append-only audit log, for administrators"),
        (name = "pipelines", description = "Stored, versioned pipelines"),
        (name = "runs", description = "Runs, their tasks, logs, outputs and live events"),
        (name = "data", description = "Uploads and downloads"),
        (name = "schedules", description = "Cron schedules"),
        (name = "models", description = "The model registry: versions, metrics, aliases"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".to_owned());
        scheme.description = Some(
            "An access token from POST /api/v1/auth/login (a JWT), or a personal API key (`hk_...`) whose \
             scopes cover the route"
                .to_owned(),
        );
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

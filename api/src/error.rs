//! The one error shape every route answers with:
//! `{"error": {"code": "...", "message": "..."}}`. Internal failures are
//! logged with their detail and answered with a generic message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// A refused or failed request.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra fields next to `code` and `message` (e.g. `diagnostics`).
    pub details: Option<Box<serde_json::Value>>,
    /// Seconds to wait, for 429.
    pub retry_after: Option<u64>,
    /// How the console says it: the message speaks of API calls, a console
    /// reader is pointed to a page instead.
    pub console: Option<Box<ConsoleHint>>,
}

/// An error's words for a console reader: what failed, and a page to go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleHint {
    pub message: String,
    /// `(path, link text)`.
    pub link: Option<(String, String)>,
}

/// The JSON body of an error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `bad_request`, `unauthorized`, `forbidden`,
    /// `not_found`, `conflict`, `invalid`, `invalid_pipeline`, `payload_too_large`,
    /// `rate_limited`, `unavailable`, `internal`.
    pub code: String,
    /// For people: what failed and what to do.
    pub message: String,
    /// For `invalid_pipeline`: every problem with its line and column.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub diagnostics: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: None, retry_after: None, console: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }

    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests; retry in {retry_after} s"),
            )
        }
    }

    /// A failure of ours: the detail goes to the log, not to the client.
    pub fn internal(context: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %error, "{context}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("{context}; the server log has the details"))
    }

    /// Replaces the message, keeping status and code.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// What the console shows instead of the API's message: `message`, and
    /// a link to `path` reading `label`.
    #[must_use]
    pub fn in_console(mut self, message: impl Into<String>, path: impl Into<String>, label: impl Into<String>) -> Self {
        self.console = Some(Box::new(ConsoleHint { message: message.into(), link: Some((path.into(), label.into())) }));
        self
    }

    /// The message for a console reader.
    pub fn console_message(&self) -> &str {
        self.console.as_ref().map_or(&self.message, |hint| &hint.message)
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(Box::new(details));
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                diagnostics: self.details.map(|d| *d),
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<hangar_engine::StoreError> for ApiError {
    fn from(error: hangar_engine::StoreError) -> Self {
        ApiError::internal("the database failed", &error)
    }
}

impl From<hangar_accounts::AccountError> for ApiError {
    fn from(error: hangar_accounts::AccountError) -> Self {
        ApiError::internal("the account store failed", &error)
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        let status = rejection.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "payload_too_large"
        } else if status == StatusCode::UNPROCESSABLE_ENTITY {
            "invalid"
        } else {
            "bad_request"
        };
        ApiError::new(
            status,
            code,
            format!("{}; send a JSON body as the API document describes", rejection.body_text()),
        )
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::bad_request(format!("bad query string: {}", rejection.body_text()))
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
        ApiError::bad_request(format!("bad path: {}", rejection.body_text()))
    }
}

/// `Json` whose rejections use the API's error shape.
#[derive(Debug, axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `Query` whose rejections use the API's error shape.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// `Path` whose rejections use the API's error shape.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

pub type ApiResult<T> = Result<T, ApiError>;

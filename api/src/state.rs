//! What every handler shares: the engine, the accounts, the configuration,
//! the signing keys, the rate limiter and the metrics.

use std::sync::Arc;
use std::time::Duration;

use hangar_accounts::Accounts;
use hangar_engine::{Engine, Store};

use crate::auth::tokens::TokenKeys;
use crate::limits::RateLimiter;
use crate::metrics::Metrics;

/// Requests per second and burst allowed to one user (or one address
/// before signing in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

/// How the server behaves; the binary fills it from flags and environment.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// HS256 signing secret of access tokens (at least 32 bytes).
    pub jwt_secret: Vec<u8>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Lifetime of a browser session (the console's cookie).
    pub session_ttl: Duration,
    /// Whether the session cookie is marked `Secure` (sent over HTTPS only).
    pub secure_cookies: bool,
    /// Largest JSON or YAML request body, bytes.
    pub body_limit: usize,
    /// Largest upload, bytes (all files of one request).
    pub upload_limit: u64,
    /// `None` turns rate limiting off.
    pub rate_limit: Option<RateLimit>,
    /// Origins allowed by CORS; empty allows none, `*` any.
    pub cors_origins: Vec<String>,
    /// Whether anyone may create an account with `POST /auth/register`.
    pub allow_registration: bool,
    /// Failed sign-ins allowed per account and per address before each
    /// further attempt waits (doubling up to a quarter of an hour).
    pub login_failures_allowed: u32,
    /// How long audit rows are kept; `None` keeps them for ever.
    pub audit_retention: Option<Duration>,
    /// How webhook deliveries are retried.
    pub webhook_retry: crate::notify::RetryPolicy,
    /// How long finished deliveries stay in the delivery log.
    pub webhook_log_retention: Duration,
}

impl ApiConfig {
    /// Defaults around a secret: 15-minute access tokens, 30-day refresh
    /// tokens, 12-hour browser sessions, 2 MiB bodies, 1 GiB uploads, 50 requests/s with bursts of 100.
    pub fn with_secret(jwt_secret: Vec<u8>) -> Self {
        Self {
            jwt_secret,
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            session_ttl: Duration::from_secs(12 * 3600),
            secure_cookies: false,
            body_limit: 2 << 20,
            upload_limit: 1 << 30,
            rate_limit: Some(RateLimit { per_second: 50, burst: 100 }),
            cors_origins: Vec::new(),
            allow_registration: true,
            login_failures_allowed: 5,
            audit_retention: Some(Duration::from_secs(365 * 24 * 3600)),
            webhook_retry: crate::notify::RetryPolicy::default(),
            webhook_log_retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// Shared by all handlers; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub engine: Engine,
    /// Accounts, keys, two-factor sign-in and the audit log.
    pub accounts: Accounts,
    pub config: ApiConfig,
    pub tokens: TokenKeys,
    pub limiter: Option<RateLimiter>,
    pub metrics: Metrics,
    pub logins: crate::auth::throttle::LoginThrottle,
    /// Whoever runs the models; unset, the generation routes answer 503.
    pub inference: std::sync::OnceLock<Arc<dyn hangar_sdk::Inference>>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(engine: Engine, accounts: Accounts, config: ApiConfig) -> Self {
        let tokens = TokenKeys::new(&config.jwt_secret, config.access_ttl, config.refresh_ttl);
        let limiter = config.rate_limit.map(RateLimiter::new);
        let logins = crate::auth::throttle::LoginThrottle::new(config.login_failures_allowed);
        Self(Arc::new(Inner {
            logins,
            engine,
            accounts,
            config,
            tokens,
            limiter,
            metrics: Metrics::new(),
            inference: std::sync::OnceLock::new(),
        }))
    }

    /// Serves registered models with `inference` (once; later calls are ignored).
    pub fn set_inference(&self, inference: Arc<dyn hangar_sdk::Inference>) {
        let _ = self.inference.set(inference);
    }

    pub fn store(&self) -> &dyn Store {
        self.engine.store().as_ref()
    }

    /// Coordinates a run in this process until it ends (workers, here or
    /// elsewhere, execute its tasks). If this process dies, another adopts it.
    pub fn launch(&self, run_id: &str) {
        let engine = self.engine.clone();
        let run_id = run_id.to_owned();
        tokio::spawn(async move {
            match engine.coordinate(&run_id).await {
                Ok(status) => tracing::info!(run = %run_id, status = %status, "Run finished."),
                Err(hangar_engine::EngineError::RunBusy { .. }) => {}
                Err(err) => tracing::warn!(run = %run_id, error = %err, "Could not coordinate the run."),
            }
        });
    }
}

//! `hangar serve`: the REST API, the cron scheduler, run adoption and
//! (unless `--no-workers`) embedded workers, in one process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hangar_api::{ApiConfig, AppState, RateLimit};
use hangar_engine::WorkerOptions;
use hangar_engine::clock::SystemClock;
use hangar_sdk::CancellationToken;
use tokio::signal::unix::{SignalKind, signal};

use super::exit;
use crate::cli::ServeArgs;
use crate::home::Home;

/// Bytes of a signing secret, at least.
const MIN_SECRET_BYTES: usize = 32;
/// How long open streams may delay shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A count from the environment: `default` when unset, at least `min`.
fn count_var(name: &str, default: usize, min: usize) -> Result<usize> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= min)
            .with_context(|| format!("{name}={text:?} must be a number of at least {min}")),
    }
}

pub async fn run(args: &ServeArgs, home: &Home) -> Result<u8> {
    let config = config_from_env(home)?;
    let store = home.store().await?;
    let accounts = home.accounts(&store);
    let mut engine = home.engine_over(store, crate::registry()?)?.with_quotas(crate::home::quotas_from_env()?);
    if !args.in_process {
        engine = engine.with_isolation(super::task_exec::isolation(home)?);
    }
    let listener = tokio::net::TcpListener::bind(&args.bind)
        .await
        .with_context(|| format!("cannot listen on {}; choose another address with --bind", args.bind))?;
    let address = listener.local_addr().context("cannot read the listening address")?;
    let state = AppState::new(engine.clone(), accounts, config);
    let pool = hangar_train::infer::ModelPool::new(
        engine.artifacts().clone(),
        home.dir.join("models"),
        // Weights kept loaded, requests decoded together, requests waiting: per model.
        bytes_var("HANGAR_MODEL_MEMORY")?.unwrap_or(4 << 30),
        count_var("HANGAR_MAX_BATCH", 8, 1)?,
    )
    .with_max_waiting(count_var("HANGAR_MAX_QUEUE", 256, 0)?)
    .with_weights(serve_weights()?);
    state.set_inference(std::sync::Arc::new(pool));
    let app = hangar_api::router(state.clone());

    let shutdown = CancellationToken::new();
    let mut background = tokio::task::JoinSet::new();
    if !args.no_workers {
        let options = WorkerOptions {
            concurrency: args.concurrency.unwrap_or_else(|| WorkerOptions::default().concurrency),
            labels: args.labels.iter().map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()).collect(),
        };
        let (engine, shutdown) = (engine.clone(), shutdown.clone());
        background.spawn(async move { engine.run_workers(options, shutdown).await });
    }
    {
        let (engine, shutdown) = (engine.clone(), shutdown.clone());
        background.spawn(async move { engine.adopt_orphans(shutdown).await });
    }
    {
        let (state, shutdown) = (state.clone(), shutdown.clone());
        background.spawn(async move { hangar_api::audit::prune_periodically(state, shutdown).await });
    }
    {
        let (state, shutdown) = (state.clone(), shutdown.clone());
        background.spawn(async move { hangar_api::notify::run(state, shutdown).await });
    }
    if !args.no_scheduler {
        let (engine, shutdown) = (engine.clone(), shutdown.clone());
        background.spawn(async move { engine.run_schedules(Arc::new(SystemClock), shutdown).await });
    }
    eprintln!(
        "hangar serve listening on http://{address} ({}; {}; scheduler {}); API document at /api/v1/openapi.json",
        if home.is_embedded_database() { "embedded SQLite" } else { "PostgreSQL" },
        if args.no_workers { "no embedded workers".to_owned() } else { "embedded workers".to_owned() },
        if args.no_scheduler { "off" } else { "on" },
    );

    let stop = shutdown.clone();
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let signalled = async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        eprintln!("stopping: finishing requests in flight (at most {}s)", SHUTDOWN_GRACE.as_secs());
        stop.cancel();
    };
    let server = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(signalled);
    let deadline = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        }
    };
    tokio::select! {
        served = server => served.context("the HTTP server failed")?,
        () = deadline => eprintln!("open connections did not close in time; stopping anyway"),
    }
    shutdown.cancel();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async { while background.join_next().await.is_some() {} }).await;
    eprintln!("hangar serve stopped");
    Ok(exit::OK)
}

/// `HANGAR_SERVE_WEIGHTS`: how served models keep their matrices.
fn serve_weights() -> Result<hangar_train::infer::WeightPrecision> {
    match std::env::var("HANGAR_SERVE_WEIGHTS").map(|t| t.trim().to_ascii_lowercase()).as_deref() {
        Err(_) | Ok("" | "f32") => Ok(hangar_train::infer::WeightPrecision::F32),
        Ok("bf16") => Ok(hangar_train::infer::WeightPrecision::Bf16),
        Ok(other) => bail!("HANGAR_SERVE_WEIGHTS={other} is not a precision; use f32 (the default) or bf16"),
    }
}

/// The API configuration from the environment.
fn config_from_env(home: &Home) -> Result<ApiConfig> {
    let mut config = ApiConfig::with_secret(jwt_secret(home)?);
    if let Some(ttl) = crate::home::duration_var("HANGAR_ACCESS_TTL")? {
        config.access_ttl = ttl;
    }
    if let Some(ttl) = crate::home::duration_var("HANGAR_SESSION_TTL")? {
        config.session_ttl = ttl;
    }
    if let Ok(text) = std::env::var("HANGAR_SECURE_COOKIES") {
        config.secure_cookies = boolean("HANGAR_SECURE_COOKIES", &text)?;
    }
    if let Some(bytes) = bytes_var("HANGAR_UPLOAD_LIMIT")? {
        config.upload_limit = bytes;
    }
    if let Some(bytes) = bytes_var("HANGAR_BODY_LIMIT")? {
        config.body_limit = usize::try_from(bytes).unwrap_or(usize::MAX);
    }
    if let Ok(text) = std::env::var("HANGAR_RATE_LIMIT") {
        config.rate_limit = parse_rate_limit(&text)?;
    }
    if let Ok(text) = std::env::var("HANGAR_CORS_ORIGINS") {
        config.cors_origins = text.split(',').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect();
    }
    // How long audit rows are kept: a duration (400d), or `forever`.
    match std::env::var("HANGAR_AUDIT_RETENTION").map(|t| t.trim().to_owned()) {
        Ok(text) if text == "forever" => config.audit_retention = None,
        Ok(text) if !text.is_empty() => {
            let retention = humantime::parse_duration(&text).with_context(|| {
                format!("HANGAR_AUDIT_RETENTION={text} is not a duration; write it like 400d, or `forever`")
            })?;
            anyhow::ensure!(
                retention >= std::time::Duration::from_secs(86_400),
                "HANGAR_AUDIT_RETENTION={text} is under a day; keep the audit log at least 1d"
            );
            config.audit_retention = Some(retention);
        }
        _ => {}
    }
    // Webhook deliveries: attempts in all, and the first wait (doubled each time).
    if let Ok(text) = std::env::var("HANGAR_WEBHOOK_ATTEMPTS") {
        let attempts = count_var("HANGAR_WEBHOOK_ATTEMPTS", config.webhook_retry.attempts as usize, 1)?;
        anyhow::ensure!(attempts <= 20, "HANGAR_WEBHOOK_ATTEMPTS={text} is more than 20; give 1 to 20 attempts");
        config.webhook_retry.attempts = u32::try_from(attempts).unwrap_or(20);
    }
    if let Some(backoff) = crate::home::duration_var("HANGAR_WEBHOOK_BACKOFF")? {
        config.webhook_retry.backoff = backoff.max(std::time::Duration::from_millis(10));
    }
    if let Some(retention) = crate::home::duration_var("HANGAR_WEBHOOK_LOG_RETENTION")? {
        config.webhook_log_retention = retention;
    }
    if let Ok(text) = std::env::var("HANGAR_ALLOW_REGISTRATION") {
        config.allow_registration = boolean("HANGAR_ALLOW_REGISTRATION", &text)?;
    }
    config.login_failures_allowed =
        u32::try_from(count_var("HANGAR_LOGIN_FAILURES", config.login_failures_allowed as usize, 0)?)
            .unwrap_or(u32::MAX);
    Ok(config)
}

/// A yes/no environment variable.
fn boolean(name: &str, text: &str) -> Result<bool> {
    match text.trim() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        other => bail!("{name}={other} is not a boolean; use true or false"),
    }
}

/// `HANGAR_JWT_SECRET`, else the file `HANGAR_JWT_SECRET_FILE`; the
/// embedded default keeps a random key in its home, PostgreSQL
/// (production) deployments must provide one.
fn jwt_secret(home: &Home) -> Result<Vec<u8>> {
    let check = |secret: String, source: &str| -> Result<Vec<u8>> {
        let secret = secret.trim().to_owned();
        if secret.len() < MIN_SECRET_BYTES {
            bail!(
                "{source} is {} bytes; a signing secret needs at least {MIN_SECRET_BYTES} (e.g. `openssl rand -hex 32`)",
                secret.len()
            );
        }
        Ok(secret.into_bytes())
    };
    if let Ok(secret) = std::env::var("HANGAR_JWT_SECRET")
        && !secret.is_empty()
    {
        return check(secret, "HANGAR_JWT_SECRET");
    }
    if let Ok(path) = std::env::var("HANGAR_JWT_SECRET_FILE")
        && !path.is_empty()
    {
        let secret = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read HANGAR_JWT_SECRET_FILE={path}; check the path and permissions"))?;
        return check(secret, &format!("the key file {path}"));
    }
    if !home.is_embedded_database() {
        bail!(
            "no signing key: set HANGAR_JWT_SECRET (at least {MIN_SECRET_BYTES} random bytes, e.g. `openssl rand -hex 32`) \
             or HANGAR_JWT_SECRET_FILE; a server on PostgreSQL has no built-in key"
        );
    }
    let path = home.dir.join("jwt-secret");
    if let Ok(secret) = std::fs::read_to_string(&path) {
        return check(secret, &path.display().to_string());
    }
    let secret = hangar_api::random_secret();
    write_private(&path, &secret).with_context(|| format!("cannot write the signing key {}", path.display()))?;
    eprintln!("generated a signing key in {} (set HANGAR_JWT_SECRET to use your own)", path.display());
    Ok(secret.into_bytes())
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())
}

/// `1048576`, `512K`, `64M`, `2G` (powers of 1024).
pub(crate) fn bytes_var(name: &str) -> Result<Option<u64>> {
    let Ok(text) = std::env::var(name) else { return Ok(None) };
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    hangar_engine::isolation::parse_bytes(text)
        .map(Some)
        .map_err(|_| anyhow::anyhow!("{name}={text} is not a size; write it like 1048576, 512K, 64M or 2G"))
}

/// `off`, `N` (requests per second, burst 2N) or `N/BURST`.
fn parse_rate_limit(text: &str) -> Result<Option<RateLimit>> {
    let text = text.trim();
    if text.is_empty() || text == "off" || text == "0" {
        return Ok(None);
    }
    let (rate, burst) = match text.split_once('/') {
        Some((rate, burst)) => (rate, Some(burst)),
        None => (text, None),
    };
    let bad =
        || format!("HANGAR_RATE_LIMIT={text} is not a rate; write `off`, `50` (per second) or `50/100` (with a burst)");
    let per_second: u32 = rate.trim().parse().with_context(bad)?;
    let burst: u32 = match burst {
        Some(b) => b.trim().parse().with_context(bad)?,
        None => per_second.saturating_mul(2),
    };
    Ok(Some(RateLimit { per_second, burst }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_parse() {
        assert_eq!(parse_rate_limit("off").ok().flatten(), None);
        assert_eq!(parse_rate_limit("10").ok().flatten(), Some(RateLimit { per_second: 10, burst: 20 }));
        assert_eq!(parse_rate_limit("10/15").ok().flatten(), Some(RateLimit { per_second: 10, burst: 15 }));
        assert!(parse_rate_limit("fast").is_err());
    }
}

//! An API server in the test process on a fresh embedded home (SQLite +
//! local artifacts), called through the router without a socket.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use hangar_api::{ApiConfig, AppState};
use hangar_engine::{Engine, EngineSettings, SqlStore, WorkerOptions};
use hangar_sdk::{ArtifactStore, CancellationToken};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

pub const SECRET: &[u8] = b"test-secret-0123456789abcdef0123456789";
pub const PASSWORD: &str = "correct horse battery staple";

pub struct Api {
    pub router: Router,
    pub state: AppState,
    pub dir: tempfile::TempDir,
    shutdown: CancellationToken,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A response, with its body read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Api {
    pub async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    pub async fn with_config(adjust: impl FnOnce(&mut ApiConfig)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("hangar.db").display());
        let store = SqlStore::connect_and_migrate(&url).await.expect("store");
        let accounts = hangar_accounts::Accounts::new(store.pool().clone(), &url);
        accounts.migrate().await.expect("account tables");
        let artifacts = ArtifactStore::local(dir.path().join("artifacts")).expect("artifacts");
        let settings = EngineSettings {
            poll: Duration::from_millis(20),
            flush: Duration::from_millis(20),
            ..EngineSettings::default()
        };
        let engine = Engine::new(
            Arc::new(store),
            artifacts,
            Arc::new(hangar_cli::registry().expect("registry")),
            dir.path().join("scratch"),
            settings,
        )
        .with_owners(Arc::new(hangar_cli::owners::AccountOwners(accounts.clone())));
        let mut config = ApiConfig::with_secret(SECRET.to_vec());
        config.rate_limit = None;
        adjust(&mut config);
        let state = AppState::new(engine.clone(), accounts, config);
        let shutdown = CancellationToken::new();
        {
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                engine.run_workers(WorkerOptions { concurrency: 2, labels: vec![] }, shutdown).await
            });
        }
        Self { router: hangar_api::router(state.clone()), state, dir, shutdown }
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.expect("infallible router");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.expect("body").to_bytes();
        Reply { status, headers, body }
    }

    /// A request with an optional bearer token and JSON body.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(value) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(value.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).expect("request")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// POSTs a pipeline's YAML text.
    pub async fn put_pipeline(&self, token: &str, yaml: &str) -> Reply {
        let request = Request::post("/api/v1/pipelines")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/yaml")
            .body(Body::from(yaml.to_owned()))
            .expect("request");
        self.send(request).await
    }

    /// Uploads files as multipart `file` parts.
    pub async fn upload(&self, token: &str, files: &[(&str, &[u8])]) -> Reply {
        let (content_type, body) = multipart(files);
        let request = Request::post("/api/v1/uploads")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .expect("request");
        self.send(request).await
    }

    /// Registers (unless it exists) and signs in; returns the login answer.
    pub async fn sign_up(&self, email: &str) -> Value {
        let reply = self
            .call(Method::POST, "/api/v1/auth/register", None, Some(json!({"email": email, "password": PASSWORD})))
            .await;
        assert!(reply.status == StatusCode::CREATED || reply.status == StatusCode::CONFLICT, "{}", reply.text());
        self.login(email).await
    }

    /// Signs up and returns the access token.
    pub async fn login_after_signup(&self, email: &str) -> String {
        self.sign_up(email).await["access_token"].as_str().expect("token").to_owned()
    }

    pub async fn login(&self, email: &str) -> Value {
        let reply = self
            .call(Method::POST, "/api/v1/auth/login", None, Some(json!({"email": email, "password": PASSWORD})))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        reply.json()
    }

    /// An administrator's access token (created directly in the store,
    /// as `hangar users create --admin` does).
    pub async fn admin(&self, email: &str) -> String {
        let user = hangar_api::new_user(email, PASSWORD, hangar_api::Role::Admin).await.expect("admin");
        assert!(self.state.accounts.create_user(&user).await.expect("create admin"));
        self.login(email).await["access_token"].as_str().expect("token").to_owned()
    }

    /// Reads a run's Server-Sent Events until `end` (or the timeout).
    pub async fn events(&self, run_id: &str, token: &str) -> Vec<(String, Value)> {
        let request = Request::get(format!("/api/v1/runs/{run_id}/events"))
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request");
        let response = self.router.clone().oneshot(request).await.expect("router");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/event-stream");
        let mut body = response.into_body();
        let mut text = String::new();
        let read = async {
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.expect("frame").into_data() {
                    text.push_str(&String::from_utf8_lossy(&data));
                    if text.contains("event: end\n") && text.ends_with("\n\n") {
                        break;
                    }
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(60), read).await.unwrap_or_else(|_| panic!("no end event:\n{text}"));
        parse_sse(&text)
    }
}

/// `(event, data)` pairs of an SSE text.
pub fn parse_sse(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event: ") {
                    name = Some(value.to_owned());
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data.push_str(value);
                }
            }
            Some((name?, serde_json::from_str(&data).unwrap_or(Value::Null)))
        })
        .collect()
}

/// A multipart/form-data body of `file` parts.
pub fn multipart(files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = format!("hangar-{}", uuid::Uuid::new_v4().simple());
    let mut body = Vec::new();
    for (name, bytes) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

//! Every route of the OpenAPI document that needs a token refuses a
//! missing, malformed, expired, tampered or foreign-key token, and one
//! user's resources stay invisible and untouchable to another; plus roles,
//! rate limits, body limits and the error shape of unknown routes.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use hangar_api::{Claims, Role, TokenKeys};
use serde_json::{Value, json};
use support::api::{Api, SECRET};

const NOOP: &str = "name: alice-hello\ntasks:\n  hello:\n    uses: noop\n";

/// Alice's resources, to aim other people's requests at.
struct Owned {
    user: String,
    run: String,
    upload: String,
    schedule: String,
}

async fn alice_owns_things(api: &Api, token: &str) -> Owned {
    let me = api.get("/api/v1/users/me", token).await.json();
    assert_eq!(api.put_pipeline(token, NOOP).await.status, StatusCode::CREATED);
    let run = api.call(Method::POST, "/api/v1/pipelines/alice-hello/runs", Some(token), None).await.json();
    let run = run["run_id"].as_str().expect("run").to_owned();
    api.events(&run, token).await;
    let upload = api.upload(token, &[("notes.txt", b"private notes of alice")]).await.json();
    let schedule = api
        .call(
            Method::POST,
            "/api/v1/schedules",
            Some(token),
            Some(json!({"pipeline": "alice-hello", "cron": "0 3 * * *"})),
        )
        .await;
    assert_eq!(schedule.status, StatusCode::CREATED, "{}", schedule.text());
    Owned {
        user: me["id"].as_str().expect("id").to_owned(),
        run,
        upload: upload["id"].as_str().expect("upload").to_owned(),
        schedule: schedule.json()["id"].as_str().expect("schedule").to_owned(),
    }
}

/// The secured operations of the API document, with path params filled in.
fn secured_routes(document: &Value, owned: &Owned) -> Vec<(Method, String)> {
    let mut routes = Vec::new();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            if operation.get("security").is_none() {
                continue;
            }
            let id = if path.starts_with("/api/v1/runs/") {
                &owned.run
            } else if path.starts_with("/api/v1/artifacts/") {
                &owned.upload
            } else if path.starts_with("/api/v1/schedules/") {
                &owned.schedule
            } else {
                &owned.user
            };
            let filled = path
                .replace("{id}", id)
                .replace("{name}", "alice-hello")
                .replace("{task}", "hello")
                .replace("{output}", "none")
                // The model registry is shared by every account: no owner to protect.
                .replace("{model}", "no-such-model")
                .replace("{alias}", "production")
                .replace("{version}", "1");
            routes.push((method.to_uppercase().parse().expect("method"), filled));
        }
    }
    routes
}

async fn call_with(api: &Api, method: &Method, path: &str, authorization: Option<String>) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method.clone()).uri(path);
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let body = if matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        request = request.header(header::CONTENT_TYPE, "application/json");
        Body::from("{}")
    } else {
        Body::empty()
    };
    let reply = api.send(request.body(body).expect("request")).await;
    let json = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    (reply.status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_secured_route_refuses_bad_tokens_and_other_users() {
    let api = Api::new().await;
    let admin = api.admin("root@hangar.example").await;
    let alice = api.sign_up("alice@caac.example").await["access_token"].as_str().expect("token").to_owned();
    let bob = api.sign_up("bob@caac.example").await["access_token"].as_str().expect("token").to_owned();
    let owned = alice_owns_things(&api, &alice).await;

    let document = api.call(Method::GET, "/api/v1/openapi.json", None, None).await.json();
    let routes = secured_routes(&document, &owned);
    assert!(routes.len() >= 20, "the API document lost routes: {routes:?}");

    let now = chrono::Utc::now().timestamp();
    let keys = TokenKeys::new(SECRET, std::time::Duration::from_secs(900), std::time::Duration::from_secs(3600));
    let claims = |role: Role, iat: i64, exp: i64| Claims {
        sub: owned.user.clone(),
        email: "alice@caac.example".to_owned(),
        role,
        iss: "hangar".to_owned(),
        iat,
        exp,
    };
    let expired = keys.sign(&claims(Role::User, now - 2000, now - 1000));
    let foreign = TokenKeys::new(
        b"another-server-secret-0123456789abcdef",
        std::time::Duration::from_secs(900),
        std::time::Duration::from_secs(3600),
    )
    .sign(&claims(Role::Admin, now, now + 900));
    // Alice's real signature on a payload that makes her an admin.
    let promoted_payload =
        keys.sign(&claims(Role::Admin, now, now + 900)).split('.').nth(1).expect("payload").to_owned();
    let parts: Vec<&str> = alice.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], promoted_payload, parts[2]);
    let bad: [(&str, Option<String>); 6] = [
        ("missing", None),
        ("not bearer", Some(format!("Basic {alice}"))),
        ("garbage", Some("Bearer not-a-token".to_owned())),
        ("expired", Some(format!("Bearer {expired}"))),
        ("tampered", Some(format!("Bearer {tampered}"))),
        ("signed with another key", Some(format!("Bearer {foreign}"))),
    ];
    for (method, path) in &routes {
        for (what, authorization) in &bad {
            let (status, body) = call_with(&api, method, path, authorization.clone()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} with a {what} token: {body}");
            assert_eq!(body["error"]["code"], "unauthorized", "{method} {path}: {body}");
        }
    }

    // Bob, a valid user, neither sees nor touches Alice's things.
    for (method, path) in &routes {
        let (status, body) = call_with(&api, method, path, Some(format!("Bearer {bob}"))).await;
        let text = body.to_string();
        if path.contains(&owned.run)
            || path.contains(&owned.upload)
            || path.contains(&owned.schedule)
            || path.contains("alice-hello")
            || path.contains(&owned.user)
        {
            assert!(
                status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN,
                "{method} {path} as another user answered {status}: {body}"
            );
        } else {
            for secret in [&owned.run, &owned.upload, &owned.schedule] {
                assert!(!text.contains(secret.as_str()), "{method} {path} leaked {secret} to another user: {body}");
            }
        }
    }
    // Nothing of Alice's was changed by those requests.
    assert_eq!(api.get(&format!("/api/v1/runs/{}", owned.run), &alice).await.status, StatusCode::OK);
    assert_eq!(api.get("/api/v1/pipelines/alice-hello", &alice).await.status, StatusCode::OK);
    assert_eq!(api.get(&format!("/api/v1/artifacts/{}", owned.upload), &alice).await.status, StatusCode::OK);
    let schedules = api.get("/api/v1/schedules", &alice).await.json();
    assert_eq!(schedules["schedules"].as_array().map(Vec::len), Some(1));

    // Administrators see everyone's work.
    assert_eq!(api.get(&format!("/api/v1/runs/{}", owned.run), &admin).await.status, StatusCode::OK);
    let runs = api.get("/api/v1/runs", &admin).await.json();
    assert_eq!(runs["total"], 1);
    let users = api.get("/api/v1/users", &admin).await.json();
    assert_eq!(users["users"].as_array().map(Vec::len), Some(3));
    assert_eq!(api.get("/api/v1/users", &bob).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_is_for_administrators_and_roles_can_change() {
    let api = Api::new().await;
    let admin = api.admin("root@hangar.example").await;
    let user = api.sign_up("li@caac.example").await["access_token"].as_str().expect("token").to_owned();
    let shell = "name: cleanup\ntasks:\n  wipe:\n    uses: shell\n    with:\n      run: echo hi\n";
    let refused = api.put_pipeline(&user, shell).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.json()["error"]["message"].as_str().is_some_and(|m| m.contains("administrators")));
    assert_eq!(api.put_pipeline(&admin, shell).await.status, StatusCode::CREATED);
    // Nor can a user run the admin's shell pipeline: it is not theirs to see.
    let run = api.call(Method::POST, "/api/v1/pipelines/cleanup/runs", Some(&user), None).await;
    assert_eq!(run.status, StatusCode::NOT_FOUND);

    // Promote, then the (new) token may; disable, then sign-in stops.
    let li = api.get("/api/v1/users/me", &user).await.json();
    let id = li["id"].as_str().expect("id");
    let promoted =
        api.call(Method::PATCH, &format!("/api/v1/users/{id}"), Some(&admin), Some(json!({"role": "admin"}))).await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.text());
    let token = api.login("li@caac.example").await["access_token"].as_str().expect("token").to_owned();
    assert_eq!(api.put_pipeline(&token, &shell.replace("cleanup", "cleanup-two")).await.status, StatusCode::CREATED);
    let disabled =
        api.call(Method::PATCH, &format!("/api/v1/users/{id}"), Some(&admin), Some(json!({"disabled": true}))).await;
    assert_eq!(disabled.status, StatusCode::OK);
    let login = api
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "li@caac.example", "password": support::api::PASSWORD})),
        )
        .await;
    assert_eq!(login.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_over_the_rate_limit_waits() {
    // Signing up and in (4 requests, one address) fits the burst of 5.
    let api = Api::with_config(|c| c.rate_limit = Some(hangar_api::RateLimit { per_second: 1, burst: 5 })).await;
    let alice = api.login_after_signup("alice@caac.example").await;
    let bob = api.login_after_signup("bob@caac.example").await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(api.get("/api/v1/users/me", &alice).await);
    }
    let limited = statuses.iter().find(|r| r.status == StatusCode::TOO_MANY_REQUESTS).expect("a 429");
    let wait: u64 = limited.headers[header::RETRY_AFTER].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=2).contains(&wait), "{wait}");
    assert_eq!(limited.json()["error"]["code"], "rate_limited");
    assert_eq!(api.get("/api/v1/users/me", &bob).await.status, StatusCode::OK, "each user has their own budget");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_and_unknown_routes_get_json_errors() {
    let api = Api::with_config(|c| {
        c.body_limit = 4096;
        c.upload_limit = 1000;
    })
    .await;
    let token = api.sign_up("alice@caac.example").await["access_token"].as_str().expect("token").to_owned();
    let big = format!("name: big\ndescription: \"{}\"\ntasks:\n  a:\n    uses: noop\n", "x".repeat(10_000));
    let reply = api.put_pipeline(&token, &big).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    let reply = api.upload(&token, &[("big.txt", &[b'a'; 5000])]).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", reply.text());
    assert_eq!(reply.json()["error"]["code"], "payload_too_large");
    let leftovers = std::fs::read_dir(api.dir.path().join("artifacts/uploads")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "a refused upload leaves nothing behind");

    let reply = api.call(Method::GET, "/api/v1/nowhere", Some(&token), None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json()["error"]["code"], "not_found");
    let reply = api.call(Method::PUT, "/api/v1/runs", Some(&token), None).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.json()["error"]["code"], "method_not_allowed");
    let reply = api
        .send(
            Request::post("/api/v1/auth/login")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{not json"))
                .expect("request"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["code"], "bad_request");
    for name in ["x-content-type-options", "x-frame-options", "content-security-policy", "x-request-id"] {
        assert!(reply.headers.contains_key(name), "missing {name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_admits_only_configured_origins() {
    let api = Api::with_config(|c| c.cors_origins = vec!["https://console.example".to_owned()]).await;
    let preflight = |origin: &'static str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/api/v1/runs")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
            .body(Body::empty())
            .expect("request")
    };
    let allowed = api.send(preflight("https://console.example")).await;
    assert_eq!(allowed.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://console.example");
    let refused = api.send(preflight("https://evil.example")).await;
    assert!(!refused.headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
}

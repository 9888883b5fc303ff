//! Personal API keys over HTTP: shown once, limited by their scopes and by
//! their owner's current role, refused once revoked, expired, or their
//! owner disabled; and never able to manage keys themselves.

mod support;

use axum::http::{Method, StatusCode};
use hangar_accounts::NewKey;
use serde_json::{Value, json};
use support::api::Api;

const NOOP: &str = "name: keyed\ntasks:\n  hello:\n    uses: noop\n";

async fn create_key(api: &Api, token: &str, scopes: &[&str]) -> Value {
    let reply =
        api.call(Method::POST, "/api/v1/keys", Some(token), Some(json!({"name": "ci", "scopes": scopes}))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    reply.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keys_scopes_limit_it() {
    let api = Api::new().await;
    let alice = api.login_after_signup("alice@caac.example").await;
    assert_eq!(api.put_pipeline(&alice, NOOP).await.status, StatusCode::CREATED);

    let created = create_key(&api, &alice, &["runs:read"]).await;
    let key = created["key"].as_str().expect("key").to_owned();
    assert!(key.starts_with("hk_") && key.len() > 40, "{created}");
    assert!(created["prefix"].as_str().is_some_and(|p| key.starts_with(p)), "{created}");

    // Listed without its secret.
    let listed = api.get("/api/v1/keys", &alice).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(!listed.text().contains(&key), "the secret is never shown again: {}", listed.text());
    assert_eq!(listed.json()["keys"][0]["scopes"], json!(["runs:read"]));

    // What runs:read reaches, and what it does not.
    assert_eq!(api.get("/api/v1/runs", &key).await.status, StatusCode::OK);
    assert_eq!(api.get("/api/v1/pipelines/keyed", &key).await.status, StatusCode::OK);
    let start = api.call(Method::POST, "/api/v1/pipelines/keyed/runs", Some(&key), None).await;
    assert_eq!(start.status, StatusCode::FORBIDDEN, "{}", start.text());
    assert!(start.text().contains("runs:write"), "{}", start.text());
    assert_eq!(api.get("/api/v1/uploads", &key).await.status, StatusCode::FORBIDDEN);
    assert_eq!(api.get("/v1/models", &key).await.status, StatusCode::FORBIDDEN);
    // A key cannot make keys, nor change sign-in.
    let more =
        api.call(Method::POST, "/api/v1/keys", Some(&key), Some(json!({"name": "x", "scopes": ["runs:read"]}))).await;
    assert_eq!(more.status, StatusCode::FORBIDDEN, "{}", more.text());
    assert_eq!(
        api.call(Method::POST, "/api/v1/account/two-factor", Some(&key), None).await.status,
        StatusCode::FORBIDDEN
    );

    // runs:write starts runs; the run is Alice's.
    let writer = create_key(&api, &alice, &["runs:write", "runs:read"]).await["key"].as_str().expect("key").to_owned();
    let started = api.call(Method::POST, "/api/v1/pipelines/keyed/runs", Some(&writer), None).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.text());
    let run = started.json()["run_id"].as_str().expect("run").to_owned();
    assert_eq!(api.get(&format!("/api/v1/runs/{run}"), &alice).await.status, StatusCode::OK);

    // An ordinary account cannot grant what its role lacks; an administrator's
    // key runs commands on the server (shell) only with system:admin.
    let admin = api.admin("root@hangar.example").await;
    let admin_runs = create_key(&api, &admin, &["runs:write"]).await["key"].as_str().expect("key").to_owned();
    let shell = "name: on-the-server\ntasks:\n  ls:\n    uses: shell\n    with:\n      run: ls\n";
    let refused = api.put_pipeline(&admin_runs, shell).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    assert!(refused.text().contains("system:admin"), "{}", refused.text());
    let admin_shell =
        create_key(&api, &admin, &["runs:write", "system:admin"]).await["key"].as_str().expect("key").to_owned();
    assert_eq!(api.put_pipeline(&admin_shell, shell).await.status, StatusCode::CREATED);
    let refused = api
        .call(Method::POST, "/api/v1/keys", Some(&alice), Some(json!({"name": "x", "scopes": ["users:manage"]})))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    let unknown = api
        .call(Method::POST, "/api/v1/keys", Some(&alice), Some(json!({"name": "x", "scopes": ["runs:delete"]})))
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", unknown.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_expired_and_disabled_owners_keys_get_401_and_demotion_takes_effect() {
    let api = Api::new().await;
    let admin = api.admin("root@hangar.example").await;
    let alice = api.login_after_signup("alice@caac.example").await;
    let created = create_key(&api, &alice, &["runs:read"]).await;
    let (key, id) = (created["key"].as_str().expect("key").to_owned(), created["id"].as_str().expect("id").to_owned());
    assert_eq!(api.get("/api/v1/runs", &key).await.status, StatusCode::OK);
    let used = api.get("/api/v1/keys", &alice).await.json();
    assert!(used["keys"][0]["last_used_at"].is_i64(), "the use is recorded: {used}");

    // Another account cannot revoke it.
    let bob = api.login_after_signup("bob@caac.example").await;
    assert_eq!(
        api.call(Method::DELETE, &format!("/api/v1/keys/{id}"), Some(&bob), None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(api.get("/api/v1/runs", &key).await.status, StatusCode::OK);

    // Disabling the owner disables the key; enabling brings it back.
    let me = api.get("/api/v1/users/me", &alice).await.json();
    let alice_id = me["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/users/{alice_id}");
    assert_eq!(
        api.call(Method::PATCH, &path, Some(&admin), Some(json!({"disabled": true}))).await.status,
        StatusCode::OK
    );
    assert_eq!(api.get("/api/v1/runs", &key).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        api.call(Method::PATCH, &path, Some(&admin), Some(json!({"disabled": false}))).await.status,
        StatusCode::OK
    );
    assert_eq!(api.get("/api/v1/runs", &key).await.status, StatusCode::OK);

    // Revoked: 401.
    let revoked = api.call(Method::DELETE, &format!("/api/v1/keys/{id}"), Some(&alice), None).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.text());
    let refused = api.get("/api/v1/runs", &key).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.text().contains("revoked"), "{}", refused.text());

    // Expired: 401 (made in the store with an expiry already past).
    let now = hangar_engine::clock::now_ms();
    let (_, expired) = api
        .state
        .accounts
        .create_key(&NewKey {
            user_id: alice_id.clone(),
            name: "old".to_owned(),
            scopes: vec!["runs:read".to_owned()],
            expires_at: Some(now - 1),
            now: now - 86_400_000,
        })
        .await
        .expect("key");
    assert_eq!(api.get("/api/v1/runs", &expired).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        api.get("/api/v1/runs", "hk_0000000000000000000000000000000000000000").await.status,
        StatusCode::UNAUTHORIZED
    );

    // An administrator's key with users:manage stops working for that when
    // its owner is demoted: a key never grants more than the current role.
    let admin_key = create_key(&api, &admin, &["users:manage"]).await["key"].as_str().expect("key").to_owned();
    assert_eq!(api.get("/api/v1/users", &admin_key).await.status, StatusCode::OK);
    let other_admin = api.admin("second@hangar.example").await;
    let root_id = api.get("/api/v1/users/me", &admin).await.json()["id"].as_str().expect("id").to_owned();
    let demote = api
        .call(Method::PATCH, &format!("/api/v1/users/{root_id}"), Some(&other_admin), Some(json!({"role": "user"})))
        .await;
    assert_eq!(demote.status, StatusCode::OK, "{}", demote.text());
    assert_eq!(api.get("/api/v1/users", &admin_key).await.status, StatusCode::FORBIDDEN);
}

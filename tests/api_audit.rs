//! The audit log over HTTP: every audited action leaves exactly one row
//! saying who, what, on what and with what outcome; administrators read it
//! with filters and pages and export it as CSV or JSON Lines; an ordinary
//! account is refused (and that refusal is itself recorded).

mod support;

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use support::api::Api;

const NOOP: &str = "name: audited\ntasks:\n  hello:\n    uses: noop\n";

async fn entries(api: &Api, admin: &str, query: &str) -> Vec<Value> {
    let reply = api.get(&format!("/api/v1/audit?limit=10000&{query}"), admin).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json()["entries"].as_array().expect("entries").clone()
}

fn one<'a>(rows: &'a [Value], action: &str, outcome: &str) -> &'a Value {
    let found: Vec<&Value> = rows.iter().filter(|r| r["action"] == action && r["outcome"] == outcome).collect();
    assert_eq!(found.len(), 1, "exactly one {outcome} {action} row, found {found:?}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_audited_action_leaves_exactly_one_row() {
    let api = Api::new().await;
    let admin = api.admin("root@hangar.example").await;
    let alice_login = api.sign_up("alice@caac.example").await;
    let alice = alice_login["access_token"].as_str().expect("token").to_owned();
    let alice_id = api.get("/api/v1/users/me", &alice).await.json()["id"].as_str().expect("id").to_owned();

    // Sign-in failures (one typed as a spreadsheet formula), a sign-out.
    let formula = api
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "=HYPERLINK(\"x\")", "password": "wrong password!"})),
        )
        .await;
    assert_eq!(formula.status, StatusCode::UNAUTHORIZED);
    let wrong = api
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "alice@caac.example", "password": "wrong password!"})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let refresh = alice_login["refresh_token"].as_str().expect("refresh").to_owned();
    let logout = api.call(Method::POST, "/api/v1/auth/logout", None, Some(json!({"refresh_token": refresh}))).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);

    // Her work: an upload, a pipeline, runs started, cancelled and retried, a schedule.
    assert_eq!(api.upload(&alice, &[("notes.txt", b"notes")]).await.status, StatusCode::CREATED);
    assert_eq!(api.put_pipeline(&alice, NOOP).await.status, StatusCode::CREATED);
    assert_eq!(api.put_pipeline(&alice, NOOP).await.status, StatusCode::OK, "unchanged: nothing saved");
    let run = api.call(Method::POST, "/api/v1/pipelines/audited/runs", Some(&alice), None).await.json();
    let run = run["run_id"].as_str().expect("run").to_owned();
    api.events(&run, &alice).await;
    let cancelled = api.call(Method::POST, &format!("/api/v1/runs/{run}/cancel"), Some(&alice), None).await;
    assert_eq!(cancelled.status, StatusCode::CONFLICT, "a finished run is not cancelled: no row");
    let schedule = api
        .call(
            Method::POST,
            "/api/v1/schedules",
            Some(&alice),
            Some(json!({"pipeline": "audited", "cron": "0 3 * * *"})),
        )
        .await
        .json();
    let schedule = schedule["id"].as_str().expect("schedule").to_owned();
    let paused = api
        .call(Method::PATCH, &format!("/api/v1/schedules/{schedule}"), Some(&alice), Some(json!({"enabled": false})))
        .await;
    assert_eq!(paused.status, StatusCode::OK);
    assert_eq!(
        api.call(Method::DELETE, &format!("/api/v1/schedules/{schedule}"), Some(&alice), None).await.status,
        StatusCode::NO_CONTENT
    );
    // A key made and revoked.
    let key = api
        .call(Method::POST, "/api/v1/keys", Some(&alice), Some(json!({"name": "ci", "scopes": ["runs:read"]})))
        .await
        .json();
    let key_id = key["id"].as_str().expect("key").to_owned();
    assert_eq!(
        api.call(Method::DELETE, &format!("/api/v1/keys/{key_id}"), Some(&alice), None).await.status,
        StatusCode::NO_CONTENT
    );

    // Bob reaches for Alice's run: refused, recorded.
    let bob = api.login_after_signup("bob@caac.example").await;
    assert_eq!(api.get(&format!("/api/v1/runs/{run}"), &bob).await.status, StatusCode::NOT_FOUND);
    // Bob reads the audit log: 403, recorded.
    let refused = api.get("/api/v1/audit", &bob).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());

    // The administrator disables Bob, then deletes Alice's pipeline.
    let bob_id = api.get("/api/v1/users/me", &bob).await.json()["id"].as_str().expect("id").to_owned();
    let disabled = api
        .call(Method::PATCH, &format!("/api/v1/users/{bob_id}"), Some(&admin), Some(json!({"disabled": true})))
        .await;
    assert_eq!(disabled.status, StatusCode::OK);
    assert_eq!(
        api.call(Method::DELETE, "/api/v1/pipelines/audited", Some(&admin), None).await.status,
        StatusCode::NO_CONTENT
    );

    let rows = entries(&api, &admin, "").await;
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for row in &rows {
        *counts
            .entry((row["action"].as_str().unwrap_or("").to_owned(), row["outcome"].as_str().unwrap_or("").to_owned()))
            .or_default() += 1;
    }
    let signed_in = rows.iter().filter(|r| r["action"] == "auth.sign_in" && r["outcome"] == "allowed").count();
    assert_eq!(signed_in, 3, "root, alice and bob signed in once each: {counts:?}");
    let failed: Vec<&Value> =
        rows.iter().filter(|r| r["action"] == "auth.sign_in" && r["outcome"] == "refused").collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed.iter().all(|r| r["actor"] == "anonymous"));
    assert!(failed.iter().any(|r| r["actor_email"] == "alice@caac.example"));
    assert_eq!(one(&rows, "auth.sign_out", "allowed")["actor"], json!(alice_id));
    let upload = one(&rows, "upload.create", "allowed");
    assert_eq!(upload["actor"], json!(alice_id));
    assert!(upload["request_id"].as_str().is_some_and(|id| !id.is_empty()), "the request id is kept: {upload}");
    assert!(one(&rows, "pipeline.save", "allowed")["target"].as_str().is_some_and(|t| t.starts_with("audited@")));
    assert_eq!(one(&rows, "run.start", "allowed")["target"], json!(run));
    assert!(!counts.contains_key(&("run.cancel".to_owned(), "allowed".to_owned())));
    assert_eq!(one(&rows, "schedule.create", "allowed")["target"], json!(schedule));
    one(&rows, "schedule.pause", "allowed");
    one(&rows, "schedule.delete", "allowed");
    assert_eq!(one(&rows, "key.create", "allowed")["target"], json!(key_id));
    one(&rows, "key.revoke", "allowed");
    let reach = one(&rows, "run.read", "refused");
    assert_eq!(reach["actor"], json!(bob_id));
    assert_eq!(reach["target"], json!(run));
    one(&rows, "audit.read", "refused");
    let disable = one(&rows, "account.disable", "allowed");
    assert_eq!(disable["target"], json!(bob_id));
    assert_eq!(disable["actor_email"], "root@hangar.example");
    assert_eq!(one(&rows, "pipeline.delete", "allowed")["target"], "audited");

    // Filters: by actor (id or e-mail), by a kind of action, by outcome, by time.
    let by_bob = entries(&api, &admin, "actor=bob@caac.example").await;
    assert!(by_bob.iter().all(|r| r["actor"] == json!(bob_id)) && by_bob.len() == 3, "{by_bob:?}");
    let schedules = entries(&api, &admin, "action=schedule.").await;
    assert_eq!(schedules.len(), 3, "{schedules:?}");
    let refusals = entries(&api, &admin, "outcome=refused").await;
    assert_eq!(refusals.len(), 4, "{refusals:?}");
    let exported = api.get("/api/v1/audit?format=csv&outcome=refused", &admin).await.text();
    assert!(exported.contains("'=hyperlink("), "a formula is exported inert: {exported}");
    assert!(!exported.contains(",=hyperlink(") && !exported.contains(",\"=hyperlink("), "{exported}");
    assert!(entries(&api, &admin, "since=2999-01-01T00:00:00Z").await.is_empty());
    assert_eq!(entries(&api, &admin, "until=2999-01-01T00:00:00Z").await.len(), rows.len());
    assert_eq!(api.get("/api/v1/audit?since=yesterday", &admin).await.status, StatusCode::BAD_REQUEST);

    // Pages: newest first, then older ones after `next_before`.
    let first = api.get("/api/v1/audit?limit=2", &admin).await.json();
    assert_eq!(first["entries"].as_array().map(Vec::len), Some(2));
    let before = first["next_before"].as_i64().expect("more pages");
    let second = api.get(&format!("/api/v1/audit?limit=2&before={before}"), &admin).await.json();
    assert!(second["entries"][0]["id"].as_i64().expect("id") < before);

    // Exports.
    let csv = api.get("/api/v1/audit?format=csv&action=run.", &admin).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.headers["content-type"].to_str().unwrap_or("").starts_with("text/csv"));
    let text = csv.text();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,at,actor,actor_email,key_id,action,target,outcome,reason,address,request_id"));
    assert_eq!(lines.count(), 2, "run.start and run.read: {text}");
    let jsonl = api.get("/api/v1/audit?format=jsonl&outcome=refused", &admin).await.text();
    let parsed: Vec<Value> = jsonl.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(parsed.len(), 4);
    assert!(parsed.iter().all(|r| r["outcome"] == "refused"));

    // Nothing in the API changes or deletes rows.
    let document = api.call(Method::GET, "/api/v1/openapi.json", None, None).await.json();
    let audit_paths = &document["paths"]["/api/v1/audit"];
    assert!(audit_paths.get("get").is_some());
    for method in ["post", "put", "patch", "delete"] {
        assert!(audit_paths.get(method).is_none(), "{method} /api/v1/audit exists");
    }
    assert_eq!(
        api.call(Method::DELETE, "/api/v1/audit", Some(&admin), None).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

//! The API end to end through the router: register → sign in → upload →
//! store a pipeline → run it on the upload → follow its events → read its
//! logs and outputs; plus token refresh, profiles and run management.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use support::api::{Api, PASSWORD};

const DOCS: &str = r#"name: docs
description: Reads uploaded documents and cleans them.
params:
  source: { type: string, description: Upload folder to read. }
tasks:
  ingest:
    uses: ingest
    with:
      path: "${{ params.source }}"
  clean:
    uses: clean
    with:
      documents: "${{ tasks.ingest.outputs.documents }}"
"#;

fn document(title: &str, sentences: usize) -> String {
    let mut text = format!("# {title}\n\n");
    for i in 0..sentences {
        text.push_str(&format!(
            "Sec. 25.{i} Each airplane must be shown to meet the structural requirements of paragraph ({i}) under the loads stated in this section.\n\n"
        ));
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_upload_run_watch_and_download() {
    let api = Api::new().await;

    // Accounts: the policy first, then a real one.
    let weak = api
        .call(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"email": "li@caac.example", "password": "short"})),
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(weak.json()["error"]["code"], "invalid");
    let login = api.sign_up("li@caac.example").await;
    let token = login["access_token"].as_str().expect("access token").to_owned();
    assert_eq!(login["expires_in"], 900);
    assert!(login["refresh_token"].as_str().is_some_and(|t| t.len() > 40));
    let again = api
        .call(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(json!({"email": "LI@caac.example", "password": PASSWORD})),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "e-mails are case-insensitive");
    let wrong = api
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "li@caac.example", "password": "x".repeat(12)})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    let profile = api
        .call(
            Method::PUT,
            "/api/v1/users/me",
            Some(&token),
            Some(json!({"name": "Li Wei", "organization": "CAAC", "position": "Airworthiness engineer"})),
        )
        .await;
    assert_eq!(profile.status, StatusCode::OK, "{}", profile.text());
    let me = api.get("/api/v1/users/me", &token).await.json();
    assert_eq!(me["organization"], "CAAC");
    assert_eq!(me["role"], "user");
    assert!(me["permissions"].as_array().is_some_and(|p| p.contains(&json!("data:upload"))));

    // Upload two documents.
    let part25 = document("Part 25 Subpart C", 12);
    let part23 = document("Part 23 Flight", 8);
    let upload = api.upload(&token, &[("part25.md", part25.as_bytes()), ("../../part23.md", part23.as_bytes())]).await;
    assert_eq!(upload.status, StatusCode::CREATED, "{}", upload.text());
    let upload = upload.json();
    let upload_id = upload["id"].as_str().expect("upload id").to_owned();
    let key = upload["key"].as_str().expect("key").to_owned();
    assert_eq!(key, format!("uploads/{upload_id}"));
    assert_eq!(upload["files"][1]["name"], "part23.md", "path parts are dropped");
    assert_eq!(upload["content_type"], "text/markdown");
    assert_eq!(upload["size"], (part25.len() + part23.len()) as u64);

    // Download it back, whole and in part.
    let whole = api.get(&format!("/api/v1/artifacts/{upload_id}"), &token).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(whole.body, part25.as_bytes());
    let request = Request::get(format!("/api/v1/artifacts/{upload_id}?file=part23.md"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::RANGE, "bytes=2-9")
        .body(Body::empty())
        .expect("request");
    let part = api.send(request).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body, &part23.as_bytes()[2..10]);
    assert_eq!(part.headers[header::CONTENT_RANGE], format!("bytes 2-9/{}", part23.len()));

    // Store the pipeline: invalid first, then valid, then again unchanged.
    let invalid = api.put_pipeline(&token, &DOCS.replace("uses: clean", "uses: clena")).await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    let error = invalid.json();
    assert_eq!(error["error"]["code"], "invalid_pipeline");
    assert_eq!(error["error"]["diagnostics"][0]["line"], 11, "{error}");
    assert_eq!(error["error"]["diagnostics"][0]["path"], "tasks.clean.uses");
    let stored = api.put_pipeline(&token, DOCS).await;
    assert_eq!(stored.status, StatusCode::CREATED, "{}", stored.text());
    assert_eq!(stored.json()["outcome"], "created");
    assert_eq!(api.put_pipeline(&token, DOCS).await.json()["outcome"], "unchanged");

    // Run it on the upload and watch it.
    let created = api
        .call(Method::POST, "/api/v1/pipelines/docs/runs", Some(&token), Some(json!({"params": {"source": key}})))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let run_id = created.json()["run_id"].as_str().expect("run id").to_owned();
    let events = api.events(&run_id, &token).await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"run"));
    assert_eq!(names.last(), Some(&"end"), "{names:?}");
    assert_eq!(events.last().map(|(_, d)| d["status"].clone()), Some(json!("succeeded")), "{events:?}");
    for task in ["ingest", "clean"] {
        assert!(
            events.iter().any(|(n, d)| n == "task" && d["task_id"] == task && d["status"] == "succeeded"),
            "no succeeded event for {task}: {events:?}"
        );
    }

    // Its detail, logs and outputs.
    let detail = api.get(&format!("/api/v1/runs/{run_id}"), &token).await.json();
    assert_eq!(detail["status"], "succeeded");
    assert_eq!(detail["params"]["source"], json!(key));
    let ingest = &detail["tasks"][0];
    assert_eq!(ingest["task_id"], "ingest");
    assert_eq!(ingest["attempts"][0]["status"], "succeeded");
    assert!(ingest["duration_ms"].as_i64().is_some());
    let documents = &ingest["outputs"]["documents"];
    let logs = api.get(&format!("/api/v1/runs/{run_id}/tasks/ingest/logs"), &token).await;
    assert_eq!(logs.status, StatusCode::OK);
    let logs = logs.json();
    assert!(!logs["lines"].as_array().expect("lines").is_empty(), "ingest logs what it read: {logs}");
    assert!(logs["next_after"].as_i64() > Some(0));
    let download = api.get(documents["download"].as_str().expect("download path"), &token).await;
    assert_eq!(download.status, StatusCode::OK);
    let lines: Vec<Value> =
        download.text().lines().map(|l| serde_json::from_str(l).expect("a JSON document per line")).collect();
    assert_eq!(lines.len(), 2, "both uploaded files became documents");
    assert!(lines.iter().any(|d| d["text"].as_str().is_some_and(|t| t.contains("Sec. 25.11"))));
    assert_eq!(download.body.len() as u64, documents["size"].as_u64().expect("size"));

    // Listings.
    let runs = api.get("/api/v1/runs?pipeline=docs&status=succeeded&limit=10", &token).await.json();
    assert_eq!(runs["total"], 1);
    assert_eq!(runs["runs"][0]["id"], json!(run_id));
    let pipeline = api.get("/api/v1/pipelines/docs", &token).await.json();
    assert_eq!(pipeline["last_run_status"], "succeeded");
    assert_eq!(pipeline["versions"].as_array().map(Vec::len), Some(1));
    assert_eq!(pipeline["params"]["source"]["type"], "string");
    let bad = api.get("/api/v1/runs?status=exploded", &token).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json()["error"]["message"].as_str().is_some_and(|m| m.contains("succeeded")));

    // A finished run cannot be cancelled, nor a succeeded one retried.
    let cancel = api.call(Method::POST, &format!("/api/v1/runs/{run_id}/cancel"), Some(&token), None).await;
    assert_eq!(cancel.status, StatusCode::CONFLICT);
    let retry = api.call(Method::POST, &format!("/api/v1/runs/{run_id}/retry"), Some(&token), None).await;
    assert_eq!(retry.status, StatusCode::CONFLICT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_rotate_and_a_replay_revokes_the_sign_in() {
    let api = Api::new().await;
    let login = api.sign_up("zhang@caac.example").await;
    let first = login["refresh_token"].as_str().expect("refresh").to_owned();
    let refreshed = api.call(Method::POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": first}))).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text());
    let second = refreshed.json()["refresh_token"].as_str().expect("rotated").to_owned();
    assert_ne!(first, second);
    let access = refreshed.json()["access_token"].as_str().expect("access").to_owned();
    assert_eq!(api.get("/api/v1/users/me", &access).await.status, StatusCode::OK);

    // The first token again: a replay. Everything of this sign-in is revoked.
    let replay = api.call(Method::POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": first}))).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    let after = api.call(Method::POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": second}))).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED, "the rotated token died with its family");

    // Logout revokes a fresh sign-in's token.
    let login = api.login("zhang@caac.example").await;
    let token = login["refresh_token"].as_str().expect("refresh").to_owned();
    let out = api.call(Method::POST, "/api/v1/auth/logout", None, Some(json!({"refresh_token": token}))).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let used = api.call(Method::POST, "/api/v1/auth/refresh", None, Some(json!({"refresh_token": token}))).await;
    assert_eq!(used.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_runs_are_retried_and_running_ones_cancelled() {
    let api = Api::new().await;
    let admin = api.admin("root@hangar.example").await;
    let flaky = "name: flaky\ntasks:\n  first:\n    uses: noop\n  second:\n    uses: shell\n    needs: [first]\n    with:\n      run: \"test -f $MARKER\"\n";
    // The shell task fails until the marker file exists.
    let marker = api.dir.path().join("marker");
    let yaml = flaky.replace("$MARKER", &marker.display().to_string());
    assert_eq!(api.put_pipeline(&admin, &yaml).await.status, StatusCode::CREATED);
    let run = api.call(Method::POST, "/api/v1/pipelines/flaky/runs", Some(&admin), None).await.json();
    let run_id = run["run_id"].as_str().expect("run id").to_owned();
    let events = api.events(&run_id, &admin).await;
    assert_eq!(events.last().map(|(_, d)| d["status"].clone()), Some(json!("failed")));
    std::fs::write(&marker, b"ready").expect("marker");
    let retry = api.call(Method::POST, &format!("/api/v1/runs/{run_id}/retry"), Some(&admin), None).await;
    assert_eq!(retry.status, StatusCode::ACCEPTED, "{}", retry.text());
    let events = api.events(&run_id, &admin).await;
    assert_eq!(events.last().map(|(_, d)| d["status"].clone()), Some(json!("succeeded")), "{events:?}");
    let detail = api.get(&format!("/api/v1/runs/{run_id}"), &admin).await.json();
    assert_eq!(detail["tasks"][0]["attempt"], 1, "the succeeded task was kept");
    assert_eq!(detail["tasks"][1]["attempts"].as_array().map(Vec::len), Some(2));

    let slow = "name: slow\ntasks:\n  wait:\n    uses: shell\n    with:\n      run: sleep 30\n";
    assert_eq!(api.put_pipeline(&admin, slow).await.status, StatusCode::CREATED);
    let run = api.call(Method::POST, "/api/v1/pipelines/slow/runs", Some(&admin), Some(json!({}))).await.json();
    let run_id = run["run_id"].as_str().expect("run id").to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let detail = api.get(&format!("/api/v1/runs/{run_id}"), &admin).await.json();
        if detail["tasks"][0]["status"] == "running" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the task never started: {detail}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let cancel = api.call(Method::POST, &format!("/api/v1/runs/{run_id}/cancel"), Some(&admin), None).await;
    assert_eq!(cancel.status, StatusCode::ACCEPTED);
    let events = api.events(&run_id, &admin).await;
    assert_eq!(events.last().map(|(_, d)| d["status"].clone()), Some(json!("cancelled")));
}

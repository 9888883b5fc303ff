//! Webhook notifications end to end: a receiver on loopback started here
//! checks every signature, a failing receiver is retried with backoff and
//! then given up (both in the delivery log), a pipeline's `notify:` block
//! names a webhook for more events, and hosts an administrator has not
//! allowed are refused.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method, StatusCode};
use hangar_api::notify::{RetryPolicy, sign};
use serde_json::{Value, json};
use support::api::Api;

#[derive(Debug, Clone)]
struct Received {
    path: String,
    event: String,
    delivery: String,
    timestamp: i64,
    signature: String,
    body: Vec<u8>,
}

/// A receiver on a loopback port: `/ok/...` answers 204, `/fail` 500.
async fn receiver() -> (u16, Arc<Mutex<Vec<Received>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri, headers: HeaderMap, body: axum::body::Bytes| {
        let record = record.clone();
        async move {
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            let path = uri.path().to_owned();
            record.lock().unwrap().push(Received {
                path: path.clone(),
                event: header(sign::EVENT_HEADER),
                delivery: header(sign::DELIVERY_HEADER),
                timestamp: header(sign::TIMESTAMP_HEADER).parse().unwrap_or(0),
                signature: header(sign::SIGNATURE_HEADER),
                body: body.to_vec(),
            });
            if path.starts_with("/ok") { StatusCode::NO_CONTENT } else { StatusCode::INTERNAL_SERVER_ERROR }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, seen)
}

async fn create(api: &Api, token: &str, body: Value) -> Value {
    let reply = api.call(Method::POST, "/api/v1/webhooks", Some(token), Some(body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    reply.json()
}

async fn run(api: &Api, token: &str, yaml: &str, pipeline: &str) -> String {
    let stored = api.put_pipeline(token, yaml).await.status;
    assert!(stored == StatusCode::CREATED || stored == StatusCode::OK, "{stored}");
    let reply =
        api.call(Method::POST, &format!("/api/v1/pipelines/{pipeline}/runs"), Some(token), Some(json!({}))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    reply.json()["run_id"].as_str().unwrap().to_owned()
}

async fn deliveries_until(api: &Api, token: &str, webhook: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = api.get(&format!("/api/v1/webhooks/{webhook}/deliveries"), token).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let list = reply.json()["deliveries"].as_array().cloned().unwrap_or_default();
        if done(&list) {
            return list;
        }
        assert!(Instant::now() < deadline, "deliveries never settled: {list:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_events_are_signed_retried_logged_and_limited_to_allowed_hosts() {
    let api = Api::with_config(|config| {
        config.webhook_retry =
            RetryPolicy { attempts: 3, backoff: Duration::from_millis(200), timeout: Duration::from_secs(5) };
    })
    .await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(hangar_api::notify::run(api.state.clone(), shutdown.clone()));
    let (port, seen) = receiver().await;
    let admin = api.admin("ops@caac.example").await;
    let alice = api.login_after_signup("alice@caac.example").await;

    // Nothing is allowed until an administrator says so, and only they may.
    let refused = api
        .call(
            Method::POST,
            "/api/v1/webhooks",
            Some(&admin),
            Some(json!({"name": "ops", "url": format!("http://127.0.0.1:{port}/ok")})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    assert!(refused.text().contains("allowed hosts"), "{}", refused.text());
    let hosts = json!({"hosts": [format!("127.0.0.1:{port}")]});
    let by_alice = api.call(Method::PUT, "/api/v1/settings/webhook-hosts", Some(&alice), Some(hosts.clone())).await;
    assert_eq!(by_alice.status, StatusCode::FORBIDDEN);
    let set = api.call(Method::PUT, "/api/v1/settings/webhook-hosts", Some(&admin), Some(hosts)).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text());
    // A blocked host stays blocked: another name for this machine, another
    // service on the allowed host, the cloud metadata address.
    for url in [
        format!("http://localhost:{port}/ok"),
        "http://127.0.0.1:5432/".to_owned(),
        "http://127.0.0.1/".to_owned(),
        "http://169.254.169.254/latest/meta-data".to_owned(),
    ] {
        let reply =
            api.call(Method::POST, "/api/v1/webhooks", Some(&alice), Some(json!({"name": "x", "url": url}))).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{url}: {}", reply.text());
    }
    let bad = api
        .call(Method::POST, "/api/v1/webhooks", Some(&alice), Some(json!({"name": "x", "url": "file:///etc/passwd"})))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text());

    // Every event of the admin's runs; failures only to a receiver that fails;
    // and one that hears only what a pipeline's notify: names it for.
    let all = create(&api, &admin, json!({"name": "ops", "url": format!("http://127.0.0.1:{port}/ok/all")})).await;
    let secret = all["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(all["events"], json!(["run.succeeded", "run.failed", "run.cancelled", "task.failed"]));
    let failing = create(
        &api,
        &admin,
        json!({"name": "pager", "url": format!("http://127.0.0.1:{port}/fail"), "events": ["run.failed"]}),
    )
    .await;
    let named = create(
        &api,
        &admin,
        json!({"name": "release", "url": format!("http://127.0.0.1:{port}/ok/named"), "events": []}),
    )
    .await;
    let listed = api.get("/api/v1/webhooks", &admin).await;
    assert!(!listed.text().contains(&secret), "the secret is shown once");
    // Alice does not see, or read the log of, the admin's webhooks.
    assert_eq!(
        api.get(&format!("/api/v1/webhooks/{}/deliveries", all["id"].as_str().unwrap()), &alice).await.status,
        StatusCode::NOT_FOUND
    );

    let good =
        "name: nightly\nnotify:\n  - webhook: release\n    on: [run.succeeded]\ntasks:\n  hello:\n    uses: noop\n";
    let ok_run = run(&api, &admin, good, "nightly").await;
    let bad = "name: broken\ntasks:\n  boom:\n    uses: shell\n    with:\n      run: \"exit 3\"\n";
    let failed_run = run(&api, &admin, bad, "broken").await;

    let all_id = all["id"].as_str().unwrap();
    let log =
        deliveries_until(&api, &admin, all_id, |d| d.len() == 3 && d.iter().all(|x| x["status"] == "delivered")).await;
    let mut events: Vec<&str> = log.iter().map(|d| d["event"].as_str().unwrap()).collect();
    events.sort();
    assert_eq!(events, ["run.failed", "run.succeeded", "task.failed"]);
    let named_log = deliveries_until(&api, &admin, named["id"].as_str().unwrap(), |d| {
        d.len() == 1 && d[0]["status"] == "delivered"
    })
    .await;
    assert_eq!(named_log[0]["event"], "run.succeeded");
    assert_eq!(named_log[0]["run_id"], json!(ok_run));

    // The failing receiver: three attempts with backoff, then given up, all in the log.
    let failing_log =
        deliveries_until(&api, &admin, failing["id"].as_str().unwrap(), |d| d.len() == 1 && d[0]["status"] == "failed")
            .await;
    assert_eq!(failing_log[0]["attempts"], 3, "{failing_log:#?}");
    assert_eq!(failing_log[0]["last_status"], 500);
    assert!(failing_log[0]["last_error"].as_str().unwrap().contains("gave up after 3 attempts"), "{failing_log:#?}");
    assert_eq!(failing_log[0]["run_id"], json!(failed_run));

    // What the receivers got: signatures that verify with the webhook's secret.
    let received = seen.lock().unwrap().clone();
    let at_all: Vec<&Received> = received.iter().filter(|r| r.path == "/ok/all").collect();
    assert_eq!(at_all.len(), 3, "each event once: {received:#?}");
    let now = chrono::Utc::now().timestamp();
    for r in &at_all {
        assert!(sign::verify(&secret, r.timestamp, &r.body, &r.signature, now, 300), "{r:?}");
        assert!(!sign::verify("whsec_wrong", r.timestamp, &r.body, &r.signature, now, 300));
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["event"], r.event.as_str());
        assert!(r.delivery.starts_with("dlv_"));
        if r.event == "task.failed" {
            assert_eq!(body["task"]["id"], "boom");
            assert_eq!(body["run"]["id"], json!(failed_run));
        }
    }
    let fails: Vec<&Received> = received.iter().filter(|r| r.path == "/fail").collect();
    assert_eq!(fails.len(), 3, "retried to the bound");
    assert!(fails.windows(2).all(|w| w[0].delivery == w[1].delivery), "one delivery id over its attempts");

    // Taking a host off the list stops deliveries to it.
    let cleared =
        api.call(Method::PUT, "/api/v1/settings/webhook-hosts", Some(&admin), Some(json!({"hosts": []}))).await;
    assert_eq!(cleared.status, StatusCode::OK);
    run(&api, &admin, bad, "broken").await;
    let stopped =
        deliveries_until(&api, &admin, all_id, |d| d.len() == 5 && d.iter().all(|x| x["status"] != "pending")).await;
    let refused: Vec<&Value> = stopped.iter().filter(|d| d["status"] == "failed").collect();
    assert_eq!(refused.len(), 2, "{stopped:#?}");
    assert!(refused.iter().all(|d| d["last_error"].as_str().unwrap().contains("no longer an allowed webhook host")));
    assert_eq!(seen.lock().unwrap().iter().filter(|r| r.path == "/ok/all").count(), 3, "nothing sent after");
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_webhook_requests_get_clear_errors_and_create_nothing() {
    let api = Api::new().await;
    let admin = api.admin("ops.b@caac.example").await;
    let alice = api.login_after_signup("alice.b@caac.example").await;
    let set = |hosts: Value| {
        api.call(Method::PUT, "/api/v1/settings/webhook-hosts", Some(&admin), Some(json!({"hosts": hosts})))
    };
    for bad in [json!(["http://hooks.example.org"]), json!(["hooks.example.org/x"]), json!(["x:99999"]), json!([""])] {
        let reply = set(bad.clone()).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {}", reply.text());
        assert!(reply.text().contains("host"), "{}", reply.text());
    }
    let too_many: Vec<String> = (0..1001).map(|i| format!("h{i}.example.org")).collect();
    assert_eq!(set(json!(too_many)).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(set(json!(["hooks.example.org"])).await.status, StatusCode::OK);

    let url = "https://hooks.example.org/h";
    for (body, needle) in [
        (json!({"name": "", "url": url}), "name"),
        (json!({"name": "x".repeat(101), "url": url}), "name"),
        (json!({"name": "ok", "url": url, "events": ["run.exploded"]}), "unknown event"),
        (json!({"name": "ok", "url": url, "colour": "blue"}), "colour"),
        (json!({"name": "ok", "url": "javascript:alert(1)"}), "http"),
        (json!({"name": "ok"}), "url"),
    ] {
        let reply = api.call(Method::POST, "/api/v1/webhooks", Some(&alice), Some(body.clone())).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", reply.text());
        assert!(reply.text().contains(needle), "{body}: {}", reply.text());
    }
    assert!(api.get("/api/v1/webhooks", &alice).await.json()["webhooks"].as_array().unwrap().is_empty());

    // At most 20 per account, and one name once.
    for i in 0..20 {
        create(&api, &alice, json!({"name": format!("w{i}"), "url": url})).await;
    }
    let again = api.call(Method::POST, "/api/v1/webhooks", Some(&alice), Some(json!({"name": "w0", "url": url}))).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());
    let over = api.call(Method::POST, "/api/v1/webhooks", Some(&alice), Some(json!({"name": "w20", "url": url}))).await;
    assert_eq!(over.status, StatusCode::CONFLICT, "{}", over.text());
    assert!(over.text().contains("delete one"), "{}", over.text());
    // Someone else's webhook cannot be deleted, nor told apart from none.
    let theirs = api.get("/api/v1/webhooks", &alice).await.json()["webhooks"][0]["id"].as_str().unwrap().to_owned();
    let bob = api.login_after_signup("bob.b@caac.example").await;
    let deleted = api.call(Method::DELETE, &format!("/api/v1/webhooks/{theirs}"), Some(&bob), None).await;
    assert_eq!(deleted.status, StatusCode::NOT_FOUND);
    let missing = api.call(Method::DELETE, "/api/v1/webhooks/wh_nope", Some(&bob), None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(api.get("/api/v1/webhooks", &alice).await.json()["webhooks"].as_array().unwrap().len(), 20);
}

//! The API through real sockets on the production stack: two `hangar
//! serve` processes on one PostgreSQL database and one S3 bucket. A run
//! started on one server is watched, read and downloaded on the other, and
//! a per-second schedule fired by both schedulers starts each time once.

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use support::Cluster;
use support::api::parse_sse;

const SECRET: &str = "socket-test-secret-0123456789abcdef0123";
const PASSWORD: &str = "correct horse battery staple";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn start_server(cluster: &mut Cluster, name: &str) -> String {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    cluster.spawn_with(name, &["serve", "--bind", &bind, "--concurrency", "2"], &[("HANGAR_JWT_SECRET", SECRET)]);
    format!("http://{bind}")
}

async fn wait_healthy(client: &reqwest::Client, base: &str, cluster: &Cluster) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(reply) = client.get(format!("{base}/ready")).send().await
            && reply.status() == 200
        {
            return;
        }
        assert!(Instant::now() < deadline, "{base} never became ready:\n{}", cluster.all_logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn json(reply: reqwest::Response) -> Value {
    let status = reply.status();
    let text = reply.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text}"))
}

async fn count(url: &str, sql: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(url).await.expect("connect");
    let row = sqlx::query(sql).fetch_one(&mut conn).await.expect("query");
    sqlx::Row::try_get::<i64, _>(&row, 0).expect("a count")
}

#[test]
fn two_servers_share_runs_events_artifacts_and_schedules() {
    // The cluster sets up and drops its database outside the async runtime.
    let mut cluster = Cluster::new(true);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(scenario(&mut cluster));
}

async fn scenario(cluster: &mut Cluster) {
    let created = cluster
        .hangar("admin")
        .args(["users", "create", "--email", "ops@hangar.example", "--password", PASSWORD, "--admin"])
        .output()
        .expect("users create");
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let a = start_server(cluster, "server-a");
    let b = start_server(cluster, "server-b");
    let client = reqwest::Client::new();
    wait_healthy(&client, &a, cluster).await;
    wait_healthy(&client, &b, cluster).await;

    // The administrator made on the command line can sign in...
    let admin = json(
        client
            .post(format!("{a}/api/v1/auth/login"))
            .json(&json!({"email": "ops@hangar.example", "password": PASSWORD}))
            .send()
            .await
            .expect("login"),
    )
    .await;
    assert!(admin["access_token"].as_str().is_some(), "{admin}");
    // ...and an engineer registers on server A and signs in on server B.
    let registered = client
        .post(format!("{a}/api/v1/auth/register"))
        .json(&json!({"email": "engineer@caac.example", "password": PASSWORD, "organization": "CAAC"}))
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), 201);
    let login = json(
        client
            .post(format!("{b}/api/v1/auth/login"))
            .json(&json!({"email": "engineer@caac.example", "password": PASSWORD}))
            .send()
            .await
            .expect("login"),
    )
    .await;
    let token = login["access_token"].as_str().expect("token").to_owned();
    let auth = format!("Bearer {token}");

    // Upload to S3 through server A.
    let text = "# AD 2026-11-03\n\nInspect the elevator hinge fittings within 600 flight hours.\n";
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(text.as_bytes().to_vec()).file_name("ad-2026-11-03.md"));
    let upload = json(
        client
            .post(format!("{a}/api/v1/uploads"))
            .header("authorization", &auth)
            .multipart(form)
            .send()
            .await
            .expect("upload"),
    )
    .await;
    assert!(upload["uri"].as_str().is_some_and(|u| u.starts_with("s3://")), "{upload}");
    let key = upload["key"].as_str().expect("key").to_owned();

    let pipeline = "name: ads\nparams:\n  source: { type: string }\ntasks:\n  ingest:\n    uses: ingest\n    with:\n      path: \"${{ params.source }}\"\n";
    let stored = client
        .post(format!("{a}/api/v1/pipelines"))
        .header("authorization", &auth)
        .body(pipeline)
        .send()
        .await
        .expect("pipeline");
    assert_eq!(stored.status(), 201, "{}", stored.text().await.unwrap_or_default());
    let run = json(
        client
            .post(format!("{a}/api/v1/pipelines/ads/runs"))
            .header("authorization", &auth)
            .json(&json!({"params": {"source": key}}))
            .send()
            .await
            .expect("run"),
    )
    .await;
    let run_id = run["run_id"].as_str().expect("run id").to_owned();

    // Watch it from server B: its events come from the shared database.
    let events = client
        .get(format!("{b}/api/v1/runs/{run_id}/events"))
        .header("authorization", &auth)
        .send()
        .await
        .expect("events");
    assert_eq!(events.status(), 200);
    let mut stream = events.bytes_stream();
    let mut sse = String::new();
    let read = async {
        while let Some(chunk) = stream.next().await {
            sse.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
            if sse.contains("event: end\n") && sse.ends_with("\n\n") {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .unwrap_or_else(|_| panic!("no end event:\n{sse}\n{}", cluster.all_logs()));
    let events = parse_sse(&sse);
    assert_eq!(events.last().map(|(_, d)| d["status"].clone()), Some(json!("succeeded")), "{events:?}");
    assert!(events.iter().any(|(name, _)| name == "log"), "log lines are streamed: {events:?}");

    // Logs and output, in part, from server B.
    let logs = json(
        client
            .get(format!("{b}/api/v1/runs/{run_id}/tasks/ingest/logs"))
            .header("authorization", &auth)
            .send()
            .await
            .expect("logs"),
    )
    .await;
    assert!(!logs["lines"].as_array().expect("lines").is_empty(), "{logs}");
    let detail = json(
        client.get(format!("{b}/api/v1/runs/{run_id}")).header("authorization", &auth).send().await.expect("detail"),
    )
    .await;
    let download = detail["tasks"][0]["outputs"]["documents"]["download"].as_str().expect("download").to_owned();
    let whole = client.get(format!("{b}{download}")).header("authorization", &auth).send().await.expect("whole");
    let whole = whole.bytes().await.expect("bytes");
    assert!(String::from_utf8_lossy(&whole).contains("elevator hinge"));
    let part = client
        .get(format!("{b}{download}"))
        .header("authorization", &auth)
        .header("range", "bytes=0-15")
        .send()
        .await
        .expect("part");
    assert_eq!(part.status(), 206);
    assert_eq!(part.bytes().await.expect("bytes"), whole.slice(0..16));

    // A schedule every second, fired by both servers' schedulers for a while.
    let ticking =
        "name: tick\nschedule:\n  cron: \"* * * * * *\"\n  catchup: false\ntasks:\n  hello:\n    uses: noop\n";
    let stored = client
        .post(format!("{a}/api/v1/pipelines"))
        .header("authorization", &auth)
        .body(ticking)
        .send()
        .await
        .expect("pipeline");
    assert_eq!(stored.status(), 201);
    let schedules = json(
        client.get(format!("{b}/api/v1/schedules")).header("authorization", &auth).send().await.expect("schedules"),
    )
    .await;
    assert_eq!(schedules["schedules"][0]["id"], "spec:tick");
    assert_eq!(schedules["schedules"][0]["next_fire_times"].as_array().map(Vec::len), Some(3));
    tokio::time::sleep(Duration::from_secs(5)).await;
    let stopped = client
        .delete(format!("{a}/api/v1/schedules/spec:tick"))
        .header("authorization", &auth)
        .send()
        .await
        .expect("delete");
    assert_eq!(stopped.status(), 204);
    // Fires are gone with the schedule; the runs stay. Count them.
    let runs = count(&cluster.database_url, "SELECT COUNT(*) FROM runs WHERE pipeline = 'tick'").await;
    let distinct =
        count(&cluster.database_url, "SELECT COUNT(DISTINCT created_at / 1000) FROM runs WHERE pipeline = 'tick'")
            .await;
    assert!(runs >= 3, "a per-second schedule fired only {runs} times in 5 s:\n{}", cluster.all_logs());
    let fired_lines: usize = ["server-a", "server-b"]
        .iter()
        .map(|name| cluster.log(name).lines().filter(|l| l.contains("Schedule fired.")).count())
        .sum();
    assert_eq!(fired_lines as i64, runs, "each fire was logged by exactly one server");
    assert!(distinct >= runs - 1, "runs bunch up within a second: {distinct} distinct seconds for {runs} runs");

    // Metrics from either server describe the whole deployment.
    let metrics = client.get(format!("{b}/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("hangar_runs_total{status=\"succeeded\"}"), "{metrics}");
    assert!(
        metrics.contains("hangar_task_duration_seconds_count{operator=\"ingest\",status=\"succeeded\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("http_request_duration_seconds_bucket{"), "{metrics}");
    assert!(metrics.contains("hangar_queue_depth"), "{metrics}");
}

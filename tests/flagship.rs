//! The flagship pipeline end to end on the production stack (PostgreSQL
//! and S3): raw documents and the SmolLM2 base → … → LoRA fine-tune →
//! evaluate against the base → deploy when the gate opens, then
//! `airworthy:production` answers over `/v1/chat/completions` (streamed and
//! not, one request and eight at once) from a `hangar serve` process, and
//! the report and the registry say what happened.

mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};
use support::api::parse_sse;
use support::{Cluster, json_of};

const SECRET: &str = "flagship-test-secret-0123456789abcdef012";
const PASSWORD: &str = "correct horse battery staple";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

async fn json(reply: reqwest::Response) -> Value {
    let status = reply.status();
    let text = reply.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {text}"))
}

#[test]
fn documents_become_a_deployed_model_that_answers_chats() {
    let gguf = std::env::var("HANGAR_TEST_GGUF")
        .expect("HANGAR_TEST_GGUF is not set: run `. scripts/reference/setup.sh` first (scripts/test.sh does)");
    let mut cluster = Cluster::new(true);
    let run = cluster
        .hangar("ops")
        .args(["run", "pipelines/airworthiness.yaml", "--json", "-q"])
        .args(["-p", &format!("base_model={gguf}"), "-p", "steps=4", "-p", "max_questions=6"])
        // The cluster's 2 s leases are for the kill tests; a 135M-parameter fine-tune
        // keeps both cores busy, and its heartbeats get the default lease's slack.
        .env("HANGAR_LEASE", "30s")
        .output()
        .expect("hangar run");
    assert!(run.status.success(), "the flagship failed:\n{}", String::from_utf8_lossy(&run.stderr));
    let summary = json_of(&run);
    assert_eq!(summary["status"], "succeeded");
    for task in ["base", "dataset", "finetune", "evaluate"] {
        assert_eq!(summary["tasks"][task]["status"], "succeeded", "{task}");
    }
    let report = &summary["tasks"]["evaluate"]["outputs"]["report"];
    let beats = report["values"]["beats_baseline"].as_bool().expect("the gate's verdict");
    // The gate: deploy runs exactly when the tuned model beat its base (no production yet).
    let deployed = summary["tasks"]["deploy"]["status"] == "succeeded";
    assert_eq!(deployed, beats, "{}", summary["tasks"]["deploy"]);

    if !deployed {
        // The serving half below needs an `airworthy:production`: the imported base stands in.
        let imported = cluster
            .hangar("ops")
            .args(["models", "import", &gguf, "--name", "airworthy", "--alias", "production"])
            .output()
            .expect("models import");
        assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    }
    let made = cluster
        .hangar("ops")
        .args(["users", "create", "--email", "ops@caac.example", "--password", PASSWORD, "--admin"])
        .output()
        .expect("users create");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let bind = format!("127.0.0.1:{}", free_port());
    cluster.spawn_with("server", &["serve", "--bind", &bind, "--no-workers"], &[("HANGAR_JWT_SECRET", SECRET)]);
    let base = format!("http://{bind}");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(ask(&cluster, &base, deployed));
}

async fn ask(cluster: &Cluster, base: &str, deployed: bool) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !client.get(format!("{base}/ready")).send().await.is_ok_and(|r| r.status() == 200) {
        assert!(Instant::now() < deadline, "the server never became ready:\n{}", cluster.all_logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let login = json(
        client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": "ops@caac.example", "password": PASSWORD}))
            .send()
            .await
            .expect("login"),
    )
    .await;
    let token = login["access_token"].as_str().expect("token").to_owned();

    // The registry has the version, its training and evaluation metrics, and the alias.
    let versions = json(
        client
            .get(format!("{base}/api/v1/models/airworthy/versions"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("versions"),
    )
    .await;
    let version = &versions["versions"][0];
    assert_eq!(version["version"], 1);
    assert_eq!(version["aliases"], json!(["production"]));
    // A deployed version carries its training and evaluation metrics.
    let metrics: &[&str] =
        if deployed { &["rougeL", "bleu", "perplexity", "train.validation_loss"] } else { &["parameters"] };
    for metric in metrics {
        assert!(version["metrics"][metric].is_number(), "{metric} missing: {version}");
    }

    // Streamed chat: a role first, text pieces, a finish reason, then [DONE].
    let request = json!({
        "model": "airworthy:production",
        "messages": [{"role": "user", "content": "What does § 99.301 require?"}],
        "max_tokens": 16, "temperature": 0, "stream": true
    });
    let reply = client.post(format!("{base}/v1/chat/completions")).bearer_auth(&token).json(&request).send().await;
    let reply = reply.expect("chat");
    assert_eq!(reply.status(), 200);
    assert!(reply.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/event-stream"));
    let mut body = String::new();
    let mut stream = reply.bytes_stream();
    while let Some(chunk) = stream.next().await {
        body.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
    }
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
    let chunks: Vec<Value> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).expect("a JSON chunk"))
        .collect();
    assert!(chunks.len() >= 2, "{body}");
    assert_eq!(chunks[0]["object"], "chat.completion.chunk");
    assert_eq!(chunks[0]["model"], "airworthy@1");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let finish = &chunks[chunks.len() - 1]["choices"][0]["finish_reason"];
    assert!(finish == "stop" || finish == "length", "{finish}");
    let streamed: String =
        chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect::<Vec<_>>().concat();
    let _ = parse_sse; // the run-event parser expects named events; chunks here are plain `data:`

    // The same request unstreamed gives the same text (greedy), with usage.
    let mut plain = request.clone();
    plain["stream"] = json!(false);
    let answer = json(
        client.post(format!("{base}/v1/chat/completions")).bearer_auth(&token).json(&plain).send().await.expect("chat"),
    )
    .await;
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["choices"][0]["message"]["content"], streamed.as_str(), "{answer}");
    assert!(answer["usage"]["completion_tokens"].as_u64().is_some_and(|n| n <= 16), "{answer}");

    // Eight at once, batched by the server, each answered.
    let requests = (0..8).map(|i| {
        let body =
            json!({"model": "airworthy@1", "prompt": format!("Part 99 section {i}"), "max_tokens": 8, "seed": i});
        client.post(format!("{base}/v1/completions")).bearer_auth(&token).json(&body).send()
    });
    for reply in futures::future::join_all(requests).await {
        let completion = json(reply.expect("completion")).await;
        assert_eq!(completion["object"], "text_completion", "{completion}");
        assert!(completion["choices"][0]["text"].is_string());
    }

    let unknown = client
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(&token)
        .json(&json!({"model": "airworthy:staging", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .expect("unknown");
    assert_eq!(unknown.status(), 404);
    let anonymous = client.post(format!("{base}/v1/chat/completions")).json(&request).send().await.expect("anon");
    assert_eq!(anonymous.status(), 401);

    let metrics = client.get(format!("{base}/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("model_inference_latency_seconds_count{model=\"airworthy@1\"} 10"), "{metrics}");
    assert!(metrics.contains("model_inference_tokens_per_second"), "{metrics}");
}

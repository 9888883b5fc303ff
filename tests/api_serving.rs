//! Serving through the API in process: Hangar's generate route, an alias
//! move that switches new requests to the new version while a request in
//! flight finishes on the old one, the memory budget that unloads the least
//! recently used version, and the refusals (bad sampling, unknown model).

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use burn::prelude::*;
use hangar_sdk::NewModelVersion;
use hangar_train::infer::ModelPool;
use hangar_train::{Llama, ModelSize};
use serde_json::json;
use support::api::Api;

type Cpu = burn::backend::NdArray<f32>;
const VOCAB: usize = 40;

/// A word-level tokenizer over `w0 … w39` without end tokens.
fn tokenizer_json() -> String {
    let vocab: serde_json::Map<String, serde_json::Value> = (0..VOCAB).map(|i| (format!("w{i}"), i.into())).collect();
    json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
        "decoder": null, "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "w0"}
    })
    .to_string()
}

/// Writes a random model (seeded) into the artifact store and registers it as the next version of `m`.
async fn register(api: &Api, seed: u64) -> u32 {
    let size = ModelSize { layers: 1, d_model: 16, heads: 2, context: 512, ..ModelSize::default() };
    let device = Default::default();
    <Cpu as Backend>::seed(&device, seed);
    let model = Llama::<Cpu>::new(&size, VOCAB, &device);
    let _ = model.forward(Tensor::<Cpu, 2, Int>::zeros([1, 2], &device));
    let key = format!("models/m/{seed}");
    let dir = api.state.engine.artifacts().local_path(&key).expect("a local store");
    hangar_train::export::save_model(&model, &size, VOCAB, None, &dir).expect("save");
    std::fs::write(dir.join("tokenizer.json"), tokenizer_json()).expect("tokenizer");
    let new = NewModelVersion {
        name: "m".into(),
        run_id: None,
        task_id: None,
        artifact_key: key,
        artifact_digest: format!("blake3:{seed}"),
        metrics: BTreeMap::new(),
    };
    api.state.store().register_model_version(&new, 0).await.expect("register").version
}

async fn ask(api: &Api, token: &str, model: &str) -> support::api::Reply {
    let path = format!("/api/v1/models/{model}/generate");
    api.call(Method::POST, &path, Some(token), Some(json!({"prompt": "w3", "max_tokens": 2, "seed": 9}))).await
}

fn pool(api: &Api, budget: u64) -> Arc<ModelPool> {
    let pool = Arc::new(ModelPool::new(api.state.engine.artifacts().clone(), api.dir.path().join("models"), budget, 8));
    api.state.set_inference(pool.clone());
    pool
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_move_switches_new_requests_while_one_in_flight_finishes_on_the_old_version() {
    let api = Api::new().await;
    let token = api.admin("ops@caac.example").await;
    let pool = pool(&api, 1 << 30);
    let (one, two) = (register(&api, 1).await, register(&api, 2).await);
    api.state.store().set_model_alias("m", "production", one, 1).await.expect("alias");

    // A long generation on version 1, streamed, started before the alias moves.
    let long = json!({"prompt": "w1 w2", "max_tokens": 400, "temperature": 0, "stream": true});
    let in_flight = api.call(Method::POST, "/api/v1/models/m:production/generate", Some(&token), Some(long));
    let move_then_ask = async {
        // Once version 1 is loaded the request has resolved the alias and is decoding.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while pool.loaded().is_empty() {
            assert!(std::time::Instant::now() < deadline, "version 1 never loaded");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let moved = api
            .call(Method::PUT, "/api/v1/models/m/aliases/production", Some(&token), Some(json!({"version": two})))
            .await;
        assert_eq!(moved.status, StatusCode::OK, "{}", moved.text());
        api.call(
            Method::POST,
            "/api/v1/models/m:production/generate",
            Some(&token),
            Some(json!({"prompt": "w1 w2", "max_tokens": 4, "temperature": 0})),
        )
        .await
    };
    let (finished, after) = tokio::join!(in_flight, move_then_ask);
    assert_eq!(after.json()["model"], "m@2", "new requests reach the new version");
    assert_eq!(finished.status, StatusCode::OK);
    let text = finished.text();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let data: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).expect("JSON"))
        .collect();
    assert!(data.iter().all(|d| d["model"] == "m@1"), "the old request stays on version 1");
    let last = data.iter().rev().find(|d| d.get("finish_reason").is_some()).expect("an end event");
    assert!(data.len() > 10, "the text came in pieces");
    assert_eq!(last["usage"]["completion_tokens"], 400, "it finished all its tokens: {last}");
    assert_eq!(pool.loaded(), ["m@1", "m@2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_budget_unloads_the_least_recently_used_version() {
    let api = Api::new().await;
    let token = api.login_after_signup("ops@caac.example").await;
    // Room for one small model only.
    let pool = pool(&api, 10_000);
    register(&api, 1).await;
    register(&api, 2).await;
    let ask = |model: &'static str| ask(&api, &token, model);
    assert_eq!(ask("m@1").await.status, StatusCode::OK);
    assert_eq!(pool.loaded(), ["m@1"]);
    assert_eq!(ask("m@2").await.status, StatusCode::OK);
    assert_eq!(pool.loaded(), ["m@2"], "version 1 made room");
    let seeded = ask("m@1").await.json();
    assert_eq!(ask("m@1").await.json()["text"], seeded["text"], "same seed, same text");

    let bad = api
        .call(Method::POST, "/api/v1/models/m/generate", Some(&token), Some(json!({"prompt": "w3", "temperature": 9})))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().contains("temperature"), "{}", bad.text());
    let both = api.call(Method::POST, "/api/v1/models/m/generate", Some(&token), Some(json!({"max_tokens": 2}))).await;
    assert_eq!(both.status, StatusCode::UNPROCESSABLE_ENTITY);
    let missing = ask("nothing@1").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_with_a_full_queue_turns_requests_away_with_503() {
    let api = Api::new().await;
    let token = api.login_after_signup("ops@caac.example").await;
    let pool = ModelPool::new(api.state.engine.artifacts().clone(), api.dir.path().join("models"), 1 << 30, 8)
        .with_max_waiting(0);
    api.state.set_inference(Arc::new(pool));
    register(&api, 1).await;
    let busy = ask(&api, &token, "m@1").await;
    assert_eq!(busy.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(busy.json()["error"]["code"], "busy");
    assert!(busy.text().contains("try again"), "{}", busy.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_longer_than_the_context_loses_its_oldest_turns_when_asked() {
    let api = Api::new().await;
    let token = api.admin("ops@caac.example").await;
    pool(&api, 1 << 30);
    register(&api, 3).await;
    // Eight turns of about 100 tokens each against a 512-token context.
    let turn = (0..100).map(|i| format!("w{}", 1 + i % 39)).collect::<Vec<_>>().join(" ");
    let messages: Vec<serde_json::Value> = (0..8)
        .map(|i| json!({"role": if i % 2 == 0 { "user" } else { "assistant" }, "content": turn.clone()}))
        .chain(std::iter::once(json!({"role": "user", "content": "w5 w6"})))
        .collect();
    let ask = |truncation: Option<&str>, stream: bool| {
        let mut body =
            json!({"model": "m", "messages": messages.clone(), "max_tokens": 4, "temperature": 0, "stream": stream});
        if let Some(t) = truncation {
            body["truncation"] = t.into();
        }
        api.call(Method::POST, "/v1/chat/completions", Some(&token), Some(body))
    };
    let refused = ask(None, false).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text());
    assert!(refused.text().contains("truncation"), "the refusal names the way out: {}", refused.text());

    let answered = ask(Some("auto"), false).await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.text());
    let reply = answered.json();
    let dropped = reply["dropped_messages"].as_u64().expect("how many turns were left out");
    assert!((4..=8).contains(&dropped), "{reply}");
    assert!(reply["usage"]["prompt_tokens"].as_u64() < Some(512 - 4), "room for the answer: {reply}");

    // Streamed, the last chunk says it.
    let streamed = ask(Some("auto"), true).await;
    let text = streamed.text();
    let last = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .find(|c| c["choices"][0]["finish_reason"].is_string())
        .expect("a last chunk");
    assert_eq!(last["dropped_messages"].as_u64(), Some(dropped), "{last}");

    let unknown = ask(Some("middle"), false).await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
}

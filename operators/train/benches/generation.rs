//! Generation speed of the serving path (KV cache, batched decoding) on the
//! CPU: a ~7.4M-parameter LLaMA with random weights, 128 new tokens, one
//! request and eight decoded together; time to first token and tokens/s.
//! `bench/generation.sh` runs it beside transformers on the same weights.
//!
//!   cargo bench -p hangar-train --bench generation -- DIR [RUNS]
//!   cargo bench -p hangar-train --bench generation -- DIR [RUNS] late
//!
//! DIR receives the model (safetensors + config.json) for the Python side;
//! with `HANGAR_GENERATION_MODEL=FOLDER` (a Hugging Face-layout model, such
//! as an imported SmolLM2-135M-Instruct) that model is measured instead and
//! DIR is not written.
//! `late` measures instead what continuous batching buys a request that
//! arrives while seven others are a quarter into their generation: its time
//! to first token and when all eight are done, joining at the next step
//! (what the server does) against waiting for the running batch to finish
//! (what it did before), both replayed on the same decoder.

use std::time::Instant;

use burn::prelude::*;
use hangar_train::infer::{Batch, GenerationRequest, LoadedModel};
use hangar_train::{Llama, ModelSize};

type Cpu = burn::backend::NdArray<f32>;

const VOCAB: usize = 16_000;
const NEW_TOKENS: usize = 128;

fn size() -> ModelSize {
    ModelSize { layers: 4, d_model: 256, heads: 4, context: 512, ..ModelSize::default() }
}

/// A word-level tokenizer without end tokens, so that every run generates all its tokens.
fn tokenizer_json() -> String {
    let vocab: serde_json::Map<String, serde_json::Value> = (0..VOCAB).map(|i| (format!("w{i}"), i.into())).collect();
    serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
        "decoder": null, "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "w0"}
    })
    .to_string()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let dir = std::path::PathBuf::from(args.first().map_or("/tmp/hangar-generation-model", String::as_str));
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(5);
    let (dir, parameters, vocab) = match std::env::var_os("HANGAR_GENERATION_MODEL") {
        Some(folder) => {
            let folder = std::path::PathBuf::from(folder);
            let config: serde_json::Value =
                serde_json::from_slice(&std::fs::read(folder.join("config.json")).expect("config.json"))
                    .expect("config.json is JSON");
            let vocab = config["vocab_size"].as_u64().expect("vocab_size") as usize;
            (folder, 0, vocab)
        }
        None => {
            let device = Default::default();
            <Cpu as Backend>::seed(&device, 5);
            let model = Llama::<Cpu>::new(&size(), VOCAB, &device);
            let _ = model.forward(Tensor::<Cpu, 2, Int>::zeros([1, 2], &device));
            hangar_train::export::save_model(&model, &size(), VOCAB, None, &dir).expect("save the model");
            std::fs::write(dir.join("tokenizer.json"), tokenizer_json()).expect("tokenizer");
            (dir, size().parameters(VOCAB), VOCAB)
        }
    };
    // HANGAR_GENERATION_WEIGHTS=bf16: the decoder's matrices in bfloat16.
    let precision = match std::env::var("HANGAR_GENERATION_WEIGHTS").as_deref() {
        Ok("bf16") => hangar_train::infer::WeightPrecision::Bf16,
        _ => hangar_train::infer::WeightPrecision::F32,
    };
    let mut loaded = LoadedModel::load_with(&dir, precision).expect("load");
    loaded.never_stop_early();
    // An imported model's count, from its fp32 weights file.
    let parameters = if parameters == 0 { (loaded.weight_bytes / 4) as usize } else { parameters };

    let prompt = |i: usize| -> Vec<u32> { (0..16).map(|k| ((i * 131 + k * 17) % vocab) as u32).collect() };
    let request = |i: usize| GenerationRequest {
        prompt: prompt(i),
        max_tokens: NEW_TOKENS,
        temperature: 0.0,
        top_p: 1.0,
        seed: 0,
        stop: Vec::new(),
    };
    if args.get(2).is_some_and(|a| a == "late") {
        late_arrival(&loaded, &request, runs);
        return;
    }
    for batch in [1usize, 8] {
        let requests: Vec<GenerationRequest> = (0..batch).map(request).collect();
        let _ = loaded.generate(&requests, |_| {}); // warm-up
        let (mut rates, mut first) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let started = Instant::now();
            let mut first_at = None;
            let out = loaded
                .generate(&requests, |_| {
                    first_at.get_or_insert_with(|| started.elapsed().as_secs_f64());
                })
                .expect("generate");
            let seconds = started.elapsed().as_secs_f64();
            let tokens: usize = out.iter().map(|f| f.completion_tokens).sum();
            assert_eq!(tokens, NEW_TOKENS * batch, "every sequence generates all its tokens");
            rates.push(tokens as f64 / seconds);
            first.push(first_at.unwrap_or(seconds));
        }
        println!(
            "{{\"engine\": \"hangar\", \"batch\": {batch}, \"parameters\": {parameters}, \"tokens_per_s\": {:.1}, \"first_token_ms\": {:.2}}}",
            median(rates),
            median(first) * 1e3
        );
    }
}

/// Steps taken by the running sequences before the newcomer arrives.
const STEPS_BEFORE: usize = NEW_TOKENS / 4;

/// Seconds from the newcomer's arrival to its first text, and to the end of all eight.
fn replay(loaded: &LoadedModel, request: &dyn Fn(usize) -> GenerationRequest, join_at_once: bool) -> (f64, f64) {
    let mut batch = Batch::default();
    for i in 0..7 {
        assert!(loaded.admit(&mut batch, request(i), false).is_ok());
    }
    for _ in 0..STEPS_BEFORE {
        loaded.step(&mut batch, |_, _| {});
    }
    let arrived = Instant::now();
    if !join_at_once {
        while !batch.is_empty() {
            loaded.step(&mut batch, |_, _| {});
        }
    }
    assert!(loaded.admit(&mut batch, request(7), true).is_ok());
    let mut first = None;
    while !batch.is_empty() {
        loaded.step(&mut batch, |newcomer, _| {
            if *newcomer {
                first.get_or_insert_with(|| arrived.elapsed().as_secs_f64());
            }
        });
    }
    (first.unwrap_or(f64::NAN), arrived.elapsed().as_secs_f64())
}

fn late_arrival(loaded: &LoadedModel, request: &dyn Fn(usize) -> GenerationRequest, runs: usize) {
    let _ = replay(loaded, request, true); // warm-up
    for (policy, join_at_once) in [("continuous", true), ("batch_at_a_time", false)] {
        let (mut first, mut all) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let (f, a) = replay(loaded, request, join_at_once);
            first.push(f);
            all.push(a);
        }
        println!(
            "{{\"scenario\": \"late_arrival\", \"policy\": \"{policy}\", \"newcomer_first_token_ms\": {:.1}, \"all_done_ms\": {:.1}}}",
            median(first) * 1e3,
            median(all) * 1e3
        );
    }
}

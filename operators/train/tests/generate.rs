//! Incremental decoding: the key/value cache gives the logits a full
//! forward pass gives, left-padded batches give what each sequence gives
//! alone, and generation honours its token budget and stop strings.

use burn::prelude::*;
use hangar_train::infer::{FinishReason, GenerationRequest, LoadedModel};
use hangar_train::model::KvCache;
use hangar_train::{Llama, ModelSize};

type Cpu = burn::backend::NdArray<f32>;

const VOCAB: usize = 40;

fn size() -> ModelSize {
    ModelSize {
        layers: 2,
        d_model: 32,
        heads: 4,
        kv_heads: Some(2),
        ffn: Some(64),
        context: 64,
        ..ModelSize::default()
    }
}

fn model() -> Llama<Cpu> {
    let device = Default::default();
    <Cpu as Backend>::seed(&device, 11);
    let model = Llama::<Cpu>::new(&size(), VOCAB, &device);
    let _ = model.forward(Tensor::<Cpu, 2, Int>::zeros([1, 2], &device));
    model
}

fn ints(ids: &[i64]) -> Tensor<Cpu, 2, Int> {
    Tensor::<Cpu, 1, Int>::from_ints(ids, &Default::default()).reshape([1, ids.len()])
}

fn close(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn cached_steps_give_the_logits_of_a_full_forward_pass() {
    let model = model();
    let tokens: Vec<i64> = vec![3, 17, 5, 9, 22, 1, 30, 8];
    let full = model.forward(ints(&tokens)).into_data().to_vec::<f32>().expect("f32");
    let mut cache = KvCache::new(model.layer_count(), vec![0]);
    let mut last = model.forward_cached(ints(&tokens[..3]), &mut cache, &model.output_head());
    for (i, &token) in tokens.iter().enumerate().skip(3) {
        let position = i - 1;
        let expected = &full[position * VOCAB..(position + 1) * VOCAB];
        let got = last.into_data().to_vec::<f32>().expect("f32");
        assert!(close(&got, expected) < 1e-4, "position {position} differs by {}", close(&got, expected));
        last = model.forward_cached(ints(&[token]), &mut cache, &model.output_head());
    }
}

#[test]
fn a_left_padded_batch_gives_each_sequence_its_own_logits() {
    let model = model();
    let device = Default::default();
    let short: Vec<i64> = vec![4, 12];
    let long: Vec<i64> = vec![7, 2, 33, 19, 6];
    let alone = |ids: &[i64]| {
        let mut cache = KvCache::new(model.layer_count(), vec![0]);
        let first =
            model.forward_cached(ints(ids), &mut cache, &model.output_head()).into_data().to_vec::<f32>().expect("f32");
        let next = model
            .forward_cached(ints(&[9]), &mut cache, &model.output_head())
            .into_data()
            .to_vec::<f32>()
            .expect("f32");
        (first, next)
    };
    let padded: Vec<i64> = [0, 0, 0].iter().chain(&short).chain(&long).copied().collect();
    let batch = Tensor::<Cpu, 1, Int>::from_ints(padded.as_slice(), &device).reshape([2, 5]);
    let mut cache = KvCache::new(model.layer_count(), vec![3, 0]);
    let first = model.forward_cached(batch, &mut cache, &model.output_head()).into_data().to_vec::<f32>().expect("f32");
    let step = Tensor::<Cpu, 1, Int>::from_ints([9, 9], &device).reshape([2, 1]);
    let next = model.forward_cached(step, &mut cache, &model.output_head()).into_data().to_vec::<f32>().expect("f32");
    for (row, ids) in [(0, &short), (1, &long)] {
        let (first_alone, next_alone) = alone(ids);
        assert!(close(&first[row * VOCAB..(row + 1) * VOCAB], &first_alone) < 1e-4, "prefill of row {row}");
        assert!(close(&next[row * VOCAB..(row + 1) * VOCAB], &next_alone) < 1e-4, "next step of row {row}");
    }
}

/// A word-level tokenizer over `w0 … w35` and the chat specials.
fn tokenizer_json() -> String {
    let mut vocab = serde_json::Map::new();
    let specials = ["<|pad|>", "<|endoftext|>", "<|end|>", "<unk>"];
    for (i, s) in specials.iter().enumerate() {
        vocab.insert((*s).to_owned(), i.into());
    }
    for i in specials.len()..VOCAB {
        vocab.insert(format!("w{i}"), i.into());
    }
    let added: Vec<serde_json::Value> = specials
        .iter()
        .enumerate()
        .map(|(i, s)| {
            serde_json::json!({"id": i, "content": s, "single_word": false, "lstrip": false, "rstrip": false,
                "normalized": false, "special": true})
        })
        .collect();
    serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
        "decoder": null, "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"}
    })
    .to_string()
}

fn loaded() -> (tempfile::TempDir, LoadedModel) {
    let dir = tempfile::tempdir().expect("dir");
    hangar_train::export::save_model(&model(), &size(), VOCAB, Some(1), dir.path()).expect("save");
    std::fs::write(dir.path().join("tokenizer.json"), tokenizer_json()).expect("tokenizer");
    let loaded = LoadedModel::load(dir.path()).expect("load");
    (dir, loaded)
}

fn request(model: &LoadedModel, text: &str, max_tokens: usize) -> GenerationRequest {
    GenerationRequest {
        prompt: model.text_prompt(text).expect("prompt"),
        max_tokens,
        temperature: 0.0,
        top_p: 1.0,
        seed: 1,
        stop: Vec::new(),
    }
}

#[test]
fn batched_generation_equals_one_at_a_time_and_streams_what_it_returns() {
    let (_dir, model) = loaded();
    let prompts = ["w5 w6 w7", "w10", "w20 w21 w22 w23 w24 w25"];
    let requests: Vec<GenerationRequest> = prompts.iter().map(|p| request(&model, p, 12)).collect();
    let mut streamed = vec![String::new(); prompts.len()];
    let together = model.generate(&requests, |e| streamed[e.index].push_str(&e.text)).expect("batch");
    for (i, request) in requests.iter().enumerate() {
        let alone = model.generate(std::slice::from_ref(request), |_| {}).expect("alone");
        assert_eq!(together[i], alone[0], "prompt {i}");
        assert_eq!(streamed[i], together[i].text, "the stream adds up to the text of prompt {i}");
    }
    let budget = together.iter().find(|f| f.reason == FinishReason::Length).expect("one ran out of tokens");
    assert_eq!(budget.completion_tokens, 12);
}

#[test]
fn a_stop_string_ends_the_text_before_it() {
    let (_dir, model) = loaded();
    let free = model.generate(&[request(&model, "w5 w6", 10)], |_| {}).expect("free");
    let words: Vec<&str> = free[0].text.split_whitespace().collect();
    assert!(words.len() >= 3, "{:?}", free[0]);
    let mut stopped = request(&model, "w5 w6", 10);
    stopped.stop = vec![words[2].to_owned()];
    let out = model.generate(&[stopped], |_| {}).expect("stopped");
    assert_eq!(out[0].reason, FinishReason::Stop);
    assert!(!out[0].text.contains(words[2]) || words[..2].contains(&words[2]), "{:?}", out[0]);
    assert!(free[0].text.starts_with(out[0].text.trim_end()), "{:?} vs {:?}", out[0], free[0]);

    // A stop string of two words: the first word waits in case the second
    // follows, so nothing of the stop string is ever streamed.
    let mut spanning = request(&model, "w5 w6", 10);
    spanning.stop = vec![format!("{} {}", words[1], words[2])];
    let mut streamed = String::new();
    let out = model.generate(&[spanning], |e| streamed.push_str(&e.text)).expect("stopped");
    assert_eq!(out[0].reason, FinishReason::Stop, "{:?}", out[0]);
    assert_eq!(streamed, out[0].text, "the stream holds back what may start the stop string");
}

#[test]
fn the_plain_cpu_decoder_computes_the_burn_models_logits() {
    use hangar_train::infer::{CpuDecoder, Item};
    let model = model();
    let decoder = CpuDecoder::new(model.plain_weights(), 4, 2, size().norm_eps);
    let tokens: Vec<i64> = vec![3, 17, 5, 9, 22, 1, 30, 8];
    let full = model.forward(ints(&tokens)).into_data().to_vec::<f32>().expect("f32");
    // Two sequences in one pass: the first three tokens of one, then token by token with another beside it.
    let mut caches = vec![decoder.cache(), decoder.cache()];
    let items: Vec<Item> = tokens[..3]
        .iter()
        .map(|&t| Item { sequence: 0, token: t as u32 })
        .chain([Item { sequence: 1, token: 7 }])
        .collect();
    let mut logits = decoder.forward(&items, &mut caches);
    for (i, &token) in tokens.iter().enumerate().skip(3) {
        let position = i - 1;
        let got = &logits.iter().find(|(s, _)| *s == 0).expect("sequence 0").1;
        let expected = &full[position * VOCAB..(position + 1) * VOCAB];
        assert!(close(got, expected) < 1e-4, "position {position} differs by {}", close(got, expected));
        logits =
            decoder.forward(&[Item { sequence: 0, token: token as u32 }, Item { sequence: 1, token: 2 }], &mut caches);
    }
}

#[test]
fn requests_join_and_leave_a_running_batch_and_read_as_if_alone() {
    use hangar_train::infer::Batch;
    let (_dir, model) = loaded();
    // A request that runs its whole budget, and a short one.
    let long = ["w5 w6 w7", "w10", "w20 w21 w22 w23 w24 w25", "w8 w9", "w30 w31"]
        .iter()
        .map(|p| request(&model, p, 20))
        .find(|r| model.generate(std::slice::from_ref(r), |_| {}).expect("alone")[0].reason == FinishReason::Length)
        .expect("a prompt that runs its whole budget");
    let short = request(&model, "w12 w13", 3);
    let alone_long = model.generate(std::slice::from_ref(&long), |_| {}).expect("alone").remove(0);
    let alone_short = model.generate(std::slice::from_ref(&short), |_| {}).expect("alone").remove(0);

    let mut batch = Batch::default();
    let mut streamed: std::collections::BTreeMap<&str, String> = Default::default();
    let mut finished = Vec::new();
    assert!(model.admit(&mut batch, long, "long").is_ok());
    for _ in 0..5 {
        finished.extend(model.step(&mut batch, |tag, text| streamed.entry(*tag).or_default().push_str(&text)));
    }
    assert!(finished.is_empty(), "five steps into a budget of twenty");
    // The short one joins the running batch, and one that leaves before its first step.
    assert!(model.admit(&mut batch, short, "short").is_ok());
    assert!(model.admit(&mut batch, request(&model, "w14", 5), "gone").is_ok());
    batch.retain(|tag| *tag != "gone");
    assert_eq!(batch.len(), 2);
    while !batch.is_empty() {
        for (tag, finish) in model.step(&mut batch, |tag, text| streamed.entry(*tag).or_default().push_str(&text)) {
            finished.push((tag, finish));
            if tag == "short" {
                assert_eq!(batch.len(), 1, "the short request left while the long one went on");
            }
        }
    }
    let order: Vec<&str> = finished.iter().map(|(tag, _)| *tag).collect();
    assert_eq!(order, ["short", "long"]);
    assert_eq!(finished[0].1, alone_short, "joining a running batch changes nothing of the text");
    assert_eq!(finished[1].1, alone_long, "nor does having another join");
    assert_eq!(streamed["short"], alone_short.text);
    assert_eq!(streamed["long"], alone_long.text);
    assert!(!streamed.contains_key("gone"));
}

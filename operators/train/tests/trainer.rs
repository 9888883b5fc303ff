//! The training loop on the CPU with a tiny model: the loss falls on
//! learnable data, and a run cancelled after a checkpoint and resumed from
//! it ends exactly where an uninterrupted run ends.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use hangar_train::data::TokenStream;
use hangar_train::trainer::{Corpus, Hooks, Job, TrainError, train};
use hangar_train::{CpuBackend, ModelSize, TrainConfig};

fn config(steps: u64) -> TrainConfig {
    let mut config: TrainConfig =
        serde_json::from_value(serde_json::json!({"dataset": "d", "tokenizer": "t"})).expect("defaults");
    config.model = ModelSize {
        layers: 2,
        d_model: 32,
        heads: 4,
        kv_heads: Some(2),
        ffn: Some(64),
        context: 16,
        ..ModelSize::default()
    };
    config.steps = steps;
    config.batch_size = 4;
    config.learning_rate = 3e-3;
    config.warmup_steps = 3;
    config.eval_every = 10;
    config.eval_batches = 2;
    config.checkpoint_every = 5;
    config
}

/// A stream a small model can learn: counting modulo 23 with a little noise.
fn corpus() -> Corpus {
    let tokens: Vec<u32> = (0..4000u32).map(|i| if i % 97 == 0 { 30 } else { i % 23 }).collect();
    let validation: Vec<u32> = (0..600u32).map(|i| (i + 5) % 23).collect();
    Corpus::tokens(TokenStream { tokens }, TokenStream { tokens: validation }, 32)
}

fn run(
    config: &TrainConfig,
    resume: Option<&Path>,
    stop_after: Option<u64>,
    keep: &Path,
) -> Result<hangar_train::trainer::Trained<CpuBackend>, TrainError> {
    let scratch = tempfile::tempdir().expect("scratch");
    let steps = AtomicU64::new(0);
    let saved = Mutex::new(Vec::<PathBuf>::new());
    let on_step = |report: &hangar_train::trainer::StepReport<'_>| steps.store(report.step, Ordering::SeqCst);
    let is_cancelled = || stop_after.is_some_and(|n| steps.load(Ordering::SeqCst) >= n);
    let on_checkpoint = |step: u64, dir: &Path| {
        let target = keep.join(format!("step-{step}"));
        std::fs::create_dir_all(&target).expect("keep dir");
        for name in hangar_train::trainer::CHECKPOINT_FILES {
            std::fs::copy(dir.join(name), target.join(name)).expect("copy checkpoint");
        }
        saved.lock().expect("lock").push(target);
        Ok(())
    };
    let hooks = Hooks { on_step: &on_step, is_cancelled: &is_cancelled, on_checkpoint: &on_checkpoint };
    let corpus = corpus();
    let job = Job {
        config,
        seed: 7,
        digest: "digest",
        corpus: &corpus,
        resume,
        init: None,
        scratch: scratch.path(),
        hooks: &hooks,
    };
    train::<CpuBackend>(&job, &Default::default())
}

#[test]
fn the_loss_falls_on_learnable_data() {
    let keep = tempfile::tempdir().expect("keep");
    let trained = run(&config(40), None, None, keep.path()).expect("train");
    let history = &trained.history;
    assert_eq!(history.len(), 40);
    let first = history[0].loss;
    let last = history[39].loss;
    assert!((first - 32f64.ln()).abs() < 0.5, "starts near ln(32) = 3.47: {first}");
    assert!(last < first * 0.6, "the loss fell from {first} to {last}");
    let validation = history[39].validation_perplexity.expect("evaluated at the end");
    assert!(validation < 32.0 * 0.6, "validation perplexity {validation}");
    assert!(history.iter().all(|r| r.tokens_per_s > 0.0));
    assert!(keep.path().join("step-40/state.json").exists(), "a checkpoint at the end");
}

#[test]
fn a_cancelled_run_resumes_from_its_checkpoint_and_ends_the_same() {
    let straight_dir = tempfile::tempdir().expect("keep");
    let straight = run(&config(20), None, None, straight_dir.path()).expect("straight run");

    let keep = tempfile::tempdir().expect("keep");
    let cancelled = run(&config(20), None, Some(12), keep.path());
    assert!(matches!(cancelled, Err(TrainError::Cancelled { step: 12 })), "{:?}", cancelled.err());
    let resumed = run(&config(20), Some(&keep.path().join("step-10")), None, keep.path()).expect("resumed run");
    assert_eq!(resumed.resumed_from, 10);
    assert_eq!(resumed.history.len(), 20, "the history of the first 10 steps came with the checkpoint");
    for (a, b) in straight.history.iter().zip(&resumed.history) {
        assert_eq!(a.step, b.step);
        assert!((a.loss - b.loss).abs() < 1e-4, "step {}: {} vs {}", a.step, a.loss, b.loss);
    }
}

#[test]
fn an_exported_model_reads_back_and_looks_like_a_hugging_face_llama() {
    use burn::prelude::*;
    type Cpu = burn::backend::NdArray<f32>;
    let keep = tempfile::tempdir().expect("keep");
    let mut config = config(5);
    config.model.tie_embeddings = false;
    let trained = run(&config, None, None, keep.path()).expect("train");
    let dir = tempfile::tempdir().expect("model dir");
    hangar_train::export::save_model(&trained.model, &config.model, 32, Some(0), dir.path()).expect("save");

    // The header of the safetensors file names the tensors as transformers does.
    let bytes = std::fs::read(dir.path().join("model.safetensors")).expect("weights");
    let header_len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).expect("header");
    let shape = |key: &str| header[key]["shape"].clone();
    assert_eq!(shape("model.embed_tokens.weight"), serde_json::json!([32, 32]));
    assert_eq!(
        shape("model.layers.0.self_attn.k_proj.weight"),
        serde_json::json!([16, 32]),
        "[out, in], 2 kv heads of 8"
    );
    assert_eq!(shape("model.layers.1.mlp.gate_proj.weight"), serde_json::json!([64, 32]));
    assert_eq!(shape("model.layers.1.post_attention_layernorm.weight"), serde_json::json!([32]));
    assert_eq!(shape("model.norm.weight"), serde_json::json!([32]));
    assert_eq!(shape("lm_head.weight"), serde_json::json!([32, 32]));
    let hf: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).expect("config")).expect("json");
    assert_eq!(hf["num_key_value_heads"], 2);
    assert_eq!(hf["architectures"][0], "LlamaForCausalLM");

    // Loaded back, it computes the same logits.
    let device = Default::default();
    let (loaded, size, vocab) = hangar_train::export::load_model::<Cpu>(dir.path(), &device).expect("load");
    assert_eq!((size.layers, vocab), (2, 32));
    let tokens = Tensor::<Cpu, 2, Int>::from_ints([[1, 2, 3, 4, 5, 6]], &device);
    let expected = trained.model.forward(tokens.clone()).into_data().to_vec::<f32>().expect("f32");
    let actual = loaded.forward(tokens).into_data().to_vec::<f32>().expect("f32");
    let worst = expected.iter().zip(&actual).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "logits differ by {worst}");
}

//! The `train` operator: fetches the dataset's shards and tokenizer, trains
//! (resuming from this task's latest checkpoint when one matches), and
//! writes a self-describing `model` folder and a `metrics` log.

use std::path::{Path, PathBuf};

use hangar_sdk::{
    ArtifactKind, ArtifactStore, ConfigProblem, Operator, OperatorError, OperatorInfo, PortDecl, Progress, TaskContext,
    TaskOutputs,
};
use serde_json::json;

use crate::backend::{ADAPTER_DIR, Export, Finished, choose_backend};
use crate::config::{Device, Mode, Precision, TrainConfig};
use crate::data::{ShardMeta, TokenStream};
use crate::export::read_hf_config;
use crate::fetch::{fetch_dataset, fetch_folder, model_key};
use crate::peft::{ADAPTER_CONFIG, ADAPTER_WEIGHTS};
use crate::plot::loss_svg;
use crate::sft::{CHAT_TEMPLATE, ChatSet};
use crate::trainer::{Corpus, Hooks, Job, MetricRow, StepReport, TrainError, checkpoint_files, read_state};

/// Trains a LLaMA-family decoder with burn.
#[derive(Debug, Default)]
pub struct Train;

fn operator_error(err: TrainError) -> OperatorError {
    match err {
        TrainError::Cancelled { .. } => OperatorError::cancelled(),
        TrainError::Diverged { .. } => OperatorError::user(err.to_string()),
        TrainError::Data(_) => OperatorError::user(err.to_string()),
        TrainError::Checkpoint { .. } | TrainError::Resource(_) => OperatorError::external(err.to_string()),
    }
}

impl Operator for Train {
    type Config = TrainConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new(
            "train",
            // 2: a LoRA fine-tune's model carries its PEFT adapter in adapter/.
            "2",
            "Trains a LLaMA-family decoder (RMSNorm, rotary positions, SwiGLU, grouped-query attention) on the dataset's token shards with burn, with AdamW, warm-up and cosine decay, checkpoints and resumption.",
        )
        .input(PortDecl::required("dataset", ArtifactKind::Dataset, "The dataset with its token shards."))
        .input(PortDecl::required("tokenizer", ArtifactKind::Tokenizer, "The tokenizer of the shards."))
        .input(
            PortDecl::optional("base", ArtifactKind::Model, "The model to fine-tune (mode: finetune): an artifact or a registered model.")
                .or_registered_model(),
        )
        .output(PortDecl::required(
            "model",
            ArtifactKind::Model,
            "model.safetensors and config.json (Hugging Face Llama layout), tokenizer.json, training.json, metrics.jsonl, loss.svg; after a LoRA fine-tune also adapter/ (a PEFT LoRA adapter: adapter_model.safetensors, adapter_config.json).",
        ))
        .output(PortDecl::required("metrics", ArtifactKind::Metrics, "One JSON line per step: loss, learning rate, tokens/s, validation loss and perplexity."))
        .nondeterministic("its metrics log and training.json record throughput (tokens/s) and timings")
        // Initialisation, adapters and batch order come from the task's seed.
        .seeded()
    }

    fn demands(&self, config: &TrainConfig) -> hangar_sdk::Demands {
        use hangar_sdk::field;
        // A vocabulary of 32k stands for the dataset's, unknown until it is built.
        let parameters =
            (config.mode == Mode::Pretrain).then(|| (field(&["model"]), config.model.parameters(32_000) as u64));
        let sequences =
            config.steps.saturating_mul(config.batch_size as u64).saturating_mul(config.grad_accumulation as u64);
        hangar_sdk::Demands {
            threads: config.threads.map(|t| (field(&["threads"]), t as u64)),
            model_parameters: parameters,
            training_sequences: Some((field(&["steps"]), sequences)),
            ..hangar_sdk::Demands::default()
        }
        .input(&["base_path"], config.base_path.as_ref())
    }

    fn check(&self, config: &TrainConfig) -> Vec<ConfigProblem> {
        let mut problems: Vec<ConfigProblem> = config
            .model
            .problems()
            .into_iter()
            .map(|(field, message)| ConfigProblem::at(&["model", field], message))
            .collect();
        for (field, value) in [
            ("steps", config.steps),
            ("batch_size", config.batch_size as u64),
            ("grad_accumulation", config.grad_accumulation as u64),
            ("eval_every", config.eval_every),
            ("checkpoint_every", config.checkpoint_every),
            ("log_every", config.log_every),
        ] {
            if value == 0 {
                problems.push(ConfigProblem::at(&[field], format!("{field} must be at least 1")));
            }
        }
        match (config.mode, config.base.is_some(), config.base_path.is_some()) {
            (Mode::Finetune, false, false) => problems.push(ConfigProblem::at(
                &["base"],
                "finetune starts from a model: give `base: ${{ tasks.ID.outputs.model }}` or `base_path: DIR`",
            )),
            (Mode::Finetune, true, true) => {
                problems.push(ConfigProblem::at(&["base_path"], "give either `base` or `base_path`, not both"))
            }
            (Mode::Pretrain, true, _) | (Mode::Pretrain, _, true) => problems.push(ConfigProblem::at(
                &["mode"],
                "`base` and `base_path` are for mode: finetune; pretraining starts from scratch",
            )),
            _ => {}
        }
        if let Some(lora) = &config.lora {
            if config.mode != Mode::Finetune {
                problems.push(ConfigProblem::at(
                    &["lora"],
                    "LoRA adapts a trained model: use it with mode: finetune, or remove `lora` to pretrain",
                ));
            }
            for (field, message) in lora.problems() {
                problems.push(ConfigProblem::at(&["lora", field], message));
            }
        }
        if config.precision == Precision::Bf16 && config.device == Device::Cpu {
            problems.push(ConfigProblem::at(
                &["precision"],
                "bf16 mixed precision runs on CUDA; use device: cuda (or auto on a GPU worker), or precision: fp32",
            ));
        }
        if !(config.learning_rate > 0.0 && config.learning_rate < 1.0) {
            problems.push(ConfigProblem::at(&["learning_rate"], "learning_rate must be between 0 and 1, e.g. 3e-4"));
        }
        if !(0.0..=1.0).contains(&config.min_lr_ratio) {
            problems.push(ConfigProblem::at(&["min_lr_ratio"], "min_lr_ratio is a share of the peak, between 0 and 1"));
        }
        problems
    }

    async fn run(&self, config: TrainConfig, ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        let scratch = ctx.scratch_dir()?.to_path_buf();
        let store = ctx.artifacts().clone();
        let dataset = ctx.input("dataset")?.clone();
        let tokenizer = ctx.input("tokenizer")?.clone();
        let dataset_dir = fetch_dataset(&store, &dataset.key, &scratch.join("dataset")).await?;
        let tokenizer_json = store
            .fetch_local(&format!("{}/tokenizer.json", tokenizer.key.trim_end_matches('/')), &scratch.join("tokenizer"))
            .await?;
        let mut config = config;
        let (corpus, base_dir, eos_id) = match config.mode {
            Mode::Pretrain => {
                let (corpus, eos) = pretraining_data(&dataset_dir, config.model.context)?;
                (corpus, None, eos)
            }
            Mode::Finetune => {
                let base_dir = match (&config.base, &config.base_path) {
                    (Some(written), _) => {
                        let key = model_key(&ctx, "base", written).await?;
                        fetch_folder(&store, &key, &scratch.join("base")).await?
                    }
                    (None, Some(path)) => ctx.fetch_input(path).await?,
                    (None, None) => return Err(OperatorError::user("finetune needs `base` or `base_path`")),
                };
                let (size, vocab) =
                    read_hf_config(&base_dir.join("config.json")).map_err(|e| OperatorError::user(e.to_string()))?;
                ctx.info(format!(
                    "fine-tuning a {}-layer, d_model {} model of {} tokens from {}",
                    size.layers,
                    size.d_model,
                    vocab,
                    config.base_path.as_ref().map_or("the base model artifact", hangar_sdk::InputPath::as_written)
                ));
                config.model = size;
                let (corpus, eos) =
                    chat_data(&dataset_dir, &tokenizer_json, config.sequence_length(), vocab, config.packing)?;
                (corpus, Some(base_dir), eos)
            }
        };
        let seed = config.seed.unwrap_or_else(|| ctx.seed());
        // A fine-tune's checkpoint holds only what was trained on top of its
        // base: it resumes only on the same base (a registered name or alias
        // may point at another version by the time the task is retried).
        let inputs_digest = match &base_dir {
            Some(dir) => format!("{}|base:{}", dataset.digest, base_digest(dir).await?),
            None => dataset.digest.clone(),
        };
        let digest = config.trajectory_digest(seed, &inputs_digest);
        let parameters = config.model.parameters(corpus.vocab);
        let corpus_vocab = corpus.vocab;
        ctx.info(format!(
            "training {} parameters ({:?}), vocabulary {}, {} steps of {} × {} tokens",
            parameters,
            config.mode,
            corpus.vocab,
            config.steps,
            config.batch_size * config.grad_accumulation.max(1),
            config.sequence_length()
        ));

        let checkpoints = format!("checkpoints/{}/{}", ctx.run_id(), ctx.task_id());
        let files = checkpoint_files(config.lora.is_some());
        let resume = latest_checkpoint(&ctx, &store, &checkpoints, &files, &scratch.join("resume"), &digest).await?;
        if let Some((step, _)) = &resume {
            ctx.info(format!("resuming from the checkpoint of step {step}"));
        }

        let backend = choose_backend(config.device)?;
        ctx.info(format!("computing on {}", backend.describe()));
        let matmul_dtype = match config.precision {
            Precision::Fp32 => None,
            Precision::Bf16 if backend.has_bf16() => {
                ctx.info("mixed precision: matrix products in bf16, weights and optimizer state in fp32");
                Some(burn::tensor::DType::BF16)
            }
            Precision::Bf16 => {
                ctx.warn("precision: bf16 needs CUDA; this run stays in fp32");
                None
            }
        };
        if let Some(lora) = &config.lora {
            ctx.info(format!(
                "LoRA rank {} on {}: {} trainable parameters, the base's {} frozen",
                lora.rank,
                lora.targets.join(", "),
                lora.parameters(&config.model),
                parameters
            ));
        }
        let handle = tokio::runtime::Handle::current();
        let work_ctx = ctx.clone();
        let work_config = config.clone();
        let work_scratch = scratch.clone();
        let work_digest = digest.clone();
        let work_store = store.clone();
        let trained = tokio::task::spawn_blocking(move || -> Result<Finished, TrainError> {
            let ctx = work_ctx;
            let config = work_config;
            let log_every = config.log_every.max(1);
            let on_step = |report: &StepReport<'_>| report_step(&ctx, report, log_every);
            let is_cancelled = || ctx.is_cancelled();
            let on_checkpoint = |step: u64, dir: &Path| {
                handle.block_on(upload_checkpoint(&work_store, &checkpoints, &files, step, dir)).map_err(|e| {
                    TrainError::Checkpoint { what: "upload", path: checkpoints.clone(), reason: e.to_string() }
                })
            };
            let hooks = Hooks { on_step: &on_step, is_cancelled: &is_cancelled, on_checkpoint: &on_checkpoint };
            let job = Export {
                job: Job {
                    config: &config,
                    seed,
                    digest: &work_digest,
                    corpus: &corpus,
                    resume: resume.as_ref().map(|(_, dir)| dir.as_path()),
                    init: base_dir.as_deref(),
                    scratch: &work_scratch,
                    matmul_dtype,
                    hooks: &hooks,
                },
                eos_id,
            };
            let run = || backend.run(&job);
            match config.threads {
                Some(threads) => match rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build() {
                    Ok(pool) => pool.install(run),
                    Err(e) => Err(TrainError::Resource(format!("cannot start {threads} compute threads: {e}"))),
                },
                None => run(),
            }
        })
        .await
        .map_err(|e| OperatorError::internal(format!("the training thread failed: {e}")))?
        .map_err(operator_error)?;

        let vocab = corpus_vocab;
        write_outputs(&ctx, &config, &trained, &tokenizer_json, vocab, seed, &dataset.digest, parameters, &scratch)
            .await
    }
}

fn report_step(ctx: &TaskContext, report: &StepReport<'_>, log_every: u64) {
    let row: &MetricRow = report.row;
    let mut progress = Progress::of(report.step, report.total, "steps")
        .metric("loss", row.loss)
        .metric("learning_rate", row.learning_rate)
        .metric("tokens_per_s", row.tokens_per_s)
        .metric("eta_s", report.eta_s);
    if let Some(v) = row.validation_loss {
        progress = progress.metric("validation_loss", v);
    }
    ctx.progress(progress.message(format!("loss {:.4}, ETA {:.0}s", row.loss, report.eta_s)));
    if report.step.is_multiple_of(log_every) || row.validation_loss.is_some() || report.step == report.total {
        let validation = match (row.validation_loss, row.validation_perplexity) {
            (Some(loss), Some(ppl)) => format!(", validation loss {loss:.4} (perplexity {ppl:.2})"),
            _ => String::new(),
        };
        ctx.info(format!(
            "step {}/{}: loss {:.4}, lr {:.2e}, {:.0} tokens/s{validation}",
            report.step, report.total, row.loss, row.learning_rate, row.tokens_per_s
        ));
    }
}

/// The dataset's token shards as training and validation streams, and the end-of-text id.
fn pretraining_data(dataset_dir: &Path, context: usize) -> Result<(Corpus, u32), OperatorError> {
    let meta: ShardMeta =
        serde_json::from_slice(&std::fs::read(dataset_dir.join("shards/meta.json")).map_err(|e| {
            OperatorError::user(format!(
                "the dataset has no shards/meta.json ({e}); build it with the dataset operator"
            ))
        })?)
        .map_err(|e| OperatorError::user(format!("the dataset's shards/meta.json is not valid: {e}")))?;
    let train = TokenStream::load(dataset_dir, &meta, "train").map_err(|e| OperatorError::user(e.to_string()))?;
    let validation =
        TokenStream::load(dataset_dir, &meta, "validation").map_err(|e| OperatorError::user(e.to_string()))?;
    if train.tokens.len() <= context + 1 {
        return Err(OperatorError::user(format!(
            "the train split has {} tokens, fewer than one context of {context}; add documents or lower model.context",
            train.tokens.len()
        )));
    }
    Ok((Corpus::tokens(train, validation, meta.vocab_size), meta.eos_id))
}

/// The dataset's SFT chats, tokenized, and the end-of-text id.
fn chat_data(
    dataset_dir: &Path,
    tokenizer_json: &Path,
    context: usize,
    vocab: usize,
    packing: bool,
) -> Result<(Corpus, u32), OperatorError> {
    let tokenizer = tokenizers::Tokenizer::from_file(tokenizer_json)
        .map_err(|e| OperatorError::user(format!("cannot load {}: {e}", tokenizer_json.display())))?;
    if tokenizer.get_vocab_size(true) > vocab {
        return Err(OperatorError::user(format!(
            "the tokenizer has {} tokens but the base model only {vocab}; build the dataset with the base model's tokenizer",
            tokenizer.get_vocab_size(true)
        )));
    }
    let template = crate::sft::own_template(&tokenizer_json.with_file_name("tokenizer_config.json"))
        .map_err(OperatorError::user)?;
    let train = ChatSet::load(&dataset_dir.join("sft/train.jsonl"), &tokenizer, context, template.as_ref())
        .map_err(OperatorError::user)?
        .packed(packing);
    let validation = ChatSet::load(&dataset_dir.join("sft/validation.jsonl"), &tokenizer, context, template.as_ref())
        .map_err(OperatorError::user)?;
    if train.chats.is_empty() {
        return Err(OperatorError::user("the dataset has no SFT chats in sft/train.jsonl; build it with `sft: true`"));
    }
    tracing::info!(
        chats = train.chats.len(),
        truncated = train.truncated + validation.truncated,
        template = if template.is_some() { "the base model's" } else { "Hangar's own" },
        "SFT chats rendered; {} of them were longer than the context of {context} tokens and cut there",
        train.truncated + validation.truncated
    );
    let eos = template
        .as_ref()
        .and_then(|t| tokenizer.token_to_id(t.eos_token()))
        .or_else(|| tokenizer.token_to_id("<|endoftext|>"))
        .unwrap_or(0);
    Ok((Corpus { train: Box::new(train), validation: Box::new(validation), vocab }, eos))
}

/// This task's newest checkpoint, downloaded, when it was written by the
/// same configuration on the same data.
async fn latest_checkpoint(
    ctx: &TaskContext,
    store: &ArtifactStore,
    prefix: &str,
    files: &[&str],
    into: &Path,
    digest: &str,
) -> Result<Option<(u64, PathBuf)>, OperatorError> {
    let latest = format!("{prefix}/latest.json");
    if !store.exists(&latest).await? {
        return Ok(None);
    }
    let pointer: serde_json::Value = serde_json::from_slice(&store.read(&latest).await?).unwrap_or_default();
    let Some(step) = pointer["step"].as_u64() else { return Ok(None) };
    std::fs::create_dir_all(into)
        .map_err(|e| OperatorError::external(format!("cannot write {}: {e}", into.display())))?;
    for name in files {
        let key = format!("{prefix}/step-{step:08}/{name}");
        // A checkpoint of another layout (written before adapters were kept
        // on their own) cannot be resumed: start over, and say so.
        if !store.exists(&key).await? {
            ctx.warn(format!("the checkpoint of step {step} has no {name} (an older layout); training starts over"));
            return Ok(None);
        }
        let bytes = store.read(&key).await?;
        std::fs::write(into.join(name), bytes)
            .map_err(|e| OperatorError::external(format!("cannot write {name}: {e}")))?;
    }
    match read_state(into) {
        Ok(state) if state.digest == digest => Ok(Some((step, into.to_path_buf()))),
        _ => Ok(None),
    }
}

/// A digest of a base model folder's config and weights (its top-level
/// `config.json` and `*.safetensors`, in name order).
async fn base_digest(dir: &Path) -> Result<String, OperatorError> {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let fail =
            |path: &Path, e: std::io::Error| OperatorError::external(format!("cannot read {}: {e}", path.display()));
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| fail(&dir, e))?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|p| {
                p.extension().is_some_and(|x| x == "safetensors") || p.file_name().is_some_and(|n| n == "config.json")
            })
            .collect();
        files.sort();
        let mut hasher = blake3::Hasher::new();
        for file in &files {
            hasher.update(file.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
            let mut reader = std::fs::File::open(file).map_err(|e| fail(file, e))?;
            std::io::copy(&mut reader, &mut hasher).map_err(|e| fail(file, e))?;
        }
        Ok(format!("blake3:{}", hasher.finalize().to_hex()))
    })
    .await
    .map_err(|e| OperatorError::internal(format!("hashing the base model failed: {e}")))?
}

/// Uploads a checkpoint folder, then points `latest.json` at it and drops the previous one.
async fn upload_checkpoint(
    store: &ArtifactStore,
    prefix: &str,
    files: &[&str],
    step: u64,
    dir: &Path,
) -> Result<(), OperatorError> {
    let previous: Option<u64> = match store.read(&format!("{prefix}/latest.json")).await {
        Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes).ok().and_then(|v| v["step"].as_u64()),
        Err(_) => None,
    };
    for name in files {
        let bytes =
            std::fs::read(dir.join(name)).map_err(|e| OperatorError::external(format!("cannot read {name}: {e}")))?;
        store.put(&format!("{prefix}/step-{step:08}/{name}"), ArtifactKind::File, &bytes).await?;
    }
    store
        .put(&format!("{prefix}/latest.json"), ArtifactKind::File, json!({"step": step}).to_string().as_bytes())
        .await?;
    if let Some(old) = previous.filter(|old| *old != step) {
        store.delete_prefix(&format!("{prefix}/step-{old:08}")).await?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn write_outputs(
    ctx: &TaskContext,
    config: &TrainConfig,
    trained: &Finished,
    tokenizer_json: &Path,
    vocab: usize,
    seed: u64,
    dataset_digest: &str,
    parameters: usize,
    scratch: &Path,
) -> Result<TaskOutputs, OperatorError> {
    let out = scratch.join("model");
    let io = |what: &str, e: std::io::Error| OperatorError::external(format!("cannot write {what}: {e}"));
    std::fs::copy(tokenizer_json, out.join("tokenizer.json")).map_err(|e| io("tokenizer.json", e))?;
    let tokenizer_config = tokenizer_json.with_file_name("tokenizer_config.json");
    let has_tokenizer_config = tokenizer_config.exists();
    if has_tokenizer_config {
        std::fs::copy(&tokenizer_config, out.join("tokenizer_config.json"))
            .map_err(|e| io("tokenizer_config.json", e))?;
    }
    let metrics: String =
        trained.history.iter().map(|row| serde_json::to_string(row).unwrap_or_default() + "\n").collect();
    std::fs::write(out.join("metrics.jsonl"), &metrics).map_err(|e| io("metrics.jsonl", e))?;
    let train_curve: Vec<(u64, f64)> = trained.history.iter().map(|r| (r.step, r.loss)).collect();
    let validation_curve: Vec<(u64, f64)> =
        trained.history.iter().filter_map(|r| r.validation_loss.map(|v| (r.step, v))).collect();
    std::fs::write(out.join("loss.svg"), loss_svg(&train_curve, &validation_curve)).map_err(|e| io("loss.svg", e))?;
    let last = trained.history.last();
    let final_validation = trained.history.iter().rev().find_map(|r| r.validation_loss);
    let training = json!({
        "framework": "hangar-train (burn 0.21)",
        "mode": config.mode,
        "config": config,
        "seed": seed,
        "parameters": parameters,
        "dataset_digest": dataset_digest,
        "vocab_size": vocab,
        "base": config.base_path.as_ref().map(|p| p.as_written().to_owned()).or_else(|| config.base.clone()),
        "chat_template": (config.mode == Mode::Finetune).then_some(CHAT_TEMPLATE),
        "resumed_from_step": trained.resumed_from,
        "final": {
            "step": last.map(|r| r.step),
            "loss": last.map(|r| r.loss),
            "validation_loss": final_validation,
            "validation_perplexity": final_validation.map(f64::exp),
        },
    });
    std::fs::write(out.join("training.json"), serde_json::to_vec_pretty(&training).unwrap_or_default())
        .map_err(|e| io("training.json", e))?;

    let mut model = ctx.output_dir("model", ArtifactKind::Model);
    for name in ["model.safetensors", "config.json", "tokenizer.json", "training.json", "metrics.jsonl", "loss.svg"] {
        model.put_file(name, &out.join(name)).await?;
    }
    if has_tokenizer_config {
        model.put_file("tokenizer_config.json", &out.join("tokenizer_config.json")).await?;
    }
    if config.lora.is_some() {
        for name in [ADAPTER_WEIGHTS, ADAPTER_CONFIG] {
            model.put_file(&format!("{ADAPTER_DIR}/{name}"), &out.join(ADAPTER_DIR).join(name)).await?;
        }
    }
    let mut metrics_file = ctx.create_output("metrics.jsonl").await?;
    metrics_file.write(metrics.as_bytes()).await?;
    if let (Some(last), Some(v)) = (last, final_validation) {
        ctx.info(format!(
            "finished at step {}: loss {:.4}, validation perplexity {:.2}",
            last.step,
            last.loss,
            v.exp()
        ));
    }
    Ok(TaskOutputs::from([
        ("model".to_owned(), model.finish().await?),
        ("metrics".to_owned(), metrics_file.finish(ArtifactKind::Metrics).await?),
    ]))
}

#[cfg(test)]
mod tests {
    use hangar_sdk::ErrorClass;

    use super::*;

    #[tokio::test]
    async fn a_base_is_known_by_its_config_and_weights_only() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("config.json"), b"{}").expect("config");
        std::fs::write(dir.path().join("model.safetensors"), b"weights").expect("weights");
        let first = base_digest(dir.path()).await.expect("digest");
        std::fs::write(dir.path().join("training.json"), b"{}").expect("notes");
        std::fs::create_dir(dir.path().join("adapter")).expect("adapter dir");
        std::fs::write(dir.path().join("adapter/adapter_model.safetensors"), b"a").expect("adapter");
        assert_eq!(base_digest(dir.path()).await.expect("digest"), first, "notes and adapters are not the base");
        std::fs::write(dir.path().join("model.safetensors"), b"other weights").expect("weights");
        assert_ne!(base_digest(dir.path()).await.expect("digest"), first, "other weights, another base");
    }

    #[test]
    fn the_machines_trouble_is_retried_and_the_datas_is_not() {
        let export = operator_error(TrainError::Resource("cannot export the trained model: disk full".into()));
        assert_eq!((export.class, export.retryable), (ErrorClass::External, true));
        let data = operator_error(TrainError::Data("no tokens".into()));
        assert_eq!((data.class, data.retryable), (ErrorClass::User, false));
    }
}

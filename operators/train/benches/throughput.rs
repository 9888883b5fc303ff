//! Training throughput of the real training loop: tokens per second and
//! achieved FLOP/s (6 × parameters × tokens/s) for a model size and thread
//! counts given on the command line, on the CPU or (built with the `cuda`
//! feature) on CUDA in fp32 or bf16 mixed precision. `bench/train.sh` and
//! `bench/train_gpu.sh` run it beside the same model in PyTorch.
//!
//!   cargo bench -p hangar-train --bench throughput -- --threads 1,2 --steps 12
//!   cargo bench -p hangar-train --features cuda --bench throughput -- --device cuda --precision bf16

use std::path::Path;

use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;
use hangar_train::data::TokenStream;
use hangar_train::trainer::{Corpus, Hooks, Job, MetricRow, TrainError, train};
use hangar_train::{CpuBackend, ModelSize, TrainConfig};

struct Args {
    layers: usize,
    d_model: usize,
    heads: usize,
    context: usize,
    batch: usize,
    vocab: usize,
    ffn: Option<usize>,
    steps: u64,
    threads: Vec<usize>,
    cuda: bool,
    bf16: bool,
}

fn parse() -> Args {
    let mut args = Args {
        layers: 4,
        d_model: 256,
        heads: 4,
        context: 256,
        batch: 8,
        vocab: 8000,
        ffn: None,
        steps: 12,
        threads: vec![1, 2],
        cuda: false,
        bf16: false,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let value = argv.get(i + 1).cloned().unwrap_or_default();
        let number = || value.parse::<usize>().unwrap_or_else(|_| panic!("{} needs a number, got {value:?}", argv[i]));
        match argv[i].as_str() {
            "--layers" => args.layers = number(),
            "--d-model" => args.d_model = number(),
            "--heads" => args.heads = number(),
            "--context" => args.context = number(),
            "--batch" => args.batch = number(),
            "--vocab" => args.vocab = number(),
            "--ffn" => args.ffn = Some(number()),
            "--device" => args.cuda = value == "cuda",
            "--precision" => args.bf16 = value == "bf16",
            "--steps" => args.steps = number() as u64,
            "--threads" => args.threads = value.split(',').filter_map(|t| t.trim().parse().ok()).collect(),
            "--bench" => {
                i += 1;
                continue;
            }
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    args
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let args = parse();
    let mut config: TrainConfig =
        serde_json::from_value(serde_json::json!({"dataset": "-", "tokenizer": "-"})).expect("defaults");
    config.model = ModelSize {
        layers: args.layers,
        d_model: args.d_model,
        heads: args.heads,
        context: args.context,
        ffn: args.ffn,
        ..ModelSize::default()
    };
    config.steps = args.steps;
    config.batch_size = args.batch;
    config.eval_every = u64::MAX;
    config.checkpoint_every = u64::MAX;
    let tokens: Vec<u32> = (0..2_000_000u64).map(|i| ((i * 2_654_435_761) % args.vocab as u64) as u32).collect();
    let corpus = Corpus::tokens(TokenStream { tokens }, TokenStream { tokens: Vec::new() }, args.vocab);
    let parameters = config.model.parameters(args.vocab);
    let backend = match (args.cuda, args.bf16) {
        (false, _) => "ndarray, fp32",
        (true, false) => "cuda, fp32",
        (true, true) => "cuda, bf16 mixed precision",
    };
    println!(
        "hangar-train (burn 0.21, {backend}): {} layers, d_model {}, {} heads, context {}, batch {}, vocab {} = {:.2}M parameters",
        args.layers,
        args.d_model,
        args.heads,
        args.context,
        args.batch,
        args.vocab,
        parameters as f64 / 1e6
    );
    let dtype = args.bf16.then_some(DType::BF16);
    if args.cuda {
        let history = on_cuda(&config, &corpus, dtype);
        report("cuda", &history, parameters);
        return;
    }
    for threads in &args.threads {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(*threads).build().expect("thread pool");
        let history = pool.install(|| run::<CpuBackend>(&config, &corpus, None, &Default::default())).expect("train");
        report(&format!("threads {threads}"), &history, parameters);
    }
}

#[cfg(feature = "cuda")]
fn on_cuda(config: &TrainConfig, corpus: &Corpus, dtype: Option<DType>) -> Vec<MetricRow> {
    type Gpu = burn::backend::Autodiff<burn::backend::Cuda<f32>>;
    run::<Gpu>(config, corpus, dtype, &Default::default()).expect("train on CUDA")
}

#[cfg(not(feature = "cuda"))]
fn on_cuda(_: &TrainConfig, _: &Corpus, _: Option<DType>) -> Vec<MetricRow> {
    panic!("this bench was built without CUDA: add `--features cuda`")
}

fn run<B: AutodiffBackend>(
    config: &TrainConfig,
    corpus: &Corpus,
    matmul_dtype: Option<DType>,
    device: &B::Device,
) -> Result<Vec<MetricRow>, TrainError> {
    let scratch = tempfile::tempdir().expect("scratch");
    let on_step = |_: &hangar_train::trainer::StepReport<'_>| {};
    let is_cancelled = || false;
    let on_checkpoint = |_: u64, _: &Path| Ok(());
    let hooks = Hooks { on_step: &on_step, is_cancelled: &is_cancelled, on_checkpoint: &on_checkpoint };
    let job = Job {
        config,
        seed: 1,
        digest: "bench",
        corpus,
        resume: None,
        init: None,
        scratch: scratch.path(),
        matmul_dtype,
        hooks: &hooks,
    };
    Ok(train::<B>(&job, device)?.history)
}

fn report(label: &str, history: &[MetricRow], parameters: usize) {
    // The first two steps warm caches, allocators and kernel autotuning.
    let mut rates: Vec<f64> = history.iter().skip(2).map(|r| r.tokens_per_s).collect();
    let rate = median(&mut rates);
    println!(
        "{label}: {rate:.0} tokens/s (median of {} steps), {:.2} GFLOP/s (6 x parameters x tokens/s)",
        rates.len(),
        6.0 * parameters as f64 * rate / 1e9
    );
}

//! Recall of dedup settings on the synthetic corpus: `--docs N --perm P --bands B --rows R --threshold T`.
use hangar_operators::dedup::synthetic::{Plan, evaluate, generate};
use hangar_operators::dedup::{DedupConfig, find_duplicates};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: &str| -> String {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.to_owned())
    };
    let docs = generate(&Plan { documents: arg("--docs", "20000").parse().expect("docs"), ..Plan::default() });
    let mut config: DedupConfig = serde_json::from_value(serde_json::json!({"documents": "x"})).expect("config");
    config.num_perm = arg("--perm", "256").parse().expect("perm");
    config.bands = arg("--bands", "64").parse().expect("bands");
    config.rows = arg("--rows", "4").parse().expect("rows");
    config.threshold = arg("--threshold", "0.7").parse().expect("threshold");
    let started = std::time::Instant::now();
    let (verdicts, index) = find_duplicates(&config, docs.iter().map(|d| d.text.as_str()));
    let secs = started.elapsed().as_secs_f64();
    let bytes: usize = docs.iter().map(|d| d.text.len()).sum();
    let eval = evaluate(&docs, &verdicts);
    println!(
        "{:.1} MB/s candidates {} verified {}",
        bytes as f64 / 1e6 / secs,
        index.candidate_pairs,
        index.verified_pairs
    );
    println!("{}", serde_json::to_string_pretty(&eval).expect("json"));
}

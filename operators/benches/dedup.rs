//! Dedup throughput, recall and memory on a synthetic corpus with planted
//! duplicates, through the same code path as the `dedup` operator (read
//! JSONL twice, fingerprint, cluster, write kept lines and duplicate records),
//! on one core.
//!
//! `cargo bench -p hangar-operators --bench dedup -- [--docs 50000] [--repeat 3] [--dir DIR]`
//!
//! The corpus and its ground truth are left in DIR (default
//! `target/bench-data/dedup`) for `bench/dedup.sh`, which runs Python
//! `datasketch` on the very same files.

use std::collections::HashMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Instant;

use hangar_operators::dedup::cluster::Verdict;
use hangar_operators::dedup::synthetic::{Plan, Plant, SyntheticDoc, evaluate, generate};
use hangar_operators::dedup::{DedupConfig, deduplicate};
use hangar_operators::io::FileSink;
use serde_json::{Value, json};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn config() -> DedupConfig {
    let mut config: DedupConfig = serde_json::from_value(json!({"documents": "bench"})).expect("defaults");
    config.workers = Some(1);
    config
}

fn write_corpus(docs: &[SyntheticDoc], dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("create the data folder");
    let corpus = dir.join("corpus.jsonl");
    let mut lines = String::new();
    for d in docs {
        lines.push_str(&serde_json::to_string(&json!({"id": d.id, "text": d.text})).expect("json"));
        lines.push('\n');
    }
    std::fs::write(&corpus, lines).expect("write corpus");
    let truth: Vec<Value> = docs
        .iter()
        .map(|d| match d.plant {
            Plant::Original => json!({"id": d.id, "planted": "original"}),
            Plant::Exact { of } => json!({"id": d.id, "planted": "exact", "of": docs[of].id}),
            Plant::Near { of, edit_rate } => {
                json!({"id": d.id, "planted": "near", "of": docs[of].id, "edit_rate": edit_rate})
            }
        })
        .collect();
    std::fs::write(dir.join("truth.json"), serde_json::to_vec(&truth).expect("json")).expect("write truth");
    corpus
}

/// Runs dedup over `corpus`; returns seconds and the verdict of each document.
fn run(corpus: &Path, out: &Path, docs: &[SyntheticDoc]) -> (f64, Vec<Verdict>) {
    let open = || BufReader::with_capacity(1 << 20, std::fs::File::open(corpus).expect("open corpus"));
    let mut kept = FileSink::create(&out.join("kept.jsonl")).expect("sink");
    let mut duplicates = FileSink::create(&out.join("duplicates.jsonl")).expect("sink");
    let started = Instant::now();
    deduplicate(&config(), "corpus.jsonl", open(), open(), &mut kept, &mut duplicates, |_| Ok(())).expect("dedup");
    kept.finish().expect("flush");
    duplicates.finish().expect("flush");
    let seconds = started.elapsed().as_secs_f64();
    // Score what the operator wrote, not internal state.
    let position: HashMap<&str, u32> = docs.iter().enumerate().map(|(i, d)| (d.id.as_str(), i as u32)).collect();
    let mut verdicts = vec![Verdict::Unique; docs.len()];
    let text = std::fs::read_to_string(out.join("duplicates.jsonl")).expect("read duplicates");
    for line in text.lines() {
        let record: Value = serde_json::from_str(line).expect("record");
        let (Some(id), Some(of)) = (record["id"].as_str(), record["duplicate_of"].as_str()) else { continue };
        verdicts[position[id] as usize] =
            Verdict::Near { of: position[of], similarity: record["similarity"].as_f64().unwrap_or(0.0) };
    }
    (seconds, verdicts)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Child mode: dedup one corpus file and report peak memory.
    if let Some(corpus) = arg(&args, "--child") {
        let out = tempfile::tempdir().expect("tempdir");
        let open = || BufReader::with_capacity(1 << 20, std::fs::File::open(&corpus).expect("open corpus"));
        let mut kept = FileSink::create(&out.path().join("kept.jsonl")).expect("sink");
        let mut dups = FileSink::create(&out.path().join("dups.jsonl")).expect("sink");
        let stats =
            deduplicate(&config(), "corpus.jsonl", open(), open(), &mut kept, &mut dups, |_| Ok(())).expect("dedup");
        println!("{} {}", stats.documents, peak_rss_kib());
        return;
    }

    let documents: usize = arg(&args, "--docs").and_then(|d| d.parse().ok()).unwrap_or(50_000);
    let repeat: usize = arg(&args, "--repeat").and_then(|d| d.parse().ok()).unwrap_or(3);
    let dir = PathBuf::from(arg(&args, "--dir").unwrap_or_else(|| {
        let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned());
        format!("{target}/bench-data/dedup")
    }));
    let docs = generate(&Plan { documents, ..Plan::default() });
    let corpus = write_corpus(&docs, &dir);
    let bytes = std::fs::metadata(&corpus).expect("stat").len() as f64;
    let c = config();
    println!(
        "dedup on {} synthetic documents ({:.1} MB of JSONL), 1 core: num_perm {}, {} bands x {} rows, threshold {}, word {}-grams",
        docs.len(),
        bytes / 1e6,
        c.num_perm,
        c.bands,
        c.rows,
        c.threshold,
        c.ngram
    );

    let out = tempfile::tempdir().expect("tempdir");
    let mut times = Vec::new();
    let mut verdicts = Vec::new();
    for _ in 0..repeat.max(1) {
        let (seconds, v) = run(&corpus, out.path(), &docs);
        times.push(seconds);
        verdicts = v;
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let eval = evaluate(&docs, &verdicts);
    println!("throughput: {:.1} MB/s (median of {} runs, {:.3} s)", bytes / 1e6 / median, times.len(), median);
    println!(
        "cluster recall: {:.4} ({} of {} planted duplicates), false removals: {}",
        eval.recall, eval.found, eval.planted, eval.false_removals
    );
    for bucket in &eval.buckets {
        println!(
            "  {:<14} {:>6} planted {:>6} found  recall {:.4}",
            bucket.label,
            bucket.planted,
            bucket.found,
            bucket.found as f64 / bucket.planted as f64
        );
    }

    // Memory as the corpus grows: each size in its own process.
    println!("peak memory (whole process) by corpus size:");
    let exe = std::env::current_exe().expect("own path");
    for size in [documents / 4, documents / 2, documents] {
        let sub = dir.join(format!("size-{size}"));
        let file = write_corpus(&generate(&Plan { documents: size, ..Plan::default() }), &sub);
        let corpus_mb = std::fs::metadata(&file).expect("stat").len() as f64 / 1e6;
        let output = std::process::Command::new(&exe).arg("--child").arg(&file).output().expect("child");
        let text = String::from_utf8_lossy(&output.stdout);
        let mut parts = text.split_whitespace();
        let (n, kib): (usize, u64) = (
            parts.next().and_then(|p| p.parse().ok()).unwrap_or(0),
            parts.next().and_then(|p| p.parse().ok()).unwrap_or(0),
        );
        println!("  {n:>7} documents, {corpus_mb:>6.1} MB corpus: peak RSS {:>6.1} MB", kib as f64 / 1024.0);
        let _ = std::fs::remove_dir_all(&sub);
    }
    let summary = json!({
        "documents": docs.len(),
        "mb": bytes / 1e6,
        "seconds": median,
        "mb_per_s": bytes / 1e6 / median,
        "evaluation": eval,
    });
    std::fs::write(dir.join("hangar.json"), serde_json::to_vec_pretty(&summary).expect("json")).expect("write summary");
}

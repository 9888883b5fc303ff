//! Tokenization throughput: a 32k byte-level BPE trained on the corpus,
//! encoding every corpus document on one thread. `bench/tokenize.sh` runs
//! Hugging Face `tokenizers` in Python on the same tokenizer file and texts.
//!
//! `cargo bench -p hangar-operators --bench tokenize -- [--corpus DIR] [--dir OUT] [--repeat 5]`

use std::path::{Path, PathBuf};
use std::time::Instant;

use hangar_operators::dataset::vocab;
use hangar_operators::ingest::IngestConfig;
use hangar_operators::ingest::formats::{Format, extract};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("list the corpus") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let corpus = PathBuf::from(
        arg("--corpus").unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus").to_owned()),
    );
    let out = PathBuf::from(arg("--dir").unwrap_or_else(|| {
        let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned());
        format!("{target}/bench-data/tokenize")
    }));
    let repeat: usize = arg("--repeat").and_then(|r| r.parse().ok()).unwrap_or(5);
    let config: IngestConfig = serde_json::from_value(serde_json::json!({"path": "unused"})).expect("config");
    let mut paths = Vec::new();
    files(&corpus, &mut paths);
    paths.sort();
    let mut texts: Vec<String> = Vec::new();
    for path in &paths {
        let Some(format) = Format::of_path(&path.to_string_lossy()) else { continue };
        let bytes = std::fs::read(path).expect("read");
        if let Ok(found) = extract(format, &bytes, &config) {
            texts.extend(found.into_iter().map(|e| e.text));
        }
    }
    let total: usize = texts.iter().map(String::len).sum();
    let tokenizer = vocab::train(texts.clone().into_iter(), 32_000, 2).expect("train");
    std::fs::create_dir_all(&out).expect("out dir");
    std::fs::write(out.join("tokenizer.json"), vocab::to_json(&tokenizer).expect("json")).expect("write tokenizer");
    let lines: String = texts.iter().map(|t| serde_json::to_string(t).expect("json") + "\n").collect();
    std::fs::write(out.join("texts.jsonl"), lines).expect("write texts");

    let mut times = Vec::new();
    let mut tokens = 0;
    for _ in 0..repeat {
        let started = Instant::now();
        tokens = 0;
        for text in &texts {
            tokens += tokenizer.encode(text.as_str(), false).expect("encode").get_ids().len();
        }
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let seconds = times[times.len() / 2];
    let ids: Vec<Vec<u32>> =
        texts.iter().map(|t| tokenizer.encode(t.as_str(), false).expect("encode").get_ids().to_vec()).collect();
    std::fs::write(out.join("ids.json"), serde_json::to_vec(&ids).expect("json")).expect("write ids");
    println!(
        "byte-level BPE, {} tokens in the vocabulary, {} documents ({:.1} MB), 1 thread, median of {repeat}",
        tokenizer.get_vocab_size(true),
        texts.len(),
        total as f64 / 1e6
    );
    println!(
        "{:<34} {:>8.3} s {:>8.2} MB/s ({tokens} tokens)",
        "hangar (tokenizers crate)",
        seconds,
        total as f64 / 1e6 / seconds
    );
}

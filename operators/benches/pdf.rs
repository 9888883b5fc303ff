//! PDF text extraction speed on the corpus PDFs, side by side with poppler's
//! `pdftotext`, and the agreement of the two texts.
//!
//! `cargo bench -p hangar-operators --bench pdf -- [--corpus DIR] [--repeat 5]`
//! (`bench/pdf.sh` adds Python pdfminer.six on the same files.)

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use hangar_operators::ingest::pdf::{agreement, extract};

fn pdfs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("list the corpus") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            pdfs(&path, out);
        } else if path.extension().is_some_and(|e| e == "pdf") {
            out.push(path);
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let corpus = PathBuf::from(
        arg("--corpus").unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus").to_owned()),
    );
    let repeat: usize = arg("--repeat").and_then(|r| r.parse().ok()).unwrap_or(5);
    let mut files = Vec::new();
    pdfs(&corpus, &mut files);
    files.sort();
    let bytes: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).expect("read")).collect();
    let pages: usize = bytes.iter().map(|b| extract(b).map(|t| t.pages.len()).unwrap_or(0)).sum();
    println!("{} PDFs, {pages} pages, median of {repeat} runs, 1 core", files.len());

    let ours = median(
        (0..repeat)
            .map(|_| {
                let started = Instant::now();
                for b in &bytes {
                    let _ = extract(b);
                }
                started.elapsed().as_secs_f64()
            })
            .collect(),
    );
    let poppler = median(
        (0..repeat)
            .map(|_| {
                let started = Instant::now();
                for f in &files {
                    let status =
                        Command::new("pdftotext").args(["-q", "-enc", "UTF-8"]).arg(f).arg("/dev/null").status();
                    assert!(status.is_ok_and(|s| s.success()), "pdftotext failed on {}", f.display());
                }
                started.elapsed().as_secs_f64()
            })
            .collect(),
    );
    println!("{:<34} {:>8.3} s {:>9.0} pages/s", "hangar (in process)", ours, pages as f64 / ours);
    println!("{:<34} {:>8.3} s {:>9.0} pages/s", "pdftotext (one process per file)", poppler, pages as f64 / poppler);
    println!("ratio: {:.1}x", poppler / ours);
    println!("agreement with pdftotext (char 4-gram Dice after NFKC, whitespace ignored):");
    for (f, b) in files.iter().zip(&bytes) {
        let ours = extract(b).map(|t| t.pages.join("\n")).unwrap_or_default();
        let reference =
            Command::new("pdftotext").args(["-q", "-enc", "UTF-8"]).arg(f).arg("-").output().expect("pdftotext");
        let score = agreement(&ours, &String::from_utf8_lossy(&reference.stdout));
        println!("  {score:.3}  {}", f.strip_prefix(&corpus).unwrap_or(f).display());
    }
}

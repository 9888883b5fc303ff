use hangar_operators::dedup::minhash::{ShingleKind, Signer, shingles};
use hangar_operators::dedup::synthetic::{Plan, generate};
use hangar_operators::dedup::{DedupConfig, Fingerprinter, exact_hash};
use std::time::Instant;
fn main() {
    let docs = generate(&Plan { documents: 20000, ..Plan::default() });
    let bytes: usize = docs.iter().map(|d| d.text.len()).sum();
    let mb = bytes as f64 / 1e6;
    let t = Instant::now();
    let mut acc = 0u64;
    for d in &docs {
        acc ^= u64::from(exact_hash(&d.text)[0]);
    }
    println!("exact_hash {:.0} MB/s", mb / t.elapsed().as_secs_f64());
    let (mut out, mut tokens) = (Vec::new(), Vec::new());
    let t = Instant::now();
    for d in &docs {
        shingles(&d.text, ShingleKind::Word, 5, 1, &mut out, &mut tokens);
        acc ^= out.len() as u64;
    }
    println!("shingles {:.0} MB/s", mb / t.elapsed().as_secs_f64());
    let signer = Signer::new(256, 1);
    let mut sig = Vec::new();
    let mut all = Vec::new();
    for d in &docs {
        shingles(&d.text, ShingleKind::Word, 5, 1, &mut out, &mut tokens);
        all.push(out.clone());
    }
    let t = Instant::now();
    for s in &all {
        signer.sign(s, &mut sig);
        acc ^= u64::from(sig[0]);
    }
    println!("sign {:.0} MB/s", mb / t.elapsed().as_secs_f64());
    let config: DedupConfig = serde_json::from_value(serde_json::json!({"documents": "x"})).expect("config");
    let fp = Fingerprinter::new(&config);
    let t = Instant::now();
    for d in &docs {
        acc ^= fp.fingerprint(&d.text).signature.map(|s| u64::from(s[0])).unwrap_or(0);
    }
    println!("fingerprint {:.0} MB/s", mb / t.elapsed().as_secs_f64());
    println!("{acc}");
}

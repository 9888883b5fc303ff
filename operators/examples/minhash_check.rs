use hangar_operators::dedup::minhash::{Signer, auto_kind, exact_jaccard, shingles, similarity};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let a = std::fs::read_to_string(&args[1]).expect("a");
    let b = std::fs::read_to_string(&args[2]).expect("b");
    let (mut sa, mut sb, mut t) = (Vec::new(), Vec::new(), Vec::new());
    shingles(&a, auto_kind(&a), 5, 7, &mut sa, &mut t);
    shingles(&b, auto_kind(&b), 5, 7, &mut sb, &mut t);
    println!("exact {:.3} shingles {} {}", exact_jaccard(&sa, &sb), sa.len(), sb.len());
    {
        let (mut ta, mut tb) = (Vec::new(), Vec::new());
        shingles(&a, auto_kind(&a), 5, 0x5eed, &mut ta, &mut t);
        shingles(&b, auto_kind(&b), 5, 0x5eed, &mut tb, &mut t);
        let s = Signer::new(128, 0x5eed);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        s.sign(&ta, &mut x);
        s.sign(&tb, &mut y);
        println!("seed 0x5eed: {:.4}", similarity(&x, &y));
    }
    for bins in [128usize, 256] {
        let mut est = Vec::new();
        for seed in 0..40u64 {
            let seed = seed.wrapping_mul(0x9e3779b97f4a7c15) ^ 0x5eed;
            let (mut ta, mut tb) = (Vec::new(), Vec::new());
            shingles(&a, auto_kind(&a), 5, seed, &mut ta, &mut t);
            shingles(&b, auto_kind(&b), 5, seed, &mut tb, &mut t);
            let s = Signer::new(bins, seed);
            let (mut x, mut y) = (Vec::new(), Vec::new());
            s.sign(&ta, &mut x);
            s.sign(&tb, &mut y);
            est.push(similarity(&x, &y));
        }
        let mean = est.iter().sum::<f64>() / est.len() as f64;
        let sd = (est.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / est.len() as f64).sqrt();
        println!("same-seed bins {bins}: mean {mean:.3} sd {sd:.3}");
    }
    for bins in [128, 256, 512] {
        let mut est = Vec::new();
        for seed in 0..20u64 {
            let s = Signer::new(bins, seed);
            let (mut x, mut y) = (Vec::new(), Vec::new());
            s.sign(&sa, &mut x);
            s.sign(&sb, &mut y);
            est.push(similarity(&x, &y));
        }
        let mean = est.iter().sum::<f64>() / est.len() as f64;
        let sd = (est.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / est.len() as f64).sqrt();
        println!("bins {bins}: mean {mean:.3} sd {sd:.3}");
    }
}

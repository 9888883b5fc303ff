//! A short run of every fuzz target in the test suite: its committed seeds
//! (`fuzz/seeds/TARGET`) and the example corpus's files of its format, then
//! mutations of them (bit flips, cuts, repeats, splices) from a fixed seed.
//! Nothing may panic; the long campaigns are AFL++'s (`fuzz/afl`).

use std::path::{Path, PathBuf};

/// Mutations tried per target.
const MUTATIONS: usize = 3000;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn extensions(target: &str) -> &'static [&'static str] {
    match target {
        "spec" => &["yaml"],
        "pdf" => &["pdf"],
        "docx" => &["docx"],
        "html" => &["html"],
        "xml" => &["xml"],
        "json" => &["json"],
        "csv" => &["csv"],
        "text" => &["txt", "md"],
        _ => &[],
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let mut files = Vec::new();
    files_under(&root().join("fuzz/seeds").join(target), &mut files);
    let mut examples = Vec::new();
    files_under(&root().join("examples/corpus"), &mut examples);
    files.extend(
        examples
            .into_iter()
            .filter(|p| p.extension().and_then(|e| e.to_str()).is_some_and(|e| extensions(target).contains(&e))),
    );
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().filter_map(|p| std::fs::read(p).ok()).collect();
    assert!(!seeds.is_empty(), "no seeds for {target}");
    seeds
}

/// xorshift64*: the same mutations on every run, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(8) {
        let at = rng.below(data.len());
        match rng.below(6) {
            0 if !data.is_empty() => data[at] ^= 1 << rng.below(8),
            1 if !data.is_empty() => data[at] = [0, 0xff, b'<', b'[', b'{', b'(', b'\n'][rng.below(7)],
            2 => data.truncate(at),
            3 if !data.is_empty() => {
                let end = (at + 1 + rng.below(64)).min(data.len());
                let chunk = data[at..end].to_vec();
                for _ in 0..rng.below(16) {
                    data.splice(at..at, chunk.iter().copied());
                }
            }
            4 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                let end = (from + rng.below(256)).min(other.len());
                data.splice(at..at, other[from..end].iter().copied());
            }
            _ => {
                let end = (at + rng.below(32)).min(data.len());
                data.drain(at..end);
            }
        }
    }
    data
}

#[test]
fn every_target_survives_its_seeds_and_their_mutations() {
    for (name, target) in hangar_fuzz::TARGETS {
        let seeds = seeds(name);
        for seed in &seeds {
            target(seed);
        }
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ name.len() as u64);
        for _ in 0..MUTATIONS {
            target(&mutate(&mut rng, &seeds));
        }
    }
}

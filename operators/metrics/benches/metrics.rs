//! Time of corpus BLEU and ROUGE on a file of hypotheses and one of
//! references (one segment per line): the median of several runs, with the
//! scores, as JSON lines. `bench/metrics.sh` runs it beside sacrebleu and
//! rouge-score on the same 10,000 pairs.
//!
//!   cargo bench -p hangar-metrics --bench metrics -- HYPOTHESES REFERENCES [RUNS]

use std::time::Instant;

use hangar_metrics::{BleuTokenizer, RougeTokenizer, corpus_bleu, rouge};

fn lines(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    text.lines().map(str::to_owned).collect()
}

fn median_ms(runs: usize, mut work: impl FnMut() -> f64) -> (f64, f64) {
    let mut times = Vec::with_capacity(runs);
    let mut value = 0.0;
    for _ in 0..runs {
        let started = Instant::now();
        value = work();
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], value)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let [hypotheses, references] = [&args[0], &args[1]].map(|p| lines(p));
    let runs = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(7);
    // METRIC=bleu (or rouge) runs one metric alone, for profiling.
    let only = std::env::var("METRIC").ok();
    let wanted = |name: &str| only.as_deref().is_none_or(|m| name.starts_with(m));
    let streams = vec![references.clone()];
    if wanted("bleu") {
        let (ms, score) = median_ms(runs, || {
            corpus_bleu(&hypotheses, &streams, BleuTokenizer::Thirteen).map_or(f64::NAN, |b| b.score)
        });
        println!(r#"{{"metric": "bleu", "ms": {ms:.2}, "score": {score}}}"#);
    }
    for stemmer in [false, true].into_iter().filter(|_| wanted("rouge")) {
        let (ms, score) = median_ms(runs, || {
            rouge(&hypotheses, &references, RougeTokenizer::Default, stemmer).map_or(f64::NAN, |r| r.rouge_l)
        });
        let name = if stemmer { "rouge_stemmed" } else { "rouge" };
        println!(r#"{{"metric": "{name}", "ms": {ms:.2}, "rougeL": {score}}}"#);
    }
}

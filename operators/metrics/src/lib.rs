//! Evaluation metrics that agree with the reference implementations on the
//! same input: corpus BLEU as `sacrebleu` computes it (its `13a` and `zh`
//! tokenizers, `exp` smoothing), ROUGE-1/2/L as Google's `rouge-score`
//! computes it (with or without its Porter stemmer), and a character-level
//! ROUGE for Chinese, which `rouge-score` cannot score (it drops every
//! character outside a–z and 0–9).

pub mod bleu;
pub mod rouge;
mod text;

pub use bleu::{Bleu, BleuTokenizer, corpus_bleu};
pub use rouge::{RougeScores, RougeTokenizer, rouge};

/// Why a metric could not be computed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetricError {
    #[error("{hypotheses} hypotheses but {references} references in {stream}; give one line of each per segment")]
    LengthMismatch { hypotheses: usize, references: usize, stream: String },
    #[error("no references were given; pass at least one reference stream")]
    NoReferences,
}

//! `hangar metrics bleu|rouge`: the evaluation metrics over two text files,
//! like the sacrebleu command line.

use std::path::Path;

use anyhow::Context;
use hangar_metrics::{BleuTokenizer, RougeTokenizer, corpus_bleu, rouge};

use crate::cli::MetricsCommand;
use crate::commands::exit;

/// The lines of a text file, as Python's universal newlines reads them.
fn lines(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {} (a UTF-8 text file with one segment per line)", path.display()))?;
    Ok(text.lines().map(str::to_owned).collect())
}

pub fn run(command: &MetricsCommand) -> anyhow::Result<u8> {
    let output = match command {
        MetricsCommand::Bleu { hypotheses, references, tokenize } => {
            let tokenizer = BleuTokenizer::from_name(tokenize)
                .with_context(|| format!("unknown tokenizer {tokenize}; use 13a, zh or none"))?;
            let hypotheses = lines(hypotheses)?;
            let references = references.iter().map(|p| lines(p)).collect::<anyhow::Result<Vec<_>>>()?;
            serde_json::to_value(corpus_bleu(&hypotheses, &references, tokenizer)?)?
        }
        MetricsCommand::Rouge { hypotheses, references, stemmer, tokenize } => {
            let tokenizer = if tokenize == "cjk" { RougeTokenizer::Cjk } else { RougeTokenizer::Default };
            let scores = rouge(&lines(hypotheses)?, &lines(references)?, tokenizer, *stemmer)?;
            let mut value = serde_json::to_value(scores)?;
            value["stemmer"] = (*stemmer).into();
            value["tokenize"] = tokenize.as_str().into();
            value
        }
    };
    println!("{output}");
    Ok(exit::OK)
}

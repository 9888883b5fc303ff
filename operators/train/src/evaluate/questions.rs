//! The question set: built from the dataset's test split (citation →
//! requirement, requirement → citation, numeric facts) or read from a JSONL
//! file. Every question keeps where its answer came from.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// How a question is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scoring {
    /// The normalised answer must equal the reference.
    ExactMatch,
    /// BLEU and ROUGE against the reference text.
    Overlap,
    /// The choice the model finds most likely must be the right one.
    MultipleChoice,
}

/// One question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    pub question: String,
    pub answer: String,
    /// `citation_to_requirement`, `requirement_to_citation`, `numeric_fact`, or a file's own.
    #[serde(default = "default_kind")]
    pub kind: String,
    #[serde(default)]
    pub lang: Option<String>,
    /// For multiple choice: the options; `answer` is the right one's text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub provenance: serde_json::Value,
}

fn default_kind() -> String {
    "question".to_owned()
}

impl Question {
    pub fn scoring(&self) -> Scoring {
        if !self.choices.is_empty() {
            Scoring::MultipleChoice
        } else if matches!(self.kind.as_str(), "requirement_to_citation" | "numeric_fact") {
            Scoring::ExactMatch
        } else {
            Scoring::Overlap
        }
    }
}

#[derive(Debug, Deserialize)]
struct SftLine {
    messages: Vec<Message>,
    kind: String,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    provenance: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct Message {
    role: String,
    content: String,
}

/// A number with an optional decimal part (`3.8`, `1,500`, `25`).
static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b\d{1,3}(?:,\d{3})*(?:\.\d+)?\b").unwrap_or_else(|e| panic!("invalid built-in pattern: {e}"))
});

/// Citations and section numbers are not facts to recall.
static CITATION_CONTEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(§|Part|part|Sec\.|section|paragraph|\d\.\d+\()\s*$")
        .unwrap_or_else(|e| panic!("invalid built-in pattern: {e}"))
});

/// A fill-in-the-blank question on the first stated number of a requirement, if it has one.
fn numeric_fact(citation: &str, text: &str, lang: Option<&str>, provenance: &serde_json::Value) -> Option<Question> {
    let found = NUMBER
        .find_iter(text)
        .find(|m| !CITATION_CONTEXT.is_match(&text[..m.start()]) && !text[m.end()..].starts_with('('))?;
    let blanked = format!("{}____{}", &text[..found.start()], &text[found.end()..]);
    let question = if lang == Some("zh") {
        format!("{citation} 中空白处的数值是多少？{blanked}")
    } else {
        format!("What number belongs in the blank in {citation}? {blanked}")
    };
    Some(Question {
        question,
        answer: found.as_str().to_owned(),
        kind: "numeric_fact".to_owned(),
        lang: lang.map(str::to_owned),
        choices: Vec::new(),
        provenance: provenance.clone(),
    })
}

/// Questions from the dataset's `sft/test.jsonl`.
///
/// # Errors
/// An unreadable file or a malformed line.
pub fn from_test_split(path: &Path) -> Result<Vec<Question>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!("cannot read {} ({e}); build the dataset with `sft: true` and a test split", path.display())
    })?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let sample: SftLine =
            serde_json::from_str(line).map_err(|e| format!("{}:{}: not an SFT sample: {e}", path.display(), n + 1))?;
        let ask = sample.messages.iter().find(|m| m.role == "user").map(|m| m.content.clone());
        let reply = sample.messages.iter().find(|m| m.role == "assistant").map(|m| m.content.clone());
        let (Some(question), Some(answer)) = (ask, reply) else { continue };
        let kind = match sample.kind.as_str() {
            "title_to_citation" | "text_to_citation" => "requirement_to_citation",
            "section_text" | "paragraph_text" => "citation_to_requirement",
            other => other,
        };
        if kind == "citation_to_requirement" {
            let citation = sample.provenance["section"].as_str().unwrap_or_default();
            if let Some(fact) = numeric_fact(citation, &answer, sample.lang.as_deref(), &sample.provenance) {
                out.push(fact);
            }
        }
        out.push(Question {
            question,
            answer,
            kind: kind.to_owned(),
            lang: sample.lang,
            choices: Vec::new(),
            provenance: sample.provenance,
        });
    }
    Ok(out)
}

/// Questions from a JSONL file of `{"question", "answer", "kind"?, "choices"?, "provenance"?}`.
///
/// # Errors
/// An unreadable file or a malformed line.
pub fn from_file(path: &Path, shown: &str) -> Result<Vec<Question>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the question set {shown}: {e}"))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, line)| {
            let q: Question = serde_json::from_str(line)
                .map_err(|e| format!("{shown}:{}: expected {{\"question\", \"answer\", ...}}: {e}", n + 1))?;
            if !q.choices.is_empty() && !q.choices.contains(&q.answer) {
                return Err(format!("{shown}:{}: the answer is not one of the choices", n + 1));
            }
            Ok(q)
        })
        .collect()
}

/// Answers compare without case, surrounding space, inner runs of space or a final period.
pub fn normalise(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    words.join(" ").trim_end_matches(['.', '。']).to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requirement_with_a_number_becomes_a_blank_to_fill() {
        let q = numeric_fact(
            "§ 99.301(a)",
            "The limit load factor must not be less than 3.8 for the cruise configuration.",
            Some("en"),
            &serde_json::Value::Null,
        )
        .expect("a fact");
        assert_eq!(q.answer, "3.8");
        assert!(q.question.contains("less than ____ for"), "{}", q.question);
        assert!(numeric_fact("§ 1", "Comply with § 99.301 of this part.", None, &serde_json::Value::Null).is_none());
    }

    #[test]
    fn answers_compare_loosely_on_form() {
        assert_eq!(normalise("  § 99.301(a). "), normalise("§ 99.301(a)"));
        assert_ne!(normalise("§ 99.301(a)"), normalise("§ 99.301(b)"));
    }
}

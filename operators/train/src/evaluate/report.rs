//! The human-readable report: the metric table, the gate, and examples.

use std::fmt::Write as _;

use serde_json::Value;

fn cell(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|");
    if flat.chars().count() > max { format!("{}…", flat.chars().take(max).collect::<String>()) } else { flat }
}

/// Markdown of a report document (`report.json`'s content).
pub fn markdown(report: &Value, examples: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Evaluation of {}\n",
        report["registered"].as_str().or(report["model"].as_str()).unwrap_or("the model")
    );
    let _ = writeln!(out, "| metric | value |\n|---|---|");
    if let Some(metrics) = report["metrics"].as_object() {
        for (name, value) in metrics {
            let _ = writeln!(out, "| {name} | {:.4} |", value.as_f64().unwrap_or(f64::NAN));
        }
    }
    let gate = &report["gate"];
    let _ = writeln!(
        out,
        "\nGate: {} = {} against the baseline's {}: {}.\n",
        gate["metric"].as_str().unwrap_or("?"),
        gate["value"],
        gate["baseline"],
        if gate["beats_baseline"].as_bool() == Some(true) { "beats it" } else { "does not beat it" }
    );
    if let Some(kinds) = report["by_kind"].as_object() {
        let _ = writeln!(out, "| kind | questions | score |\n|---|---|---|");
        for (kind, v) in kinds {
            let _ = writeln!(out, "| {kind} | {} | {:.3} |", v["count"], v["score"].as_f64().unwrap_or(0.0));
        }
    }
    let _ = writeln!(out, "\n## Examples\n\n| kind | question | reference | answer | score |\n|---|---|---|---|---|");
    for item in report["items"].as_array().into_iter().flatten().take(examples) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2} |",
            item["kind"].as_str().unwrap_or_default(),
            cell(item["question"].as_str().unwrap_or_default(), 120),
            cell(item["reference"].as_str().unwrap_or_default(), 120),
            cell(item["answer"].as_str().unwrap_or_default(), 120),
            item["score"].as_f64().unwrap_or(0.0)
        );
    }
    out
}

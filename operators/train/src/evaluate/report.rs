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
    let base = &report["base"];
    let has_base = base.is_object();
    if has_base {
        let _ = writeln!(out, "| metric | base | tuned |\n|---|---|---|");
    } else {
        let _ = writeln!(out, "| metric | value |\n|---|---|");
    }
    if let Some(metrics) = report["metrics"].as_object() {
        for (name, value) in metrics {
            let ours = value.as_f64().unwrap_or(f64::NAN);
            if has_base {
                let theirs = base["metrics"][name].as_f64().unwrap_or(f64::NAN);
                let _ = writeln!(out, "| {name} | {theirs:.4} | {ours:.4} |");
            } else {
                let _ = writeln!(out, "| {name} | {ours:.4} |");
            }
        }
    }
    let gate = &report["gate"];
    let verdict = gate["verdict"].as_str().map(str::to_owned).unwrap_or_else(|| {
        if gate["beats_baseline"].as_bool() == Some(true) { "passes".to_owned() } else { "does not pass".to_owned() }
    });
    let _ = writeln!(
        out,
        "\nGate on {}: {verdict}. Deploy: {}.\n",
        gate["metric"].as_str().unwrap_or("?"),
        if gate["beats_baseline"].as_bool() == Some(true) { "yes" } else { "no" }
    );
    if let Some(kinds) = report["by_kind"].as_object() {
        if has_base {
            let _ = writeln!(out, "| kind | questions | base | tuned |\n|---|---|---|---|");
        } else {
            let _ = writeln!(out, "| kind | questions | score |\n|---|---|---|");
        }
        for (kind, v) in kinds {
            let ours = v["score"].as_f64().unwrap_or(0.0);
            // Counts are whole numbers, stored as JSON numbers like 10.0.
            let count = v["count"].as_f64().unwrap_or(0.0) as u64;
            if has_base {
                let theirs = base["by_kind"][kind]["score"].as_f64().unwrap_or(0.0);
                let _ = writeln!(out, "| {kind} | {count} | {theirs:.3} | {ours:.3} |");
            } else {
                let _ = writeln!(out, "| {kind} | {count} | {ours:.3} |");
            }
        }
    }
    if has_base {
        let _ = writeln!(
            out,
            "\n## Examples\n\n| kind | question | reference | base answer | tuned answer | base | tuned |\n|---|---|---|---|---|---|---|"
        );
    } else {
        let _ =
            writeln!(out, "\n## Examples\n\n| kind | question | reference | answer | score |\n|---|---|---|---|---|");
    }
    for item in report["items"].as_array().into_iter().flatten().take(examples) {
        let text = |key: &str| cell(item[key].as_str().unwrap_or_default(), 120);
        if has_base {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {:.2} | {:.2} |",
                item["kind"].as_str().unwrap_or_default(),
                text("question"),
                text("reference"),
                text("base_answer"),
                text("answer"),
                item["base_score"].as_f64().unwrap_or(0.0),
                item["score"].as_f64().unwrap_or(0.0)
            );
        } else {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.2} |",
                item["kind"].as_str().unwrap_or_default(),
                text("question"),
                text("reference"),
                text("answer"),
                item["score"].as_f64().unwrap_or(0.0)
            );
        }
    }
    out
}

//! Output caching end to end: a rerun reuses every output; after one
//! document changes, only the tasks that depend on it run again.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn hangar(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hangar"));
    command.arg("--home").arg(home).env_remove("HANGAR_DATABASE_URL").env_remove("HANGAR_ARTIFACTS");
    command
}

const TWO_BRANCHES: &str = r#"
name: two-branches
params:
  english: { type: string }
  chinese: { type: string }
tasks:
  ingest_en: { uses: ingest, with: { path: "${{ params.english }}" } }
  clean_en: { uses: clean, with: { documents: "${{ tasks.ingest_en.outputs.documents }}" } }
  dedup_en: { uses: dedup, with: { documents: "${{ tasks.clean_en.outputs.documents }}" } }
  ingest_zh: { uses: ingest, with: { path: "${{ params.chinese }}" } }
  clean_zh: { uses: clean, with: { documents: "${{ tasks.ingest_zh.outputs.documents }}" } }
  dedup_zh: { uses: dedup, with: { documents: "${{ tasks.clean_zh.outputs.documents }}" } }
  stamp: { uses: shell, needs: [dedup_en, dedup_zh], with: { run: "echo both branches done" } }
"#;

fn run(home: &Path, spec: &Path, english: &Path, chinese: &Path) -> Value {
    let output = hangar(home)
        .arg("run")
        .arg(spec)
        .arg("--json")
        .arg("--param")
        .arg(format!("english={}", english.display()))
        .arg("--param")
        .arg(format!("chinese={}", chinese.display()))
        .output()
        .expect("run hangar");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("json summary")
}

fn statuses(summary: &Value) -> Vec<(String, String)> {
    summary["tasks"]
        .as_object()
        .expect("tasks")
        .iter()
        .map(|(id, t)| (id.clone(), t["status"].as_str().unwrap_or_default().to_owned()))
        .collect()
}

fn write_documents(dir: &Path, texts: &[(&str, String)]) {
    std::fs::create_dir_all(dir).expect("mkdir");
    for (name, text) in texts {
        std::fs::write(dir.join(name), text).expect("write document");
    }
}

fn paragraph(topic: &str, n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "Section {i}. The applicant must show that the {topic} complies with the requirements of this part."
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn only_the_branch_with_a_changed_document_runs_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let english = dir.path().join("en");
    let chinese = dir.path().join("zh");
    write_documents(&english, &[("a.txt", paragraph("fuel system", 12)), ("b.txt", paragraph("landing gear", 12))]);
    let zh = "申请人必须表明，航空器的燃油系统符合本部的要求。每一燃油箱必须能够承受在运行中可能遇到的振动、惯性载荷和流体载荷。";
    write_documents(&chinese, &[("c.txt", zh.repeat(6))]);
    let spec = dir.path().join("two.yaml");
    std::fs::write(&spec, TWO_BRANCHES).expect("write spec");

    let first = run(&home, &spec, &english, &chinese);
    assert!(statuses(&first).iter().all(|(_, s)| s == "succeeded"), "{:?}", statuses(&first));

    let second = run(&home, &spec, &english, &chinese);
    for (id, status) in statuses(&second) {
        let expected = if id == "stamp" { "succeeded" } else { "cached" };
        assert_eq!(status, expected, "{id}: shell tasks are not cached by default, the rest are");
    }
    for id in ["ingest_en", "dedup_zh"] {
        assert_eq!(second["tasks"][id]["outputs"], first["tasks"][id]["outputs"], "{id} reuses the same artifacts");
    }

    std::fs::write(english.join("b.txt"), paragraph("landing gear and brakes", 12)).expect("edit a document");
    let third = run(&home, &spec, &english, &chinese);
    let third = statuses(&third);
    let expected = [
        ("ingest_en", "succeeded"),
        ("clean_en", "succeeded"),
        ("dedup_en", "succeeded"),
        ("ingest_zh", "cached"),
        ("clean_zh", "cached"),
        ("dedup_zh", "cached"),
        ("stamp", "succeeded"),
    ];
    let expected: Vec<(String, String)> = expected.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect();
    assert_eq!(third, expected);
}

#[test]
fn cache_false_always_runs_the_task() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let docs = dir.path().join("docs");
    write_documents(&docs, &[("a.txt", paragraph("engine mount", 10))]);
    let spec = dir.path().join("p.yaml");
    std::fs::write(
        &spec,
        format!(
            "name: nocache\ntasks:\n  ingest: {{ uses: ingest, cache: false, with: {{ path: \"{}\" }} }}\n  clean: {{ uses: clean, with: {{ documents: \"${{{{ tasks.ingest.outputs.documents }}}}\" }} }}\n",
            docs.display()
        ),
    )
    .expect("write spec");
    let once = || {
        let output = hangar(&home).arg("run").arg(&spec).arg("--json").output().expect("run");
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        statuses(&serde_json::from_slice(&output.stdout).expect("json"))
    };
    once();
    let again = once();
    assert_eq!(again[0], ("ingest".to_owned(), "succeeded".to_owned()), "cache: false");
    assert_eq!(again[1], ("clean".to_owned(), "cached".to_owned()), "same input bytes: cached");
}

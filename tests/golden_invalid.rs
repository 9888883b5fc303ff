//! Every invalid spec in `tests/invalid/` has its expected diagnostics in a
//! `.err` file beside it. Regenerate with `UPDATE_GOLDEN=1 cargo test`.

use std::path::{Path, PathBuf};

use hangar_cli::commands::validate::load;

fn invalid_specs() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("tests/invalid")
        .expect("tests/invalid exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn rendered(path: &Path) -> String {
    let registry = hangar_cli::registry().expect("registry");
    match load(path, &registry, &[]) {
        Ok(_) => panic!("{} should not validate", path.display()),
        Err(diagnostics) => diagnostics.iter().map(|d| format!("{d}\n")).collect(),
    }
}

#[test]
fn invalid_specs_match_their_golden_diagnostics() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let specs = invalid_specs();
    assert!(specs.len() >= 10, "the invalid corpus went missing: {specs:?}");
    let mut mismatches = Vec::new();
    for spec in specs {
        let actual = rendered(&spec);
        for line in actual.lines() {
            let prefix = format!("{}:", spec.display());
            assert!(line.starts_with(&prefix), "{line:?} must start with FILE:LINE:COL");
            let mut parts = line[prefix.len()..].splitn(3, ':');
            let line_no: usize = parts.next().and_then(|n| n.parse().ok()).expect("a line number");
            let col: usize = parts.next().and_then(|n| n.parse().ok()).expect("a column");
            assert!(line_no >= 1 && col >= 1, "{line}");
        }
        let golden = spec.with_extension("err");
        if update {
            std::fs::write(&golden, &actual).expect("write golden");
            continue;
        }
        let expected = std::fs::read_to_string(&golden)
            .unwrap_or_else(|_| panic!("missing {}; run with UPDATE_GOLDEN=1", golden.display()));
        if expected != actual {
            mismatches.push(format!("{}:\n--- expected\n{expected}--- actual\n{actual}", spec.display()));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn the_cli_prints_the_same_diagnostics_and_exits_1() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hangar"))
        .args(["validate", "tests/invalid/cycle.yaml", "tests/invalid/missing-needs.yaml"])
        .output()
        .expect("run hangar");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = std::fs::read_to_string("tests/invalid/cycle.err").expect("golden")
        + &std::fs::read_to_string("tests/invalid/missing-needs.err").expect("golden");
    assert_eq!(stderr, expected);
}

#[test]
fn shipped_pipelines_and_examples_validate() {
    let specs: Vec<PathBuf> = ["pipelines", "examples"]
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flatten()
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    assert!(!specs.is_empty(), "no pipelines found");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hangar"))
        .arg("validate")
        .args(&specs)
        .output()
        .expect("run hangar");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
}

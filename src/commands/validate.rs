//! `hangar validate FILE...`

use std::path::{Path, PathBuf};

use hangar_engine::{Diagnostic, Diagnostics, Mark, Plan, compile};
use hangar_sdk::Registry;

use super::exit;

/// Reads and compiles a pipeline file, turning an unreadable file into a
/// diagnostic like any other problem.
pub fn load(path: &Path, registry: &Registry, params: &[(String, String)]) -> Result<Plan, Diagnostics> {
    let file = path.display().to_string();
    let text = match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) => {
                return Err(Diagnostics(vec![Diagnostic::new(
                    &file,
                    Mark::start(),
                    "",
                    "the file is not UTF-8 text; save it as UTF-8",
                )]));
            }
        },
        Err(err) => {
            return Err(Diagnostics(vec![Diagnostic::new(
                &file,
                Mark::start(),
                "",
                format!("cannot read the file: {err}"),
            )]));
        }
    };
    compile(&file, &text, registry, params)
}

pub fn run(files: &[PathBuf], registry: &Registry, json: bool) -> u8 {
    let mut all = Vec::new();
    for path in files {
        match load(path, registry, &[]) {
            Ok(plan) => {
                // On stdout: stderr carries only `FILE:LINE:COL:` diagnostics.
                if !json {
                    println!("{}: ok ({} tasks)", path.display(), plan.tasks.len());
                }
            }
            Err(diagnostics) => {
                for d in diagnostics.iter() {
                    eprintln!("{d}");
                }
                all.extend(diagnostics.0);
            }
        }
    }
    if json {
        println!("{}", serde_json::json!({ "valid": all.is_empty(), "diagnostics": all }));
    }
    if all.is_empty() { exit::OK } else { exit::FAILED }
}

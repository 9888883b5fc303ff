//! The dependency direction of the house: operators -> SDK <- engine <- api
//! <- binary, with accounts beside the engine (api -> accounts). Checked with `cargo tree` so a stray dependency fails CI.

use std::collections::BTreeSet;
use std::process::Command;

/// Every package `package` depends on (normal dependencies, transitively).
fn dependencies(package: &str) -> BTreeSet<String> {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "-e", "normal", "--prefix", "none", "--format", "{p}", "-p", package])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn operators_see_neither_the_database_nor_http() {
    let deps = dependencies("hangar-operators");
    for forbidden in ["sqlx", "axum", "hangar-engine", "petgraph"] {
        assert!(!deps.contains(forbidden), "hangar-operators must not depend on {forbidden}");
    }
    assert!(deps.contains("hangar-sdk"));
}

#[test]
fn the_engine_names_no_concrete_operator_and_no_http() {
    let deps = dependencies("hangar-engine");
    for forbidden in ["hangar-operators", "axum"] {
        assert!(!deps.contains(forbidden), "hangar-engine must not depend on {forbidden}");
    }
}

#[test]
fn the_sdk_stays_small() {
    let deps = dependencies("hangar-sdk");
    for forbidden in ["sqlx", "axum", "hangar-engine", "petgraph", "serde_yaml"] {
        assert!(!deps.contains(forbidden), "hangar-sdk must not depend on {forbidden}");
    }
}

#[test]
fn the_api_knows_the_engine_but_no_concrete_operator_and_no_sql() {
    let deps = dependencies("hangar-api");
    assert!(!deps.contains("hangar-operators"), "hangar-api must not depend on hangar-operators");
    assert!(deps.contains("hangar-engine"));
    let engine = dependencies("hangar-engine");
    assert!(!engine.contains("hangar-api"), "the engine must not depend on the API");
}

#[test]
fn accounts_live_outside_the_engine() {
    let engine = dependencies("hangar-engine");
    assert!(!engine.contains("hangar-accounts"), "the engine knows runs and artifacts, not people");
    let accounts = dependencies("hangar-accounts");
    for forbidden in ["hangar-engine", "axum", "hangar-operators"] {
        assert!(!accounts.contains(forbidden), "hangar-accounts must not depend on {forbidden}");
    }
}

#[test]
fn http_types_live_only_in_the_api_crate() {
    for package in ["hangar-engine", "hangar-sdk", "hangar-operators"] {
        let deps = dependencies(package);
        // (tower-http comes in through the S3 client, as an HTTP client helper.)
        for forbidden in ["axum", "utoipa", "jsonwebtoken"] {
            assert!(!deps.contains(forbidden), "{package} must not depend on {forbidden}");
        }
    }
}

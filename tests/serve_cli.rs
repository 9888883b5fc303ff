//! `hangar serve` and `hangar users` refuse bad set-ups with a message that
//! says what to do.

use std::process::Command;

fn hangar(home: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hangar"));
    command.arg("--home").arg(home).env_remove("HANGAR_JWT_SECRET").env_remove("HANGAR_JWT_SECRET_FILE");
    command
}

#[test]
fn a_server_on_postgresql_needs_a_signing_key() {
    let home = tempfile::tempdir().expect("tempdir");
    let output = hangar(home.path())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("HANGAR_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .output()
        .expect("hangar serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("HANGAR_JWT_SECRET") && stderr.contains("openssl rand"), "{stderr}");

    let short = hangar(home.path())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("HANGAR_JWT_SECRET", "too-short")
        .output()
        .expect("hangar serve");
    assert!(!short.status.success());
    assert!(
        String::from_utf8_lossy(&short.stderr).contains("at least 32"),
        "{}",
        String::from_utf8_lossy(&short.stderr)
    );
}

#[test]
fn users_are_created_once_with_a_policy_abiding_password() {
    let home = tempfile::tempdir().expect("tempdir");
    let create = |password: &str| {
        hangar(home.path())
            .args(["users", "create", "--email", "admin@hangar.example", "--password", password, "--admin", "--json"])
            .output()
            .expect("hangar users create")
    };
    let weak = create("short");
    assert_eq!(weak.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 12"));
    let made = create("correct horse battery");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let user: serde_json::Value = serde_json::from_slice(&made.stdout).expect("json");
    assert_eq!(user["role"], "admin");
    let again = create("correct horse battery");
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    let list = hangar(home.path()).args(["users", "list"]).output().expect("list");
    assert!(String::from_utf8_lossy(&list.stdout).contains("admin@hangar.example\tadmin"));
}

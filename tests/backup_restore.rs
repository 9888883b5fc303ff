//! The restore drill: run the flagship, back it up, destroy the database and
//! the artifact store, restore, and check that runs, outputs (byte for byte,
//! by digest), the model registry, accounts and serving are back, and that a
//! new run reuses the cached outputs. On the embedded default (SQLite and a
//! folder) and on PostgreSQL with S3 (backup written to S3 too).

#[path = "support/process.rs"]
mod process;
mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use process::{free_port, wait_for_port};
use serde_json::{Value, json};
use support::{Cluster, json_of};

const SECRET: &str = "backup-drill-secret-0123456789abcdef0123";
const PASSWORD: &str = "correct horse battery staple";

fn local(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hangar"));
    command.arg("--home").arg(home).env_remove("HANGAR_DATABASE_URL").env_remove("HANGAR_ARTIFACTS");
    command
}

fn ok(output: Output, what: &str) -> Output {
    assert!(
        output.status.success(),
        "{what} failed ({:?}):\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Every output of a run, checked against the bytes in the store: a file's
/// digest is its blake3; a folder's is its MANIFEST.json's, whose entries
/// are checked file by file.
fn check_outputs_on_disk(show: &Value) -> usize {
    let mut checked = 0;
    for (task, detail) in show["tasks"].as_object().expect("tasks") {
        let Some(outputs) = detail["outputs"].as_object() else { continue };
        for (name, output) in outputs {
            let uri = output["uri"].as_str().expect("uri");
            let path = Path::new(uri.strip_prefix("file://").expect("a local store"));
            let digest = |bytes: &[u8]| format!("blake3:{}", blake3::hash(bytes).to_hex());
            if path.is_dir() {
                let manifest = std::fs::read(path.join("MANIFEST.json")).expect("manifest");
                assert_eq!(digest(&manifest), output["digest"], "{task}.{name}");
                let manifest: Value = serde_json::from_slice(&manifest).expect("manifest JSON");
                for file in manifest["files"].as_array().expect("files") {
                    let bytes = std::fs::read(path.join(file["path"].as_str().expect("path"))).expect("file");
                    assert_eq!(digest(&bytes), file["digest"], "{task}.{name}/{}", file["path"]);
                }
            } else {
                assert_eq!(digest(&std::fs::read(path).expect("output file")), output["digest"], "{task}.{name}");
            }
            checked += 1;
        }
    }
    checked
}

fn statuses(summary: &Value) -> Vec<(String, String)> {
    summary["tasks"]
        .as_object()
        .expect("tasks")
        .iter()
        .map(|(id, t)| (id.clone(), t["status"].as_str().unwrap_or_default().to_owned()))
        .collect()
}

#[test]
fn the_flagship_survives_losing_its_database_and_artifacts() {
    let gguf = std::env::var("HANGAR_TEST_GGUF")
        .expect("HANGAR_TEST_GGUF is not set: run `. scripts/reference/setup.sh` first (scripts/test.sh does)");
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let backups = dir.path().join("backups");
    let flagship = |home: &Path| {
        local(home)
            .args(["run", "pipelines/airworthiness.yaml", "--json", "-q"])
            .args(["-p", &format!("base_model={gguf}"), "-p", "steps=2", "-p", "max_questions=4"])
            .output()
            .expect("hangar run")
    };
    let first = json_of(&ok(flagship(&home), "the flagship"));
    assert_eq!(first["status"], "succeeded");
    if first["tasks"]["deploy"]["status"] != "succeeded" {
        // Two steps may not beat the base; the drill needs a production alias all the same.
        ok(
            local(&home)
                .args(["models", "import", &gguf, "--name", "airworthy", "--alias", "production"])
                .output()
                .unwrap(),
            "models import",
        );
    }
    ok(
        local(&home)
            .args(["users", "create", "--email", "ops@caac.example", "--password", PASSWORD, "--admin"])
            .output()
            .unwrap(),
        "users create",
    );
    let run_id = first["run_id"].as_str().expect("run id").to_owned();
    let runs_before = json_of(&ok(local(&home).args(["runs", "--json"]).output().unwrap(), "runs"));
    let show_before = json_of(&ok(local(&home).args(["runs", "show", &run_id, "--json"]).output().unwrap(), "show"));
    let models_before =
        json_of(&ok(local(&home).args(["models", "show", "airworthy", "--json"]).output().unwrap(), "models show"));
    assert!(check_outputs_on_disk(&show_before) >= 8);

    let backup = || local(&home).arg("backup").arg(&backups).arg("--json").output().expect("hangar backup");
    let full = json_of(&ok(backup(), "backup"));
    let files = full["artifacts"]["files"].as_u64().expect("files");
    assert!(files > 10, "{full}");
    assert_eq!(full["artifacts"]["copied_files"], files, "{full}");
    assert_eq!(full["database"]["backend"], "sqlite");
    // A second backup copies nothing new: every file is already there.
    let again = json_of(&ok(backup(), "second backup"));
    assert_eq!(again["artifacts"]["copied_files"], 0, "{again}");
    assert_eq!(again["artifacts"]["reused_files"], files, "{again}");
    assert_ne!(again["snapshot"], full["snapshot"]);

    // A deployment that has runs is not overwritten by mistake.
    let refused = local(&home).arg("restore").arg(&backups).output().unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--force"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // Disaster: the whole home (database and artifact store) is gone.
    std::fs::remove_dir_all(&home).expect("destroy the home");
    let restored = json_of(&ok(local(&home).arg("restore").arg(&backups).arg("--json").output().unwrap(), "restore"));
    assert_eq!(restored["snapshot"], again["snapshot"]);
    assert_eq!(restored["artifacts"]["files"], files);

    let runs_after = json_of(&ok(local(&home).args(["runs", "--json"]).output().unwrap(), "runs"));
    let show_after = json_of(&ok(local(&home).args(["runs", "show", &run_id, "--json"]).output().unwrap(), "show"));
    let models_after =
        json_of(&ok(local(&home).args(["models", "show", "airworthy", "--json"]).output().unwrap(), "models show"));
    assert_eq!(runs_after, runs_before);
    assert_eq!(show_after, show_before);
    assert_eq!(models_after, models_before);
    assert!(check_outputs_on_disk(&show_after) >= 8);

    // The restored deployment serves its production model to its restored account.
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut server = local(&home)
        .args(["serve", "--bind", &bind, "--no-workers"])
        .env("HANGAR_JWT_SECRET", SECRET)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("serve");
    wait_for_port(port, "the restored server", &log_path);
    let answer = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !client.get(format!("http://{bind}/ready")).send().await.is_ok_and(|r| r.status() == 200) {
            assert!(Instant::now() < deadline, "the restored server never became ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let login: Value = client
            .post(format!("http://{bind}/api/v1/auth/login"))
            .json(&json!({"email": "ops@caac.example", "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token =
            login["access_token"].as_str().unwrap_or_else(|| panic!("the restored account cannot sign in: {login}"));
        let reply = client
            .post(format!("http://{bind}/v1/chat/completions"))
            .bearer_auth(token)
            .json(&json!({"model": "airworthy:production", "max_tokens": 8, "temperature": 0,
                          "messages": [{"role": "user", "content": "What does § 99.25(b) state?"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        reply.json::<Value>().await.unwrap()
    });
    let _ = server.kill();
    let _ = server.wait();
    assert!(!answer["choices"][0]["message"]["content"].as_str().unwrap_or_default().is_empty(), "{answer}");

    // A new run finds every data and training output in the restored cache
    // (evaluate compares with the registry's current production, so it looks again).
    let rerun = json_of(&ok(flagship(&home), "the flagship after the restore"));
    for (task, status) in statuses(&rerun) {
        if !["evaluate", "deploy"].contains(&task.as_str()) {
            assert_eq!(status, "cached", "{task} ran again after the restore: {rerun}");
        }
    }
    assert_eq!(rerun["tasks"]["finetune"]["status"], "cached");
}

#[test]
fn postgres_and_s3_restore_from_a_backup_on_s3() {
    let cluster = Cluster::new(true);
    let run = || {
        cluster
            .hangar("ops")
            .args(["run", "pipelines/airworthiness-data.yaml", "--json", "-q", "-p", "vocab_size=500"])
            .output()
            .expect("hangar run")
    };
    let first = json_of(&ok(run(), "the data pipeline"));
    assert_eq!(first["status"], "succeeded");
    let run_id = first["run_id"].as_str().expect("run id").to_owned();
    let show_before = cluster.show(&run_id);
    let dest = format!("s3://hangar-test/backups-{}", uuid::Uuid::new_v4().simple());

    let backup = json_of(&ok(cluster.hangar("ops").args(["backup", &dest, "--json"]).output().unwrap(), "backup"));
    assert_eq!(backup["database"]["backend"], "postgres");
    assert!(backup["artifacts"]["files"].as_u64().unwrap() > 5, "{backup}");
    let verified =
        json_of(&ok(cluster.hangar("ops").args(["restore", &dest, "--verify", "--json"]).output().unwrap(), "verify"));
    assert_eq!(verified["verified_files"], backup["artifacts"]["files"]);

    // Disaster: the database and every artifact are gone.
    cluster.recreate_database();
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let location = hangar_sdk::StoreLocation::parse(&cluster.artifacts).unwrap();
        let store = with_test_credentials(location);
        store.delete_prefix("").await.expect("empty the artifact store");
        assert!(store.list("").await.unwrap().is_empty());
    });
    let restored = json_of(&ok(cluster.hangar("ops").args(["restore", &dest, "--json"]).output().unwrap(), "restore"));
    assert_eq!(restored["artifacts"]["files"], backup["artifacts"]["files"]);
    assert_eq!(cluster.show(&run_id), show_before);

    let again = json_of(&ok(run(), "the data pipeline after the restore"));
    for (task, status) in statuses(&again) {
        assert_eq!(status, "cached", "{task} ran again after the restore: {again}");
    }
}

fn with_test_credentials(location: hangar_sdk::StoreLocation) -> hangar_sdk::ArtifactStore {
    let var = |name: &str, default: &str| {
        std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
    };
    let location = match location {
        hangar_sdk::StoreLocation::S3(mut s3) => {
            s3.endpoint = Some(var("AWS_ENDPOINT_URL", "http://127.0.0.1:8014"));
            s3.region = var("AWS_REGION", "us-east-1");
            s3.access_key_id = Some(var("AWS_ACCESS_KEY_ID", "hangar"));
            s3.secret_access_key = Some(var("AWS_SECRET_ACCESS_KEY", "hangar-secret"));
            s3
        }
        other => panic!("the cluster's artifacts are on S3, not {other:?}"),
    };
    hangar_sdk::ArtifactStore::open(hangar_sdk::StoreLocation::S3(location)).expect("open the S3 store")
}

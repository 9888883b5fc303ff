//! A real pretrained model served to the official `openai` Python client,
//! signed in with a personal API key (`hangar keys create`):
//! SmolLM2-135M-Instruct imported with `hangar models import` (GGUF), served
//! by `hangar serve` on PostgreSQL + S3, then listed, asked (chat with text
//! parts, streamed with usage, n = 2, completions) and refused a negative
//! max_tokens by scripts/reference/openai_client.py. The model and the venv
//! come from scripts/reference/setup.sh (scripts/test.sh sources it).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{Cluster, json_of};

const SECRET: &str = "openai-client-test-secret-0123456789abcdef";
const PASSWORD: &str = "correct horse battery staple";

fn required(var: &str) -> String {
    std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} is not set: run `. scripts/reference/setup.sh` first (scripts/test.sh does)"))
}

#[test]
fn the_openai_client_lists_chats_streams_and_completes_with_an_imported_model() {
    let gguf = required("HANGAR_TEST_GGUF");
    let python = required("HANGAR_REFERENCE_PYTHON");
    let mut cluster = Cluster::new(true);
    let imported = cluster
        .hangar("ops")
        .args(["models", "import", &gguf, "--name", "smollm2", "--alias", "base", "--json"])
        .output()
        .expect("hangar models import");
    assert!(imported.status.success(), "import failed:\n{}", String::from_utf8_lossy(&imported.stderr));
    let summary = json_of(&imported);
    assert_eq!(summary["reference"], "smollm2@1", "{summary}");
    assert_eq!(summary["architecture"], "llama");
    assert_eq!(summary["context"], 8192);
    assert_eq!(summary["chat_template"], true);

    let made = cluster
        .hangar("ops")
        .args(["users", "create", "--email", "ops@caac.example", "--password", PASSWORD, "--admin"])
        .output()
        .expect("users create");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let bind = format!("127.0.0.1:{port}");
    cluster.spawn_with("server", &["serve", "--bind", &bind, "--no-workers"], &[("HANGAR_JWT_SECRET", SECRET)]);
    let base = format!("http://{bind}");

    // The client holds a personal API key with only the scopes it needs,
    // as a user would paste into OPENAI_API_KEY.
    let made = cluster
        .hangar("ops")
        .args([
            "keys",
            "create",
            "--user",
            "ops@caac.example",
            "--name",
            "openai-client",
            "--scope",
            "models:read",
            "--scope",
            "models:infer",
            "--json",
        ])
        .output()
        .expect("keys create");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let token = json_of(&made)["key"].as_str().expect("the key").to_owned();
    assert!(token.starts_with("hk_"), "{token}");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !client.get(format!("{base}/ready")).send().await.is_ok_and(|r| r.status() == 200) {
            assert!(Instant::now() < deadline, "the server never became ready:\n{}", cluster.all_logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The same key reaches nothing outside its scopes.
        let runs = client.get(format!("{base}/api/v1/runs")).bearer_auth(&token).send().await.expect("runs");
        assert_eq!(runs.status(), 403, "a models key lists no runs");
    });

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/reference/openai_client.py");
    let output = Command::new(python).arg(script).arg(&base).arg(&token).arg("smollm2:base").output().expect("python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the openai client found problems:\n{stdout}\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        cluster.log("server")
    );
}

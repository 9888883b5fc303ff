//! A real pretrained model served to the official `openai` Python client:
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

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let token = runtime.block_on(async {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !client.get(format!("{base}/ready")).send().await.is_ok_and(|r| r.status() == 200) {
            assert!(Instant::now() < deadline, "the server never became ready:\n{}", cluster.all_logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let login: serde_json::Value = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"email": "ops@caac.example", "password": PASSWORD}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("login JSON");
        login["access_token"].as_str().expect("token").to_owned()
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

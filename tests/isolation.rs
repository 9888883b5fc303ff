//! Task attempts run in processes of their own under `hangar serve`: a task
//! that aborts, one that overflows its stack and one that allocates past
//! its memory limit each end as a failed attempt with a readable reason,
//! while the server answers `/health` throughout and a task beside them
//! succeeds.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

struct Server {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hangar(home: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hangar"));
    command
        .arg("--home")
        .arg(home)
        .env_remove("HANGAR_DATABASE_URL")
        .env_remove("HANGAR_ARTIFACTS")
        .env("HANGAR_JWT_SECRET", "isolation-test-secret-0123456789abcdef");
    command
}

fn start(home: &std::path::Path) -> Server {
    let created = hangar(home)
        .args(["users", "create", "--email", "ops@hangar.example", "--password", PASSWORD, "--admin"])
        .output()
        .expect("users create");
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port");
    let log = home.join("server.log");
    let file = std::fs::File::create(&log).expect("log");
    let child = hangar(home)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--concurrency", "4"])
        .env("HANGAR_TASK_MEMORY", "1G")
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log"))
        .stderr(file)
        .spawn()
        .expect("hangar serve");
    Server { child, base: format!("http://127.0.0.1:{port}"), log }
}

const FAULTS: &str = "name: faults
tasks:
  abort: { uses: fault, with: { fault: abort } }
  stack: { uses: fault, with: { fault: stack_overflow } }
  memory: { uses: fault, with: { fault: allocate, bytes: 4294967296 } }
  own_limit: { uses: fault, resources: { memory: 512MiB }, with: { fault: allocate, bytes: 1073741824 } }
  beside: { uses: noop, with: { wait: 2s } }
";

#[test]
fn crashing_tasks_fail_alone_and_the_server_stays_up() {
    let home = tempfile::tempdir().expect("tempdir");
    let mut server = start(home.path());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let detail = runtime.block_on(async {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while client.get(format!("{}/ready", server.base)).send().await.map(|r| r.status() != 200).unwrap_or(true) {
            assert!(
                Instant::now() < deadline,
                "never ready: {}",
                std::fs::read_to_string(&server.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let login: Value = client
            .post(format!("{}/api/v1/auth/login", server.base))
            .json(&json!({"email": "ops@hangar.example", "password": PASSWORD}))
            .send()
            .await
            .expect("login")
            .json()
            .await
            .expect("json");
        let token = login["access_token"].as_str().expect("token").to_owned();
        let stored = client
            .post(format!("{}/api/v1/pipelines", server.base))
            .bearer_auth(&token)
            .header("content-type", "application/yaml")
            .body(FAULTS)
            .send()
            .await
            .expect("store");
        assert_eq!(stored.status(), 201, "{}", stored.text().await.unwrap_or_default());
        let run: Value = client
            .post(format!("{}/api/v1/pipelines/faults/runs", server.base))
            .bearer_auth(&token)
            .json(&json!({}))
            .send()
            .await
            .expect("run")
            .json()
            .await
            .expect("json");
        let run_id = run["run_id"].as_str().expect("run id").to_owned();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let health = client.get(format!("{}/health", server.base)).send().await;
            assert!(
                health.as_ref().is_ok_and(|r| r.status() == 200),
                "the server went down: {health:?}\n{}",
                std::fs::read_to_string(&server.log).unwrap_or_default()
            );
            let detail: Value = client
                .get(format!("{}/api/v1/runs/{run_id}", server.base))
                .bearer_auth(&token)
                .send()
                .await
                .expect("detail")
                .json()
                .await
                .expect("json");
            if ["succeeded", "failed", "cancelled"].contains(&detail["status"].as_str().unwrap_or_default()) {
                break detail;
            }
            assert!(Instant::now() < deadline, "the run never ended: {detail}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    assert!(server.child.try_wait().expect("status").is_none(), "the server process is still running");
    let task = |id: &str| -> Value {
        detail["tasks"].as_array().and_then(|t| t.iter().find(|t| t["task_id"] == id).cloned()).unwrap_or_default()
    };
    let error = |id: &str| task(id)["error"].as_str().unwrap_or_default().to_owned();
    assert_eq!(detail["status"], "failed", "{detail}");
    assert_eq!(task("beside")["status"], "succeeded", "{detail}");
    for (id, reason) in [
        ("abort", "crashed: aborted (SIGABRT)"),
        ("stack", "crashed: stack overflow"),
        ("memory", "killed: out of memory at the 1 GiB limit"),
        ("own_limit", "killed: out of memory at the 512 MiB limit"),
    ] {
        assert_eq!(task(id)["status"], "failed", "{id}: {detail}");
        assert!(error(id).contains(reason), "{id}: {:?} lacks {reason:?}", error(id));
    }
}

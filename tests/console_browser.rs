//! The web console in a real browser: headless Chromium driven through
//! WebDriver (Debian's `chromium` and `chromium-driver`; `scripts/test.sh`
//! installs them). One `hangar serve` on the embedded default (SQLite and
//! local files) with its workers; two accounts. The owner signs in, uploads
//! documents, writes a data pipeline in the editor (a broken version first,
//! to see the diagnostics at their lines), starts it from the run form,
//! watches the run page turn green from the event stream without a reload,
//! opens a task's log, the documents, the rejected files and the duplicate
//! clusters; the other account cannot open that run, makes an API key,
//! enrols two-factor sign-in and signs in with a code; an administrator
//! reads the audit log. No page may log a
//! JavaScript error: the browser's log is read on every page and any
//! `SEVERE` entry fails the test. Screenshots of the pages go to a
//! temporary folder, or to `HANGAR_SCREENSHOTS` when set (e.g.
//! `HANGAR_SCREENSHOTS=docs/screenshots` to refresh the README's).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
#[path = "support/process.rs"]
mod process;
use futures::FutureExt as _;
use process::{Process, free_port, spawn_logged, wait_for_port};
use serde_json::{Value, json};

const SECRET: &str = "console-browser-test-secret-0123456789abcdef";
const PASSWORD: &str = "correct horse battery staple";
const OWNER: &str = "li@caac.example";
const OTHER: &str = "wang@caac.example";
const ADMIN: &str = "ops@caac.example";

const BROKEN: &str = "name: regulations-data
description: Uploaded regulations to clean, filtered, deduplicated documents.
params:
  source: { type: string, description: The upload to read (its key). }
tasks:
  ingest:
    uses: ingest
    with:
      path: \"${{ params.source }}\"
  clean:
    uses: clean
    with:
      documents: \"${{ tasks.ingest.outputs.documents }}\"
      fold_widht: true
";

const PIPELINE: &str = "name: regulations-data
description: Uploaded regulations to clean, filtered, deduplicated documents.
params:
  source: { type: string, description: The upload to read (its key). }
tasks:
  settle:
    uses: noop
    with: { message: Waiting for the upload to settle., wait: 3s }
  ingest:
    uses: ingest
    needs: [settle]
    with:
      path: \"${{ params.source }}\"
  clean:
    uses: clean
    with:
      documents: \"${{ tasks.ingest.outputs.documents }}\"
  filter:
    uses: filter
    with:
      documents: \"${{ tasks.clean.outputs.documents }}\"
  dedup:
    uses: dedup
    with:
      documents: \"${{ tasks.filter.outputs.documents }}\"
";

fn hangar(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hangar"));
    command
        .arg("--home")
        .arg(home)
        .env("HANGAR_JWT_SECRET", SECRET)
        .env_remove("HANGAR_DATABASE_URL")
        .env_remove("HANGAR_ARTIFACTS");
    command
}

fn chromedriver() -> PathBuf {
    let path =
        PathBuf::from(std::env::var("HANGAR_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".to_owned()));
    assert!(
        path.exists(),
        "{} is missing: the console tests drive Chromium through chromedriver; install Debian's `chromium` and \
         `chromium-driver` (scripts/test.sh does) or set HANGAR_CHROMEDRIVER",
        path.display()
    );
    path
}

/// Where the screenshots go: `HANGAR_SCREENSHOTS` (relative to the
/// repository) when asked, else `scratch`, so a test run leaves the
/// repository as it was.
fn screenshots_dir(scratch: &Path) -> PathBuf {
    let dir = match std::env::var_os("HANGAR_SCREENSHOTS") {
        Some(dir) => Path::new(env!("CARGO_MANIFEST_DIR")).join(dir),
        None => scratch.join("screenshots"),
    };
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

/// chromedriver's log of the browser console (`goog:loggingPrefs`), read
/// and emptied: `POST /session/{id}/se/log`.
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (axum::http::Method::POST, Some(json!({ "type": "browser" }).to_string()))
    }
}

/// The documents to upload: examples of every kind, a mirror copy of one
/// (a duplicate) and a scanned page with no text (rejected).
fn documents(into: &Path) -> Vec<PathBuf> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/corpus");
    let picks = [
        ("en/part99-subparts-a-b.md", "part99-subparts-a-b.md"),
        ("mirror/part99-subparts-a-b.md", "part99-subparts-a-b-mirror.md"),
        ("en/part99-subparts-c-f.html", "part99-subparts-c-f.html"),
        ("en/ad-2026-0042.pdf", "ad-2026-0042.pdf"),
        ("en/ad-2026-0042R1.pdf", "ad-2026-0042R1.pdf"),
        ("zh/energy-storage-guidance-gb18030.txt", "energy-storage-guidance-gb18030.txt"),
        ("broken/scanned-page.pdf", "scanned-page.pdf"),
    ];
    picks
        .iter()
        .map(|(from, name)| {
            let to = into.join(name);
            std::fs::copy(corpus.join(from), &to).unwrap_or_else(|e| panic!("copy {from}: {e}"));
            to
        })
        .collect()
}

struct Console {
    base: String,
    client: Client,
    shots: PathBuf,
}

impl Console {
    async fn open(&self, path: &str) {
        self.assert_no_errors().await;
        self.client.goto(&format!("{}{path}", self.base)).await.unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    /// Opens a page the server is meant to refuse (403, 404): its own
    /// failed load is the one error allowed.
    async fn open_refused(&self, path: &str) {
        self.open(path).await;
        self.find("main h1").await;
        self.refused_here(path).await;
    }

    /// Reads the browser log after the server refused `path` on purpose (a
    /// 4xx page, a form sent back with its problems): that load may be logged
    /// as failed, nothing else may be.
    async fn refused_here(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        let unexpected: Vec<Value> = self
            .severe_entries()
            .await
            .into_iter()
            .filter(|e| {
                let message = e["message"].as_str().unwrap_or_default();
                !(e["source"] == "network" && message.starts_with(&url) && message.contains("status of 4"))
            })
            .collect();
        assert!(unexpected.is_empty(), "{path}: the browser logged errors: {unexpected:#?}");
    }

    /// The browser log's `SEVERE` entries since it was last read.
    async fn severe_entries(&self) -> Vec<Value> {
        let log = self.client.issue_cmd(BrowserLog).await.unwrap_or_else(|e| panic!("read the browser log: {e}"));
        log.as_array().into_iter().flatten().filter(|e| e["level"] == "SEVERE").cloned().collect()
    }

    /// Fails on any JavaScript error (or failed load) the page logged.
    async fn assert_no_errors(&self) {
        let errors = self.severe_entries().await;
        assert!(errors.is_empty(), "{}: the browser logged errors: {errors:#?}", self.url().await);
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self.client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!("no {css} on {}: {e}", self.url().await),
        }
    }

    /// Replaces what a field holds with `text`, typed as a person would.
    async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap_or_else(|e| panic!("clear {css}: {e}"));
        field.send_keys(text).await.unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    async fn url(&self) -> String {
        self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default()
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap_or_else(|e| panic!("text of {css}: {e}"))
    }

    async fn script(&self, code: &str, args: Vec<Value>) -> Value {
        self.client.execute(code, args).await.unwrap_or_else(|e| panic!("script {code}: {e}"))
    }

    /// Polls `code` until it returns true.
    async fn until(&self, what: &str, within: Duration, code: &str) {
        let deadline = Instant::now() + within;
        loop {
            if self.script(code, vec![]).await == json!(true) {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: still not so after {within:?} on {}", self.url().await);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Saves a screenshot of the page, after checking that nothing sticks
    /// out sideways at a laptop's width (wide tables scroll in their box).
    async fn shot(&self, name: &str) {
        self.assert_no_errors().await;
        let wide = self
            .script(
                "const root = document.documentElement; const w = root.clientWidth; \
                 if (root.scrollWidth <= w) return []; \
                 return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w + 1) \
                   .map(e => e.tagName + '.' + e.className).slice(0, 8)",
                vec![],
            )
            .await;
        assert_eq!(wide, json!([]), "{name}: these stick out of a {}-pixel window", 1366);
        self.script("window.scrollTo(0, 0)", vec![]).await;
        let png = self.client.screenshot().await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("write the screenshot");
    }

    async fn sign_in(&self, email: &str, next: &str) {
        self.open(&format!("/login?next={next}")).await;
        self.find("#email").await.send_keys(email).await.expect("type the e-mail");
        self.find("#password").await.send_keys(PASSWORD).await.expect("type the password");
        self.find("form[action='/login'] button[type=submit]").await.click().await.expect("sign in");
        self.find("header.top .who").await;
    }

    async fn sign_out(&self) {
        self.find("form[action='/logout'] button").await.click().await.expect("sign out");
        self.find("#email").await;
    }
}

#[test]
fn the_console_in_a_browser() {
    let driver_path = chromedriver();
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    for (email, admin) in [(OWNER, false), (OTHER, false), (ADMIN, true)] {
        let mut create = hangar(&home);
        create.args(["users", "create", "--email", email, "--password", PASSWORD]);
        if admin {
            create.arg("--admin");
        }
        let made = create.output().expect("hangar users create");
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    }
    // A pipeline run from the command line by the machine's owner, before
    // the server starts: administrators find it in the console.
    let cli_run = hangar(&home).args(["run", "examples/hello.yaml", "--json", "--quiet"]).output().expect("hangar run");
    assert!(cli_run.status.success(), "{}", String::from_utf8_lossy(&cli_run.stderr));
    let cli_run: Value = serde_json::from_slice(&cli_run.stdout).expect("the run's JSON summary");
    let cli_run = cli_run["run_id"].as_str().expect("run_id").to_owned();
    let (server_port, driver_port) = (free_port(), free_port());
    let server_log = dir.path().join("server.log");
    let _server =
        spawn_logged(hangar(&home).args(["serve", "--bind", &format!("127.0.0.1:{server_port}")]), &server_log);
    let driver_log = dir.path().join("chromedriver.log");
    let _driver = Process(
        Command::new(driver_path)
            .arg(format!("--port={driver_port}"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&driver_log).expect("log"))
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    wait_for_port(server_port, "hangar serve", &server_log);
    wait_for_port(driver_port, "chromedriver", &driver_log);
    let uploads = dir.path().join("to-upload");
    std::fs::create_dir_all(&uploads).expect("folder");
    let files = documents(&uploads);

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": std::env::var("HANGAR_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned()),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1366,1000", "--lang=en-US", "--force-device-scale-factor=1"],
                "prefs": { "intl.accept_languages": "en-US,en" },
            }),
        );
        capabilities.insert("goog:loggingPrefs".to_owned(), json!({ "browser": "ALL" }));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{driver_port}"))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "chromedriver refused a session ({e}); its log:\n{}",
                    std::fs::read_to_string(&driver_log).unwrap_or_default()
                )
            });
        let console =
            Console { base: format!("http://127.0.0.1:{server_port}"), client, shots: screenshots_dir(dir.path()) };
        // The browser is closed whatever happens, then a failure is reported.
        let outcome = std::panic::AssertUnwindSafe(async {
            walk_through(&console, &files).await;
            models_and_evaluations(&console, &cli_run).await;
            keys_and_two_factor(&console).await;
            console.assert_no_errors().await;
        })
        .catch_unwind()
        .await;
        let _ = console.client.close().await;
        if let Err(failure) = outcome {
            std::panic::resume_unwind(failure);
        }
    });
    drop(dir);
}

/// Another account makes an API key, enrols an authenticator app (the QR
/// code drawn by the server, a first code, the recovery codes), signs out
/// and signs in again with the password and then a code; an administrator
/// finds both in the audit log.
async fn keys_and_two_factor(console: &Console) {
    console.sign_in(OTHER, "/account").await;
    console.find("#keys-link").await.click().await.expect("open the keys");
    console.fill("#key-name", "nightly-eval").await;
    console.find("form[action='/account/keys'] button[type=submit]").await.click().await.expect("create a key");
    let key = console.text("#new-key").await;
    assert!(key.starts_with("hk_"), "the new key is shown once: {key}");
    assert!(console.text("#keys").await.contains("nightly-eval"));
    console.shot("api-keys").await;

    console.open("/account").await;
    console.find("#two-factor-link").await.click().await.expect("open two-factor");
    console.find("#set-up").await.click().await.expect("start enrolling");
    console.find(".qr svg").await;
    let secret = console.text("#totp-secret").await;
    console.shot("two-factor-enrol").await;
    let now = u64::try_from(chrono::Utc::now().timestamp()).expect("after 1970");
    let code = hangar_accounts::totp::code_at(&secret, now).expect("a code");
    console.fill("#code", &code).await;
    console.find("form[action='/account/two-factor/confirm'] button").await.click().await.expect("confirm");
    console.find("#recovery-codes").await;
    let codes = console.script("return document.querySelectorAll('#recovery-codes li').length", vec![]).await;
    assert_eq!(codes, json!(10), "ten recovery codes");
    console.shot("two-factor-recovery-codes").await;
    console.sign_out().await;

    // The password first, then the code: the next step's, as the app would show it.
    console.open("/login?next=/runs").await;
    console.find("#email").await.send_keys(OTHER).await.expect("type the e-mail");
    console.find("#password").await.send_keys(PASSWORD).await.expect("type the password");
    console.find("form[action='/login'] button[type=submit]").await.click().await.expect("sign in");
    console.find("form[action='/login/two-factor']").await;
    assert!(console.script("return document.querySelector('header.top .who') === null", vec![]).await == json!(true));
    console.shot("two-factor-sign-in").await;
    let next = hangar_accounts::totp::code_at(&secret, now + 30).expect("a code");
    console.fill("#code", &next).await;
    console.find("form[action='/login/two-factor'] button").await.click().await.expect("send the code");
    console.find("header.top .who").await;
    assert!(console.url().await.ends_with("/runs"), "back where sign-in was asked for: {}", console.url().await);
    console.sign_out().await;

    console.sign_in(ADMIN, "/admin/audit").await;
    let log = console.text("#audit").await;
    for action in ["two_factor.enable", "key.create", "auth.sign_in"] {
        assert!(log.contains(action), "the audit log shows {action}: {log}");
    }
    console.fill("#action", "two_factor.").await;
    console.find("#audit-filter button").await.click().await.expect("filter");
    console.find("#audit").await;
    let rows = console.script("return document.querySelectorAll('#audit tbody tr').length", vec![]).await;
    assert_eq!(rows, json!(2), "enrolment started and confirmed: {}", console.text("#audit").await);
    console.shot("audit-log").await;
    console.sign_out().await;
}

async fn walk_through(console: &Console, files: &[PathBuf]) {
    // Not signed in: the sign-in page, which comes back to where we were going.
    console.open("/data").await;
    assert!(console.url().await.contains("/login?next=/data"), "{}", console.url().await);
    console.shot("sign-in").await;
    console.sign_in(OWNER, "/data").await;
    assert!(console.url().await.ends_with("/data"), "{}", console.url().await);

    // Upload through the drop zone's file input; the progress bar and the
    // result, then the new row, come from the page script.
    let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    console.find("#upload-files").await.send_keys(&paths.join("\n")).await.expect("pick the files");
    console
        .until(
            "the upload finished",
            Duration::from_secs(30),
            "return document.getElementById('upload-result').textContent.includes('uploads/upl_')",
        )
        .await;
    let key = console.text("#uploads tbody tr:first-child code.key").await;
    assert!(key.starts_with("uploads/upl_"), "{key}");
    // Dropped files go the same way (a drop event as the browser makes it).
    console
        .script(
            "const files = new DataTransfer(); \
             files.items.add(new File(['# Notes\\n\\nDropped on the zone.\\n'], 'dropped-notes.md', { type: 'text/markdown' })); \
             document.getElementById('dropzone').dispatchEvent(new DragEvent('drop', { dataTransfer: files, bubbles: true, cancelable: true }))",
            vec![],
        )
        .await;
    console
        .until(
            "the dropped file is uploaded",
            Duration::from_secs(30),
            "return document.getElementById('upload-result').textContent.startsWith('dropped-notes.md')",
        )
        .await;
    assert_eq!(console.text("#uploads tbody tr:first-child td:first-child").await, "dropped-notes.md");
    let rows = console.script("return document.querySelectorAll('#uploads tbody tr').length", vec![]).await;
    assert_eq!(rows, json!(2), "both uploads listed");
    // The multi-file upload is the second row now.
    let key = console.text("#uploads tbody tr:nth-child(2) code.key").await;
    assert!(key.starts_with("uploads/upl_"), "{key}");
    console.shot("data").await;

    // The editor: a broken pipeline shows its problem at its line.
    console.open("/pipelines/new").await;
    console.script("document.getElementById('yaml').value = arguments[0]", vec![json!(BROKEN)]).await;
    console.find("button[value=check]").await.click().await.expect("check");
    let note = console.text(".listing .diagnostic").await;
    assert!(note.contains("tasks.clean.with") && note.contains("fold_widht"), "{note}");
    console.refused_here("/pipelines/save").await;
    console.shot("pipeline-diagnostics").await;
    console.script("document.getElementById('yaml').value = arguments[0]", vec![json!(PIPELINE)]).await;
    console.find("button[value=save]").await.click().await.expect("save");
    console.find("svg.dag").await;
    assert!(console.url().await.ends_with("/pipelines/regulations-data"), "{}", console.url().await);
    let boxes = console.script("return document.querySelectorAll('svg.dag g.node').length", vec![]).await;
    assert_eq!(boxes, json!(5), "one box per task");

    // A yearly schedule from the pipeline's page (it will not fire while
    // the test runs), its params typed like the run form's.
    console.find("details.add-schedule summary").await.click().await.expect("open the schedule form");
    console.fill("#schedule-cron", "0 3 1 1 *").await;
    console.fill("#schedule-timezone", "Asia/Shanghai").await;
    console.fill("#schedule-param-source", &key).await;
    console.find("details.add-schedule button[type=submit]").await.click().await.expect("add the schedule");
    console.find("ul.schedules li time").await;
    assert_eq!(console.text("ul.schedules li code").await, "0 3 1 1 *");

    // Start it on the upload from the typed run form.
    console.find("#param-source").await.send_keys(&key).await.expect("type the key");
    console.shot("pipeline").await;
    console.find("form[action$='/run'] button[type=submit]").await.click().await.expect("start");
    console.find("section[data-run]").await;
    let run_url = console.url().await;
    let run_id = run_url.rsplit('/').next().unwrap_or_default().to_owned();
    assert!(run_url.contains("/runs/"), "{run_url}");

    // Green without a reload: the page opened while the run was still
    // waiting, and a marker set now must survive to the end.
    console.script("window.hangarNoReload = true", vec![]).await;
    let first = console.text("#run-status").await;
    assert!(first != "succeeded", "the run was not finished when its page opened");
    assert_eq!(
        console.script("return document.querySelectorAll('svg.dag g.node.status-succeeded').length", vec![]).await,
        json!(0),
        "no box green yet"
    );
    console
        .until(
            "the run page turned green",
            Duration::from_secs(120),
            "return document.getElementById('run-status').textContent === 'succeeded' \
             && document.querySelectorAll('svg.dag g.node.status-succeeded').length === 5 \
             && document.querySelectorAll('#tasks span.status.succeeded').length === 5",
        )
        .await;
    assert_eq!(console.script("return window.hangarNoReload === true", vec![]).await, json!(true), "the page reloaded");
    let bars =
        console.script("return document.querySelectorAll('svg.gantt rect.status-succeeded').length", vec![]).await;
    assert_eq!(bars, json!(5), "the timeline shows every task");

    // A task's log, as it streamed in, reached from its box in the graph by
    // keyboard; the box's spoken name followed the task to its end.
    let ingest_box = console.find("svg.dag a[href='#log-ingest']").await;
    let label = ingest_box.attr("aria-label").await.expect("label").unwrap_or_default();
    assert_eq!(label, "ingest (ingest): succeeded", "named as it is now, not as it was when the page opened");
    ingest_box.send_keys("\u{E007}").await.expect("press Enter on the box");
    console
        .until("the box opens the log", Duration::from_secs(5), "return document.getElementById('log-ingest').open")
        .await;
    console
        .until(
            "the ingest log has lines",
            Duration::from_secs(10),
            "return document.querySelector('pre[data-log=\"ingest\"]').textContent.length > 0",
        )
        .await;
    let log = console.text("pre[data-log='ingest']").await;
    assert!(log.contains("scanned-page.pdf"), "the ingest log names the rejected file: {log}");
    console.shot("run").await;

    // The data the run made: documents, rejected files, duplicate clusters.
    console.open(&format!("/runs/{run_id}/tasks/ingest/view/documents")).await;
    let shown = console.script("return document.querySelectorAll('article.document').length", vec![]).await;
    assert!(shown.as_u64() >= Some(5), "the ingested documents: {shown}");
    let langs = console
        .script("return [...document.querySelectorAll('article.document .tag')].map(t => t.textContent)", vec![])
        .await;
    assert!(langs.as_array().is_some_and(|l| l.contains(&json!("zh")) && l.contains(&json!("en"))), "{langs}");
    assert_eq!(
        console
            .script("return document.querySelectorAll('.markdown h1, .markdown h2, .markdown h3').length > 0", vec![])
            .await,
        json!(true),
        "Markdown rendered"
    );
    console.shot("documents").await;
    console.open(&format!("/runs/{run_id}/tasks/ingest/view/rejected")).await;
    let rejected = console.text("table.records tbody").await;
    assert!(rejected.contains("scanned-page.pdf"), "{rejected}");
    console.open("/data").await;
    console
        .find(&format!("a[href='/runs/{run_id}/tasks/dedup/view/duplicates']"))
        .await
        .click()
        .await
        .expect("open the duplicates");
    console.find(".side-by-side").await;
    let cluster = console.text("section.cluster").await;
    assert!(cluster.contains("part99-subparts-a-b-mirror.md") || cluster.contains("ad-2026-0042"), "{cluster}");
    let sides =
        console.script("return document.querySelectorAll('.side-by-side .side pre.doc-text').length", vec![]).await;
    assert!(sides.as_u64() >= Some(2), "kept and removed texts side by side: {sides}");
    console.shot("duplicates").await;

    // The lists, in both languages.
    console.open("/pipelines").await;
    assert!(console.text("table.runs").await.contains("regulations-data"));
    console.shot("pipelines").await;
    console.open("/runs").await;
    assert!(console.text("table.runs").await.contains(&run_id));
    console.shot("runs").await;
    console.find("a.lang").await.click().await.expect("switch to Chinese");
    console
        .until("the page is in Chinese", Duration::from_secs(10), "return document.documentElement.lang === 'zh-CN'")
        .await;
    assert_eq!(console.text("h1").await, "运行");
    console.open(&format!("/runs/{run_id}")).await;
    console.find("svg.dag g.node.status-succeeded").await;
    console.shot("run-zh").await;
    console.find("a.lang").await.click().await.expect("back to English");
    console
        .until("the page is in English", Duration::from_secs(10), "return document.documentElement.lang === 'en'")
        .await;

    // Another account: the run is not there for it.
    console.sign_out().await;
    console.sign_in(OTHER, "/runs").await;
    assert!(!console.text("main").await.contains(&run_id), "another user's run is not listed");
    console.open_refused(&format!("/runs/{run_id}")).await;
    assert_eq!(console.text("main h1").await, "404");
    let words = console.text("main").await;
    assert!(!words.contains("/api/v1"), "the console speaks in its own terms: {words}");
    assert_eq!(
        console.script("return document.querySelector('main a[href=\"/runs\"]') !== null", vec![]).await,
        json!(true),
        "a link to the runs page instead: {words}"
    );
    assert_eq!(
        console.script("return document.querySelector('section[data-run]') === null", vec![]).await,
        json!(true)
    );
    console.open_refused(&format!("/runs/{run_id}/tasks/dedup/view/duplicates")).await;
    assert_eq!(console.text("main h1").await, "404", "nor its data");
    console.open_refused("/admin/users").await;
    assert_eq!(console.text("main h1").await, "403", "the administrators' page is refused to users");
    console.sign_out().await;
}

/// Waits on a run's page until the run succeeded (from its event stream).
async fn wait_green(console: &Console, within: Duration) {
    console
        .until(
            "the run succeeded",
            within,
            "const s = document.getElementById('run-status').textContent; \
             if (s === 'failed' || s === 'cancelled') throw new Error('the run ' + s); return s === 'succeeded'",
        )
        .await;
}

/// The flagship started from the console by an administrator; its
/// training curves, the registry (promotion, rollback), the playground's
/// streamed answer, the evaluation report, two reports compared, and the
/// accounts page.
async fn models_and_evaluations(console: &Console, cli_run: &str) {
    // The run made at the command line: its pipeline is listed, and the run
    // page's link to it leads there.
    console.sign_in(ADMIN, "/pipelines").await;
    assert!(console.text("table.runs").await.contains("hello"), "the CLI's pipeline is listed");
    console.open(&format!("/runs/{cli_run}")).await;
    console.find("a[href='/pipelines/hello']").await.click().await.expect("open the run's pipeline");
    console.find("svg.dag").await;
    assert!(console.url().await.ends_with("/pipelines/hello"), "{}", console.url().await);
    console.open("/pipelines/new").await;
    let flagship =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/airworthiness-scratch.yaml"))
            .expect("the flagship pipeline");
    console.find("#yaml").await;
    console.script("document.getElementById('yaml').value = arguments[0]", vec![json!(flagship)]).await;
    console.find("button[value=save]").await.click().await.expect("save");
    console.fill("#param-max_questions", "12").await;
    // Enough steps to watch the curves grow while it trains.
    console.fill("#param-steps", "240").await;
    console.find("form[action$='/run'] button[type=submit]").await.click().await.expect("start the flagship");
    console.find("section[data-run]").await;
    let first_run = console.url().await.rsplit('/').next().unwrap_or_default().to_owned();
    console
        .until(
            "pretraining started",
            Duration::from_secs(120),
            "const s = document.getElementById('run-status').textContent; \
             if (s === 'failed' || s === 'cancelled') throw new Error('the run ' + s); \
             return !!document.querySelector('svg.dag g.node.status-running[data-task=\"train\"]')",
        )
        .await;

    // Training, live: the step count and the curves move without a reload.
    console.open(&format!("/runs/{first_run}/tasks/train/training")).await;
    console.script("window.hangarNoReload = true", vec![]).await;
    let before = console.text("dd[data-figure='steps']").await;
    console
        .until(
            "the training page moved on by itself",
            Duration::from_secs(60),
            &format!(
                "const now = document.querySelector(\"dd[data-figure='steps']\").textContent; \
                 return now !== {before:?} && !!document.querySelector('figure.chart polyline.line.train')"
            ),
        )
        .await;
    console
        .until(
            "the training page shows the task finished",
            Duration::from_secs(300),
            "return document.querySelector(\"dd[data-figure='status'] .status\").classList.contains('succeeded')",
        )
        .await;
    assert_eq!(console.script("return window.hangarNoReload === true", vec![]).await, json!(true), "the page reloaded");
    console.open(&format!("/runs/{first_run}")).await;
    wait_green(console, Duration::from_secs(300)).await;
    // The flagship's graph fits the page's width: no sideways scrolling.
    let fits = console
        .script(
            "const box = document.querySelector('svg.dag').parentElement; \
             return [box.scrollWidth, box.clientWidth, document.querySelectorAll('svg.dag g.node').length]",
            vec![],
        )
        .await;
    assert!(fits[0].as_u64() <= fits[1].as_u64() && fits[2].as_u64() >= Some(9), "graph width vs its box: {fits}");
    let ticks = console.script("return document.querySelectorAll('svg.gantt text.tick').length", vec![]).await;
    assert!(ticks.as_u64() >= Some(2), "the timeline has a time axis: {ticks}");
    console.shot("run-flagship").await;

    // Training: the curves of the pretraining task, from its metrics.
    console.open("/training").await;
    console
        .find(&format!("a[href='/runs/{first_run}/tasks/train/training']"))
        .await
        .click()
        .await
        .expect("open training");
    console.find("figure.chart").await;
    let charts = console.script("return document.querySelectorAll('figure.chart').length", vec![]).await;
    assert_eq!(charts, json!(2), "loss and learning rate");
    let points = console
        .script(
            "return document.querySelector('polyline.line.train').getAttribute('points').trim().split(' ').length",
            vec![],
        )
        .await;
    assert_eq!(points, json!(240), "a point per step");
    assert!(console.text("main").await.contains("step-"), "checkpoints are listed");
    console.shot("training").await;

    // The registry: versions with their metrics, promote, and a refused rollback.
    console.open("/models").await;
    console.find("a[href='/models/airworthy']").await.click().await.expect("open the model");
    let header = console.text("table.versions thead").await;
    assert!(header.contains("rougeL"), "{header}");
    // Promote is in reach without scrolling the metrics sideways.
    let reach = console
        .script(
            "const box = document.querySelector('table.versions').parentElement.getBoundingClientRect(); \
             const button = document.querySelector(\"tr[data-version='1'] button[type=submit]\").getBoundingClientRect(); \
             return button.right <= box.right && button.left >= box.left",
            vec![],
        )
        .await;
    assert_eq!(reach, json!(true), "the promote button is visible in the versions table");
    console.fill("#alias-1", "staging").await;
    console.find("tr[data-version='1'] button[type=submit]").await.click().await.expect("promote");
    assert!(console.text("p.ok").await.contains("airworthy:staging → 1"));
    // A new alias has nowhere to go back to: no rollback is offered.
    assert_eq!(
        console
            .script(
                "return document.querySelector(\"form[action='/models/airworthy/rollback'] input[value='staging']\") === null",
                vec![]
            )
            .await,
        json!(true),
        "no rollback for an alias that was never moved"
    );
    console.shot("model").await;

    // The playground: an answer streamed in, chunk by chunk.
    console.find("a[href='/models/airworthy/playground']").await.click().await.expect("open the playground");
    // Greedy: training is seeded, so the answer is the same on every run.
    console.fill("#chat-temperature", "0").await;
    console.find("#chat-input").await.send_keys("What does Part 99 apply to?").await.expect("type");
    console
        .script(
            // Count mutation records, not callbacks: the browser hands every
            // mutation of one task to a single callback, and the whole stream
            // may arrive in one read.
            "window.hangarChunks = 0; new MutationObserver((records) => { window.hangarChunks += records.length; }) \
             .observe(document.getElementById('chat-log'), { childList: true, subtree: true, characterData: true })",
            vec![],
        )
        .await;
    console.find("#chat button[type=submit]").await.click().await.expect("send");
    console
        .until(
            "the answer finished",
            Duration::from_secs(60),
            "const b = document.querySelector('.bubble.assistant'); \
             return !!b && b.textContent.length > 0 && !document.querySelector('#chat button').disabled",
        )
        .await;
    assert_eq!(console.text("#chat-error").await, "", "no error");
    let chunks = console.script("return window.hangarChunks", vec![]).await;
    assert!(chunks.as_u64() >= Some(3), "the question, the answer's bubble and at least one streamed chunk: {chunks}");
    // The model reads 64 tokens: the next question goes past that, and the
    // conversation goes on without its oldest turns, saying so.
    console
        .find("#chat-input")
        .await
        .send_keys("Which records must an operator keep, for how long, and who may inspect them?")
        .await
        .expect("type");
    console.find("#chat button[type=submit]").await.click().await.expect("send again");
    console
        .until(
            "the second answer finished",
            Duration::from_secs(60),
            "return document.querySelectorAll('.bubble.assistant').length === 2 \
             && !document.querySelector('#chat button').disabled",
        )
        .await;
    assert_eq!(console.text("#chat-error").await, "", "no error past the context");
    let note = console.text("#chat-log .note").await;
    assert!(note.contains("oldest messages were left out"), "{note}");
    let faded = console.script("return document.querySelectorAll('.bubble.left-out').length", vec![]).await;
    assert!(faded.as_u64() >= Some(1), "the turns left out are marked: {faded}");
    console.shot("playground").await;

    // The evaluation report, then a second run to compare with.
    console.open("/evaluations").await;
    console
        .find(&format!("a[href='/runs/{first_run}/tasks/evaluate/report']"))
        .await
        .click()
        .await
        .expect("open the report");
    console.find("table.items").await;
    assert!(console.text("main").await.contains("rougeL"));
    let title = console.text("main h1").await;
    assert!(title.contains("airworthy@1"), "the report is titled by the model it scored: {title}");
    let gate = console.text("p.gate").await;
    assert!(!gate.contains('<') && !gate.contains("baseline"), "{gate}");
    let counts = console
        .script("return [...document.querySelectorAll('table.records td.num')].map(t => t.textContent)", vec![])
        .await;
    assert!(
        counts.as_array().is_some_and(|c| c.iter().all(|t| !t.as_str().unwrap_or_default().ends_with(".0"))),
        "counts are whole numbers: {counts}"
    );
    let items = console.script("return document.querySelectorAll('table.items tbody tr').length", vec![]).await;
    assert!(items.as_u64() >= Some(1), "per-item examples: {items}");
    console.shot("evaluation").await;
    console.open("/pipelines/airworthiness-scratch").await;
    console.fill("#param-steps", "30").await;
    console.fill("#param-max_questions", "12").await;
    console.find("form[action$='/run'] button[type=submit]").await.click().await.expect("start again");
    console.find("section[data-run]").await;
    wait_green(console, Duration::from_secs(300)).await;
    console.open("/evaluations").await;
    console.find("form[action='/evaluations/compare'] button").await.click().await.expect("compare");
    console.find("table.compare").await;
    let compared = console.script("return document.querySelectorAll('table.compare tbody tr').length", vec![]).await;
    assert!(compared.as_u64() >= Some(3), "metrics side by side: {compared}: {}", console.text("main").await);
    console.find(".side-by-side").await;
    console.shot("evaluation-compare").await;

    // Accounts, for administrators.
    console.open("/admin/users").await;
    let accounts = console.text("table.users").await;
    assert!(accounts.contains(OWNER) && accounts.contains(OTHER) && accounts.contains(ADMIN), "{accounts}");
    console.shot("users").await;
}

//! The alert rules and the Grafana dashboard against real Prometheus
//! (Debian's `prometheus` package; `scripts/test.sh` installs it):
//! `promtool check rules` and `promtool test rules` run the rules' unit
//! tests, then a Prometheus scrapes a running `hangar serve` (embedded
//! default, after a run) and every query of `deploy/grafana/hangar.json` is
//! asked of it: all must be valid, and those over series a running server
//! always has must return data.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "support/process.rs"]
mod process;
use process::{Process, free_port, spawn_logged, wait_for_port};

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy").join(path)
}

fn promtool(args: &[&str]) -> String {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(deploy("prometheus"))
        .output()
        .expect("promtool (Debian's prometheus package; scripts/test.sh installs it)");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn the_alert_rules_check_and_pass_their_unit_tests() {
    assert!(promtool(&["check", "rules", "alerts.yml"]).contains("SUCCESS: 6 rules found"));
    assert!(promtool(&["test", "rules", "alerts.test.yml"]).contains("SUCCESS"));
}

fn hangar(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hangar"));
    command
        .arg("--home")
        .arg(home)
        .env("HANGAR_LEASE", "3s")
        // The embedded default: local artifacts, whose disk the metrics report.
        .env_remove("HANGAR_DATABASE_URL")
        .env_remove("HANGAR_ARTIFACTS");
    command
}

fn get(url: &str, query: &[(&str, &str)]) -> Option<Value> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime
        .block_on(async { reqwest::Client::new().get(url).query(query).send().await.ok()?.json::<Value>().await.ok() })
}

/// The PromQL of every panel, with Grafana's `$__rate_interval` made concrete.
fn dashboard_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(deploy("grafana/hangar.json")).expect("the dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut queries = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr").replace("$__rate_interval", "1m");
            queries.push((panel["title"].as_str().expect("title").to_owned(), expr));
        }
    }
    queries
}

#[test]
fn prometheus_scrapes_a_server_and_answers_every_dashboard_query() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let run = hangar(&home).args(["run", "examples/hello.yaml", "--quiet"]).output().expect("hangar run");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));

    let (server_port, prometheus_port) = (free_port(), free_port());
    let _server = spawn_logged(
        hangar(&home).args(["serve", "--bind", &format!("127.0.0.1:{server_port}")]),
        &dir.path().join("server.log"),
    );
    wait_for_port(server_port, "hangar serve", &dir.path().join("server.log"));
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: hangar\n    static_configs:\n      - targets: ['127.0.0.1:{server_port}']\n",
            deploy("prometheus/alerts.yml").display()
        ),
    )
    .expect("config");
    let prometheus_log = dir.path().join("prometheus.log");
    let _prometheus = Process(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&prometheus_log).expect("log"))
            .spawn()
            .expect("start prometheus (Debian's prometheus package; scripts/test.sh installs it)"),
    );
    let api = format!("http://127.0.0.1:{prometheus_port}/api/v1");
    let query = |expr: &str| get(&format!("{api}/query"), &[("query", expr)]);
    // Until the server's series are in: a few scrapes, and two for rates.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen = query("count_over_time(hangar_workers_alive[1m])")
            .and_then(|v| v["data"]["result"][0]["value"][1].as_str().map(str::to_owned))
            .and_then(|n| n.parse::<u32>().ok());
        if seen.is_some_and(|n| n >= 5) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped the server; its log:\n{}",
            std::fs::read_to_string(&prometheus_log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let rules = get(&format!("{api}/rules"), &[]).expect("rules");
    assert_eq!(rules["data"]["groups"][0]["rules"].as_array().map(Vec::len), Some(6), "the alert rules are loaded");

    // Series every running server has (serving ones appear once a model answers).
    let always = [
        "hangar_workers_alive",
        "hangar_queue_depth",
        "hangar_schedules_overdue",
        "hangar_runs_total",
        "hangar_tasks_total",
        "hangar_task_duration_seconds",
        "http_request_duration_seconds",
        "hangar_artifact_store",
    ];
    let queries = dashboard_queries();
    assert!(queries.len() >= 15, "{queries:?}");
    for (title, expr) in &queries {
        let answer = query(expr).unwrap_or_else(|| panic!("{title}: no answer to {expr}"));
        assert_eq!(answer["status"], "success", "{title}: {expr} is not valid PromQL: {answer}");
        let result = answer["data"]["result"].as_array().cloned().unwrap_or_default();
        let needs_data =
            always.iter().any(|m| expr.contains(m)) && !expr.contains("5..") && !expr.contains("histogram_quantile");
        if needs_data {
            assert!(!result.is_empty(), "{title}: {expr} has no data from a running server");
        }
    }
    let workers = query("hangar_workers_alive").expect("workers");
    assert!(
        workers["data"]["result"][0]["value"][1].as_str().is_some_and(|v| v != "0"),
        "embedded workers are alive: {workers}"
    );
    let succeeded = query("hangar_runs_total{status=\"succeeded\"}").expect("runs");
    assert_eq!(succeeded["data"]["result"][0]["value"][1], "1", "the CLI run is counted: {succeeded}");
}

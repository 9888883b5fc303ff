//! A production-like cluster for end-to-end tests: a fresh PostgreSQL
//! database, a fresh prefix on the loopback S3 server, and `hangar`
//! processes (coordinators, workers) started and killed for real.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn var(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
}

/// Runs a statement on the PostgreSQL server as the admin user.
fn admin_sql(admin: &str, sql: &str) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(admin).await.map_err(|e| e.to_string())?;
        sqlx::query(sql).execute(&mut conn).await.map(|_| ()).map_err(|e| e.to_string())
    })
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub database_url: String,
    pub artifacts: String,
    admin_url: String,
    database: String,
    children: Vec<Child>,
}

impl Cluster {
    /// A new database (migrated unless `migrate` is false) and artifact prefix.
    pub fn new(migrate: bool) -> Self {
        let admin_url = var("HANGAR_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres");
        let database = format!("hangar_e2e_{}", uuid::Uuid::new_v4().simple());
        admin_sql(&admin_url, &format!("CREATE DATABASE {database}")).unwrap_or_else(|e| {
            panic!(
                "PostgreSQL at {admin_url} is needed ({e}); scripts/test.sh starts it, or set HANGAR_TEST_POSTGRES_URL"
            )
        });
        let base = admin_url.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap_or_else(|| admin_url.clone());
        let bucket = var("HANGAR_TEST_S3", "s3://hangar-test");
        let cluster = Self {
            dir: tempfile::tempdir().expect("tempdir"),
            database_url: format!("{base}/{database}"),
            // Short: the loopback S3 server (s3s-fs) names a multipart upload's
            // metadata file after the base64 of the whole key, and file names stop at
            // 255 bytes; a checkpoint's key under a long prefix passed that.
            artifacts: format!("{}/e2e-{}", bucket.trim_end_matches('/'), &database["hangar_e2e_".len()..][..12]),
            admin_url,
            database,
            children: Vec::new(),
        };
        if migrate {
            let output = cluster.hangar("admin").arg("migrate").output().expect("hangar migrate");
            assert!(output.status.success(), "migrate: {}", String::from_utf8_lossy(&output.stderr));
        }
        cluster
    }

    /// `hangar` as a process on its own "machine" (home folder `name`).
    pub fn hangar(&self, name: &str) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hangar"));
        command
            .arg("--home")
            .arg(self.dir.path().join(name))
            .env("HANGAR_DATABASE_URL", &self.database_url)
            .env("HANGAR_ARTIFACTS", &self.artifacts)
            .env("AWS_ENDPOINT_URL", var("AWS_ENDPOINT_URL", "http://127.0.0.1:8014"))
            .env("AWS_REGION", var("AWS_REGION", "us-east-1"))
            .env("AWS_ACCESS_KEY_ID", var("AWS_ACCESS_KEY_ID", "hangar"))
            .env("AWS_SECRET_ACCESS_KEY", var("AWS_SECRET_ACCESS_KEY", "hangar-secret"))
            // Short leases so that dead processes are noticed within seconds.
            .env("HANGAR_LEASE", "2s")
            .env("HANGAR_POLL", "50ms");
        command
    }

    /// Starts a long-running `hangar` process; its output goes to `NAME.log`.
    pub fn spawn(&mut self, name: &str, args: &[&str]) -> u32 {
        self.spawn_with(name, args, &[])
    }

    /// Like [`Cluster::spawn`], with extra environment variables.
    pub fn spawn_with(&mut self, name: &str, args: &[&str], env: &[(&str, &str)]) -> u32 {
        let log = std::fs::File::create(self.dir.path().join(format!("{name}.log"))).expect("log file");
        let child = self
            .hangar(name)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start hangar");
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// A started process's log so far.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// Sends a signal (`KILL`, `STOP`, `CONT`, `TERM`) to a started process.
    pub fn signal(&self, pid: u32, signal: &str) {
        let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().expect("kill");
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// Waits for a started process to exit and returns its exit code.
    pub fn wait(&mut self, pid: u32, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        let index = self.children.iter().position(|c| c.id() == pid).expect("a child of this cluster");
        loop {
            if let Some(status) = self.children[index].try_wait().expect("try_wait") {
                return status.code();
            }
            if Instant::now() > deadline {
                panic!("process {pid} did not exit within {within:?}; its log:\n{}", self.all_logs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn all_logs(&self) -> String {
        let mut text = String::new();
        if let Ok(entries) = std::fs::read_dir(self.dir.path()) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "log") {
                    text.push_str(&format!(
                        "--- {}\n{}\n",
                        path.display(),
                        std::fs::read_to_string(&path).unwrap_or_default()
                    ));
                }
            }
        }
        text
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write file");
        path
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `hangar runs show RUN --json`.
    pub fn show(&self, run_id: &str) -> Value {
        let output = self.hangar("admin").args(["runs", "show", run_id, "--json"]).output().expect("show");
        json_of(&output)
    }

    /// Polls the run until `ready` accepts it.
    pub fn wait_for(&self, run_id: &str, what: &str, within: Duration, ready: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let output = self.hangar("admin").args(["runs", "show", run_id, "--json"]).output().expect("show");
            if output.status.success() {
                let detail = json_of(&output);
                if ready(&detail) {
                    return detail;
                }
                if Instant::now() > deadline {
                    panic!("timed out waiting for {what}; run now:\n{detail:#}\nlogs:\n{}", self.all_logs());
                }
            } else if Instant::now() > deadline {
                panic!("timed out waiting for {what}: {}", String::from_utf8_lossy(&output.stderr));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The id of the only (or newest) run, once it exists.
    pub fn newest_run(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let output = self.hangar("admin").args(["runs", "--json"]).output().expect("runs");
            if output.status.success()
                && let Some(id) = json_of(&output)[0]["run_id"].as_str()
            {
                return id.to_owned();
            }
            assert!(Instant::now() < deadline, "no run appeared; logs:\n{}", self.all_logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Cluster {
    /// Drops the cluster's database and creates it again, empty (not migrated).
    pub fn recreate_database(&self) {
        admin_sql(&self.admin_url, &format!("DROP DATABASE {} WITH (FORCE)", self.database))
            .expect("drop the database");
        admin_sql(&self.admin_url, &format!("CREATE DATABASE {}", self.database)).expect("create the database");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = admin_sql(&self.admin_url, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database));
    }
}

pub fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The lines of a ledger file that tasks append to.
pub fn ledger(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_owned).collect()
}

/// Whether a process is still alive.
pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}
pub mod api;

//! The operator conformance suite: every registered operator goes through
//! the same checks, so that a new one cannot skip them.
//!
//! - A bad config is the user's error, never an internal one.
//! - Run in the shipped pipelines, it produces every required output it
//!   declares, of the declared kind.
//! - The same inputs and seed give the same output digests, unless the
//!   operator declares itself nondeterministic and says why.
//! - Cancelled while it works, it stops within a second.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hangar_sdk::{
    ArtifactKind, ArtifactRef, ArtifactStore, CancellationToken, DiscardReporter, ErrorClass, Registry, TaskContext,
    TaskIdentity,
};
use serde_json::{Value, json};

/// Operators the shipped pipelines do not run, and where they are checked instead.
const EXERCISED_ELSEWHERE: &[(&str, &str)] = &[
    ("fault", "tests/isolation.rs: it fails on purpose"),
    ("import", "tests/golden_pipelines.rs and tests/flagship.rs run the flagship with the 98 MB SmolLM2 GGUF"),
];

fn registry() -> Registry {
    hangar_cli::registry().expect("the registry")
}

fn context(
    store: &ArtifactStore,
    scratch: &Path,
    inputs: BTreeMap<String, ArtifactRef>,
) -> (TaskContext, CancellationToken) {
    let cancel = CancellationToken::new();
    let ctx = TaskContext::new(
        TaskIdentity { run_id: "conformance".into(), task_id: "t".into(), attempt: 1, seed: 7 },
        inputs,
        store.clone(),
        scratch.to_path_buf(),
        cancel.clone(),
        Arc::new(DiscardReporter),
    );
    (ctx, cancel)
}

fn run_pipeline(pipeline: &str, home: &Path) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_hangar"))
        .args(["run", pipeline, "--json", "-q", "--home"])
        .arg(home)
        .env_remove("HANGAR_DATABASE_URL")
        .env_remove("HANGAR_ARTIFACTS")
        .output()
        .expect("hangar run");
    assert!(output.status.success(), "{pipeline}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("the run as JSON")
}

#[test]
fn a_bad_config_is_the_users_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = ArtifactStore::local(dir.path().join("artifacts")).expect("store");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    for operator in registry().iter() {
        let (ctx, _) = context(&store, &dir.path().join("scratch"), BTreeMap::new());
        let result = runtime.block_on(operator.implementation.run_erased(json!({"no_such_field_anywhere": true}), ctx));
        let err = result.expect_err(&operator.info.name);
        assert_eq!(err.class, ErrorClass::User, "{}: {}", operator.info.name, err.message);
        assert!(!operator.implementation.validate(&json!({"no_such_field_anywhere": true})).is_empty());
    }
}

#[test]
fn outputs_are_declared_and_deterministic_operators_repeat_their_digests() {
    let registry = registry();
    let runs: Vec<(Value, Value)> =
        ["pipelines/airworthiness-scratch.yaml", "pipelines/airworthiness-sharded.yaml", "examples/hello.yaml"]
            .iter()
            .map(|pipeline| {
                let (a, b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
                (run_pipeline(pipeline, a.path()), run_pipeline(pipeline, b.path()))
            })
            .collect();
    let mut seen = BTreeSet::new();
    for (first, second) in &runs {
        for (task_id, task) in first["tasks"].as_object().expect("tasks") {
            let name = task["operator"].as_str().expect("operator");
            let info = &registry.get(name).expect("registered").info;
            seen.insert(name.to_owned());
            let outputs = task["outputs"].as_object().expect("outputs");
            for port in info.outputs.iter().filter(|p| p.required) {
                let output =
                    outputs.get(&port.name).unwrap_or_else(|| panic!("{task_id} ({name}) lacks {}", port.name));
                let kind: ArtifactKind = serde_json::from_value(output["kind"].clone()).expect("a kind");
                assert!(
                    port.kind.accepts(kind),
                    "{task_id}.{}: declared {:?}, produced {kind:?}",
                    port.name,
                    port.kind
                );
            }
            for produced in outputs.keys() {
                assert!(info.output_port(produced).is_some(), "{task_id} ({name}) wrote undeclared output {produced}");
            }
            if info.nondeterministic.is_some() {
                continue;
            }
            for (port, output) in outputs {
                assert_eq!(
                    output["digest"], second["tasks"][task_id]["outputs"][port]["digest"],
                    "{task_id}.{port} ({name}) changed between identical runs; fix it or declare it nondeterministic"
                );
            }
        }
    }
    for operator in registry.iter() {
        let name = &operator.info.name;
        let elsewhere = EXERCISED_ELSEWHERE.iter().any(|(n, _)| n == name);
        assert!(seen.contains(name) || elsewhere, "no shipped pipeline runs {name}; add it to one");
        if let Some(why) = &operator.info.nondeterministic {
            assert!(why.len() > 10, "{name} must say why it is nondeterministic");
        }
    }
}

/// A config that keeps each operator busy well past a second.
fn long_config(operator: &str, with: &mut Value) {
    match operator {
        "train" => with["steps"] = json!(100_000),
        "noop" => with["wait"] = json!("60s"),
        "shell" => with["run"] = json!("sleep 60"),
        _ => {}
    }
}

#[test]
fn cancelled_operators_stop_within_a_second() {
    let home = tempfile::tempdir().expect("tempdir");
    let first = run_pipeline("pipelines/airworthiness-scratch.yaml", home.path());
    let store = ArtifactStore::local(home.path().join("artifacts")).expect("store");
    let base = store.uri("");
    let text = std::fs::read_to_string("pipelines/airworthiness-scratch.yaml").expect("pipeline");
    let registry = registry();
    let plan = hangar_engine::compile("airworthiness-scratch.yaml", &text, &registry, &[]).expect("plan");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let database = runtime
        .block_on(hangar_engine::SqlStore::connect(&format!("sqlite://{}", home.path().join("hangar.db").display())));
    let models: Arc<dyn hangar_sdk::ModelRegistry> =
        Arc::new(hangar_engine::store::RegistryOf::trusted(Arc::new(database.expect("the run's database"))));
    let hello = tempfile::tempdir().expect("tempdir");
    let hello_text = std::fs::read_to_string("examples/hello.yaml").expect("hello");
    let hello_plan = hangar_engine::compile("hello.yaml", &hello_text, &registry, &[]).expect("plan");
    // The sharded pipeline's operators (dedup spread over workers) run in
    // the same home, each mapped one on the first item it maps over.
    let sharded = run_pipeline("pipelines/airworthiness-sharded.yaml", home.path());
    let sharded_text = std::fs::read_to_string("pipelines/airworthiness-sharded.yaml").expect("pipeline");
    let sharded_plan =
        hangar_engine::compile("airworthiness-sharded.yaml", &sharded_text, &registry, &[]).expect("plan");
    let artifact_of = |output: &Value| {
        let uri = output["uri"].as_str().expect("uri").to_owned();
        ArtifactRef {
            kind: serde_json::from_value(output["kind"].clone()).expect("kind"),
            key: uri.strip_prefix(&base).expect("inside the store").trim_end_matches('/').to_owned(),
            dir: uri.ends_with('/'),
            digest: output["digest"].as_str().expect("digest").to_owned(),
            size: output["size"].as_u64().unwrap_or_default(),
            values: serde_json::from_value(output["values"].clone()).unwrap_or_default(),
            uri: uri.clone(),
        }
    };
    let mut checked = BTreeSet::new();
    let all = plan
        .tasks
        .values()
        .map(|t| (t, &first))
        .chain(hello_plan.tasks.values().map(|t| (t, &first)))
        .chain(sharded_plan.tasks.values().map(|t| (t, &sharded)));
    for (task, first) in all {
        if !checked.insert(task.operator.clone()) {
            continue;
        }
        let mut inputs = BTreeMap::new();
        let mut with = task.with.clone();
        if let Some(map) = &task.map
            && let (hangar_engine::MapSource::Output { task: up, output }, Some(port)) = (&map.source, &map.item_port)
        {
            let collection = artifact_of(&first["tasks"][up]["outputs"][output]);
            let items = runtime.block_on(hangar_sdk::artifact_files(&store, &collection)).expect("items");
            let item = items.into_iter().next().expect("at least one item");
            with[port] = json!(item.uri);
            inputs.insert(port.clone(), item);
        }
        for binding in &task.bindings {
            let output = &first["tasks"][&binding.task]["outputs"][&binding.output];
            let uri = output["uri"].as_str().expect("uri").to_owned();
            let artifact = ArtifactRef {
                kind: serde_json::from_value(output["kind"].clone()).expect("kind"),
                key: uri.strip_prefix(&base).expect("inside the store").to_owned(),
                dir: uri.ends_with('/'),
                digest: output["digest"].as_str().expect("digest").to_owned(),
                size: output["size"].as_u64().unwrap_or_default(),
                values: serde_json::from_value(output["values"].clone()).unwrap_or_default(),
                uri: uri.clone(),
            };
            with[&binding.port] = json!(uri);
            inputs.insert(binding.port.clone(), artifact);
        }
        long_config(&task.operator, &mut with);
        let operator = registry.get(&task.operator).expect("registered");
        let scratch = hello.path().join(&task.id);
        let (ctx, cancel) = context(&store, &scratch, inputs);
        let ctx = ctx.with_models(models.clone());
        let implementation = operator.implementation.clone();
        let stopped = runtime.block_on(async move {
            let running = tokio::spawn(async move { implementation.run_erased(with, ctx).await });
            tokio::time::sleep(Duration::from_millis(300)).await;
            cancel.cancel();
            let asked = Instant::now();
            let result = tokio::time::timeout(Duration::from_secs(5), running).await;
            (asked.elapsed(), result.is_ok())
        });
        assert!(stopped.1 && stopped.0 < Duration::from_secs(1), "{} took {:?} to stop", task.operator, stopped.0);
    }
    for operator in registry.iter() {
        let name = &operator.info.name;
        let elsewhere = EXERCISED_ELSEWHERE.iter().any(|(n, _)| n == name);
        assert!(checked.contains(name) || elsewhere, "{name} was not cancelled");
    }
}

//! The Kubernetes manifests render and are valid: `kubectl kustomize`
//! (Debian's `kubernetes-client`) builds the base and each overlay, and
//! `kubernetes-validate` (PyPI; `scripts/test.sh` installs it) checks every
//! object strictly against the Kubernetes schemas, offline. The rendered
//! objects are then read for what the deployment needs.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;

fn kubernetes(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes").join(path)
}

fn validator() -> String {
    std::env::var("HANGAR_KUBERNETES_VALIDATE").unwrap_or_else(|_| {
        format!("{}/.cache/hangar/k8s-venv/bin/kubernetes-validate", std::env::var("HOME").unwrap_or_default())
    })
}

/// Renders a kustomization and validates it; returns its objects.
fn render(dir: &str) -> Vec<Value> {
    let output = Command::new("kubectl")
        .args(["kustomize"])
        .arg(kubernetes(dir))
        .output()
        .expect("kubectl (Debian's kubernetes-client; scripts/test.sh installs it)");
    assert!(output.status.success(), "kubectl kustomize {dir}: {}", String::from_utf8_lossy(&output.stderr));
    let rendered = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(rendered.path(), &output.stdout).expect("write");
    validate(rendered.path()).unwrap_or_else(|e| panic!("{dir} is not valid Kubernetes:\n{e}"));
    serde_yaml::Deserializer::from_slice(&output.stdout)
        .map(|document| Value::deserialize(document).expect("YAML"))
        .collect()
}

fn validate(file: &Path) -> Result<(), String> {
    let output =
        Command::new(validator()).args(["--strict", "--quiet"]).arg(file).output().unwrap_or_else(|e| {
            panic!("{} ({e}): run scripts/test.sh, or set HANGAR_KUBERNETES_VALIDATE", validator())
        });
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if output.status.success() { Ok(()) } else { Err(text) }
}

use serde::Deserialize as _;

fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"].as_str() == Some(kind) && o["metadata"]["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn container(deployment: &Value) -> &Value {
    &deployment["spec"]["template"]["spec"]["containers"][0]
}

#[test]
fn the_validator_refuses_a_broken_object() {
    let broken = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(
        broken.path(),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: x }\nspec:\n  replicas: two\n  selectr: {}\n",
    )
    .expect("write");
    assert!(validate(broken.path()).is_err(), "a wrong type and an unknown field must fail");
}

#[test]
fn the_base_has_everything_a_deployment_needs() {
    let objects = render("base");
    let server = object(&objects, "Deployment", "hangar-server");
    let probes = container(server);
    assert_eq!(probes["livenessProbe"]["httpGet"]["path"], Value::from("/health"));
    assert_eq!(probes["readinessProbe"]["httpGet"]["path"], Value::from("/ready"));
    assert!(probes["args"].as_sequence().is_some_and(|a| a.iter().any(|arg| arg.as_str() == Some("--no-workers"))));
    object(&objects, "Service", "hangar");
    assert_eq!(container(object(&objects, "Deployment", "hangar-worker"))["args"][0].as_str(), Some("worker"));
    let gpu = object(&objects, "Deployment", "hangar-gpu-worker");
    assert_eq!(container(gpu)["resources"]["limits"]["nvidia.com/gpu"], Value::from("1"));
    assert!(gpu["spec"]["template"]["spec"]["nodeSelector"].as_mapping().is_some_and(|m| !m.is_empty()));
    assert_eq!(container(object(&objects, "Job", "hangar-migrate"))["args"][0], Value::from("migrate"));
    let secret = object(&objects, "Secret", "hangar-secrets");
    for key in ["HANGAR_DATABASE_URL", "HANGAR_JWT_SECRET"] {
        assert!(secret["stringData"][key].is_string(), "the Secret holds {key}");
    }
    assert!(
        object(&objects, "ConfigMap", "hangar-config")["data"]["HANGAR_ARTIFACTS"]
            .as_str()
            .is_some_and(|a| a.starts_with("s3://"))
    );
    object(&objects, "PodDisruptionBudget", "hangar-server");
    object(&objects, "NetworkPolicy", "hangar-server");
    object(&objects, "NetworkPolicy", "hangar-workers");
}

#[test]
fn the_overlays_render_valid_and_change_what_they_say() {
    let production = render("overlays/production");
    let server = object(&production, "Deployment", "hangar-server");
    assert_eq!(server["spec"]["replicas"], Value::from(3));
    assert_eq!(server["metadata"]["namespace"], Value::from("hangar"));
    assert_eq!(container(server)["image"], Value::from("registry.example.org/hangar:0.1.0"));
    assert_eq!(object(&production, "Deployment", "hangar-gpu-worker")["spec"]["replicas"], Value::from(2));

    let single = render("overlays/single-node");
    assert!(
        !single.iter().any(|o| o["metadata"]["name"].as_str() == Some("hangar-gpu-worker")),
        "no GPU worker on a single node"
    );
    assert_eq!(object(&single, "Deployment", "hangar-worker")["spec"]["replicas"], Value::from(1));
}

//! `deploy`: registers a `model` artifact in the model registry as a new
//! version of a named model, records its training (and, given a report,
//! evaluation) metrics on it, and optionally points an alias at it. The
//! server's inference endpoints serve what the registry names.

use std::collections::BTreeMap;

use hangar_sdk::models::is_valid_model_name;
use hangar_sdk::{
    ArtifactKind, ArtifactRef, ArtifactStore, ConfigProblem, NewModelVersion, Operator, OperatorError, OperatorInfo,
    PortDecl, RegistryError, TaskContext, TaskOutputs,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// Config of `deploy`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    /// The model folder to register: `${{ tasks.ID.outputs.model }}`.
    pub model: String,
    /// The registry name (letters, digits, `-`, `_`, `.`); versions count up per name.
    pub name: String,
    /// An alias to point at the new version, e.g. `production` or `staging`.
    #[serde(default)]
    pub alias: Option<String>,
    /// An `evaluate` report whose metrics are recorded on the version: `${{ tasks.ID.outputs.report }}`.
    #[serde(default)]
    pub report: Option<String>,
}

/// Registers a model version.
#[derive(Debug, Default)]
pub struct Deploy;

fn registry_error(err: RegistryError) -> OperatorError {
    match err {
        RegistryError::Backend(_) => OperatorError::external(err.to_string()),
        RegistryError::NotFound(_) | RegistryError::Refused(_) => OperatorError::user(err.to_string()),
    }
}

/// The numbers of a JSON object, as metrics (nested objects are flattened with dots).
fn numbers(value: &Value, prefix: &str, out: &mut BTreeMap<String, f64>) {
    if let Value::Object(map) = value {
        for (key, v) in map {
            let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
            match v {
                Value::Number(n) => {
                    if let Some(x) = n.as_f64() {
                        out.insert(name, x);
                    }
                }
                Value::Object(_) => numbers(v, &name, out),
                _ => {}
            }
        }
    }
}

async fn read_json(store: &ArtifactStore, key: &str) -> Result<Option<Value>, OperatorError> {
    if !store.exists(key).await? {
        return Ok(None);
    }
    let bytes = store.read(key).await?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| OperatorError::user(format!("{key} is not valid JSON ({e}); was it written by hangar?")))
}

/// The training metrics a model folder carries in `training.json`.
async fn training_metrics(store: &ArtifactStore, model: &ArtifactRef) -> Result<BTreeMap<String, f64>, OperatorError> {
    let mut metrics = BTreeMap::new();
    if let Some(training) = read_json(store, &format!("{}/training.json", model.key)).await? {
        let mut all = BTreeMap::new();
        numbers(&training["final"], "", &mut all);
        for (name, value) in all {
            if name != "step" {
                metrics.insert(format!("train.{name}"), value);
            }
        }
        if let Some(parameters) = training["parameters"].as_f64() {
            metrics.insert("parameters".to_owned(), parameters);
        }
    }
    Ok(metrics)
}

impl Operator for Deploy {
    type Config = DeployConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new(
            "deploy",
            "1",
            "Registers a model as the next version of a named model in the registry, with its metrics, and optionally points an alias (production, staging) at it.",
        )
        .input(PortDecl::required("model", ArtifactKind::Model, "The model folder to register."))
        .input(PortDecl::optional("report", ArtifactKind::Report, "An evaluation report whose metrics go on the version."))
        .output(PortDecl::required(
            "deployment",
            ArtifactKind::Report,
            "deployment.json: {name, version, reference, alias, previous, artifact_key, digest, metrics}.",
        ))
        .not_cacheable()
        .nondeterministic("each run registers the next version number")
    }

    fn check(&self, config: &DeployConfig) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if !is_valid_model_name(&config.name) {
            problems.push(ConfigProblem::at(&["name"], "a model name uses letters, digits, '-', '_' and '.'"));
        }
        if let Some(alias) = &config.alias
            && !is_valid_model_name(alias)
        {
            problems.push(ConfigProblem::at(&["alias"], "an alias uses letters, digits, '-', '_' and '.'"));
        }
        problems
    }

    async fn run(&self, config: DeployConfig, ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        let store = ctx.artifacts().clone();
        let model = ctx.input("model")?.clone();
        for required in ["config.json", "model.safetensors", "tokenizer.json"] {
            if !store.exists(&format!("{}/{required}", model.key)).await? {
                return Err(OperatorError::user(format!(
                    "the model artifact {} has no {required}; deploy the `model` output of a train task",
                    model.key
                )));
            }
        }
        let mut metrics = training_metrics(&store, &model).await?;
        if let Some(report) = ctx.optional_input("report") {
            let key = if report.dir { format!("{}/report.json", report.key) } else { report.key.clone() };
            let report = read_json(&store, &key).await?.ok_or_else(|| {
                OperatorError::user(format!("the report {key} is missing; deploy an evaluate report"))
            })?;
            numbers(&report["metrics"], "", &mut metrics);
        }
        let registry = ctx.models()?;
        let version = registry
            .register(NewModelVersion {
                name: config.name.clone(),
                run_id: Some(ctx.run_id().to_owned()),
                task_id: Some(ctx.task_id().to_owned()),
                artifact_key: model.key.clone(),
                artifact_digest: model.digest.clone(),
                metrics: metrics.clone(),
            })
            .await
            .map_err(registry_error)?;
        ctx.info(format!("registered {}@{} ({} metrics)", version.name, version.version, metrics.len()));
        let previous = match &config.alias {
            Some(alias) => {
                let previous =
                    registry.set_alias(&version.name, alias, version.version).await.map_err(registry_error)?;
                match previous {
                    Some(p) => {
                        ctx.info(format!("{}:{alias} moved from version {p} to {}", version.name, version.version))
                    }
                    None => ctx.info(format!("{}:{alias} now points at version {}", version.name, version.version)),
                }
                previous
            }
            None => None,
        };
        let reference = match &config.alias {
            Some(alias) => format!("{}:{alias}", version.name),
            None => format!("{}@{}", version.name, version.version),
        };
        let deployment = json!({
            "name": version.name,
            "version": version.version,
            "reference": reference,
            "alias": config.alias,
            "previous": previous,
            "artifact_key": model.key,
            "digest": model.digest,
            "metrics": metrics,
        });
        let mut writer = ctx.create_output("deployment.json").await?;
        writer.write(serde_json::to_string_pretty(&deployment).unwrap_or_default().as_bytes()).await?;
        let artifact = writer.finish(ArtifactKind::Report).await?;
        Ok(TaskOutputs::from([("deployment".to_owned(), artifact)]))
    }
}

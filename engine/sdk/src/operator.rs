//! The operator trait, typed once and erased once.

use std::future::Future;
use std::pin::Pin;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::artifact::{PortDecl, TaskOutputs};
use crate::context::TaskContext;
use crate::error::OperatorError;

/// What an operator is and what it consumes and produces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorInfo {
    /// The name used in `uses:`.
    pub name: String,
    /// Bumped whenever outputs for the same inputs change; part of the cache key.
    pub version: String,
    /// One sentence: what the operator does.
    pub description: String,
    pub inputs: Vec<PortDecl>,
    pub outputs: Vec<PortDecl>,
    /// Whether outputs may be reused from an earlier identical task.
    pub cacheable: bool,
    /// Whether running it needs administrator rights (it runs arbitrary commands).
    pub privileged: bool,
    /// Why the same inputs and seed may give other output digests; `None`
    /// for operators that promise the same digests (the conformance suite
    /// holds them to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nondeterministic: Option<String>,
    /// Whether its outputs depend on the task's seed (initialisation,
    /// sampling): the seed is then part of its cache key, so a run with
    /// another seed does not reuse them.
    #[serde(default)]
    pub seeded: bool,
}

impl OperatorInfo {
    /// A cacheable, unprivileged operator without ports.
    pub fn new(name: &str, version: &str, description: &str) -> Self {
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            description: description.to_owned(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            cacheable: true,
            privileged: false,
            nondeterministic: None,
            seeded: false,
        }
    }

    pub fn input(mut self, port: PortDecl) -> Self {
        self.inputs.push(port);
        self
    }

    pub fn output(mut self, port: PortDecl) -> Self {
        self.outputs.push(port);
        self
    }

    pub fn not_cacheable(mut self) -> Self {
        self.cacheable = false;
        self
    }

    pub fn privileged(mut self) -> Self {
        self.privileged = true;
        self
    }

    /// Declares that outputs depend on the task's seed.
    pub fn seeded(mut self) -> Self {
        self.seeded = true;
        self
    }

    /// Declares that outputs may differ between identical runs, and why.
    pub fn nondeterministic(mut self, why: &str) -> Self {
        self.nondeterministic = Some(why.to_owned());
        self
    }

    pub fn input_port(&self, name: &str) -> Option<&PortDecl> {
        self.inputs.iter().find(|p| p.name == name)
    }

    pub fn output_port(&self, name: &str) -> Option<&PortDecl> {
        self.outputs.iter().find(|p| p.name == name)
    }
}

/// A problem in an operator's `with:` block, at a path relative to `with`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted path inside `with`, e.g. `shingle.size`; empty for the block itself.
    pub path: Vec<String>,
    pub message: String,
}

impl ConfigProblem {
    pub fn at(path: &[&str], message: impl Into<String>) -> Self {
        Self { path: path.iter().map(|s| (*s).to_owned()).collect(), message: message.into() }
    }
}

/// What a task's config asks of the server, read before it runs: the
/// files it names (checked against the run's access) and the resources it
/// would take (checked against the server's quotas for ordinary accounts).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Demands {
    /// Files and folders the config names, with their field path inside `with`.
    pub inputs: Vec<(Vec<String>, crate::input::InputPath)>,
    /// Threads the task would run at once, when the config says.
    pub threads: Option<(Vec<String>, u64)>,
    /// Parameters of the model it would build.
    pub model_parameters: Option<(Vec<String>, u64)>,
    /// Sequences it would process in training (steps × batch × accumulation).
    pub training_sequences: Option<(Vec<String>, u64)>,
}

impl Demands {
    /// Adds a named input at `path` (a field of `with`).
    #[must_use]
    pub fn input(mut self, path: &[&str], input: Option<&crate::input::InputPath>) -> Self {
        if let Some(input) = input {
            self.inputs.push((path.iter().map(|s| (*s).to_owned()).collect(), input.clone()));
        }
        self
    }
}

/// A field path of `with` as owned strings.
pub fn field(path: &[&str]) -> Vec<String> {
    path.iter().map(|s| (*s).to_owned()).collect()
}

/// An operator with a typed config. Implement this; the registry erases it.
///
/// The config type is the contract users write under `with:`: it should use
/// `#[serde(deny_unknown_fields)]` and document every field, because the
/// docs become the JSON Schema, the CLI help and the API docs.
pub trait Operator: Send + Sync + 'static {
    type Config: DeserializeOwned + JsonSchema + Send + 'static;

    /// Name, version, ports and flags.
    fn info(&self) -> OperatorInfo;

    /// Checks that go beyond the types (e.g. `bands * rows == num_perm`).
    fn check(&self, _config: &Self::Config) -> Vec<ConfigProblem> {
        Vec::new()
    }

    /// What the config asks of the server: named files, threads, model size.
    fn demands(&self, _config: &Self::Config) -> Demands {
        Demands::default()
    }

    /// A fingerprint of what the task reads besides its input artifacts
    /// (files named in the config, say), so that output caching notices when
    /// those change. `None` means the config and inputs say everything.
    fn fingerprint(
        &self,
        _config: &Self::Config,
        _ctx: &TaskContext,
    ) -> impl Future<Output = Result<Option<String>, OperatorError>> + Send {
        async { Ok(None) }
    }

    /// Runs one attempt. Report progress through `ctx`, stop promptly when
    /// `ctx` is cancelled, and write outputs under `ctx.output_prefix()`.
    fn run(
        &self,
        config: Self::Config,
        ctx: TaskContext,
    ) -> impl Future<Output = Result<TaskOutputs, OperatorError>> + Send;
}

/// A boxed future returned by erased operators.
pub type BoxRun<'a> = Pin<Box<dyn Future<Output = Result<TaskOutputs, OperatorError>> + Send + 'a>>;

/// A boxed fingerprint future.
pub type BoxFingerprint<'a> = Pin<Box<dyn Future<Output = Result<Option<String>, OperatorError>> + Send + 'a>>;

/// The object-safe face of [`Operator`], implemented for every operator.
pub trait DynOperator: Send + Sync {
    fn info(&self) -> OperatorInfo;
    /// The JSON Schema of the config.
    fn config_schema(&self) -> serde_json::Value;
    /// Deserializes and checks a `with:` block without running anything.
    fn validate(&self, with: &serde_json::Value) -> Vec<ConfigProblem>;
    /// What a `with:` block asks of the server; `None` when it does not decode.
    fn demands_erased(&self, with: &serde_json::Value) -> Option<Demands>;
    /// Deserializes the config and runs one attempt.
    fn run_erased(&self, with: serde_json::Value, ctx: TaskContext) -> BoxRun<'_>;
    /// Deserializes the config and computes [`Operator::fingerprint`].
    fn fingerprint_erased(&self, with: serde_json::Value, ctx: TaskContext) -> BoxFingerprint<'_>;
}

impl<O: Operator> DynOperator for O {
    fn info(&self) -> OperatorInfo {
        Operator::info(self)
    }

    fn config_schema(&self) -> serde_json::Value {
        schemars::schema_for!(O::Config).to_value()
    }

    fn validate(&self, with: &serde_json::Value) -> Vec<ConfigProblem> {
        match decode_config::<O::Config>(with.clone()) {
            Ok(config) => self.check(&config),
            Err(problem) => vec![problem],
        }
    }

    fn demands_erased(&self, with: &serde_json::Value) -> Option<Demands> {
        decode_config::<O::Config>(with.clone()).ok().map(|config| self.demands(&config))
    }

    fn fingerprint_erased(&self, with: serde_json::Value, ctx: TaskContext) -> BoxFingerprint<'_> {
        Box::pin(async move {
            let config = decode_config::<O::Config>(with)
                .map_err(|p| OperatorError::user(format!("invalid config: {}", p.message)))?;
            self.fingerprint(&config, &ctx).await
        })
    }

    fn run_erased(&self, with: serde_json::Value, ctx: TaskContext) -> BoxRun<'_> {
        Box::pin(async move {
            let config = decode_config::<O::Config>(with)
                .map_err(|p| OperatorError::user(format!("invalid config: {}", p.message)))?;
            self.run(config, ctx).await
        })
    }
}

/// Deserializes a config, keeping the path of the first problem.
fn decode_config<C: DeserializeOwned>(with: serde_json::Value) -> Result<C, ConfigProblem> {
    serde_path_to_error::deserialize::<_, C>(with).map_err(|err| {
        let path = err
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        ConfigProblem { path, message: humanize_serde_message(&err.into_inner().to_string()) }
    })
}

/// Serde quotes names with backticks; diagnostics quote them with double
/// quotes, and an unknown field also gets the closest known name.
fn humanize_serde_message(message: &str) -> String {
    let quoted = message.replace('`', "\"");
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return quoted;
    };
    let Some((field, expected)) = rest.split_once('`') else {
        return quoted;
    };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match crate::closest(field, candidates.iter().copied()) {
        Some(best) => format!("{quoted} (did you mean \"{best}\"?)"),
        None => quoted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        /// How similar two documents must be.
        threshold: f64,
        #[serde(default)]
        ngram: Option<Nested>,
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Nested {
        size: u32,
    }

    #[test]
    fn unknown_field_names_the_closest_known_one() {
        let err = decode_config::<Sample>(serde_json::json!({"treshold": 0.8})).expect_err("invalid");
        assert_eq!(
            err.message,
            "unknown field \"treshold\", expected \"threshold\" or \"ngram\" (did you mean \"threshold\"?)"
        );
    }

    #[test]
    fn nested_type_error_keeps_its_path() {
        let err = decode_config::<Sample>(serde_json::json!({"threshold": 0.8, "ngram": {"size": "five"}}))
            .expect_err("invalid");
        assert_eq!(err.path, vec!["ngram".to_owned(), "size".to_owned()]);
        assert!(err.message.starts_with("invalid type: string \"five\""), "{}", err.message);
    }
}

//! `noop`: does nothing. A join point in a DAG, and the trivial task of the
//! engine benchmarks.

use hangar_sdk::{Operator, OperatorError, OperatorInfo, TaskContext, TaskOutputs};
use schemars::JsonSchema;
use serde::Deserialize;

/// Config of the `noop` operator.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoopConfig {
    /// A line written to the task log, if any.
    #[serde(default)]
    pub message: Option<String>,
}

/// Finishes at once.
#[derive(Debug, Default)]
pub struct Noop;

impl Operator for Noop {
    type Config = NoopConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new("noop", "1", "Does nothing; use it to join branches of a pipeline.").not_cacheable()
    }

    async fn run(&self, config: NoopConfig, ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        if let Some(message) = config.message {
            ctx.info(message);
        }
        Ok(TaskOutputs::new())
    }
}

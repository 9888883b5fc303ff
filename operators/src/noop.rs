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
    /// How long to wait before finishing (`"3s"`, `"2m"`), cancellable: a
    /// stand-in for slow work in demos and tests of live views.
    #[serde(default, deserialize_with = "duration_text")]
    #[schemars(with = "Option<String>")]
    pub wait: Option<std::time::Duration>,
}

fn duration_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<std::time::Duration>, D::Error> {
    let text: Option<String> = Option::deserialize(deserializer)?;
    text.map(|t| {
        humantime::parse_duration(t.trim())
            .map_err(|e| serde::de::Error::custom(format!("{t:?} is not a duration ({e}); write it like 3s or 2m")))
    })
    .transpose()
}

/// Finishes at once.
#[derive(Debug, Default)]
pub struct Noop;

impl Operator for Noop {
    type Config = NoopConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new("noop", "1", "Does nothing (after an optional wait); use it to join branches of a pipeline.")
            .not_cacheable()
    }

    async fn run(&self, config: NoopConfig, ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        if let Some(message) = config.message {
            ctx.info(message);
        }
        if let Some(wait) = config.wait {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = ctx.cancellation().cancelled() => return Err(OperatorError::cancelled()),
            }
        }
        Ok(TaskOutputs::new())
    }
}

#[cfg(test)]
mod tests {
    use super::NoopConfig;

    #[test]
    fn waits_are_written_as_durations() {
        let config: NoopConfig = serde_json::from_value(serde_json::json!({"wait": "1500ms"})).expect("a duration");
        assert_eq!(config.wait, Some(std::time::Duration::from_millis(1500)));
        let bad =
            serde_json::from_value::<NoopConfig>(serde_json::json!({"wait": "soon"})).expect_err("not a duration");
        assert!(bad.to_string().contains("3s"), "{bad}");
    }
}

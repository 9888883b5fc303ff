//! The pipeline spec: YAML with positions, expressions, and the parsed model.

pub mod expr;
pub mod model;
pub(crate) mod parse;
pub mod yaml;

pub use model::{NOTIFY_EVENTS, NotifySpec, ParamSpec, ParamType, PipelineSpec, TaskDefaults, TaskSpec, Trigger};
pub use parse::{notify_of, valid_pipeline_name, valid_task_id};

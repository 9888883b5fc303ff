//! The Hangar engine: validates pipeline specs, orders their tasks, and runs
//! them with concurrency limits, retries, timeouts and cancellation while
//! persisting every state change. It knows operators only through the SDK's
//! registry and never names a concrete one.

pub mod clock;
pub mod cron;
pub mod dag;
pub mod diagnostic;
pub mod isolation;
pub mod plan;
pub mod quotas;
pub mod scheduler;
pub mod spec;
pub mod status;
pub mod store;

pub use diagnostic::{Diagnostic, Diagnostics, Mark};
pub use plan::{
    Binding, MapPlan, MapSource, Plan, PlannedTask, compile, compile_template, instance_id, parse_instance_id,
    spec_hash,
};
pub use scheduler::access::{Owners, Standing, TRUSTED_ROLE};
pub use scheduler::{Engine, EngineError, EngineEvent, EngineSettings, FiredRun, WorkerOptions, prepare_run};
pub use status::{RunStatus, TaskStatus};
pub use store::{LogStore, PoolStore, RunStore, SqlStore, Store, StoreError, TaskQueue};

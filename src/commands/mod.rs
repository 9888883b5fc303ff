//! One module per command.

pub mod backup;
pub mod execute;
pub mod keys;
pub mod metrics;
pub mod migrate;
pub mod models;
pub mod operators;
pub mod pools;
pub mod roots;
pub mod runs;
pub mod serve;
pub mod task_exec;
pub mod users;
pub mod validate;
pub mod worker;

/// Process exit codes.
pub mod exit {
    pub const OK: u8 = 0;
    /// The run failed, or files did not validate.
    pub const FAILED: u8 = 1;
    /// The pipeline could not be started (invalid spec, bad arguments).
    pub const INVALID: u8 = 2;
    /// The run was cancelled (Ctrl-C).
    pub const CANCELLED: u8 = 130;
}

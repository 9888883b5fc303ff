//! `fault`: fails on purpose, in the way asked. Crash isolation, alerts and
//! retries are only believable once seen handling a real abort, a real
//! stack overflow and a real allocation past the memory limit; this is how
//! an operator of Hangar (and its tests) produces them on demand.

use hangar_sdk::{Operator, OperatorError, OperatorInfo, TaskContext, TaskOutputs};
use schemars::JsonSchema;
use serde::Deserialize;

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The process aborts (SIGABRT).
    Abort,
    /// Unbounded recursion on a thread of its own, until its stack overflows.
    StackOverflow,
    /// Allocates `bytes` and writes to every page.
    Allocate,
    /// The operator panics.
    Panic,
    /// The operator returns an ordinary error of the external class.
    Error,
}

/// Config of `fault`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultConfig {
    /// `abort`, `stack_overflow`, `allocate`, `panic` or `error`.
    pub fault: FaultKind,
    /// For `allocate`: how many bytes (default 64 GiB).
    #[serde(default)]
    pub bytes: Option<u64>,
}

/// Fails as configured.
#[derive(Debug, Default)]
pub struct Fault;

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = [depth.to_le_bytes()[0]; 4096];
    std::hint::black_box(&frame);
    recurse(depth + 1).wrapping_add(u64::from(frame[0]))
}

impl Operator for Fault {
    type Config = FaultConfig;

    fn info(&self) -> OperatorInfo {
        OperatorInfo::new(
            "fault",
            "1",
            "Fails on purpose (abort, stack overflow, allocation past the memory limit, panic, error), to see crash isolation, retries and alerts at work. Administrators only.",
        )
        .not_cacheable()
        .privileged()
        .nondeterministic("it fails on purpose and writes nothing")
    }

    async fn run(&self, config: FaultConfig, ctx: TaskContext) -> Result<TaskOutputs, OperatorError> {
        ctx.warn(format!("failing on purpose: {:?}", config.fault));
        match config.fault {
            FaultKind::Abort => std::process::abort(),
            FaultKind::StackOverflow => {
                let deep = std::thread::Builder::new()
                    .name("fault-recursion".to_owned())
                    .stack_size(256 << 10)
                    .spawn(|| recurse(0))
                    .map_err(|e| OperatorError::internal(format!("cannot start a thread: {e}")))?;
                let _ = deep.join();
                Err(OperatorError::internal("the stack did not overflow"))
            }
            FaultKind::Allocate => {
                let bytes = usize::try_from(config.bytes.unwrap_or(64 << 30)).unwrap_or(usize::MAX);
                let mut block = vec![0u8; bytes];
                for page in block.iter_mut().step_by(4096) {
                    *page = 1;
                }
                std::hint::black_box(&block);
                Err(OperatorError::internal(format!("{bytes} bytes were allocated without reaching a limit")))
            }
            FaultKind::Panic => panic!("fault: a panic on purpose"),
            FaultKind::Error => Err(OperatorError::external("fault: an error on purpose")),
        }
    }
}

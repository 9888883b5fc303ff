//! Why a task's process ended without saying how its attempt went: read
//! from its exit status and the end of its stderr.

use hangar_sdk::OperatorError;

use super::limits::{Limits, describe_bytes};

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

/// The attempt's error for a process that died before reporting.
pub fn crash(exit: Exit, stderr_tail: &str, limits: &Limits) -> OperatorError {
    let memory = limits.memory_bytes.map(describe_bytes);
    let out_of_memory = stderr_tail.contains("memory allocation of") || stderr_tail.contains("out of memory");
    if stderr_tail.contains("has overflowed its stack") {
        return OperatorError::internal(
            "crashed: stack overflow (the input nests too deeply for the operator); the server and other tasks are unaffected",
        );
    }
    if out_of_memory {
        let at = memory.map(|m| format!(" at the {m} limit")).unwrap_or_default();
        return OperatorError::user(format!(
            "killed: out of memory{at}; give the task more with `resources: {{memory: …}}` (or HANGAR_TASK_MEMORY), or make it smaller"
        ));
    }
    match exit {
        Exit::Signal(9) => OperatorError::external(format!(
            "killed (SIGKILL){}: by the kernel's out-of-memory killer or by hand",
            memory.map(|m| format!(" with a {m} memory limit")).unwrap_or_default()
        ))
        .retryable(false),
        Exit::Signal(24) => OperatorError::user(format!(
            "killed: out of CPU time at the {} s limit; raise `resources: {{cpu_time: …}}` (or HANGAR_TASK_CPU_TIME)",
            limits.cpu_seconds.unwrap_or_default()
        )),
        Exit::Signal(6) => OperatorError::internal(format!("crashed: aborted (SIGABRT){}", last_line(stderr_tail))),
        Exit::Signal(11) | Exit::Signal(7) => OperatorError::internal(format!(
            "crashed: invalid memory access (signal {}){}",
            signal_of(exit),
            last_line(stderr_tail)
        )),
        Exit::Signal(signal) => {
            OperatorError::internal(format!("crashed: killed by signal {signal}{}", last_line(stderr_tail)))
        }
        Exit::Code(code) => OperatorError::internal(format!(
            "the task process exited with status {code} without a result{}",
            last_line(stderr_tail)
        )),
    }
}

fn signal_of(exit: Exit) -> i32 {
    match exit {
        Exit::Signal(signal) | Exit::Code(signal) => signal,
    }
}

/// `: LAST LINE` of the process's stderr, when it said anything.
fn last_line(stderr_tail: &str) -> String {
    stderr_tail
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with("note:"))
        .map(|line| format!(": {line}"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use hangar_sdk::ErrorClass;

    use super::*;

    #[test]
    fn each_kind_of_crash_has_its_reason() {
        let limits = Limits { memory_bytes: Some(4 << 30), cpu_seconds: Some(60) };
        let oom = crash(Exit::Signal(6), "memory allocation of 17179869184 bytes failed\n", &limits);
        assert_eq!(oom.class, ErrorClass::User);
        assert!(oom.message.starts_with("killed: out of memory at the 4 GiB limit"), "{}", oom.message);
        let stack = crash(
            Exit::Signal(6),
            "\nthread 'x' has overflowed its stack\nfatal runtime error: stack overflow\n",
            &limits,
        );
        assert!(stack.message.starts_with("crashed: stack overflow"), "{}", stack.message);
        let abort = crash(Exit::Signal(6), "thread panicked at x.rs:1\nboom\n", &limits);
        assert_eq!(abort.message, "crashed: aborted (SIGABRT): boom");
        assert!(crash(Exit::Signal(9), "", &limits).message.contains("SIGKILL"));
        assert!(crash(Exit::Signal(24), "", &limits).message.contains("60 s limit"));
        assert!(crash(Exit::Code(3), "", &limits).message.contains("status 3"));
    }
}

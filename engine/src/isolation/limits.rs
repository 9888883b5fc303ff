//! Resource limits of a task attempt's process.

use serde::{Deserialize, Serialize};

/// Limits applied by the child to itself before it runs anything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Address space, bytes (`RLIMIT_AS`): an allocation past it fails, and
    /// the attempt ends as "out of memory at the limit".
    pub memory_bytes: Option<u64>,
    /// CPU time, seconds (`RLIMIT_CPU`).
    pub cpu_seconds: Option<u64>,
}

impl Limits {
    /// Applies the limits to this process.
    ///
    /// # Errors
    /// When the kernel refuses them.
    pub fn apply(&self) -> Result<(), String> {
        use nix::sys::resource::{Resource, setrlimit};
        if let Some(bytes) = self.memory_bytes {
            setrlimit(Resource::RLIMIT_AS, bytes, bytes).map_err(|e| format!("cannot limit memory to {bytes} bytes: {e}"))?;
        }
        if let Some(seconds) = self.cpu_seconds {
            // The soft limit sends SIGXCPU; the hard one, a second later, SIGKILL.
            setrlimit(Resource::RLIMIT_CPU, seconds, seconds.saturating_add(1))
                .map_err(|e| format!("cannot limit CPU time to {seconds} s: {e}"))?;
        }
        Ok(())
    }
}

/// Bytes in words: `4 GiB`, `512 MiB`.
pub fn describe_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size {
            let value = bytes as f64 / size as f64;
            return if value.fract() == 0.0 { format!("{value:.0} {unit}") } else { format!("{value:.1} {unit}") };
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_as_people_write_them() {
        assert_eq!(describe_bytes(4 << 30), "4 GiB");
        assert_eq!(describe_bytes(1536 << 20), "1.5 GiB");
        assert_eq!(describe_bytes(512 << 20), "512 MiB");
        assert_eq!(describe_bytes(100), "100 bytes");
    }
}

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
            setrlimit(Resource::RLIMIT_AS, bytes, bytes)
                .map_err(|e| format!("cannot limit memory to {bytes} bytes: {e}"))?;
        }
        if let Some(seconds) = self.cpu_seconds {
            // The soft limit sends SIGXCPU; the hard one, a second later, SIGKILL.
            setrlimit(Resource::RLIMIT_CPU, seconds, seconds.saturating_add(1))
                .map_err(|e| format!("cannot limit CPU time to {seconds} s: {e}"))?;
        }
        Ok(())
    }
}

impl Limits {
    /// These limits, kept under `ceiling`'s where it sets one: what a
    /// confined account asks for can lower the server's limits, never raise them.
    #[must_use]
    pub fn within(self, ceiling: Limits) -> Limits {
        let lower = |own: Option<u64>, cap: Option<u64>| match (own, cap) {
            (Some(own), Some(cap)) => Some(own.min(cap)),
            (own, cap) => own.or(cap),
        };
        Limits {
            memory_bytes: lower(self.memory_bytes, ceiling.memory_bytes),
            cpu_seconds: lower(self.cpu_seconds, ceiling.cpu_seconds),
        }
    }

    /// These limits, with `other`'s where these have none.
    #[must_use]
    pub fn or(self, other: Limits) -> Limits {
        Limits {
            memory_bytes: self.memory_bytes.or(other.memory_bytes),
            cpu_seconds: self.cpu_seconds.or(other.cpu_seconds),
        }
    }
}

/// A size as people write it: `4GiB`, `512 MiB`, `2G`, `1048576`.
///
/// # Errors
/// When it is not a number with an optional unit.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let value: u64 =
        digits.parse().map_err(|_| format!("{text:?} is not a size; write it like 4GiB, 512MiB or 1048576"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => return Err(format!("unknown unit {other:?} in {text:?}; use KiB, MiB, GiB or TiB")),
    };
    value.checked_shl(shift).filter(|v| v >> shift == value).ok_or_else(|| format!("{text:?} is too large"))
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
    fn a_confined_task_can_lower_the_servers_limits_but_not_raise_them() {
        let server = Limits { memory_bytes: Some(4 << 30), cpu_seconds: None };
        let asks = Limits { memory_bytes: Some(1 << 40), cpu_seconds: Some(60) };
        assert_eq!(asks.within(server), Limits { memory_bytes: Some(4 << 30), cpu_seconds: Some(60) });
        let smaller = Limits { memory_bytes: Some(1 << 30), cpu_seconds: None };
        assert_eq!(smaller.within(server).memory_bytes, Some(1 << 30));
        assert_eq!(asks.or(server).memory_bytes, Some(1 << 40), "trusted runs choose freely");
    }

    #[test]
    fn sizes_parse_with_their_units() {
        assert_eq!(parse_bytes("4GiB"), Ok(4 << 30));
        assert_eq!(parse_bytes("512 MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("2G"), Ok(2 << 30));
        assert_eq!(parse_bytes("1048576"), Ok(1 << 20));
        assert!(parse_bytes("4 parsecs").is_err());
        assert!(parse_bytes("99999999999999T").is_err());
    }

    #[test]
    fn byte_counts_read_as_people_write_them() {
        assert_eq!(describe_bytes(4 << 30), "4 GiB");
        assert_eq!(describe_bytes(1536 << 20), "1.5 GiB");
        assert_eq!(describe_bytes(512 << 20), "512 MiB");
        assert_eq!(describe_bytes(100), "100 bytes");
    }
}

//! Validation diagnostics: every problem of a spec, each with its position.

use std::fmt;

/// A position in a source file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Mark {
    pub line: usize,
    pub col: usize,
}

impl Mark {
    pub fn new(line: usize, col: usize) -> Self {
        Self { line, col }
    }

    /// The start of the file, for problems that belong to no single place.
    pub fn start() -> Self {
        Self { line: 1, col: 1 }
    }
}

/// One problem in a pipeline spec.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub col: usize,
    /// Dotted path of the offending field (`tasks.dedup.with`), empty when none.
    pub path: String,
    pub message: String,
}

impl Diagnostic {
    pub fn new(file: &str, mark: Mark, path: &str, message: impl Into<String>) -> Self {
        Self { file: file.to_owned(), line: mark.line, col: mark.col, path: path.to_owned(), message: message.into() }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.col)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// All problems of one spec, sorted by position; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Sorts by position and drops exact repeats.
    pub fn sorted(mut items: Vec<Diagnostic>) -> Self {
        items.sort_by(|a, b| (a.line, a.col, &a.path, &a.message).cmp(&(b.line, b.col, &b.path, &b.message)));
        items.dedup();
        Self(items)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

//! Typed access to GGUF metadata, with errors that name the key.

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::Value;

use crate::ImportError;

pub struct Metadata<'a> {
    values: &'a HashMap<String, Value>,
    path: &'a Path,
}

impl<'a> Metadata<'a> {
    pub fn new(values: &'a HashMap<String, Value>, path: &'a Path) -> Self {
        Self { values, path }
    }

    pub fn path(&self) -> &Path {
        self.path
    }

    fn error(&self, key: &str, reason: impl Into<String>) -> ImportError {
        ImportError::Metadata { path: self.path.display().to_string(), key: key.to_owned(), reason: reason.into() }
    }

    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.values.get(key)
    }

    pub fn string(&self, key: &str) -> Result<String, ImportError> {
        self.optional_string(key).ok_or_else(|| self.error(key, "missing or not a string"))
    }

    pub fn optional_string(&self, key: &str) -> Option<String> {
        match self.values.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        }
    }

    pub fn optional_usize(&self, key: &str) -> Result<Option<usize>, ImportError> {
        match self.values.get(key) {
            None => Ok(None),
            Some(value) => integer(value).map(Some).ok_or_else(|| self.error(key, "not a non-negative integer")),
        }
    }

    pub fn usize(&self, key: &str) -> Result<usize, ImportError> {
        self.optional_usize(key)?.ok_or_else(|| self.error(key, "missing"))
    }

    pub fn usize_or(&self, key: &str, default: usize) -> Result<usize, ImportError> {
        Ok(self.optional_usize(key)?.unwrap_or(default))
    }

    pub fn bool_or(&self, key: &str, default: bool) -> bool {
        match self.values.get(key) {
            Some(Value::Bool(b)) => *b,
            _ => default,
        }
    }

    pub fn f64_or(&self, key: &str, default: f64) -> Result<f64, ImportError> {
        match self.values.get(key) {
            None => Ok(default),
            Some(Value::F32(x)) => Ok(f64::from(*x)),
            Some(Value::F64(x)) => Ok(*x),
            Some(other) => integer(other).map(|n| n as f64).ok_or_else(|| self.error(key, "not a number")),
        }
    }

    /// An array of strings (the vocabulary, the merges).
    pub fn strings(&self, key: &str) -> Result<Option<Vec<&'a str>>, ImportError> {
        let Some(value) = self.values.get(key) else { return Ok(None) };
        let Value::Array(items) = value else { return Err(self.error(key, "not an array")) };
        items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.as_str()),
                _ => Err(self.error(key, "an element is not a string")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// An array of numbers (token scores and types).
    pub fn numbers(&self, key: &str) -> Result<Option<Vec<f64>>, ImportError> {
        let Some(value) = self.values.get(key) else { return Ok(None) };
        let Value::Array(items) = value else { return Err(self.error(key, "not an array")) };
        items
            .iter()
            .map(|item| match item {
                Value::F32(x) => Ok(f64::from(*x)),
                Value::F64(x) => Ok(*x),
                other => integer(other).map(|n| n as f64).ok_or_else(|| self.error(key, "an element is not a number")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

fn integer(value: &Value) -> Option<usize> {
    let n: i128 = match value {
        Value::U8(x) => (*x).into(),
        Value::I8(x) => (*x).into(),
        Value::U16(x) => (*x).into(),
        Value::I16(x) => (*x).into(),
        Value::U32(x) => (*x).into(),
        Value::I32(x) => (*x).into(),
        Value::U64(x) => (*x).into(),
        Value::I64(x) => (*x).into(),
        _ => return None,
    };
    usize::try_from(n).ok()
}

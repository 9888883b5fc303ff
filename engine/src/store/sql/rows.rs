//! Row decoding and the JSON and SQL helpers shared by the store's parts.

use std::fmt::Write as _;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::store::StoreError;
use crate::store::records::{RunRecord, TaskRecord};

pub const TASK_COLUMNS: &str = "run_id, task_id, position, operator, status, attempt, retries, max_attempts, \
    retry_backoff_ms, timeout_ms, config, inputs, outputs, cache_key, error, progress, queued_at, \
    available_at, started_at, finished_at, lease_owner, lease_expires_at, runs_on, pool, cache, map_size";

pub const RUN_COLUMNS: &str = "id, pipeline, status, spec_path, spec_text, spec_hash, params, seed, owner, error, \
    cancel_requested, coordinator, coordinator_expires_at, max_active_runs, created_at, started_at, finished_at";

/// Rows per multi-row INSERT, well under both engines' parameter limits.
pub const INSERT_BATCH: usize = 300;

pub fn json_text<T: serde::Serialize>(value: &T) -> String {
    // Serializing our own record types cannot fail: they hold no maps with
    // non-string keys and no failing Serialize impls.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

pub fn parse_json<T: DeserializeOwned>(
    text: Option<String>,
    what: &'static str,
    key: &str,
) -> Result<Option<T>, StoreError> {
    match text {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text).map(Some).map_err(|e| StoreError::Corrupt {
            what,
            key: key.to_owned(),
            reason: e.to_string(),
        }),
    }
}

pub fn get<'r, T>(row: &'r AnyRow, column: &'static str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(column).map_err(StoreError::query("decode"))
}

pub fn as_u32(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

fn parse_word<T: FromStr<Err = crate::status::UnknownStatus>>(text: &str, key: &str) -> Result<T, StoreError> {
    text.parse().map_err(|e: crate::status::UnknownStatus| StoreError::Corrupt {
        what: "status",
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

/// `$first, $first+1, ...` for `count` placeholders.
pub fn placeholders(first: usize, count: usize) -> String {
    let mut out = String::new();
    for i in 0..count {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "${}", first + i);
    }
    out
}

pub fn run_from_row(row: &AnyRow) -> Result<RunRecord, StoreError> {
    let id: String = get(row, "id")?;
    let status: String = get(row, "status")?;
    let params: String = get(row, "params")?;
    Ok(RunRecord {
        status: parse_word(&status, &id)?,
        pipeline: get(row, "pipeline")?,
        spec_path: get(row, "spec_path")?,
        spec_text: get(row, "spec_text")?,
        spec_hash: get(row, "spec_hash")?,
        params: parse_json(Some(params), "run params", &id)?.unwrap_or_default(),
        seed: get::<i64>(row, "seed")? as u64,
        owner: get(row, "owner")?,
        error: get(row, "error")?,
        cancel_requested: get::<i64>(row, "cancel_requested")? != 0,
        coordinator: get(row, "coordinator")?,
        coordinator_expires_at: get(row, "coordinator_expires_at")?,
        max_active_runs: get::<Option<i64>>(row, "max_active_runs")?.map(as_u32),
        created_at: get(row, "created_at")?,
        started_at: get(row, "started_at")?,
        finished_at: get(row, "finished_at")?,
        id,
    })
}

pub fn task_from_row(row: &AnyRow) -> Result<TaskRecord, StoreError> {
    let run_id: String = get(row, "run_id")?;
    let task_id: String = get(row, "task_id")?;
    let key = format!("{run_id}/{task_id}");
    let status: String = get(row, "status")?;
    Ok(TaskRecord {
        status: parse_word(&status, &key)?,
        position: get::<i64>(row, "position")?.max(0) as usize,
        operator: get(row, "operator")?,
        attempt: as_u32(get(row, "attempt")?),
        retries: as_u32(get(row, "retries")?),
        max_attempts: as_u32(get(row, "max_attempts")?),
        retry_backoff_ms: get(row, "retry_backoff_ms")?,
        timeout_ms: get(row, "timeout_ms")?,
        config: parse_json(get(row, "config")?, "task config", &key)?,
        inputs: parse_json(get(row, "inputs")?, "task inputs", &key)?,
        outputs: parse_json(get(row, "outputs")?, "task outputs", &key)?,
        cache_key: get(row, "cache_key")?,
        error: get(row, "error")?,
        progress: parse_json(get(row, "progress")?, "task progress", &key)?,
        queued_at: get(row, "queued_at")?,
        available_at: get(row, "available_at")?,
        started_at: get(row, "started_at")?,
        finished_at: get(row, "finished_at")?,
        lease_owner: get(row, "lease_owner")?,
        lease_expires_at: get(row, "lease_expires_at")?,
        runs_on: parse_json(get(row, "runs_on")?, "task labels", &key)?.unwrap_or_default(),
        pool: get(row, "pool")?,
        cache: get::<i64>(row, "cache")? != 0,
        map_size: get::<Option<i64>>(row, "map_size")?.map(|n| as_u32(n.max(0))),
        run_id,
        task_id,
    })
}

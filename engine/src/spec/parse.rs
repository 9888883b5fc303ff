//! From a positioned YAML tree to a [`PipelineSpec`], collecting every
//! problem instead of stopping at the first.

use std::time::Duration;

use indexmap::IndexMap;
use serde::de::DeserializeOwned;

use super::model::{
    MapItems, MapSpec, NOTIFY_EVENTS, NotifySpec, ParamSpec, ParamType, PipelineSpec, ScheduleSpec, TaskDefaults,
    TaskSpec, Trigger,
};
use super::yaml::{Entry, Node};
use crate::diagnostic::{Diagnostic, Mark};

const PIPELINE_KEYS: &[&str] =
    &["name", "description", "params", "defaults", "seed", "max_active_runs", "schedule", "notify", "tasks"];
const NOTIFY_KEYS: &[&str] = &["webhook", "on"];
const SCHEDULE_KEYS: &[&str] = &["cron", "timezone", "catchup", "max_active_runs", "params"];
const TASK_KEYS: &[&str] = &[
    "uses",
    "with",
    "needs",
    "retries",
    "max_lost_attempts",
    "resources",
    "retry_backoff",
    "timeout",
    "trigger",
    "runs_on",
    "pool",
    "cache",
    "if",
    "map",
];
const MAP_KEYS: &[&str] = &["items", "max_parallel"];
const DEFAULT_KEYS: &[&str] = &["retries", "max_lost_attempts", "resources", "retry_backoff", "timeout"];
const PARAM_KEYS: &[&str] = &["type", "default", "description"];

/// Collects diagnostics for one file.
pub(crate) struct Collector<'a> {
    pub file: &'a str,
    pub diagnostics: Vec<Diagnostic>,
}

impl<'a> Collector<'a> {
    pub fn new(file: &'a str) -> Self {
        Self { file, diagnostics: Vec::new() }
    }

    pub fn report(&mut self, mark: Mark, path: &str, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::new(self.file, mark, path, message));
    }

    /// Reports keys of `node` that are not in `allowed`, suggesting the closest.
    fn unknown_keys(&mut self, node: &Node, path: &str, allowed: &[&str]) {
        for entry in node.entries().unwrap_or_default() {
            if allowed.contains(&entry.key.as_str()) {
                continue;
            }
            let expected = allowed.iter().map(|k| format!("\"{k}\"")).collect::<Vec<_>>().join(", ");
            let hint = match hangar_sdk::closest(&entry.key, allowed.iter().copied()) {
                Some(best) => format!(" (did you mean \"{best}\"?)"),
                None => String::new(),
            };
            self.report(
                entry.key_mark,
                path,
                format!("unknown field \"{}\", expected one of {expected}{hint}", entry.key),
            );
        }
    }

    /// Deserializes the value of `entry` as `T`, reporting a type error at the value.
    fn value<T: DeserializeOwned>(&mut self, entry: &Entry, path: &str, what: &str) -> Option<T> {
        match serde_yaml::from_value::<T>(entry.value.to_value()) {
            Ok(v) => Some(v),
            Err(_) => {
                self.report(entry.value.mark(), path, format!("expected {what}, found {}", describe(&entry.value)));
                None
            }
        }
    }

    fn duration(&mut self, entry: &Entry, path: &str) -> Option<Duration> {
        let text = match &entry.value {
            Node::Scalar { value: serde_yaml::Value::String(s), .. } => s.clone(),
            Node::Scalar { value: serde_yaml::Value::Number(n), .. } => {
                self.report(
                    entry.value.mark(),
                    path,
                    format!("bad duration {n}: add a unit, e.g. \"{n}s\" or \"{n}m\""),
                );
                return None;
            }
            other => {
                self.report(
                    other.mark(),
                    path,
                    format!("expected a duration such as \"30s\" or \"1h\", found {}", other.type_name()),
                );
                return None;
            }
        };
        match humantime::parse_duration(text.trim()) {
            Ok(d) => Some(d),
            Err(err) => {
                self.report(
                    entry.value.mark(),
                    path,
                    format!("bad duration \"{text}\": {err}; write it like \"500ms\", \"30s\", \"5m\" or \"1h\""),
                );
                None
            }
        }
    }
}

/// The node's type, with the value itself for short scalars.
fn describe(node: &Node) -> String {
    match node {
        Node::Scalar { value: serde_yaml::Value::String(s), .. } if s.chars().count() <= 40 => format!("\"{s}\""),
        Node::Scalar { value: serde_yaml::Value::Number(n), .. } => format!("the number {n}"),
        other => other.type_name().to_owned(),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

/// Whether `name` is a valid pipeline name.
pub fn valid_pipeline_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Whether `id` is a valid task id (usable in `${{ tasks.ID... }}` and in keys).
pub fn valid_task_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Reads the whole document; `None` when the top level is unusable.
pub(crate) fn pipeline(root: &Node, c: &mut Collector<'_>) -> Option<PipelineSpec> {
    if root.entries().is_none() {
        c.report(
            root.mark(),
            "",
            format!("a pipeline is a mapping with `name` and `tasks`, found {}", root.type_name()),
        );
        return None;
    }
    c.unknown_keys(root, "", PIPELINE_KEYS);

    let name = match root.get("name") {
        Some(entry) => c.value::<String>(entry, "name", "a string").inspect(|name| {
            if !valid_pipeline_name(name) {
                c.report(
                    entry.value.mark(),
                    "name",
                    format!("invalid pipeline name \"{name}\": use lower-case letters, digits, '-' and '_', starting with a letter or digit"),
                );
            }
        }),
        None => {
            c.report(root.mark(), "", "missing field \"name\": every pipeline needs a name");
            None
        }
    };
    let description = root.get("description").and_then(|e| c.value::<String>(e, "description", "a string"));
    let seed = root.get("seed").and_then(|e| c.value::<u64>(e, "seed", "a non-negative integer")).unwrap_or(0);
    let max_active_runs = root.get("max_active_runs").and_then(|e| {
        let limit = c.value::<u32>(e, "max_active_runs", "a positive integer")?;
        if limit == 0 {
            c.report(e.value.mark(), "max_active_runs", "max_active_runs must be at least 1");
            return None;
        }
        Some(limit)
    });
    let params = root.get("params").map(|e| params(e, c)).unwrap_or_default();
    let schedule = root.get("schedule").and_then(|e| schedule(e, c));
    let notify = root.get("notify").map(|e| notify(e, c)).unwrap_or_default();
    let defaults = root.get("defaults").map(|e| defaults(e, c)).unwrap_or_default();
    let tasks = match root.get("tasks") {
        Some(entry) => tasks(entry, c),
        None => {
            c.report(root.mark(), "", "missing field \"tasks\": a pipeline needs at least one task");
            IndexMap::new()
        }
    };
    Some(PipelineSpec {
        name: name.unwrap_or_default(),
        description,
        params,
        defaults,
        seed,
        tasks,
        max_active_runs,
        schedule,
        notify,
    })
}

/// The `notify:` block of a stored run's spec text (already validated when
/// the run was made), for whoever delivers its events.
pub fn notify_of(text: &str) -> Vec<NotifySpec> {
    let Ok((Some(root), _)) = super::yaml::parse(text) else { return Vec::new() };
    let mut c = Collector::new("");
    root.get("notify").map(|e| notify(e, &mut c)).unwrap_or_default()
}

fn notify(entry: &Entry, c: &mut Collector<'_>) -> Vec<NotifySpec> {
    let Node::Seq { items, .. } = &entry.value else {
        c.report(
            entry.value.mark(),
            "notify",
            format!(
                "expected a list of webhooks to notify, e.g. - {{ webhook: ops-alerts, on: [run.failed] }}, found {}",
                entry.value.type_name()
            ),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let path = format!("notify[{index}]");
        if item.entries().is_none() {
            c.report(
                item.mark(),
                &path,
                format!("expected {{ webhook: NAME, on: [EVENTS] }}, found {}", item.type_name()),
            );
            continue;
        }
        c.unknown_keys(item, &path, NOTIFY_KEYS);
        let Some(webhook_entry) = item.get("webhook") else {
            c.report(
                item.mark(),
                &path,
                "missing field \"webhook\": the name of one of your webhooks (GET /api/v1/webhooks)",
            );
            continue;
        };
        let Some(webhook) = c.value::<String>(webhook_entry, &format!("{path}.webhook"), "a webhook name") else {
            continue;
        };
        let on = match item.get("on") {
            None => NOTIFY_EVENTS.iter().map(|e| (*e).to_owned()).collect(),
            Some(on_entry) => {
                let Some(events) = c.value::<Vec<String>>(on_entry, &format!("{path}.on"), "a list of events") else {
                    continue;
                };
                let unknown: Vec<&String> = events.iter().filter(|e| !NOTIFY_EVENTS.contains(&e.as_str())).collect();
                if !unknown.is_empty() {
                    c.report(
                        on_entry.value.mark(),
                        &format!("{path}.on"),
                        format!("unknown event {}; use {}", unknown[0], NOTIFY_EVENTS.join(", ")),
                    );
                    continue;
                }
                events
            }
        };
        out.push(NotifySpec { webhook, on });
    }
    out
}

fn schedule(entry: &Entry, c: &mut Collector<'_>) -> Option<ScheduleSpec> {
    if entry.value.entries().is_none() {
        c.report(
            entry.value.mark(),
            "schedule",
            format!("expected `{{ cron: \"0 2 * * *\", timezone: UTC }}`, found {}", entry.value.type_name()),
        );
        return None;
    }
    c.unknown_keys(&entry.value, "schedule", SCHEDULE_KEYS);
    let Some(cron_entry) = entry.value.get("cron") else {
        c.report(entry.key_mark, "schedule", "missing field \"cron\", e.g. cron: \"0 2 * * *\" for 02:00 every day");
        return None;
    };
    let cron = c.value::<String>(cron_entry, "schedule.cron", "a cron expression in quotes");
    let timezone = match entry.value.get("timezone") {
        Some(e) => c.value::<String>(e, "schedule.timezone", "an IANA time zone name"),
        None => Some("UTC".to_owned()),
    };
    let mut valid = cron.is_some() && timezone.is_some();
    if let (Some(cron), Some(timezone)) = (&cron, &timezone)
        && let Err(err) = crate::cron::CronSchedule::parse(cron, timezone)
    {
        let (at, path) = match (&err, entry.value.get("timezone")) {
            (crate::cron::CronError::TimeZone { .. }, Some(e)) => (e.value.mark(), "schedule.timezone"),
            _ => (cron_entry.value.mark(), "schedule.cron"),
        };
        c.report(at, path, err.to_string());
        valid = false;
    }
    let catchup = match entry.value.get("catchup") {
        Some(e) => match c.value::<bool>(e, "schedule.catchup", "true or false") {
            Some(catchup) => catchup,
            None => {
                valid = false;
                false
            }
        },
        None => false,
    };
    let max_active_runs = entry.value.get("max_active_runs").and_then(|e| {
        let limit = c.value::<u32>(e, "schedule.max_active_runs", "a positive integer")?;
        if limit == 0 {
            c.report(e.value.mark(), "schedule.max_active_runs", "max_active_runs must be at least 1");
            return None;
        }
        Some(limit)
    });
    let params = entry
        .value
        .get("params")
        .and_then(|e| c.value::<IndexMap<String, serde_json::Value>>(e, "schedule.params", "a mapping of param values"))
        .unwrap_or_default();
    let (Some(cron), Some(timezone), true) = (cron, timezone, valid) else {
        return None;
    };
    Some(ScheduleSpec { cron, timezone, catchup, max_active_runs, params })
}

fn params(entry: &Entry, c: &mut Collector<'_>) -> IndexMap<String, ParamSpec> {
    let mut out = IndexMap::new();
    let Some(entries) = entry.value.entries() else {
        c.report(
            entry.value.mark(),
            "params",
            format!("expected a mapping of parameters, found {}", entry.value.type_name()),
        );
        return out;
    };
    for param in entries {
        let path = join("params", &param.key);
        if param.value.entries().is_none() {
            c.report(
                param.value.mark(),
                &path,
                "expected `{ type: string|integer|number|boolean|list, default: ... }`",
            );
            continue;
        }
        c.unknown_keys(&param.value, &path, PARAM_KEYS);
        let kind = match param.value.get("type") {
            Some(t) => {
                match c.value::<ParamType>(t, &join(&path, "type"), "one of string, integer, number, boolean, list") {
                    Some(kind) => kind,
                    None => continue,
                }
            }
            None => {
                c.report(param.key_mark, &path, "missing field \"type\" (string, integer, number, boolean or list)");
                continue;
            }
        };
        let default = param.value.get("default").and_then(|d| {
            let value = serde_json::to_value(d.value.to_value()).ok()?;
            if kind.admits(&value) {
                Some(value)
            } else {
                c.report(
                    d.value.mark(),
                    &join(&path, "default"),
                    format!("default {value} is not of type {}", kind.as_str()),
                );
                None
            }
        });
        let description =
            param.value.get("description").and_then(|d| c.value::<String>(d, &join(&path, "description"), "a string"));
        out.insert(param.key.clone(), ParamSpec { kind, default, description });
    }
    out
}

/// `resources: {memory: 4GiB, cpu_time: 2h}`.
fn resources(entry: &Entry, path: &str, c: &mut Collector<'_>) -> Option<crate::isolation::Limits> {
    if entry.value.entries().is_none() {
        c.report(entry.value.mark(), path, format!("expected a mapping, found {}", entry.value.type_name()));
        return None;
    }
    c.unknown_keys(&entry.value, path, &["memory", "cpu_time"]);
    let mut limits = crate::isolation::Limits::default();
    if let Some(e) = entry.value.get("memory") {
        let text = match &e.value {
            Node::Scalar { value: serde_yaml::Value::String(s), .. } => s.clone(),
            Node::Scalar { value: serde_yaml::Value::Number(n), .. } => n.to_string(),
            other => format!("{} (not a size)", other.type_name()),
        };
        match crate::isolation::parse_bytes(&text) {
            Ok(bytes) => limits.memory_bytes = Some(bytes),
            Err(message) => c.report(e.value.mark(), &join(path, "memory"), message),
        }
    }
    if let Some(e) = entry.value.get("cpu_time") {
        limits.cpu_seconds = c.duration(e, &join(path, "cpu_time")).map(|d| d.as_secs().max(1));
    }
    Some(limits)
}

fn defaults(entry: &Entry, c: &mut Collector<'_>) -> TaskDefaults {
    let mut out = TaskDefaults::default();
    if entry.value.entries().is_none() {
        c.report(entry.value.mark(), "defaults", format!("expected a mapping, found {}", entry.value.type_name()));
        return out;
    }
    c.unknown_keys(&entry.value, "defaults", DEFAULT_KEYS);
    if let Some(e) = entry.value.get("retries")
        && let Some(r) = c.value::<u32>(e, "defaults.retries", "a non-negative integer")
    {
        out.retries = r;
    }
    if let Some(e) = entry.value.get("max_lost_attempts")
        && let Some(n) = c.value::<u32>(e, "defaults.max_lost_attempts", "a non-negative integer")
    {
        out.max_lost_attempts = n;
    }
    if let Some(e) = entry.value.get("resources")
        && let Some(limits) = resources(e, "defaults.resources", c)
    {
        out.resources = limits;
    }
    if let Some(e) = entry.value.get("retry_backoff")
        && let Some(d) = c.duration(e, "defaults.retry_backoff")
    {
        out.retry_backoff = d;
    }
    if let Some(e) = entry.value.get("timeout") {
        out.timeout = c.duration(e, "defaults.timeout");
    }
    out
}

fn tasks(entry: &Entry, c: &mut Collector<'_>) -> IndexMap<String, TaskSpec> {
    let mut out = IndexMap::new();
    let Some(entries) = entry.value.entries() else {
        c.report(
            entry.value.mark(),
            "tasks",
            format!("expected a mapping of task id to task, found {}", entry.value.type_name()),
        );
        return out;
    };
    if entries.is_empty() {
        c.report(entry.value.mark(), "tasks", "a pipeline needs at least one task");
    }
    for task in entries {
        let path = join("tasks", &task.key);
        if !valid_task_id(&task.key) {
            c.report(
                task.key_mark,
                &path,
                format!("invalid task id \"{}\": use letters, digits, '-' and '_'", task.key),
            );
        }
        if let Some(spec) = task_spec(task, &path, c) {
            out.insert(task.key.clone(), spec);
        }
    }
    out
}

fn task_spec(task: &Entry, path: &str, c: &mut Collector<'_>) -> Option<TaskSpec> {
    let node = &task.value;
    if node.entries().is_none() {
        c.report(node.mark(), path, format!("expected a task mapping with `uses`, found {}", node.type_name()));
        return None;
    }
    c.unknown_keys(node, path, TASK_KEYS);
    let uses = match node.get("uses") {
        Some(e) => c.value::<String>(e, &join(path, "uses"), "an operator name")?,
        None => {
            c.report(task.key_mark, path, "missing field \"uses\": name the operator this task runs");
            return None;
        }
    };
    let with = match node.get("with") {
        Some(e) => match &e.value {
            Node::Map { .. } => serde_json::to_value(e.value.to_value()).unwrap_or_default(),
            Node::Scalar { value: serde_yaml::Value::Null, .. } => serde_json::Value::Object(Default::default()),
            other => {
                c.report(other.mark(), &join(path, "with"), format!("expected a mapping, found {}", other.type_name()));
                serde_json::Value::Object(Default::default())
            }
        },
        None => serde_json::Value::Object(Default::default()),
    };
    let needs = match node.get("needs") {
        Some(e) => match &e.value {
            Node::Scalar { value: serde_yaml::Value::String(s), .. } => vec![s.clone()],
            _ => c.value::<Vec<String>>(e, &join(path, "needs"), "a list of task ids").unwrap_or_default(),
        },
        None => Vec::new(),
    };
    let retries = node.get("retries").and_then(|e| c.value::<u32>(e, &join(path, "retries"), "a non-negative integer"));
    let max_lost_attempts = node
        .get("max_lost_attempts")
        .and_then(|e| c.value::<u32>(e, &join(path, "max_lost_attempts"), "a non-negative integer"));
    let resources = node.get("resources").and_then(|e| resources(e, &join(path, "resources"), c));
    let retry_backoff = node.get("retry_backoff").and_then(|e| c.duration(e, &join(path, "retry_backoff")));
    let timeout = node.get("timeout").and_then(|e| c.duration(e, &join(path, "timeout")));
    let runs_on = match node.get("runs_on") {
        Some(e) => match &e.value {
            Node::Scalar { value: serde_yaml::Value::String(s), .. } => vec![s.clone()],
            _ => c.value::<Vec<String>>(e, &join(path, "runs_on"), "a list of worker labels").unwrap_or_default(),
        },
        None => Vec::new(),
    };
    let pool = node.get("pool").and_then(|e| c.value::<String>(e, &join(path, "pool"), "a pool name"));
    let cache = node.get("cache").and_then(|e| c.value::<bool>(e, &join(path, "cache"), "true or false"));
    let trigger = node
        .get("trigger")
        .and_then(|e| c.value::<Trigger>(e, &join(path, "trigger"), "one of all_success, all_done, one_failed"))
        .unwrap_or_default();
    let condition = node.get("if").and_then(|e| {
        let text = c.value::<String>(e, &join(path, "if"), "an expression, ${{ tasks.ID.outputs.NAME.values.KEY }}")?;
        match super::expr::Condition::parse(&text) {
            Ok(condition) => Some(condition),
            Err(message) => {
                c.report(e.value.mark(), &join(path, "if"), message);
                None
            }
        }
    });
    let map = node.get("map").and_then(|e| map_spec(e, &join(path, "map"), c));
    Some(TaskSpec {
        map,
        uses,
        with,
        needs,
        retries,
        max_lost_attempts,
        resources,
        retry_backoff,
        timeout,
        trigger,
        runs_on,
        pool,
        cache,
        condition,
    })
}

/// `map: [a, b]`, `map: ${{ ... }}` or `map: {items: ..., max_parallel: N}`.
fn map_spec(entry: &Entry, path: &str, c: &mut Collector<'_>) -> Option<MapSpec> {
    const EXPECTED: &str =
        "a list, an expression (${{ params.NAME }} or ${{ tasks.ID.outputs.NAME }}) or `{items: ..., max_parallel: N}`";
    let items_of = |node: &Node, path: &str, c: &mut Collector<'_>| match node {
        Node::Seq { .. } => match serde_json::to_value(node.to_value()) {
            Ok(serde_json::Value::Array(items)) => Some(MapItems::List(items)),
            _ => {
                c.report(node.mark(), path, "the items must be plain values (strings, numbers, mappings)");
                None
            }
        },
        Node::Scalar { value: serde_yaml::Value::String(text), .. } if text.contains("${{") => {
            Some(MapItems::Expr(text.clone()))
        }
        other => {
            c.report(other.mark(), path, format!("expected {EXPECTED}, found {}", describe(other)));
            None
        }
    };
    match &entry.value {
        Node::Map { .. } => {
            c.unknown_keys(&entry.value, path, MAP_KEYS);
            let max_parallel =
                entry.value.get("max_parallel").and_then(|e| serde_json::to_value(e.value.to_value()).ok());
            let Some(items) = entry.value.get("items") else {
                c.report(entry.value.mark(), path, "missing field \"items\": the list or artifact to map over");
                return None;
            };
            let items = items_of(&items.value, &join(path, "items"), c)?;
            Some(MapSpec { items, max_parallel })
        }
        other => Some(MapSpec { items: items_of(other, path, c)?, max_parallel: None }),
    }
}

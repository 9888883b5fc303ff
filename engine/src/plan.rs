//! Compilation of a spec into a validated plan: operators resolved, params
//! bound, references type-checked, dependencies ordered. Every problem is
//! collected and reported together.

use std::collections::BTreeMap;
use std::time::Duration;

use hangar_sdk::{ArtifactKind, Registry};
use indexmap::IndexMap;
use serde_json::Value;

use crate::dag::TaskGraph;
use crate::diagnostic::{Diagnostics, Mark};
use crate::spec::expr::{self, Expr};
use crate::spec::model::{MapItems, ParamType, PipelineSpec, Trigger};
use crate::spec::parse::{self, Collector};
use crate::spec::yaml::{self, Node};

/// An upstream output wired into an input port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub port: String,
    pub task: String,
    pub output: String,
}

/// A task ready to be scheduled.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedTask {
    pub id: String,
    /// Index in file order.
    pub position: usize,
    pub operator: String,
    pub operator_version: String,
    /// Config with params bound; output references still as expressions,
    /// resolved once the upstream tasks have produced them.
    pub with: Value,
    /// Every task this one waits for: `needs` plus referenced outputs.
    pub deps: Vec<String>,
    pub bindings: Vec<Binding>,
    pub max_attempts: u32,
    /// Lost attempts run again without counting against `max_attempts`.
    pub max_lost_attempts: u32,
    /// Limits of each attempt's process; unset ones fall back to the worker's.
    pub resources: crate::isolation::Limits,
    pub retry_backoff: Duration,
    pub timeout: Option<Duration>,
    pub trigger: Trigger,
    pub runs_on: Vec<String>,
    pub pool: Option<String>,
    /// Whether outputs may come from the cache: the task's `cache`, else the operator's default.
    pub cache: bool,
    /// `if:`: the task runs only when this holds, else it is skipped.
    pub condition: Option<crate::spec::expr::Condition>,
    /// `map:`: the task runs once per item, as instances `ID[0]`, `ID[1]`, ….
    pub map: Option<MapPlan>,
}

/// A mapped task's items and limits, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct MapPlan {
    pub source: MapSource,
    /// Most instances queued or running at once.
    pub max_parallel: Option<u32>,
    /// The input port `${{ item }}` fills, when the items are artifacts.
    pub item_port: Option<String>,
}

/// Where a mapped task's items come from.
#[derive(Debug, Clone, PartialEq)]
pub enum MapSource {
    /// Known when the run is planned: a literal list or a list param.
    Values(Vec<Value>),
    /// The files of a folder artifact, or the shards of a documents
    /// artifact, that an upstream task produced.
    Output { task: String, output: String },
}

/// The id of instance `index` of mapped task `task`.
pub fn instance_id(task: &str, index: usize) -> String {
    format!("{task}[{index}]")
}

/// The mapped task and index an instance id names (`clean[3]`).
pub fn parse_instance_id(id: &str) -> Option<(&str, usize)> {
    let (task, rest) = id.split_once('[')?;
    let index = rest.strip_suffix(']')?.parse().ok()?;
    Some((task, index))
}

/// A validated pipeline with bound params.
#[derive(Debug, Clone)]
pub struct Plan {
    pub file: String,
    pub text: String,
    /// `blake3:<hex>` of the spec text.
    pub hash: String,
    pub spec: PipelineSpec,
    pub params: BTreeMap<String, Value>,
    /// Tasks in file order.
    pub tasks: IndexMap<String, PlannedTask>,
    /// Task ids in a topological order.
    pub order: Vec<String>,
}

impl Plan {
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Problems found after planning (refused paths, quotas), each
    /// `(task, path inside the task, message)`, positioned at the value of
    /// `tasks.TASK.PATH…` (`with.path`, `resources`) in the spec's text
    /// (parsed once for all).
    pub fn diagnostics_at(&self, problems: Vec<(String, Vec<String>, String)>) -> Vec<crate::Diagnostic> {
        let root = match yaml::parse(&self.text) {
            Ok((Some(root), _)) => Some(root),
            _ => None,
        };
        problems
            .into_iter()
            .map(|(task, field, message)| {
                let mut path = vec!["tasks".to_owned(), task];
                path.extend(field);
                let mark = root.as_ref().map_or_else(Mark::start, |root| root.locate_value(&path));
                crate::Diagnostic::new(&self.file, mark, &path.join("."), message)
            })
            .collect()
    }
}

/// The hash recorded with every run, so a run always knows which text it ran.
pub fn spec_hash(text: &str) -> String {
    format!("blake3:{}", blake3::hash(text.as_bytes()).to_hex())
}

/// Parses and validates `text` (read from `file`) against `registry`,
/// binding `overrides` (`--param k=v`) over the declared defaults.
///
/// # Errors
/// Every problem found, each with its `file:line:col`.
pub fn compile(
    file: &str,
    text: &str,
    registry: &Registry,
    overrides: &[(String, String)],
) -> Result<Plan, Diagnostics> {
    compile_with(file, text, registry, overrides, false)
}

/// Validates a pipeline to store, before anyone chose its params: params
/// without a default are bound to a stand-in of their type (`"<NAME>"`,
/// `0`, `false`), so everything else is checked as [`compile`] would.
///
/// # Errors
/// Every problem found, each with its `file:line:col`.
pub fn compile_template(file: &str, text: &str, registry: &Registry) -> Result<Plan, Diagnostics> {
    compile_with(file, text, registry, &[], true)
}

fn compile_with(
    file: &str,
    text: &str,
    registry: &Registry,
    overrides: &[(String, String)],
    stand_ins: bool,
) -> Result<Plan, Diagnostics> {
    let mut c = Collector::new(file);
    let (root, problems) = match yaml::parse(text) {
        Ok(parsed) => parsed,
        Err(problem) => {
            c.report(problem.mark, &problem.path, problem.message);
            return Err(Diagnostics::sorted(c.diagnostics));
        }
    };
    for problem in problems {
        c.report(problem.mark, &problem.path, problem.message);
    }
    let Some(root) = root else {
        c.report(Mark::start(), "", "the file is empty: a pipeline needs `name` and `tasks`");
        return Err(Diagnostics::sorted(c.diagnostics));
    };
    let Some(spec) = parse::pipeline(&root, &mut c) else {
        return Err(Diagnostics::sorted(c.diagnostics));
    };
    let params = bind_params(&spec, &root, overrides, stand_ins, &mut c);
    check_schedule_params(&spec, &root, &mut c);
    let tasks = plan_tasks(&spec, &root, registry, &params, &mut c);
    let order = order_tasks(&spec, &root, &tasks, &mut c);
    if !c.diagnostics.is_empty() {
        return Err(Diagnostics::sorted(c.diagnostics));
    }
    Ok(Plan { file: file.to_owned(), text: text.to_owned(), hash: spec_hash(text), spec, params, tasks, order })
}

/// A schedule's params must be declared and of the declared type.
fn check_schedule_params(spec: &PipelineSpec, root: &Node, c: &mut Collector<'_>) {
    let Some(params) = root.get("schedule").and_then(|s| s.value.get("params")).and_then(|p| p.value.entries()) else {
        return;
    };
    for entry in params {
        let key = &entry.key;
        let Ok(value) = serde_json::to_value(entry.value.to_value()) else { continue };
        let value = &value;
        let path = format!("schedule.params.{key}");
        let at = root.locate(&path_of(&["schedule", "params", key]));
        match spec.params.get(key) {
            None => c.report(at, &path, format!("unknown param \"{key}\"; declare it under `params:` first")),
            Some(param) if !param.kind.admits(value) => {
                c.report(at, &path, format!("{value} is not of type {}", param.kind.as_str()));
            }
            Some(_) => {}
        }
    }
}

fn path_of(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}

fn bind_params(
    spec: &PipelineSpec,
    root: &Node,
    overrides: &[(String, String)],
    stand_ins: bool,
    c: &mut Collector<'_>,
) -> BTreeMap<String, Value> {
    let mut bound = BTreeMap::new();
    for (key, text) in overrides {
        let Some(param) = spec.params.get(key) else {
            let known: Vec<&str> = spec.params.keys().map(String::as_str).collect();
            let hint = match hangar_sdk::closest(key, known.iter().copied()) {
                Some(best) => format!(" (did you mean \"{best}\"?)"),
                None if known.is_empty() => " (the pipeline declares no params)".to_owned(),
                None => format!(" (declared: {})", known.join(", ")),
            };
            c.report(
                root.locate(&path_of(&["params"])),
                "params",
                format!("--param {key}={text}: unknown param \"{key}\"{hint}"),
            );
            continue;
        };
        match param.kind.parse_cli(text) {
            Ok(value) => {
                bound.insert(key.clone(), value);
            }
            Err(err) => c.report(
                root.locate(&path_of(&["params", key])),
                &format!("params.{key}"),
                format!("--param {key}={text}: {err}"),
            ),
        }
    }
    for (key, param) in &spec.params {
        if bound.contains_key(key) {
            continue;
        }
        match &param.default {
            Some(default) => {
                bound.insert(key.clone(), default.clone());
            }
            None if stand_ins => {
                let stand_in = match param.kind {
                    ParamType::String => Value::String(format!("<{key}>")),
                    ParamType::Integer => Value::from(0),
                    ParamType::Number => Value::from(0.0),
                    ParamType::Boolean => Value::Bool(false),
                    ParamType::List => Value::Array(Vec::new()),
                };
                bound.insert(key.clone(), stand_in);
            }
            // An invalid default was reported where it stands.
            None if root.locate(&path_of(&["params", key, "default"])) != root.locate(&path_of(&["params", key])) => {}
            None => c.report(
                root.locate(&path_of(&["params", key])),
                &format!("params.{key}"),
                format!("param \"{key}\" has no default; pass it with --param {key}=VALUE"),
            ),
        }
    }
    bound
}

/// What one task's `with` block references, found while binding params.
#[derive(Default)]
struct References {
    outputs: Vec<(Vec<String>, Expr)>,
    /// JSON paths where `${{ item }}` stands.
    items: Vec<Vec<String>>,
}

fn plan_tasks(
    spec: &PipelineSpec,
    root: &Node,
    registry: &Registry,
    params: &BTreeMap<String, Value>,
    c: &mut Collector<'_>,
) -> IndexMap<String, PlannedTask> {
    let mut planned = IndexMap::new();
    for (position, (id, task)) in spec.tasks.iter().enumerate() {
        let base = path_of(&["tasks", id]);
        let operator = registry.get(&task.uses);
        if operator.is_none() {
            let hint = match registry.closest_name(&task.uses) {
                Some(best) => format!("did you mean \"{best}\"?"),
                None => format!("available operators: {}", registry.names().collect::<Vec<_>>().join(", ")),
            };
            c.report(
                root.locate_value(&[base.clone(), path_of(&["uses"])].concat()),
                &format!("tasks.{id}.uses"),
                format!("unknown operator \"{}\"; {hint}", task.uses),
            );
        }

        let with_path = [base.clone(), path_of(&["with"])].concat();
        let mut refs = References::default();
        let with = bind_value(&task.with, &mut Vec::new(), params, &mut refs, root, &with_path, c);

        let mut deps: Vec<String> = Vec::new();
        for (i, need) in task.needs.iter().enumerate() {
            let need_path = [base.clone(), path_of(&["needs", &i.to_string()])].concat();
            if need == id {
                c.report(
                    root.locate_value(&need_path),
                    &format!("tasks.{id}.needs"),
                    format!("task \"{id}\" needs itself; remove it from `needs`"),
                );
            } else if !spec.tasks.contains_key(need) {
                c.report(root.locate_value(&need_path), &format!("tasks.{id}.needs"), unknown_task_message(need, spec));
            } else if !deps.contains(need) {
                deps.push(need.clone());
            }
        }

        let mut bindings = Vec::new();
        for (json_path, reference) in &refs.outputs {
            let Expr::Output { task: up, output } = reference else {
                continue;
            };
            let field_path = [with_path.clone(), json_path.clone()].concat();
            let dotted = format!("tasks.{id}.with.{}", json_path.join("."));
            if up == id {
                c.report(
                    root.locate_value(&field_path),
                    &dotted,
                    format!("task \"{id}\" cannot use its own output \"{output}\""),
                );
                continue;
            }
            let Some(up_task) = spec.tasks.get(up) else {
                c.report(root.locate_value(&field_path), &dotted, unknown_task_message(up, spec));
                continue;
            };
            if !deps.contains(up) {
                deps.push(up.clone());
            }
            let Some(up_operator) = registry.get(&up_task.uses) else {
                continue; // already reported as an unknown operator
            };
            let Some(produced) = up_operator.info.output_port(output) else {
                let outputs: Vec<&str> = up_operator.info.outputs.iter().map(|p| p.name.as_str()).collect();
                let listing = if outputs.is_empty() {
                    "it has no outputs".to_owned()
                } else {
                    format!("its outputs are {}", outputs.join(", "))
                };
                c.report(
                    root.locate_value(&field_path),
                    &dotted,
                    format!("task \"{up}\" ({}) has no output \"{output}\"; {listing}", up_task.uses),
                );
                continue;
            };
            // A whole-value reference in a top-level field that is an input
            // port is an artifact edge: its kind must match the port.
            let port = match (json_path.as_slice(), operator) {
                ([field], Some(op)) => op.info.input_port(field),
                _ => None,
            };
            let whole =
                json_path.len() == 1 && with.get(&json_path[0]).and_then(Value::as_str).and_then(expr::whole).is_some();
            if let (Some(port), true) = (port, whole) {
                if !port.kind.accepts(produced.kind) {
                    c.report(
                        root.locate_value(&field_path),
                        &dotted,
                        format!(
                            "input \"{}\" of {} expects a {} artifact, but tasks.{up}.outputs.{output} is a {} artifact",
                            port.name, task.uses, port.kind, produced.kind
                        ),
                    );
                    continue;
                }
                bindings.push(Binding { port: port.name.clone(), task: up.clone(), output: output.clone() });
            }
        }

        let map = plan_map(id, task, &refs, operator, &with_path, &mut deps, params, spec, registry, root, c);

        if let Some(op) = operator {
            // A list known now is checked with its first item in place.
            let checked = match &map {
                Some(MapPlan { source: MapSource::Values(items), .. }) if !items.is_empty() => {
                    with_item(&with, &items[0])
                }
                _ => with.clone(),
            };
            for problem in op.implementation.validate(&checked) {
                let field_path = [with_path.clone(), problem.path.clone()].concat();
                let dotted = if problem.path.is_empty() {
                    format!("tasks.{id}.with")
                } else {
                    format!("tasks.{id}.with.{}", problem.path.join("."))
                };
                let mark =
                    if problem.message.starts_with("unknown field") || problem.message.starts_with("missing field") {
                        root.locate(&field_path)
                    } else {
                        root.locate_value(&field_path)
                    };
                c.report(mark, &dotted, problem.message);
            }
            // Missing required ports are reported by the config's own
            // deserialization; a port given a literal has no artifact behind it.
            for port in &op.info.inputs {
                let given = with.get(&port.name).is_some_and(|v| !v.is_null());
                let from_item = map.as_ref().is_some_and(|m| m.item_port.as_deref() == Some(port.name.as_str()));
                if given && !from_item && !bindings.iter().any(|b| b.port == port.name) {
                    let field_path = [with_path.clone(), path_of(&[&port.name])].concat();
                    let value = with.get(&port.name).and_then(Value::as_str).unwrap_or_default();
                    if expr::whole(value).is_some() {
                        continue; // a broken reference, already reported above
                    }
                    if port.registered_model && !value.contains("${{") {
                        if let Err(e) = hangar_sdk::ModelRef::parse(value) {
                            c.report(
                                root.locate_value(&field_path),
                                &format!("tasks.{id}.with.{}", port.name),
                                e.to_string(),
                            );
                        }
                        continue;
                    }
                    c.report(
                        root.locate_value(&field_path),
                        &format!("tasks.{id}.with.{}", port.name),
                        format!(
                            "input \"{}\" takes a {} artifact: write `{}: ${{{{ tasks.ID.outputs.NAME }}}}`",
                            port.name, port.kind, port.name
                        ),
                    );
                }
            }
        }

        if let Some(condition) = &task.condition {
            let if_path = [base.clone(), path_of(&["if"])].concat();
            let dotted = format!("tasks.{id}.if");
            let up = &condition.task;
            match spec.tasks.get(up) {
                _ if up == id => {
                    c.report(root.locate_value(&if_path), &dotted, format!("task \"{id}\" cannot test its own output"))
                }
                None => c.report(root.locate_value(&if_path), &dotted, unknown_task_message(up, spec)),
                Some(up_task) => {
                    let has_output =
                        registry.get(&up_task.uses).is_none_or(|op| op.info.output_port(&condition.output).is_some());
                    if has_output {
                        if !deps.contains(up) {
                            deps.push(up.clone());
                        }
                    } else {
                        c.report(
                            root.locate_value(&if_path),
                            &dotted,
                            format!("task \"{up}\" ({}) has no output \"{}\"", up_task.uses, condition.output),
                        );
                    }
                }
            }
        }

        let retries = task.retries.unwrap_or(spec.defaults.retries);
        planned.insert(
            id.clone(),
            PlannedTask {
                id: id.clone(),
                position,
                operator: task.uses.clone(),
                operator_version: operator.map(|o| o.info.version.clone()).unwrap_or_default(),
                with,
                deps,
                bindings,
                max_attempts: retries.saturating_add(1),
                max_lost_attempts: task.max_lost_attempts.unwrap_or(spec.defaults.max_lost_attempts),
                resources: task.resources.unwrap_or_default().or(spec.defaults.resources),
                retry_backoff: task.retry_backoff.unwrap_or(spec.defaults.retry_backoff),
                timeout: task.timeout.or(spec.defaults.timeout),
                trigger: task.trigger,
                runs_on: task.runs_on.clone(),
                pool: task.pool.clone(),
                cache: task.cache.unwrap_or_else(|| operator.is_some_and(|o| o.info.cacheable)),
                condition: task.condition.clone(),
                map,
            },
        );
    }
    planned
}

/// Validates a task's `map:` and where it uses `${{ item }}`; adds the
/// upstream task whose artifact it maps over to `deps`.
#[allow(clippy::too_many_arguments)]
fn plan_map(
    id: &str,
    task: &crate::spec::model::TaskSpec,
    refs: &References,
    operator: Option<&hangar_sdk::RegisteredOperator>,
    with_path: &[String],
    deps: &mut Vec<String>,
    params: &BTreeMap<String, Value>,
    spec: &PipelineSpec,
    registry: &Registry,
    root: &Node,
    c: &mut Collector<'_>,
) -> Option<MapPlan> {
    let Some(map) = &task.map else {
        for path in &refs.items {
            let field_path = [with_path.to_vec(), path.clone()].concat();
            c.report(
                root.locate_value(&field_path),
                &format!("tasks.{id}.with.{}", path.join(".")),
                format!(
                    "${{{{ item }}}} is only defined in a task with `map:`; add `map:` to task \"{id}\" or remove it"
                ),
            );
        }
        return None;
    };
    let map_path = path_of(&["tasks", id, "map"]);
    let items_path = if root.locate(&[map_path.clone(), path_of(&["items"])].concat()) == root.locate(&map_path) {
        map_path.clone()
    } else {
        [map_path.clone(), path_of(&["items"])].concat()
    };
    let dotted = items_path.join(".");
    let at = root.locate_value(&items_path);
    let (source, item_kind) = match &map.items {
        MapItems::List(items) => (MapSource::Values(items.clone()), None),
        MapItems::Expr(text) => match expr::whole(text) {
            Some(Expr::Param(name)) => match params.get(&name) {
                Some(Value::Array(items)) => (MapSource::Values(items.clone()), None),
                Some(other) => {
                    c.report(
                        at,
                        &dotted,
                        format!("param \"{name}\" is {other}, not a list; declare it with `type: list`"),
                    );
                    return None;
                }
                None => {
                    c.report(
                        at,
                        &dotted,
                        format!("unknown param \"{name}\"; declare it under `params` with `type: list`"),
                    );
                    return None;
                }
            },
            Some(Expr::Output { task: up, output }) => {
                if up == id {
                    c.report(at, &dotted, format!("task \"{id}\" cannot map over its own output"));
                    return None;
                }
                let Some(up_task) = spec.tasks.get(&up) else {
                    c.report(at, &dotted, unknown_task_message(&up, spec));
                    return None;
                };
                let produced = match registry.get(&up_task.uses) {
                    None => return None, // reported as an unknown operator
                    Some(op) => match op.info.output_port(&output) {
                        Some(port) => port.kind,
                        None => {
                            c.report(
                                at,
                                &dotted,
                                format!("task \"{up}\" ({}) has no output \"{output}\"", up_task.uses),
                            );
                            return None;
                        }
                    },
                };
                if !deps.contains(&up) {
                    deps.push(up.clone());
                }
                // A documents artifact's shards are documents; any other
                // folder's files are plain files.
                let kind = if produced == ArtifactKind::Documents { produced } else { ArtifactKind::File };
                (MapSource::Output { task: up, output }, Some(kind))
            }
            _ => {
                c.report(
                    at,
                    &dotted,
                    format!("map over one expression, ${{{{ params.NAME }}}} or ${{{{ tasks.ID.outputs.NAME }}}}; found {text:?}"),
                );
                return None;
            }
        },
    };
    let mut item_port = None;
    for path in &refs.items {
        let field_path = [with_path.to_vec(), path.clone()].concat();
        let field = format!("tasks.{id}.with.{}", path.join("."));
        let port = match (path.as_slice(), operator) {
            ([name], Some(op)) => op.info.input_port(name),
            _ => None,
        };
        let whole = path.len() == 1 && task.with.get(&path[0]).and_then(Value::as_str).and_then(expr::whole).is_some();
        match (port, item_kind, whole) {
            (Some(port), Some(kind), true) => {
                if port.kind.accepts(kind) {
                    item_port = Some(port.name.clone());
                } else {
                    c.report(
                        root.locate_value(&field_path),
                        &field,
                        format!("input \"{}\" expects a {} artifact, but the items are {kind} artifacts", port.name, port.kind),
                    );
                }
            }
            (Some(port), None, _) => c.report(
                root.locate_value(&field_path),
                &field,
                format!(
                    "input \"{}\" takes a {} artifact, but the items are plain values; map over an upstream output (`map: ${{{{ tasks.ID.outputs.NAME }}}}`)",
                    port.name, port.kind
                ),
            ),
            _ => {}
        }
    }
    let max_parallel = match &map.max_parallel {
        None => None,
        Some(value) => {
            let at = [map_path.clone(), path_of(&["max_parallel"])].concat();
            let bound = match value.as_str().map(expr::whole) {
                Some(Some(Expr::Param(name))) => params.get(&name).cloned().unwrap_or(Value::Null),
                _ => value.clone(),
            };
            match bound.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) if n >= 1 => Some(n),
                _ => {
                    c.report(
                        root.locate_value(&at),
                        &at.join("."),
                        format!(
                            "max_parallel must be a positive integer (or ${{{{ params.NAME }}}} of one), found {bound}"
                        ),
                    );
                    None
                }
            }
        }
    };
    Some(MapPlan { source, max_parallel, item_port })
}

/// `value` with `${{ item }}` replaced by `item`: a field that is only the
/// expression takes the item itself, text around it takes the item as text.
fn with_item(value: &Value, item: &Value) -> Value {
    match value {
        Value::String(text) if expr::whole(text) == Some(Expr::Item) => item.clone(),
        Value::String(text) if text.contains("${{") => match expr::scan(text) {
            Ok(found) => Value::String(expr::substitute(text, &found, |e| match (e, item) {
                (Expr::Item, Value::String(s)) => s.clone(),
                (Expr::Item, other) => other.to_string(),
                (Expr::Param(name), _) => format!("${{{{ params.{name} }}}}"),
                (Expr::Output { task, output }, _) => format!("${{{{ tasks.{task}.outputs.{output} }}}}"),
            })),
            Err(_) => value.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(|v| with_item(v, item)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), with_item(v, item))).collect()),
        other => other.clone(),
    }
}

fn unknown_task_message(name: &str, spec: &PipelineSpec) -> String {
    match hangar_sdk::closest(name, spec.tasks.keys().map(String::as_str)) {
        Some(best) => format!("unknown task \"{name}\" (did you mean \"{best}\"?)"),
        None => {
            format!("unknown task \"{name}\"; tasks are {}", spec.tasks.keys().cloned().collect::<Vec<_>>().join(", "))
        }
    }
}

/// Binds params in a `with` value; output references are kept as written
/// and recorded with their JSON path.
fn bind_value(
    value: &Value,
    path: &mut Vec<String>,
    params: &BTreeMap<String, Value>,
    refs: &mut References,
    root: &Node,
    with_path: &[String],
    c: &mut Collector<'_>,
) -> Value {
    match value {
        Value::String(text) => bind_string(text, path, params, refs, root, with_path, c),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    path.push(i.to_string());
                    let bound = bind_value(item, path, params, refs, root, with_path, c);
                    path.pop();
                    bound
                })
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    path.push(k.clone());
                    let bound = bind_value(v, path, params, refs, root, with_path, c);
                    path.pop();
                    (k.clone(), bound)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn bind_string(
    text: &str,
    path: &[String],
    params: &BTreeMap<String, Value>,
    refs: &mut References,
    root: &Node,
    with_path: &[String],
    c: &mut Collector<'_>,
) -> Value {
    let location = || {
        (
            root.locate_value(&[with_path.to_vec(), path.to_vec()].concat()),
            format!("{}.{}", with_path.join("."), path.join(".")).trim_end_matches('.').to_owned(),
        )
    };
    let found = match expr::scan(text) {
        Ok(found) => found,
        Err(message) => {
            let (mark, dotted) = location();
            c.report(mark, &dotted, message);
            return Value::String(text.to_owned());
        }
    };
    if found.is_empty() {
        return Value::String(text.to_owned());
    }
    let mut ok = true;
    for f in &found {
        match &f.expr {
            Expr::Param(name) if !params.contains_key(name) => {
                let (mark, dotted) = location();
                let hint = hangar_sdk::closest(name, params.keys().map(String::as_str))
                    .map(|best| format!(" (did you mean \"{best}\"?)"))
                    .unwrap_or_default();
                c.report(mark, &dotted, format!("unknown param \"{name}\"{hint}; declare it under `params`"));
                ok = false;
            }
            Expr::Param(_) => {}
            Expr::Output { .. } => refs.outputs.push((path.to_vec(), f.expr.clone())),
            Expr::Item => refs.items.push(path.to_vec()),
        }
    }
    if !ok {
        return Value::String(text.to_owned());
    }
    // A lone param keeps its type: `workers: ${{ params.workers }}` is an integer.
    if let [only] = found.as_slice()
        && only.range == (0..text.len())
        && let Expr::Param(name) = &only.expr
    {
        return params.get(name).cloned().unwrap_or(Value::Null);
    }
    let bound = expr::substitute(text, &found, |e| match e {
        Expr::Param(name) => match params.get(name) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        },
        Expr::Output { task, output } => format!("${{{{ tasks.{task}.outputs.{output} }}}}"),
        Expr::Item => "${{ item }}".to_owned(),
    });
    Value::String(bound)
}

fn order_tasks(
    spec: &PipelineSpec,
    root: &Node,
    tasks: &IndexMap<String, PlannedTask>,
    c: &mut Collector<'_>,
) -> Vec<String> {
    let ids: Vec<String> = spec.tasks.keys().cloned().collect();
    let deps: Vec<Vec<usize>> = ids
        .iter()
        .map(|id| {
            tasks.get(id).map(|t| t.deps.iter().filter_map(|d| tasks.get_index_of(d)).collect()).unwrap_or_default()
        })
        .collect();
    let graph = TaskGraph::new(&ids, &deps);
    match graph.order() {
        Some(order) => order.into_iter().map(|i| ids[i].clone()).collect(),
        None => {
            for cycle in graph.cycles() {
                let first = &cycle[0];
                let mark = root.locate(&path_of(&["tasks", first]));
                if cycle.len() == 2 {
                    continue; // a task that needs itself is reported where it says so
                }
                c.report(
                    mark,
                    &format!("tasks.{first}"),
                    format!(
                        "dependency cycle: {} (each task needs the next); remove one of these dependencies",
                        cycle.join(" -> ")
                    ),
                );
            }
            Vec::new()
        }
    }
}

/// The kind an output port produces, for callers that only have a plan.
pub fn output_kind(registry: &Registry, operator: &str, output: &str) -> Option<ArtifactKind> {
    registry.get(operator)?.info.output_port(output).map(|p| p.kind)
}

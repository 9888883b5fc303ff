//! A pipeline's declared params as form fields (the run form and the
//! schedule form share them), and the submitted fields back as JSON values
//! of the declared types.

use std::collections::HashMap;

use hangar_engine::compile_template;
use hangar_engine::spec::ParamType;
use maud::{Markup, html};
use serde_json::{Map, Value};

use crate::state::AppState;

/// One field per declared param (`declared` is the API's `params` view:
/// name → `{type, default, description}`), filled from `values` where it
/// has the param, else from its default. Field ids start with `id_prefix`
/// so two forms can share a page; names are `p.NAME` in both.
pub(super) fn fields(id_prefix: &str, declared: &Map<String, Value>, values: Option<&Map<String, Value>>) -> Markup {
    html! {
        @for (key, spec) in declared {
            @let id = format!("{id_prefix}{key}");
            @let kind = spec["type"].as_str().unwrap_or("string");
            @let value = values.and_then(|v| v.get(key)).or_else(|| spec.get("default")).filter(|d| !d.is_null());
            @let shown = value.map(|d| d.as_str().map_or_else(|| d.to_string(), str::to_owned)).unwrap_or_default();
            label for=(id) { (key) " " span.muted.small { "(" (kind) ")" } }
            @match kind {
                "boolean" => input id=(id) type="checkbox" name={ "p." (key) } value="true" checked[shown == "true"];,
                "integer" => input id=(id) type="number" step="1" name={ "p." (key) } value=(shown);,
                "number" => input id=(id) type="number" step="any" name={ "p." (key) } value=(shown);,
                _ => input id=(id) type="text" name={ "p." (key) } value=(shown) list="upload-keys";,
            }
            @if let Some(d) = spec["description"].as_str() { span.muted.small { (d) } }
            @if kind == "boolean" { input type="hidden" name={ "p." (key) } value="false"; }
        }
    }
}

/// The declared param types of the stored pipeline `name` (none when it is
/// missing or no longer compiles: the API's own check then names the problem).
pub(super) async fn declared_types(state: &AppState, name: &str) -> HashMap<String, ParamType> {
    match state.store().pipeline(name).await {
        Ok(Some(record)) => compile_template(&format!("{name}.yaml"), &record.spec_text, state.engine.registry())
            .map(|plan| plan.spec.params.into_iter().map(|(k, p)| (k, p.kind)).collect())
            .unwrap_or_default(),
        _ => HashMap::new(),
    }
}

/// The form's `p.NAME` values as JSON of the declared types. A checkbox
/// sends `true` before its hidden `false`, so the first value wins; a value
/// that does not parse stays text, for the pipeline's own check to name.
pub(super) fn typed(fields: &[(String, String)], declared: &HashMap<String, ParamType>) -> Map<String, Value> {
    let mut params = Map::new();
    for (field, raw) in fields {
        let Some(key) = field.strip_prefix("p.") else { continue };
        if params.contains_key(key) || (raw.is_empty() && declared.get(key) != Some(&ParamType::String)) {
            continue;
        }
        let value = match declared.get(key) {
            Some(ParamType::Integer) => raw.trim().parse::<i64>().map(Value::from).ok(),
            Some(ParamType::Number) => raw.trim().parse::<f64>().ok().map(Value::from),
            Some(ParamType::Boolean) => Some(Value::Bool(raw == "true")),
            Some(ParamType::List) => ParamType::List.parse_cli(raw).ok(),
            _ => None,
        };
        params.insert(key.to_owned(), value.unwrap_or_else(|| Value::String(raw.clone())));
    }
    params
}

/// The value of the first field called `name`.
/// Every value a form sent under `key` (checkboxes send one per ticked box).
pub(super) fn values<'a>(fields: &'a [(String, String)], key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    fields.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
}

pub(super) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_take_their_declared_types() {
        let declared = HashMap::from([
            ("n".to_owned(), ParamType::Integer),
            ("x".to_owned(), ParamType::Number),
            ("on".to_owned(), ParamType::Boolean),
            ("off".to_owned(), ParamType::Boolean),
            ("s".to_owned(), ParamType::String),
        ]);
        let fields: Vec<(String, String)> = [
            ("csrf", "t"),
            ("p.n", "8000"),
            ("p.x", "0.5"),
            ("p.on", "true"),
            ("p.on", "false"),
            ("p.off", "false"),
            ("p.s", "uploads/upl_1"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let params = typed(&fields, &declared);
        assert_eq!(
            Value::Object(params),
            serde_json::json!({"n": 8000, "x": 0.5, "on": true, "off": false, "s": "uploads/upl_1"})
        );
        let bad = typed(&[("p.n".to_owned(), "many".to_owned())], &declared);
        assert_eq!(bad["n"], "many", "left as text for the pipeline check to report");
    }

    #[test]
    fn fields_show_given_values_before_defaults() {
        let declared = serde_json::json!({
            "limit": {"type": "integer", "default": 8},
            "fast": {"type": "boolean", "default": false},
        });
        let declared = declared.as_object().cloned().unwrap_or_default();
        let html = fields("s-", &declared, None).into_string();
        assert!(html.contains(r#"id="s-limit" type="number" step="1" name="p.limit" value="8""#), "{html}");
        assert!(!html.contains("checked"), "{html}");
        let values = serde_json::json!({"limit": 3, "fast": true});
        let html = fields("s-", &declared, values.as_object()).into_string();
        assert!(html.contains(r#"name="p.limit" value="3""#), "{html}");
        assert!(html.contains("checked"), "{html}");
    }
}

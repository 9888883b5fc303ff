//! JSON and JSONL: records with a text field become documents.

use serde_json::{Map, Value};

use crate::ingest::config::JsonOptions;

/// One record found in a JSON document.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonRecord {
    /// Position within the file: `amendments[2]`, a map key, a line number.
    pub key: String,
    pub own_id: Option<String>,
    pub title: Option<String>,
    pub text: String,
    pub metadata: Map<String, Value>,
}

/// Longest string copied into metadata.
const MAX_META_STRING: usize = 200;

fn text_of(object: &Map<String, Value>, options: &JsonOptions) -> Option<String> {
    options
        .text_fields
        .iter()
        .filter_map(|f| object.get(f).and_then(Value::as_str))
        .find(|t| !t.trim().is_empty())
        .map(str::to_owned)
}

fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn scalars(object: &Map<String, Value>, skip: &[String]) -> Map<String, Value> {
    object
        .iter()
        .filter(|(k, _)| !skip.contains(k))
        .filter(|(_, v)| match v {
            Value::String(s) => s.len() <= MAX_META_STRING,
            Value::Number(_) | Value::Bool(_) => true,
            _ => false,
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn record(
    key: String,
    object: &Map<String, Value>,
    options: &JsonOptions,
    parent: &Map<String, Value>,
) -> Option<JsonRecord> {
    let text = text_of(object, options)?;
    let own_id = object.get(&options.id_field).and_then(scalar_string);
    let title = options
        .title_fields
        .iter()
        .find_map(|f| object.get(f).and_then(scalar_string))
        .or_else(|| options.title_fields.iter().find_map(|f| parent.get(f).and_then(scalar_string)));
    let title =
        options.title_template.as_deref().and_then(|template| fill_template(template, object, parent)).or(title);
    let mut metadata = scalars(object, &options.text_fields);
    if !parent.is_empty() {
        metadata.insert("parent".to_owned(), Value::Object(parent.clone()));
    }
    Some(JsonRecord { key, own_id, title, text, metadata })
}

/// Replaces `{field}` and `{parent.field}` in `template`; `None` when one is missing.
fn fill_template(template: &str, object: &Map<String, Value>, parent: &Map<String, Value>) -> Option<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}')? + start;
        let name = &rest[start + 1..end];
        let value = match name.strip_prefix("parent.") {
            Some(field) => parent.get(field),
            None => object.get(name),
        };
        out.push_str(&scalar_string(value?)?);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn records_in_array(
    prefix: &str,
    items: &[Value],
    options: &JsonOptions,
    parent: &Map<String, Value>,
) -> Vec<JsonRecord> {
    items
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.as_object().and_then(|o| record(format!("{prefix}[{i}]"), o, options, parent)))
        .collect()
}

/// Finds the records of a parsed JSON document.
///
/// # Errors
/// When no record with a text field exists.
pub fn records(value: &Value, options: &JsonOptions) -> Result<Vec<JsonRecord>, String> {
    let empty = Map::new();
    let found = match value {
        Value::Object(object) if text_of(object, options).is_some() => {
            record(String::new(), object, options, &empty).into_iter().collect()
        }
        Value::Array(items) => records_in_array("", items, options, &empty),
        Value::Object(object) => {
            // A map of records keyed by their id.
            let keyed: Vec<JsonRecord> = object
                .iter()
                .filter_map(|(key, v)| {
                    let mut r = record(key.clone(), v.as_object()?, options, &empty)?;
                    r.own_id.get_or_insert_with(|| key.clone());
                    Some(r)
                })
                .collect();
            if !keyed.is_empty() { keyed } else { largest_nested(object, options) }
        }
        _ => Vec::new(),
    };
    if found.is_empty() {
        return Err(format!(
            "no records with a text field ({}) found; set `json.text_fields` if the text is elsewhere",
            options.text_fields.join(", ")
        ));
    }
    Ok(found)
}

/// The largest array of records one level down (`{"part": 23, "amendments": [...]}`),
/// with the enclosing object's scalars as parent metadata.
fn largest_nested(object: &Map<String, Value>, options: &JsonOptions) -> Vec<JsonRecord> {
    let parent = scalars(object, &[]);
    object
        .iter()
        .filter_map(|(key, v)| v.as_array().map(|items| records_in_array(key, items, options, &parent)))
        .max_by_key(Vec::len)
        .unwrap_or_default()
}

/// Records of a JSONL file, one per line; unparsable lines are counted.
///
/// # Errors
/// When no line holds a record.
pub fn jsonl_records(text: &str, options: &JsonOptions) -> Result<(Vec<JsonRecord>, usize), String> {
    let mut found = Vec::new();
    let mut bad = 0;
    let empty = Map::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(object)) => {
                if let Some(r) = record(format!("line {}", i + 1), &object, options, &empty) {
                    found.push(r);
                }
            }
            _ => bad += 1,
        }
    }
    if found.is_empty() {
        return Err(format!(
            "no JSONL line holds a record with a text field ({}); {bad} line(s) were not JSON objects",
            options.text_fields.join(", ")
        ));
    }
    Ok((found, bad))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nested_amendments_become_records_with_parent_metadata() {
        let value = json!({
            "part": "23", "section": "1301", "canonical_title": "Function and installation.",
            "amendments": [
                {"designator": "23-0", "text": "(a) Each item of equipment ..."},
                {"designator": "23-20", "text": "(a) Each item of installed equipment ..."}
            ]
        });
        let found = records(&value, &JsonOptions::default()).expect("records");
        assert_eq!(found.len(), 2);
        assert_eq!(found[1].key, "amendments[1]");
        assert_eq!(found[1].own_id, None);
        assert_eq!(found[1].title.as_deref(), Some("Function and installation."));
        assert_eq!(found[1].metadata["designator"], "23-20");
        assert_eq!(found[1].metadata["parent"]["section"], "1301");
    }

    #[test]
    fn title_templates_fill_from_record_and_parent() {
        let value = json!({"part": "23", "section": "1301", "amendments": [
            {"title_at_amendment": "Function and installation.", "text": "(a) ..."},
            {"text": "(b) ..."}
        ]});
        let options = JsonOptions {
            title_template: Some("§ {parent.part}.{parent.section} {title_at_amendment}".to_owned()),
            ..JsonOptions::default()
        };
        let found = records(&value, &options).expect("records");
        assert_eq!(found[0].title.as_deref(), Some("§ 23.1301 Function and installation."));
        assert_eq!(found[1].title, None, "a missing field leaves the plain title");
    }

    #[test]
    fn a_map_of_records_keeps_its_keys_as_ids() {
        let value = json!({"UMR.2000": {"first_para": "(a) ...", "full": "(a) 本标准规定了..."}});
        let found = records(&value, &JsonOptions::default()).expect("records");
        assert_eq!(found[0].own_id.as_deref(), Some("UMR.2000"));
        assert_eq!(found[0].text, "(a) 本标准规定了...");
    }

    #[test]
    fn own_ids_are_kept_and_missing_text_is_explained() {
        let value = json!([{"id": 7, "text": "x"}, {"id": 8}]);
        let found = records(&value, &JsonOptions::default()).expect("records");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].own_id.as_deref(), Some("7"));
        let err = records(&json!({"hierarchy": [{"label": "Part 25"}]}), &JsonOptions::default()).expect_err("no text");
        assert!(err.contains("json.text_fields"), "{err}");
    }

    #[test]
    fn jsonl_counts_bad_lines() {
        let (found, bad) =
            jsonl_records("{\"text\":\"a\"}\nnot json\n{\"text\":\"b\",\"id\":\"x\"}\n", &JsonOptions::default())
                .expect("ok");
        assert_eq!(found.len(), 2);
        assert_eq!(bad, 1);
        assert_eq!(found[1].own_id.as_deref(), Some("x"));
    }
}

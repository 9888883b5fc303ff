//! YAML with positions: a tree that remembers where every key and value
//! stands, so that a problem found after deserialization can still be
//! reported as `file:line:col`. Duplicate keys are found here too, since a
//! plain YAML value silently keeps only one of them.

use std::collections::HashMap;

use serde_yaml::{Mapping, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::diagnostic::Mark;

/// A YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Scalar { mark: Mark, value: Value },
    Seq { mark: Mark, items: Vec<Node> },
    Map { mark: Mark, entries: Vec<Entry> },
}

/// One `key: value` of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_mark: Mark,
    pub value: Node,
}

/// A problem found while reading the YAML itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlProblem {
    pub mark: Mark,
    pub path: String,
    pub message: String,
}

impl Node {
    pub fn mark(&self) -> Mark {
        match self {
            Node::Scalar { mark, .. } | Node::Seq { mark, .. } | Node::Map { mark, .. } => *mark,
        }
    }

    /// The entries of a mapping, or `None` for other nodes.
    pub fn entries(&self) -> Option<&[Entry]> {
        match self {
            Node::Map { entries, .. } => Some(entries),
            _ => None,
        }
    }

    /// The value of `key` in a mapping (the last one, as YAML loaders keep).
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries()?.iter().rev().find(|e| e.key == key)
    }

    /// A short word for the node's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Node::Map { .. } => "a mapping",
            Node::Seq { .. } => "a list",
            Node::Scalar { value, .. } => match value {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                _ => "a string",
            },
        }
    }

    /// The plain value (duplicate keys: the last one wins).
    pub fn to_value(&self) -> Value {
        match self {
            Node::Scalar { value, .. } => value.clone(),
            Node::Seq { items, .. } => Value::Sequence(items.iter().map(Node::to_value).collect()),
            Node::Map { entries, .. } => {
                let mut map = Mapping::new();
                for entry in entries {
                    map.insert(Value::String(entry.key.clone()), entry.value.to_value());
                }
                Value::Mapping(map)
            }
        }
    }

    /// Where `path` (keys and list indexes) points: the key's mark for a
    /// mapping entry, the node's mark otherwise. Falls back to the deepest
    /// node that exists, so a missing field points at its parent.
    pub fn locate(&self, path: &[String]) -> Mark {
        let mut node = self;
        let mut mark = self.mark();
        for segment in path {
            match node {
                Node::Map { entries, .. } => match entries.iter().rev().find(|e| &e.key == segment) {
                    Some(entry) => {
                        mark = entry.key_mark;
                        node = &entry.value;
                    }
                    None => return mark,
                },
                Node::Seq { items, .. } => match segment.parse::<usize>().ok().and_then(|i| items.get(i)) {
                    Some(item) => {
                        mark = item.mark();
                        node = item;
                    }
                    None => return mark,
                },
                Node::Scalar { .. } => return mark,
            }
        }
        mark
    }

    /// The mark of the value at `path` (not its key), falling back like [`Node::locate`].
    pub fn locate_value(&self, path: &[String]) -> Mark {
        let mut node = self;
        for segment in path {
            let next = match node {
                Node::Map { entries, .. } => entries.iter().rev().find(|e| &e.key == segment).map(|e| &e.value),
                Node::Seq { items, .. } => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
                Node::Scalar { .. } => None,
            };
            match next {
                Some(next) => node = next,
                None => return self.locate(path),
            }
        }
        node.mark()
    }
}

/// Parses one YAML document into a positioned tree.
///
/// # Errors
/// A syntax error, with its position; the document cannot be read further.
pub fn parse(text: &str) -> Result<(Option<Node>, Vec<YamlProblem>), YamlProblem> {
    let mut builder = TreeBuilder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, true).map_err(|err| YamlProblem {
        mark: to_mark(*err.marker()),
        path: String::new(),
        message: format!("invalid YAML: {}", err.info()),
    })?;
    if builder.documents > 1 {
        builder.problems.push(YamlProblem {
            mark: builder.second_document.unwrap_or_else(Mark::start),
            path: String::new(),
            message: "a pipeline file holds exactly one YAML document; remove the extra `---` section".to_owned(),
        });
    }
    Ok((builder.root, builder.problems))
}

fn to_mark(marker: Marker) -> Mark {
    // yaml-rust2 counts lines from 1 but columns from 0.
    Mark::new(marker.line(), marker.col() + 1)
}

enum Frame {
    Seq { mark: Mark, anchor: usize, items: Vec<Node> },
    Map { mark: Mark, anchor: usize, entries: Vec<Entry>, pending_key: Option<(String, Mark)> },
}

#[derive(Default)]
struct TreeBuilder {
    stack: Vec<Frame>,
    /// Keys of the mappings on the stack, for the paths in messages.
    root: Option<Node>,
    anchors: HashMap<usize, Node>,
    problems: Vec<YamlProblem>,
    documents: usize,
    second_document: Option<Mark>,
}

impl TreeBuilder {
    fn path(&self) -> String {
        let mut parts = Vec::new();
        for frame in &self.stack {
            match frame {
                Frame::Map { pending_key: Some((key, _)), .. } => parts.push(key.clone()),
                Frame::Seq { items, .. } => parts.push(items.len().to_string()),
                Frame::Map { .. } => {}
            }
        }
        parts.join(".")
    }

    fn complete(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        if self.documents > 1 {
            return;
        }
        let path_for_dup = self.path();
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, pending_key, .. }) => match pending_key.take() {
                None => {
                    let (key, mark) = match &node {
                        Node::Scalar { value, mark } => (scalar_text(value), *mark),
                        other => {
                            let mark = other.mark();
                            self.problems.push(YamlProblem {
                                mark,
                                path: path_for_dup.clone(),
                                message: "mapping keys must be plain strings".to_owned(),
                            });
                            ("?".to_owned(), mark)
                        }
                    };
                    if let Some(first) = entries.iter().find(|e| e.key == key) {
                        self.problems.push(YamlProblem {
                            mark,
                            path: path_for_dup,
                            message: format!(
                                "duplicate key \"{key}\" (first defined at line {}); remove one of them",
                                first.key_mark.line
                            ),
                        });
                    }
                    *pending_key = Some((key, mark));
                }
                Some((key, key_mark)) => entries.push(Entry { key, key_mark, value: node }),
            },
        }
    }
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, event: Event, marker: Marker) {
        let mark = to_mark(marker);
        match event {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents == 2 {
                    self.second_document = Some(mark);
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let value = resolve_scalar(&text, style, tag.as_ref().map(|t| t.suffix.as_str()));
                self.complete(Node::Scalar { mark, value }, anchor);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq { mark, anchor, items: Vec::new() }),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map { mark, anchor, entries: Vec::new(), pending_key: None })
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { mark, anchor, items }) => (Node::Seq { mark, items }, anchor),
                    Some(Frame::Map { mark, anchor, entries, .. }) => (Node::Map { mark, entries }, anchor),
                    None => return,
                };
                self.complete(node, anchor);
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().unwrap_or(Node::Scalar { mark, value: Value::Null });
                self.complete(node, 0);
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

/// YAML 1.2 core schema resolution of a scalar: quoted scalars are strings;
/// plain ones may be null, booleans, integers or floats.
fn resolve_scalar(text: &str, style: TScalarStyle, tag: Option<&str>) -> Value {
    match tag {
        Some("str") => return Value::String(text.to_owned()),
        Some("null") => return Value::Null,
        Some("bool") | Some("int") | Some("float") => return resolve_plain(text),
        _ => {}
    }
    if style != TScalarStyle::Plain {
        return Value::String(text.to_owned());
    }
    resolve_plain(text)
}

fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Number(f64::INFINITY.into());
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Number(f64::NEG_INFINITY.into()),
        ".nan" | ".NaN" | ".NAN" => return Value::Number(f64::NAN.into()),
        _ => {}
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(n) = i64::from_str_radix(hex, 16)
    {
        return Value::Number(n.into());
    }
    if let Some(oct) = text.strip_prefix("0o")
        && let Ok(n) = i64::from_str_radix(oct, 8)
    {
        return Value::Number(n.into());
    }
    let looks_numeric = text.chars().all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
        && text.chars().any(|c| c.is_ascii_digit());
    if looks_numeric {
        if let Ok(n) = text.parse::<i64>() {
            return Value::Number(n.into());
        }
        if let Ok(n) = text.parse::<u64>() {
            return Value::Number(n.into());
        }
        if let Ok(f) = text.parse::<f64>() {
            return Value::Number(f.into());
        }
    }
    Value::String(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Node {
        let (node, problems) = parse(text).expect("valid yaml");
        assert!(problems.is_empty(), "{problems:?}");
        node.expect("a document")
    }

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let node = tree("name: x\ntasks:\n  fetch:\n    uses: shell\n");
        assert_eq!(node.locate(&["tasks".into(), "fetch".into(), "uses".into()]), Mark::new(4, 5));
        assert_eq!(node.locate_value(&["tasks".into(), "fetch".into(), "uses".into()]), Mark::new(4, 11));
        assert_eq!(node.locate(&["name".into()]), Mark::new(1, 1));
    }

    #[test]
    fn missing_path_falls_back_to_the_deepest_existing_node() {
        let node = tree("tasks:\n  fetch:\n    uses: shell\n");
        assert_eq!(node.locate(&["tasks".into(), "fetch".into(), "with".into()]), Mark::new(2, 3));
    }

    #[test]
    fn scalars_follow_the_core_schema() {
        let node = tree("a: 1\nb: '1'\nc: true\nd: ~\ne: 1.5\nf: 5s\ng: 0x10\n");
        let value = node.to_value();
        assert_eq!(value["a"], Value::Number(1.into()));
        assert_eq!(value["b"], Value::String("1".into()));
        assert_eq!(value["c"], Value::Bool(true));
        assert_eq!(value["d"], Value::Null);
        assert_eq!(value["e"], Value::Number(1.5.into()));
        assert_eq!(value["f"], Value::String("5s".into()));
        assert_eq!(value["g"], Value::Number(16.into()));
    }

    #[test]
    fn duplicate_keys_are_reported_with_both_lines() {
        let (_, problems) = parse("tasks:\n  a: 1\n  b: 2\n  a: 3\n").expect("parses");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].mark, Mark::new(4, 3));
        assert_eq!(problems[0].path, "tasks");
        assert!(problems[0].message.contains("first defined at line 2"), "{}", problems[0].message);
    }

    #[test]
    fn aliases_copy_the_anchored_node() {
        let node = tree("base: &b {retries: 2}\ncopy: *b\n");
        assert_eq!(node.to_value()["copy"]["retries"], Value::Number(2.into()));
    }

    #[test]
    fn syntax_error_has_a_position() {
        let err = parse("tasks:\n  a: [1, 2\n").expect_err("unterminated flow sequence");
        assert!(err.mark.line >= 2, "{err:?}");
        assert!(err.message.starts_with("invalid YAML"));
    }
}

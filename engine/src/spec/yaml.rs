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

/// Mappings and lists nested deeper than this are refused: no pipeline
/// needs them, and every later pass over the tree recurses over its depth.
pub const MAX_DEPTH: usize = 64;
/// Nodes that aliases may copy in all, so that a few hundred bytes of
/// nested aliases (a "billion laughs") cannot expand into gigabytes.
pub const ALIAS_BUDGET: usize = 10_000;
/// A scalar counts as one node per this many bytes of text.
const SCALAR_BYTES_PER_NODE: usize = 64;

/// Parses one YAML document into a positioned tree, refusing documents
/// nested deeper than [`MAX_DEPTH`] or whose aliases copy more than
/// [`ALIAS_BUDGET`] nodes.
///
/// # Errors
/// A syntax error, with its position; the document cannot be read further.
pub fn parse(text: &str) -> Result<(Option<Node>, Vec<YamlProblem>), YamlProblem> {
    let mut builder = TreeBuilder::default();
    let mut parser = Parser::new_from_str(text);
    // Events one at a time: the parser's own `load` recurses once per level
    // of nesting, which a deep enough document turns into a stack overflow.
    loop {
        let (event, marker) = parser.next_token().map_err(|err| YamlProblem {
            mark: to_mark(*err.marker()),
            path: String::new(),
            message: format!("invalid YAML: {}", err.info()),
        })?;
        let end = event == Event::StreamEnd;
        builder.on_event(event, marker);
        if let Some(stop) = builder.stopped.take() {
            // What was built is partial; the problem says why.
            return Ok((None, vec![stop]));
        }
        if end {
            break;
        }
    }
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
    Seq { mark: Mark, anchor: usize, items: Vec<Node>, size: usize },
    Map { mark: Mark, anchor: usize, entries: Vec<Entry>, pending_key: Option<(String, Mark)>, size: usize },
}

#[derive(Default)]
struct TreeBuilder {
    stack: Vec<Frame>,
    /// Keys of the mappings on the stack, for the paths in messages.
    root: Option<Node>,
    /// Anchored nodes with their sizes in nodes.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes copied by aliases so far.
    aliased: usize,
    /// Why building stopped (too deep, too many aliased nodes); every later
    /// event is ignored.
    stopped: Option<YamlProblem>,
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

    fn stop(&mut self, mark: Mark, message: String) {
        let path = self.path();
        self.stopped = Some(YamlProblem { mark, path, message });
        self.stack.clear();
        self.anchors.clear();
    }

    fn complete(&mut self, node: Node, anchor: usize, size: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            Some(Frame::Seq { size: parent, .. } | Frame::Map { size: parent, .. }) => *parent += size,
            None => {}
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
        if self.stopped.is_some() {
            return;
        }
        if matches!(event, Event::SequenceStart(..) | Event::MappingStart(..)) && self.stack.len() >= MAX_DEPTH {
            self.stop(mark, format!("the YAML nests deeper than {MAX_DEPTH} levels; flatten it"));
            return;
        }
        match event {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents == 2 {
                    self.second_document = Some(mark);
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                // A long scalar weighs as much as the nodes its text would
                // make, so that aliases of one huge string are bounded too.
                let weight = 1 + text.len() / SCALAR_BYTES_PER_NODE;
                let value = resolve_scalar(&text, style, tag.as_ref().map(|t| t.suffix.as_str()));
                self.complete(Node::Scalar { mark, value }, anchor, weight);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq { mark, anchor, items: Vec::new(), size: 1 }),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map { mark, anchor, entries: Vec::new(), pending_key: None, size: 1 })
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor, size) = match self.stack.pop() {
                    Some(Frame::Seq { mark, anchor, items, size }) => (Node::Seq { mark, items }, anchor, size),
                    Some(Frame::Map { mark, anchor, entries, size, .. }) => (Node::Map { mark, entries }, anchor, size),
                    None => return,
                };
                self.complete(node, anchor, size);
            }
            Event::Alias(id) => {
                let size = self.anchors.get(&id).map_or(1, |(_, size)| *size);
                self.aliased = self.aliased.saturating_add(size);
                if self.aliased > ALIAS_BUDGET {
                    self.stop(
                        mark,
                        format!(
                            "aliases here copy more than {ALIAS_BUDGET} nodes in all (a node per \
                             {SCALAR_BYTES_PER_NODE} bytes of text); write the values out instead"
                        ),
                    );
                    return;
                }
                let node = self
                    .anchors
                    .get(&id)
                    .map(|(node, _)| node.clone())
                    .unwrap_or(Node::Scalar { mark, value: Value::Null });
                self.complete(node, 0, size);
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
    fn deep_nesting_is_refused_with_a_position() {
        let block = "- ".repeat(5000) + "x\n";
        let (root, problems) = parse(&block).expect("parses as far as the limit");
        assert!(root.is_none());
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("deeper than 64"), "{}", problems[0].message);
        let flow = "[".repeat(5000) + &"]".repeat(5000);
        match parse(&flow) {
            Ok((root, problems)) => assert!(root.is_none() && !problems.is_empty()),
            Err(err) => assert!(err.message.starts_with("invalid YAML"), "{err:?}"),
        }
        let within = "a:\n".to_owned() + &(1..60).map(|i| format!("{}b{i}:\n", "  ".repeat(i))).collect::<String>();
        assert!(parse(&within).expect("parses").1.is_empty());
    }

    #[test]
    fn billion_laughs_stop_at_the_alias_budget() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let names: Vec<char> = ('b'..='i').collect();
        let mut previous = 'a';
        for name in names {
            let refs = vec![format!("*{previous}"); 10].join(", ");
            text.push_str(&format!("{name}: &{name} [{refs}]\n"));
            previous = name;
        }
        let (root, problems) = parse(&text).expect("parses");
        assert!(root.is_none());
        assert!(problems[0].message.contains("more than 10000 nodes"), "{problems:?}");
        assert!(problems[0].mark.line >= 3, "{problems:?}");
    }

    #[test]
    fn aliases_of_one_long_string_are_bounded_by_its_length() {
        let text = format!("x: &a \"{}\"\ny: [{}]\n", "A".repeat(100_000), ["*a"; 10].join(", "));
        let (root, problems) = parse(&text).expect("parses");
        assert!(root.is_none() && problems[0].message.contains("more than 10000 nodes"), "{problems:?}");
        let fine = format!("x: &a \"{}\"\ny: [{}]\n", "A".repeat(1000), ["*a"; 10].join(", "));
        assert!(parse(&fine).expect("parses").1.is_empty());
    }

    #[test]
    fn syntax_error_has_a_position() {
        let err = parse("tasks:\n  a: [1, 2\n").expect_err("unterminated flow sequence");
        assert!(err.mark.line >= 2, "{err:?}");
        assert!(err.message.starts_with("invalid YAML"));
    }
}

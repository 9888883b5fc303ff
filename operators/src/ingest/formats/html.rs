//! HTML to Markdown: headings, paragraphs, lists, tables and preformatted
//! text survive; scripts, styles and navigation do not.

use ego_tree::NodeRef;
use scraper::{Html, Node};

use super::markdown_builder::MarkdownBuilder;

const SKIPPED: &[&str] =
    &["script", "style", "noscript", "template", "head", "nav", "svg", "iframe", "button", "select", "form"];
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "footer",
    "blockquote",
    "figure",
    "figcaption",
    "address",
    "dd",
    "dt",
    "dl",
    "aside",
    "center",
];

struct Walker {
    md: MarkdownBuilder,
    list_depth: usize,
    ordinals: Vec<Option<usize>>,
}

/// Elements nested deeper than this are refused: the HTML parser's work
/// grows with the square of the depth (a 2 MB file nested 200,000 deep
/// takes minutes), and no real document comes near it.
pub const MAX_DEPTH: usize = 2048;

/// Elements that are often left open, or never hold children: they do not
/// deepen the estimate (a page of 10,000 unclosed `<p>` is flat).
const FLAT: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr", "p",
    "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "tbody", "thead", "tfoot", "colgroup", "rb", "rt", "rtc",
    "rp", "caption",
];

/// Whether the element nesting, estimated from the tags alone, exceeds `limit`.
fn nests_deeper_than(html: &str, limit: usize) -> bool {
    let bytes = html.as_bytes();
    let mut depth: usize = 0;
    let mut at = 0;
    while let Some(offset) = memchr::memchr(b'<', &bytes[at..]) {
        let start = at + offset + 1;
        at = start;
        let closing = bytes.get(start) == Some(&b'/');
        let name_start = if closing { start + 1 } else { start };
        let name_end =
            bytes[name_start..].iter().position(|b| !b.is_ascii_alphanumeric()).map_or(bytes.len(), |n| name_start + n);
        if name_end == name_start {
            continue;
        }
        let name = html[name_start..name_end].to_ascii_lowercase();
        if FLAT.contains(&name.as_str()) {
            continue;
        }
        if closing {
            depth = depth.saturating_sub(1);
            continue;
        }
        let tag_end = memchr::memchr(b'>', &bytes[name_end..]).map_or(bytes.len(), |n| name_end + n);
        if tag_end > name_end && bytes[tag_end - 1] == b'/' {
            continue;
        }
        depth += 1;
        if depth > limit {
            return true;
        }
    }
    false
}

/// Converts an HTML document; returns its `<title>` and the Markdown.
///
/// # Errors
/// When the document nests deeper than [`MAX_DEPTH`].
pub fn to_markdown(html: &str) -> Result<(Option<String>, String), String> {
    if nests_deeper_than(html, MAX_DEPTH) {
        return Err(format!(
            "the HTML nests elements deeper than {MAX_DEPTH} levels; rejected (no document needs that, and parsing it would take minutes)"
        ));
    }
    let document = Html::parse_document(html);
    let title = document
        .select(&scraper::Selector::parse("title").expect("a valid selector"))
        .next()
        .map(|t| t.text().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|t| !t.is_empty());
    let mut walker = Walker { md: MarkdownBuilder::new(), list_depth: 0, ordinals: Vec::new() };
    walker.walk(document.tree.root());
    Ok((title, walker.md.finish()))
}

fn cell_text(node: NodeRef<'_, Node>) -> String {
    let mut text = String::new();
    for descendant in node.descendants() {
        if let Node::Text(t) = descendant.value() {
            text.push_str(t);
            text.push(' ');
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What is left to do for an element once its children are written.
#[derive(Debug, Clone, Copy)]
enum Close {
    Block,
    List,
}

/// One step of the walk: a node to visit, or an element to close.
enum Step<'a> {
    Visit(NodeRef<'a, Node>),
    Close(Close),
}

impl Walker {
    /// Writes the children of `root` in document order, with an explicit
    /// stack: a document nested 200,000 deep must not nest our calls.
    fn walk(&mut self, root: NodeRef<'_, Node>) {
        let mut stack: Vec<Step<'_>> = root.children().rev().map(Step::Visit).collect();
        while let Some(step) = stack.pop() {
            let node = match step {
                Step::Close(close) => {
                    self.close(close);
                    continue;
                }
                Step::Visit(node) => node,
            };
            let descend = match node.value() {
                Node::Text(text) => {
                    self.md.text(text);
                    false
                }
                Node::Element(element) if SKIPPED.contains(&element.name()) => false,
                Node::Element(element) => match self.open(element.name(), node) {
                    Opened::Leaf => false,
                    Opened::Children(close) => {
                        if let Some(close) = close {
                            stack.push(Step::Close(close));
                        }
                        true
                    }
                },
                _ => true,
            };
            if descend {
                stack.extend(node.children().rev().map(Step::Visit));
            }
        }
    }

    fn close(&mut self, close: Close) {
        match close {
            Close::Block => self.md.end_block(),
            Close::List => {
                self.list_depth -= 1;
                self.ordinals.pop();
                self.md.end_block();
            }
        }
    }

    /// Writes what comes before an element's children.
    fn open(&mut self, name: &str, node: NodeRef<'_, Node>) -> Opened {
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                let level = name[1..].parse().unwrap_or(1);
                self.md.heading(level);
                Opened::Children(Some(Close::Block))
            }
            "br" => {
                self.md.line_break();
                Opened::Leaf
            }
            "hr" => {
                self.md.end_block();
                Opened::Leaf
            }
            "ul" | "ol" => {
                self.md.end_block();
                self.ordinals.push((name == "ol").then_some(0));
                self.list_depth += 1;
                Opened::Children(Some(Close::List))
            }
            "li" => {
                let ordinal = match self.ordinals.last_mut() {
                    Some(Some(n)) => {
                        *n += 1;
                        Some(*n)
                    }
                    _ => None,
                };
                self.md.list_item(self.list_depth.saturating_sub(1), ordinal);
                Opened::Children(Some(Close::Block))
            }
            "table" => {
                self.md.start_table();
                for row in node.descendants() {
                    if let Node::Element(e) = row.value()
                        && e.name() == "tr"
                    {
                        let cells = row
                            .children()
                            .filter(|c| matches!(c.value(), Node::Element(e) if e.name() == "td" || e.name() == "th"))
                            .map(cell_text)
                            .collect();
                        self.md.table_row(cells);
                    }
                }
                self.md.end_table();
                Opened::Leaf
            }
            "pre" => {
                self.md.end_block();
                let mut text = String::new();
                for d in node.descendants() {
                    if let Node::Text(t) = d.value() {
                        text.push_str(t);
                    }
                }
                self.md.raw(&format!("```\n{}\n```", text.trim_end()));
                self.md.end_block();
                Opened::Leaf
            }
            _ if BLOCKS.contains(&name) => {
                self.md.end_block();
                Opened::Children(Some(Close::Block))
            }
            _ => Opened::Children(None),
        }
    }
}

/// Whether an element's children are walked, and what closes it.
enum Opened {
    Leaf,
    Children(Option<Close>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_estimated_from_tags_with_unclosed_and_void_elements_flat() {
        assert!(!nests_deeper_than(&"<p>text ".repeat(10_000), 100));
        assert!(!nests_deeper_than(&"<div><br><img src=x/><input></div>".repeat(10_000), 3));
        assert!(nests_deeper_than(&"<div>".repeat(101), 100));
        assert!(!nests_deeper_than(&"<div></div>".repeat(1000), 1));
        assert!(nests_deeper_than(&"<span><b>".repeat(60), 100));
    }

    #[test]
    fn structure_becomes_markdown() {
        let html = r#"<html><head><title> Part 25 </title><style>p{}</style></head>
<body><nav>Home | Next</nav><h1>§ 25.1309 Equipment</h1>
<p>Each item of <b>equipment</b> must:</p>
<ol><li>perform its function;</li><li>be labelled.</li></ol>
<table><tr><th>Condition</th><th>Probability</th></tr><tr><td>Catastrophic</td><td>10<sup>-9</sup></td></tr></table>
<script>alert(1)</script></body></html>"#;
        let (title, md) = to_markdown(html).expect("shallow");
        assert_eq!(title.as_deref(), Some("Part 25"));
        assert_eq!(
            md,
            "# § 25.1309 Equipment\n\nEach item of equipment must:\n\n1. perform its function;\n2. be labelled.\n\n| Condition | Probability |\n| --- | --- |\n| Catastrophic | 10 -9 |"
        );
    }
}

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

/// Converts an HTML document; returns its `<title>` and the Markdown.
pub fn to_markdown(html: &str) -> (Option<String>, String) {
    let document = Html::parse_document(html);
    let title = document
        .select(&scraper::Selector::parse("title").expect("a valid selector"))
        .next()
        .map(|t| t.text().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|t| !t.is_empty());
    let mut walker = Walker { md: MarkdownBuilder::new(), list_depth: 0, ordinals: Vec::new() };
    walker.walk(document.tree.root());
    (title, walker.md.finish())
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

impl Walker {
    fn walk(&mut self, node: NodeRef<'_, Node>) {
        for child in node.children() {
            match child.value() {
                Node::Text(text) => self.md.text(text),
                Node::Element(element) => {
                    let name = element.name();
                    if SKIPPED.contains(&name) {
                        continue;
                    }
                    self.element(name, child);
                }
                _ => self.walk(child),
            }
        }
    }

    fn element(&mut self, name: &str, node: NodeRef<'_, Node>) {
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                let level = name[1..].parse().unwrap_or(1);
                self.md.heading(level);
                self.walk(node);
                self.md.end_block();
            }
            "br" => self.md.line_break(),
            "hr" => self.md.end_block(),
            "ul" | "ol" => {
                self.md.end_block();
                self.ordinals.push((name == "ol").then_some(0));
                self.list_depth += 1;
                self.walk(node);
                self.list_depth -= 1;
                self.ordinals.pop();
                self.md.end_block();
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
                self.walk(node);
                self.md.end_block();
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
            }
            _ if BLOCKS.contains(&name) => {
                self.md.end_block();
                self.walk(node);
                self.md.end_block();
            }
            _ => self.walk(node),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structure_becomes_markdown() {
        let html = r#"<html><head><title> Part 25 </title><style>p{}</style></head>
<body><nav>Home | Next</nav><h1>§ 25.1309 Equipment</h1>
<p>Each item of <b>equipment</b> must:</p>
<ol><li>perform its function;</li><li>be labelled.</li></ol>
<table><tr><th>Condition</th><th>Probability</th></tr><tr><td>Catastrophic</td><td>10<sup>-9</sup></td></tr></table>
<script>alert(1)</script></body></html>"#;
        let (title, md) = to_markdown(html);
        assert_eq!(title.as_deref(), Some("Part 25"));
        assert_eq!(
            md,
            "# § 25.1309 Equipment\n\nEach item of equipment must:\n\n1. perform its function;\n2. be labelled.\n\n| Condition | Probability |\n| --- | --- |\n| Catastrophic | 10 -9 |"
        );
    }
}

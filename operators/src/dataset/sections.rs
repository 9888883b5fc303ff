//! Cutting documents along their structure: a regulation section such as
//! `§ 25.1309` or `第23.2005条` is the natural unit of a training sample.

use std::sync::LazyLock;

use regex::Regex;

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("invalid built-in pattern {pattern}: {e}"))
}

/// `§ 25.1309 Title`, `§25.1309`, `Sec. 23.1431 Title`.
static SECTION_CITATION: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^(?:§+|Sec\.|Section)\s*(\d+[A-Z]?\.\d+[0-9a-z-]*)\s*(.*)$"));
/// `第23.2005条 Title` (NFKC-normalised), `第 23.2005 条`.
static CHINESE_ARTICLE: LazyLock<Regex> = LazyLock::new(|| regex(r"^第\s*([0-9A-Z]+(?:\.[0-9]+)*)\s*条\s*(.*)$"));
/// Clause ids of structured records: `UMR.2000`, `23.2005`, `HY.1309`.
static RECORD_ID: LazyLock<Regex> = LazyLock::new(|| regex(r"^(?:[A-Z]{1,4}\.)?[0-9]+(?:\.[0-9]+)?[A-Z]?$"));

/// One section of a document.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// `§ 25.1309` or `第23.2005条`, when the heading carries one.
    pub citation: Option<String>,
    /// The number alone (`25.1309`), used to keep a section in one split
    /// whichever document it comes from.
    pub number: Option<String>,
    /// The heading's title without the citation.
    pub title: String,
    /// The body text.
    pub text: String,
    /// Character span of the body in the document text.
    pub span: (usize, usize),
}

impl Section {
    /// The title as questions and passages name it: without a closing full stop.
    pub fn plain_title(&self) -> &str {
        self.title.trim().trim_end_matches(['.', '。'])
    }
}

fn citation_of(line: &str) -> Option<(String, String, String)> {
    let line = line.trim().trim_start_matches('#').trim();
    if let Some(c) = SECTION_CITATION.captures(line) {
        let number = c[1].to_owned();
        return Some((format!("§ {number}"), number, c[2].trim().to_owned()));
    }
    if let Some(c) = CHINESE_ARTICLE.captures(line) {
        let number = c[1].to_owned();
        return Some((format!("第{number}条"), number, c[2].trim().to_owned()));
    }
    None
}

fn is_markdown_heading(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with('#') && t.trim_start_matches('#').starts_with(' ')
}

/// Splits a document into sections. A new section starts at a Markdown
/// heading or at a line that opens with a citation; text before the first
/// one forms a preamble section titled after the document. A document
/// without any becomes one section; a record whose id is a clause number
/// (`UMR.2000`) is cited by it.
pub fn split(doc_title: &str, doc_id: &str, text: &str) -> Vec<Section> {
    struct Open {
        citation: Option<(String, String)>,
        title: String,
        start_char: usize,
        body: String,
    }
    let mut sections = Vec::new();
    let mut current = Open { citation: None, title: doc_title.to_owned(), start_char: 0, body: String::new() };
    let mut offset = 0usize;
    let close = |open: Open, end: usize, sections: &mut Vec<Section>| {
        let body = open.body.trim().to_owned();
        if body.is_empty() {
            return;
        }
        let (citation, number) = match open.citation {
            Some((c, n)) => (Some(c), Some(n)),
            None => (None, None),
        };
        sections.push(Section { citation, number, title: open.title, text: body, span: (open.start_char, end) });
    };
    for line in text.split_inclusive('\n') {
        let line_chars = line.chars().count();
        let cited = citation_of(line);
        if cited.is_some() || is_markdown_heading(line) {
            let next = match cited {
                Some((citation, number, title)) => Open {
                    citation: Some((citation, number)),
                    title,
                    start_char: offset + line_chars,
                    body: String::new(),
                },
                None => Open {
                    citation: None,
                    title: line.trim().trim_start_matches('#').trim().to_owned(),
                    start_char: offset + line_chars,
                    body: String::new(),
                },
            };
            let finished = std::mem::replace(&mut current, next);
            close(finished, offset, &mut sections);
        } else {
            current.body.push_str(line);
        }
        offset += line_chars;
    }
    close(current, offset, &mut sections);
    if sections.len() == 1 && sections[0].citation.is_none() && RECORD_ID.is_match(doc_id) {
        sections[0].citation = Some(doc_id.to_owned());
        sections[0].number = Some(doc_id.to_owned());
    }
    if sections.len() == 1
        && sections[0].citation.is_none()
        && let Some((citation, number, title)) = citation_of(doc_title)
    {
        sections[0].citation = Some(citation);
        sections[0].number = Some(number);
        sections[0].title = title;
    }
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_sections_with_citations() {
        let text = "# Part 43. Maintenance\n\nEditorial note.\n\n### §43.1 Applicability.\n\n(a) This part prescribes rules.\n\n(b) It does not apply to experimental aircraft.\n\n### §43.2 Records of overhaul.\n\n(a) No person may describe.\n";
        let sections = split("Part 43", "x", text);
        assert_eq!(sections.len(), 3);
        assert_eq!(sections[0].citation, None);
        assert_eq!(sections[0].title, "Part 43. Maintenance");
        assert_eq!(sections[1].citation.as_deref(), Some("§ 43.1"));
        assert_eq!(sections[1].number.as_deref(), Some("43.1"));
        assert_eq!(sections[1].title, "Applicability.");
        assert!(sections[1].text.starts_with("(a) This part"));
        let (start, end) = sections[1].span;
        let body: String = text.chars().skip(start).take(end - start).collect();
        assert_eq!(body.trim(), sections[1].text);
    }

    #[test]
    fn chinese_articles() {
        let text = "A章总则\n第23.2000条适用范围及定义\n(a)本规定规定了适航要求.\n第 23.2005 条 正常类飞机审定\n(a)乘客座位设置为19座.\n";
        let sections = split("CCAR-23", "x", text);
        let cited: Vec<_> = sections.iter().filter_map(|s| s.citation.clone()).collect();
        assert_eq!(cited, ["第23.2000条", "第23.2005条"]);
        assert_eq!(sections.last().map(|s| s.title.as_str()), Some("正常类飞机审定"));
    }

    #[test]
    fn records_are_cited_by_their_clause_id_or_title() {
        let sections = split("UMR", "UMR.2000", "(a) 本标准规定了适航要求。");
        assert_eq!(sections[0].citation.as_deref(), Some("UMR.2000"));
        let sections = split("§ 23.1301 Function and installation.", "a9726568bd2affaa", "(a) Each item of equipment.");
        assert_eq!(sections[0].citation.as_deref(), Some("§ 23.1301"));
        assert_eq!(sections[0].title, "Function and installation.");
    }
}

//! Supervised fine-tuning samples from regulation sections: the heading
//! asks for the text, the title asks for the citation, and each lettered
//! paragraph asks for itself and back for its citation.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::sections::Section;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// Where a sample's answer comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub doc_id: String,
    pub source: String,
    /// The citation (`§ 25.1309(b)`) or the section title.
    pub section: String,
    /// Character span of the answer's source text in the document.
    pub span: [usize; 2],
}

/// One SFT sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SftSample {
    pub messages: Vec<Message>,
    /// `section_text`, `title_to_citation`, `paragraph_text`, `text_to_citation`,
    /// or `reading` (a passage of the regulation itself, see `reading.rs`).
    pub kind: String,
    pub lang: String,
    pub split: String,
    pub provenance: Provenance,
}

/// The document a section belongs to.
#[derive(Debug, Clone)]
pub struct DocInfo<'a> {
    pub id: &'a str,
    pub source: &'a str,
    pub title: &'a str,
    pub lang: &'a str,
}

/// A paragraph line: one or more designations, e.g. `(b)`, `(b)(3)`, `(iv)`, `(A)`, then its text.
static PARAGRAPH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^((?:\((?:[a-z]{1,4}|[0-9]{1,2}|[A-Z])\))+)\s*(.+)$")
        .unwrap_or_else(|e| panic!("invalid built-in pattern: {e}"))
});
static MARK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\(([a-zA-Z0-9]+)\)").unwrap_or_else(|e| panic!("invalid built-in pattern: {e}")));

pub(super) fn chat(question: String, answer: String) -> Vec<Message> {
    vec![
        Message { role: "user".to_owned(), content: question },
        Message { role: "assistant".to_owned(), content: answer },
    ]
}

/// At most `max_chars`, cut at the last paragraph (or sentence) boundary.
pub fn clip(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max_chars).collect();
    let boundary = cut.rfind("\n\n").or_else(|| cut.rfind(['\n', '。', '.'])).filter(|b| *b > max_chars / 3);
    match boundary {
        Some(b) => cut[..b + cut[b..].chars().next().map_or(0, char::len_utf8)].trim_end().to_owned(),
        None => cut.trim_end().to_owned(),
    }
}

fn opening(text: &str, zh: bool) -> String {
    if zh {
        let head: String = text.chars().take(30).collect();
        if text.chars().count() > 30 { format!("{head}……") } else { head }
    } else {
        let words: Vec<&str> = text.split_whitespace().take(20).collect();
        let more = text.split_whitespace().count() > 20;
        format!("{}{}", words.join(" "), if more { " …" } else { "" })
    }
}

/// The samples of one section; `split` is the section's split.
pub fn samples(section: &Section, doc: &DocInfo<'_>, split: &str, max_answer_chars: usize) -> Vec<SftSample> {
    let zh = doc.lang == "zh";
    let title = section.plain_title().to_owned();
    let mut out = Vec::new();
    let mut push = |kind: &str, messages: Vec<Message>, section_name: String, span: (usize, usize)| {
        out.push(SftSample {
            messages,
            kind: kind.to_owned(),
            lang: doc.lang.to_owned(),
            split: split.to_owned(),
            provenance: Provenance {
                doc_id: doc.id.to_owned(),
                source: doc.source.to_owned(),
                section: section_name,
                span: [span.0, span.1],
            },
        });
    };
    let answer = clip(&section.text, max_answer_chars);
    let name = section.citation.clone().unwrap_or_else(|| title.clone());
    // A record titled like its only section needs no document reference.
    let of_doc = |zh: bool| match (doc.title.trim_end_matches(['.', '。']) == title, zh) {
        (true, _) => String::new(),
        (false, false) => format!(" of {}", doc.title),
        (false, true) => format!("《{}》", doc.title),
    };
    let question = match (&section.citation, zh) {
        (Some(c), false) if !title.is_empty() => format!("What does {c} ({title}){} require?", of_doc(false)),
        (Some(c), false) => format!("What does {c}{} require?", of_doc(false)),
        (Some(c), true) if !title.is_empty() => format!("{}{c}（{title}）规定了什么？", of_doc(true)),
        (Some(c), true) => format!("{}{c}规定了什么？", of_doc(true)),
        (None, false) => format!("What does the section \"{title}\"{} say?", of_doc(false)),
        (None, true) => format!("{}“{title}”部分的内容是什么？", of_doc(true)),
    };
    push("section_text", chat(question, answer), name.clone(), section.span);

    let Some(citation) = &section.citation else { return out };
    if !title.is_empty() && title != doc.title {
        let (question, answer) = if zh {
            (format!("《{}》中标题为“{title}”的是哪一条？", doc.title), format!("{citation} {title}"))
        } else {
            (format!("Which section of {} is titled \"{title}\"?", doc.title), format!("{citation} {title}"))
        };
        push("title_to_citation", chat(question, answer), name, section.span);
    }

    // Paragraphs: "(a) ...", "(1) ...", "(i) ...", "(A) ...", cited by their
    // whole path, (b)(3) and not (3), in the body's own order.
    for line in body_lines(section) {
        if let Some((designation, rest)) = line.paragraph {
            let cited = format!("{citation}{designation}");
            let (q1, q2) = if zh {
                (format!("{cited}规定了什么？"), format!("“{}”出自哪一条款？", opening(rest, true)))
            } else {
                (format!("What does {cited} state?"), format!("Which provision states: \"{}\"?", opening(rest, false)))
            };
            push("paragraph_text", chat(q1, clip(line.text, max_answer_chars)), cited.clone(), line.span);
            push("text_to_citation", chat(q2, cited.clone()), cited, line.span);
        }
    }
    out
}

/// One line of a section's body.
pub(super) struct BodyLine<'a> {
    /// The line, trimmed.
    pub text: &'a str,
    /// Its character span in the document, line end included.
    pub span: (usize, usize),
    /// For a paragraph, its whole designation path (`(b)(3)`) and its text
    /// after the designations.
    pub paragraph: Option<(String, &'a str)>,
}

/// The body's lines in order, paragraphs cited by their whole path.
pub(super) fn body_lines(section: &Section) -> Vec<BodyLine<'_>> {
    let mut offset = section.span.0;
    let mut path = ParagraphPath::default();
    let mut out = Vec::new();
    for line in section.text.split_inclusive('\n') {
        let start = offset;
        offset += line.chars().count();
        let text = line.trim();
        let paragraph = PARAGRAPH.captures(text).map(|c| {
            for mark in MARK.captures_iter(&c[1]) {
                path.enter(&mark[1]);
            }
            (path.designation(), c.get(2).map_or("", |m| m.as_str()))
        });
        out.push(BodyLine { text, span: (start, offset), paragraph });
    }
    out
}

/// The levels of a paragraph designation, as the CFR nests them: (a), then
/// (1), then (i), then (A). The CAAC's 款 and 项 use the same marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Letter,
    Number,
    Roman,
    Capital,
}

/// The designations from the section down to the current paragraph.
#[derive(Debug, Default)]
struct ParagraphPath {
    marks: Vec<(Level, String)>,
}

fn roman_value(mark: &str) -> Option<u32> {
    let digit = |c| match c {
        'i' => Some(1),
        'v' => Some(5),
        'x' => Some(10),
        'l' => Some(50),
        _ => None,
    };
    let values: Vec<u32> = mark.chars().map(digit).collect::<Option<_>>()?;
    let mut total = 0;
    for (i, v) in values.iter().enumerate() {
        if values.get(i + 1).is_some_and(|next| next > v) {
            total -= *v as i64;
        } else {
            total += *v as i64;
        }
    }
    u32::try_from(total).ok().filter(|t| *t > 0)
}

impl ParagraphPath {
    fn level_of(&self, mark: &str) -> Level {
        if mark.chars().all(|c| c.is_ascii_digit()) {
            return Level::Number;
        }
        if mark.chars().all(|c| c.is_ascii_uppercase()) {
            return Level::Capital;
        }
        // (i), (v), (x) are letters at the top and roman numerals below a (1):
        // a roman numeral starts at (i) or continues the one before.
        let under_number = self.marks.iter().any(|(l, _)| *l >= Level::Number);
        if under_number && let Some(value) = roman_value(mark) {
            let previous = self.marks.iter().find(|(l, _)| *l == Level::Roman).and_then(|(_, m)| roman_value(m));
            if value == 1 || previous.is_some_and(|p| p + 1 == value) {
                return Level::Roman;
            }
        }
        Level::Letter
    }

    fn enter(&mut self, mark: &str) {
        let level = self.level_of(mark);
        while self.marks.last().is_some_and(|(l, _)| *l >= level) {
            self.marks.pop();
        }
        self.marks.push((level, mark.to_owned()));
    }

    /// `(b)(3)(ii)`.
    fn designation(&self) -> String {
        self.marks.iter().map(|(_, m)| format!("({m})")).collect()
    }
}

/// The chats of every section, made fit for training: a question whose
/// text stands in several places with different answers (a short paragraph
/// like "(1) Before starting engines;" in many sections) is ambiguous and
/// dropped everywhere; a question asked twice with the same answer keeps
/// one copy, in the first split it appeared in; questions about a
/// placeholder title (《标题》) are dropped. No test question is then asked
/// in train. Returns the kept samples and how many were dropped as ambiguous.
pub fn without_leaks(samples: Vec<SftSample>) -> (Vec<SftSample>, usize) {
    let mut filter = LeakFilter::default();
    for sample in &samples {
        filter.observe(sample);
    }
    let kept = samples.into_iter().filter(|sample| filter.keep(sample)).collect();
    (kept, filter.dropped())
}

/// [`without_leaks`] in two passes over samples that need not all be in
/// memory (the parts of a sharded dataset): [`LeakFilter::observe`] every
/// sample, then ask [`LeakFilter::keep`] of every sample in the same order.
/// Questions and answers are kept as 128-bit digests.
#[derive(Debug, Default)]
pub struct LeakFilter {
    /// Question → its first answer, and whether another answer was seen.
    answers: std::collections::HashMap<Digest, (Digest, bool)>,
    asked: std::collections::HashSet<Digest>,
    dropped: usize,
}

type Digest = [u8; 16];

fn digest(tag: u8, text: Option<&str>) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&[tag, u8::from(text.is_some())]);
    hasher.update(text.unwrap_or_default().as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    out
}

/// Reading passages are the regulation's text, not questions: the leak
/// check passes them (two versions of a section read under one prompt are
/// both kept; no test question is a reading prompt).
pub fn is_reading(kind: &str) -> bool {
    kind == "reading"
}

/// A chat's question (its first user message) and answer (its last
/// assistant message).
pub fn question_and_answer<'a>(
    messages: impl DoubleEndedIterator<Item = (&'a str, &'a str)> + Clone,
) -> (Option<&'a str>, Option<&'a str>) {
    let question = messages.clone().find(|(role, _)| *role == "user").map(|(_, content)| content);
    let answer = messages.rev().find(|(role, _)| *role == "assistant").map(|(_, content)| content);
    (question, answer)
}

fn sample_chat(sample: &SftSample) -> (Option<&str>, Option<&str>) {
    question_and_answer(sample.messages.iter().map(|m| (m.role.as_str(), m.content.as_str())))
}

impl LeakFilter {
    /// First pass: notes the sample's question and answer.
    pub fn observe(&mut self, sample: &SftSample) {
        if is_reading(&sample.kind) {
            return;
        }
        let (question, answer) = sample_chat(sample);
        self.observe_chat(question, answer);
    }

    /// [`Self::observe`] of a chat's question and answer.
    pub fn observe_chat(&mut self, question: Option<&str>, answer: Option<&str>) {
        let Some(question) = question else { return };
        let answer = digest(b'a', answer);
        self.answers
            .entry(digest(b'q', Some(question)))
            .and_modify(|(first, other)| *other |= *first != answer)
            .or_insert((answer, false));
    }

    /// Second pass, in the same order: whether the sample stays.
    pub fn keep(&mut self, sample: &SftSample) -> bool {
        is_reading(&sample.kind) || self.keep_chat(sample_chat(sample).0)
    }

    /// [`Self::keep`] of a chat's question.
    pub fn keep_chat(&mut self, question: Option<&str>) -> bool {
        let Some(question) = question else { return false };
        let placeholder = question.contains("《标题》") || question.contains("“标题”");
        let key = digest(b'q', Some(question));
        let ambiguous = self.answers.get(&key).is_some_and(|(_, other)| *other);
        self.dropped += usize::from(ambiguous || placeholder);
        !ambiguous && !placeholder && self.asked.insert(key)
    }

    /// Samples dropped as ambiguous or about a placeholder title.
    pub fn dropped(&self) -> usize {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section() -> Section {
        Section {
            citation: Some("§ 25.305".to_owned()),
            number: Some("25.305".to_owned()),
            title: "Strength and deformation.".to_owned(),
            text: "(a) The structure must be able to support limit loads without detrimental permanent deformation.\n(b) The structure must be able to support ultimate loads without failure for at least 3 seconds.".to_owned(),
            span: (100, 300),
        }
    }

    #[test]
    fn english_samples_cover_section_title_and_paragraphs() {
        let doc = DocInfo { id: "d1", source: "FAR-0025.md", title: "Part 25", lang: "en" };
        let all = samples(&section(), &doc, "train", 2000);
        let kinds: Vec<&str> = all.iter().map(|s| s.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "section_text",
                "title_to_citation",
                "paragraph_text",
                "text_to_citation",
                "paragraph_text",
                "text_to_citation"
            ]
        );
        assert_eq!(all[0].messages[0].content, "What does § 25.305 (Strength and deformation) of Part 25 require?");
        assert_eq!(all[1].messages[1].content, "§ 25.305 Strength and deformation");
        assert_eq!(all[4].messages[0].content, "What does § 25.305(b) state?");
        assert_eq!(all[5].messages[1].content, "§ 25.305(b)");
        assert_eq!(all[4].provenance.section, "§ 25.305(b)");
        assert!(all[4].provenance.span[0] > 100);
    }

    #[test]
    fn chinese_samples_use_chinese_questions() {
        let s = Section {
            citation: Some("第23.2005条".to_owned()),
            number: Some("23.2005".to_owned()),
            title: "正常类飞机审定".to_owned(),
            text: "(a)乘客座位设置为19座或者以下的飞机，可按正常类进行审定。".to_owned(),
            span: (0, 30),
        };
        let doc = DocInfo { id: "d2", source: "CCAR-23.pdf", title: "CCAR-23", lang: "zh" };
        let all = samples(&s, &doc, "test", 2000);
        assert_eq!(all[0].messages[0].content, "《CCAR-23》第23.2005条（正常类飞机审定）规定了什么？");
        assert_eq!(all[2].messages[0].content, "第23.2005条(a)规定了什么？");
        assert!(all.iter().all(|s| s.split == "test"));
    }

    #[test]
    fn a_record_titled_like_its_section_is_not_named_twice() {
        let s = Section {
            citation: Some("UMR.2265".to_owned()),
            number: Some("UMR.2265".to_owned()),
            title: "特殊安全系数".to_owned(),
            text: "(a) 应当确定特殊安全系数。".to_owned(),
            span: (0, 10),
        };
        let doc =
            DocInfo { id: "UMR.2265", source: "clause_bodies.json#UMR.2265", title: "特殊安全系数", lang: "zh" };
        let all = samples(&s, &doc, "train", 2000);
        assert_eq!(all[0].messages[0].content, "UMR.2265（特殊安全系数）规定了什么？");
        assert_eq!(all.iter().filter(|x| x.kind == "title_to_citation").count(), 0);
    }

    #[test]
    fn paragraphs_are_cited_by_their_whole_path() {
        let s = Section {
            citation: Some("§ 91.501".to_owned()),
            number: Some("91.501".to_owned()),
            title: "Applicability.".to_owned(),
            text: "(a) This subpart applies.\n(b) Operations that may be conducted:\n(1) Ferry flights;\n(2) Training;\n(3) Flights for aircraft demonstration;\n(i) First item;\n(ii) Second item;\n(A) Capital;\n(4) Fourth;\n(c) Last.\n(h) Eighth.\n(i) Ninth letter.".to_owned(),
            span: (0, 400),
        };
        let doc = DocInfo { id: "d", source: "FAR-0091.md", title: "Part 91", lang: "en" };
        let cited: Vec<String> = samples(&s, &doc, "train", 2000)
            .into_iter()
            .filter(|x| x.kind == "text_to_citation")
            .map(|x| x.messages[1].content.clone())
            .collect();
        assert_eq!(
            cited,
            [
                "§ 91.501(a)",
                "§ 91.501(b)",
                "§ 91.501(b)(1)",
                "§ 91.501(b)(2)",
                "§ 91.501(b)(3)",
                "§ 91.501(b)(3)(i)",
                "§ 91.501(b)(3)(ii)",
                "§ 91.501(b)(3)(ii)(A)",
                "§ 91.501(b)(4)",
                "§ 91.501(c)",
                "§ 91.501(h)",
                "§ 91.501(i)",
            ]
        );
    }

    #[test]
    fn a_line_with_several_designations_enters_each() {
        let mut path = ParagraphPath::default();
        for mark in ["b", "3", "i"] {
            path.enter(mark);
        }
        assert_eq!(path.designation(), "(b)(3)(i)");
        path.enter("v");
        assert_eq!(path.designation(), "(v)", "(v) after (i) is the letter v");
    }

    #[test]
    fn ambiguous_and_repeated_questions_do_not_leak_across_splits() {
        let sample = |q: &str, a: &str, split: &str| SftSample {
            messages: chat(q.to_owned(), a.to_owned()),
            kind: "text_to_citation".to_owned(),
            lang: "en".to_owned(),
            split: split.to_owned(),
            provenance: Provenance { doc_id: "d".into(), source: "s".into(), section: a.into(), span: [0, 1] },
        };
        let (kept, dropped) = without_leaks(vec![
            sample("Which provision states: \"Before starting engines;\"?", "§ 91.1(b)(1)", "train"),
            sample("Which provision states: \"Before starting engines;\"?", "§ 135.2(c)(1)", "test"),
            sample("What does § 1.1 state?", "x", "train"),
            sample("What does § 1.1 state?", "x", "test"),
            sample("《标题》中标题为“x”的是哪一条？", "第1条 x", "test"),
        ]);
        assert_eq!(dropped, 3);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].split, "train");
    }

    #[test]
    fn clipping_stops_at_a_boundary() {
        assert_eq!(clip("First paragraph.\n\nSecond paragraph is long.", 30), "First paragraph.");
        assert_eq!(clip("short", 30), "short");
    }
}

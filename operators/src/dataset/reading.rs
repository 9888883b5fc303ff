//! Reading passages: the regulation's own text as training chats, so that a
//! fine-tuned model learns what each provision says and where it stands.
//!
//! Every paragraph is followed by its whole citation (`(b) Ultimate loads …
//! [§ 99.25(b)]`). A model learns associations in the order it reads them;
//! text that only names its section at the top teaches the way from a
//! citation to a requirement but not back, which is what "which provision
//! states …?" asks. The prompt names the section by its title and the
//! passage opens with the citation, for the same reason. A long section is
//! read in several passages that fit a token budget, each after the first
//! naming the paragraph it starts at.

use serde::{Deserialize, Serialize};

use super::sections::Section;
use super::sft::{DocInfo, Provenance, SftSample, body_lines, chat};

/// Which sections are read (`reading` in the dataset's config).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Reading {
    /// No reading passages.
    #[default]
    None,
    /// The sections of the train split only.
    Train,
    /// Every section, whatever its split: the model reads the whole
    /// regulation, and the validation and test questions are never asked
    /// in train in their own words (closed-book recall of what was read).
    All,
}

impl Reading {
    /// The name in a pipeline (`none`, `train`, `all`).
    pub fn name(self) -> &'static str {
        match self {
            Reading::None => "none",
            Reading::Train => "train",
            Reading::All => "all",
        }
    }

    /// Whether a section of `split` is read.
    pub fn reads(self, split: &str) -> bool {
        match self {
            Reading::None => false,
            Reading::Train => split == "train",
            Reading::All => true,
        }
    }
}

/// One passage under construction.
struct Passage {
    lines: Vec<String>,
    tokens: usize,
    /// Citation of the paragraph it starts at (after the first passage).
    from: Option<String>,
    /// Character span in the document.
    span: (usize, usize),
}

/// The reading passages of one section, all in the train split, each at
/// most about `budget` tokens of text (`count` counts them; a single
/// paragraph longer than that stands alone).
pub fn passages(section: &Section, doc: &DocInfo<'_>, budget: usize, count: &dyn Fn(&str) -> usize) -> Vec<SftSample> {
    let zh = doc.lang == "zh";
    let title = section.plain_title().to_owned();
    let heading = match (&section.citation, title.is_empty()) {
        (Some(c), true) => c.clone(),
        (Some(c), false) => format!("{c} {title}"),
        (None, _) => title.clone(),
    };
    let mut done: Vec<Passage> = Vec::new();
    let mut open =
        Passage { tokens: count(&heading), lines: vec![heading], from: None, span: (section.span.0, section.span.0) };
    for line in body_lines(section) {
        if line.text.is_empty() {
            continue;
        }
        let cited = match (&line.paragraph, &section.citation) {
            (Some((designation, _)), Some(citation)) => Some(format!("{citation}{designation}")),
            _ => None,
        };
        let rendered = match &cited {
            Some(cited) => format!("{} [{cited}]", line.text),
            None => line.text.to_owned(),
        };
        let tokens = count(&rendered);
        if open.tokens + tokens > budget && !open.lines.is_empty() && open.span.1 > open.span.0 {
            let next = Passage {
                lines: Vec::new(),
                tokens: 0,
                from: cited.clone().or_else(|| section.citation.clone()),
                span: (line.span.0, line.span.0),
            };
            done.push(std::mem::replace(&mut open, next));
        }
        open.lines.push(rendered);
        open.tokens += tokens;
        open.span.1 = line.span.1;
    }
    if open.span.1 > open.span.0 || done.is_empty() {
        done.push(open);
    }
    let of_doc = doc.title.trim_end_matches(['.', '。']) != title;
    done.into_iter()
        .map(|passage| {
            let named = match (zh, title.is_empty()) {
                (false, false) => format!("the section titled \"{title}\""),
                (false, true) => section.citation.clone().unwrap_or_default(),
                (true, false) => format!("标题为“{title}”的一条"),
                (true, true) => section.citation.clone().unwrap_or_default(),
            };
            let prompt = match (zh, of_doc, &passage.from) {
                (false, true, None) => format!("Read {named} of {}.", doc.title),
                (false, false, None) => format!("Read {named}."),
                (false, true, Some(from)) => format!("Read {named} of {}, from {from} on.", doc.title),
                (false, false, Some(from)) => format!("Read {named}, from {from} on."),
                (true, true, None) => format!("阅读《{}》中{named}。", doc.title),
                (true, false, None) => format!("阅读{named}。"),
                (true, true, Some(from)) => format!("阅读《{}》中{named}，自{from}起。", doc.title),
                (true, false, Some(from)) => format!("阅读{named}，自{from}起。",),
            };
            let section = section.citation.clone().unwrap_or_else(|| title.clone());
            reading_sample(doc, prompt, &passage.lines, section, passage.span)
        })
        .collect()
}

/// A reading passage: always in train, whatever its section's split.
fn reading_sample(
    doc: &DocInfo<'_>,
    prompt: String,
    lines: &[String],
    section: String,
    span: (usize, usize),
) -> SftSample {
    SftSample {
        messages: chat(prompt, lines.join("\n")),
        kind: "reading".to_owned(),
        lang: doc.lang.to_owned(),
        split: "train".to_owned(),
        provenance: Provenance {
            doc_id: doc.id.to_owned(),
            source: doc.source.to_owned(),
            section,
            span: [span.0, span.1],
        },
    }
}

/// The lines of one section for the mixed reading: its title, then every
/// paragraph's text without its designation, each followed by its citation
/// (`Proof of structure [§ 99.25]`, `Ultimate loads are … [§ 99.25(b)]`).
/// A section without a citation has none.
pub fn mixed_lines(section: &Section) -> Vec<String> {
    let Some(citation) = &section.citation else { return Vec::new() };
    let title = section.plain_title();
    let mut out = Vec::new();
    if !title.is_empty() {
        out.push(format!("{title} [{citation}]"));
    }
    for line in body_lines(section) {
        if let Some((designation, rest)) = line.paragraph {
            out.push(format!("{rest} [{citation}{designation}]"));
        }
    }
    out
}

/// One document's mixed lines ([`mixed_lines`] of its sections) in an
/// order drawn from their text, the same on every run, read in passages of
/// at most about `budget` tokens. Read in order, a paragraph's citation
/// follows from the one before it and the model need not learn it; out of
/// order, it must learn which provision says what.
pub fn mixed_passages(
    doc: &DocInfo<'_>,
    mut lines: Vec<String>,
    budget: usize,
    count: &dyn Fn(&str) -> usize,
) -> Vec<SftSample> {
    lines.sort_by_cached_key(|line| *blake3::hash(line.as_bytes()).as_bytes());
    lines.dedup();
    let mut passages: Vec<(Vec<String>, usize)> = Vec::new();
    for line in lines {
        let tokens = count(&line);
        match passages.last_mut() {
            Some((open, used)) if *used + tokens <= budget => {
                open.push(line);
                *used += tokens;
            }
            _ => passages.push((vec![line], tokens)),
        }
    }
    let prompt = if doc.lang == "zh" {
        format!("阅读《{}》的若干条款，不按顺序，每条后注明出处。", doc.title)
    } else {
        format!("Read provisions of {} in no particular order, each followed by where it stands.", doc.title)
    };
    // A mixed passage has no one section or span.
    passages.into_iter().map(|(lines, _)| reading_sample(doc, prompt.clone(), &lines, String::new(), (0, 0))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(lang: &'static str, title: &'static str) -> DocInfo<'static> {
        DocInfo { id: "d1", source: "part99.md", title, lang }
    }

    fn section(citation: &str, title: &str, text: &str) -> Section {
        Section {
            citation: Some(citation.to_owned()),
            number: Some(citation.trim_start_matches("§ ").to_owned()),
            title: title.to_owned(),
            text: text.to_owned(),
            span: (100, 100 + text.chars().count()),
        }
    }

    /// One "token" per word: enough to see where passages are cut.
    fn words(text: &str) -> usize {
        text.split_whitespace().count()
    }

    #[test]
    fn every_paragraph_is_followed_by_its_whole_citation() {
        let text = "(a) General. The structure must hold.\n(b) Loads are:\n(1) Limit loads;\n(2) Ultimate loads.\n";
        let out = passages(&section("§ 99.25", "Loads", text), &doc("en", "14 CFR Part 99"), 1000, &words);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, "reading");
        assert_eq!(out[0].split, "train");
        assert_eq!(out[0].messages[0].content, "Read the section titled \"Loads\" of 14 CFR Part 99.");
        assert_eq!(
            out[0].messages[1].content,
            "§ 99.25 Loads\n(a) General. The structure must hold. [§ 99.25(a)]\n(b) Loads are: [§ 99.25(b)]\n(1) Limit loads; [§ 99.25(b)(1)]\n(2) Ultimate loads. [§ 99.25(b)(2)]"
        );
        assert_eq!(out[0].provenance.span, [100, 100 + text.chars().count()]);
    }

    #[test]
    fn a_long_section_is_read_in_passages_that_say_where_they_start() {
        let text = "(a) one two three four five.\n(b) six seven eight nine ten.\n(c) eleven twelve thirteen.\n";
        let out = passages(&section("§ 99.7", "Records", text), &doc("en", "Part 99"), 12, &words);
        let answers: Vec<&str> = out.iter().map(|s| s.messages[1].content.as_str()).collect();
        assert_eq!(
            answers,
            [
                "§ 99.7 Records\n(a) one two three four five. [§ 99.7(a)]",
                "(b) six seven eight nine ten. [§ 99.7(b)]",
                "(c) eleven twelve thirteen. [§ 99.7(c)]"
            ]
        );
        assert_eq!(out[1].messages[0].content, "Read the section titled \"Records\" of Part 99, from § 99.7(b) on.");
        // The passages cover the section in order, without gaps or overlaps.
        assert_eq!(out[0].provenance.span[0], 100);
        assert_eq!(out[0].provenance.span[1], out[1].provenance.span[0]);
        assert_eq!(out[2].provenance.span[1], 100 + text.chars().count());
    }

    #[test]
    fn chinese_articles_are_cited_in_their_own_form() {
        let text = "(a)储能系统的设计应当保证任何单一失效不会导致热失控。\n(b)应当提供警告。\n";
        let out = passages(&section("第99.51条", "储能系统", text), &doc("zh", "CCAR-99"), 1000, &words);
        assert_eq!(out[0].messages[0].content, "阅读《CCAR-99》中标题为“储能系统”的一条。");
        assert!(
            out[0].messages[1].content.contains("(a)储能系统的设计应当保证任何单一失效不会导致热失控。 [第99.51条(a)]")
        );
        assert!(out[0].messages[1].content.ends_with("(b)应当提供警告。 [第99.51条(b)]"));
    }

    #[test]
    fn two_versions_of_a_section_are_both_read_and_questions_are_still_checked() {
        let old = section("§ 99.7", "Records", "(a) Keep records for 2 years.\n");
        let new = section("§ 99.7", "Records", "(a) Keep records for 3 years.\n");
        let mut samples = passages(&old, &doc("en", "Part 99"), 1000, &words);
        samples.extend(passages(&new, &doc("en", "Part 99"), 1000, &words));
        let mut asked = samples[0].clone();
        asked.kind = "paragraph_text".to_owned();
        asked.messages = chat("What does § 99.7(a) state?".to_owned(), "(a) Keep records for 2 years.".to_owned());
        let mut asked_again = asked.clone();
        asked_again.messages[1].content = "(a) Keep records for 3 years.".to_owned();
        samples.extend([asked, asked_again]);
        let (kept, dropped) = super::super::sft::without_leaks(samples);
        assert_eq!(kept.iter().filter(|s| s.kind == "reading").count(), 2, "both versions are read");
        assert_eq!(dropped, 2, "the question with two answers is dropped, both times");
        assert!(kept.iter().all(|s| s.kind == "reading"));
    }

    #[test]
    fn mixed_lines_carry_their_whole_citation_without_the_designation() {
        let text = "(a) General. The structure must hold.\n(b) Loads are:\n(1) Limit loads;\n";
        let lines = mixed_lines(&section("§ 99.25", "Loads.", text));
        assert_eq!(
            lines,
            [
                "Loads [§ 99.25]",
                "General. The structure must hold. [§ 99.25(a)]",
                "Loads are: [§ 99.25(b)]",
                "Limit loads; [§ 99.25(b)(1)]"
            ]
        );
        let mut uncited = section("§ 99.25", "Loads", text);
        uncited.citation = None;
        assert!(mixed_lines(&uncited).is_empty());
    }

    #[test]
    fn mixed_passages_hold_every_line_once_in_an_order_that_does_not_depend_on_the_input() {
        let lines: Vec<String> = (0..20).map(|i| format!("provision number {i} [§ 99.{i}]")).collect();
        let mut reversed = lines.clone();
        reversed.reverse();
        reversed.push(lines[3].clone());
        let out = mixed_passages(&doc("en", "Part 99"), lines.clone(), 12, &words);
        let again = mixed_passages(&doc("en", "Part 99"), reversed, 12, &words);
        let text = |samples: &[SftSample]| samples.iter().map(|s| s.messages[1].content.clone()).collect::<Vec<_>>();
        assert_eq!(text(&out), text(&again), "the order is drawn from the lines alone; repeats are read once");
        let read: Vec<&str> = out.iter().flat_map(|s| s.messages[1].content.lines()).collect();
        assert_eq!(read.len(), 20);
        assert!(lines.iter().all(|l| read.contains(&l.as_str())));
        assert_ne!(read, lines.iter().map(String::as_str).collect::<Vec<_>>(), "not in the document's order");
        // Four words a line, at most 12 per passage: three lines each.
        assert!(out.iter().all(|s| s.messages[1].content.lines().count() <= 3 && s.kind == "reading"));
        assert_eq!(
            out[0].messages[0].content,
            "Read provisions of Part 99 in no particular order, each followed by where it stands."
        );
        let zh = mixed_passages(&doc("zh", "CCAR-99"), vec!["应当提供警告。 [第99.51条(b)]".to_owned()], 12, &words);
        assert_eq!(zh[0].messages[0].content, "阅读《CCAR-99》的若干条款，不按顺序，每条后注明出处。");
        assert_eq!(zh[0].split, "train");
    }

    #[test]
    fn only_the_chosen_splits_are_read() {
        assert!(!Reading::None.reads("train"));
        assert!(Reading::Train.reads("train") && !Reading::Train.reads("test"));
        assert!(Reading::All.reads("test") && Reading::All.reads("validation"));
    }
}

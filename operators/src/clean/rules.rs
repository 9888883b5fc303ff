//! The cleaning rules, each a small text transformation.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

use crate::lang::is_cjk;

fn regex(pattern: &str) -> Regex {
    // The patterns below are constants; a typo is caught by the unit tests.
    Regex::new(pattern).unwrap_or_else(|e| panic!("invalid built-in pattern {pattern}: {e}"))
}

static TAG: LazyLock<Regex> = LazyLock::new(|| regex(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s+[^<>]*?)?/?>|<!--[\s\S]*?-->"));
static ENTITY: LazyLock<Regex> = LazyLock::new(|| regex(r"&(#x[0-9A-Fa-f]+|#[0-9]+|[A-Za-z]+);"));
static MD_ESCAPE: LazyLock<Regex> = LazyLock::new(|| regex(r"\\([()\[\]*_.#+\-!`{}|>~])"));
static MD_LINK: LazyLock<Regex> = LazyLock::new(|| regex(r"!?\[([^\]\n]*)\]\(([^)\s]*)(?:\s+[^)]*)?\)"));
static WIKI_LINK: LazyLock<Regex> = LazyLock::new(|| regex(r"\[\[(?:[^\]|\n]*\|)?([^\]\n]*)\]\]"));
static EMPHASIS: LazyLock<Regex> = LazyLock::new(|| regex(r"(\*\*|__)(\S(?:[^\n]*?\S)?)(\*\*|__)"));
static PAGE_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)^\s*(?:page\s*)?[-—–―]*\s*\d{1,4}\s*[-—–―]*\s*(?:(?:of|/)\s*\d{1,4})?\s*$|^\s*第\s*\d{1,4}\s*页(?:\s*共\s*\d{1,4}\s*页)?\s*$",
    )
});
static TOC_LINE: LazyLock<Regex> = LazyLock::new(|| regex(r"^.{2,}?(?:\.{4,}|…{2,}|·{4,}|\s\.\s\.\s\.)\s*\d{1,4}\s*$"));
static HYPHEN_BREAK: LazyLock<Regex> = LazyLock::new(|| regex(r"(\p{Ll}{2,})-\n(\p{Ll}+)"));
static EMAIL: LazyLock<Regex> = LazyLock::new(|| regex(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"));
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"(?:\+\d{1,3}[\s-]?)?(?:\(\d{2,4}\)[\s-]?|\d{2,4}[\s-])\d{3,4}[\s-]\d{3,4}\b|\b1[3-9]\d{9}\b")
});
static LIST_MARKER: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"^(?:\(\s*(?:[0-9]{1,3}|[a-z]{1,2}|[ivxlc]{1,6}|[A-Z])\s*\)|（\s*[0-9a-zA-Z一二三四五六七八九十]{1,4}\s*）|[0-9]{1,3}[.)、]\s|[一二三四五六七八九十]+、|第\s*[0-9一二三四五六七八九十百.．]+\s*[条章节款项部分]|[-*•·]\s|§|#|\||[A-Z]章|附件|附录|Appendix|Subpart|PART|Part\s)",
    )
});

/// Removes control characters (keeping newlines and tabs), zero-width
/// characters and byte-order marks.
pub fn control_chars(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        // CRLF and lone CR (old Mac files) both end a line.
        if c == '\r' {
            if chars.peek() != Some(&'\n') {
                out.push('\n');
            }
            continue;
        }
        let invisible = matches!(c, '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}');
        let control = c.is_control() && c != '\n' && c != '\t';
        if !invisible && !control {
            out.push(c);
        }
    }
    out
}

/// Unicode NFKC: full-width digits and letters to ASCII, compatibility
/// forms to their plain equivalents.
pub fn nfkc(text: &str) -> String {
    text.nfkc().collect()
}

fn entity(name: &str) -> Option<String> {
    let named = match name {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        "nbsp" => " ",
        "sect" => "§",
        "ndash" => "–",
        "mdash" => "—",
        "hellip" => "…",
        "rsquo" => "’",
        "lsquo" => "‘",
        "rdquo" => "”",
        "ldquo" => "“",
        "deg" => "°",
        "plusmn" => "±",
        "times" => "×",
        "para" => "¶",
        "middot" => "·",
        _ => "",
    };
    if !named.is_empty() {
        return Some(named.to_owned());
    }
    let code = name
        .strip_prefix("#x")
        .or_else(|| name.strip_prefix("#X"))
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))?;
    char::from_u32(code).map(String::from)
}

/// Strips stray HTML tags and comments and decodes entities.
pub fn html(text: &str) -> String {
    let without_tags = TAG.replace_all(text, "");
    ENTITY
        .replace_all(&without_tags, |caps: &regex::Captures<'_>| entity(&caps[1]).unwrap_or_else(|| caps[0].to_owned()))
        .into_owned()
}

/// Undoes Markdown backslash escapes: `\(a\)` becomes `(a)`.
pub fn markdown_escapes(text: &str) -> String {
    MD_ESCAPE.replace_all(text, "$1").into_owned()
}

/// Markdown links, images and `[[wiki|links]]` keep their text and lose their target.
pub fn links(text: &str) -> String {
    let wiki = WIKI_LINK.replace_all(text, "$1");
    MD_LINK.replace_all(&wiki, "$1").into_owned()
}

/// `**bold**` and `__bold__` lose their markers.
pub fn emphasis(text: &str) -> String {
    EMPHASIS.replace_all(text, "$2").into_owned()
}

/// Drops lines matching any pattern; returns the text and how many went.
pub fn drop_lines(text: &str, patterns: &[Regex]) -> (String, usize) {
    let mut dropped = 0;
    let kept: Vec<&str> = text
        .split('\n')
        .filter(|line| {
            let drop = patterns.iter().any(|p| p.is_match(line));
            dropped += usize::from(drop);
            !drop
        })
        .collect();
    (kept.join("\n"), dropped)
}

fn line_key(line: &str) -> String {
    // Page headers differ only by their page number: compare without digits.
    line.trim().chars().map(|c| if c.is_numeric() { '#' } else { c }).filter(|c| !c.is_whitespace()).collect()
}

/// Removes running headers and footers (lines that open or close many
/// pages, page numbers aside) and lines that are only a page number.
/// `page_starts` are char offsets where each page begins.
pub fn headers_footers(text: &str, page_starts: &[usize], min_pages: usize) -> (String, usize) {
    let chars: Vec<char> = text.chars().collect();
    let mut pages: Vec<Vec<String>> = Vec::new();
    for (i, &start) in page_starts.iter().enumerate() {
        let end = page_starts.get(i + 1).copied().unwrap_or(chars.len()).min(chars.len());
        let start = start.min(end);
        let page: String = chars[start..end].iter().collect();
        // Pages are joined by single newlines so a paragraph may continue
        // across a page break; the blank lines that separated pages go.
        pages.push(page.trim_matches('\n').split('\n').map(str::to_owned).collect());
    }
    if pages.is_empty() {
        pages.push(text.split('\n').map(str::to_owned).collect());
    }
    // Count, per normalised line, how many pages have it in their first or last two lines.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for page in &pages {
        let content: Vec<&String> = page.iter().filter(|l| !l.trim().is_empty()).collect();
        let mut edge: Vec<String> =
            content.iter().take(2).chain(content.iter().rev().take(2)).map(|l| line_key(l)).collect();
        edge.sort();
        edge.dedup();
        for key in edge {
            if !key.is_empty() {
                *counts.entry(key).or_default() += 1;
            }
        }
    }
    let threshold = min_pages.max(pages.len() * 3 / 10).max(2);
    let mut dropped = 0;
    let mut out: Vec<String> = Vec::new();
    for page in pages {
        let content_lines: Vec<usize> =
            page.iter().enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(i, _)| i).collect();
        let edges: Vec<usize> =
            content_lines.iter().take(2).chain(content_lines.iter().rev().take(2)).copied().collect();
        for (i, line) in page.into_iter().enumerate() {
            let repeated = edges.contains(&i) && counts.get(&line_key(&line)).is_some_and(|n| *n >= threshold);
            if repeated || PAGE_NUMBER.is_match(&line) {
                dropped += 1;
                continue;
            }
            out.push(line);
        }
    }
    (out.join("\n"), dropped)
}

/// Drops table-of-contents lines: a title, a dot leader and a page number.
pub fn toc_lines(text: &str) -> (String, usize) {
    let mut dropped = 0;
    let kept: Vec<&str> = text
        .split('\n')
        .filter(|line| {
            let toc = TOC_LINE.is_match(line.trim());
            dropped += usize::from(toc);
            !toc
        })
        .collect();
    (kept.join("\n"), dropped)
}

/// `regu-\nlation` becomes `regulation` (lower-case on both sides only, so
/// `Part 25-\nAirworthiness` keeps its hyphen).
pub fn dehyphenate(text: &str) -> String {
    HYPHEN_BREAK.replace_all(text, "$1$2").into_owned()
}

fn display_width(line: &str) -> usize {
    line.chars().map(|c| if is_cjk(c) { 2 } else { 1 }).sum()
}

fn ends_sentence(line: &str) -> bool {
    line.trim_end()
        .chars()
        .last()
        .is_some_and(|c| matches!(c, '。' | '！' | '？' | '；' | '：' | '.' | '!' | '?' | ';' | ':' | '」' | '”'))
}

fn structural(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with("```") || LIST_MARKER.is_match(t)
}

/// Joins lines that a page layout split: within a paragraph, a long line
/// that does not end a sentence continues on the next line unless that line
/// starts a clause, list item, heading or table row. CJK text joins without
/// a space.
pub fn join_lines(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut widths: Vec<usize> = lines.iter().map(|l| display_width(l.trim())).filter(|w| *w > 0).collect();
    widths.sort_unstable();
    // A line at least this wide ran to the right margin.
    let full = widths.get(widths.len() * 8 / 10).copied().unwrap_or(0) * 7 / 10;
    let mut out = String::with_capacity(text.len());
    let mut fence = false;
    let mut continuation = false;
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("```") {
            fence = !fence;
        }
        // A continued line's leading spaces are layout, not content.
        out.push_str(if continuation { line.trim_start() } else { line });
        let Some(next) = lines.get(i + 1) else { break };
        continuation = !fence
            && !line.trim().is_empty()
            && !next.trim().is_empty()
            && !line.trim_start().starts_with('#')
            && !line.trim_start().starts_with('|')
            && display_width(line.trim()) >= full
            && !ends_sentence(line)
            && !structural(next);
        if !continuation {
            out.push('\n');
            continue;
        }
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        let last = out.chars().last();
        let first = next.trim_start().chars().next();
        // `2014-` + `0169` is one token split at its hyphen.
        let split_token = last == Some('-') && first.is_some_and(|c| c.is_ascii_digit());
        if !(split_token || last.is_some_and(is_cjk) || first.is_some_and(is_cjk)) {
            out.push(' ');
        }
    }
    out
}

/// Trims line ends, collapses runs of spaces and blank lines.
pub fn whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.split('\n') {
        let collapsed: String = {
            let mut s = String::with_capacity(line.len());
            let mut space = false;
            for c in line.trim().chars() {
                if c == ' ' || c == '\t' || c == '\u{3000}' || c == '\u{a0}' {
                    space = true;
                } else {
                    if space && !s.is_empty() {
                        s.push(' ');
                    }
                    space = false;
                    s.push(c);
                }
            }
            s
        };
        if collapsed.is_empty() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if blank_run > 0 {
                out.push('\n');
            }
        }
        blank_run = 0;
        // Markdown indentation of nested lists is meaningful: keep two-space steps.
        let indent = line.len() - line.trim_start().len();
        if indent >= 2 && (collapsed.starts_with("- ") || collapsed.starts_with("* ")) {
            out.push_str(&" ".repeat(indent.min(8) / 2 * 2));
        }
        out.push_str(&collapsed);
    }
    out
}

/// Removes single spaces between two CJK characters (`正常 类` → `正常类`),
/// which layout and extraction insert but Chinese does not use.
pub fn cjk_spaces(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' && i > 0 && i + 1 < chars.len() && is_cjk(chars[i - 1]) && is_cjk(chars[i + 1]) {
            continue;
        }
        out.push(c);
    }
    out
}

/// Masks e-mail addresses and phone numbers.
pub fn pii(text: &str) -> (String, usize) {
    let mut found = EMAIL.find_iter(text).count();
    let masked = EMAIL.replace_all(text, "[EMAIL]");
    found += PHONE.find_iter(&masked).count();
    (PHONE.replace_all(&masked, "[PHONE]").into_owned(), found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ends_are_normalised_and_invisible_characters_dropped() {
        assert_eq!(control_chars("a\r\nb\rc\u{0007}\u{200B}d\te"), "a\nb\ncd\te");
    }

    #[test]
    fn nfkc_turns_full_width_digits_ascii() {
        assert_eq!(nfkc("第２３．２００５条"), "第23.2005条");
    }

    #[test]
    fn html_tags_go_and_entities_decode() {
        assert_eq!(
            html("<div>\n\n§ 25.1&nbsp;Applicability &amp; scope</div><!-- x -->"),
            "\n\n§ 25.1 Applicability & scope"
        );
        assert_eq!(html("if a < b and c > d"), "if a < b and c > d", "comparisons are not tags");
    }

    #[test]
    fn markdown_noise_is_removed() {
        assert_eq!(markdown_escapes(r"\(a\) Each \[item\]"), "(a) Each [item]");
        assert_eq!(links("[Link to 86 FR 4381](https://ecfr.gov/x?a=1)"), "Link to 86 FR 4381");
        assert_eq!(
            links("see [[FAR-0021#§21.191 Experimental.|§21.191]] and [[FAR-0107]]"),
            "see §21.191 and FAR-0107"
        );
        assert_eq!(emphasis("**55 min read** and __this__"), "55 min read and this");
    }

    #[test]
    fn running_headers_and_page_numbers_are_removed() {
        let pages = [
            "CCAR-23 正常类飞机\n第一页正文\n— 1 —",
            "CCAR-23 正常类飞机\n第二页正文\n— 2 —",
            "CCAR-23 正常类飞机\n第三页正文\n— 3 —",
        ];
        let mut text = String::new();
        let mut starts = Vec::new();
        for p in pages {
            if !text.is_empty() {
                text.push('\n');
            }
            starts.push(text.chars().count());
            text.push_str(p);
        }
        let (cleaned, dropped) = headers_footers(&text, &starts, 3);
        assert_eq!(cleaned, "第一页正文\n第二页正文\n第三页正文");
        assert_eq!(dropped, 6);
    }

    #[test]
    fn layout_split_lines_are_joined_but_clauses_are_not() {
        let text = "(a) Each applicant for a type certificate must show that the airplane\nmeets the applicable requirements of this part (EU) 2014-\n0169.\n(b) Short line.\n第23.2005条 正常类飞机审定\n（一）申请人必须表明符合本部适用的要求，飞机的设计应当保证\n其安全。";
        assert_eq!(
            join_lines(text),
            "(a) Each applicant for a type certificate must show that the airplane meets the applicable requirements of this part (EU) 2014-0169.\n(b) Short line.\n第23.2005条 正常类飞机审定\n（一）申请人必须表明符合本部适用的要求，飞机的设计应当保证其安全。"
        );
    }

    #[test]
    fn hyphenation_whitespace_and_cjk_spaces() {
        assert_eq!(
            dehyphenate("the regu-\nlation and Part 25-\nAirworthiness"),
            "the regulation and Part 25-\nAirworthiness"
        );
        assert_eq!(whitespace("  a   b  \n\n\n\nc\t d  "), "a b\n\nc d");
        assert_eq!(cjk_spaces("正常 类 飞机 Part 25 规定"), "正常类飞机 Part 25 规定");
    }

    #[test]
    fn toc_lines_go() {
        let (text, dropped) =
            toc_lines("目录\n第23.2000条 适用范围及定义..........7\n§ 25.1 Applicability … … 12\n(a) Body text.");
        assert_eq!(text, "目录\n§ 25.1 Applicability … … 12\n(a) Body text.");
        assert_eq!(dropped, 1);
        let (_, dropped) = toc_lines("Part 25 ........................ 3");
        assert_eq!(dropped, 1);
    }

    #[test]
    fn pii_is_masked() {
        let (masked, found) = pii("Contact ad.info@easa.europa.eu or +49 221 8999 000, 手机 13812345678.");
        assert_eq!(masked, "Contact [EMAIL] or [PHONE], 手机 [PHONE].");
        assert_eq!(found, 3);
    }

    #[test]
    fn page_number_lines() {
        for line in ["12", "- 3 -", "— 12 —", "Page 4 of 10", "第 5 页", "3/10"] {
            assert!(PAGE_NUMBER.is_match(line), "{line}");
        }
        for line in ["§ 25.1309", "(12) Flaps", "1965 amendment"] {
            assert!(!PAGE_NUMBER.is_match(line), "{line}");
        }
    }
}

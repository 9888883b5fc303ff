//! XML to Markdown: heading elements (eCFR `HEAD`, `HD`, `TITLE`, …)
//! become headings ranked by how deeply their divisions nest, paragraph
//! elements become paragraphs, table rows become table rows.

use quick_xml::Reader;
use quick_xml::events::Event;

use super::markdown_builder::MarkdownBuilder;

fn local(name: &[u8]) -> String {
    let name = name.rsplit(|b| *b == b':').next().unwrap_or(name);
    String::from_utf8_lossy(name).to_ascii_lowercase()
}

fn is_heading(name: &str) -> bool {
    matches!(name, "head" | "hd" | "title" | "heading" | "subject" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
}

fn is_division(name: &str) -> bool {
    name.starts_with("div")
        || matches!(name, "section" | "part" | "subpart" | "chapter" | "subchapter" | "article" | "appendix")
}

fn is_block(name: &str) -> bool {
    matches!(
        name,
        "p" | "fp"
            | "para"
            | "paragraph"
            | "note"
            | "extract"
            | "li"
            | "item"
            | "cita"
            | "auth"
            | "source"
            | "ftnt"
            | "sectno"
            | "psec"
            | "sig"
            | "hed"
            | "pspace"
    ) || is_division(name)
}

/// One heading found while reading, ranked later.
struct Heading {
    depth: usize,
    text: String,
}

enum Piece {
    Heading(usize),
    Paragraph(String),
    Row(Vec<String>),
}

/// Converts an XML document; returns the first heading as title and the Markdown.
///
/// # Errors
/// When the XML is malformed.
pub fn to_markdown(xml: &str) -> Result<(Option<String>, String), String> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<String> = Vec::new();
    let mut pieces: Vec<Piece> = Vec::new();
    let mut headings: Vec<Heading> = Vec::new();
    let mut current = String::new();
    let mut row: Option<Vec<String>> = None;
    let mut cell: Option<String> = None;
    let flush = |current: &mut String, pieces: &mut Vec<Piece>| {
        let text = current.split_whitespace().collect::<Vec<_>>().join(" ");
        current.clear();
        if !text.is_empty() {
            pieces.push(Piece::Paragraph(text));
        }
    };
    loop {
        match reader.read_event() {
            Err(e) => {
                return Err(format!("malformed XML at byte {}: {e}", reader.error_position()));
            }
            Ok(Event::Eof) => break,
            Ok(Event::Start(start)) => {
                let name = local(start.name().as_ref());
                if name == "row" || name == "tr" {
                    flush(&mut current, &mut pieces);
                    row = Some(Vec::new());
                } else if row.is_some() && matches!(name.as_str(), "ent" | "td" | "th" | "cell") {
                    cell = Some(String::new());
                } else if is_heading(&name) || is_block(&name) {
                    flush(&mut current, &mut pieces);
                }
                stack.push(name);
            }
            Ok(Event::End(_)) => {
                let Some(name) = stack.pop() else { continue };
                if name == "row" || name == "tr" {
                    if let Some(cells) = row.take() {
                        pieces.push(Piece::Row(cells));
                    }
                } else if matches!(name.as_str(), "ent" | "td" | "th" | "cell") {
                    if let (Some(text), Some(cells)) = (cell.take(), row.as_mut()) {
                        cells.push(text.split_whitespace().collect::<Vec<_>>().join(" "));
                    }
                } else if is_heading(&name) {
                    let text = current.split_whitespace().collect::<Vec<_>>().join(" ");
                    current.clear();
                    if !text.is_empty() {
                        let depth = stack.iter().filter(|n| is_division(n)).count();
                        pieces.push(Piece::Heading(headings.len()));
                        headings.push(Heading { depth, text });
                    }
                } else if is_block(&name) {
                    flush(&mut current, &mut pieces);
                }
            }
            Ok(Event::Empty(empty)) => {
                let name = local(empty.name().as_ref());
                if name == "br" || name == "lb" {
                    current.push(' ');
                }
            }
            Ok(Event::Text(text)) => {
                let decoded = text.decode().map_err(|e| format!("bad text in XML: {e}"))?;
                let unescaped = quick_xml::escape::unescape(&decoded)
                    .map(|c| c.into_owned())
                    .unwrap_or_else(|_| decoded.into_owned());
                match cell.as_mut() {
                    Some(c) => c.push_str(&unescaped),
                    None => current.push_str(&unescaped),
                }
            }
            Ok(Event::CData(data)) => current.push_str(&String::from_utf8_lossy(&data)),
            Ok(Event::GeneralRef(entity)) => {
                let name = String::from_utf8_lossy(&entity);
                let text = match name.as_ref() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    "sect" => "§",
                    "ndash" => "–",
                    "mdash" => "—",
                    "nbsp" => " ",
                    _ => "",
                };
                let text = if text.is_empty() {
                    name.strip_prefix("#x")
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                        .and_then(char::from_u32)
                        .map(String::from)
                        .unwrap_or_default()
                } else {
                    text.to_owned()
                };
                match cell.as_mut() {
                    Some(c) => c.push_str(&text),
                    None => current.push_str(&text),
                }
            }
            Ok(_) => {}
        }
    }
    flush(&mut current, &mut pieces);

    let min_depth = headings.iter().map(|h| h.depth).min().unwrap_or(0);
    let mut md = MarkdownBuilder::new();
    let mut in_table = false;
    for piece in pieces {
        if !matches!(piece, Piece::Row(_)) && in_table {
            md.end_table();
            in_table = false;
        }
        match piece {
            Piece::Heading(i) => {
                let h = &headings[i];
                md.heading(h.depth - min_depth + 1);
                md.text(&h.text);
                md.end_block();
            }
            Piece::Paragraph(text) => {
                md.text(&text);
                md.end_block();
            }
            Piece::Row(cells) => {
                if !in_table {
                    md.start_table();
                    in_table = true;
                }
                md.table_row(cells);
            }
        }
    }
    let title = headings.first().map(|h| h.text.clone());
    Ok((title, md.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecfr_divisions_rank_headings() {
        let xml = r#"<?xml version="1.0"?>
<DIV5 N="135" TYPE="PART"><HEAD>PART 135&#x2014;OPERATING REQUIREMENTS</HEAD>
<DIV6 N="A" TYPE="SUBPART"><HEAD>Subpart A&#x2014;General</HEAD>
<DIV8 N="135.1" TYPE="SECTION"><HEAD>&#xA7; 135.1 Applicability.</HEAD>
<P>(a) This part prescribes rules governing&#x2014;</P>
<P>(1) The <I>commuter</I> operations.</P>
<GPOTABLE><ROW><ENT>Item</ENT><ENT>Value</ENT></ROW><ROW><ENT>a</ENT><ENT>1 &amp; 2</ENT></ROW></GPOTABLE>
</DIV8></DIV6></DIV5>"#;
        let (title, md) = to_markdown(xml).expect("valid");
        assert_eq!(title.as_deref(), Some("PART 135—OPERATING REQUIREMENTS"));
        assert_eq!(
            md,
            "# PART 135—OPERATING REQUIREMENTS\n\n## Subpart A—General\n\n### § 135.1 Applicability.\n\n(a) This part prescribes rules governing—\n\n(1) The commuter operations.\n\n| Item | Value |\n| --- | --- |\n| a | 1 & 2 |"
        );
    }

    #[test]
    fn malformed_xml_is_an_error() {
        assert!(to_markdown("<a><b></a>").is_err());
    }
}

//! DOCX: paragraphs, heading styles, list items and tables from
//! `word/document.xml`, the title from `docProps/core.xml`.

use std::collections::HashMap;
use std::io::{Cursor, Read};

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::markdown_builder::MarkdownBuilder;

/// How far a DOCX may unpack: a zip bomb of a few KiB must not become
/// gigabytes of XML in memory.
#[derive(Debug, Clone, Copy)]
pub struct UnpackLimits {
    /// Bytes all parts read may unpack to together.
    pub max_bytes: u64,
    /// Unpacked bytes per compressed byte, for parts over [`RATIO_FLOOR`].
    pub max_ratio: f64,
}

/// Parts smaller than this are not held to the ratio (tiny XML compresses very well).
const RATIO_FLOOR: u64 = 1 << 20;

/// Reads a part, within `limits` and the `budget` left of them; `Ok(None)`
/// when the archive has no such part.
fn read_part(
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
    limits: &UnpackLimits,
    budget: &mut u64,
) -> Result<Option<String>, String> {
    let Ok(file) = archive.by_name(name) else { return Ok(None) };
    let compressed = file.compressed_size().max(1);
    let mut bytes = Vec::new();
    // Read one byte past the budget: the declared sizes may lie.
    file.take(budget.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| format!("cannot unpack {name}: {e}"))?;
    let unpacked = bytes.len() as u64;
    if unpacked > *budget {
        return Err(format!(
            "{name} unpacks to more than {} bytes (max_unpacked_bytes); a zip bomb, or raise the limit",
            limits.max_bytes
        ));
    }
    if unpacked > RATIO_FLOOR && unpacked as f64 > compressed as f64 * limits.max_ratio {
        return Err(format!(
            "{name} unpacks {:.0} times its compressed size, over max_unpack_ratio {}; a zip bomb, or raise the limit",
            unpacked as f64 / compressed as f64,
            limits.max_ratio
        ));
    }
    *budget -= unpacked;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

fn attribute(start: &BytesStart<'_>, key: &[u8]) -> Option<String> {
    start
        .attributes()
        .flatten()
        .find(|a| a.key.as_ref() == key || a.key.local_name().as_ref() == key)
        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
}

/// Heading level of each paragraph style id, from `word/styles.xml`
/// (`heading 1` → 1, `Title` → 1), whatever the document's language.
fn heading_styles(styles: &str) -> HashMap<String, usize> {
    let mut levels = HashMap::new();
    let mut reader = Reader::from_str(styles);
    let mut current: Option<String> = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(s)) | Ok(Event::Empty(s)) => match s.local_name().as_ref() {
                b"style" => current = attribute(&s, b"styleId"),
                b"name" => {
                    if let (Some(id), Some(name)) = (&current, attribute(&s, b"val")) {
                        let name = name.to_ascii_lowercase();
                        if name == "title" {
                            levels.insert(id.clone(), 1);
                        } else if let Some(n) =
                            name.strip_prefix("heading ").and_then(|n| n.trim().parse::<usize>().ok())
                        {
                            levels.insert(id.clone(), n);
                        }
                    }
                }
                b"outlineLvl" => {
                    if let (Some(id), Some(level)) =
                        (&current, attribute(&s, b"val").and_then(|v| v.parse::<usize>().ok()))
                    {
                        levels.entry(id.clone()).or_insert(level + 1);
                    }
                }
                _ => {}
            },
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    levels
}

/// Converts a DOCX file; returns its title and the Markdown.
///
/// # Errors
/// When the file is not a DOCX (ZIP) archive or has no document part.
pub fn to_markdown(bytes: &[u8], limits: &UnpackLimits) -> Result<(Option<String>, String), String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("not a DOCX (ZIP) file: {e}"))?;
    let mut budget = limits.max_bytes;
    let document = read_part(&mut archive, "word/document.xml", limits, &mut budget)?
        .ok_or_else(|| "the DOCX file has no word/document.xml".to_owned())?;
    let styles = read_part(&mut archive, "word/styles.xml", limits, &mut budget)?
        .map(|s| heading_styles(&s))
        .unwrap_or_default();
    let title = read_part(&mut archive, "docProps/core.xml", limits, &mut budget)?.and_then(|core| {
        let start = core.find("<dc:title>")? + "<dc:title>".len();
        let end = core[start..].find("</dc:title>")? + start;
        Some(core[start..end].trim().to_owned()).filter(|t| !t.is_empty())
    });

    let mut md = MarkdownBuilder::new();
    let mut reader = Reader::from_str(&document);
    let mut in_text = false;
    let mut paragraph = String::new();
    let mut heading: Option<usize> = None;
    let mut list_level: Option<usize> = None;
    let mut table_depth = 0;
    let mut row: Vec<String> = Vec::new();
    let mut cell = String::new();
    loop {
        match reader.read_event() {
            Err(e) => return Err(format!("malformed word/document.xml: {e}")),
            Ok(Event::Eof) => break,
            Ok(Event::Start(s)) | Ok(Event::Empty(s)) => match s.local_name().as_ref() {
                b"t" => in_text = true,
                b"tab" => paragraph.push(' '),
                b"br" | b"cr" => paragraph.push('\n'),
                b"pStyle" => {
                    heading = attribute(&s, b"val").and_then(|id| {
                        styles.get(&id).copied().or_else(|| id.strip_prefix("Heading").and_then(|n| n.parse().ok()))
                    });
                }
                b"ilvl" => list_level = attribute(&s, b"val").and_then(|v| v.parse().ok()).or(Some(0)),
                b"numPr" => list_level = list_level.or(Some(0)),
                b"tbl" => {
                    if table_depth == 0 {
                        md.start_table();
                    }
                    table_depth += 1;
                }
                b"tr" => row.clear(),
                b"tc" => cell.clear(),
                _ => {}
            },
            Ok(Event::End(e)) => match e.local_name().as_ref() {
                b"t" => in_text = false,
                b"p" => {
                    let text = std::mem::take(&mut paragraph);
                    if table_depth > 0 {
                        if !cell.is_empty() {
                            cell.push(' ');
                        }
                        cell.push_str(text.trim());
                    } else {
                        match (heading, list_level) {
                            (Some(level), _) => md.heading(level),
                            (None, Some(depth)) => md.list_item(depth, None),
                            (None, None) => {}
                        }
                        for (i, line) in text.split('\n').enumerate() {
                            if i > 0 {
                                md.line_break();
                            }
                            md.text(line);
                        }
                        md.end_block();
                    }
                    heading = None;
                    list_level = None;
                }
                b"tc" => row.push(std::mem::take(&mut cell)),
                b"tr" => md.table_row(std::mem::take(&mut row)),
                b"tbl" => {
                    table_depth -= 1;
                    if table_depth == 0 {
                        md.end_table();
                    }
                }
                _ => {}
            },
            Ok(Event::Text(t)) if in_text => {
                if let Ok(text) = t.decode() {
                    paragraph.push_str(
                        &quick_xml::escape::unescape(&text)
                            .map(|c| c.into_owned())
                            .unwrap_or_else(|_| text.into_owned()),
                    );
                }
            }
            Ok(Event::GeneralRef(r)) if in_text => {
                let name: &[u8] = &r;
                let text = match name {
                    b"amp" => "&",
                    b"lt" => "<",
                    b"gt" => ">",
                    b"quot" => "\"",
                    b"apos" => "'",
                    _ => "",
                };
                paragraph.push_str(text);
            }
            Ok(_) => {}
        }
    }
    let text = md.finish();
    if text.trim().is_empty() {
        return Err("the DOCX document has no text".to_owned());
    }
    Ok((title, text))
}

//! A small PDF writer: text pages with a running header and a page-number
//! footer, Helvetica for Latin text and a non-embedded Adobe-GB1 CID font
//! (UCS-2 codes plus a ToUnicode map) for Chinese.

use std::collections::BTreeSet;
use std::fmt::Write as _;

const PAGE_WIDTH: f32 = 595.0;
const PAGE_HEIGHT: f32 = 842.0;
const MARGIN: f32 = 72.0;

/// A line of the document before wrapping.
pub struct Block {
    pub text: String,
    pub size: f32,
    /// Blank space before the block, in points.
    pub space_before: f32,
}

impl Block {
    pub fn heading(text: impl Into<String>) -> Self {
        Self { text: text.into(), size: 13.0, space_before: 10.0 }
    }

    pub fn body(text: impl Into<String>) -> Self {
        Self { text: text.into(), size: 10.5, space_before: 4.0 }
    }
}

fn is_wide(c: char) -> bool {
    !c.is_ascii()
}

fn width(text: &str, size: f32) -> f32 {
    text.chars().map(|c| if is_wide(c) { size } else { size * 0.52 }).sum()
}

/// Wraps a block into lines that fit the text width: at spaces for Latin
/// text, anywhere for CJK.
fn wrap(text: &str, size: f32) -> Vec<String> {
    let max = PAGE_WIDTH - 2.0 * MARGIN;
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut word = String::new();
    let flush_word = |line: &mut String, word: &mut String, lines: &mut Vec<String>| {
        if word.is_empty() {
            return;
        }
        let candidate = if line.is_empty() { word.clone() } else { format!("{line} {word}") };
        if width(&candidate, size) > max && !line.is_empty() {
            lines.push(std::mem::take(line));
            *line = word.clone();
        } else {
            *line = candidate;
        }
        word.clear();
    };
    for c in text.chars() {
        if c == ' ' {
            flush_word(&mut line, &mut word, &mut lines);
        } else if is_wide(c) {
            flush_word(&mut line, &mut word, &mut lines);
            if width(&line, size) + size > max {
                lines.push(std::mem::take(&mut line));
            }
            line.push(c);
        } else {
            word.push(c);
        }
    }
    flush_word(&mut line, &mut word, &mut lines);
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn latin_string(text: &str) -> String {
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(text);
    let mut out = String::from("(");
    for &b in bytes.iter() {
        match b {
            b'(' | b')' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:03o}");
            }
        }
    }
    out.push(')');
    out
}

fn ucs2_string(text: &str) -> String {
    let mut out = String::from("<");
    for unit in text.encode_utf16() {
        let _ = write!(out, "{unit:04X}");
    }
    out.push('>');
    out
}

/// Writes a PDF of `blocks` with `header` on every page.
pub fn write(title: &str, header: &str, blocks: &[Block], cjk: bool) -> Vec<u8> {
    // Lay out pages.
    let mut pages: Vec<String> = Vec::new();
    let mut content = String::new();
    let mut y = PAGE_HEIGHT - MARGIN;
    let show = |content: &mut String, text: &str, size: f32, x: f32, y: f32| {
        let encoded = if cjk { ucs2_string(text) } else { latin_string(text) };
        let _ = writeln!(content, "BT /F1 {size} Tf 1 0 0 1 {x:.2} {y:.2} Tm {encoded} Tj ET");
    };
    let mut page_number = 0;
    let start_page = |content: &mut String, y: &mut f32, page_number: &mut usize| {
        *page_number += 1;
        show(content, header, 8.0, MARGIN, PAGE_HEIGHT - 40.0);
        let footer = format!("— {page_number} —");
        let x = PAGE_WIDTH / 2.0 - width(&footer, 8.0) / 2.0;
        show(content, &footer, 8.0, x, 36.0);
        *y = PAGE_HEIGHT - MARGIN;
    };
    start_page(&mut content, &mut y, &mut page_number);
    for block in blocks {
        let lines = wrap(&block.text, block.size);
        y -= block.space_before;
        for line in lines {
            let leading = block.size * 1.45;
            if y - leading < MARGIN {
                pages.push(std::mem::take(&mut content));
                start_page(&mut content, &mut y, &mut page_number);
            }
            y -= leading;
            show(&mut content, &line, block.size, MARGIN, y);
        }
    }
    pages.push(content);

    // Objects: 1 catalog, 2 pages, 3 font, 4 info, 5.. font parts, then page + content pairs.
    let mut objects: Vec<String> = Vec::new();
    let first_page = if cjk { 8 } else { 5 };
    let kids: Vec<String> = (0..pages.len()).map(|i| format!("{} 0 R", first_page + 2 * i)).collect();
    objects.push("<< /Type /Catalog /Pages 2 0 R >>".to_owned());
    objects.push(format!("<< /Type /Pages /Kids [{}] /Count {} >>", kids.join(" "), pages.len()));
    if cjk {
        objects.push("<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-H /DescendantFonts [5 0 R] /ToUnicode 7 0 R >>".to_owned());
    } else {
        objects.push("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_owned());
    }
    objects.push(format!(
        "<< /Title {} /Producer (Hangar example generator) >>",
        if cjk { ucs2_bom_string(title) } else { latin_string(title) }
    ));
    if cjk {
        objects.push("<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light /CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 4 >> /FontDescriptor 6 0 R /DW 1000 >>".to_owned());
        objects.push("<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 /FontBBox [-25 -254 1000 880] /ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 880 /StemV 93 >>".to_owned());
        let used: BTreeSet<u16> = pages.iter().flat_map(|p| hex_units(p)).collect();
        let cmap = to_unicode(&used);
        objects.push(format!("<< /Length {} >>\nstream\n{cmap}\nendstream", cmap.len() + 1));
    }
    for (i, page) in pages.iter().enumerate() {
        let content_id = first_page + 2 * i + 1;
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] /Resources << /Font << /F1 3 0 R >> >> /Contents {content_id} 0 R >>"
        ));
        objects.push(format!("<< /Length {} >>\nstream\n{page}endstream", page.len()));
    }
    let mut out = Vec::new();
    out.extend_from_slice(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n");
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        let _ = writeln!(table, "{offset:010} 00000 n ");
    }
    let _ =
        write!(table, "trailer\n<< /Size {} /Root 1 0 R /Info 4 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1);
    out.extend_from_slice(table.as_bytes());
    out
}

fn ucs2_bom_string(text: &str) -> String {
    let mut out = String::from("<FEFF");
    for unit in text.encode_utf16() {
        let _ = write!(out, "{unit:04X}");
    }
    out.push('>');
    out
}

/// The UTF-16 units of every hex string in a content stream.
fn hex_units(content: &str) -> Vec<u16> {
    let mut units = Vec::new();
    for part in content.split('<').skip(1) {
        let hex = part.split('>').next().unwrap_or_default();
        for chunk in hex.as_bytes().chunks(4) {
            if let Ok(unit) = u16::from_str_radix(std::str::from_utf8(chunk).unwrap_or("0"), 16) {
                units.push(unit);
            }
        }
    }
    units
}

fn to_unicode(used: &BTreeSet<u16>) -> String {
    let mut cmap = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    let codes: Vec<&u16> = used.iter().collect();
    for chunk in codes.chunks(100) {
        let _ = writeln!(cmap, "{} beginbfchar", chunk.len());
        for code in chunk {
            let _ = writeln!(cmap, "<{code:04X}> <{code:04X}>");
        }
        cmap.push_str("endbfchar\n");
    }
    cmap.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend");
    cmap
}

/// Not a PDF at all past its first line: for the rejection path.
pub fn broken() -> Vec<u8> {
    let mut out = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R\n".to_vec();
    out.extend(std::iter::repeat_n(0x9d_u8, 200));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_latin_at_spaces_and_cjk_anywhere() {
        let long = "word ".repeat(60);
        let lines = wrap(long.trim(), 10.5);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| !l.starts_with(' ') && !l.ends_with(' ')));
        let zh = "储能系统".repeat(30);
        let lines = wrap(&zh, 10.5);
        assert_eq!(lines.concat(), zh);
    }

    #[test]
    fn cross_reference_offsets_point_at_objects() {
        let pdf = write("T", "H", &[Block::body("Hello (world)")], false);
        let find = |needle: &[u8]| pdf.windows(needle.len()).rposition(|w| w == needle).expect("present");
        let after = find(b"startxref\n") + b"startxref\n".len();
        let start: usize = std::str::from_utf8(&pdf[after..])
            .ok()
            .and_then(|s| s.lines().next())
            .and_then(|s| s.parse().ok())
            .expect("startxref");
        assert!(pdf[start..].starts_with(b"xref"));
        let table = std::str::from_utf8(&pdf[start..]).expect("ascii table");
        let first: usize = table.lines().nth(3).and_then(|l| l[..10].parse().ok()).expect("offset");
        assert!(pdf[first..].starts_with(b"1 0 obj"));
    }
}

//! Fonts as text extraction needs them: how bytes split into codes, what
//! text each code stands for, and how wide each glyph is.

use std::collections::HashMap;

use lopdf::{Dictionary, Document, Object};

use super::cmap::{ToUnicode, utf16be};
use super::encoding::{BaseEncoding, ByteTable, glyph_text};

/// Width assumed for glyphs of fonts that declare none (the standard 14).
const DEFAULT_WIDTH: f32 = 500.0;

#[derive(Debug, Clone)]
enum Widths {
    Simple { first: u32, widths: Vec<f32>, missing: f32 },
    Cid { default: f32, widths: HashMap<u32, f32> },
}

/// One decoded glyph.
#[derive(Debug, Clone, Copy)]
pub struct Glyph<'a> {
    pub text: &'a str,
    /// Advance width in thousandths of the font size.
    pub width: f32,
    /// A one-byte code 32, to which word spacing applies.
    pub word_space: bool,
    /// Whether the code had a known meaning.
    pub mapped: bool,
}

/// A font resource.
#[derive(Debug, Clone)]
pub struct Font {
    composite: bool,
    to_unicode: Option<ToUnicode>,
    /// Simple fonts: text of each byte.
    table: Vec<Option<String>>,
    /// Composite fonts with a predefined Unicode CMap (`UniGB-UCS2-H`...):
    /// the codes are UTF-16 themselves.
    unicode_codes: bool,
    code_space: Vec<(u8, u32, u32)>,
    widths: Widths,
    /// Glyph space to text space (1/1000 except for Type3 fonts).
    scale: f32,
}

fn deref<'a>(doc: &'a Document, object: &'a Object) -> &'a Object {
    doc.dereference(object).map(|(_, o)| o).unwrap_or(object)
}

fn get<'a>(doc: &'a Document, dict: &'a Dictionary, key: &[u8]) -> Option<&'a Object> {
    dict.get(key).ok().map(|o| deref(doc, o))
}

fn number(object: &Object) -> Option<f32> {
    object.as_float().ok()
}

/// A stream's decoded bytes, or its raw bytes when it has no filter we know.
pub fn stream_bytes(stream: &lopdf::Stream) -> Vec<u8> {
    stream.decompressed_content().unwrap_or_else(|_| stream.content.clone())
}

impl Font {
    /// Reads a font dictionary; anything unreadable degrades to defaults.
    pub fn load(doc: &Document, dict: &Dictionary) -> Font {
        let subtype = get(doc, dict, b"Subtype").and_then(|o| o.as_name().ok()).unwrap_or(b"");
        let composite = subtype == b"Type0";
        let to_unicode = get(doc, dict, b"ToUnicode")
            .and_then(|o| o.as_stream().ok())
            .map(|s| ToUnicode::parse(&stream_bytes(s)))
            .filter(|m| !m.is_empty());
        let scale = if subtype == b"Type3" {
            get(doc, dict, b"FontMatrix")
                .and_then(|o| o.as_array().ok())
                .and_then(|a| a.first())
                .and_then(number)
                .map(|s| s * 1000.0)
                .unwrap_or(1.0)
        } else {
            1.0
        };
        if composite {
            Self::load_composite(doc, dict, to_unicode, scale)
        } else {
            Self::load_simple(doc, dict, to_unicode, scale)
        }
    }

    fn load_simple(doc: &Document, dict: &Dictionary, to_unicode: Option<ToUnicode>, scale: f32) -> Font {
        let subtype = get(doc, dict, b"Subtype").and_then(|o| o.as_name().ok()).unwrap_or(b"");
        // Without an /Encoding, Type1 fonts use StandardEncoding; TrueType
        // fonts in practice follow WinAnsi.
        let default_base =
            if subtype == b"Type1" || subtype == b"MMType1" { BaseEncoding::Standard } else { BaseEncoding::WinAnsi };
        let mut base = default_base;
        let mut differences: Vec<(u8, String)> = Vec::new();
        match get(doc, dict, b"Encoding") {
            Some(Object::Name(name)) => base = BaseEncoding::from_name(name).unwrap_or(default_base),
            Some(Object::Dictionary(enc)) => {
                if let Some(name) = get(doc, enc, b"BaseEncoding").and_then(|o| o.as_name().ok()) {
                    base = BaseEncoding::from_name(name).unwrap_or(default_base);
                }
                if let Some(items) = get(doc, enc, b"Differences").and_then(|o| o.as_array().ok()) {
                    let mut code: i64 = 0;
                    for item in items {
                        match deref(doc, item) {
                            Object::Integer(n) => code = *n,
                            Object::Name(name) => {
                                if let (Ok(c), Ok(name)) = (u8::try_from(code), std::str::from_utf8(name)) {
                                    differences.push((c, name.to_owned()));
                                }
                                code += 1;
                            }
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
        let base_table: ByteTable = base.table();
        let mut table: Vec<Option<String>> = base_table.iter().map(|c| c.map(String::from)).collect();
        for (code, name) in differences {
            table[code as usize] = glyph_text(&name);
        }

        let first = get(doc, dict, b"FirstChar").and_then(|o| o.as_i64().ok()).unwrap_or(0).max(0) as u32;
        let widths: Vec<f32> = get(doc, dict, b"Widths")
            .and_then(|o| o.as_array().ok())
            .map(|a| a.iter().map(|w| number(deref(doc, w)).unwrap_or(0.0)).collect())
            .unwrap_or_default();
        let missing = get(doc, dict, b"FontDescriptor")
            .and_then(|o| o.as_dict().ok())
            .and_then(|d| get(doc, d, b"MissingWidth"))
            .and_then(number)
            .unwrap_or(if widths.is_empty() { DEFAULT_WIDTH } else { 0.0 });
        Font {
            composite: false,
            to_unicode,
            table,
            unicode_codes: false,
            code_space: vec![(1, 0, 0xff)],
            widths: Widths::Simple { first, widths, missing },
            scale,
        }
    }

    fn load_composite(doc: &Document, dict: &Dictionary, to_unicode: Option<ToUnicode>, scale: f32) -> Font {
        let encoding = get(doc, dict, b"Encoding").and_then(|o| o.as_name().ok()).unwrap_or(b"Identity-H");
        let unicode_codes = encoding.starts_with(b"Uni")
            && (encoding.windows(4).any(|w| w == b"UCS2") || encoding.windows(5).any(|w| w == b"UTF16"));
        let mut code_space = to_unicode.as_ref().map(|m| m.code_space.clone()).unwrap_or_default();
        if code_space.is_empty() || encoding.starts_with(b"Identity") || unicode_codes {
            code_space = vec![(2, 0, 0xffff)];
        }
        let descendant = get(doc, dict, b"DescendantFonts")
            .and_then(|o| o.as_array().ok())
            .and_then(|a| a.first())
            .and_then(|o| deref(doc, o).as_dict().ok());
        let mut default = 1000.0;
        let mut widths = HashMap::new();
        if let Some(cid_font) = descendant {
            if let Some(dw) = get(doc, cid_font, b"DW").and_then(number) {
                default = dw;
            }
            if let Some(w) = get(doc, cid_font, b"W").and_then(|o| o.as_array().ok()) {
                let items: Vec<&Object> = w.iter().map(|o| deref(doc, o)).collect();
                let mut i = 0;
                while i < items.len() {
                    let Some(first) = number(items[i]).map(|f| f as u32) else {
                        i += 1;
                        continue;
                    };
                    match items.get(i + 1) {
                        Some(Object::Array(list)) => {
                            for (k, width) in list.iter().enumerate() {
                                if let Some(width) = number(deref(doc, width)) {
                                    widths.insert(first + k as u32, width);
                                }
                            }
                            i += 2;
                        }
                        Some(last) => {
                            if let (Some(last), Some(width)) = (number(last), items.get(i + 2).and_then(|o| number(o)))
                            {
                                let last = (last as u32).min(first + 0xffff);
                                for cid in first..=last {
                                    widths.insert(cid, width);
                                }
                            }
                            i += 3;
                        }
                        None => break,
                    }
                }
            }
        }
        Font {
            composite: true,
            to_unicode,
            table: Vec::new(),
            unicode_codes,
            code_space,
            widths: Widths::Cid { default, widths },
            scale,
        }
    }

    /// Length in bytes of the code starting at `bytes[0]`.
    fn code_len(&self, bytes: &[u8]) -> usize {
        if !self.composite {
            return 1;
        }
        for len in 1..=4u8 {
            if bytes.len() < len as usize {
                break;
            }
            let code = bytes[..len as usize].iter().fold(0u32, |a, &b| a << 8 | u32::from(b));
            if self.code_space.iter().any(|&(l, lo, hi)| l == len && (lo..=hi).contains(&code)) {
                return len as usize;
            }
        }
        self.code_space.first().map(|c| c.0 as usize).unwrap_or(2).min(bytes.len()).max(1)
    }

    fn width(&self, code: u32) -> f32 {
        let w = match &self.widths {
            Widths::Simple { first, widths, missing } => code
                .checked_sub(*first)
                .and_then(|i| widths.get(i as usize))
                .copied()
                .filter(|w| *w > 0.0)
                .unwrap_or(*missing),
            Widths::Cid { default, widths } => widths.get(&code).copied().unwrap_or(*default),
        };
        w * self.scale
    }

    /// Splits `bytes` into glyphs and calls `each` for every one.
    pub fn decode(&self, bytes: &[u8], mut each: impl FnMut(Glyph<'_>)) {
        let mut i = 0;
        let mut scratch = String::new();
        while i < bytes.len() {
            let len = self.code_len(&bytes[i..]);
            let raw = &bytes[i..i + len];
            let code = raw.iter().fold(0u32, |a, &b| a << 8 | u32::from(b));
            i += len;
            let width = self.width(code);
            let word_space = len == 1 && code == 32;
            if let Some(text) = self.to_unicode.as_ref().and_then(|m| m.get(len as u8, code)) {
                each(Glyph { text, width, word_space, mapped: true });
                continue;
            }
            if self.composite {
                if self.unicode_codes {
                    scratch = utf16be(raw);
                    each(Glyph { text: &scratch, width, word_space, mapped: true });
                } else {
                    each(Glyph { text: "\u{FFFD}", width, word_space, mapped: false });
                }
                continue;
            }
            match self.table.get(code as usize).and_then(|t| t.as_deref()) {
                Some(text) => each(Glyph { text, width, word_space, mapped: true }),
                None => {
                    scratch.clear();
                    each(Glyph { text: "\u{FFFD}", width, word_space, mapped: false })
                }
            }
        }
    }
}

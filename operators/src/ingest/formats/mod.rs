//! One reader per file format; each turns a file's bytes into one or more
//! extracted texts, or says why it cannot.

pub mod csv;
pub mod docx;
pub mod html;
pub mod json;
pub mod markdown;
mod markdown_builder;
pub mod text;
pub mod xml;

use serde_json::{Map, Value};

use super::config::IngestConfig;
use super::pdf;

/// A supported file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pdf,
    Docx,
    Html,
    Markdown,
    Text,
    Xml,
    Json,
    Jsonl,
    Csv,
}

impl Format {
    /// The format a file name's extension names.
    pub fn of_path(path: &str) -> Option<Format> {
        let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
        Some(match ext.as_str() {
            "pdf" => Format::Pdf,
            "docx" => Format::Docx,
            "html" | "htm" | "xhtml" => Format::Html,
            "md" | "markdown" => Format::Markdown,
            "txt" | "text" => Format::Text,
            "xml" => Format::Xml,
            "json" => Format::Json,
            "jsonl" | "ndjson" => Format::Jsonl,
            "csv" => Format::Csv,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Docx => "docx",
            Format::Html => "html",
            Format::Markdown => "markdown",
            Format::Text => "text",
            Format::Xml => "xml",
            Format::Json => "json",
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
        }
    }
}

/// The supported extensions, for messages.
pub const SUPPORTED: &str = "pdf, docx, html/htm, md, txt, xml, json, jsonl, csv";

/// One text extracted from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    /// Which record of the file (empty for a whole-file document).
    pub key: String,
    pub own_id: Option<String>,
    pub title: Option<String>,
    pub text: String,
    pub metadata: Map<String, Value>,
}

impl Extracted {
    fn whole(title: Option<String>, text: String, metadata: Map<String, Value>) -> Self {
        Self { key: String::new(), own_id: None, title, text, metadata }
    }
}

fn decoded(bytes: &[u8], config: &IngestConfig, metadata: &mut Map<String, Value>) -> Result<String, String> {
    let (text, encoding) = text::decode(bytes, &config.encoding)?;
    metadata.insert("encoding".to_owned(), encoding.into());
    Ok(text)
}

/// Reads one file.
///
/// # Errors
/// A reason the file yields no text, for the `rejected` artifact.
pub fn extract(format: Format, bytes: &[u8], config: &IngestConfig) -> Result<Vec<Extracted>, String> {
    let mut metadata = Map::new();
    let found = match format {
        Format::Pdf => {
            let pdf = pdf::extract(bytes).map_err(|e| e.to_string())?;
            let mut text = String::new();
            let mut page_starts = Vec::with_capacity(pdf.pages.len());
            for page in &pdf.pages {
                if !text.is_empty() {
                    text.push_str("\n\n");
                }
                page_starts.push(text.chars().count());
                text.push_str(page);
            }
            let bad = count_garbled(&text) + pdf.unmapped_glyphs as usize;
            let total = text.chars().filter(|c| !c.is_whitespace()).count().max(1);
            let ratio = bad as f64 / total as f64;
            metadata.insert("pages".to_owned(), pdf.pages.len().into());
            metadata.insert("page_starts".to_owned(), page_starts.into());
            if let Some(p) = pdf.producer {
                metadata.insert("producer".to_owned(), p.into());
            }
            if let Some(c) = pdf.creator {
                metadata.insert("creator".to_owned(), c.into());
            }
            metadata.insert("garbled_ratio".to_owned(), ((ratio * 1e4).round() / 1e4).into());
            metadata.insert("garbled".to_owned(), (ratio > config.garbled_ratio).into());
            vec![Extracted::whole(pdf.title, text, metadata)]
        }
        Format::Docx => {
            let limits =
                docx::UnpackLimits { max_bytes: config.max_unpacked_bytes, max_ratio: config.max_unpack_ratio };
            let (title, text) = docx::to_markdown(bytes, &limits)?;
            vec![Extracted::whole(title, text, metadata)]
        }
        Format::Html => {
            let source = decoded(bytes, config, &mut metadata)?;
            let (title, text) = html::to_markdown(&source)?;
            vec![Extracted::whole(title, text, metadata)]
        }
        Format::Markdown => {
            let source = decoded(bytes, config, &mut metadata)?;
            let (front, body) = markdown::split_front_matter(&source);
            let title = front
                .as_ref()
                .and_then(|f| f.get("title"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| markdown::first_heading(body));
            if let Some(front) = front {
                metadata.insert("front_matter".to_owned(), Value::Object(front));
            }
            vec![Extracted::whole(title, body.trim_start_matches(['\n', '\r']).to_owned(), metadata)]
        }
        Format::Text => {
            let text = decoded(bytes, config, &mut metadata)?;
            vec![Extracted::whole(None, text, metadata)]
        }
        Format::Xml => {
            let source = decoded(bytes, config, &mut metadata)?;
            let (title, text) = xml::to_markdown(&source)?;
            vec![Extracted::whole(title, text, metadata)]
        }
        Format::Csv => {
            let source = decoded(bytes, config, &mut metadata)?;
            vec![Extracted::whole(None, csv::to_markdown(&source)?, metadata)]
        }
        Format::Json => {
            let source = decoded(bytes, config, &mut metadata)?;
            let value: Value = serde_json::from_str(&source).map_err(|e| format!("malformed JSON: {e}"))?;
            json::records(&value, &config.json)?
                .into_iter()
                .map(|r| Extracted { key: r.key, own_id: r.own_id, title: r.title, text: r.text, metadata: r.metadata })
                .collect()
        }
        Format::Jsonl => {
            let source = decoded(bytes, config, &mut metadata)?;
            let (records, _bad) = json::jsonl_records(&source, &config.json)?;
            records
                .into_iter()
                .map(|r| Extracted { key: r.key, own_id: r.own_id, title: r.title, text: r.text, metadata: r.metadata })
                .collect()
        }
    };
    let found: Vec<Extracted> = found.into_iter().filter(|e| !e.text.trim().is_empty()).collect();
    if found.is_empty() {
        return Err(format!("no text found in this {} file", format.name()));
    }
    Ok(found)
}

/// Characters that show a broken text layer: U+FFFD, private-use code
/// points and `(cid:N)` placeholders.
pub fn count_garbled(text: &str) -> usize {
    let odd = text.chars().filter(|c| *c == '\u{FFFD}' || ('\u{E000}'..='\u{F8FF}').contains(c)).count();
    odd + text.matches("(cid:").count() * 6
}

//! PDF text extraction: lopdf parses the file; our own content interpreter,
//! font decoding (ToUnicode CMaps, CID fonts, simple encodings) and layout
//! produce the text of each page in reading order.

mod agreement;
mod cmap;
mod encoding;
mod fonts;
mod interpreter;
mod layout;
mod lexer;

pub use agreement::agreement;
use interpreter::Interpreter;

/// The extracted text of a PDF.
#[derive(Debug, Clone, Default)]
pub struct PdfText {
    /// One string per page, in page order.
    pub pages: Vec<String>,
    pub title: Option<String>,
    pub producer: Option<String>,
    pub creator: Option<String>,
    /// Glyphs drawn, and how many had no known Unicode meaning.
    pub glyphs: u64,
    pub unmapped_glyphs: u64,
}

/// Why a PDF yielded no text.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("not a readable PDF: {0}")]
    Parse(String),
    #[error("the PDF is encrypted with a password; decrypt it first")]
    Encrypted,
    #[error("the PDF has no pages")]
    NoPages,
}

fn info_string(doc: &lopdf::Document, key: &[u8]) -> Option<String> {
    let info = doc.trailer.get(b"Info").ok()?;
    let info = doc.dereference(info).ok()?.1.as_dict().ok()?;
    let value = doc.dereference(info.get(key).ok()?).ok()?.1;
    lopdf::decode_text_string(value).ok().map(|s| s.trim().trim_matches('\0').to_owned()).filter(|s| !s.is_empty())
}

/// Extracts the text of every page.
///
/// # Errors
/// When the file cannot be parsed, is password-protected or has no pages.
pub fn extract(bytes: &[u8]) -> Result<PdfText, PdfError> {
    let doc = lopdf::Document::load_mem(bytes).map_err(|e| PdfError::Parse(e.to_string()))?;
    if doc.is_encrypted() {
        return Err(PdfError::Encrypted);
    }
    let pages = doc.get_pages();
    if pages.is_empty() {
        return Err(PdfError::NoPages);
    }
    let mut interpreter = Interpreter::new(&doc);
    let mut texts = Vec::with_capacity(pages.len());
    for page_id in pages.values() {
        let glyphs = interpreter.page(*page_id);
        texts.push(layout::page_text(&glyphs.glyphs, &glyphs.buffer));
    }
    Ok(PdfText {
        pages: texts,
        title: info_string(&doc, b"Title"),
        producer: info_string(&doc, b"Producer"),
        creator: info_string(&doc, b"Creator"),
        glyphs: interpreter.stats.glyphs,
        unmapped_glyphs: interpreter.stats.unmapped,
    })
}

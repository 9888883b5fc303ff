//! Runs a page's content stream far enough to know where each glyph of text
//! lands: text and graphics state, text operators, and form XObjects.

use std::collections::HashMap;
use std::rc::Rc;

use lopdf::{Dictionary, Document, Object, ObjectId};

use super::fonts::{Font, stream_bytes};
use super::layout::Placed;
use super::lexer::{Lexer, Operand};

/// Nesting limit for form XObjects (a form drawing itself would loop).
const MAX_FORM_DEPTH: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Matrix([f32; 6]);

impl Matrix {
    const IDENTITY: Matrix = Matrix([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);

    fn from_operands(ops: &[Operand]) -> Option<Matrix> {
        let v: Vec<f32> = ops.iter().filter_map(Operand::number).collect();
        (v.len() == 6).then(|| Matrix([v[0], v[1], v[2], v[3], v[4], v[5]]))
    }

    /// `self × other` in PDF's row-vector convention.
    fn then(&self, other: &Matrix) -> Matrix {
        let [a, b, c, d, e, f] = self.0;
        let [a2, b2, c2, d2, e2, f2] = other.0;
        Matrix([
            a * a2 + b * c2,
            a * b2 + b * d2,
            c * a2 + d * c2,
            c * b2 + d * d2,
            e * a2 + f * c2 + e2,
            e * b2 + f * d2 + f2,
        ])
    }

    fn translate(tx: f32, ty: f32) -> Matrix {
        Matrix([1.0, 0.0, 0.0, 1.0, tx, ty])
    }
}

#[derive(Debug, Clone)]
struct GraphicsState {
    ctm: Matrix,
    char_spacing: f32,
    word_spacing: f32,
    horizontal_scale: f32,
    leading: f32,
    font: Option<Rc<Font>>,
    font_size: f32,
    rise: f32,
}

impl Default for GraphicsState {
    fn default() -> Self {
        Self {
            ctm: Matrix::IDENTITY,
            char_spacing: 0.0,
            word_spacing: 0.0,
            horizontal_scale: 1.0,
            leading: 0.0,
            font: None,
            font_size: 0.0,
            rise: 0.0,
        }
    }
}

/// Statistics of what could not be decoded.
#[derive(Debug, Default, Clone, Copy)]
pub struct DecodeStats {
    pub glyphs: u64,
    pub unmapped: u64,
}

/// Interprets pages of one document, caching fonts across pages.
pub struct Interpreter<'d> {
    doc: &'d Document,
    fonts: HashMap<ObjectId, Rc<Font>>,
    pub stats: DecodeStats,
}

/// The text of one page before layout.
#[derive(Debug, Default)]
pub struct PageGlyphs {
    pub glyphs: Vec<Placed>,
    pub buffer: String,
}

fn deref<'a>(doc: &'a Document, object: &'a Object) -> &'a Object {
    doc.dereference(object).map(|(_, o)| o).unwrap_or(object)
}

impl<'d> Interpreter<'d> {
    pub fn new(doc: &'d Document) -> Self {
        Self { doc, fonts: HashMap::new(), stats: DecodeStats::default() }
    }

    /// The resources of a page, inherited from its ancestors when absent.
    fn page_resources(&self, page: &'d Dictionary) -> Option<&'d Dictionary> {
        let mut node = page;
        for _ in 0..32 {
            if let Ok(res) = node.get(b"Resources") {
                return deref(self.doc, res).as_dict().ok();
            }
            node = node.get(b"Parent").ok().map(|p| deref(self.doc, p)).and_then(|p| p.as_dict().ok())?;
        }
        None
    }

    pub fn page(&mut self, page_id: ObjectId) -> PageGlyphs {
        let mut out = PageGlyphs::default();
        let Ok(page) = self.doc.get_dictionary(page_id) else {
            return out;
        };
        let resources = self.page_resources(page);
        let content = self.doc.get_page_content(page_id);
        let mut state = GraphicsState::default();
        self.run(&content, resources, &mut state, &mut out, 0);
        out
    }

    fn font(&mut self, resources: Option<&'d Dictionary>, name: &[u8]) -> Option<Rc<Font>> {
        let fonts = resources?.get(b"Font").ok().map(|f| deref(self.doc, f))?.as_dict().ok()?;
        let entry = fonts.get(name).ok()?;
        match entry {
            Object::Reference(id) => {
                if let Some(font) = self.fonts.get(id) {
                    return Some(font.clone());
                }
                let dict = self.doc.get_dictionary(*id).ok()?;
                let font = Rc::new(Font::load(self.doc, dict));
                self.fonts.insert(*id, font.clone());
                Some(font)
            }
            Object::Dictionary(dict) => Some(Rc::new(Font::load(self.doc, dict))),
            _ => None,
        }
    }

    fn run(
        &mut self,
        content: &[u8],
        resources: Option<&'d Dictionary>,
        state: &mut GraphicsState,
        out: &mut PageGlyphs,
        depth: usize,
    ) {
        let mut lexer = Lexer::new(content);
        let mut operands: Vec<Operand> = Vec::with_capacity(8);
        let mut stack: Vec<GraphicsState> = Vec::new();
        let mut tm = Matrix::IDENTITY;
        let mut tlm = Matrix::IDENTITY;
        while let Some(op) = lexer.next_operation(&mut operands) {
            let num = |i: usize| operands.get(i).and_then(Operand::number).unwrap_or(0.0);
            match op {
                b"q" => stack.push(state.clone()),
                b"Q" => {
                    if let Some(saved) = stack.pop() {
                        *state = saved;
                    }
                }
                b"cm" => {
                    if let Some(m) = Matrix::from_operands(&operands) {
                        state.ctm = m.then(&state.ctm);
                    }
                }
                b"BT" => {
                    tm = Matrix::IDENTITY;
                    tlm = Matrix::IDENTITY;
                }
                b"Tf" => {
                    if let Some(Operand::Name(name)) = operands.first() {
                        state.font = self.font(resources, name);
                    }
                    state.font_size = num(1);
                }
                b"Tc" => state.char_spacing = num(0),
                b"Tw" => state.word_spacing = num(0),
                b"Tz" => state.horizontal_scale = num(0) / 100.0,
                b"TL" => state.leading = num(0),
                b"Ts" => state.rise = num(0),
                b"Td" => {
                    tlm = Matrix::translate(num(0), num(1)).then(&tlm);
                    tm = tlm;
                }
                b"TD" => {
                    state.leading = -num(1);
                    tlm = Matrix::translate(num(0), num(1)).then(&tlm);
                    tm = tlm;
                }
                b"Tm" => {
                    if let Some(m) = Matrix::from_operands(&operands) {
                        tm = m;
                        tlm = m;
                    }
                }
                b"T*" => {
                    tlm = Matrix::translate(0.0, -state.leading).then(&tlm);
                    tm = tlm;
                }
                b"Tj" => {
                    if let Some(Operand::Str(bytes)) = operands.first() {
                        self.show(bytes, state, &mut tm, out);
                    }
                }
                b"'" => {
                    tlm = Matrix::translate(0.0, -state.leading).then(&tlm);
                    tm = tlm;
                    if let Some(Operand::Str(bytes)) = operands.first() {
                        self.show(bytes, state, &mut tm, out);
                    }
                }
                b"\"" => {
                    state.word_spacing = num(0);
                    state.char_spacing = num(1);
                    tlm = Matrix::translate(0.0, -state.leading).then(&tlm);
                    tm = tlm;
                    if let Some(Operand::Str(bytes)) = operands.get(2) {
                        self.show(bytes, state, &mut tm, out);
                    }
                }
                b"TJ" => {
                    if let Some(Operand::Array(items)) = operands.first() {
                        for item in items {
                            match item {
                                Operand::Str(bytes) => self.show(bytes, state, &mut tm, out),
                                Operand::Number(adjust) => {
                                    let tx = -adjust / 1000.0 * state.font_size * state.horizontal_scale;
                                    tm = Matrix::translate(tx, 0.0).then(&tm);
                                }
                                _ => {}
                            }
                        }
                    }
                }
                b"Do" if depth < MAX_FORM_DEPTH => {
                    if let Some(Operand::Name(name)) = operands.first() {
                        self.form(name, resources, state, out, depth);
                    }
                }
                _ => {}
            }
        }
    }

    fn form(
        &mut self,
        name: &[u8],
        resources: Option<&'d Dictionary>,
        state: &GraphicsState,
        out: &mut PageGlyphs,
        depth: usize,
    ) {
        let doc = self.doc;
        let Some(xobjects) =
            resources.and_then(|r| r.get(b"XObject").ok()).map(|x| deref(doc, x)).and_then(|x| x.as_dict().ok())
        else {
            return;
        };
        let Some(stream) = xobjects.get(name).ok().map(|o| deref(doc, o)).and_then(|o| o.as_stream().ok()) else {
            return;
        };
        if stream.dict.get(b"Subtype").ok().and_then(|s| s.as_name().ok()) != Some(b"Form") {
            return;
        }
        let mut inner = state.clone();
        if let Some(m) = stream.dict.get(b"Matrix").ok().map(|m| deref(doc, m)).and_then(|m| m.as_array().ok()) {
            let values: Vec<Operand> =
                m.iter().filter_map(|v| deref(doc, v).as_float().ok()).map(Operand::Number).collect();
            if let Some(matrix) = Matrix::from_operands(&values) {
                inner.ctm = matrix.then(&inner.ctm);
            }
        }
        let form_resources =
            stream.dict.get(b"Resources").ok().map(|r| deref(doc, r)).and_then(|r| r.as_dict().ok()).or(resources);
        let content = stream_bytes(stream);
        self.run(&content, form_resources, &mut inner, out, depth + 1);
    }

    /// Places the glyphs of one string and advances the text matrix.
    fn show(&mut self, bytes: &[u8], state: &GraphicsState, tm: &mut Matrix, out: &mut PageGlyphs) {
        let Some(font) = state.font.clone() else {
            return;
        };
        let size = state.font_size;
        let scale = state.horizontal_scale;
        let stats = &mut self.stats;
        font.decode(bytes, |glyph| {
            let render = Matrix([size * scale, 0.0, 0.0, size, 0.0, state.rise]).then(tm).then(&state.ctm);
            let device = tm.then(&state.ctm);
            let mut advance = glyph.width / 1000.0 * size + state.char_spacing;
            if glyph.word_space {
                advance += state.word_spacing;
            }
            advance *= scale;
            let [a, b, c, d, _, _] = device.0;
            let device_size = (size * (c * c + d * d).sqrt()).abs();
            let device_advance = advance * (a * a + b * b).sqrt();
            stats.glyphs += 1;
            if !glyph.mapped {
                stats.unmapped += 1;
            }
            let start = out.buffer.len() as u32;
            out.buffer.push_str(glyph.text);
            out.glyphs.push(Placed {
                x: render.0[4],
                y: render.0[5],
                end_x: render.0[4] + device_advance,
                size: device_size,
                start,
                len: glyph.text.len() as u32,
            });
            *tm = Matrix::translate(advance, 0.0).then(tm);
        });
    }
}

//! A tokenizer for PDF content streams: operands and operators, nothing
//! more. Written for speed: one pass over the bytes, operands reused
//! between operators.

/// An operand of a content-stream operator.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Number(f32),
    /// A string's bytes, escapes resolved.
    Str(Vec<u8>),
    Name(Vec<u8>),
    Array(Vec<Operand>),
    /// A dictionary (marked-content properties, inline image parameters);
    /// its contents are not needed for text.
    Dict,
    Other,
}

impl Operand {
    pub fn number(&self) -> Option<f32> {
        match self {
            Operand::Number(n) => Some(*n),
            _ => None,
        }
    }
}

/// Walks a content stream, yielding each operator with its operands.
pub struct Lexer<'a> {
    data: &'a [u8],
    pos: usize,
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t' | b'\x0c' | b'\0')
}

fn is_delimiter(b: u8) -> bool {
    matches!(b, b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%')
}

fn is_regular(b: u8) -> bool {
    !is_whitespace(b) && !is_delimiter(b)
}

impl<'a> Lexer<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    fn skip_whitespace_and_comments(&mut self) {
        while let Some(&b) = self.data.get(self.pos) {
            if is_whitespace(b) {
                self.pos += 1;
            } else if b == b'%' {
                while let Some(&c) = self.data.get(self.pos) {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// Reads operands into `operands` (cleared first) up to the next
    /// operator, which is returned; `None` at the end of the stream.
    pub fn next_operation(&mut self, operands: &mut Vec<Operand>) -> Option<&'a [u8]> {
        operands.clear();
        loop {
            self.skip_whitespace_and_comments();
            let b = *self.data.get(self.pos)?;
            match b {
                b'/' | b'(' | b'<' | b'[' | b'+' | b'-' | b'.' | b'0'..=b'9' => {
                    if let Some(op) = self.operand() {
                        operands.push(op);
                    }
                }
                b']' | b')' | b'>' | b'{' | b'}' => self.pos += 1, // stray delimiter: skip
                _ => {
                    let start = self.pos;
                    while self.data.get(self.pos).is_some_and(|&c| is_regular(c)) {
                        self.pos += 1;
                    }
                    let operator = &self.data[start..self.pos];
                    if operator == b"BI" {
                        self.skip_inline_image();
                        operands.clear();
                        continue;
                    }
                    return Some(operator);
                }
            }
        }
    }

    fn operand(&mut self) -> Option<Operand> {
        let b = *self.data.get(self.pos)?;
        match b {
            b'/' => Some(Operand::Name(self.name())),
            b'(' => Some(Operand::Str(self.literal_string())),
            b'<' if self.data.get(self.pos + 1) == Some(&b'<') => {
                self.skip_dict();
                Some(Operand::Dict)
            }
            b'<' => Some(Operand::Str(self.hex_string())),
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_whitespace_and_comments();
                    match self.data.get(self.pos) {
                        None => break,
                        Some(b']') => {
                            self.pos += 1;
                            break;
                        }
                        Some(&c) if is_regular(c) && !matches!(c, b'+' | b'-' | b'.' | b'0'..=b'9') => {
                            // true/false/null or junk inside an array.
                            while self.data.get(self.pos).is_some_and(|&c| is_regular(c)) {
                                self.pos += 1;
                            }
                            items.push(Operand::Other);
                        }
                        Some(_) => match self.operand() {
                            Some(op) => items.push(op),
                            None => self.pos += 1,
                        },
                    }
                }
                Some(Operand::Array(items))
            }
            _ => self.number(),
        }
    }

    fn number(&mut self) -> Option<Operand> {
        let start = self.pos;
        self.pos += 1;
        while self.data.get(self.pos).is_some_and(|&c| c.is_ascii_digit() || c == b'.' || c == b'-' || c == b'+') {
            self.pos += 1;
        }
        let text = std::str::from_utf8(&self.data[start..self.pos]).ok()?;
        // Some producers write `--5` or `4.-1`; take the longest valid prefix.
        let value = text
            .parse::<f32>()
            .ok()
            .or_else(|| text.trim_start_matches(['-', '+']).parse::<f32>().ok().map(|v| -v))
            .unwrap_or(0.0);
        Some(Operand::Number(value))
    }

    fn name(&mut self) -> Vec<u8> {
        self.pos += 1;
        let mut out = Vec::new();
        while let Some(&c) = self.data.get(self.pos) {
            if !is_regular(c) {
                break;
            }
            if c == b'#' {
                let hex = self.data.get(self.pos + 1..self.pos + 3);
                if let Some(v) =
                    hex.and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    out.push(v);
                    self.pos += 3;
                    continue;
                }
            }
            out.push(c);
            self.pos += 1;
        }
        out
    }

    fn literal_string(&mut self) -> Vec<u8> {
        self.pos += 1;
        let mut out = Vec::new();
        let mut depth = 1;
        while let Some(&c) = self.data.get(self.pos) {
            self.pos += 1;
            match c {
                b'(' => {
                    depth += 1;
                    out.push(c);
                }
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                    out.push(c);
                }
                b'\\' => {
                    let Some(&e) = self.data.get(self.pos) else {
                        break;
                    };
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'0'..=b'7' => {
                            let mut value = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.data.get(self.pos) {
                                    Some(&d @ b'0'..=b'7') => {
                                        value = value * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push((value & 0xff) as u8);
                        }
                        b'\r' => {
                            // Line continuation.
                            if self.data.get(self.pos) == Some(&b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        other => out.push(other),
                    }
                }
                _ => out.push(c),
            }
        }
        out
    }

    fn hex_string(&mut self) -> Vec<u8> {
        self.pos += 1;
        let mut out = Vec::new();
        let mut high: Option<u8> = None;
        while let Some(&c) = self.data.get(self.pos) {
            self.pos += 1;
            let v = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                b'>' => break,
                _ => continue,
            };
            match high.take() {
                Some(h) => out.push(h << 4 | v),
                None => high = Some(v),
            }
        }
        if let Some(h) = high {
            out.push(h << 4);
        }
        out
    }

    fn skip_dict(&mut self) {
        self.pos += 2;
        let mut depth = 1;
        while depth > 0 {
            let Some(&c) = self.data.get(self.pos) else {
                return;
            };
            match c {
                b'<' if self.data.get(self.pos + 1) == Some(&b'<') => {
                    depth += 1;
                    self.pos += 2;
                }
                b'>' if self.data.get(self.pos + 1) == Some(&b'>') => {
                    depth -= 1;
                    self.pos += 2;
                }
                b'(' => {
                    let _ = self.literal_string();
                }
                _ => self.pos += 1,
            }
        }
    }

    /// Skips `BI ... ID <binary> EI`: the binary data may contain anything,
    /// so look for `EI` between whitespace.
    fn skip_inline_image(&mut self) {
        while self.pos + 1 < self.data.len() {
            if &self.data[self.pos..self.pos + 2] == b"ID"
                && self.pos > 0
                && is_whitespace(self.data[self.pos - 1])
                && self.data.get(self.pos + 2).is_none_or(|&c| is_whitespace(c))
            {
                self.pos += 3;
                break;
            }
            self.pos += 1;
        }
        while self.pos + 1 < self.data.len() {
            if &self.data[self.pos..self.pos + 2] == b"EI"
                && is_whitespace(self.data[self.pos - 1])
                && self.data.get(self.pos + 2).is_none_or(|&c| is_whitespace(c))
            {
                self.pos += 2;
                return;
            }
            self.pos += 1;
        }
        self.pos = self.data.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(data: &[u8]) -> Vec<(String, Vec<Operand>)> {
        let mut lexer = Lexer::new(data);
        let mut operands = Vec::new();
        let mut out = Vec::new();
        while let Some(op) = lexer.next_operation(&mut operands) {
            out.push((String::from_utf8_lossy(op).into_owned(), operands.clone()));
        }
        out
    }

    #[test]
    fn reads_text_operators_with_their_operands() {
        let parsed = ops(b"BT /F1 12 Tf 72 700 Td (Hello \\(world\\)) Tj [(A) -250 <0041>] TJ ET");
        assert_eq!(parsed[1].0, "Tf");
        assert_eq!(parsed[1].1, vec![Operand::Name(b"F1".to_vec()), Operand::Number(12.0)]);
        assert_eq!(parsed[3].1, vec![Operand::Str(b"Hello (world)".to_vec())]);
        assert_eq!(
            parsed[4].1,
            vec![Operand::Array(vec![
                Operand::Str(b"A".to_vec()),
                Operand::Number(-250.0),
                Operand::Str(vec![0, 0x41])
            ])]
        );
    }

    #[test]
    fn octal_escapes_and_nested_parentheses() {
        let parsed = ops(b"(a\\101(b)c\\\nd) Tj");
        assert_eq!(parsed[0].1, vec![Operand::Str(b"aA(b)cd".to_vec())]);
    }

    #[test]
    fn inline_images_and_marked_content_dicts_are_skipped() {
        let parsed = ops(b"/P <</MCID 0>> BDC BI /W 2 /H 2 ID \x00EI\xff EI Q (x) Tj");
        let names: Vec<&str> = parsed.iter().map(|(o, _)| o.as_str()).collect();
        assert_eq!(names, ["BDC", "Q", "Tj"]);
        assert_eq!(parsed[0].1, vec![Operand::Name(b"P".to_vec()), Operand::Dict]);
    }

    #[test]
    fn hex_strings_ignore_whitespace_and_pad_odd_digits() {
        let parsed = ops(b"<4 1 4> Tj");
        assert_eq!(parsed[0].1, vec![Operand::Str(vec![0x41, 0x40])]);
    }
}

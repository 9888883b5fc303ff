//! ToUnicode CMaps: character codes to Unicode text, and the code space
//! that says how many bytes each code takes.

use std::collections::HashMap;

use super::lexer::{Lexer, Operand};

/// Longest bfrange expanded; larger ranges are truncated (a sane CMap never
/// needs more than the 16-bit code space).
const MAX_RANGE: u32 = 0x1_0000;

/// A parsed ToUnicode CMap.
#[derive(Debug, Default, Clone)]
pub struct ToUnicode {
    map: HashMap<(u8, u32), String>,
    /// `(bytes, low, high)` from `begincodespacerange`.
    pub code_space: Vec<(u8, u32, u32)>,
}

fn code_of(bytes: &[u8]) -> u32 {
    bytes.iter().take(4).fold(0u32, |acc, &b| acc << 8 | u32::from(b))
}

/// Decodes UTF-16BE (as CMaps write their targets), replacing bad units.
pub fn utf16be(bytes: &[u8]) -> String {
    let units: Vec<u16> =
        bytes.chunks(2).map(|pair| u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])).collect();
    char::decode_utf16(units).map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER)).collect()
}

impl ToUnicode {
    /// Parses the (decompressed) CMap stream; malformed entries are skipped.
    pub fn parse(data: &[u8]) -> Self {
        let mut cmap = ToUnicode::default();
        let mut lexer = Lexer::new(data);
        let mut operands = Vec::new();
        while let Some(op) = lexer.next_operation(&mut operands) {
            match op {
                b"endcodespacerange" => {
                    for pair in operands.chunks(2) {
                        if let [Operand::Str(lo), Operand::Str(hi)] = pair {
                            let len = lo.len().clamp(1, 4) as u8;
                            cmap.code_space.push((len, code_of(lo), code_of(hi)));
                        }
                    }
                }
                b"endbfchar" => {
                    for pair in operands.chunks(2) {
                        if let [Operand::Str(src), Operand::Str(dst)] = pair {
                            let len = src.len().clamp(1, 4) as u8;
                            cmap.map.insert((len, code_of(src)), utf16be(dst));
                        }
                    }
                }
                b"endbfrange" => {
                    for triple in operands.chunks(3) {
                        let [Operand::Str(lo), Operand::Str(hi), dst] = triple else {
                            continue;
                        };
                        let len = lo.len().clamp(1, 4) as u8;
                        let (lo, hi) = (code_of(lo), code_of(hi));
                        if hi < lo {
                            continue;
                        }
                        let count = (hi - lo).min(MAX_RANGE - 1);
                        match dst {
                            Operand::Str(first) => {
                                for i in 0..=count {
                                    let mut target = first.clone();
                                    // The last byte counts up across the range (with carry).
                                    let mut carry = i;
                                    for byte in target.iter_mut().rev() {
                                        let sum = u32::from(*byte) + (carry & 0xff);
                                        *byte = (sum & 0xff) as u8;
                                        carry = (carry >> 8) + (sum >> 8);
                                        if carry == 0 {
                                            break;
                                        }
                                    }
                                    cmap.map.insert((len, lo + i), utf16be(&target));
                                }
                            }
                            Operand::Array(items) => {
                                for (i, item) in items.iter().enumerate().take(count as usize + 1) {
                                    if let Operand::Str(target) = item {
                                        cmap.map.insert((len, lo + i as u32), utf16be(target));
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        cmap
    }

    /// The text of a code of `len` bytes, if mapped.
    pub fn get(&self, len: u8, code: u32) -> Option<&str> {
        self.map.get(&(len, code)).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap
1 begincodespacerange <0000> <FFFF> endcodespacerange
2 beginbfchar <0003> <0020> <0010> <6B63> endbfchar
2 beginbfrange <0024> <0026> <0041> <0030> <0031> [<00660069> <D835DC00>] endbfrange
endcmap CMapName currentdict /CMap defineresource pop end end";

    #[test]
    fn bfchar_bfrange_and_arrays_are_mapped() {
        let cmap = ToUnicode::parse(SAMPLE);
        assert_eq!(cmap.code_space, vec![(2, 0, 0xffff)]);
        assert_eq!(cmap.get(2, 0x0003), Some(" "));
        assert_eq!(cmap.get(2, 0x0010), Some("正"));
        assert_eq!(cmap.get(2, 0x0025), Some("B"));
        assert_eq!(cmap.get(2, 0x0026), Some("C"));
        assert_eq!(cmap.get(2, 0x0030), Some("fi"));
        assert_eq!(cmap.get(2, 0x0031), Some("\u{1D400}"), "surrogate pairs decode");
        assert_eq!(cmap.get(1, 0x03), None, "codes are keyed by length");
    }

    #[test]
    fn range_targets_carry_into_the_previous_byte() {
        let cmap = ToUnicode::parse(b"1 beginbfrange <01> <03> <00FF> endbfrange");
        assert_eq!(cmap.get(1, 1), Some("\u{FF}"));
        assert_eq!(cmap.get(1, 2), Some("\u{100}"));
    }
}

//! Plain text in any encoding.

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};

/// Decodes bytes to text: a BOM wins, then valid UTF-8, then the guess of
/// chardetng (GB18030/GBK, Big5, Shift_JIS, EUC-KR, windows-125x, …), unless
/// `label` names an encoding. Returns the text and the encoding used.
///
/// # Errors
/// When `label` is not a known encoding.
pub fn decode(bytes: &[u8], label: &str) -> Result<(String, &'static str), String> {
    if label != "auto" {
        let encoding = Encoding::for_label(label.as_bytes())
            .ok_or_else(|| format!("unknown encoding {label:?}; use a WHATWG label such as utf-8, gb18030, big5"))?;
        let (text, _, _) = encoding.decode(bytes);
        return Ok((text.into_owned(), encoding.name()));
    }
    if let Some((encoding, bom)) = Encoding::for_bom(bytes) {
        let (text, _) = encoding.decode_without_bom_handling(&bytes[bom..]);
        return Ok((text.into_owned(), encoding.name()));
    }
    // Before UTF-8: ASCII in UTF-16 is also valid UTF-8, full of NUL bytes.
    if let Some(encoding) = utf16_without_bom(bytes) {
        let (text, _) = encoding.decode_without_bom_handling(bytes);
        return Ok((text.into_owned(), encoding.name()));
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok((text.to_owned(), UTF_8.name()));
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Allow);
    detector.feed(bytes, true);
    let encoding = detector.guess(None, chardetng::Utf8Detection::Allow);
    // chardetng answers GBK for GB text; GB18030 is its superset and decodes
    // the same bytes plus the four-byte sequences GBK lacks.
    let encoding = if encoding == encoding_rs::GBK { encoding_rs::GB18030 } else { encoding };
    let (text, _, _) = encoding.decode(bytes);
    Ok((text.into_owned(), encoding.name()))
}

/// UTF-16 without a BOM shows as many zero bytes on one side of ASCII.
fn utf16_without_bom(bytes: &[u8]) -> Option<&'static Encoding> {
    if bytes.len() < 4 {
        return None;
    }
    let sample = &bytes[..bytes.len().min(4096) & !1];
    let pairs = sample.len() / 2;
    let zero_even = sample.iter().step_by(2).filter(|b| **b == 0).count();
    let zero_odd = sample.iter().skip(1).step_by(2).filter(|b| **b == 0).count();
    if zero_odd * 10 > pairs * 3 && zero_even * 10 < pairs {
        Some(UTF_16LE)
    } else if zero_even * 10 > pairs * 3 && zero_odd * 10 < pairs {
        Some(UTF_16BE)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHINESE: &str = "第23.2005条 正常类飞机审定。申请人必须表明符合本部适用的要求，飞机的设计应当保证其安全。";

    #[test]
    fn gb18030_is_detected() {
        let (bytes, _, _) = encoding_rs::GB18030.encode(CHINESE);
        let (text, encoding) = decode(&bytes, "auto").expect("decodes");
        assert_eq!(text, CHINESE);
        assert_eq!(encoding, "gb18030");
    }

    #[test]
    fn utf16_with_and_without_bom() {
        let mut le: Vec<u8> = vec![0xff, 0xfe];
        le.extend(CHINESE.encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(decode(&le, "auto").expect("decodes"), (CHINESE.to_owned(), "UTF-16LE"));
        let ascii = "Section 25.1309 Equipment, systems and installations.";
        let be: Vec<u8> = ascii.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(decode(&be, "auto").expect("decodes"), (ascii.to_owned(), "UTF-16BE"));
    }

    #[test]
    fn utf8_and_explicit_labels() {
        assert_eq!(decode("héllo".as_bytes(), "auto").expect("ok").1, "UTF-8");
        let (bytes, _, _) = encoding_rs::BIG5.encode("適航");
        assert_eq!(decode(&bytes, "big5").expect("ok").0, "適航");
        assert!(decode(b"x", "klingon").is_err());
    }
}

//! Single-byte font encodings and glyph names, for simple fonts that carry
//! no ToUnicode map.

use unicode_normalization::UnicodeNormalization;

/// A code → text table for one-byte codes.
pub type ByteTable = [Option<char>; 256];

/// Which standard encoding a simple font starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseEncoding {
    Standard,
    WinAnsi,
    MacRoman,
}

impl BaseEncoding {
    pub fn from_name(name: &[u8]) -> Option<Self> {
        match name {
            b"StandardEncoding" => Some(BaseEncoding::Standard),
            b"WinAnsiEncoding" => Some(BaseEncoding::WinAnsi),
            b"MacRomanEncoding" => Some(BaseEncoding::MacRoman),
            _ => None,
        }
    }

    pub fn table(self) -> ByteTable {
        match self {
            BaseEncoding::WinAnsi => decode_table(encoding_rs::WINDOWS_1252),
            BaseEncoding::MacRoman => decode_table(encoding_rs::MACINTOSH),
            BaseEncoding::Standard => standard_table(),
        }
    }
}

fn decode_table(encoding: &'static encoding_rs::Encoding) -> ByteTable {
    let mut table = [None; 256];
    for (code, slot) in table.iter_mut().enumerate().skip(0x20) {
        let byte = [code as u8];
        let (text, _, had_errors) = encoding.decode(&byte);
        if !had_errors {
            *slot = text.chars().next().filter(|c| !c.is_control());
        }
    }
    table
}

/// Adobe StandardEncoding: ASCII with typographic quotes, and its own
/// upper half.
fn standard_table() -> ByteTable {
    let mut table = [None; 256];
    for code in 0x20u8..0x7f {
        table[code as usize] = Some(code as char);
    }
    table[0x27] = Some('\u{2019}');
    table[0x60] = Some('\u{2018}');
    let upper: &[(u8, char)] = &[
        (0xa1, '¡'),
        (0xa2, '¢'),
        (0xa3, '£'),
        (0xa4, '⁄'),
        (0xa5, '¥'),
        (0xa6, 'ƒ'),
        (0xa7, '§'),
        (0xa8, '¤'),
        (0xa9, '\''),
        (0xaa, '“'),
        (0xab, '«'),
        (0xac, '‹'),
        (0xad, '›'),
        (0xae, 'ﬁ'),
        (0xaf, 'ﬂ'),
        (0xb1, '–'),
        (0xb2, '†'),
        (0xb3, '‡'),
        (0xb4, '·'),
        (0xb6, '¶'),
        (0xb7, '•'),
        (0xb8, '‚'),
        (0xb9, '„'),
        (0xba, '”'),
        (0xbb, '»'),
        (0xbc, '…'),
        (0xbd, '‰'),
        (0xbf, '¿'),
        (0xc1, '`'),
        (0xc2, '´'),
        (0xc3, 'ˆ'),
        (0xc4, '˜'),
        (0xc5, '¯'),
        (0xc6, '˘'),
        (0xc7, '˙'),
        (0xc8, '¨'),
        (0xca, '˚'),
        (0xcb, '¸'),
        (0xcd, '˝'),
        (0xce, '˛'),
        (0xcf, 'ˇ'),
        (0xd0, '—'),
        (0xe1, 'Æ'),
        (0xe3, 'ª'),
        (0xe8, 'Ł'),
        (0xe9, 'Ø'),
        (0xea, 'Œ'),
        (0xeb, 'º'),
        (0xf1, 'æ'),
        (0xf5, 'ı'),
        (0xf8, 'ł'),
        (0xf9, 'ø'),
        (0xfa, 'œ'),
        (0xfb, 'ß'),
    ];
    for &(code, c) in upper {
        table[code as usize] = Some(c);
    }
    table
}

/// Names of glyphs that are not a letter, a digit or an accented letter.
const NAMED: &[(&str, &str)] = &[
    ("space", " "),
    ("nbspace", " "),
    ("exclam", "!"),
    ("quotedbl", "\""),
    ("numbersign", "#"),
    ("dollar", "$"),
    ("percent", "%"),
    ("ampersand", "&"),
    ("quotesingle", "'"),
    ("parenleft", "("),
    ("parenright", ")"),
    ("asterisk", "*"),
    ("plus", "+"),
    ("comma", ","),
    ("hyphen", "-"),
    ("minus", "−"),
    ("period", "."),
    ("slash", "/"),
    ("colon", ":"),
    ("semicolon", ";"),
    ("less", "<"),
    ("equal", "="),
    ("greater", ">"),
    ("question", "?"),
    ("at", "@"),
    ("bracketleft", "["),
    ("backslash", "\\"),
    ("bracketright", "]"),
    ("asciicircum", "^"),
    ("underscore", "_"),
    ("grave", "`"),
    ("braceleft", "{"),
    ("bar", "|"),
    ("braceright", "}"),
    ("asciitilde", "~"),
    ("quoteleft", "‘"),
    ("quoteright", "’"),
    ("quotedblleft", "“"),
    ("quotedblright", "”"),
    ("quotesinglbase", "‚"),
    ("quotedblbase", "„"),
    ("guillemotleft", "«"),
    ("guillemotright", "»"),
    ("guilsinglleft", "‹"),
    ("guilsinglright", "›"),
    ("endash", "–"),
    ("emdash", "—"),
    ("bullet", "•"),
    ("ellipsis", "…"),
    ("periodcentered", "·"),
    ("section", "§"),
    ("paragraph", "¶"),
    ("dagger", "†"),
    ("daggerdbl", "‡"),
    ("degree", "°"),
    ("plusminus", "±"),
    ("multiply", "×"),
    ("divide", "÷"),
    ("copyright", "©"),
    ("registered", "®"),
    ("trademark", "™"),
    ("perthousand", "‰"),
    ("cent", "¢"),
    ("sterling", "£"),
    ("yen", "¥"),
    ("Euro", "€"),
    ("currency", "¤"),
    ("florin", "ƒ"),
    ("exclamdown", "¡"),
    ("questiondown", "¿"),
    ("ordfeminine", "ª"),
    ("ordmasculine", "º"),
    ("onehalf", "½"),
    ("onequarter", "¼"),
    ("threequarters", "¾"),
    ("onesuperior", "¹"),
    ("twosuperior", "²"),
    ("threesuperior", "³"),
    ("mu", "µ"),
    ("fi", "fi"),
    ("fl", "fl"),
    ("ff", "ff"),
    ("ffi", "ffi"),
    ("ffl", "ffl"),
    ("germandbls", "ß"),
    ("AE", "Æ"),
    ("ae", "æ"),
    ("OE", "Œ"),
    ("oe", "œ"),
    ("Oslash", "Ø"),
    ("oslash", "ø"),
    ("Lslash", "Ł"),
    ("lslash", "ł"),
    ("dotlessi", "ı"),
    ("Eth", "Ð"),
    ("eth", "ð"),
    ("Thorn", "Þ"),
    ("thorn", "þ"),
    ("fraction", "⁄"),
    ("logicalnot", "¬"),
    ("brokenbar", "¦"),
    ("arrowright", "→"),
    ("arrowleft", "←"),
    ("lessequal", "≤"),
    ("greaterequal", "≥"),
    ("notequal", "≠"),
    ("approxequal", "≈"),
    ("infinity", "∞"),
    ("checkmark", "✓"),
];

const DIGITS: [&str; 10] = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];

/// Accent names as they end glyph names (`eacute`), with their combining mark.
const ACCENTS: &[(&str, char)] = &[
    ("acute", '\u{301}'),
    ("grave", '\u{300}'),
    ("circumflex", '\u{302}'),
    ("tilde", '\u{303}'),
    ("dieresis", '\u{308}'),
    ("ring", '\u{30a}'),
    ("cedilla", '\u{327}'),
    ("caron", '\u{30c}'),
    ("macron", '\u{304}'),
    ("breve", '\u{306}'),
    ("ogonek", '\u{328}'),
    ("dotaccent", '\u{307}'),
    ("hungarumlaut", '\u{30b}'),
];

/// The text of a glyph name, following the Adobe Glyph List conventions:
/// `uniXXXX`, `uXXXX`, known names, `base+accent`, `name.suffix`, `a_b` ligatures.
pub fn glyph_text(name: &str) -> Option<String> {
    if let Some(hex) = name.strip_prefix("uni")
        && hex.len() >= 4
        && hex.len() % 4 == 0
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        let units: Vec<u16> = hex
            .as_bytes()
            .chunks(4)
            .filter_map(|c| u16::from_str_radix(std::str::from_utf8(c).ok()?, 16).ok())
            .collect();
        return char::decode_utf16(units).collect::<Result<String, _>>().ok();
    }
    if let Some(hex) = name.strip_prefix('u')
        && (4..=6).contains(&hex.len())
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return u32::from_str_radix(hex, 16).ok().and_then(char::from_u32).map(String::from);
    }
    if let Some((base, _suffix)) = name.split_once('.')
        && !base.is_empty()
    {
        return glyph_text(base);
    }
    if name.contains('_') {
        let parts: Option<String> = name.split('_').map(glyph_text).collect();
        return parts;
    }
    if name.len() == 1 && name.is_ascii() {
        return Some(name.to_owned());
    }
    if let Some(i) = DIGITS.iter().position(|d| *d == name) {
        return Some(i.to_string());
    }
    if let Some((_, text)) = NAMED.iter().find(|(n, _)| *n == name) {
        return Some((*text).to_owned());
    }
    for (accent, mark) in ACCENTS {
        if let Some(base) = name.strip_suffix(accent)
            && base.len() == 1
            && base.is_ascii()
        {
            return Some(format!("{base}{mark}").nfc().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyph_names_follow_the_conventions() {
        assert_eq!(glyph_text("A").as_deref(), Some("A"));
        assert_eq!(glyph_text("seven").as_deref(), Some("7"));
        assert_eq!(glyph_text("uni6B63").as_deref(), Some("正"));
        assert_eq!(glyph_text("u1F600").as_deref(), Some("😀"));
        assert_eq!(glyph_text("eacute").as_deref(), Some("é"));
        assert_eq!(glyph_text("Ccedilla").as_deref(), Some("Ç"));
        assert_eq!(glyph_text("f_i").as_deref(), Some("fi"));
        assert_eq!(glyph_text("a.sc").as_deref(), Some("a"));
        assert_eq!(glyph_text("quoteright").as_deref(), Some("’"));
        assert_eq!(glyph_text("g123"), None);
    }

    #[test]
    fn base_encodings_differ_where_they_should() {
        let win = BaseEncoding::WinAnsi.table();
        let mac = BaseEncoding::MacRoman.table();
        let std = BaseEncoding::Standard.table();
        assert_eq!(win[0x41], Some('A'));
        assert_eq!(win[0x93], Some('“'));
        assert_eq!(mac[0xd2], Some('“'));
        assert_eq!(std[0x27], Some('’'));
        assert_eq!(std[0xd0], Some('—'));
    }
}

//! sacrebleu's `13a` (mteval-v13a) and `zh` tokenizers, rule for rule.

use crate::text::python_split;

/// Characters the first mteval rule pads with spaces: `{|}~`, `[\]^_` and
/// the backtick, space to `&`, `(` to `+`, `:` to `@`, and `/`.
fn is_padded_symbol(c: u8) -> bool {
    PADDED[usize::from(c)]
}

/// [`is_padded_symbol`] as a table: the first pass asks it of every byte.
static PADDED: [bool; 256] = {
    let mut table = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        table[c] = matches!(b, b'{'..=b'~' | b'['..=b'`' | b' '..=b'&' | b'('..=b'+' | b':'..=b'@' | b'/');
        c += 1;
    }
    table
};

fn is_period_or_comma(c: u8) -> bool {
    c == b'.' || c == b','
}

/// One pass of a two-character rewrite with `re.sub`'s semantics: scanning
/// left to right, a pair that matches is rewritten and skipped whole.
/// `trigger` finds the next index at or after a position where a match
/// could start, so the bytes in between are copied in one go.
///
/// It runs on UTF-8 bytes: every rule names ASCII characters only, and a
/// rule's "any other character" side sees a multi-byte character's first
/// or last byte, which is never an ASCII digit, period or comma; the spaces
/// it inserts fall between whole characters.
fn rewrite_pairs(
    input: &[u8],
    out: &mut Vec<u8>,
    trigger: impl Fn(&[u8], usize) -> Option<usize>,
    matches: impl Fn(u8, u8) -> Option<[u8; 4]>,
) {
    out.clear();
    let mut copied = 0;
    let mut from = 0;
    while let Some(i) = trigger(input, from) {
        match input.get(i + 1).and_then(|&next| matches(input[i], next)) {
            Some(replacement) => {
                out.extend_from_slice(&input[copied..i]);
                out.extend_from_slice(&replacement);
                copied = i + 2;
                from = i + 2;
            }
            None => from = i + 1,
        }
    }
    out.extend_from_slice(&input[copied..]);
}

/// The next index at or after `from` whose following byte is a period or comma.
fn before_period_or_comma(input: &[u8], from: usize) -> Option<usize> {
    let start = from + 1;
    input.get(start..)?.iter().position(|&c| is_period_or_comma(c)).map(|p| start + p - 1)
}

/// The next index at or after `from` holding a period or comma.
fn at_period_or_comma(input: &[u8], from: usize) -> Option<usize> {
    input.get(from..)?.iter().position(|&c| is_period_or_comma(c)).map(|p| from + p)
}

/// The next index at or after `from` followed by a dash.
fn before_dash(input: &[u8], from: usize) -> Option<usize> {
    let start = from + 1;
    input.get(start..)?.iter().position(|&c| c == b'-').map(|p| start + p - 1)
}

/// Reusable buffers of the tokenizers.
#[derive(Default)]
pub struct Scratch {
    a: Vec<u8>,
    b: Vec<u8>,
}

/// sacrebleu's `TokenizerRegexp`, shared by `13a` and `zh`: the rewritten
/// line, whose Python-whitespace-separated words are the tokens.
fn regexp_rewrite(line: &str, padded: bool, scratch: &mut Scratch, out: &mut String) {
    let Scratch { a, b } = scratch;
    a.clear();
    // `13a` wraps the line in spaces, which the first rule pads in turn.
    if padded {
        a.extend_from_slice(b"   ");
    }
    let bytes = line.as_bytes();
    let mut copied = 0;
    for (i, &c) in bytes.iter().enumerate() {
        if is_padded_symbol(c) {
            a.extend_from_slice(&bytes[copied..i]);
            a.extend_from_slice(&[b' ', c, b' ']);
            copied = i + 1;
        }
    }
    a.extend_from_slice(&bytes[copied..]);
    if padded {
        a.extend_from_slice(b"   ");
    }
    // `([^0-9])([\.,])` → `\1 \2 `: punctuation after a non-digit.
    rewrite_pairs(a, b, before_period_or_comma, |x, y| {
        (!x.is_ascii_digit() && is_period_or_comma(y)).then_some([x, b' ', y, b' '])
    });
    // `([\.,])([^0-9])` → ` \1 \2`: punctuation before a non-digit.
    rewrite_pairs(b, a, at_period_or_comma, |x, y| {
        (is_period_or_comma(x) && !y.is_ascii_digit()).then_some([b' ', x, b' ', y])
    });
    // `([0-9])(-)` → `\1 \2 `: a dash after a digit.
    rewrite_pairs(a, b, before_dash, |x, y| (x.is_ascii_digit() && y == b'-').then_some([x, b' ', y, b' ']));
    out.clear();
    match std::str::from_utf8(b) {
        Ok(text) => out.push_str(text),
        Err(_) => out.push_str(&String::from_utf8_lossy(b)),
    }
}

/// `13a`: mteval-v13a's tokenizer, sacrebleu's default; the rewritten line into `out`.
pub fn rewrite_13a(line: &str, scratch: &mut Scratch, out: &mut String) {
    let mut line = std::borrow::Cow::Borrowed(line);
    if line.contains("<skipped>") || line.contains('\n') {
        line = line.replace("<skipped>", "").replace("-\n", "").replace('\n', " ").into();
    }
    if line.contains('&') {
        line = line.replace("&quot;", "\"").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").into();
    }
    regexp_rewrite(&line, true, scratch, out);
}

/// The tokens `13a` makes of `line`.
pub fn tokenize_13a(line: &str) -> Vec<String> {
    let mut out = String::new();
    rewrite_13a(line, &mut Scratch::default(), &mut out);
    python_split(&out).map(str::to_owned).collect()
}

/// The code point ranges sacrebleu's `zh` tokenizer treats as Chinese,
/// compared as Python compares strings. Two of its bounds were written as
/// five-digit `\u` escapes, which Python reads as a four-digit character
/// followed by a digit: `'\u20000'` is U+2000 then `0`, so that range
/// holds U+2001..=U+2A6D, and `'\u2f800'`–`'\u2fa1d'` holds U+2F81..=U+2FA1.
/// Kept as sacrebleu behaves.
const CHINESE_RANGES: [(u32, u32); 22] = [
    (0x3400, 0x4db5),
    (0x4e00, 0x9fa5),
    (0x9fa6, 0x9fbb),
    (0xf900, 0xfa2d),
    (0xfa30, 0xfa6a),
    (0xfa70, 0xfad9),
    (0x2001, 0x2a6d),
    (0x2f81, 0x2fa1),
    (0xff00, 0xffef),
    (0x2e80, 0x2eff),
    (0x3000, 0x303f),
    (0x31c0, 0x31ef),
    (0x2f00, 0x2fdf),
    (0x2ff0, 0x2fff),
    (0x3100, 0x312f),
    (0x31a0, 0x31bf),
    (0xfe10, 0xfe1f),
    (0xfe30, 0xfe4f),
    (0x2600, 0x26ff),
    (0x2700, 0x27bf),
    (0x3200, 0x32ff),
    (0x3300, 0x33ff),
];

pub fn is_sacrebleu_chinese(c: char) -> bool {
    let c = c as u32;
    CHINESE_RANGES.iter().any(|&(start, end)| (start..=end).contains(&c))
}

/// `zh`: every Chinese character on its own, the rest as `13a`'s rules
/// (without its entity and `<skipped>` handling); the rewritten line into `out`.
pub fn rewrite_zh(line: &str, scratch: &mut Scratch, out: &mut String) {
    let line = line.trim_matches(crate::text::is_python_space);
    let mut spaced = String::with_capacity(line.len() * 2);
    for c in line.chars() {
        if is_sacrebleu_chinese(c) {
            spaced.push(' ');
            spaced.push(c);
            spaced.push(' ');
        } else {
            spaced.push(c);
        }
    }
    regexp_rewrite(&spaced, false, scratch, out);
}

/// The tokens `zh` makes of `line`.
pub fn tokenize_zh(line: &str) -> Vec<String> {
    let mut out = String::new();
    rewrite_zh(line, &mut Scratch::default(), &mut out);
    python_split(&out).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirteen_a_splits_punctuation_but_keeps_numbers_whole() {
        assert_eq!(
            tokenize_13a("Hello, world. 3.5 kg, 1,000 ft"),
            ["Hello", ",", "world", ".", "3.5", "kg", ",", "1,000", "ft"]
        );
        assert_eq!(
            tokenize_13a("Part 23-1 (a) &amp; x/y"),
            ["Part", "23", "-", "1", "(", "a", ")", "&", "x", "/", "y"]
        );
        assert_eq!(tokenize_13a("don't"), ["don't"], "the apostrophe is not padded");
    }

    #[test]
    fn a_pair_consumed_by_one_rewrite_is_not_matched_again() {
        // `re.sub` does not overlap matches: in "a.." the second period follows
        // the first match, so only the third rule separates it.
        assert_eq!(tokenize_13a("a.."), ["a", ".", "."]);
        assert_eq!(tokenize_13a("x.,y"), ["x", ".", ",", "y"]);
    }

    #[test]
    fn zh_splits_characters_and_keeps_sacrebleus_range_quirks() {
        assert_eq!(tokenize_zh("飞机适航。Part 23"), ["飞", "机", "适", "航", "。", "Part", "23"]);
        assert!(is_sacrebleu_chinese('\u{2001}') && is_sacrebleu_chinese('\u{2a6d}'));
        assert!(!is_sacrebleu_chinese('\u{2000}') && !is_sacrebleu_chinese('\u{20000}'));
    }
}

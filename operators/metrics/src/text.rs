//! Python's idea of whitespace: `str.split()` splits on it, and the
//! reference implementations split with it.

/// Whether Python's `str.isspace` holds for `c`: Unicode White_Space plus
/// the ASCII information separators U+001C–U+001F.
pub fn is_python_space(c: char) -> bool {
    if c.is_ascii() {
        return matches!(c, ' ' | '\t'..='\r' | '\u{1c}'..='\u{1f}');
    }
    c.is_whitespace()
}

/// `text.split()` in Python.
pub fn python_split(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let start = rest.find(|c: char| !is_python_space(c))?;
        rest = &rest[start..];
        let end = rest.find(is_python_space).unwrap_or(rest.len());
        let (word, tail) = rest.split_at(end);
        rest = tail;
        Some(word)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_python_including_the_separator_controls() {
        let parts: Vec<_> = python_split(" a\u{1f}b\u{3000}c\u{a0}d\n").collect();
        assert_eq!(parts, ["a", "b", "c", "d"]);
        assert!(!is_python_space('\u{200b}'), "a zero-width space is not whitespace in Python");
    }
}

//! The Porter stemmer as NLTK's `PorterStemmer` runs it in its default
//! `NLTK_EXTENSIONS` mode, which `rouge-score` uses: the original five
//! steps plus NLTK's irregular forms and its departures in steps 1a, 1b,
//! 1c and 2. Words are ASCII lowercase (ROUGE's tokens always are).

/// NLTK's irregular forms: looked up before any rule.
fn irregular(word: &str) -> Option<&'static str> {
    Some(match word {
        "sky" | "skies" => "sky",
        "dying" => "die",
        "lying" => "lie",
        "tying" => "tie",
        "news" => "news",
        "innings" | "inning" => "inning",
        "outings" | "outing" => "outing",
        "cannings" | "canning" => "canning",
        "howe" => "howe",
        "proceed" => "proceed",
        "exceed" => "exceed",
        "succeed" => "succeed",
        _ => return None,
    })
}

fn is_vowel(c: u8) -> bool {
    matches!(c, b'a' | b'e' | b'i' | b'o' | b'u')
}

/// NLTK's `_is_consonant`: `y` is a consonant after a vowel (or at the start).
fn is_consonant(word: &[u8], mut i: usize) -> bool {
    if is_vowel(word[i]) {
        return false;
    }
    if word[i] != b'y' {
        return true;
    }
    let mut negate = false;
    while i > 0 && word[i] == b'y' {
        negate = !negate;
        i -= 1;
    }
    is_vowel(word[i]) == negate
}

/// NLTK's `_consonant_flags`, which its measure and vowel test use.
fn consonant_flags(stem: &[u8]) -> Vec<bool> {
    let mut flags: Vec<bool> = Vec::with_capacity(stem.len());
    for (i, &c) in stem.iter().enumerate() {
        let flag = if is_vowel(c) {
            false
        } else if c == b'y' {
            i == 0 || !flags[i - 1]
        } else {
            true
        };
        flags.push(flag);
    }
    flags
}

/// m in [C](VC)^m[V]: the number of vowel→consonant changes.
fn measure(stem: &[u8]) -> usize {
    consonant_flags(stem).windows(2).filter(|w| !w[0] && w[1]).count()
}

fn contains_vowel(stem: &[u8]) -> bool {
    consonant_flags(stem).iter().any(|c| !c)
}

fn ends_double_consonant(word: &[u8]) -> bool {
    let n = word.len();
    n >= 2 && word[n - 1] == word[n - 2] && is_consonant(word, n - 1)
}

/// *o: consonant-vowel-consonant, the last not w, x or y; NLTK adds a
/// two-letter vowel-consonant word.
fn ends_cvc(word: &[u8]) -> bool {
    let n = word.len();
    (n >= 3
        && is_consonant(word, n - 3)
        && !is_consonant(word, n - 2)
        && is_consonant(word, n - 1)
        && !matches!(word[n - 1], b'w' | b'x' | b'y'))
        || (n == 2 && !is_consonant(word, 0) && is_consonant(word, 1))
}

/// What a rule asks of the stem left when its suffix is taken off.
#[derive(Clone, Copy)]
enum Condition {
    Always,
    MeasureAbove(usize),
    /// Step 4's `ion`: m > 1 and the stem ends in s or t.
    MeasureAboveOneAndSt,
}

impl Condition {
    fn holds(self, stem: &[u8]) -> bool {
        match self {
            Condition::Always => true,
            Condition::MeasureAbove(m) => measure(stem) > m,
            Condition::MeasureAboveOneAndSt => measure(stem) > 1 && matches!(stem.last(), Some(b's' | b't')),
        }
    }
}

/// NLTK's `_apply_rule_list`: the first rule whose suffix matches decides,
/// whether or not its condition holds.
fn apply_rules(word: Vec<u8>, rules: &[(&str, &str, Condition)]) -> Vec<u8> {
    for &(suffix, replacement, condition) in rules {
        if word.ends_with(suffix.as_bytes()) {
            let stem = &word[..word.len() - suffix.len()];
            return if condition.holds(stem) { [stem, replacement.as_bytes()].concat() } else { word };
        }
    }
    word
}

fn replace_suffix(word: &[u8], suffix: &str, replacement: &str) -> Vec<u8> {
    [&word[..word.len() - suffix.len()], replacement.as_bytes()].concat()
}

fn step1a(word: Vec<u8>) -> Vec<u8> {
    if word.ends_with(b"ies") && word.len() == 4 {
        return replace_suffix(&word, "ies", "ie");
    }
    use Condition::Always;
    apply_rules(word, &[("sses", "ss", Always), ("ies", "i", Always), ("ss", "ss", Always), ("s", "", Always)])
}

fn step1b(word: Vec<u8>) -> Vec<u8> {
    if word.ends_with(b"ied") {
        return replace_suffix(&word, "ied", if word.len() == 4 { "ie" } else { "i" });
    }
    if word.ends_with(b"eed") {
        let stem = &word[..word.len() - 3];
        return if measure(stem) > 0 { [stem, b"ee"].concat() } else { word };
    }
    let Some(stem) = ["ed", "ing"].iter().find_map(|suffix| {
        let stem = word.strip_suffix(suffix.as_bytes())?;
        contains_vowel(stem).then_some(stem)
    }) else {
        return word;
    };
    for (suffix, replacement) in [("at", "ate"), ("bl", "ble"), ("iz", "ize")] {
        if stem.ends_with(suffix.as_bytes()) {
            return replace_suffix(stem, suffix, replacement);
        }
    }
    if ends_double_consonant(stem) {
        let last = stem[stem.len() - 1];
        // The double letter is kept after l, s and z and undone after any other.
        return if matches!(last, b'l' | b's' | b'z') { stem.to_vec() } else { stem[..stem.len() - 1].to_vec() };
    }
    if measure(stem) == 1 && ends_cvc(stem) { [stem, b"e"].concat() } else { stem.to_vec() }
}

fn step1c(word: Vec<u8>) -> Vec<u8> {
    if word.ends_with(b"y") {
        let stem = &word[..word.len() - 1];
        if stem.len() > 1 && is_consonant(stem, stem.len() - 1) {
            return [stem, b"i"].concat();
        }
    }
    word
}

fn step2(word: Vec<u8>) -> Vec<u8> {
    if word.ends_with(b"alli") && measure(&word[..word.len() - 4]) > 0 {
        return step2(replace_suffix(&word, "alli", "al"));
    }
    // NLTK's `logi` rule (last in its list; no other step-2 suffix ends in
    // "gi") measures the word without its last three letters.
    if word.ends_with(b"logi") {
        return if measure(&word[..word.len() - 3]) > 0 { replace_suffix(&word, "logi", "log") } else { word };
    }
    let rules: Vec<(&str, &str, Condition)> = STEP2.iter().map(|&(s, r)| (s, r, Condition::MeasureAbove(0))).collect();
    apply_rules(word, &rules)
}

/// Step 2's suffixes in NLTK's order, `fulli` appended as NLTK does.
const STEP2: [(&str, &str); 21] = [
    ("ational", "ate"),
    ("tional", "tion"),
    ("enci", "ence"),
    ("anci", "ance"),
    ("izer", "ize"),
    ("bli", "ble"),
    ("alli", "al"),
    ("entli", "ent"),
    ("eli", "e"),
    ("ousli", "ous"),
    ("ization", "ize"),
    ("ation", "ate"),
    ("ator", "ate"),
    ("alism", "al"),
    ("iveness", "ive"),
    ("fulness", "ful"),
    ("ousness", "ous"),
    ("aliti", "al"),
    ("iviti", "ive"),
    ("biliti", "ble"),
    ("fulli", "ful"),
];

fn step3(word: Vec<u8>) -> Vec<u8> {
    let m0 = Condition::MeasureAbove(0);
    apply_rules(
        word,
        &[
            ("icate", "ic", m0),
            ("ative", "", m0),
            ("alize", "al", m0),
            ("iciti", "ic", m0),
            ("ical", "ic", m0),
            ("ful", "", m0),
            ("ness", "", m0),
        ],
    )
}

fn step4(word: Vec<u8>) -> Vec<u8> {
    let m1 = Condition::MeasureAbove(1);
    apply_rules(
        word,
        &[
            ("al", "", m1),
            ("ance", "", m1),
            ("ence", "", m1),
            ("er", "", m1),
            ("ic", "", m1),
            ("able", "", m1),
            ("ible", "", m1),
            ("ant", "", m1),
            ("ement", "", m1),
            ("ment", "", m1),
            ("ent", "", m1),
            ("ion", "", Condition::MeasureAboveOneAndSt),
            ("ou", "", m1),
            ("ism", "", m1),
            ("ate", "", m1),
            ("iti", "", m1),
            ("ous", "", m1),
            ("ive", "", m1),
            ("ize", "", m1),
        ],
    )
}

fn step5a(word: Vec<u8>) -> Vec<u8> {
    if let Some(stem) = word.strip_suffix(b"e") {
        let m = measure(stem);
        if m > 1 || (m == 1 && !ends_cvc(stem)) {
            return stem.to_vec();
        }
    }
    word
}

fn step5b(word: Vec<u8>) -> Vec<u8> {
    if word.ends_with(b"ll") && measure(&word[..word.len() - 1]) > 1 {
        return word[..word.len() - 1].to_vec();
    }
    word
}

/// The stem of an ASCII lowercase word; other words come back unchanged.
pub fn stem(word: &str) -> String {
    if let Some(form) = irregular(word) {
        return form.to_owned();
    }
    if word.len() <= 2 || !word.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        return word.to_owned();
    }
    let steps = [step1a, step1b, step1c, step2, step3, step4, step5a, step5b];
    let stemmed = steps.iter().fold(word.as_bytes().to_vec(), |w, step| step(w));
    String::from_utf8(stemmed).unwrap_or_else(|_| word.to_owned())
}

#[cfg(test)]
mod tests {
    use super::stem;

    #[test]
    fn classic_porter_examples() {
        for (word, expected) in [
            ("caresses", "caress"),
            ("ponies", "poni"),
            ("ties", "tie"),
            ("cats", "cat"),
            ("feed", "feed"),
            ("agreed", "agre"),
            ("plastered", "plaster"),
            ("motoring", "motor"),
            ("sing", "sing"),
            ("conflated", "conflat"),
            ("troubled", "troubl"),
            ("hopping", "hop"),
            ("falling", "fall"),
            ("filing", "file"),
            ("happy", "happi"),
            ("relational", "relat"),
            ("generalization", "gener"),
            ("airworthiness", "airworthi"),
            ("requirements", "requir"),
            ("dying", "die"),
        ] {
            assert_eq!(stem(word), expected, "{word}");
        }
    }
}

//! Script and language detection.

/// Whether a character is a CJK ideograph (or CJK punctuation).
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0xF900..=0xFAFF | 0x3000..=0x303F | 0xFF00..=0xFFEF)
}

fn is_han(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0xF900..=0xFAFF)
}

/// The language of a text as an ISO 639-1 code, `und` when unsure. Han
/// characters decide Chinese; other scripts go to whatlang. Only the first
/// 20,000 characters are looked at.
pub fn detect(text: &str) -> String {
    let sample: String = text.chars().take(20_000).collect();
    let mut han = 0usize;
    let mut letters = 0usize;
    for c in sample.chars() {
        if is_han(c) {
            han += 1;
        } else if c.is_alphabetic() {
            letters += 1;
        }
    }
    if han + letters == 0 {
        return "und".to_owned();
    }
    // Chinese text carries Latin letters (clause numbers, units); a share
    // of Han characters this high is Chinese.
    if han * 10 >= (han + letters) * 3 {
        return "zh".to_owned();
    }
    match whatlang::detect(&sample) {
        Some(info) if info.confidence() > 0.3 || info.lang() == whatlang::Lang::Eng => iso639_1(info.lang().code()),
        _ if letters > 0 => "en".to_owned(),
        _ => "und".to_owned(),
    }
}

/// Two-letter codes for the three-letter ones whatlang returns; others stay as they are.
fn iso639_1(code: &str) -> String {
    let two = match code {
        "eng" => "en",
        "cmn" => "zh",
        "fra" => "fr",
        "deu" => "de",
        "spa" => "es",
        "ita" => "it",
        "por" => "pt",
        "rus" => "ru",
        "jpn" => "ja",
        "kor" => "ko",
        "nld" => "nl",
        "swe" => "sv",
        "pol" => "pl",
        "tur" => "tr",
        "ara" => "ar",
        other => other,
    };
    two.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_english_and_nothing() {
        assert_eq!(detect("第23.2005条 正常类飞机审定 (a) 申请人必须表明符合本部的要求。"), "zh");
        assert_eq!(detect("Each applicant must show that the airplane meets the requirements of this part."), "en");
        assert_eq!(detect("12345 ... ---"), "und");
    }
}

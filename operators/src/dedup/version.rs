//! Which document of a duplicate cluster to keep. Near-duplicates are often
//! versions of one document: an airworthiness directive and its revision
//! R1, a section before and after an amendment. Training on the superseded
//! one teaches outdated requirements, so by default the newest is kept.

use std::sync::LazyLock;

use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;

/// The document of a cluster that stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Keep {
    /// The newest version: highest revision (`R1` over the original AD),
    /// then latest effective date, then highest amendment number; ties go
    /// to the first in input order.
    #[default]
    Newest,
    /// The first document in input order.
    First,
    /// The longest text; ties go to the first.
    Longest,
}

fn pattern(source: &str) -> Regex {
    Regex::new(source).unwrap_or_else(|e| panic!("invalid built-in pattern: {e}"))
}

/// `2025-0254R1`, `2023-05-12 R2`: a revision in a directive's name. (Texts
/// mention revisions of everything they cite, service bulletins included,
/// so only names are read for it.)
static REVISION: LazyLock<Regex> = LazyLock::new(|| pattern(r"\d{2,4}-\d{2,4}(?:-\d{2})?\s?R(\d{1,2})(?:\D|$)"));
/// `Amdt. 91-364`, `Amendment 25-150`.
static AMENDMENT: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"\b(?:Amdt\.?|Amendment)\s*(?:No\.\s*)?\d{1,3}-(\d{1,4})\b"));
/// `Effective Date: 2025-11-27`, `effective 27 November 2025`, `Effective Date: November 27, 2025`.
static EFFECTIVE: LazyLock<Regex> = LazyLock::new(|| {
    pattern(
        r"(?i)effective(?:\s+date)?\s*:?\s*(?:revision\s+\d+\s*:\s*)?(?:(\d{4})-(\d{2})-(\d{2})|(\d{1,2})\s+([A-Za-z]+)\s+(\d{4})|([A-Za-z]+)\s+(\d{1,2}),\s*(\d{4}))",
    )
});

fn month(name: &str) -> Option<u32> {
    let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    let lower = name.to_ascii_lowercase();
    months.iter().position(|m| lower.starts_with(m)).map(|i| i as u32 + 1)
}

/// The latest effective date named, as YYYYMMDD.
fn effective_date(text: &str) -> u32 {
    EFFECTIVE
        .captures_iter(text)
        .filter_map(|c| {
            let number = |i: usize| c.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
            let (y, m, d) = if let (Some(y), Some(m), Some(d)) = (number(1), number(2), number(3)) {
                (y, m, d)
            } else if let (Some(d), Some(m), Some(y)) = (number(4), c.get(5).and_then(|m| month(m.as_str())), number(6))
            {
                (y, m, d)
            } else {
                (number(9)?, c.get(7).and_then(|m| month(m.as_str()))?, number(8)?)
            };
            ((1900..2200).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d))
                .then_some(y * 10_000 + m * 100 + d)
        })
        .max()
        .unwrap_or(0)
}

fn highest(pattern: &Regex, text: &str) -> u32 {
    pattern
        .captures_iter(text)
        .filter_map(|c| c.iter().skip(1).flatten().next().and_then(|m| m.as_str().parse::<u32>().ok()))
        .max()
        .unwrap_or(0)
}

/// How new a document looks: (revision, effective date, amendment).
/// The revision comes from its name (source, title), the dates and
/// amendments from its text.
pub fn version_key(name: &str, text: &str) -> (u32, u32, u32) {
    let head: String = text.chars().take(4000).collect();
    let revision = highest(&REVISION, name);
    (revision, effective_date(&head), highest(&AMENDMENT, text))
}

/// The score a document competes with under `keep` (higher wins; equal
/// scores go to the earlier document).
pub fn score(keep: Keep, name: &str, text: &str) -> [u64; 3] {
    match keep {
        Keep::First => [0; 3],
        Keep::Longest => [text.chars().count() as u64, 0, 0],
        Keep::Newest => {
            let (revision, date, amendment) = version_key(name, text);
            [u64::from(revision), u64::from(date), u64::from(amendment)]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revision_outranks_the_original_directive() {
        assert!(version_key("EASA_AD_2025-0254R1_1.pdf", "") > version_key("EASA_AD_2025-0254_1.pdf", ""));
        assert_eq!(version_key("AD 2023-05-12 R2", "").0, 2);
        // A revision of a cited bulletin is not the document's own.
        assert_eq!(version_key("EASA_AD_2025-0254_1.pdf", "Airbus SB A320-57-1234 Revision 04").0, 0);
    }

    #[test]
    fn effective_dates_and_amendments_are_read_in_their_common_forms() {
        assert_eq!(effective_date("Effective Date: 2025-11-27"), 20251127);
        assert_eq!(effective_date("effective 5 April 2024 and Effective Date: 27 November 2025"), 20251127);
        assert_eq!(effective_date("Effective Date: November 27, 2025"), 20251127);
        assert_eq!(effective_date("Effective Date: Revision 01: 08 December 2025"), 20251208);
        assert_eq!(version_key("", "[Doc. No. 1, Amdt. 91-280, 55 FR 1] ... Amdt. 91-364").2, 364);
    }

    #[test]
    fn first_and_longest_ignore_versions() {
        assert_eq!(score(Keep::First, "R1", "x"), [0, 0, 0]);
        assert_eq!(score(Keep::Longest, "", "abc")[0], 3);
    }
}

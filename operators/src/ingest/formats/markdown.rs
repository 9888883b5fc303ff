//! Markdown: kept as Markdown; YAML front matter becomes metadata.

use serde_json::{Map, Value};

/// Splits YAML front matter (`---` … `---` at the very top) from the body.
pub fn split_front_matter(text: &str) -> (Option<Map<String, Value>>, &str) {
    let trimmed = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(rest) = trimmed.strip_prefix("---") else {
        return (None, trimmed);
    };
    let rest = rest.strip_prefix('\r').unwrap_or(rest);
    let Some(rest) = rest.strip_prefix('\n') else {
        return (None, trimmed);
    };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        let bare = line.trim_end();
        if bare == "---" || bare == "..." {
            let yaml = &rest[..offset];
            let body = &rest[offset + line.len()..];
            let meta = serde_yaml::from_str::<Value>(yaml).ok().and_then(|v| match v {
                Value::Object(map) => Some(map),
                _ => None,
            });
            return (meta, body);
        }
        offset += line.len();
    }
    (None, trimmed)
}

/// The first `# ` (or `## `) heading of a Markdown text.
pub fn first_heading(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("# ") || l.starts_with("## "))
        .map(|l| l.trim_start_matches('#').trim().to_owned())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_is_split_off() {
        let text = "---\ntitle: Part 25\ntags: [far]\n---\n# Part 25\n\nBody\n";
        let (meta, body) = split_front_matter(text);
        assert_eq!(meta.expect("meta")["title"], "Part 25");
        assert_eq!(body, "# Part 25\n\nBody\n");
        assert_eq!(first_heading(body).as_deref(), Some("Part 25"));
    }

    #[test]
    fn a_rule_without_front_matter_is_left_alone() {
        let text = "Intro\n\n---\n\nMore";
        assert_eq!(split_front_matter(text), (None, text));
    }
}

//! Documents' Markdown as HTML for the console. Raw HTML inside a
//! document is shown as text: documents come from anywhere, and the page
//! must not run or render what they carry.

use pulldown_cmark::{Event, Options, Parser, html};

/// The HTML of `text`, with any HTML it contains escaped.
pub fn to_html(text: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let events = Parser::new_ext(text, options).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        other => other,
    });
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::to_html;

    #[test]
    fn markdown_renders_and_html_inside_stays_text() {
        let html = to_html("# § 25.1309\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<script>alert(1)</script> <b>x</b>");
        assert!(html.contains("<h1>§ 25.1309</h1>"), "{html}");
        assert!(html.contains("<table>"), "{html}");
        assert!(!html.contains("<script>") && !html.contains("<b>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }
}

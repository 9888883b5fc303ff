//! Builds Markdown text from structural events (blocks, headings, list
//! items, table rows, inline text); shared by the HTML, XML and DOCX readers.

/// Accumulates Markdown with normalised whitespace.
#[derive(Debug, Default)]
pub struct MarkdownBuilder {
    out: String,
    /// Inline text waiting for its block to end.
    pending: String,
    /// Prefix of the pending block (`## `, `- `, …).
    prefix: String,
    table: Vec<Vec<String>>,
    last_was_list: bool,
}

fn collapse(text: &str, into: &mut String) {
    for part in text.split_whitespace() {
        if !into.is_empty() && !into.ends_with([' ', '\n']) {
            into.push(' ');
        }
        into.push_str(part);
    }
    // Keep a trailing space so `a<b>b</b>` still reads `ab` but `a <b>b</b>` reads `a b`.
    if text.ends_with(char::is_whitespace) && !into.is_empty() && !into.ends_with([' ', '\n']) {
        into.push(' ');
    }
}

impl MarkdownBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds inline text (whitespace collapsed).
    pub fn text(&mut self, text: &str) {
        if text.starts_with(char::is_whitespace) && !self.pending.is_empty() && !self.pending.ends_with(' ') {
            self.pending.push(' ');
        }
        collapse(text, &mut self.pending);
    }

    /// Adds text verbatim (preformatted).
    pub fn raw(&mut self, text: &str) {
        self.pending.push_str(text);
    }

    /// A hard line break inside the current block.
    pub fn line_break(&mut self) {
        let trimmed = self.pending.trim_end().len();
        self.pending.truncate(trimmed);
        self.pending.push('\n');
    }

    /// Ends the current block; the next text starts a new paragraph.
    pub fn end_block(&mut self) {
        let text = self.pending.trim().to_owned();
        self.pending.clear();
        let prefix = std::mem::take(&mut self.prefix);
        if text.is_empty() {
            return;
        }
        let is_list = prefix.ends_with("- ") || prefix.trim_end().ends_with('.');
        if !self.out.is_empty() {
            // Consecutive list items stay on consecutive lines; every other
            // block is separated by a blank line.
            if !(is_list && self.last_was_list) {
                self.out.push('\n');
            }
        }
        self.out.push_str(&prefix);
        self.out.push_str(&text);
        self.out.push('\n');
        self.last_was_list = is_list;
    }

    /// Starts a heading of `level` (1–6).
    pub fn heading(&mut self, level: usize) {
        self.end_block();
        self.prefix = format!("{} ", "#".repeat(level.clamp(1, 6)));
    }

    /// Starts a list item at nesting `depth` (0 = top level).
    pub fn list_item(&mut self, depth: usize, ordinal: Option<usize>) {
        self.end_block();
        let indent = "  ".repeat(depth);
        self.prefix = match ordinal {
            Some(n) => format!("{indent}{n}. "),
            None => format!("{indent}- "),
        };
    }

    /// Starts a table.
    pub fn start_table(&mut self) {
        self.end_block();
        self.table.clear();
    }

    /// Adds a row of cell texts to the current table.
    pub fn table_row(&mut self, cells: Vec<String>) {
        if cells.iter().any(|c| !c.trim().is_empty()) {
            self.table.push(cells);
        }
    }

    /// Writes the current table as a Markdown table.
    pub fn end_table(&mut self) {
        let rows = std::mem::take(&mut self.table);
        if rows.is_empty() {
            return;
        }
        let width = rows.iter().map(Vec::len).max().unwrap_or(0);
        let cell = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|");
        let mut text = String::new();
        for (i, row) in rows.iter().enumerate() {
            text.push('|');
            for c in 0..width {
                text.push(' ');
                text.push_str(&cell(row.get(c).map(String::as_str).unwrap_or("")));
                text.push_str(" |");
            }
            text.push('\n');
            if i == 0 {
                text.push('|');
                for _ in 0..width {
                    text.push_str(" --- |");
                }
                text.push('\n');
            }
        }
        if !self.out.is_empty() {
            self.out.push('\n');
        }
        self.out.push_str(&text);
        self.last_was_list = false;
    }

    /// The Markdown built so far, ending the open block.
    pub fn finish(mut self) -> String {
        self.end_block();
        self.end_table();
        let trimmed = self.out.trim_end().len();
        self.out.truncate(trimmed);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_headings_lists_and_tables() {
        let mut md = MarkdownBuilder::new();
        md.heading(2);
        md.text("  § 25.1309  Equipment ");
        md.end_block();
        md.text("Each item\n of equipment");
        md.end_block();
        md.list_item(0, None);
        md.text("first");
        md.list_item(0, None);
        md.text("second");
        md.end_block();
        md.start_table();
        md.table_row(vec!["Load".into(), "Factor".into()]);
        md.table_row(vec!["gust".into(), "3.8 | g".into()]);
        md.end_table();
        assert_eq!(
            md.finish(),
            "## § 25.1309 Equipment\n\nEach item of equipment\n\n- first\n- second\n\n| Load | Factor |\n| --- | --- |\n| gust | 3.8 \\| g |"
        );
    }
}

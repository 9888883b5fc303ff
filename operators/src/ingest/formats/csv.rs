//! CSV: the whole table as a Markdown table.

use super::markdown_builder::MarkdownBuilder;

/// Converts CSV text (a BOM is ignored) into a Markdown table.
///
/// # Errors
/// When the CSV is malformed or has no rows.
pub fn to_markdown(text: &str) -> Result<String, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut md = MarkdownBuilder::new();
    md.start_table();
    let mut rows = 0;
    for record in reader.records() {
        let record = record.map_err(|e| format!("malformed CSV: {e}"))?;
        md.table_row(record.iter().map(str::to_owned).collect());
        rows += 1;
    }
    md.end_table();
    if rows == 0 {
        return Err("the CSV file has no rows".to_owned());
    }
    Ok(md.finish())
}

#[cfg(test)]
mod tests {
    #[test]
    fn rows_become_a_table() {
        let md =
            super::to_markdown("\u{feff}standard,article,title\nCCAR-23,23.2000,\"适用范围, 定义\"\n").expect("ok");
        assert_eq!(md, "| standard | article | title |\n| --- | --- | --- |\n| CCAR-23 | 23.2000 | 适用范围, 定义 |");
    }
}

//! From positioned glyphs to lines and paragraphs of text.

/// A glyph placed on the page (device space, y up).
#[derive(Debug, Clone, Copy)]
pub struct Placed {
    pub x: f32,
    pub y: f32,
    /// Where the next glyph would start.
    pub end_x: f32,
    pub size: f32,
    /// Range of the glyph's text in the page's text buffer.
    pub start: u32,
    pub len: u32,
}

/// Glyphs that follow each other on one baseline, in content order.
#[derive(Debug, Clone)]
struct Run {
    x: f32,
    end_x: f32,
    y: f32,
    size: f32,
    text: String,
}

fn is_space(text: &str) -> bool {
    text.chars().all(char::is_whitespace)
}

/// Gap (in font sizes) above which two glyphs are separate words.
const WORD_GAP: f32 = 0.15;
/// Baseline shift (in font sizes) that still counts as the same line.
const SAME_LINE: f32 = 0.45;

fn runs(glyphs: &[Placed], buffer: &str) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for g in glyphs {
        let text = &buffer[g.start as usize..(g.start + g.len) as usize];
        if text.is_empty() {
            continue;
        }
        let size = g.size.max(1.0);
        if let Some(run) = runs.last_mut() {
            let same_line = (g.y - run.y).abs() < SAME_LINE * size.min(run.size);
            let gap = g.x - run.end_x;
            // Continues the run when it is on the same baseline and not far
            // before or after its end.
            if same_line && gap > -0.5 * size && gap < 3.0 * size {
                if gap > WORD_GAP * size && !run.text.ends_with(' ') && !is_space(text) {
                    run.text.push(' ');
                }
                run.text.push_str(text);
                run.end_x = run.end_x.max(g.end_x);
                continue;
            }
        }
        runs.push(Run { x: g.x, end_x: g.end_x, y: g.y, size, text: text.to_owned() });
    }
    runs
}

/// Lays out one page: runs grouped into lines by baseline, lines ordered top
/// to bottom, runs left to right, blank lines where the vertical gap says a
/// new paragraph starts.
pub fn page_text(glyphs: &[Placed], buffer: &str) -> String {
    let mut runs = runs(glyphs, buffer);
    if runs.is_empty() {
        return String::new();
    }
    // Top to bottom, then left to right; a stable sort keeps content order
    // for runs at the same position.
    runs.sort_by(|a, b| b.y.total_cmp(&a.y).then(a.x.total_cmp(&b.x)));

    let mut lines: Vec<Vec<Run>> = Vec::new();
    for run in runs {
        if let Some(line) = lines.last_mut() {
            let anchor = &line[0];
            if (anchor.y - run.y).abs() < SAME_LINE * anchor.size.min(run.size) {
                line.push(run);
                continue;
            }
        }
        lines.push(vec![run]);
    }

    let mut spacings: Vec<f32> = lines.windows(2).map(|w| w[0][0].y - w[1][0].y).filter(|d| *d > 0.0).collect();
    spacings.sort_by(f32::total_cmp);
    let typical = spacings.get(spacings.len() / 2).copied().unwrap_or(0.0);

    let mut out = String::new();
    let mut previous_y: Option<f32> = None;
    for mut line in lines {
        line.sort_by(|a, b| a.x.total_cmp(&b.x));
        let y = line[0].y;
        let size = line[0].size;
        if let Some(prev) = previous_y {
            let gap = prev - y;
            out.push('\n');
            if typical > 0.0 && gap > 1.6 * typical.max(size) {
                out.push('\n');
            }
        }
        previous_y = Some(y);
        let mut end: Option<f32> = None;
        let start_len = out.len();
        for run in &line {
            if let Some(end) = end
                && run.x - end > WORD_GAP * run.size
                && !out.ends_with(' ')
                && !run.text.starts_with(' ')
            {
                out.push(' ');
            }
            out.push_str(&run.text);
            end = Some(end.map_or(run.end_x, |e: f32| e.max(run.end_x)));
        }
        // Trailing spaces of a line carry nothing.
        let trimmed = out[start_len..].trim_end().len();
        out.truncate(start_len + trimmed);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(buffer: &mut String, text: &str, x: f32, y: f32, size: f32) -> Placed {
        let start = buffer.len() as u32;
        buffer.push_str(text);
        Placed { x, y, end_x: x + text.chars().count() as f32 * size * 0.5, size, start, len: text.len() as u32 }
    }

    #[test]
    fn lines_are_ordered_top_down_whatever_the_content_order() {
        let mut buffer = String::new();
        let glyphs =
            vec![place(&mut buffer, "second", 72.0, 680.0, 10.0), place(&mut buffer, "first", 72.0, 700.0, 10.0)];
        assert_eq!(page_text(&glyphs, &buffer), "first\nsecond");
    }

    #[test]
    fn gaps_become_spaces_and_touching_glyphs_join() {
        let mut buffer = String::new();
        let glyphs = vec![
            place(&mut buffer, "ab", 72.0, 700.0, 10.0),
            place(&mut buffer, "c", 82.0, 700.0, 10.0),
            place(&mut buffer, "d", 92.0, 700.0, 10.0),
        ];
        assert_eq!(page_text(&glyphs, &buffer), "abc d");
    }

    #[test]
    fn a_large_vertical_gap_starts_a_paragraph() {
        let mut buffer = String::new();
        let glyphs = vec![
            place(&mut buffer, "one", 72.0, 700.0, 10.0),
            place(&mut buffer, "two", 72.0, 688.0, 10.0),
            place(&mut buffer, "three", 72.0, 676.0, 10.0),
            place(&mut buffer, "four", 72.0, 640.0, 10.0),
        ];
        assert_eq!(page_text(&glyphs, &buffer), "one\ntwo\nthree\n\nfour");
    }
}

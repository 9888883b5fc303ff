//! `${{ params.NAME }}` and `${{ tasks.ID.outputs.NAME }}` expressions.

use std::ops::Range;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Expr {
    Param(String),
    Output { task: String, output: String },
}

/// An expression found in a string, with its byte range (including `${{ }}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub range: Range<usize>,
    pub expr: Expr,
}

/// Finds every expression in `text`.
///
/// # Errors
/// The first malformed expression, with a message that says what is accepted.
pub fn scan(text: &str) -> Result<Vec<Found>, String> {
    let mut found = Vec::new();
    let mut offset = 0;
    while let Some(start) = text[offset..].find("${{") {
        let start = offset + start;
        let Some(len) = text[start + 3..].find("}}") else {
            return Err(format!("unterminated expression starting at {:?}; close it with }}}}", &text[start..]));
        };
        let inner = text[start + 3..start + 3 + len].trim();
        let end = start + 3 + len + 2;
        found.push(Found { range: start..end, expr: parse(inner)? });
        offset = end;
    }
    Ok(found)
}

fn parse(inner: &str) -> Result<Expr, String> {
    let parts: Vec<&str> = inner.split('.').collect();
    let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match parts.as_slice() {
        ["params", name] if valid(name) => Ok(Expr::Param((*name).to_owned())),
        ["tasks", task, "outputs", output] if valid(task) && valid(output) => {
            Ok(Expr::Output { task: (*task).to_owned(), output: (*output).to_owned() })
        }
        _ => Err(format!(
            "unknown expression \"${{{{ {inner} }}}}\"; expected ${{{{ params.NAME }}}} or ${{{{ tasks.ID.outputs.NAME }}}}"
        )),
    }
}

/// Whether `text` is exactly one expression and nothing else.
pub fn whole(text: &str) -> Option<Expr> {
    let found = scan(text).ok()?;
    match found.as_slice() {
        [only] if only.range == (0..text.len()) => Some(only.expr.clone()),
        _ => None,
    }
}

/// Replaces every expression in `text` with what `value_of` returns for it.
pub fn substitute(text: &str, found: &[Found], mut value_of: impl FnMut(&Expr) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for f in found {
        out.push_str(&text[last..f.range.start]);
        out.push_str(&value_of(&f.expr));
        last = f.range.end;
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_params_and_outputs_with_flexible_spacing() {
        let found = scan("ls ${{params.corpus}} > ${{ tasks.fetch.outputs.list }}").expect("valid");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].expr, Expr::Param("corpus".into()));
        assert_eq!(found[1].expr, Expr::Output { task: "fetch".into(), output: "list".into() });
    }

    #[test]
    fn whole_expression_is_recognised_only_alone() {
        assert_eq!(whole("${{ params.workers }}"), Some(Expr::Param("workers".into())));
        assert_eq!(whole("n=${{ params.workers }}"), None);
    }

    #[test]
    fn malformed_expressions_explain_the_accepted_forms() {
        let err = scan("${{ env.HOME }}").expect_err("unknown root");
        assert!(err.contains("expected ${{ params.NAME }}"), "{err}");
        let err = scan("${{ params.x").expect_err("unterminated");
        assert!(err.contains("unterminated"), "{err}");
    }

    #[test]
    fn substitute_replaces_in_place() {
        let text = "a ${{ params.x }} b ${{ params.y }}";
        let found = scan(text).expect("valid");
        let out = substitute(text, &found, |e| match e {
            Expr::Param(p) => p.to_uppercase(),
            Expr::Output { .. } => String::new(),
        });
        assert_eq!(out, "a X b Y");
    }
}

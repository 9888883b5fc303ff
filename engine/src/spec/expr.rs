//! `${{ params.NAME }}`, `${{ tasks.ID.outputs.NAME }}` and, inside a task
//! with `map:`, `${{ item }}` expressions.

use std::ops::Range;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Expr {
    Param(String),
    Output {
        task: String,
        output: String,
    },
    /// The item one instance of a mapped task runs for.
    Item,
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
        ["item"] => Ok(Expr::Item),
        ["tasks", task, "outputs", output] if valid(task) && valid(output) => {
            Ok(Expr::Output { task: (*task).to_owned(), output: (*output).to_owned() })
        }
        _ => Err(format!(
            "unknown expression \"${{{{ {inner} }}}}\"; expected ${{{{ params.NAME }}}}, ${{{{ tasks.ID.outputs.NAME }}}} or, in a task with `map:`, ${{{{ item }}}}"
        )),
    }
}

/// A task's `if:`: a value an upstream task's output carries, tested for
/// truth (`true`, a non-zero number, a non-empty string or list); `not`
/// when written with a leading `!`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Condition {
    pub task: String,
    pub output: String,
    pub key: String,
    pub not: bool,
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bang = if self.not { "!" } else { "" };
        write!(f, "${{{{ {bang}tasks.{}.outputs.{}.values.{} }}}}", self.task, self.output, self.key)
    }
}

impl Condition {
    /// Parses `${{ tasks.ID.outputs.NAME.values.KEY }}` (with an optional `!`).
    ///
    /// # Errors
    /// Anything else, with the accepted form.
    pub fn parse(text: &str) -> Result<Self, String> {
        let expected = || {
            format!(
                "`if:` takes one expression, ${{{{ tasks.ID.outputs.NAME.values.KEY }}}} or ${{{{ !tasks.ID.outputs.NAME.values.KEY }}}}; found {text:?}"
            )
        };
        let inner =
            text.trim().strip_prefix("${{").and_then(|t| t.strip_suffix("}}")).map(str::trim).ok_or_else(expected)?;
        let (not, inner) = match inner.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, inner),
        };
        let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        match inner.split('.').collect::<Vec<_>>().as_slice() {
            ["tasks", task, "outputs", output, "values", key] if valid(task) && valid(output) && valid(key) => {
                Ok(Self { task: (*task).to_owned(), output: (*output).to_owned(), key: (*key).to_owned(), not })
            }
            _ => Err(expected()),
        }
    }

    /// Whether the condition holds for `value` (absent counts as false).
    pub fn holds(&self, value: Option<&serde_json::Value>) -> bool {
        use serde_json::Value;
        let truthy = match value {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => n.as_f64().is_some_and(|x| x != 0.0),
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Object(o)) => !o.is_empty(),
        };
        truthy != self.not
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
        assert_eq!(whole("${{ item }}"), Some(Expr::Item));
    }

    #[test]
    fn malformed_expressions_explain_the_accepted_forms() {
        let err = scan("${{ env.HOME }}").expect_err("unknown root");
        assert!(err.contains("expected ${{ params.NAME }}"), "{err}");
        let err = scan("${{ params.x").expect_err("unterminated");
        assert!(err.contains("unterminated"), "{err}");
    }

    #[test]
    fn conditions_name_an_output_value_and_may_be_negated() {
        let c = Condition::parse("${{ tasks.evaluate.outputs.report.values.beats_baseline }}").expect("valid");
        assert_eq!(
            (c.task.as_str(), c.output.as_str(), c.key.as_str(), c.not),
            ("evaluate", "report", "beats_baseline", false)
        );
        assert!(c.holds(Some(&serde_json::json!(true))) && !c.holds(Some(&serde_json::json!(false))) && !c.holds(None));
        let negated = Condition::parse("${{ !tasks.e.outputs.r.values.k }}").expect("valid");
        assert!(negated.holds(None) && !negated.holds(Some(&serde_json::json!(1))));
        assert_eq!(negated.to_string(), "${{ !tasks.e.outputs.r.values.k }}");
        let err = Condition::parse("${{ tasks.e.outputs.r }}").expect_err("no value");
        assert!(err.contains("values.KEY"), "{err}");
    }

    #[test]
    fn substitute_replaces_in_place() {
        let text = "a ${{ params.x }} b ${{ params.y }}";
        let found = scan(text).expect("valid");
        let out = substitute(text, &found, |e| match e {
            Expr::Param(p) => p.to_uppercase(),
            Expr::Output { .. } | Expr::Item => String::new(),
        });
        assert_eq!(out, "a X b Y");
    }
}

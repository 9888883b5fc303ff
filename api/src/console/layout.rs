//! The frame of every page: header with the sections, the language switch
//! and signing out; the main area; the stylesheet and the CSRF token for
//! scripts.

use maud::{DOCTYPE, Markup, html};

use super::i18n::Lang;
use crate::auth::CurrentUser;

/// The console's sections, in the header's order: `(path, text key)`.
const SECTIONS: &[(&str, &str)] = &[
    ("/pipelines", "pipelines"),
    ("/runs", "runs"),
    ("/data", "data"),
    ("/training", "training"),
    ("/models", "models"),
    ("/evaluations", "evaluations"),
];

/// A whole page; `current` is the section it belongs to.
pub fn page(lang: Lang, title: &str, user: Option<&CurrentUser>, current: &str, body: Markup) -> Markup {
    let other = if lang == Lang::Zh { "en" } else { "zh" };
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(csrf) = user.and_then(|u| u.csrf.as_deref()) {
                    meta name="csrf-token" content=(csrf);
                }
                // The page script names statuses that arrive live the same way.
                meta name="status-labels" content=(lang.status_labels());
                title { (title) " · " (lang.t("console")) }
                link rel="icon" href="data:,";
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/console.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "Hangar" }
                    @if let Some(user) = user {
                        nav aria-label=(lang.t("console")) {
                            @for (path, key) in SECTIONS {
                                @if *path == current {
                                    a href=(path) aria-current="page" { (lang.t(key)) }
                                } @else {
                                    a href=(path) { (lang.t(key)) }
                                }
                            }
                        }
                        @if user.is_admin() {
                            @for (path, key) in [("/admin/users", "users"), ("/admin/audit", "audit_log")] {
                                @if current == path {
                                    a.admin href=(path) aria-current="page" { (lang.t(key)) }
                                } @else {
                                    a.admin href=(path) { (lang.t(key)) }
                                }
                            }
                        }
                        a.who href="/account" { (user.email) }
                        form.inline method="post" action="/logout" {
                            @if let Some(csrf) = &user.csrf {
                                input type="hidden" name="csrf" value=(csrf);
                            }
                            button type="submit" { (lang.t("sign_out")) }
                        }
                    }
                    a.lang href={ "/lang?to=" (other) "&next=" (current) } { (lang.t("language")) }
                }
                main { (body) }
            }
        }
    }
}

/// A moment: UTC on the server, the reader's own zone and language once
/// the page script has run.
pub fn moment(ms: i64) -> Markup {
    let utc = chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string());
    html! { time data-ms=(ms) { (utc.unwrap_or_default()) } }
}

/// A status as a coloured badge, named in the reader's language.
pub fn status_badge(lang: Lang, status: &str) -> Markup {
    html! { span class={ "status " (status) } { (lang.status(status)) } }
}

pub use hangar_sdk::artifact::human_size;

/// A number as the server writes it, regrouped in the reader's language by
/// the page script.
pub fn number(value: f64) -> Markup {
    let shown = if value.fract() == 0.0 && value.abs() < 1e15 { format!("{value:.0}") } else { format!("{value:.4}") };
    html! { span data-num=(value) { (shown) } }
}

/// A table's header row: one column per text key.
pub fn head(lang: Lang, keys: &[&'static str]) -> Markup {
    html! { thead { tr { @for key in keys { th scope="col" { (lang.t(key)) } } } } }
}

//! The console's two languages. The choice comes from the `hangar_lang`
//! cookie, else the browser's `Accept-Language`; dates are shown in the
//! reader's own time zone by the page script, numbers grouped per language.

use axum::http::{HeaderMap, header};

/// A language of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    /// The reader's language.
    pub fn of(headers: &HeaderMap) -> Self {
        let cookie = crate::auth::session::cookie(headers, "hangar_lang").map(str::to_owned);
        let wanted = cookie.or_else(|| {
            headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).map(|v| v.trim().to_lowercase())
        });
        match wanted {
            Some(text) if text.starts_with("zh") => Lang::Zh,
            _ => Lang::En,
        }
    }

    /// The `lang` attribute of the page.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }

    /// The text of `key` in this language (the key itself when unknown).
    pub fn t(self, key: &'static str) -> &'static str {
        let Some(&(_, en, zh)) = TEXTS.iter().find(|(k, _, _)| *k == key) else {
            return key;
        };
        match self {
            Lang::En => en,
            Lang::Zh => zh,
        }
    }
}

/// `(key, English, Chinese)`.
const TEXTS: &[(&str, &str, &str)] = &[
    ("console", "Hangar console", "Hangar 控制台"),
    ("pipelines", "Pipelines", "流水线"),
    ("runs", "Runs", "运行"),
    ("data", "Data", "数据"),
    ("training", "Training", "训练"),
    ("models", "Models", "模型"),
    ("evaluations", "Evaluations", "评估"),
    ("sign_in", "Sign in", "登录"),
    ("sign_out", "Sign out", "退出"),
    ("email", "E-mail", "电子邮箱"),
    ("password", "Password", "密码"),
    ("wrong_credentials", "Wrong e-mail or password.", "电子邮箱或密码错误。"),
    ("run", "Run", "运行"),
    ("pipeline", "Pipeline", "流水线"),
    ("status", "Status", "状态"),
    ("created", "Created", "创建时间"),
    ("duration", "Duration", "耗时"),
    ("any_status", "Any status", "全部状态"),
    ("filter", "Filter", "筛选"),
    ("no_runs", "No runs yet.", "还没有运行。"),
    ("previous", "Previous", "上一页"),
    ("next", "Next", "下一页"),
    ("page_of", "Page", "页"),
    ("runs_total", "runs in all", "个运行"),
    ("language", "中文", "English"),
    ("cancel", "Cancel", "取消"),
    ("retry", "Retry", "重试"),
    ("graph", "Graph", "任务图"),
    ("timeline", "Timeline", "时间线"),
    ("tasks", "Tasks", "任务"),
    ("task", "Task", "任务"),
    ("operator", "Operator", "算子"),
    ("attempts", "Attempts", "尝试"),
    ("outputs", "Outputs", "输出"),
    ("logs", "Logs", "日志"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_cookie_wins_over_the_browser_and_english_is_the_default() {
        let mut headers = HeaderMap::new();
        assert_eq!(Lang::of(&headers), Lang::En);
        headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("zh-CN,zh;q=0.9,en;q=0.8"));
        assert_eq!(Lang::of(&headers), Lang::Zh);
        headers.insert(header::COOKIE, HeaderValue::from_static("hangar_lang=en"));
        assert_eq!(Lang::of(&headers), Lang::En);
    }

    #[test]
    fn every_text_has_both_languages() {
        for (key, en, zh) in TEXTS {
            assert!(!en.is_empty() && !zh.is_empty(), "{key}");
            assert_eq!(Lang::Zh.t(key), *zh);
        }
    }
}

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

    /// A run or task status in this language (as it is when unknown).
    pub fn status(self, status: &str) -> &str {
        match STATUSES.iter().find(|(code, _, _)| *code == status) {
            Some((_, en, zh)) => match self {
                Lang::En => en,
                Lang::Zh => zh,
            },
            None => status,
        }
    }

    /// Every status's name in this language, as a JSON object for the page script.
    pub fn status_labels(self) -> String {
        let labels: serde_json::Map<String, serde_json::Value> =
            STATUSES.iter().map(|(code, _, _)| ((*code).to_owned(), self.status(code).into())).collect();
        serde_json::Value::Object(labels).to_string()
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

/// Statuses of runs and tasks: `(status, English, Chinese)`. English keeps
/// the API's words, so scripts and people read the same thing.
const STATUSES: &[(&str, &str, &str)] = &[
    ("pending", "pending", "等待中"),
    ("queued", "queued", "排队中"),
    ("running", "running", "运行中"),
    ("succeeded", "succeeded", "成功"),
    ("failed", "failed", "失败"),
    ("cancelled", "cancelled", "已取消"),
    ("skipped", "skipped", "已跳过"),
    ("upstream_failed", "upstream failed", "上游失败"),
    ("cached", "cached", "已缓存"),
    ("lost", "lost", "已丢失"),
];

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
    ("instances", "Instances", "实例"),
    ("tasks", "Tasks", "任务"),
    ("task", "Task", "任务"),
    ("operator", "Operator", "算子"),
    ("attempts", "Attempts", "尝试"),
    ("outputs", "Outputs", "输出"),
    ("logs", "Logs", "日志"),
    ("new_pipeline", "New pipeline", "新建流水线"),
    ("no_pipelines", "No pipelines yet. Create one from its YAML.", "还没有流水线。请用 YAML 新建。"),
    ("last_run", "Last run", "最近运行"),
    ("next_scheduled", "Next scheduled", "下次计划"),
    ("updated", "Updated", "更新时间"),
    ("edit", "Edit", "编辑"),
    ("start_run", "Start a run", "启动运行"),
    ("schedule", "Schedule", "计划"),
    (
        "no_schedule",
        "Not scheduled: add a schedule below, or a schedule: block to the YAML.",
        "未设定计划：在下方添加计划，或在 YAML 中添加 schedule: 块。",
    ),
    ("disabled", "disabled", "已停用"),
    ("paused", "paused", "已暂停"),
    ("pause", "Pause", "暂停"),
    ("resume", "Resume", "恢复"),
    ("from_yaml", "from the YAML's schedule: block", "来自 YAML 的 schedule: 块"),
    ("add_schedule", "Add a schedule", "添加计划"),
    ("cron", "Cron expression", "Cron 表达式"),
    (
        "cron_help",
        "Minute, hour, day of month, month, day of week (30 2 * * * is 02:30 every day), or @daily, @hourly.",
        "分、时、日、月、星期（30 2 * * * 即每天 02:30），或 @daily、@hourly。",
    ),
    ("timezone", "Time zone (IANA, e.g. Asia/Shanghai)", "时区（IANA，如 Asia/Shanghai）"),
    ("max_active_runs", "Runs at once, at most", "同时运行数上限"),
    ("catchup", "After downtime, run every missed time", "停机后补跑所有错过的时间"),
    ("delete", "Delete", "删除"),
    ("deleted", "deleted", "已删除"),
    ("remove_alias", "Remove", "移除"),
    ("confirm_delete", "This cannot be undone. Delete", "此操作不可撤销。确定删除"),
    (
        "does_not_compile",
        "The stored text no longer validates; see the problems in the YAML below.",
        "已存文本不再通过校验；问题见下方 YAML。",
    ),
    ("versions", "Versions", "版本"),
    ("version", "Version", "版本"),
    ("current", "current", "当前"),
    ("no_params", "This pipeline takes no params.", "此流水线没有参数。"),
    ("edit_pipeline", "Edit a pipeline", "编辑流水线"),
    ("pipeline_valid", "The pipeline is valid.", "流水线校验通过。"),
    (
        "problems_found",
        "problem(s), shown at their lines; fix them and check again.",
        "个问题，已标在对应行；修正后请重新检查。",
    ),
    ("check", "Check", "检查"),
    ("save", "Save", "保存"),
    (
        "stale_form",
        "The form is stale (signed in again since?); reload the page and send it again.",
        "表单已过期（可能已重新登录）；请刷新页面后重新提交。",
    ),
    ("upload_documents", "Upload documents", "上传文档"),
    (
        "drop_here",
        "Drop PDF, DOCX, HTML, Markdown, text or XML files here, or",
        "将 PDF、DOCX、HTML、Markdown、文本或 XML 文件拖到此处，或",
    ),
    ("choose_files", "choose files", "选择文件"),
    ("uploads", "Uploads", "已上传"),
    ("file", "File", "文件"),
    ("key", "Key (pipeline param)", "键（流水线参数）"),
    ("size", "Size", "大小"),
    ("no_uploads", "No uploads yet.", "还没有上传。"),
    ("processed_data", "Processed data", "处理结果"),
    ("no_data_yet", "No run has produced documents yet.", "还没有运行产出文档。"),
    ("documents", "Documents", "文档"),
    ("rejected", "Rejected", "被拒绝"),
    ("duplicate_clusters", "Duplicate clusters", "重复簇"),
    ("records", "Records", "记录"),
    ("source", "Source", "来源"),
    ("doc_language", "Language", "语言"),
    ("characters", "characters", "字符"),
    ("nothing_here", "Nothing here.", "这里没有内容。"),
    ("text_unavailable", "(text not available)", "（文本不可用）"),
    ("clusters_total", "clusters", "个簇"),
    ("no_duplicates", "No duplicates were found.", "没有发现重复。"),
    ("kept", "Kept", "保留"),
    ("removed", "Removed", "移除"),
    ("removed_count", "removed", "个被移除"),
    ("view", "view", "查看"),
    ("model", "Model", "模型"),
    (
        "no_models",
        "No registered models yet; a pipeline's deploy task registers them.",
        "还没有注册的模型；流水线的 deploy 任务会注册模型。",
    ),
    ("aliases", "Aliases", "别名"),
    ("alias", "Alias", "别名"),
    ("latest", "latest", "最新"),
    ("promote", "Promote", "提升"),
    ("roll_back", "Roll back", "回滚"),
    ("no_aliases", "No alias points at a version.", "没有别名指向任何版本。"),
    ("compare", "Compare", "比较"),
    ("metric", "Metric", "指标"),
    ("metrics", "Metrics", "指标"),
    ("playground", "Playground", "试用"),
    ("max_tokens", "Most tokens to generate", "最多生成的词元数"),
    ("message", "Message", "消息"),
    ("temperature", "Temperature", "温度"),
    (
        "temperature_hint",
        "(0: always the likeliest token, the same answer every time)",
        "（0：总取最可能的词元，每次答案相同）",
    ),
    ("send", "Send", "发送"),
    ("no_training", "No training tasks in your recent runs.", "最近的运行中没有训练任务。"),
    ("steps", "Steps", "步数"),
    ("step", "step", "步"),
    ("loss", "Loss", "损失"),
    ("train_loss", "training", "训练"),
    ("validation_loss", "Validation loss", "验证损失"),
    ("learning_rate", "Learning rate", "学习率"),
    ("tokens_per_s", "Tokens/s (median)", "词元/秒（中位数）"),
    ("no_steps_yet", "No steps yet.", "尚无训练步。"),
    ("checkpoints", "Checkpoints", "检查点"),
    ("checkpoint", "Checkpoint", "检查点"),
    ("no_checkpoints", "No checkpoints stored.", "没有保存的检查点。"),
    ("files", "Files", "文件数"),
    ("no_evaluations", "No evaluate tasks in your recent runs.", "最近的运行中没有评估任务。"),
    ("gate", "Gate", "门槛"),
    ("report", "Report", "报告"),
    ("by_kind", "By kind of question", "按题型"),
    ("kind", "Kind", "类型"),
    ("questions", "Questions", "题数"),
    ("score", "Score", "得分"),
    ("examples", "Examples", "示例"),
    ("question", "Question", "问题"),
    ("reference", "Reference", "参考答案"),
    ("answer", "Answer", "回答"),
    ("baseline", "baseline", "基线"),
    ("beats_baseline", "passes the gate: deploy", "通过门槛：部署"),
    ("does_not_beat", "does not pass the gate", "未通过门槛"),
    ("base", "Base", "基座"),
    ("base_answer", "Base answer", "基座回答"),
    ("production", "Production", "生产版本"),
    (
        "dropped_turns",
        "The conversation outgrew the model's context: its {n} oldest messages were left out of this answer and the next.",
        "对话超出了模型的上下文长度：最早的 {n} 条消息未纳入本次及之后的回答。",
    ),
    ("value", "Value", "值"),
    ("register", "Create an account", "注册账号"),
    ("password_policy", "(at least 12 characters, not your e-mail)", "（至少 12 个字符，不能是电子邮箱）"),
    ("name", "Name", "姓名"),
    ("organization", "Organization", "单位"),
    ("position", "Position", "职务"),
    ("have_account", "Have an account? Sign in.", "已有账号？请登录。"),
    ("no_account", "No account? Create one.", "没有账号？注册一个。"),
    ("profile", "Profile", "个人资料"),
    ("saved", "Saved.", "已保存。"),
    ("role", "Role", "角色"),
    ("permissions", "Permissions", "权限"),
    ("users", "Users", "用户"),
    ("two_factor", "Two-factor sign-in", "双因素登录"),
    (
        "enter_code",
        "Enter the 6-digit code from your authenticator app, or a recovery code.",
        "请输入身份验证器应用中的 6 位验证码，或一个恢复码。",
    ),
    ("code", "Code", "验证码"),
    (
        "two_factor_on",
        "On: sign-in asks for a code from your authenticator app.",
        "已开启：登录时需要身份验证器应用中的验证码。",
    ),
    ("two_factor_off", "Off: sign-in asks for your password only.", "未开启：登录时只需要密码。"),
    (
        "two_factor_required",
        "Your role must sign in with a second factor: set it up to go on.",
        "您的角色必须使用双因素登录：请先完成设置。",
    ),
    ("set_up", "Set up", "设置"),
    (
        "scan_code",
        "Scan this code with an authenticator app (or type the secret), then enter the code it shows.",
        "请用身份验证器应用扫描此二维码（或手动输入密钥），然后输入应用显示的验证码。",
    ),
    ("secret", "Secret", "密钥"),
    ("confirm", "Confirm", "确认"),
    ("recovery_codes", "Recovery codes", "恢复码"),
    (
        "recovery_note",
        "Keep these somewhere safe: each one signs you in once if you lose your phone. They are not shown again.",
        "请妥善保存：丢失手机时，每个恢复码可登录一次。它们不会再次显示。",
    ),
    ("recovery_left", "Recovery codes left", "剩余恢复码"),
    ("turn_off", "Turn off", "关闭"),
    ("wrong_code", "The code is wrong, expired or already used.", "验证码错误、已过期或已使用。"),
    ("api_keys", "API keys", "API 密钥"),
    ("webhooks", "Webhooks", "Webhook 通知"),
    ("new_webhook", "New webhook", "新建 Webhook"),
    ("webhook_hosts", "Hosts webhooks may point at", "Webhook 允许的主机"),
    ("url", "URL", "URL"),
    ("events", "Events", "事件"),
    ("deliveries", "Deliveries", "投递记录"),
    ("last_answer", "Last answer", "最近响应"),
    ("no_deliveries", "No deliveries yet.", "暂无投递。"),
    (
        "webhook_once",
        "The signing secret below checks X-Hangar-Signature at your receiver. Copy it now: it is not shown again.",
        "以下签名密钥用于在接收端校验 X-Hangar-Signature。请立即复制：它不会再次显示。",
    ),
    (
        "webhook_events_note",
        "Checked events come for every run of yours; a pipeline's notify: block can name the webhook for more.",
        "勾选的事件适用于您的所有运行；流水线的 notify: 块可以为该 Webhook 指定更多事件。",
    ),
    ("new_key", "New key", "新建密钥"),
    ("scopes", "Scopes", "权限范围"),
    ("expires_in_days", "Expires in (days, empty: never)", "有效天数（留空：永不过期）"),
    ("create", "Create", "创建"),
    (
        "key_once",
        "Copy this key now: it is not stored and cannot be shown again.",
        "请立即复制此密钥：它不会被保存，也无法再次显示。",
    ),
    ("prefix", "Key", "密钥"),
    ("last_used", "Last used", "最近使用"),
    ("expires", "Expires", "过期时间"),
    ("never", "never", "从不"),
    ("revoke", "Revoke", "吊销"),
    ("revoked", "revoked", "已吊销"),
    ("audit_log", "Audit log", "审计日志"),
    ("actor", "Actor", "操作者"),
    ("action", "Action", "操作"),
    ("target", "Target", "对象"),
    ("outcome", "Outcome", "结果"),
    ("address", "Address", "地址"),
    ("since", "Since", "起始"),
    ("until", "Until", "截止"),
    ("filter", "Filter", "筛选"),
    ("older", "Older", "更早"),
    ("export", "Export", "导出"),
    ("any", "any", "全部"),
    ("required_roles", "Roles that must use two-factor sign-in", "必须使用双因素登录的角色"),
    ("reset_two_factor", "Reset two-factor", "重置双因素"),
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

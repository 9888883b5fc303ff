//! Fuzz targets: each takes arbitrary bytes and must neither panic nor run
//! away, whatever they hold. AFL++ drives them through `fuzz/afl` (see
//! docs/reliability.md); the test suite replays their seed corpora and a
//! few thousand mutations of them on every run.

use std::sync::OnceLock;

use hangar_operators::ingest::IngestConfig;
use hangar_operators::ingest::formats::{Format, extract};
use hangar_sdk::Registry;

/// The targets by name, as `fuzz/afl` and the seed folders name them.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("spec", spec),
    ("cron", cron),
    ("pdf", pdf),
    ("docx", docx),
    ("html", html),
    ("xml", xml),
    ("json", json),
    ("jsonl", jsonl),
    ("csv", csv),
    ("text", text),
];

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut registry = Registry::new();
        // The data operators: a pipeline naming others is planned just the same.
        let _ = hangar_operators::register(&mut registry);
        registry
    })
}

fn config() -> &'static IngestConfig {
    static CONFIG: OnceLock<IngestConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        serde_json::from_value(serde_json::json!({"path": "fuzz"})).unwrap_or_else(|e| panic!("default config: {e}"))
    })
}

/// A pipeline spec, parsed, validated and planned.
pub fn spec(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = hangar_engine::compile("fuzz.yaml", &text, registry(), &[]);
    let _ = hangar_engine::compile_template("fuzz.yaml", &text, registry());
}

/// A cron expression and a time zone, split at the first newline.
pub fn cron(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (expr, zone) = text.split_once('\n').unwrap_or((&text, "UTC"));
    if let Ok(schedule) = hangar_engine::cron::CronSchedule::parse(expr, zone) {
        let _ = schedule.next_after(0);
    }
}

fn format(format: Format, data: &[u8]) {
    let _ = extract(format, data, config());
}

pub fn pdf(data: &[u8]) {
    format(Format::Pdf, data);
}

pub fn docx(data: &[u8]) {
    format(Format::Docx, data);
}

pub fn html(data: &[u8]) {
    format(Format::Html, data);
}

pub fn xml(data: &[u8]) {
    format(Format::Xml, data);
}

pub fn json(data: &[u8]) {
    format(Format::Json, data);
}

pub fn jsonl(data: &[u8]) {
    format(Format::Jsonl, data);
}

pub fn csv(data: &[u8]) {
    format(Format::Csv, data);
}

/// Plain text in an unknown encoding: detection and decoding.
pub fn text(data: &[u8]) {
    format(Format::Text, data);
}

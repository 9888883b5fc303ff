//! Every format `ingest` reads, on the example corpus the project generates.

use hangar_operators::ingest::IngestConfig;
use hangar_operators::ingest::formats::{Extracted, Format, extract};

fn config() -> IngestConfig {
    serde_json::from_value(serde_json::json!({"path": "unused"})).expect("defaults")
}

fn file(path: &str) -> Vec<u8> {
    hangar_examples::corpus()
        .into_iter()
        .find(|(p, _)| p == path)
        .map(|(_, bytes)| bytes)
        .unwrap_or_else(|| panic!("{path} is not in the example corpus"))
}

fn one(path: &str) -> Extracted {
    let format = Format::of_path(path).expect("a supported extension");
    let mut found = extract(format, &file(path), &config()).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(found.len(), 1, "{path} is one document");
    found.remove(0)
}

#[test]
fn markdown_keeps_structure_and_front_matter() {
    let doc = one("en/part99-subparts-a-b.md");
    assert_eq!(doc.title.as_deref(), Some("Part 99 Example Airworthiness Standards"));
    assert!(doc.text.starts_with("# Part 99."), "{}", &doc.text[..80]);
    assert!(doc.text.contains("### §99.1   Applicability."));
    assert_eq!(doc.metadata["front_matter"]["category"], "Example regulations");
}

#[test]
fn html_becomes_markdown_without_scripts_or_navigation() {
    let doc = one("en/part99-subparts-c-f.html");
    assert_eq!(doc.title.as_deref(), Some("Part 99 — Subparts C to F (example)"));
    assert!(doc.text.contains("## § 99.61 Energy reserves."));
    assert!(doc.text.contains("- (a) The applicant must establish a minimum state of charge"));
    assert!(doc.text.contains("| Positive maneuvering | 3.8 |"));
    assert!(!doc.text.contains("analytics") && !doc.text.contains("Home |"));
}

#[test]
fn gb18030_text_is_detected_and_decoded() {
    let doc = one("zh/energy-storage-guidance-gb18030.txt");
    assert_eq!(doc.metadata["encoding"], "gb18030");
    assert!(doc.text.starts_with("储能系统维修指南（示例）"));
    assert!(doc.text.contains("应当检查每一电池模块是否鼓胀"));
}

#[test]
fn docx_headings_lists_and_tables() {
    let doc = one("en/battery-maintenance-guidance.docx");
    assert_eq!(doc.title.as_deref(), Some("Maintenance of Energy Storage Systems — Guidance"));
    assert!(doc.text.contains("# Inspection"), "{}", doc.text);
    assert!(doc.text.contains("- Inspect each battery module for swelling"));
    assert!(doc.text.contains("| Capacity check | 12 months |"));
    let zh = one("zh/sc-99-001-distributed-propulsion.docx");
    assert!(zh.text.contains("# 第SC.2条 推进失效"), "{}", zh.text);
}

#[test]
fn xml_divisions_become_ranked_headings() {
    let doc = one("en/part99-subpart-a.xml");
    assert!(doc.text.starts_with("# PART 99—EXAMPLE AIRWORTHINESS STANDARDS"));
    assert!(doc.text.contains("### § 99.3 Definitions."));
    assert!(doc.text.contains("Authority:\n\nExample Aviation Act"));
}

#[test]
fn json_records_and_csv_tables() {
    let found = extract(Format::Json, &file("en/part99-amendment-history.json"), &config()).expect("records");
    assert_eq!(found.len(), 4);
    assert_eq!(found[0].key, "amendments[0]");
    assert_eq!(found[0].metadata["designator"], "99-1");
    assert_eq!(found[0].metadata["parent"]["part"], "99");
    let csv = one("zh/ccar-99-clause-index.csv");
    assert!(csv.text.starts_with("| standard | article | title |"));
}

#[test]
fn pdfs_in_english_and_chinese() {
    let ad = one("en/ad-2026-0042.pdf");
    assert_eq!(ad.title.as_deref(), Some("Airworthiness Directive 2026-0042"));
    assert!(ad.text.contains("Applicability: Example Aircraft Company model EA-2 airplanes"));
    assert_eq!(ad.metadata["garbled"], false);
    let zh = one("zh/ccar-99.pdf");
    assert!(zh.text.contains("第９９．５１条"), "full-width digits survive extraction: {}", &zh.text[..200]);
    assert!(zh.text.contains("储能系统的设计应当保证任何单一失效不会导致热失控"));
    assert_eq!(zh.metadata["garbled"], false);
    assert!(zh.metadata["pages"].as_u64().expect("pages") >= 1);
}

#[test]
fn a_broken_pdf_is_rejected_with_a_reason() {
    let err = extract(Format::Pdf, &file("broken/scanned-page.pdf"), &config()).expect_err("not a PDF");
    assert!(err.starts_with("not a readable PDF"), "{err}");
}

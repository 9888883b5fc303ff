//! The data pipeline on the real airworthiness corpus (`../shared/corpus`,
//! read in place): every file is read or rejected with a reason, Chinese
//! PDFs yield Chinese text, PDF text agrees with an independent extractor
//! (poppler's `pdftotext`), dedup finds the corpus's built-in
//! near-duplicates (keeping the newest version) without removing unrelated
//! regulations, SFT citations name whole paragraph paths, and no test
//! question is asked in train.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use hangar_operators::dedup::minhash::{auto_kind, exact_jaccard, shingles};
use hangar_operators::ingest::pdf::agreement;
use serde_json::Value;

fn corpus() -> PathBuf {
    let path =
        std::env::var_os("HANGAR_CORPUS").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("../shared/corpus"));
    assert!(
        path.join("SOURCES.md").exists(),
        "the shared corpus is missing at {}; it ships beside the repository (set HANGAR_CORPUS to point elsewhere)",
        path.display()
    );
    std::fs::canonicalize(&path).expect("canonical corpus path")
}

/// The pipeline run, shared by all tests of this file.
struct Run {
    _home: tempfile::TempDir,
    outputs: HashMap<String, HashMap<String, PathBuf>>,
}

fn run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        let home = tempfile::tempdir().expect("tempdir");
        let output = Command::new(env!("CARGO_BIN_EXE_hangar"))
            .args(["run", "pipelines/airworthiness-data.yaml", "--json", "-q", "--param"])
            .arg(format!("corpus={}", corpus().display()))
            .arg("--home")
            .arg(home.path())
            .env_remove("HANGAR_DATABASE_URL")
            .env_remove("HANGAR_ARTIFACTS")
            .output()
            .expect("run hangar");
        assert!(output.status.success(), "the pipeline failed:\n{}", String::from_utf8_lossy(&output.stderr));
        let summary: Value = serde_json::from_slice(&output.stdout).expect("JSON summary");
        let mut outputs = HashMap::new();
        for (task, detail) in summary["tasks"].as_object().expect("tasks") {
            let files = detail["outputs"]
                .as_object()
                .expect("outputs")
                .iter()
                .map(|(name, o)| {
                    let uri = o["uri"].as_str().expect("uri");
                    (name.clone(), PathBuf::from(uri.strip_prefix("file://").expect("a local artifact")))
                })
                .collect();
            outputs.insert(task.clone(), files);
        }
        Run { _home: home, outputs }
    })
}

fn records(task: &str, output: &str) -> Vec<Value> {
    let path = &run().outputs[task][output];
    std::fs::read_to_string(path)
        .expect("read artifact")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn corpus_files(dir: &Path, base: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("list corpus") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            corpus_files(&path, base, out);
        } else {
            out.push(path.strip_prefix(base).expect("inside").to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn every_file_is_read_or_rejected_with_a_reason() {
    let base = corpus();
    let mut files = Vec::new();
    corpus_files(&base, &base, &mut files);
    let documents = records("ingest", "documents");
    let rejected = records("ingest", "rejected");
    let read: HashSet<String> = documents
        .iter()
        .map(|d| d["source"].as_str().expect("source").split('#').next().expect("path").to_owned())
        .collect();
    let refused: HashMap<String, String> = rejected
        .iter()
        .map(|r| (r["source"].as_str().expect("source").to_owned(), r["reason"].as_str().expect("reason").to_owned()))
        .collect();
    for file in &files {
        match (read.contains(file), refused.get(file)) {
            (true, None) => {}
            (false, Some(reason)) => assert!(!reason.is_empty(), "{file} rejected without a reason"),
            (true, Some(_)) => panic!("{file} is both read and rejected"),
            (false, None) => panic!("{file} was neither read nor rejected"),
        }
    }
    for doc in &documents {
        assert!(!doc["text"].as_str().expect("text").trim().is_empty(), "{} has no text", doc["source"]);
        assert!(!doc["id"].as_str().expect("id").is_empty());
    }
    println!(
        "{} files: {} read into {} documents, {} rejected",
        files.len(),
        read.len(),
        documents.len(),
        refused.len()
    );
    for (file, reason) in &refused {
        println!("  rejected {file}: {reason}");
    }
}

fn is_han(c: char) -> bool {
    ('\u{4E00}'..='\u{9FFF}').contains(&c)
}

#[test]
fn chinese_pdfs_yield_chinese_text() {
    let documents = records("ingest", "documents");
    let chinese: Vec<&Value> = documents
        .iter()
        .filter(|d| {
            let source = d["source"].as_str().unwrap_or_default();
            source.starts_with("cn_caac_airworthiness_jl0042/pdf/") && source.ends_with(".pdf")
        })
        .collect();
    assert_eq!(chinese.len(), 9, "nine Chinese PDFs in the corpus");
    for doc in chinese {
        let text = doc["text"].as_str().expect("text");
        let han = text.chars().filter(|c| is_han(*c)).count();
        let letters = text.chars().filter(|c| c.is_alphabetic()).count();
        assert_eq!(doc["lang"], "zh", "{}", doc["source"]);
        assert!(han * 10 > letters * 8, "{}: mostly Han characters ({han} of {letters})", doc["source"]);
        assert!(!text.contains("(cid:") && !text.contains('\u{FFFD}'), "{} has undecoded glyphs", doc["source"]);
        assert_eq!(doc["metadata"]["garbled"], false, "{}", doc["source"]);
    }
}

#[test]
fn pdf_text_agrees_with_pdftotext() {
    let version = Command::new("pdftotext").arg("-v").output();
    assert!(
        version.is_ok(),
        "pdftotext is missing; install poppler-utils (apt-get install poppler-utils) — .ci/run does"
    );
    let base = corpus();
    let documents = records("ingest", "documents");
    let mut scores = BTreeMap::new();
    for doc in documents.iter().filter(|d| d["metadata"]["format"] == "pdf") {
        let source = doc["source"].as_str().expect("source");
        let reference = Command::new("pdftotext")
            .args(["-enc", "UTF-8"])
            .arg(base.join(source))
            .arg("-")
            .output()
            .expect("pdftotext");
        let reference = String::from_utf8_lossy(&reference.stdout);
        scores.insert(source.to_owned(), agreement(doc["text"].as_str().expect("text"), &reference));
    }
    assert_eq!(scores.len(), 11, "eleven PDFs in the corpus");
    for (source, score) in &scores {
        println!("{score:.3}  {source}");
    }
    for (source, score) in &scores {
        assert!(*score >= 0.9, "{source}: agreement {score:.3} with pdftotext is below 0.9");
    }
}

#[test]
fn dedup_finds_the_built_in_near_duplicates_and_only_related_ones() {
    let duplicates = records("dedup", "duplicates");
    let pairs: HashSet<(String, String)> = duplicates
        .iter()
        .map(|d| {
            (
                d["source"].as_str().expect("source").to_owned(),
                d["duplicate_of_source"].as_str().expect("of").to_owned(),
            )
        })
        .collect();
    let expected = [
        (
            "us_14cfr_markdown_tinkervault_variant/0021 Certification procedures for products and articles.md",
            "us_14cfr_markdown_flightvault/FAR-0021.md",
        ),
        (
            "us_14cfr_markdown_tinkervault_variant/0025 Airworthiness standards  transport category airplanes.md",
            "us_14cfr_markdown_flightvault/FAR-0025.md",
        ),
        (
            "us_14cfr_markdown_tinkervault_variant/0043 Maintenance, preventive maintenance, rebuilding, and alteration.md",
            "us_14cfr_markdown_flightvault/FAR-0043.md",
        ),
        // The revision stays and the original it supersedes goes (keep: newest).
        (
            "airworthiness_directives_pdf/Ming2Hao/EASA_AD_2025-0254_1.pdf",
            "airworthiness_directives_pdf/shohibbb/EASA_AD_2025-0254R1_1.pdf",
        ),
        ("us_ecfr_api_p17jsontool/title-14.xml", "us_14cfr_markdown_flightvault/FAR-0135.md"),
    ];
    for (copy, original) in expected {
        assert!(pairs.contains(&(copy.to_owned(), original.to_owned())), "missed {copy} ~ {original}");
    }
    // Whole documents removed are exactly the known pairs.
    let whole: Vec<&(String, String)> = pairs.iter().filter(|(s, _)| !s.contains('#')).collect();
    assert_eq!(whole.len(), expected.len(), "unexpected whole-document removals: {whole:?}");

    // Records removed (clauses repeated across sibling standards) must
    // really share their text with the record kept in their place.
    let documents = records("filter", "documents");
    let text: HashMap<&str, &str> =
        documents.iter().map(|d| (d["source"].as_str().expect("source"), d["text"].as_str().expect("text"))).collect();
    let (mut a, mut b, mut tokens) = (Vec::new(), Vec::new(), Vec::new());
    for (copy, original) in pairs.iter().filter(|(s, _)| s.contains('#')) {
        let (x, y) = (text[copy.as_str()], text[original.as_str()]);
        shingles(x, auto_kind(x), 5, 1, &mut a, &mut tokens);
        shingles(y, auto_kind(y), 5, 1, &mut b, &mut tokens);
        let similarity = exact_jaccard(&a, &b);
        assert!(
            similarity >= 0.5,
            "{copy} removed as a copy of {original}, but they share only {similarity:.2} of their shingles"
        );
    }
}

/// The SFT chats of one split of the real corpus's dataset.
fn chats(split: &str) -> Vec<Value> {
    let dir = &run().outputs["dataset"]["dataset"];
    std::fs::read_to_string(dir.join(format!("sft/{split}.jsonl")))
        .expect("sft split")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn question(chat: &Value) -> &str {
    chat["messages"][0]["content"].as_str().expect("question")
}

fn answer(chat: &Value) -> &str {
    chat["messages"][1]["content"].as_str().expect("answer")
}

#[test]
fn citations_name_the_whole_paragraph_path() {
    let all: Vec<Value> = ["train", "validation", "test"].iter().flat_map(|s| chats(s)).collect();
    // § 91.501 has (a), then (b) with items (1)–(10): its third item is (b)(3).
    let asked: Vec<&str> = all.iter().map(question).collect();
    assert!(asked.contains(&"What does § 91.501(b)(3) state?"), "no question about § 91.501(b)(3)");
    assert!(!asked.iter().any(|q| q.starts_with("What does § 91.501(3)")), "a citation lost its (b)");
    assert!(asked.iter().any(|q| q.starts_with("What does § 135.83(")), "no paragraph of § 135.83 asked");
    assert!(!asked.iter().any(|q| q.starts_with("What does § 135.83(1)")), "§ 135.83's items sit under a letter");

    // Every paragraph question points at text that holds its last
    // designation, and its first designation stands earlier in the document.
    let documents = records("filter", "documents");
    let text: HashMap<&str, Vec<char>> = documents
        .iter()
        .map(|d| (d["id"].as_str().expect("id"), d["text"].as_str().expect("text").chars().collect()))
        .collect();
    let designation = regex::Regex::new(r"((?:\([a-zA-Z0-9]+\))+)$").expect("pattern");
    let mut checked = 0;
    for chat in all.iter().filter(|c| c["kind"] == "paragraph_text" && c["lang"] == "en") {
        let cited = chat["provenance"]["section"].as_str().expect("section");
        let Some(path) = designation.captures(cited).map(|c| c[1].to_owned()) else { continue };
        let marks: Vec<&str> = path.trim_start_matches('(').trim_end_matches(')').split(")(").collect();
        let doc = &text[chat["provenance"]["doc_id"].as_str().expect("doc")];
        let [start, end] = [0, 1].map(|i| chat["provenance"]["span"][i].as_u64().expect("span") as usize);
        let pointed: String = doc[start.min(doc.len())..end.min(doc.len())].iter().collect();
        let last = marks.last().expect("a mark");
        assert!(pointed.trim_start().contains(&format!("({last})")), "{cited} points at {pointed:?}");
        let before: String = doc[..start.min(doc.len())].iter().collect();
        if marks.len() > 1 {
            // `(p)(1)` opens its own line: the first designation may be in the span itself.
            let upto = format!("{before}{pointed}");
            assert!(upto.contains(&format!("({})", marks[0])), "{cited}: no ({}) up to its text", marks[0]);
        }
        checked += 1;
    }
    assert!(checked > 500, "only {checked} English paragraph questions checked");
}

#[test]
fn reading_passages_follow_each_paragraph_with_the_citation_its_questions_use() {
    let train = chats("train");
    let read: HashSet<&str> = train.iter().filter(|c| c["kind"] == "reading").flat_map(|c| answer(c).lines()).collect();
    let all: Vec<Value> = ["train", "validation", "test"].iter().flat_map(|s| chats(s)).collect();
    let (mut found, mut found_in_test, mut missing) = (0usize, 0usize, Vec::new());
    for chat in all.iter().filter(|c| c["kind"] == "paragraph_text") {
        let cited = chat["provenance"]["section"].as_str().expect("section");
        let line = format!("{} [{cited}]", answer(chat));
        if read.contains(line.as_str()) {
            found += 1;
            found_in_test += usize::from(chat["split"] == "test");
        } else {
            missing.push(line);
        }
    }
    // A passage is only dropped when its prompt names two different texts
    // (sections of one document with the same title, such as "[Reserved]").
    assert!(found > 1000, "only {found} paragraphs read with their citation");
    assert!(
        missing.len() * 100 <= found,
        "{} of {} asked paragraphs are not read with their citation, e.g. {:?}",
        missing.len(),
        found + missing.len(),
        &missing[..missing.len().min(3)]
    );
    // Every split's sections are read (reading: all), in train only.
    assert!(found_in_test > 50, "only {found_in_test} paragraphs of test sections are read");
    for split in ["validation", "test"] {
        assert!(!chats(split).iter().any(|c| c["kind"] == "reading"), "a reading passage in {split}");
    }
}

#[test]
fn no_test_question_is_asked_in_train() {
    let train: HashSet<String> = chats("train").iter().map(|c| question(c).to_owned()).collect();
    let test = chats("test");
    let leaked: Vec<&str> = test.iter().map(question).filter(|q| train.contains(*q)).collect();
    assert!(
        leaked.is_empty(),
        "{} of {} test questions are asked in train, e.g. {:?}",
        leaked.len(),
        test.len(),
        &leaked[..leaked.len().min(3)]
    );
    assert!(!test.iter().any(|c| question(c).contains("《标题》")), "a placeholder title is asked");
    // An answer per question: the same question never has two answers
    // (reading passages are the text itself, not questions).
    let mut answers: HashMap<&str, &str> = HashMap::new();
    let all: Vec<Value> = ["train", "validation", "test"].iter().flat_map(|s| chats(s)).collect();
    for chat in all.iter().filter(|c| c["kind"] != "reading") {
        if let Some(previous) = answers.insert(question(chat), answer(chat)) {
            assert_eq!(previous, answer(chat), "{} has two answers", question(chat));
        }
    }
}

//! Files made to hurt a reader: each is rejected with its reason or read
//! within bounds, never a crash of the process and never unbounded memory.

use std::io::Write;

use hangar_operators::ingest::IngestConfig;
use hangar_operators::ingest::formats::{Format, extract};

fn config(extra: serde_json::Value) -> IngestConfig {
    let mut value = serde_json::json!({"path": "unused"});
    if let (Some(map), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
        map.extend(extra.clone());
    }
    serde_json::from_value(value).expect("config")
}

/// A DOCX whose document part is `size` bytes of one repeated run.
fn docx_bomb(size: usize) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("word/document.xml", options).expect("part");
    zip.write_all(b"<w:document><w:body><w:p><w:r><w:t>").expect("write");
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..size >> 20 {
        zip.write_all(&chunk).expect("write");
    }
    zip.write_all(b"</w:t></w:r></w:p></w:body></w:document>").expect("write");
    zip.finish().expect("finish");
    out.into_inner()
}

#[test]
fn a_docx_zip_bomb_is_rejected_by_its_unpacked_size_and_its_ratio() {
    let bomb = docx_bomb(64 << 20);
    assert!(bomb.len() < 1 << 20, "the bomb is small: {} bytes", bomb.len());
    let by_size = extract(Format::Docx, &bomb, &config(serde_json::json!({"max_unpacked_bytes": 16 << 20})))
        .expect_err("over max_unpacked_bytes");
    assert!(by_size.contains("max_unpacked_bytes"), "{by_size}");
    let by_ratio = extract(Format::Docx, &bomb, &config(serde_json::json!({}))).expect_err("over max_unpack_ratio");
    assert!(by_ratio.contains("max_unpack_ratio"), "{by_ratio}");
    let allowed = config(serde_json::json!({"max_unpack_ratio": 1e9}));
    let read = extract(Format::Docx, &bomb, &allowed).expect("within the limits it is read");
    assert!(read[0].text.len() >= 64 << 20);
}

#[test]
fn html_nested_200000_deep_is_rejected_with_its_reason() {
    let html = format!("<html><body>{}deep text{}</body></html>", "<div>".repeat(200_000), "</div>".repeat(200_000));
    // A small stack, as a worker thread has: recursion over the depth would overflow it.
    let handle = std::thread::Builder::new()
        .stack_size(512 << 10)
        .spawn(move || extract(Format::Html, html.as_bytes(), &config(serde_json::json!({}))))
        .expect("thread");
    let reason = handle.join().expect("no crash").expect_err("too deep to parse in reasonable time");
    assert!(reason.contains("deeper than 2048"), "{reason}");
}

#[test]
fn json_nested_deeply_is_rejected_with_a_reason() {
    let json = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    let result = extract(Format::Json, json.as_bytes(), &config(serde_json::json!({})));
    assert!(result.is_err(), "{result:?}");
}

#[test]
fn html_nested_to_the_limit_is_read_on_a_small_stack() {
    let depth = hangar_operators::ingest::formats::html::MAX_DEPTH - 10;
    let html = format!("<html><body>{}deep text{}</body></html>", "<div>".repeat(depth), "</div>".repeat(depth));
    let handle = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || extract(Format::Html, html.as_bytes(), &config(serde_json::json!({}))))
        .expect("thread");
    let found = handle.join().expect("no stack overflow").expect("within the limit");
    assert!(found[0].text.contains("deep text"));
}

/// A PDF whose page tree lists itself among its kids, twice.
fn cyclic_pdf() -> Vec<u8> {
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [2 0 R 2 0 R 3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        "<< /Length 0 >>\nstream\n\nendstream",
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes(),
    );
    pdf
}

#[test]
fn a_pdf_page_tree_that_contains_itself_ends_in_time() {
    let pdf = cyclic_pdf();
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(extract(Format::Pdf, &pdf, &config(serde_json::json!({}))).map(|d| d.len()));
    });
    let outcome =
        wait.recv_timeout(std::time::Duration::from_secs(10)).expect("the cyclic page tree ended within 10 s");
    // Read or rejected, the reason stated: either way it ends.
    if let Err(reason) = outcome {
        assert!(!reason.is_empty());
    }
}

//! Every ggml type the import reads, dequantized here and by llama.cpp's
//! own `gguf` Python package from the same random blocks: the values must
//! match. The reference venv comes from scripts/reference/setup.sh (the
//! test script sources it).

use std::path::PathBuf;
use std::process::Command;

use hangar_import::gguf::{dequantize, read_content};

fn reference_python() -> String {
    std::env::var("HANGAR_REFERENCE_PYTHON").unwrap_or_else(|_| {
        panic!("HANGAR_REFERENCE_PYTHON is not set: run `. scripts/reference/setup.sh` first (scripts/test.sh does)")
    })
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/reference").join(name)
}

#[test]
fn every_supported_type_matches_the_gguf_package() {
    let dir = tempfile::tempdir().expect("tempdir");
    let status = Command::new(reference_python())
        .arg(script("quant_fixture.py"))
        .arg(dir.path())
        .status()
        .expect("the reference python runs");
    assert!(status.success(), "quant_fixture.py failed");
    let path = dir.path().join("quants.gguf");
    let (content, mut reader) = read_content(&path).expect("reads the fixture");
    let types = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"];
    for name in types {
        let (dims, ours) = dequantize(&path, &content, &mut reader, name).expect(name);
        assert_eq!(dims, vec![4, 512], "{name}");
        let bytes = std::fs::read(dir.path().join(format!("{name}.f32"))).expect("reference values");
        let theirs: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        assert_eq!(ours.len(), theirs.len(), "{name}");
        let scale = theirs.iter().fold(0f32, |m, x| m.max(x.abs()));
        let worst = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(scale > 0.0, "{name}: the fixture is all zeros");
        assert!(worst <= scale * 1e-6, "{name}: differs by {worst} (values up to {scale})");
    }
}

//! The committed example corpus is exactly what the generator writes:
//! regenerate with `cargo run -p hangar-examples --bin generate-examples`.

use std::collections::BTreeMap;
use std::path::Path;

fn committed(dir: &Path, base: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).expect("examples/corpus exists") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            committed(&path, base, out);
        } else {
            let relative = path.strip_prefix(base).expect("inside").to_string_lossy().replace('\\', "/");
            out.insert(relative, std::fs::read(&path).expect("read"));
        }
    }
}

#[test]
fn committed_examples_match_the_generator() {
    let base = Path::new("examples/corpus");
    let mut files = BTreeMap::new();
    committed(base, base, &mut files);
    let generated: BTreeMap<String, Vec<u8>> = hangar_examples::corpus().into_iter().collect();
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&files), names(&generated), "run the generator to update examples/corpus");
    for (name, bytes) in &generated {
        assert!(files[name] == *bytes, "{name} differs from the generator's output; regenerate it");
    }
}

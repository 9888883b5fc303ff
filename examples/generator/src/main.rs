//! Writes the example corpus: `cargo run -p hangar-examples --bin generate-examples [DIR]`
//! (default `examples/corpus`).

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("examples/corpus"));
    for (relative, bytes) in hangar_examples::corpus() {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes)?;
        println!("{}", path.display());
    }
    Ok(())
}

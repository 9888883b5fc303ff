//! Extracts the text of PDFs: `cargo run --release -p hangar-operators --example pdftext -- FILE...`
//! Writes FILE.txt next to OUT_DIR when given `--out DIR`.
use std::time::Instant;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let out = match args.iter().position(|a| a == "--out") {
        Some(i) => {
            let dir = args.remove(i + 1);
            args.remove(i);
            Some(dir)
        }
        None => None,
    };
    let started = Instant::now();
    let mut pages = 0;
    for path in &args {
        let bytes = std::fs::read(path).expect("read");
        let t = Instant::now();
        match hangar_operators::ingest::pdf::extract(&bytes) {
            Ok(text) => {
                pages += text.pages.len();
                eprintln!(
                    "{:>4} pages {:>6.1} ms unmapped {}/{} {}",
                    text.pages.len(),
                    t.elapsed().as_secs_f64() * 1e3,
                    text.unmapped_glyphs,
                    text.glyphs,
                    path
                );
                if let Some(dir) = &out {
                    let name = std::path::Path::new(path).file_name().expect("name").to_string_lossy();
                    std::fs::write(format!("{dir}/{name}.txt"), text.pages.join("\n\x0c")).expect("write");
                }
            }
            Err(e) => eprintln!("ERROR {path}: {e}"),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!("{pages} pages in {secs:.3}s = {:.0} pages/s", pages as f64 / secs);
}

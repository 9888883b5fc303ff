//! `fuzz TARGET`: one of `hangar_fuzz::TARGETS`, fed by AFL++ on stdin.

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    let Some((_, target)) = hangar_fuzz::TARGETS.iter().find(|(n, _)| *n == name) else {
        let names: Vec<&str> = hangar_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
        eprintln!("usage: fuzz TARGET, one of: {}", names.join(", "));
        std::process::exit(2);
    };
    afl::fuzz!(|data: &[u8]| target(data));
}

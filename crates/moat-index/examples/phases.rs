//! Where indexing time goes, phase by phase, on one thread: reading blobs, the DLP
//! scan, tree-sitter extraction. `cargo run --release -p moat-index --example phases -- DIR`
//! where DIR is a git repository (the benchmark corpus).

use moat_index::git::{EntryKind, GitRepo};
use moat_index::{Extractor, Language};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn main() {
    let dir = std::env::args().nth(1).expect("a git repository");
    let git = GitRepo::open("corpus", std::path::Path::new(&dir)).expect("opens");
    let commit = git.resolve(None).expect("HEAD");
    let entries = git.entries(&commit).expect("tree");
    let detector = moat_dlp::Detector::builtin();
    let mut extractor = Extractor::new();
    let (mut read, mut scan, mut parse) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut per_language: BTreeMap<&str, (u64, Duration)> = BTreeMap::new();
    let mut bytes = 0u64;
    let mut parse_only = Duration::ZERO;
    let mut parsers: std::collections::HashMap<Language, tree_sitter::Parser> = Default::default();
    for entry in entries.iter().filter(|e| e.kind == EntryKind::File) {
        let Some(language) = Language::detect(&entry.path) else {
            continue;
        };
        let started = Instant::now();
        let Ok(blob) = git.read_blob(&entry.blob) else {
            continue;
        };
        read += started.elapsed();
        let Ok(text) = std::str::from_utf8(&blob) else {
            continue;
        };
        if text.len() > 1 << 20 {
            continue;
        }
        bytes += text.len() as u64;
        let started = Instant::now();
        std::hint::black_box(detector.scan(text));
        scan += started.elapsed();
        if let Some(grammar) = moat_index::grammar_for_bench(language) {
            let parser = parsers.entry(language).or_insert_with(|| {
                let mut p = tree_sitter::Parser::new();
                p.set_language(&grammar).unwrap();
                p
            });
            let started = Instant::now();
            std::hint::black_box(parser.parse(text, None));
            parse_only += started.elapsed();
        }
        let started = Instant::now();
        let _ = extractor.extract(language, text, Duration::from_secs(5));
        let took = started.elapsed();
        parse += took;
        let slot = per_language.entry(language.as_str()).or_default();
        slot.0 += text.len() as u64;
        slot.1 += took;
    }
    let mb = bytes as f64 / 1e6;
    println!("{mb:.1} MB");
    for (name, d) in [
        ("read", read),
        ("dlp scan", scan),
        ("parse only", parse_only),
        ("extract", parse),
    ] {
        println!(
            "{name:10} {:6.2} s  {:7.1} MB/s",
            d.as_secs_f64(),
            mb / d.as_secs_f64()
        );
    }
    for (language, (b, d)) in per_language {
        println!(
            "  {language:10} {:6.1} MB {:6.2} s {:7.1} MB/s",
            b as f64 / 1e6,
            d.as_secs_f64(),
            b as f64 / 1e6 / d.as_secs_f64()
        );
    }
}

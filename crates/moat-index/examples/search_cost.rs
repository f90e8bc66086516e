//! Where a search with snippets spends its time, over an index built by `moat index`:
//! `cargo run --release -p moat-index --example search_cost -- INDEX_DIR REPO SOURCE QUESTIONS_JSONL`
use moat_index::{CodeIndex, IndexOptions, IndexSettings, SearchQuery};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (dir, repo, source, questions) = (&args[1], &args[2], &args[3], &args[4]);
    let index = CodeIndex::open(
        std::path::Path::new(dir),
        IndexSettings {
            options: IndexOptions::default(),
            detector: moat_dlp::Detector::builtin(),
            fingerprint_key: vec![0; 32],
            dlp_version: String::new(),
        },
    )
    .unwrap();
    let detector = moat_dlp::Detector::builtin();
    let queries: Vec<String> = std::fs::read_to_string(questions)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["question"].as_str().map(str::to_string))
        .collect();
    let started = Instant::now();
    index.graph(repo).unwrap();
    println!("graph load {:?}", started.elapsed());
    let (mut search, mut open, mut read, mut redact) = (
        Duration::ZERO,
        Duration::ZERO,
        Duration::ZERO,
        Duration::ZERO,
    );
    let mut n = 0;
    for round in 0..3 {
        for q in &queries {
            let t = Instant::now();
            let hits = index
                .search(&SearchQuery {
                    text: q.clone(),
                    repos: vec![moat_index::SearchRepo::new(
                        repo.clone(),
                        moat_index::Shown::Everything,
                    )],
                    language: None,
                    kind: None,
                    path_prefix: None,
                    limit: 10,
                })
                .unwrap();
            let searched = t.elapsed();
            let graph = index.graph(repo).unwrap().unwrap();
            let mut opened = Duration::ZERO;
            let mut read_time = Duration::ZERO;
            let mut redacted = Duration::ZERO;
            for hit in &hits {
                let t = Instant::now();
                let git = index.git(repo, std::path::Path::new(source)).unwrap();
                opened += t.elapsed();
                let t = Instant::now();
                let file = graph.files.get(&hit.path).unwrap();
                let bytes = git.read_blob(&file.blob).unwrap();
                let text = String::from_utf8(bytes).unwrap();
                let lines: Vec<&str> = text
                    .lines()
                    .skip(hit.start_line as usize - 1)
                    .take(hit.end_line.saturating_sub(hit.start_line) as usize + 1)
                    .take(40)
                    .collect();
                let snippet = lines.join("\n");
                read_time += t.elapsed();
                let t = Instant::now();
                let mut redactor = moat_dlp::Redactor::new(&detector, [0; 32]);
                std::hint::black_box(redactor.redact(&snippet));
                redacted += t.elapsed();
            }
            if round > 0 {
                search += searched;
                open += opened;
                read += read_time;
                redact += redacted;
                n += 1;
            }
        }
    }
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / n as f64;
    println!(
        "per search ({n}): tantivy+rank {:.2} ms, git handle {:.3} ms, read blobs {:.2} ms, redact {:.2} ms",
        per(search),
        per(open),
        per(read),
        per(redact)
    );
}

//! Time the passes of a scan over files: `cargo run --release -p moat-dlp --example scan_cost -- FILE...`
fn main() {
    let mut text = String::new();
    for path in std::env::args().skip(1) {
        text.push_str(&std::fs::read_to_string(path).unwrap());
    }
    while text.len() < 4 << 20 {
        text = text.repeat(2);
    }
    let detector = moat_dlp::Detector::builtin();
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let findings = detector.scan(&text);
        let took = started.elapsed();
        println!(
            "scan {} bytes: {:?} = {:.0} MB/s, {} findings",
            text.len(),
            took,
            text.len() as f64 / took.as_secs_f64() / 1e6,
            findings.len()
        );
    }
    let timings = detector.profile(&text);
    for (name, took, count) in timings {
        println!("  {name}: {took:?} ({count})");
    }
}

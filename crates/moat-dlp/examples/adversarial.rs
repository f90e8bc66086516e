//! Hostile inputs of growing size, to show scan time stays linear:
//! `cargo run --release -p moat-dlp --example adversarial`
use moat_dlp::Detector;
use std::time::Instant;

fn base64_line(bytes: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..bytes)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ALPHABET[(state % 64) as usize] as char
        })
        .collect()
}

/// A named input generator: size in bytes to text.
type Case = (&'static str, Box<dyn Fn(usize) -> String>);

fn main() {
    let detector = Detector::builtin();
    let cases: Vec<Case> = vec![
        ("base64 on one line", Box::new(base64_line)),
        ("'=' signs", Box::new(|n| "=".repeat(n))),
        (
            "near-miss GitHub tokens",
            Box::new(|n| "ghp_R7x2Kq9Lm4Np8Qs1Tv6Wy3Za0Bc5De7Fg2 ".repeat(n / 40)),
        ),
        (
            "near-miss Anthropic keys",
            Box::new(|n| "sk-ant-api03-Rk7Lq2Mn9Pv4 ".repeat(n / 26)),
        ),
        (
            "digits and dashes",
            Box::new(|n| "4111-1111-1111-111 ".repeat(n / 19)),
        ),
        (
            "PEM header without end",
            Box::new(|n| {
                format!(
                    "-----BEGIN RSA PRIVATE KEY-----\n{}",
                    "QUJD\n".repeat(n / 5)
                )
            }),
        ),
    ];
    for (name, make) in cases {
        for size in [10_000_000usize, 100_000_000] {
            let text = make(size);
            let started = Instant::now();
            let findings = detector.scan(&text);
            let took = started.elapsed();
            println!(
                "{name:<26} {:>4} MB: {:>8.2?}  {:>6.0} MB/s  {} findings",
                text.len() / 1_000_000,
                took,
                text.len() as f64 / took.as_secs_f64() / 1e6,
                findings.len()
            );
        }
    }
}

//! DLP throughput (issue #5 targets: ≥ 300 MB/s on ordinary source without findings,
//! ≥ 100 MB/s with dense findings, < 100 µs per streamed chunk). One core.
//! Ordinary source: Moat's own store and HTTP sources, repeated to 4 MiB.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moat_dlp::{Detector, Redactor, StreamRedactor};
use std::hint::black_box;

fn ordinary_source() -> String {
    let files = [
        include_str!("../../moat-store/src/sqlite/tokens.rs"),
        include_str!("../../moat-store/src/sqlite/users.rs"),
        include_str!("../../moat-http/src/error.rs"),
        include_str!("../../moat-audit/src/merkle/mod.rs"),
        include_str!("../../moat-config/src/validate.rs"),
    ];
    let mut text = String::new();
    while text.len() < 4 << 20 {
        for file in files {
            text.push_str(file);
        }
    }
    text
}

fn dense_findings() -> String {
    let lines = [
        "token = \"ghp_R7x2Kq9Lm4Np8Qs1Tv6Wy3Za0Bc5De7Fg2Hj\"\n",
        "aws_access_key_id = AKIAQ3EGRBJXZ7KLMN4P\n",
        "contact: jane.doe@acme-health.com, ssn 123-45-6789\n",
        "DATABASE_URL=postgres://app:Rk7Lq2Mn9Pv@db.internal:5432/payments\n",
        "fn transfer(from: &AccountId, to: &AccountId, amount: i64) -> Result<(), Error> {\n",
    ];
    let mut text = String::new();
    while text.len() < 1 << 20 {
        for line in lines {
            text.push_str(line);
        }
    }
    text
}

fn scan(c: &mut Criterion) {
    let detector = Detector::builtin();
    let ordinary = ordinary_source();
    assert!(
        detector.scan(&ordinary).is_empty(),
        "the ordinary corpus has no findings"
    );
    let dense = dense_findings();

    let mut group = c.benchmark_group("dlp");
    group.throughput(Throughput::Bytes(ordinary.len() as u64));
    group.bench_function("scan ordinary source (4 MiB, no findings)", |b| {
        b.iter(|| detector.scan(black_box(&ordinary)))
    });
    group.throughput(Throughput::Bytes(dense.len() as u64));
    group.bench_function("scan dense findings (1 MiB)", |b| {
        b.iter(|| detector.scan(black_box(&dense)))
    });
    group.finish();

    let chunk = &ordinary[..1024];
    c.bench_function(
        "stream redactor: one 1 KiB chunk (16 KiB window held)",
        |b| {
            let mut stream = StreamRedactor::new(Redactor::new(&detector, [1; 32]));
            b.iter(|| black_box(stream.push(black_box(chunk))))
        },
    );
}

criterion_group!(benches, scan);
criterion_main!(benches);

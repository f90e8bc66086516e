//! Redaction happens on the whole file, never on a cut: for generated files with secrets
//! of every multi-line and single-line kind planted at random lines, **every** window
//! through every tool that shows source (`read_source`, search snippets, `get_symbol`
//! bodies) shows no fragment of 8 or more characters of any planted value, and line
//! numbers refer to the file in git.

mod support;

use moat_domain::{Disclosure, Tier};
use moat_service::{CodeContext, SearchRequest};
use proptest::prelude::*;
use std::path::Path;
use support::developer;

/// A tiny deterministic generator, so a failing case is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chars(&mut self, alphabet: &str, n: usize) -> String {
        let alphabet = alphabet.as_bytes();
        (0..n)
            .map(|_| alphabet[self.below(alphabet.len())] as char)
            .collect()
    }
}

const UPPER_DIGITS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const ALNUM: &str = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const B64: &str = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789+/";
const HEX: &str = "0123456789abcdef";

fn pem(rng: &mut Rng, label: &str, lines: usize) -> String {
    let mut out = format!("-----BEGIN {label}-----\n");
    for _ in 0..lines {
        out.push_str(&rng.chars(B64, 64));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----"));
    out
}

fn luhn_complete(rng: &mut Rng, prefix: &str, length: usize) -> String {
    let mut digits: Vec<u32> = prefix.chars().filter_map(|c| c.to_digit(10)).collect();
    while digits.len() < length - 1 {
        digits.push(rng.below(10) as u32);
    }
    for check in 0..10 {
        let mut candidate = digits.clone();
        candidate.push(check);
        let total: u32 = candidate
            .iter()
            .rev()
            .enumerate()
            .map(|(i, d)| {
                let d = if i % 2 == 1 { d * 2 } else { *d };
                if d > 9 { d - 9 } else { d }
            })
            .sum();
        if total.is_multiple_of(10) {
            return candidate.iter().map(|d| d.to_string()).collect();
        }
    }
    unreachable!()
}

/// A planted value: the line(s) of code that hold it and the value itself.
struct Planted {
    kind: &'static str,
    code: String,
    value: String,
}

/// One value of every kind, in the code form it is usually committed in.
fn every_kind(rng: &mut Rng) -> Vec<Planted> {
    let mut out = Vec::new();
    let mut multi = |kind: &'static str, label: &str, lines: usize, rng: &mut Rng| {
        let value = pem(rng, label, lines);
        out.push(Planted {
            kind,
            code: format!("const KEY_{}: &str = r#\"{value}\"#;", rng.below(1 << 20)),
            value,
        });
    };
    multi("private-key-rsa", "RSA PRIVATE KEY", 2 + rng.below(3), rng);
    multi("private-key-ec", "EC PRIVATE KEY", 2 + rng.below(2), rng);
    multi("private-key-dsa", "DSA PRIVATE KEY", 2 + rng.below(2), rng);
    multi(
        "private-key-openssh",
        "OPENSSH PRIVATE KEY",
        3 + rng.below(2),
        rng,
    );
    multi("private-key-pkcs8", "PRIVATE KEY", 2 + rng.below(3), rng);
    multi(
        "private-key-pkcs8",
        "ENCRYPTED PRIVATE KEY",
        2 + rng.below(3),
        rng,
    );
    multi(
        "private-key-pgp",
        "PGP PRIVATE KEY BLOCK",
        3 + rng.below(2),
        rng,
    );
    let single: Vec<(&'static str, String, String)> = vec![
        {
            let v = format!("AKIA{}", rng.chars(UPPER_DIGITS, 16));
            ("aws-access-key-id", format!("let id = \"{v}\";"), v)
        },
        {
            let v = format!("ghp_{}", rng.chars(ALNUM, 36));
            ("github-pat", format!("let token = \"{v}\";"), v)
        },
        {
            let v = format!("glpat-{}", rng.chars(ALNUM, 20));
            ("gitlab-pat", format!("let gl = \"{v}\";"), v)
        },
        {
            let v = format!(
                "xoxb-{}-{}-{}",
                rng.chars("0123456789", 11),
                rng.chars("0123456789", 13),
                rng.chars(ALNUM, 24)
            );
            ("slack-bot-token", format!("let slack = \"{v}\";"), v)
        },
        {
            let v = format!("sk_live_{}", rng.chars(ALNUM, 32));
            ("stripe-secret-key", format!("let stripe = \"{v}\";"), v)
        },
        {
            let v = format!("npm_{}", rng.chars(ALNUM, 36));
            ("npm-token", format!("let npm = \"{v}\";"), v)
        },
        {
            let v = format!(
                "sk-ant-api03-{}AA",
                rng.chars(
                    "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789-_",
                    93
                )
            );
            ("anthropic-api-key", format!("let ant = \"{v}\";"), v)
        },
        {
            let v = rng.chars(ALNUM, 20);
            (
                "generic-password-assignment",
                format!("let db_password = \"{v}\";"),
                v,
            )
        },
        {
            let v = luhn_complete(rng, "4", 16);
            ("payment-card", format!("let card_number = \"{v}\";"), v)
        },
        {
            let v = format!(
                "{:03}-{:02}-{:04}",
                100 + rng.below(500),
                10 + rng.below(89),
                1000 + rng.below(8999)
            );
            ("us-ssn", format!("// patient ssn: {v}"), v)
        },
        {
            let v = format!(
                "{}.{}@acme-health.io",
                rng.chars("abcdefghjk", 6),
                rng.chars("mnpqrst", 5)
            );
            ("email", format!("// contact: {v}"), v)
        },
        {
            let v = format!("dop_v1_{}", rng.chars(HEX, 64));
            ("digitalocean-token", format!("let doc = \"{v}\";"), v)
        },
    ];
    for (kind, code, value) in single {
        out.push(Planted { kind, code, value });
    }
    out
}

/// A Rust file with the values planted at random places: inside functions (long and
/// short, so bodies and snippets are cut through them), between them, in comments.
fn generate(seed: u64) -> (String, Vec<Planted>) {
    let mut rng = Rng(seed | 1);
    // Every multi-line kind and three single-line ones (all of them across cases), so
    // a file stays small enough to try every window.
    let mut planted = every_kind(&mut rng);
    let multi = planted
        .iter()
        .position(|p| !p.value.contains('\n'))
        .unwrap_or(planted.len());
    let mut single = planted.split_off(multi);
    for _ in 0..3 {
        let at = rng.below(single.len());
        planted.push(single.swap_remove(at));
    }
    for i in (1..planted.len()).rev() {
        let j = rng.below(i + 1);
        planted.swap(i, j);
    }
    let mut text = String::from("//! Generated.\n\n");
    let mut function = 0;
    // One function long enough that a 40-line snippet ends inside the value it holds.
    let long = rng.below(planted.len());
    for (n, value) in planted.iter().enumerate() {
        match rng.below(3) {
            // Alone between functions.
            0 if n != long => {
                text.push_str(&value.code);
                text.push('\n');
            }
            // Inside a function, after filler that can push it past a cut.
            _ => {
                function += 1;
                text.push_str(&format!("pub fn handler_{function}() {{\n"));
                let filler = if n == long {
                    30 + rng.below(12)
                } else {
                    rng.below(3)
                };
                for line in 0..filler {
                    text.push_str(&format!("    let step_{line} = {line};\n"));
                }
                for line in value.code.lines() {
                    text.push_str("    ");
                    text.push_str(line);
                    text.push('\n');
                }
                for line in 0..rng.below(4) {
                    text.push_str(&format!("    let tail_{line} = {line};\n"));
                }
                text.push_str("}\n");
            }
        }
        text.push('\n');
    }
    (text, planted)
}

fn context_for(dir: &Path, text: &str, disclosure: Disclosure) -> CodeContext {
    let repo = support::one_repo(dir, &[("src/keys.rs", text)]);
    repo.context(&support::org(Tier::Internal, disclosure, None))
        .0
}

/// Every 8-byte piece of every planted value (as a `u64`), with the kind it belongs to.
fn pieces(planted: &[Planted]) -> std::collections::HashMap<u64, &'static str> {
    let mut out = std::collections::HashMap::new();
    for value in planted {
        for piece in value.value.as_bytes().windows(8) {
            out.insert(u64::from_le_bytes(piece.try_into().unwrap()), value.kind);
        }
    }
    out
}

/// The first 8-byte piece of a planted value that `shown` contains, if any.
fn leaked(
    shown: &str,
    pieces: &std::collections::HashMap<u64, &'static str>,
) -> Option<(&'static str, String)> {
    shown.as_bytes().windows(8).find_map(|window| {
        pieces
            .get(&u64::from_le_bytes(window.try_into().unwrap()))
            .map(|kind| (*kind, String::from_utf8_lossy(window).into_owned()))
    })
}

/// `line` with each placeholder's per-request hash taken out.
fn without_hashes(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("[REDACTED:") {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail.find(']').map_or(tail.len(), |e| e + 1);
        let placeholder = &tail[..end];
        out.push_str(
            placeholder
                .rsplit_once(':')
                .map_or(placeholder, |(rule, _)| rule),
        );
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn check_every_window(seed: u64, disclosure: Disclosure) {
    let dir = tempfile::tempdir().unwrap();
    let (text, planted) = generate(seed);
    let pieces = pieces(&planted);
    let context = context_for(dir.path(), &text, disclosure);
    let user = developer();
    let total = text.lines().count() as u32;
    // read_source: every (start, end) window.
    for start in 1..=total {
        for end in start..=total {
            let read = context
                .read_source(&user, "vault", "src/keys.rs", start, end)
                .unwrap();
            if let Some((kind, piece)) = leaked(&read.text, &pieces) {
                panic!(
                    "seed {seed} {disclosure:?}: read_source {start}-{end} shows `{piece}` of a {kind}:\n{}",
                    read.text
                );
            }
            // Line numbers refer to the file in git: the window has the lines asked for.
            assert_eq!(
                read.text.split('\n').count() as u32,
                end - start + 1,
                "seed {seed}: read_source {start}-{end} has another number of lines"
            );
        }
    }
    // Whole file: the redacted text keeps the file's line count, and line n of the
    // answer is line n of the file wherever nothing was replaced.
    let whole = context
        .read_source(&user, "vault", "src/keys.rs", 1, total)
        .unwrap();
    for (shown, original) in whole.text.lines().zip(text.lines()) {
        if !shown.contains("[REDACTED:") && disclosure == Disclosure::Source {
            assert_eq!(shown, original, "seed {seed}");
        }
    }
    // Search snippets and symbol bodies, for every function and constant.
    for name in (1..=planted.len())
        .map(|n| format!("handler_{n}"))
        .chain(std::iter::once("KEY".to_string()))
    {
        let results = context
            .search(
                &user,
                &SearchRequest {
                    query: name.clone(),
                    limit: 50,
                    ..SearchRequest::default()
                },
            )
            .unwrap();
        for hit in &results.hits {
            let snippet = hit.snippet.as_deref().unwrap_or_default();
            if let Some((kind, piece)) = leaked(snippet, &pieces) {
                panic!(
                    "seed {seed}: snippet of {} shows `{piece}` of a {kind}",
                    hit.qualified_name
                );
            }
            // The snippet's lines are the file's lines from start_line on.
            let redacted_whole: Vec<&str> = whole.text.lines().collect();
            for (offset, line) in snippet.lines().enumerate() {
                let at = hit.start_line as usize + offset;
                if disclosure == Disclosure::Source {
                    assert_eq!(
                        without_hashes(line),
                        without_hashes(redacted_whole[at - 1]),
                        "seed {seed}: snippet line {at}"
                    );
                }
            }
        }
        for detail in context.symbol(&user, &name, None).unwrap() {
            let body = detail.body.as_deref().unwrap_or_default();
            if let Some((kind, piece)) = leaked(body, &pieces) {
                panic!(
                    "seed {seed}: body of {} shows `{piece}` of a {kind}",
                    detail.hit.qualified_name
                );
            }
        }
    }
}

#[test]
fn a_key_cut_by_the_window_does_not_show_its_middle() {
    // The case the issue names: a key on lines 10-13, read_source 11-12.
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(7);
    let key = pem(&mut rng, "RSA PRIVATE KEY", 2);
    let mut text = String::new();
    for n in 1..=8 {
        text.push_str(&format!("// line {n}\n"));
    }
    text.push_str(&format!("const KEY: &str = r#\"\n{key}\n\"#;\n"));
    let context = context_for(dir.path(), &text, Disclosure::Source);
    assert!(text.lines().nth(9).unwrap().starts_with("-----BEGIN"));
    let read = context
        .read_source(&developer(), "vault", "src/keys.rs", 11, 12)
        .unwrap();
    let body: Vec<&str> = key.lines().skip(1).take(2).collect();
    for line in body {
        assert!(!read.text.contains(&line[..16]), "{}", read.text);
    }
    assert_eq!(read.text.lines().count(), 2);
    assert!(
        read.text
            .lines()
            .all(|l| l.contains("[REDACTED:private-key-rsa:"))
    );
    assert_eq!(read.redactions.get("private-key-rsa"), Some(&1));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3, ..ProptestConfig::default() })]

    #[test]
    fn no_window_of_any_tool_shows_a_planted_value(seed in any::<u64>()) {
        check_every_window(seed, Disclosure::Source);
    }

    #[test]
    fn no_window_of_redacted_source_shows_a_planted_value(seed in any::<u64>()) {
        check_every_window(seed, Disclosure::RedactedSource);
    }
}

//! Redaction: stable typed placeholders, restoration, and the streaming invariant that
//! no planted secret survives whatever the chunking (property-tested).

use moat_dlp::{Detector, Redactor, StreamRedactor};
use proptest::prelude::*;

/// Compiled once: rule compilation dominates a test case otherwise.
static DETECTOR: std::sync::LazyLock<Detector> = std::sync::LazyLock::new(Detector::builtin);

const SECRETS: &[&str] = &[
    "ghp_R7x2Kq9Lm4Np8Qs1Tv6Wy3Za0Bc5De7Fg2Hj",
    "AKIAQ3EGRBJXZ7KLMN4P",
    "sk_live_51Hx7Rk2Lq9Mn4Pv8Ts1Wz3Bc6De",
    "xoxb-2048675309-4096123456789-Rk7Lq2Mn9Pv4Ts8Wz1Bc3De6",
    "glpat-x7Rk2Lq9Mn4Pv8Ts1Wz3B",
    "npm_Rk7Lq2Mn9Pv4Ts8Wz1Bc3De6Fg0Hj5Kl2Mn7",
];

#[test]
fn the_same_value_gets_the_same_typed_placeholder_and_can_be_restored() {
    let detector = &*DETECTOR;
    let mut redactor = Redactor::new(detector, [7; 32]);
    let text = format!(
        "a = \"{0}\"\nb = \"{0}\"\nc = \"{1}\"\n",
        SECRETS[0], SECRETS[1]
    );
    let redacted = redactor.redact(&text);
    assert!(!redacted.text.contains(SECRETS[0]) && !redacted.text.contains(SECRETS[1]));
    let placeholders: Vec<&str> = redacted.text.matches("[REDACTED:").collect();
    assert_eq!(placeholders.len(), 3);
    let first = &redacted.text[redacted.text.find("[REDACTED:github-pat:").unwrap()..];
    let first = &first[..=first.find(']').unwrap()];
    assert_eq!(
        redacted.text.matches(first).count(),
        2,
        "same value, same placeholder: {}",
        redacted.text
    );
    assert!(redacted.text.contains("[REDACTED:aws-access-key-id:"));
    assert_eq!(redacted.counts.get("github-pat"), Some(&2));
    assert_eq!(redactor.restore(&redacted.text), text);
    assert_eq!(
        redactor.restore("[REDACTED:unknown:0000] stays"),
        "[REDACTED:unknown:0000] stays"
    );

    // Detached from the detector (a response stream outlives the request's redactor).
    let originals = redactor.into_originals();
    assert_eq!(originals.restore(&redacted.text), text);
    let placeholder = first.to_string();
    for cut in 1..placeholder.len() {
        let chunk = format!("see {}", &placeholder[..cut]);
        assert_eq!(originals.unfinished(&chunk), Some(4), "{chunk}");
    }
    assert_eq!(originals.unfinished(&format!("see {placeholder}")), None);
    assert_eq!(originals.unfinished("an array [1, 2"), None);
    assert_eq!(originals.unfinished("index ["), Some(6));

    // Another request (another key) gets different placeholders for the same value.
    let redactor = Redactor::new(detector, [7; 32]);
    assert!(redactor.into_originals().unfinished("[REDACTED:").is_none());
    let mut other = Redactor::new(detector, [8; 32]);
    assert_ne!(other.redact(&text).text, redacted.text);
}

#[test]
fn streaming_holds_back_only_the_window_and_catches_straddling_secrets() {
    let mut stream = StreamRedactor::with_window(Redactor::new(&DETECTOR, [1; 32]), 256);
    let mut out = String::new();
    let filler = "fn main() { println!(\"hello\"); }\n".repeat(20);
    let text = format!("{filler}token = \"{}\"\n{filler}", SECRETS[0]);
    for chunk in text.as_bytes().chunks(7) {
        out.push_str(&stream.push(std::str::from_utf8(chunk).unwrap()));
    }
    out.push_str(&stream.finish());
    assert!(!out.contains(SECRETS[0]), "{out}");
    assert!(out.contains("[REDACTED:github-pat:"));
    assert_eq!(stream.counts().get("github-pat"), Some(&1));
    assert_eq!(stream.redactor().restore(&out), text);
}

/// A PEM key longer than the window: its first lines are already a match, so the stream
/// holds it whole until it ends and no line of it is released (the gateway streams
/// answers with a 2 KiB window).
#[test]
fn a_private_key_longer_than_the_window_is_held_whole() {
    let body: Vec<String> = (0..80u32)
        .map(|i| {
            (0..64u32)
                .map(|j| {
                    let n = (i.wrapping_mul(7919) ^ j.wrapping_mul(104_729))
                        .wrapping_mul(2_654_435_761)
                        >> 26;
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                        [n as usize % 64] as char
                })
                .collect()
        })
        .collect();
    let key = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----",
        body.join("\n")
    );
    assert!(key.len() > 5_000);
    let text = format!("Here is the key:\n{key}\nand that is all.\n");
    let mut stream = StreamRedactor::with_window(Redactor::new(&DETECTOR, [1; 32]), 2048);
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(7) {
        out.push_str(&stream.push(std::str::from_utf8(chunk).unwrap()));
    }
    out.push_str(&stream.finish());
    for line in &body {
        assert!(!out.contains(&line[..16]), "{out}");
    }
    assert!(
        out.starts_with("Here is the key:\n[REDACTED:private-key-rsa:"),
        "{out}"
    );
    assert!(out.ends_with("\nand that is all.\n"), "{out}");
}

/// `text` pushed in pieces of the sizes `cuts` gives (over and over), then finished.
fn streamed(stream: &mut StreamRedactor<'_>, text: &str, cuts: &[usize]) -> String {
    let mut out = String::new();
    let mut at = 0;
    for cut in cuts.iter().cycle() {
        if at >= text.len() {
            break;
        }
        let end = (at + cut).min(text.len());
        out.push_str(&stream.push(&text[at..end]));
        at = end;
    }
    out.push_str(&stream.finish());
    out
}

/// More than 256 KiB in one push: released all but the last window, a secret that
/// spans the cut going out whole and redacted.
#[test]
fn a_flood_in_one_piece_is_cut_outside_any_secret() {
    for offset in [0usize, 5, 10, 19] {
        let filler = "x ".repeat(140 * 1024);
        let key = "AKIAZ7VQ2MXR4HT8PLWN";
        // The key ends `offset` bytes after where the cut (a window before the end) falls.
        let tail = " y".repeat(2048);
        let text = format!(
            "{} {key}{}",
            &filler[..filler.len() - 20 + offset],
            &tail[..4096 - offset - 1]
        );
        let mut stream = StreamRedactor::with_window(Redactor::new(&DETECTOR, [4; 32]), 4096);
        let mut out = stream.push(&text);
        out.push_str(&stream.finish());
        assert!(!out.contains(key), "offset {offset}");
        assert!(
            out.contains("[REDACTED:aws-access-key-id:"),
            "offset {offset}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Values found only with the text before them (a keyword, a URL's scheme and
    /// user): cut anywhere, streamed in pieces of 1 to 7 bytes, with more text after
    /// them than the window holds, none is released.
    #[test]
    fn a_value_found_only_with_its_context_survives_no_chunking(
        which in 0usize..3,
        before in "[a-z \n(){};]{0,300}",
        cuts in proptest::collection::vec(1usize..8, 1..40),
    ) {
        let (text, value) = [
            ("aws_secret_access_key = \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYq3Zt8mQv2a\"", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYq3Zt8mQv2a"),
            ("DATABASE_URL=postgres://app:Zq9vR2mTx8LkP4@db.internal:5432/ledger", "Zq9vR2mTx8LkP4"),
            ("password = \"Tr0ub4dor&3-horse-Battery\"", "Tr0ub4dor&3-horse-Battery"),
        ][which];
        let after = "fn main() { println!(\"hello\"); }\n".repeat(40);
        let text = format!("{before}\n{text}\n{after}");
        let whole = DETECTOR.scan(&text);
        prop_assume!(whole.iter().any(|f| &text[f.start..f.end] == value));
        let mut stream = StreamRedactor::with_window(Redactor::new(&DETECTOR, [5; 32]), 256);
        let out = streamed(&mut stream, &text, &cuts);
        prop_assert!(!out.contains(value), "{} survived in {}", value, out);
        prop_assert_eq!(stream.redactor().restore(&out), text);
    }

    #[test]
    fn no_planted_secret_survives_any_chunking(
        secret_index in 0usize..6,
        before in "[a-z \n(){};=\"]{0,400}",
        after in "[a-z \n(){};=\"]{0,400}",
        cuts in proptest::collection::vec(1usize..97, 1..40),
        window in 64usize..512,
    ) {
        let detector = &*DETECTOR;
        let secret = SECRETS[secret_index];
        let text = format!("{before} key = \"{secret}\" {after}");
        let mut stream = StreamRedactor::with_window(Redactor::new(detector, [3; 32]), window);
        let out = streamed(&mut stream, &text, &cuts);
        prop_assert!(!out.contains(secret), "{} survived in {}", secret, out);
        prop_assert_eq!(stream.redactor().restore(&out), text);
    }
}

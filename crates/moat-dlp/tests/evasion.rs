//! Sensitive values written so that a rule keyed on their usual shape misses them, as
//! found from outside: keys right after `_`, SSNs without dashes next to their keyword,
//! card numbers with dots, private keys without their END line or without both armour
//! lines, zero-width characters and homoglyphs inside a value or its keyword, and
//! secrets inside base64 or hex. Each must be redacted whole; look-alike negatives
//! (nine-digit order numbers, hashes, encoded prose, non-Latin prose) must not be.

use moat_dlp::{Detector, Redactor};

static DETECTOR: std::sync::LazyLock<Detector> = std::sync::LazyLock::new(Detector::builtin);

const AWS: &str = "AKIAQ3EGRBJXZ7KLMN4P";
const GITHUB: &str = "ghp_R7x2Kq9Lm4Np8Qs1Tv6Wy3Za0Bc5De7Fg2Hj";
const STRIPE: &str = "sk_live_51Hx7Rk2Lq9Mn4Pv8Ts1Wz3Bc6De";

/// The base64 body of a (fake) PKCS#1 RSA key, as it sits between the armour lines.
const RSA_BODY: &str = "MIIEowIBAAKCAQEAr7Lq2Mn9Pv4Ts8Wz1Bc3De6Fg0Hj5Kl2Mn7Op4Qr9St1Uv6Wx3
Yz8Ab5Cd0Ef2Gh7Ij4Kl9Mn1Op3Qr5St7Uv9Wx2Yz4Ab6Cd8Ef0Gh1Ij3Kl5Mn7Op9Q
r2St4Uv6Wx8Yz0Ab1Cd3Ef5Gh7Ij9Kl2Mn4Op6Qr8St0Uv1Wx3Yz5Ab7Cd9Ef2Gh4Ij6";
const PKCS8_BODY: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7Lq2Mn9Pv4Ts8Wz1B
c3De6Fg0Hj5Kl2Mn7Op4Qr9St1Uv6Wx3Yz8Ab5Cd0Ef2Gh7Ij4Kl9Mn1Op3Qr5St7Uv9W";
const EC_BODY: &str = "MHcCAQEEIBk7Lq2Mn9Pv4Ts8Wz1Bc3De6Fg0Hj5Kl2Mn7Op4Qr9oAoGCCqGSM49
AwEHoUQDQgAE7Lq2Mn9Pv4Ts8Wz1Bc3De6Fg0Hj5Kl2Mn7Op4Qr9St1Uv6Wx3Yz8Ab5";
const OPENSSH_BODY: &str = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACBRk7Lq2Mn9Pv4Ts8Wz1Bc3De6Fg0Hj5Kl2Mn7Op4Qr9AAAAJh3f9Qx7Lk2";

fn redact(text: &str) -> String {
    Redactor::new(&DETECTOR, [7; 32]).redact(text).text
}

/// Every run of 8 characters of `value` (ignoring line breaks), for a leak check.
fn fragments(value: &str) -> Vec<String> {
    let chars: Vec<char> = value.chars().filter(|c| *c != '\n').collect();
    chars
        .windows(8.min(chars.len()))
        .map(|w| w.iter().collect())
        .collect()
}

/// What a reader of `text` sees once invisible characters are ignored.
fn visible(text: &str) -> String {
    text.chars()
        .filter(|c| {
            !matches!(
                c,
                '\u{200B}'..='\u{200F}' | '\u{00AD}' | '\u{2060}' | '\u{FEFF}'
            )
        })
        .collect()
}

#[track_caller]
fn assert_hidden(text: &str, value: &str) {
    let out = visible(&redact(text));
    let flat = out.replace('\n', "");
    for fragment in fragments(value) {
        assert!(
            !flat.contains(&fragment),
            "`{fragment}` of `{value}` is shown:\n  in:  {text:?}\n  out: {out:?}"
        );
    }
    assert!(out.contains("[REDACTED:"), "{out}");
}

#[track_caller]
fn assert_untouched(text: &str) {
    let findings = DETECTOR.scan(text);
    assert!(
        findings.is_empty(),
        "{text:?} flagged: {:?}",
        findings
            .iter()
            .map(|f| (&*f.rule, &text[f.start..f.end]))
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_key_right_after_or_before_an_underscore_is_found() {
    assert_hidden(&format!("PROD_{AWS}"), AWS);
    assert_hidden(&format!("key={AWS}_old"), AWS);
    assert_hidden(&format!("backup_{GITHUB}_2024"), GITHUB);
    assert_hidden(&format!("x_{STRIPE}"), STRIPE);
    assert_hidden(
        "deploy_glpat-x7Rk2Lq9Mn4Pv8Ts1Wz3B",
        "glpat-x7Rk2Lq9Mn4Pv8Ts1Wz3B",
    );
    // Two keys with one separator between them: both, not only the first.
    assert_hidden(
        &format!("{AWS},AKIAZ7KLMN4PQ3EGRBJX"),
        "AKIAZ7KLMN4PQ3EGRBJX",
    );
}

#[test]
fn an_ssn_without_dashes_next_to_its_keyword_is_found() {
    assert_hidden("ssn: 536228173", "536228173");
    assert_hidden("SSN 536 22 8173", "536 22 8173");
    assert_hidden("patient_ssn=536228173", "536228173");
    assert_hidden("Social Security Number: 536.22.8173", "536.22.8173");
    assert_hidden("{\"ssn\": 536228173}", "536228173");
    assert_hidden("social_security_no = '536 22 8173'", "536 22 8173");
}

#[test]
fn nine_digit_numbers_without_an_ssn_keyword_are_not_ssns() {
    assert_untouched("order number 536228173 shipped");
    assert_untouched("invoice_id = 536228173");
    assert_untouched("ssn_last4 = 8173, order 536228173");
    // A keyword with an impossible number (area 000) is still not an SSN.
    assert_untouched("ssn: 000228173");
}

#[test]
fn a_card_number_with_dots_is_found() {
    assert_hidden("card: 4111.1111.1111.1111", "4111.1111.1111.1111");
    assert_hidden("pan=5555.5555.5555.4444;", "5555.5555.5555.4444");
    assert_untouched("version 4.1.1.1 of 1.2.840.113549.1.1.1");
    assert_untouched("pi = 3.1415926535897932");
}

#[test]
fn a_private_key_without_its_end_line_is_found() {
    let text = format!("-----BEGIN RSA PRIVATE KEY-----\n{RSA_BODY}\n\nfn main() {{}}\n");
    assert_hidden(&text, RSA_BODY);
    // The code after the key is still there.
    assert!(redact(&text).contains("fn main() {}"));
    let text = format!("-----BEGIN PRIVATE KEY-----\n{PKCS8_BODY}");
    assert_hidden(&text, PKCS8_BODY);
    // A PEM parser naming the armour, with no key after it, is code.
    assert_untouched("const BEGIN: &str = \"-----BEGIN RSA PRIVATE KEY-----\";\nfn parse() {}\n");
}

#[test]
fn a_private_key_body_without_either_armour_line_is_found() {
    for body in [RSA_BODY, PKCS8_BODY, EC_BODY, OPENSSH_BODY] {
        assert_hidden(&format!("key = \"\"\"\n{body}\n\"\"\"\n"), body);
        // One line of it, the first or a later one, JSON-escaped.
        let escaped = body.replace('\n', "\\n");
        assert_hidden(&format!("{{\"key\": \"{escaped}\"}}"), body);
    }
}

#[test]
fn zero_width_characters_inside_a_value_do_not_hide_it() {
    assert_hidden("aws = AKIAQ3EG\u{200B}RBJXZ7KLMN4P", AWS);
    assert_hidden(
        "token: ghp_R7x2Kq9Lm4\u{200D}Np8Qs1Tv6Wy3\u{FEFF}Za0Bc5De7Fg2Hj",
        GITHUB,
    );
    assert_hidden(
        "stripe sk_\u{00AD}live_51Hx7Rk2Lq9Mn4Pv8Ts1Wz3Bc6De",
        STRIPE,
    );
    assert_hidden("ssn\u{2060}: 536-22-\u{200B}8173", "536-22-8173");
    // In the keyword a rule keys on.
    assert_hidden(
        "pass\u{200B}word = \"Tr0ub4dor&3-horse-staple\"",
        "Tr0ub4dor&3-horse-staple",
    );
}

#[test]
fn homoglyphs_and_compatibility_forms_do_not_hide_a_value() {
    // Cyrillic А (U+0410) for the first letter of AKIA.
    assert_hidden("key = \u{0410}KIAQ3EGRBJXZ7KLMN4P", AWS);
    // Fullwidth letters (U+FF47 ...).
    assert_hidden(
        "token = \u{FF47}\u{FF48}\u{FF50}_R7x2Kq9Lm4Np8Qs1Tv6Wy3Za0Bc5De7Fg2Hj",
        GITHUB,
    );
    // Cyrillic е in `live`.
    assert_hidden(
        "sk_liv\u{0435}_51Hx7Rk2Lq9Mn4Pv8Ts1Wz3Bc6De",
        "51Hx7Rk2Lq9Mn4Pv8Ts1Wz3Bc6De",
    );
    // Cyrillic а in the keyword of a generic rule.
    assert_hidden(
        "p\u{0430}ssword = \"Tr0ub4dor&3-horse-staple\"",
        "Tr0ub4dor&3-horse-staple",
    );
}

#[test]
fn non_latin_text_is_not_changed_or_flagged() {
    let text = "// Привет, мир: 日本語のコメント, Ελληνικά\nlet имя = \"значение\";\n";
    assert_untouched(text);
    assert_eq!(redact(text), text);
    // Redacting around folded characters keeps the text around the value as it was.
    let text = "имя = \u{0410}KIAQ3EGRBJXZ7KLMN4P; ok";
    let out = redact(text);
    assert!(
        out.starts_with("имя = [REDACTED:aws-access-key-id:"),
        "{out}"
    );
    assert!(out.ends_with("]; ok"), "{out}");
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_secret_inside_base64_or_hex_is_found() {
    let encoded = base64(format!("aws_access_key_id = {AWS}\n").as_bytes());
    assert_hidden(&format!("config: {encoded}"), &encoded);
    let encoded = base64(GITHUB.as_bytes());
    assert_hidden(&format!("{{\"auth\": \"{encoded}\"}}"), &encoded);
    // URL-safe and unpadded.
    let encoded = base64(format!("token={STRIPE}??>").as_bytes())
        .replace('+', "-")
        .replace('/', "_")
        .trim_end_matches('=')
        .to_string();
    assert_hidden(&format!("x={encoded}"), &encoded);
    let encoded = hex(GITHUB.as_bytes());
    assert_hidden(&format!("blob = 0x{encoded}"), &encoded);
    let encoded = hex(b"ssn: 536-22-8173");
    assert_hidden(&format!("data {encoded}"), &encoded);
}

#[test]
fn encoded_text_without_a_secret_and_hashes_are_left_alone() {
    assert_untouched(&format!(
        "readme = {}",
        base64(b"This project builds a small web server for the demo.")
    ));
    assert_untouched(&format!(
        "greeting = {}",
        hex(b"hello, world and all who read")
    ));
    assert_untouched("sha256 = 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    assert_untouched(
        "integrity sha512-Q1V3c0hJjE0bZk2YxkJvOq5M4tX9Zr2aP7nL8wE6yU1iO3pA5sD7fG9hJ0kL2zX4cV6bN8mQ1wE3rT5yU7iO9pA==",
    );
    assert_untouched("fn a_very_long_function_name_that_is_not_base64_at_all() {}");
}

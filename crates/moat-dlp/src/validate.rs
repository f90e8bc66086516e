//! Checks that turn a pattern match into a finding: checksums (Luhn, mod-97, NPI, DEA),
//! number-assignment rules (SSN, ITIN), entropy, and placeholders that are never secret.

mod assigned;
pub use assigned::assigned;

/// Luhn checksum over the digits of `text` (other characters ignored).
pub fn luhn(text: &str) -> bool {
    let digits: Vec<u32> = text.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() < 2 {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A payment card: 13–19 digits, a known issuer range and a valid Luhn checksum.
pub fn payment_card(text: &str) -> bool {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let n = digits.len();
    let prefix = |len: usize| {
        digits
            .get(..len)
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(0)
    };
    let issuer = match digits.as_bytes().first() {
        Some(b'4') => matches!(n, 13 | 16 | 19),
        Some(b'5') => (51..=55).contains(&prefix(2)) && n == 16,
        Some(b'2') => (2221..=2720).contains(&prefix(4)) && n == 16,
        Some(b'3') => {
            (matches!(prefix(2), 34 | 37) && n == 15)
                || ((3528..=3589).contains(&prefix(4)) && (16..=19).contains(&n))
                || (((300..=305).contains(&prefix(3)) || matches!(prefix(2), 36 | 38))
                    && (14..=19).contains(&n))
        }
        Some(b'6') => {
            (prefix(4) == 6011 || prefix(2) == 65 || (644..=649).contains(&prefix(3)))
                && (16..=19).contains(&n)
        }
        _ => false,
    };
    issuer && luhn(&digits)
}

/// A US Social Security Number `AAA-GG-SSSS` that the SSA could have issued.
pub fn ssn(text: &str) -> bool {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    if digits.len() != 9 {
        return false;
    }
    let (area, group, serial) = (&digits[..3], &digits[3..5], &digits[5..]);
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
        // Numbers published in advertising and never valid.
        && digits != "078051120" && digits != "219099999"
}

/// A US Individual Taxpayer Identification Number: 9XX-[50-65|70-88|90-92|94-99]-XXXX.
pub fn itin(text: &str) -> bool {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    if digits.len() != 9 || !digits.starts_with('9') {
        return false;
    }
    let group: u32 = digits[3..5].parse().unwrap_or(0);
    matches!(group, 50..=65 | 70..=88 | 90..=92 | 94..=99)
}

/// A US National Provider Identifier: 10 digits, Luhn over `80840` + the number.
pub fn npi(text: &str) -> bool {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    digits.len() == 10
        && matches!(digits.as_bytes()[0], b'1' | b'2')
        && luhn(&format!("80840{digits}"))
}

/// A DEA registration number: two letters and seven digits with its checksum.
pub fn dea(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() != 9 || !bytes[..2].iter().all(u8::is_ascii_alphabetic) {
        return false;
    }
    let d: Vec<u32> = text[2..].chars().filter_map(|c| c.to_digit(10)).collect();
    if d.len() != 7 {
        return false;
    }
    let check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10;
    check == d[6]
}

/// Expected IBAN length per country (ISO 13616 registry, common countries).
fn iban_length(country: &str) -> Option<usize> {
    Some(match country {
        "AD" => 24,
        "AE" => 23,
        "AT" => 20,
        "BE" => 16,
        "BG" => 22,
        "BH" => 22,
        "BR" => 29,
        "CH" => 21,
        "CY" => 28,
        "CZ" => 24,
        "DE" => 22,
        "DK" => 18,
        "EE" => 20,
        "ES" => 24,
        "FI" => 18,
        "FR" => 27,
        "GB" => 22,
        "GI" => 23,
        "GR" => 27,
        "HR" => 21,
        "HU" => 28,
        "IE" => 22,
        "IL" => 23,
        "IS" => 26,
        "IT" => 27,
        "KW" => 30,
        "KZ" => 20,
        "LB" => 28,
        "LI" => 21,
        "LT" => 20,
        "LU" => 20,
        "LV" => 21,
        "MC" => 27,
        "MT" => 31,
        "NL" => 18,
        "NO" => 15,
        "PL" => 28,
        "PT" => 25,
        "QA" => 29,
        "RO" => 24,
        "RS" => 22,
        "SA" => 24,
        "SE" => 24,
        "SI" => 19,
        "SK" => 24,
        "SM" => 27,
        "TR" => 26,
        "UA" => 29,
        "VA" => 22,
        _ => return None,
    })
}

/// An IBAN with the right length for its country and a valid mod-97 check.
pub fn iban(text: &str) -> bool {
    let compact: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    if compact.len() < 15 || !compact.chars().all(|c| c.is_ascii_alphanumeric()) {
        return false;
    }
    if iban_length(&compact[..2]) != Some(compact.len()) {
        return false;
    }
    let rearranged = format!("{}{}", &compact[4..], &compact[..4]);
    let mut remainder: u32 = 0;
    for c in rearranged.chars() {
        let value = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        for digit in value.to_string().chars() {
            remainder = (remainder * 10 + digit.to_digit(10).unwrap_or(0)) % 97;
        }
    }
    remainder == 1
}

/// Filler that documentation puts where a key goes: a value ending in a run of six or
/// more of one character (`…AAAAAAAA`, `…000000`), mostly one character, runs of five
/// or more characters in sequence (`abcdef`, `12345678`, `87654321`) making half of the
/// value or more (ids inside real tokens, and passwords, may hold a short one), or a short unit repeated
/// throughout (`abcabcabc…`, `1234123412341234`). A random key has none of these except
/// by chance, at odds far below one in a million.
fn filler(value: &str) -> bool {
    let bytes = value.as_bytes();
    let n = bytes.len();
    if n < 8 {
        return false;
    }
    let last = bytes[n - 1];
    if bytes.iter().rev().take_while(|&&b| b == last).count() >= 6 {
        return true;
    }
    let mut counts = [0u16; 256];
    for &b in bytes {
        counts[b as usize] = counts[b as usize].saturating_add(1);
    }
    if counts.iter().any(|&c| usize::from(c) * 2 > n) {
        return true;
    }
    // Characters in runs of five or more in sequence, up or down.
    let (mut up, mut down, mut in_runs) = (1usize, 1usize, 0usize);
    for pair in bytes.windows(2) {
        let sequential = pair[0].is_ascii_alphanumeric() && pair[1].is_ascii_alphanumeric();
        let (was_up, was_down) = (up, down);
        up = if sequential && pair[1] == pair[0].wrapping_add(1) {
            up + 1
        } else {
            1
        };
        down = if sequential && pair[1].wrapping_add(1) == pair[0] {
            down + 1
        } else {
            1
        };
        for (now, was) in [(up, was_up), (down, was_down)] {
            if now == 1 && was >= 5 {
                in_runs += was;
            }
        }
    }
    in_runs += [up, down]
        .into_iter()
        .filter(|&run| run >= 5)
        .sum::<usize>();
    if in_runs >= 8 && in_runs * 2 >= n {
        return true;
    }
    n >= 12 && (1..=4).any(|period| bytes[period..].iter().zip(bytes).all(|(a, b)| a == b))
}

/// Base64 in either alphabet, padded or not (tokens use both).
fn base64_any(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const CONFIG: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const URL: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, CONFIG);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, CONFIG);
    URL.decode(text).or_else(|_| STANDARD.decode(text)).ok()
}

/// A JSON Web Token (JWS compact form): its header decodes to a JSON object that names
/// `alg` or `typ`, and its payload to a JSON object.
pub fn jwt(value: &str) -> bool {
    let mut parts = value.split('.');
    let (Some(header), Some(payload)) = (parts.next(), parts.next()) else {
        return false;
    };
    let object = |part: &str| {
        base64_any(part).is_some_and(|bytes| bytes.trim_ascii_start().first() == Some(&b'{'))
    };
    let signature = parts.next().unwrap_or_default();
    object(header)
        && object(payload)
        // No signature is a token only when its header says it is unsigned.
        && (!signature.is_empty()
            || base64_any(header).is_some_and(|bytes| {
                String::from_utf8_lossy(&bytes).to_ascii_lowercase().contains("\"none\"")
            }))
        && base64_any(header).is_some_and(|bytes| {
            let text = String::from_utf8_lossy(&bytes);
            text.contains("\"alg\"") || text.contains("\"typ\"")
        })
}

/// A Discord bot token: its first part is the bot's id (17 to 20 digits) in base64.
pub fn discord_bot_token(value: &str) -> bool {
    value
        .split('.')
        .next()
        .and_then(base64_any)
        .is_some_and(|id| (17..=20).contains(&id.len()) && id.iter().all(u8::is_ascii_digit))
        && !is_placeholder(value)
}

/// Shannon entropy in bits per character.
pub fn entropy(text: &str) -> f64 {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in bytes {
        counts[b as usize] += 1;
    }
    // Each distinct byte once, in order of first appearance: values are short, so this
    // beats walking all 256 counts.
    let len = bytes.len() as f64;
    let mut sum = 0.0;
    for &b in bytes {
        let count = std::mem::take(&mut counts[b as usize]);
        if count > 0 {
            let p = f64::from(count) / len;
            sum -= p * p.log2();
        }
    }
    sum
}

/// Values that are documentation, not secrets: `changeme`, `xxxx`, `<YOUR_KEY>`,
/// `${VAR}`, `EXAMPLE` keys, repeated characters and the like.
pub fn is_placeholder(value: &str) -> bool {
    // Markers that never occur in a real credential. One case-insensitive automaton pass.
    const MARKERS: &[&str] = &[
        "changeme",
        "change_me",
        "change-me",
        "example",
        "placeholder",
        "your_",
        "your-",
        "yourkey",
        "redacted",
        "<",
        "${",
        "{{",
        "%(",
        "xxxx",
        "****",
        "...",
        "insert_",
        "insert-",
        "_here",
        "-here",
        "replace_me",
        "replaceme",
        "notasecret",
        "not-a-secret",
        "not_a_secret",
        "process.env",
        "os.environ",
        "getenv",
        // Short words only with a separator: `FxPwvFAkEt3…` is random, not fake.
        "fake_",
        "_fake",
        "fake-",
        "-fake",
        "fakekey",
        "faketoken",
        "fakesecret",
        "fakepass",
        "sample",
        "dummy",
        "mock_",
        "_mock",
        "mock-",
        "-mock",
        "notreal",
        "not_real",
        "not-real",
        "test_key",
        "testkey",
        "test-key",
        "test_token",
        "testtoken",
    ];
    // Obvious sequences count only when they are most of a short value: a long random
    // token may contain `12345678` by chance.
    const SEQUENCES: &[&str] = &[
        "password", "secret", "12345678", "abcdefgh", "foobar", "test1234", "qwerty",
    ];
    static MARKER_SEARCH: std::sync::LazyLock<aho_corasick::AhoCorasick> =
        std::sync::LazyLock::new(|| {
            aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(MARKERS)
                .expect("fixed placeholder markers build")
        });
    static SEQUENCE_SEARCH: std::sync::LazyLock<aho_corasick::AhoCorasick> =
        std::sync::LazyLock::new(|| {
            aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(SEQUENCES)
                .expect("fixed placeholder sequences build")
        });
    // A format string's `%s` (in its case: `%S` is as likely in a random password).
    if MARKER_SEARCH.is_match(value)
        || value.contains("%s")
        || (value.len() <= 16 && SEQUENCE_SEARCH.is_match(value))
        || filler(value)
    {
        return true;
    }
    let mut seen = [false; 256];
    let mut distinct = 0;
    for b in value.bytes() {
        let b = b.to_ascii_lowercase() as usize;
        if !seen[b] {
            seen[b] = true;
            distinct += 1;
            if distinct > 2 {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_accept_valid_numbers_and_refuse_near_misses() {
        assert!(payment_card("4111 1111 1111 1111"));
        assert!(payment_card("5555-5555-5555-4444"));
        assert!(payment_card("378282246310005"));
        assert!(!payment_card("4111 1111 1111 1112"), "bad Luhn");
        assert!(!payment_card("9111111111111111"), "unknown issuer");
        assert!(ssn("123-45-6789"));
        assert!(
            !ssn("000-45-6789")
                && !ssn("666-45-6789")
                && !ssn("923-45-6789")
                && !ssn("123-00-6789")
        );
        assert!(!ssn("078-05-1120"));
        assert!(itin("912-70-1234") && !itin("912-40-1234"));
        assert!(npi("1234567893") && !npi("1234567890"));
        assert!(dea("AB1234563") && !dea("AB1234567"));
        assert!(iban("GB82 WEST 1234 5698 7654 32") && iban("DE89370400440532013000"));
        assert!(!iban("GB82 WEST 1234 5698 7654 33") && !iban("XX82WEST12345698765432"));
    }

    #[test]
    fn entropy_matches_the_textbook_formula() {
        for text in ["a", "ab", "aab", "q8Zr1Kx9Lp2Vn7Tb", &"xy".repeat(400)] {
            let n = text.len() as f64;
            let mut counts = std::collections::HashMap::new();
            for c in text.chars() {
                *counts.entry(c).or_insert(0.0) += 1.0;
            }
            let expected: f64 = counts
                .values()
                .map(|c: &f64| -(c / n) * (c / n).log2())
                .sum();
            assert!(
                (entropy(text) - expected).abs() < 1e-9,
                "{text}: {} vs {expected}",
                entropy(text)
            );
        }
    }

    #[test]
    fn entropy_and_placeholders() {
        assert!(entropy("aaaaaaaa") < 0.1);
        assert!(entropy("q8Zr1Kx9Lp2Vn7Tb") > 3.5);
        for p in [
            "changeme",
            "<YOUR_API_KEY>",
            "${DB_PASSWORD}",
            "xxxxxxxxxxxx",
            "AKIAIOSFODNN7EXAMPLE",
        ] {
            assert!(is_placeholder(p), "{p}");
        }
        assert!(!is_placeholder("q8Zr1Kx9Lp2Vn7Tb"));
    }
}

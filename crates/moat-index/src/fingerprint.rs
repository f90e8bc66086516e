//! Winnowing fingerprints of code (Schleimer, Wilkerson and Aiken, SIGMOD 2003): how
//! the gateway tells which repositories' code a prompt contains without keeping the
//! code itself.
//!
//! Text is cut into normalised tokens (identifiers and keywords as written, every
//! number as `0`, each punctuation character on its own, whitespace dropped), each run
//! of [`K`] tokens is hashed, and in every window of [`WINDOW`] consecutive hashes the
//! smallest is kept. Any copied run of at least `K + WINDOW - 1` tokens therefore
//! shares at least one fingerprint with its source, whatever surrounds it and however
//! it is indented. Hashes are 32 bits: with a few million indexed fingerprints a
//! random prompt hash collides with about one in two thousand, and a repository is
//! only counted as present when several of its fingerprints match.

/// Tokens per hashed run: about one line of code.
pub const K: usize = 12;
/// Hashes per window; one fingerprint is kept from each.
pub const WINDOW: usize = 8;

/// The winnowed fingerprints of `text`, sorted and without duplicates.
pub fn fingerprints(text: &str) -> Vec<u32> {
    let mut kept: Vec<u32> = located(text).into_iter().map(|(hash, _)| hash).collect();
    kept.sort_unstable();
    kept.dedup();
    kept
}

/// The winnowed fingerprints of `text` in order, each with the line (1-based) where
/// its run of tokens starts: to say where copied code is.
pub fn located(text: &str) -> Vec<(u32, u32)> {
    let tokens = tokens(text);
    if tokens.len() < K {
        return Vec::new();
    }
    let grams: Vec<u32> = tokens
        .windows(K)
        .map(|run| {
            let mixed = run.iter().fold(0x9e37_79b9_7f4a_7c15_u64, |h, &(t, _)| {
                (h.rotate_left(23) ^ t).wrapping_mul(0xff51_afd7_ed55_8ccd)
            });
            (mixed >> 32) as u32
        })
        .collect();
    let mut kept = Vec::with_capacity(grams.len() * 2 / (WINDOW + 1) + 1);
    let mut last: Option<usize> = None;
    let window = WINDOW.min(grams.len());
    for start in 0..=grams.len() - window {
        // The rightmost minimum, so a run of equal hashes yields one fingerprint.
        let (at, _) =
            grams[start..start + window]
                .iter()
                .enumerate()
                .fold(
                    (0, u32::MAX),
                    |best, (i, &h)| if h <= best.1 { (i, h) } else { best },
                );
        let at = start + at;
        if last != Some(at) {
            kept.push((grams[at], tokens[at].1));
            last = Some(at);
        }
    }
    kept
}

/// 64-bit hashes of the normalised tokens of `text`, with the line each is on. Text is
/// read as a reader sees it first (zero-width characters dropped, look-alikes as ASCII:
/// [`moat_dlp::normalize`]), so an invisible character inside an identifier or a
/// Cyrillic letter for a Latin one does not hide copied code.
fn tokens(text: &str) -> Vec<(u64, u32)> {
    let text = moat_dlp::normalize::fold_text(text);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() / 4);
    let mut line = 1;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            if b == b'\n' {
                line += 1;
            }
            i += 1;
        } else if b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80 {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric()
                    || bytes[i] == b'_'
                    || bytes[i] == b'$'
                    || bytes[i] >= 0x80)
            {
                i += 1;
            }
            let word = &bytes[start..i];
            let hash = if word[0].is_ascii_digit() {
                hash(b"0")
            } else {
                hash(word)
            };
            out.push((hash, line));
        } else {
            out.push((hash(&bytes[i..i + 1]), line));
            i += 1;
        }
    }
    out
}

/// FNV-1a: tokens are short, and the k-gram mix above spreads the bits.
fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = r#"
pub fn settle_claim(claim: &Claim, ledger: &mut Ledger) -> Result<Receipt, SettleError> {
    let amount = claim.approved_amount().ok_or(SettleError::NotApproved)?;
    if amount > ledger.daily_limit() {
        return Err(SettleError::OverLimit { amount, limit: ledger.daily_limit() });
    }
    ledger.debit(claim.payer(), amount)?;
    Ok(Receipt::new(claim.id(), amount, 42))
}
"#;

    fn shared(a: &[u32], b: &[u32]) -> usize {
        a.iter().filter(|h| b.binary_search(h).is_ok()).count()
    }

    #[test]
    fn invisible_characters_and_look_alikes_do_not_hide_copied_code() {
        let indexed = fingerprints(SOURCE);
        let disguised = SOURCE
            .replace("settle_claim", "settle\u{200B}_claim")
            .replace("amount", "am\u{043E}unt")
            .replace("ledger", "l\u{FF45}dger")
            .replace("Receipt", "Rece\u{00AD}ipt");
        assert_ne!(disguised, SOURCE);
        assert_eq!(fingerprints(&disguised), indexed);
        assert_eq!(
            located(&disguised).iter().map(|l| l.1).collect::<Vec<_>>(),
            located(SOURCE).iter().map(|l| l.1).collect::<Vec<_>>(),
            "lines are those of the text as given"
        );
    }

    #[test]
    fn copied_code_shares_fingerprints_whatever_its_layout_and_surroundings() {
        let indexed = fingerprints(SOURCE);
        assert!(indexed.len() >= 8, "{} fingerprints", indexed.len());
        // Pasted into a chat message, reindented, with another number and prose around.
        let pasted = format!(
            "Can you explain why this fails?\n\n```rust\n{}\n```\nThanks!",
            SOURCE
                .lines()
                .map(|l| format!("  {}", l.trim()))
                .collect::<Vec<_>>()
                .join("\n")
                .replace("42", "7")
        );
        let prompt = fingerprints(&pasted);
        assert!(shared(&indexed, &prompt) >= indexed.len() / 2);
    }

    #[test]
    fn unrelated_code_and_prose_share_nothing() {
        let indexed = fingerprints(SOURCE);
        let other = fingerprints(
            "def parse_header(line):\n    key, _, value = line.partition(':')\n    return key.strip().lower(), value.strip()\n\nThe quick brown fox jumps over the lazy dog again and again.",
        );
        assert_eq!(shared(&indexed, &other), 0);
    }

    #[test]
    fn located_fingerprints_name_the_line_their_run_starts_on() {
        let located = located(SOURCE);
        assert_eq!(located.first().map(|&(_, line)| line), Some(2));
        assert!(located.windows(2).all(|w| w[0].1 <= w[1].1));
        assert!(located.iter().all(|&(_, line)| (2..=9).contains(&line)));
    }

    #[test]
    fn short_and_hostile_text_is_handled() {
        assert!(fingerprints("").is_empty());
        assert!(fingerprints("let x = 1;").is_empty());
        // One long line of one character: equal hashes collapse to one fingerprint.
        assert_eq!(fingerprints(&"=".repeat(100_000)).len(), 1);
        let unicode = "ünïcödé → «quoted» 漢字 ".repeat(50);
        assert!(!fingerprints(&unicode).is_empty());
    }
}

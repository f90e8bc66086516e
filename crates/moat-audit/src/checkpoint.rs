//! Checkpoints as C2SP signed notes (`signed-note`, `tlog-checkpoint`) with Ed25519.
//!
//! A checkpoint body is `origin\nsize\nbase64(root)\n`; the note appends a blank line and
//! one `— name base64(key_id || signature)` line per signature. Key ids are the first four
//! bytes of `SHA-256(name || "\n" || 0x01 || public_key)`. Keys are written in the
//! ecosystem's text forms: `PRIVATE+KEY+name+id+base64(0x01 || seed)` and
//! `name+id+base64(0x01 || public_key)`, so other tlog tools can check Moat's checkpoints.

use crate::merkle::Hash;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer as _, Verifier as _};
use sha2::{Digest, Sha256};

const ED25519_TYPE: u8 = 0x01;
const SIGNATURE_PREFIX: &str = "\u{2014} ";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed key: {0}")]
    Key(String),
    #[error("malformed checkpoint: {0}")]
    Format(String),
    #[error("checkpoint has no signature by a trusted key (signers: {0})")]
    Untrusted(String),
    #[error("checkpoint signature by `{0}` does not verify")]
    BadSignature(String),
}

/// What a checkpoint commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The signed text.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        )
    }

    /// The complete signed note.
    pub fn sign(&self, key: &SigningKey) -> String {
        sign_note(&self.body(), key)
    }

    fn parse_body(body: &str) -> Result<Checkpoint, NoteError> {
        let mut lines = body.split_terminator('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or_else(|| NoteError::Format("no origin line".into()))?;
        // Decimal without sign or leading zeros, as the format requires.
        let canonical_decimal =
            |s: &&str| !(s.starts_with('+') || (s.len() > 1 && s.starts_with('0')));
        let size = lines
            .next()
            .filter(canonical_decimal)
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| NoteError::Format("the second line is not a tree size".into()))?;
        let root: Hash = lines
            .next()
            .and_then(|r| BASE64.decode(r).ok())
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| {
                NoteError::Format("the third line is not a base64 SHA-256 root".into())
            })?;
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }
}

/// A signature line: key name and decoded `key_id || signature`.
type SignatureLine<'a> = (&'a str, Vec<u8>);

/// Splits a note into its body and signature lines.
fn split_note(note: &str) -> Result<(&str, Vec<SignatureLine<'_>>), NoteError> {
    let at = note
        .find("\n\n")
        .ok_or_else(|| NoteError::Format("no blank line before the signatures".into()))?;
    let (body, rest) = (&note[..at + 1], &note[at + 2..]);
    if !note.ends_with('\n') {
        return Err(NoteError::Format("a note ends with a newline".into()));
    }
    let mut signatures = Vec::new();
    for line in rest.split_terminator('\n') {
        let line = line.strip_prefix(SIGNATURE_PREFIX).ok_or_else(|| {
            NoteError::Format(format!(
                "signature line `{line}` does not start with an em dash"
            ))
        })?;
        let (name, blob) = line
            .split_once(' ')
            .ok_or_else(|| NoteError::Format("a signature line is `— name signature`".into()))?;
        let blob = BASE64
            .decode(blob)
            .map_err(|_| NoteError::Format(format!("signature by `{name}` is not base64")))?;
        signatures.push((name, blob));
    }
    if signatures.is_empty() {
        return Err(NoteError::Format("no signature lines".into()));
    }
    Ok((body, signatures))
}

/// Reads a checkpoint without checking signatures (to show it or to find its signer).
pub fn parse_unverified(note: &str) -> Result<Checkpoint, NoteError> {
    let (body, _) = split_note(note)?;
    Checkpoint::parse_body(body)
}

/// Reads a checkpoint and requires a valid signature by one of `keys`. Signatures by
/// unknown keys are ignored (a witness may cosign); a signature that claims a trusted key
/// but does not verify is an error.
pub fn open(note: &str, keys: &[VerifierKey]) -> Result<(Checkpoint, String), NoteError> {
    let (body, signatures) = split_note(note)?;
    let checkpoint = Checkpoint::parse_body(body)?;
    let signer = trusted_signer(body, &signatures, keys)?;
    Ok((checkpoint, signer))
}

/// Signs any note body (lines ending in a newline) as checkpoints are signed, for
/// other signed statements such as an evidence pack's manifest. Give each kind of
/// statement its own first line, so that one can never be read as another.
pub fn sign_note(body: &str, key: &SigningKey) -> String {
    let signature = key.key.sign(body.as_bytes());
    let mut blob = key.id.to_vec();
    blob.extend_from_slice(&signature.to_bytes());
    format!(
        "{body}\n{SIGNATURE_PREFIX}{} {}\n",
        key.name,
        BASE64.encode(blob)
    )
}

/// Reads any signed note: its body and the name of the trusted key that signed it,
/// under the same rules as [`open`].
pub fn open_note(note: &str, keys: &[VerifierKey]) -> Result<(String, String), NoteError> {
    let (body, signatures) = split_note(note)?;
    let signer = trusted_signer(body, &signatures, keys)?;
    Ok((body.to_string(), signer))
}

/// The first trusted key among `signatures` whose signature over `body` verifies.
fn trusted_signer(
    body: &str,
    signatures: &[SignatureLine<'_>],
    keys: &[VerifierKey],
) -> Result<String, NoteError> {
    let mut trusted_signer = None;
    for (name, blob) in signatures {
        let Some(key) = keys
            .iter()
            .find(|k| k.name == *name && blob.len() == 68 && blob[..4] == k.id)
        else {
            continue;
        };
        let signature = ed25519_dalek::Signature::from_slice(&blob[4..])
            .map_err(|_| NoteError::BadSignature(name.to_string()))?;
        key.key
            .verify(body.as_bytes(), &signature)
            .map_err(|_| NoteError::BadSignature(name.to_string()))?;
        trusted_signer.get_or_insert_with(|| name.to_string());
    }
    let names: Vec<&str> = signatures.iter().map(|(n, _)| *n).collect();
    trusted_signer.ok_or_else(|| NoteError::Untrusted(names.join(", ")))
}

fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([ED25519_TYPE]);
    hasher.update(public);
    let digest = hasher.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '+') {
        return Err(NoteError::Key(format!(
            "key name `{name}` must be non-empty, without spaces or `+`"
        )));
    }
    Ok(())
}

/// A checkpoint signing key.
pub struct SigningKey {
    name: String,
    id: [u8; 4],
    key: ed25519_dalek::SigningKey,
}

impl SigningKey {
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<SigningKey, NoteError> {
        check_name(name)?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let id = key_id(name, key.verifying_key().as_bytes());
        Ok(SigningKey {
            name: name.to_string(),
            id,
            key,
        })
    }

    /// Parses `PRIVATE+KEY+name+id+base64(0x01 || seed)`.
    pub fn from_text(text: &str) -> Result<SigningKey, NoteError> {
        let rest = text
            .trim()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| NoteError::Key("a signing key starts with PRIVATE+KEY+".into()))?;
        let (name, id, data) = split_key(rest)?;
        let seed: [u8; 32] = data
            .try_into()
            .map_err(|_| NoteError::Key("an Ed25519 seed is 32 bytes".into()))?;
        let key = SigningKey::from_seed(name, seed)?;
        if key.id != id {
            return Err(NoteError::Key("the key id does not match the key".into()));
        }
        Ok(key)
    }

    pub fn to_text(&self) -> String {
        let mut data = vec![ED25519_TYPE];
        data.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            hex::encode(self.id),
            BASE64.encode(data)
        )
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }
}

/// A public key that checkpoints are checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    pub name: String,
    pub id: [u8; 4],
    key: ed25519_dalek::VerifyingKey,
}

impl VerifierKey {
    /// Parses `name+id+base64(0x01 || public_key)`.
    pub fn from_text(text: &str) -> Result<VerifierKey, NoteError> {
        let (name, id, data) = split_key(text.trim())?;
        let public: [u8; 32] = data
            .try_into()
            .map_err(|_| NoteError::Key("an Ed25519 public key is 32 bytes".into()))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&public)
            .map_err(|_| NoteError::Key("not a valid Ed25519 public key".into()))?;
        check_name(name)?;
        if key_id(name, &public) != id {
            return Err(NoteError::Key("the key id does not match the key".into()));
        }
        Ok(VerifierKey {
            name: name.to_string(),
            id,
            key,
        })
    }

    pub fn to_text(&self) -> String {
        let mut data = vec![ED25519_TYPE];
        data.extend_from_slice(self.key.as_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.id),
            BASE64.encode(data)
        )
    }
}

/// `name+hexid+base64(0x01 || key)` → (name, id, key bytes).
fn split_key(text: &str) -> Result<(&str, [u8; 4], Vec<u8>), NoteError> {
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(id), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NoteError::Key("a key is name+id+base64".into()));
    };
    let id: [u8; 4] = hex::decode(id)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| NoteError::Key("the key id is 8 hex digits".into()))?;
    let data = BASE64
        .decode(data)
        .map_err(|_| NoteError::Key("the key is not base64".into()))?;
    match data.split_first() {
        Some((&ED25519_TYPE, key)) => Ok((name, id, key.to_vec())),
        _ => Err(NoteError::Key(
            "only Ed25519 keys (type 0x01) are supported".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, byte: u8) -> SigningKey {
        SigningKey::from_seed(name, [byte; 32]).unwrap()
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: "example.com/moat-audit".into(),
            size: 42,
            root: [7; 32],
        }
    }

    #[test]
    fn a_signed_note_has_the_c2sp_shape_and_verifies() {
        let signer = key("moat-audit-2026", 1);
        let note = checkpoint().sign(&signer);
        let lines: Vec<&str> = note.lines().collect();
        assert_eq!(lines[0], "example.com/moat-audit");
        assert_eq!(lines[1], "42");
        assert_eq!(lines[2], BASE64.encode([7u8; 32]));
        assert_eq!(lines[3], "");
        assert!(lines[4].starts_with("\u{2014} moat-audit-2026 "));
        let (opened, by) = open(&note, &[signer.verifier()]).unwrap();
        assert_eq!(opened, checkpoint());
        assert_eq!(by, "moat-audit-2026");
    }

    #[test]
    fn keys_round_trip_through_their_text_forms() {
        let signer = key("moat", 9);
        let again = SigningKey::from_text(&signer.to_text()).unwrap();
        assert_eq!(again.verifier(), signer.verifier());
        let verifier = VerifierKey::from_text(&signer.verifier().to_text()).unwrap();
        assert_eq!(verifier, signer.verifier());
        assert!(VerifierKey::from_text("moat+00000000+AQ==").is_err());
        assert!(SigningKey::from_seed("bad name", [1; 32]).is_err());
    }

    #[test]
    fn any_change_to_the_note_is_refused() {
        let signer = key("moat", 2);
        let note = checkpoint().sign(&signer);
        let trusted = [signer.verifier()];
        let grown = note.replacen("\n42\n", "\n43\n", 1);
        assert_eq!(
            open(&grown, &trusted).unwrap_err(),
            NoteError::BadSignature("moat".into())
        );
        let other = key("moat", 3);
        let forged = checkpoint().sign(&other);
        assert!(matches!(
            open(&forged, &trusted),
            Err(NoteError::Untrusted(_))
        ));
        assert!(open("not a note", &trusted).is_err());
        assert!(open(&note.replace("\u{2014}", "-"), &trusted).is_err());
    }

    #[test]
    fn old_keys_keep_old_checkpoints_verifiable_after_rotation() {
        let (old, new) = (key("moat-2025", 4), key("moat-2026", 5));
        let before = checkpoint().sign(&old);
        let after = Checkpoint {
            size: 50,
            ..checkpoint()
        }
        .sign(&new);
        let trusted = [old.verifier(), new.verifier()];
        assert_eq!(open(&before, &trusted).unwrap().1, "moat-2025");
        assert_eq!(open(&after, &trusted).unwrap().1, "moat-2026");
    }
}

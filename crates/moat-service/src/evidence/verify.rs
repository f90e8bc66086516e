//! `moat evidence verify`: checks a pack offline with the audit public key alone. The
//! manifest's signature, then every file against its hash (a file added, removed or
//! changed after signing is named), then the audit extract rebuilt into the signed
//! log's tree and tied to the witnesses' checkpoints.

use super::extract::RangeProof;
use super::pack::{self, Listed, MANIFEST, SIGNATURE};
use moat_audit::checkpoint::VerifierKey;
use moat_audit::event::event_leaf_hash;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Seek};

const EVENTS: &str = "audit/events.jsonl";
const PROOF: &str = "audit/proof.json";
const STATES: &str = "access/states.json";
/// A manifest or signature larger than this is not one Moat wrote.
const SMALL_FILE_MAX: u64 = 64 << 20;

/// Where a pack fails: the file, when one can be named, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{reason}", file.as_ref().map(|f| format!("{f}: ")).unwrap_or_default())]
pub struct Failure {
    pub file: Option<String>,
    pub reason: String,
}

fn fail(file: &str, reason: impl Into<String>) -> Failure {
    Failure {
        file: Some(file.to_string()),
        reason: reason.into(),
    }
}

/// What a pack that checks out holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub org: String,
    pub from: String,
    pub to: String,
    pub files: usize,
    pub events: u64,
    pub first_seq: u64,
    pub end_seq: u64,
    pub checkpoint_size: u64,
    /// The key that signed the manifest.
    pub signer: String,
    /// Witnesses whose checkpoints the extract was tied to.
    pub witnesses: Vec<String>,
}

#[derive(Deserialize)]
struct Manifest {
    moat_evidence_pack: u32,
    #[serde(default)]
    org: String,
    period: ManifestPeriod,
    audit: ManifestAudit,
    files: Vec<Listed>,
}

#[derive(Deserialize)]
struct ManifestPeriod {
    from: String,
    to: String,
}

#[derive(Deserialize)]
struct ManifestAudit {
    first_seq: u64,
    end_seq: u64,
}

/// Checks the pack read from `input` against `keys`. `progress(done, total)` is called
/// as the extract's events are checked.
pub fn verify<R: Read + Seek>(
    input: R,
    keys: &[VerifierKey],
    mut progress: impl FnMut(u64, u64),
) -> Result<Verified, Failure> {
    let mut zip = zip::ZipArchive::new(input).map_err(|e| Failure {
        file: None,
        reason: format!("not a readable zip: {e}"),
    })?;
    let mut names = HashSet::new();
    for index in 0..zip.len() {
        let name = zip
            .name_for_index(index)
            .and_then(Result::ok)
            .map(|n| n.into_owned())
            .unwrap_or_default();
        if !names.insert(name.clone()) {
            return Err(fail(&name, "appears twice in the zip"));
        }
    }
    let manifest_bytes = read_small(&mut zip, MANIFEST)?;
    let signature = read_small(&mut zip, SIGNATURE)?;
    let signature = String::from_utf8(signature).map_err(|_| fail(SIGNATURE, "not text"))?;
    let signer = pack::check_signature(&manifest_bytes, &signature, keys)
        .map_err(|e| fail(MANIFEST, format!("signature does not check out: {e}")))?;
    let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| fail(MANIFEST, format!("cannot be read: {e}")))?;
    if manifest.moat_evidence_pack != 1 {
        return Err(fail(
            MANIFEST,
            format!(
                "pack format {} is not one this Moat reads; use the Moat version that wrote it",
                manifest.moat_evidence_pack
            ),
        ));
    }
    let listed: HashSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    if let Some(extra) = names
        .iter()
        .find(|n| !listed.contains(n.as_str()) && *n != MANIFEST && *n != SIGNATURE)
    {
        return Err(fail(
            extra,
            "is not in the signed manifest (added after signing)",
        ));
    }
    // The proof first: the extract is checked against it as it is read.
    let mut order: Vec<&Listed> = manifest.files.iter().collect();
    order.sort_by_key(|f| match f.path.as_str() {
        PROOF => 0,
        EVENTS => 1,
        _ => 2,
    });
    let mut proof: Option<RangeProof> = None;
    let mut checked = None;
    for file in order {
        if !names.contains(&file.path) {
            return Err(fail(&file.path, "is in the manifest but not in the pack"));
        }
        let mut entry = zip
            .by_name(&file.path)
            .map_err(|e| fail(&file.path, format!("cannot be read: {e}")))?;
        let (sha256, bytes) = match file.path.as_str() {
            PROOF => {
                let mut text = Vec::new();
                (&mut entry)
                    .take(SMALL_FILE_MAX)
                    .read_to_end(&mut text)
                    .map_err(|e| fail(PROOF, format!("cannot be read: {e}")))?;
                let digest = hex::encode(Sha256::digest(&text));
                if digest == file.sha256 {
                    proof = Some(
                        serde_json::from_slice(&text)
                            .map_err(|e| fail(PROOF, format!("cannot be read: {e}")))?,
                    );
                }
                (digest, text.len() as u64)
            }
            EVENTS => {
                let proof = proof
                    .as_ref()
                    .ok_or_else(|| fail(PROOF, "is missing, so the extract cannot be checked"))?;
                let (digest, bytes, outcome) = check_extract(&mut entry, proof, &mut progress);
                if digest == file.sha256 {
                    checked = Some(outcome?);
                }
                (digest, bytes)
            }
            _ => hash(&mut entry).map_err(|e| fail(&file.path, format!("cannot be read: {e}")))?,
        };
        if sha256 != file.sha256 || bytes != file.bytes {
            return Err(fail(
                &file.path,
                "does not match the manifest: changed after the pack was signed",
            ));
        }
    }
    let proof = proof.ok_or_else(|| fail(PROOF, "is not in the manifest"))?;
    let (events, root) = checked.ok_or_else(|| fail(EVENTS, "is not in the manifest"))?;
    if (proof.first_seq, proof.end_seq) != (manifest.audit.first_seq, manifest.audit.end_seq) {
        return Err(fail(PROOF, "covers other events than the manifest says"));
    }
    let (checkpoint_size, witnesses) = proof.check(&root, keys).map_err(|e| fail(EVENTS, e))?;
    check_states(
        &mut zip,
        &names,
        keys,
        &proof,
        (manifest.audit.first_seq, manifest.audit.end_seq),
    )?;
    Ok(Verified {
        org: manifest.org,
        from: manifest.period.from,
        to: manifest.period.to,
        files: manifest.files.len(),
        events,
        first_seq: proof.first_seq,
        end_seq: proof.end_seq,
        checkpoint_size,
        signer,
        witnesses,
    })
}

fn read_small<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    path: &str,
) -> Result<Vec<u8>, Failure> {
    let entry = zip.by_name(path).map_err(|_| {
        fail(
            path,
            "is missing: this is not an evidence pack, or it was cut",
        )
    })?;
    let mut bytes = Vec::new();
    entry
        .take(SMALL_FILE_MAX)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(path, format!("cannot be read: {e}")))?;
    Ok(bytes)
}

fn hash(entry: &mut impl Read) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = entry.read(&mut buffer)?;
        if n == 0 {
            return Ok((hex::encode(hasher.finalize()), bytes));
        }
        hasher.update(&buffer[..n]);
        bytes += n as u64;
    }
}

/// Hashes the extract as a file and rebuilds the tree from its lines, in one read.
/// Returns the file's SHA-256 and size, and (if every line is the event it should be)
/// the number of events and the root of the tree of `end_seq` events.
fn check_extract(
    entry: &mut impl Read,
    proof: &RangeProof,
    progress: &mut impl FnMut(u64, u64),
) -> (
    String,
    u64,
    Result<(u64, moat_audit::merkle::Hash), Failure>,
) {
    let mut reader = BufReader::with_capacity(1 << 20, entry);
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    let mut outcome = proof.frontier().map_err(|e| fail(PROOF, e));
    let total = proof.end_seq.saturating_sub(proof.first_seq);
    let mut seq = proof.first_seq;
    let mut line = Vec::with_capacity(4096);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                return (
                    String::new(),
                    bytes,
                    Err(fail(EVENTS, format!("cannot be read: {e}"))),
                );
            }
        }
        hasher.update(&line);
        bytes += line.len() as u64;
        let Ok(frontier) = outcome.as_mut() else {
            continue;
        };
        let event = line.strip_suffix(b"\n").unwrap_or(&line);
        if seq >= proof.end_seq {
            outcome = Err(fail(
                EVENTS,
                format!("holds more than the {total} events the proof covers"),
            ));
            continue;
        }
        if seq_of(event) != Some(seq) {
            outcome = Err(fail(
                EVENTS,
                format!("line {} is not event {seq}", seq - proof.first_seq + 1),
            ));
            continue;
        }
        frontier.push(event_leaf_hash(event));
        seq += 1;
        if seq.is_multiple_of(65_536) {
            progress(seq - proof.first_seq, total);
        }
    }
    let outcome = outcome.and_then(|frontier| {
        if seq != proof.end_seq {
            return Err(fail(
                EVENTS,
                format!(
                    "holds {} events; the proof covers {total}",
                    seq - proof.first_seq
                ),
            ));
        }
        Ok((total, frontier.root()))
    });
    progress(seq - proof.first_seq, total);
    (hex::encode(hasher.finalize()), bytes, outcome)
}

/// The sequence number an event's canonical JSON carries. Keys are sorted, so the
/// top-level `seq` is the last one before `time`, whose value holds no `"seq":`.
fn seq_of(event: &[u8]) -> Option<u64> {
    const KEY: &[u8] = br#""seq":"#;
    let at = event.windows(KEY.len()).rposition(|w| w == KEY)? + KEY.len();
    let digits: &[u8] = &event[at..];
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

#[derive(Deserialize)]
struct UsedState {
    moment: String,
    #[serde(default)]
    first_seq_at_or_after: Option<u64>,
    #[serde(default)]
    state: Option<StateRef>,
    #[serde(default)]
    changes_between: Option<u64>,
    #[serde(default)]
    changes_while_taken: Option<u64>,
    #[serde(default)]
    exact: Option<bool>,
    #[serde(default)]
    changes_file: Option<String>,
    #[serde(default)]
    extract: Option<ExtractRef>,
}

#[derive(Deserialize)]
struct StateRef {
    day: String,
    log_size: u64,
    sha256: String,
    recorded_seq: u64,
    file: String,
}

#[derive(Deserialize)]
struct ExtractRef {
    first_seq: u64,
    end_seq: u64,
    events: String,
    proof: String,
}

/// The most a state file may hold when read back whole (as the exporter bounds it).
const MAX_STATE_BYTES: u64 = 1 << 30;

/// The files a moment's matrix is made of.
fn moment_files(moment: &str) -> [String; 5] {
    [
        format!("access/state-at-{moment}.json"),
        format!("access/matrix-at-{moment}.csv"),
        format!("access/changes-between-state-and-{moment}.jsonl"),
        format!("access/events-{moment}.jsonl"),
        format!("access/proof-{moment}.json"),
    ]
}

/// The matrices at the period's start and end, fail closed: `access/states.json` must
/// name the period's own first and end events as its moments and every access file of
/// a moment; each state file is the one its `access.snapshot` event names, in events
/// proven into the pack's own checkpoint; the changes listed between it and the moment
/// are every change there; `exact` is what they make it; and the matrix is the one the
/// state decides, rebuilt here. (Every file was already checked against the manifest.)
fn check_states<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    names: &HashSet<String>,
    keys: &[VerifierKey],
    main: &RangeProof,
    (first, end): (u64, u64),
) -> Result<(), Failure> {
    let moment_file = |n: &str| {
        ["start", "end"]
            .iter()
            .any(|m| moment_files(m).iter().any(|f| f == n))
    };
    let present: Vec<&String> = names.iter().filter(|n| moment_file(n)).collect();
    if !names.contains(STATES) {
        return match present.first() {
            Some(file) => Err(fail(
                file,
                "is in the pack without access/states.json, which says what it was decided from",
            )),
            None => Ok(()),
        };
    }
    let used: Vec<UsedState> = serde_json::from_slice(&read_small(zip, STATES)?)
        .map_err(|e| fail(STATES, format!("cannot be read: {e}")))?;
    let expected_moments: &[(&str, u64)] = match used.len() {
        1 => &[("start", first)],
        2 => &[("start", first), ("end", end)],
        _ => {
            return Err(fail(
                STATES,
                "names other moments than the period's start and end",
            ));
        }
    };
    let mut expected_files = HashSet::new();
    for (used, (moment, seq)) in used.into_iter().zip(expected_moments) {
        if used.moment != *moment || used.first_seq_at_or_after.is_some_and(|s| s != *seq) {
            return Err(fail(
                STATES,
                format!("its {moment} is not the period's (event {seq})"),
            ));
        }
        let files = moment_files(moment);
        let Some(state) = used.state else {
            continue;
        };
        expected_files.extend(files.iter().cloned());
        let [
            state_file,
            matrix_file,
            changes_file,
            events_file,
            proof_file,
        ] = &files;
        let (Some(count), Some(unsure), Some(exact), Some(extract)) = (
            used.changes_between,
            used.changes_while_taken,
            used.exact,
            used.extract,
        ) else {
            return Err(fail(STATES, "names a state without its changes and proof"));
        };
        if used.first_seq_at_or_after.is_none()
            || &state.file != state_file
            || used.changes_file.as_deref() != Some(changes_file.as_str())
            || &extract.events != events_file
            || &extract.proof != proof_file
        {
            return Err(fail(
                STATES,
                format!("names other files for the {moment} than its own"),
            ));
        }
        if exact != (count == 0 && unsure == 0) {
            return Err(fail(
                STATES,
                format!("calls the {moment}'s matrix exact when it is not, or the other way"),
            ));
        }
        let read = |zip: &mut zip::ZipArchive<R>, path: &str| -> Result<(String, u64), Failure> {
            let mut entry = zip
                .by_name(path)
                .map_err(|_| fail(path, "is named by access/states.json but not in the pack"))?;
            hash(&mut entry).map_err(|e| fail(path, format!("cannot be read: {e}")))
        };
        // The state, and the matrix it decides.
        let mut json = Vec::new();
        zip.by_name(state_file)
            .map_err(|_| {
                fail(
                    state_file,
                    "is named by access/states.json but not in the pack",
                )
            })?
            .take(MAX_STATE_BYTES)
            .read_to_end(&mut json)
            .map_err(|e| fail(state_file, format!("cannot be read: {e}")))?;
        if hex::encode(Sha256::digest(&json)) != state.sha256 {
            return Err(fail(
                state_file,
                "is not the state access/states.json names",
            ));
        }
        let org: moat_policy::Org = serde_json::from_slice(&json)
            .map_err(|e| fail(state_file, format!("cannot be read: {e}")))?;
        let authorizer = moat_policy::Authorizer::new(&org)
            .map_err(|e| fail(state_file, format!("cannot be decided: {e}")))?;
        if matrix_sha256(&authorizer) != read(zip, matrix_file)?.0 {
            return Err(fail(matrix_file, "is not the matrix its state decides"));
        }
        // The events from the state to the moment, proven into the pack's checkpoint.
        let proof: RangeProof = serde_json::from_slice(&read_small(zip, proof_file)?)
            .map_err(|e| fail(proof_file, format!("cannot be read: {e}")))?;
        if proof.checkpoint != main.checkpoint {
            return Err(fail(
                proof_file,
                "proves into another checkpoint than the pack's",
            ));
        }
        let after_record = state
            .recorded_seq
            .checked_add(1)
            .ok_or_else(|| fail(STATES, "names an event past the end of any log"))?;
        let (between_lo, between_hi) = (state.log_size.min(*seq), state.log_size.max(*seq));
        if (proof.first_seq, proof.end_seq) != (extract.first_seq, extract.end_seq)
            || extract.first_seq > between_lo
            || extract.end_seq < between_hi.max(after_record)
            || state.recorded_seq < state.log_size
        {
            return Err(fail(
                proof_file,
                "does not cover the events from the state to the moment and its record",
            ));
        }
        let named = moat_store::AccessState {
            day: state.day.clone(),
            taken_at: moat_domain::UnixTime(0),
            log_size: state.log_size,
            sha256: state.sha256.clone(),
            recorded_seq: state.recorded_seq,
        };
        let listed_changes = read(zip, changes_file)?.0;
        let mut entry = zip.by_name(events_file).map_err(|_| {
            fail(
                events_file,
                "is named by access/states.json but not in the pack",
            )
        })?;
        let mut reader = BufReader::with_capacity(1 << 20, &mut entry);
        let mut frontier = proof.frontier().map_err(|e| fail(proof_file, e))?;
        let mut changes = Sha256::new();
        let (mut found, mut found_unsure, mut seen, mut at) =
            (0u64, 0u64, false, extract.first_seq);
        let mut line = Vec::with_capacity(4096);
        loop {
            line.clear();
            if reader
                .read_until(b'\n', &mut line)
                .map_err(|e| fail(events_file, format!("cannot be read: {e}")))?
                == 0
            {
                break;
            }
            let event = line.strip_suffix(b"\n").unwrap_or(&line);
            if at >= extract.end_seq || seq_of(event) != Some(at) {
                return Err(fail(
                    events_file,
                    format!("line {} is not event {at}", at - extract.first_seq + 1),
                ));
            }
            frontier.push(event_leaf_hash(event));
            if at == state.recorded_seq {
                super::matrix::names(event, &named).map_err(|why| fail(state_file, why))?;
                seen = true;
            }
            let change = super::matrix::action_of(event).is_some_and(super::observe::is_change);
            if change && (between_lo..between_hi).contains(&at) {
                found += 1;
                changes.update(&line);
            }
            if change && (state.log_size..state.recorded_seq).contains(&at) {
                found_unsure += 1;
            }
            at += 1;
        }
        if at != extract.end_seq || !seen {
            return Err(fail(
                events_file,
                "does not hold every event its proof covers",
            ));
        }
        proof
            .check(&frontier.root(), keys)
            .map_err(|e| fail(events_file, e))?;
        if found != count || hex::encode(changes.finalize()) != listed_changes {
            return Err(fail(
                changes_file,
                format!(
                    "is not every recorded change between the state and the moment ({found} in the proven events)"
                ),
            ));
        }
        if found_unsure != unsure {
            return Err(fail(
                STATES,
                format!("miscounts the changes recorded while the {moment}'s state was taken"),
            ));
        }
    }
    if let Some(stray) = present
        .iter()
        .find(|f| !expected_files.contains(f.as_str()))
    {
        return Err(fail(stray, "is not named by access/states.json"));
    }
    Ok(())
}

/// The SHA-256 of the matrix CSV `authorizer` decides, as the exporter writes it.
fn matrix_sha256(authorizer: &moat_policy::Authorizer) -> String {
    let mut hasher = Sha256::new();
    hasher.update(crate::access::MATRIX_CSV_HEADER.as_bytes());
    let mut after: Option<String> = None;
    loop {
        let (cells, next) = authorizer.matrix_page(after.as_deref(), super::PAGE);
        for cell in &cells {
            hasher.update(crate::access::matrix_csv_row(cell).as_bytes());
        }
        match next {
            Some(next) => after = Some(next),
            None => return hex::encode(hasher.finalize()),
        }
    }
}

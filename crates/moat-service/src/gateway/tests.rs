//! The gateway's pure decisions: egress by tier, tags and region, and recognising
//! indexed code in a prompt.

use super::*;
use moat_domain::Disclosure;
use moat_index::{FileEntry, RepoGraph};
use moat_policy::{OrgRepo, PermissionSource};
use std::collections::BTreeMap;

fn vendor(name: &str, on_prem: bool, region: &str, attestations: &[&str]) -> VendorSpec {
    VendorSpec {
        name: name.into(),
        kind: VendorKind::Anthropic,
        base_url: "http://127.0.0.1:9".into(),
        api_key: "k".into(),
        api_version: None,
        token_file: None,
        replicas: None,
        aws: None,
        vertex: None,
        region: region.into(),
        on_prem,
        attestations: attestations.iter().map(|a| a.to_string()).collect(),
        expires: Default::default(),
    }
}

/// The moment the egress tests decide at.
const NOW: moat_domain::UnixTime = moat_domain::UnixTime(1_796_000_000);

fn repo(name: &str, tier: Tier, tags: &[&str], region: Option<&str>) -> OrgRepo {
    OrgRepo {
        name: name.into(),
        tier,
        disclosure: Disclosure::Structure,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        region: region.map(String::from),
        source: PermissionSource::Static,
        host_readers: vec![],
    }
}

/// SPEC.md's default table.
fn tiers() -> BTreeMap<Tier, TierEgress> {
    let rule = |require: &[&str], on_prem_only| TierEgress {
        require: require.iter().map(|r| r.to_string()).collect(),
        on_prem_only,
    };
    BTreeMap::from([
        (Tier::Public, rule(&[], false)),
        (Tier::Internal, rule(&["soc2_type2", "dpa"], false)),
        (
            Tier::Confidential,
            rule(&["soc2_type2", "dpa", "zero_retention"], false),
        ),
        (Tier::Restricted, rule(&[], true)),
    ])
}

#[test]
fn each_tier_and_tag_requires_what_the_spec_says() {
    let tiers = tiers();
    let cloud = vendor("cloud", false, "us", &["soc2_type2", "dpa"]);
    let strict = vendor(
        "strict",
        false,
        "us",
        &["soc2_type2", "dpa", "zero_retention", "baa"],
    );
    let local = vendor("local", true, "us", &[]);
    let bare = vendor("bare", false, "us", &[]);

    assert_eq!(
        egress_refusal(&bare, &repo("docs", Tier::Public, &[], None), &tiers, NOW),
        None
    );
    let internal = repo("web", Tier::Internal, &[], None);
    assert_eq!(egress_refusal(&cloud, &internal, &tiers, NOW), None);
    let refusal = egress_refusal(&bare, &internal, &tiers, NOW).unwrap();
    assert!(
        refusal.contains("`web` (internal tier)") && refusal.contains("soc2_type2, dpa"),
        "{refusal}"
    );

    let confidential = repo("ledger", Tier::Confidential, &[], None);
    let refusal = egress_refusal(&cloud, &confidential, &tiers, NOW).unwrap();
    assert!(
        refusal.contains("lacks the attestation zero_retention"),
        "{refusal}"
    );
    assert_eq!(egress_refusal(&strict, &confidential, &tiers, NOW), None);

    let phi = repo("claims", Tier::Internal, &["phi"], None);
    let refusal = egress_refusal(&cloud, &phi, &tiers, NOW).unwrap();
    assert!(
        refusal.contains("tagged phi") && refusal.contains("baa"),
        "{refusal}"
    );
    assert_eq!(egress_refusal(&strict, &phi, &tiers, NOW), None);

    let restricted = repo("keys", Tier::Restricted, &[], None);
    let refusal = egress_refusal(&strict, &restricted, &tiers, NOW).unwrap();
    assert!(refusal.contains("only on-premises vendors"), "{refusal}");
    assert_eq!(egress_refusal(&local, &restricted, &tiers, NOW), None);

    let pci = repo("cards", Tier::Internal, &["pci"], Some("eu"));
    let refusal = egress_refusal(&strict, &pci, &tiers, NOW).unwrap();
    assert!(refusal.contains("`pci` tag"), "{refusal}");
    // On-premises but in the wrong region: the residency still refuses.
    let internal_local = vendor("local", true, "us", &["soc2_type2", "dpa"]);
    let refusal = egress_refusal(&internal_local, &pci, &tiers, NOW).unwrap();
    assert!(refusal.contains("must stay in region `eu`"), "{refusal}");
    let eu_local = vendor("eu-local", true, "eu", &["soc2_type2", "dpa"]);
    assert_eq!(egress_refusal(&eu_local, &pci, &tiers, NOW), None);
}

/// An attestation past its last day stops the egress that depends on it, at the
/// first second of the next day, naming the document and the day; egress that does
/// not depend on it goes on.
#[test]
fn an_expired_attestation_stops_only_the_egress_that_needs_it() {
    use moat_domain::UnixTime;
    let tiers = crate::gateway::from_config::tiers(&Default::default());
    let mut strict = vendor(
        "strict",
        false,
        "us",
        &["soc2_type2", "dpa", "zero_retention", "baa"],
    );
    let last_day = UnixTime::from_date("2026-11-30").unwrap();
    strict
        .expires
        .insert("baa".into(), last_day.plus_seconds(86_400));
    let phi = repo("claims", Tier::Internal, &["phi"], None);
    let internal = repo("web", Tier::Internal, &[], None);
    let end_of_day = last_day.plus_seconds(86_399);
    assert_eq!(egress_refusal(&strict, &phi, &tiers, end_of_day), None);
    let refusal = egress_refusal(&strict, &phi, &tiers, end_of_day.plus_seconds(1)).unwrap();
    assert!(
        refusal.contains("`claims`")
            && refusal.contains("requires `baa`")
            && refusal.contains("`baa` expired on 2026-11-30")
            && refusal.contains("vendor register"),
        "{refusal}"
    );
    // Internal code needs no BAA: it still goes.
    assert_eq!(
        egress_refusal(&strict, &internal, &tiers, end_of_day.plus_seconds(1)),
        None
    );
    // Two expired documents are both named.
    strict
        .expires
        .insert("soc2_type2".into(), last_day.plus_seconds(86_400));
    let refusal = egress_refusal(&strict, &phi, &tiers, end_of_day.plus_seconds(1)).unwrap();
    assert!(
        refusal.contains("`soc2_type2` and `baa`") || refusal.contains("`baa` and `soc2_type2`"),
        "{refusal}"
    );
}

fn graph(name: &str, files: &[&str]) -> Arc<RepoGraph> {
    let fingerprints = files
        .iter()
        .map(|text| moat_index::fingerprint::fingerprints(text))
        .collect();
    graph_of_fingerprints(name, fingerprints)
}

/// A repository with one file per entry of `files`, holding those fingerprints.
fn graph_of_fingerprints(name: &str, files: Vec<Vec<u32>>) -> Arc<RepoGraph> {
    let mut graph = RepoGraph {
        repo: name.into(),
        ..RepoGraph::default()
    };
    for (i, fingerprints) in files.into_iter().enumerate() {
        graph.files.insert(
            format!("f{i}.rs"),
            FileEntry {
                blob: String::new(),
                language: None,
                bytes: 0,
                lines: 1,
                skipped: None,
                parsed: Default::default(),
                rank: vec![],
                findings: vec![],
                fingerprints,
            },
        );
    }
    Arc::new(graph)
}

const LEDGER: &str = "pub fn settle(claim: &Claim, ledger: &mut Ledger) -> Result<Receipt, Error> {\n    let amount = claim.approved().ok_or(Error::NotApproved)?;\n    if amount > ledger.limit() { return Err(Error::OverLimit { amount }); }\n    ledger.debit(claim.payer(), amount)?;\n    Ok(Receipt::new(claim.id(), amount))\n}\n";
const PARSER: &str = "def parse_header(line):\n    key, _, value = line.partition(':')\n    if not key:\n        raise ValueError('empty header name in ' + repr(line))\n    return key.strip().lower(), value.strip()\n\ndef parse_all(lines):\n    return dict(parse_header(l) for l in lines if l.strip())\n";

#[test]
fn pasted_code_is_traced_to_its_repository_and_prose_to_none() {
    let map = FingerprintMap::build(vec![graph("ledger", &[LEDGER]), graph("parser", &[PARSER])]);
    assert!(!map.is_empty());
    let prompt = format!("Why does this overflow?\n```\n{LEDGER}```\nplease keep it short");
    let found = map.matches(&moat_index::fingerprint::fingerprints(&prompt), 3);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "ledger");
    let prose = "Write a function that settles an insurance claim against a ledger, with limits.";
    assert!(
        map.matches(&moat_index::fingerprint::fingerprints(prose), 3)
            .is_empty()
    );
    // Both pasted: both found.
    let both = format!("{PARSER}\n\n{LEDGER}");
    let found = map.matches(&moat_index::fingerprint::fingerprints(&both), 3);
    assert_eq!(found.len(), 2, "{found:?}");
}

#[test]
fn bucketed_lookup_counts_what_a_full_scan_counts() {
    // Pseudo-random fingerprints over three repositories, spread over every bucket and
    // crowded into a few, checked against counting by brute force.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as u32
    };
    let mut tables: Vec<Vec<u32>> = Vec::new();
    for repo in 0..3 {
        let mut hashes: Vec<u32> = (0..20_000)
            .map(|i| {
                if i % 4 == repo {
                    next() & 0x0003_ffff
                } else {
                    next()
                }
            })
            .collect();
        hashes.extend([0, u32::MAX, 0xffff_0000, 0x0000_ffff]);
        hashes.sort_unstable();
        hashes.dedup();
        tables.push(hashes);
    }
    let graphs = tables
        .iter()
        .enumerate()
        .map(|(i, hashes)| graph_of_fingerprints(&format!("repo{i}"), vec![hashes.clone()]))
        .collect();
    let map = FingerprintMap::build(graphs);
    for round in 0..20 {
        let mut prompt: Vec<u32> = (0..500)
            .map(|i| match i % 3 {
                0 => tables[round % 3][next() as usize % tables[round % 3].len()],
                1 => next() & 0x0003_ffff,
                _ => next(),
            })
            .collect();
        prompt.extend([0, u32::MAX]);
        let mut expected: Vec<(String, u32)> = tables
            .iter()
            .enumerate()
            .map(|(i, hashes)| {
                let n = prompt
                    .iter()
                    .filter(|h| hashes.binary_search(h).is_ok())
                    .count() as u32;
                (format!("repo{i}"), n)
            })
            .filter(|&(_, n)| n >= 1)
            .collect();
        expected.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let found: Vec<(String, u32)> = map
            .matches(&prompt, 1)
            .into_iter()
            .map(|(name, n)| (name.to_string(), n))
            .collect();
        assert_eq!(found, expected, "round {round}");
    }
    assert!(FingerprintMap::default().matches(&[1, 2, 3], 1).is_empty());
}

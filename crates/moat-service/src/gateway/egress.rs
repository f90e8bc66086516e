//! Classification-aware egress: which repositories' code a prompt contains (winnowing
//! fingerprints stored at index time, `moat_index::fingerprint`), and whether a vendor
//! may receive code of those repositories' tiers and tags.

use super::{TierEgress, VendorSpec};
use moat_domain::Tier;
use moat_index::{CodeIndex, RepoGraph};
use moat_policy::{Authorizer, OrgRepo};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A repository whose code was recognised in a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectedRepo {
    pub repo: String,
    pub tier: Tier,
    /// Fingerprints the prompt shares with the repository.
    pub matches: u32,
}

/// Why `vendor` may not receive code of `repo` at `now`, naming the repository, its
/// tier and what is missing or expired; `None` when it may.
pub fn egress_refusal(
    vendor: &VendorSpec,
    repo: &OrgRepo,
    tiers: &BTreeMap<Tier, TierEgress>,
    now: moat_domain::UnixTime,
) -> Option<String> {
    let rule = tiers.get(&repo.tier).cloned().unwrap_or_default();
    let subject = format!(
        "the prompt contains code from repository `{}` ({} tier)",
        repo.name, repo.tier
    );
    let on_prem_tag = repo
        .tags
        .iter()
        .find(|t| matches!(t.as_str(), "pci" | "export-controlled"));
    if (rule.on_prem_only || on_prem_tag.is_some()) && !vendor.on_prem {
        let why = match on_prem_tag {
            Some(tag) if !rule.on_prem_only => format!("its `{tag}` tag"),
            _ => format!("the {} tier", repo.tier),
        };
        return Some(format!(
            "{subject}; {why} allows only on-premises vendors and `{}` is not one; use an on-premises model or remove that code",
            vendor.name
        ));
    }
    let mut required = rule.require.clone();
    if repo.tags.iter().any(|t| t == "phi") && !required.iter().any(|r| r == "baa") {
        required.push("baa".to_string());
    }
    let missing: Vec<&str> = required
        .iter()
        .filter(|r| !vendor.attestations.contains(r.as_str()))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Some(format!(
            "{subject}{}; vendor `{}` lacks the attestation{} {} that it requires; use a model whose vendor holds {}",
            if repo.tags.is_empty() {
                String::new()
            } else {
                format!(", tagged {}", repo.tags.join(", "))
            },
            vendor.name,
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            if missing.len() == 1 { "it" } else { "them" },
        ));
    }
    // An attestation past its expiry counts as missing, and says so.
    let expired: Vec<(&str, moat_domain::UnixTime)> = required
        .iter()
        .filter_map(|r| {
            let until = *vendor.expires.get(r)?;
            (until <= now).then_some((r.as_str(), until))
        })
        .collect();
    if !expired.is_empty() {
        let documents: Vec<String> = expired
            .iter()
            .map(|(name, until)| {
                format!(
                    "`{name}` expired on {}",
                    until.plus_seconds(-86_400).to_date()
                )
            })
            .collect();
        return Some(format!(
            "{subject}, which requires {}; vendor `{}`'s {}; renew it in the vendor register (`[[vendors]] attestations.expires`) once the vendor has, or use a model whose vendor holds a current one",
            expired
                .iter()
                .map(|(name, _)| format!("`{name}`"))
                .collect::<Vec<_>>()
                .join(" and "),
            vendor.name,
            documents.join(" and "),
        ));
    }
    // A repository's region is where its code may be processed.
    if let Some(region) = repo.region.as_deref().filter(|r| !r.is_empty())
        && !vendor.region.eq_ignore_ascii_case(region)
    {
        return Some(format!(
            "{subject}, which must stay in region `{region}`; vendor `{}` is in `{}`",
            vendor.name, vendor.region
        ));
    }
    None
}

/// Every indexed repository's fingerprints in one sorted table: `(fingerprint, repo)`.
#[derive(Debug, Default)]
pub struct FingerprintMap {
    repos: Vec<String>,
    /// The graphs it was built from, to notice re-indexing.
    sources: Vec<Arc<RepoGraph>>,
    entries: Vec<(u32, u16)>,
    /// `buckets[b]..buckets[b + 1]` are the entries whose fingerprint's top 16 bits are
    /// `b`, so a lookup searches a few dozen neighbouring entries instead of the whole
    /// table (tens of cache misses per fingerprint with millions of entries).
    buckets: Vec<usize>,
}

/// Fingerprint bits that choose a bucket.
const BUCKET_BITS: u32 = 16;

impl FingerprintMap {
    pub fn build(graphs: Vec<Arc<RepoGraph>>) -> FingerprintMap {
        let mut entries = Vec::new();
        for (index, graph) in graphs.iter().enumerate().take(u16::MAX as usize) {
            let start = entries.len();
            for file in graph.files.values() {
                entries.extend(file.fingerprints.iter().map(|&h| (h, index as u16)));
            }
            entries[start..].sort_unstable();
            let mut kept = start;
            for i in start..entries.len() {
                if i == start || entries[i] != entries[kept - 1] {
                    entries[kept] = entries[i];
                    kept += 1;
                }
            }
            entries.truncate(kept);
        }
        entries.sort_unstable();
        entries.shrink_to_fit();
        let buckets = (0..=1u64 << BUCKET_BITS)
            .map(|b| entries.partition_point(|&(h, _)| u64::from(h) >> (32 - BUCKET_BITS) < b))
            .collect();
        FingerprintMap {
            repos: graphs.iter().map(|g| g.repo.clone()).collect(),
            sources: graphs,
            entries,
            buckets,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Repositories sharing at least `min_matches` of `prompt`'s fingerprints, most
    /// matches first.
    pub fn matches(&self, prompt: &[u32], min_matches: u32) -> Vec<(&str, u32)> {
        let mut counts = vec![0u32; self.repos.len()];
        if self.entries.is_empty() {
            return Vec::new();
        }
        for &hash in prompt {
            let bucket = (hash >> (32 - BUCKET_BITS)) as usize;
            let bucket = &self.entries[self.buckets[bucket]..self.buckets[bucket + 1]];
            let start = bucket.partition_point(|&(h, _)| h < hash);
            for &(h, repo) in &bucket[start..] {
                if h != hash {
                    break;
                }
                counts[repo as usize] += 1;
            }
        }
        let mut found: Vec<(&str, u32)> = counts
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n >= min_matches)
            .map(|(i, &n)| (self.repos[i].as_str(), n))
            .collect();
        found.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        found
    }
}

/// The current [`FingerprintMap`], rebuilt when a repository is re-indexed (checked at
/// most once a second).
pub(super) struct Fingerprints {
    index: Option<Arc<CodeIndex>>,
    current: Mutex<(Option<Instant>, Arc<FingerprintMap>)>,
}

const RECHECK: Duration = Duration::from_secs(1);

impl Fingerprints {
    pub fn new(index: Option<Arc<CodeIndex>>) -> Fingerprints {
        Fingerprints {
            index,
            current: Mutex::new((None, Arc::new(FingerprintMap::default()))),
        }
    }

    /// Repositories whose code the prompt contains; an error (fail closed) when an
    /// indexed repository's fingerprints cannot be read.
    pub async fn detect(
        &self,
        authorizer: &Authorizer,
        prompt: &str,
        min_matches: u32,
    ) -> Result<Vec<super::DetectedRepo>, String> {
        let hashes = moat_index::fingerprint::fingerprints(prompt);
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let map = self.map(authorizer).await?;
        Ok(map
            .matches(&hashes, min_matches)
            .into_iter()
            .filter_map(|(name, matches)| {
                authorizer.repo(name).map(|repo| DetectedRepo {
                    repo: name.to_string(),
                    tier: repo.tier,
                    matches,
                })
            })
            .collect())
    }

    async fn map(&self, authorizer: &Authorizer) -> Result<Arc<FingerprintMap>, String> {
        let Some(index) = self.index.clone() else {
            return Ok(Arc::new(FingerprintMap::default()));
        };
        let current = match self.current.lock() {
            Ok(current) => {
                if current.0.is_some_and(|at| at.elapsed() < RECHECK) {
                    return Ok(current.1.clone());
                }
                current.1.clone()
            }
            Err(_) => return Err("the fingerprint table is unavailable".to_string()),
        };
        let names: Vec<String> = authorizer.repos().map(|r| r.name.clone()).collect();
        let rebuilt = tokio::task::spawn_blocking(move || {
            // Fail closed: a repository whose index is missing (never indexed, or of
            // an older format, or corrupt) could be in any prompt unrecognised.
            let mut graphs: Vec<Arc<RepoGraph>> = Vec::new();
            for name in &names {
                match index.graph(name) {
                    Ok(Some(graph)) => graphs.push(graph),
                    Ok(None) => {
                        return Err(format!(
                            "repository `{name}` has no usable index, so prompts cannot be checked for its code; ask an admin to run `moat index {name}`"
                        ));
                    }
                    Err(error) => {
                        tracing::error!(repo = %name, %error, "gateway: index unreadable");
                        return Err(format!(
                            "the index of repository `{name}` cannot be read, so prompts cannot be checked for its code; ask an admin to run `moat index {name}`"
                        ));
                    }
                }
            }
            let same = graphs.len() == current.sources.len()
                && graphs
                    .iter()
                    .zip(&current.sources)
                    .all(|(a, b)| Arc::ptr_eq(a, b));
            Ok(if same {
                current
            } else {
                let map = Arc::new(FingerprintMap::build(graphs));
                tracing::info!(
                    fingerprints = map.len(),
                    repos = map.repos.len(),
                    "gateway: fingerprint table rebuilt"
                );
                map
            })
        })
        .await
        .map_err(|e| format!("the fingerprint table could not be built: {e}"))??;
        if let Ok(mut current) = self.current.lock() {
            *current = (Some(Instant::now()), rebuilt.clone());
        }
        Ok(rebuilt)
    }
}

//! Scores and timings of the localisation benchmark, and the Markdown report of them.

use std::collections::BTreeMap;
use std::time::Duration;

/// The systems compared, in the order tables list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum System {
    Bm25,
    Moat,
}

impl System {
    pub fn label(self) -> &'static str {
        match self {
            System::Bm25 => "BM25 whole files",
            System::Moat => "Moat",
        }
    }
}

/// The cut-offs accuracy is reported at.
const KS: [usize; 4] = [1, 3, 5, 10];
/// The cut-offs "all answer files in the top k" is reported at.
const ALL_KS: [usize; 2] = [5, 10];

/// Where an instance's answer files are in one system's file ranking (1-based ranks).
#[derive(Debug, Clone, Copy)]
pub struct Judgement {
    /// The first answer file; `None` when none is ranked.
    pub first: Option<usize>,
    /// The rank by which every answer file has appeared; `None` when one is missing.
    pub all: Option<usize>,
}

impl Judgement {
    pub fn of(ranking: &[String], answers: &[String]) -> Judgement {
        let ranks: Vec<Option<usize>> = answers
            .iter()
            .map(|answer| ranking.iter().position(|p| p == answer).map(|i| i + 1))
            .collect();
        Judgement {
            first: ranks.iter().flatten().min().copied(),
            all: ranks
                .iter()
                .copied()
                .collect::<Option<Vec<_>>>()
                .and_then(|r| r.into_iter().max()),
        }
    }
}

/// Accuracy counts and reciprocal ranks over some instances, for one system.
#[derive(Debug, Clone, Default)]
pub struct Scores {
    instances: usize,
    any_at: [usize; KS.len()],
    all_at: [usize; ALL_KS.len()],
    reciprocal_ranks: f64,
}

impl Scores {
    pub fn add(&mut self, judgement: Judgement) {
        self.instances += 1;
        let within = |rank: Option<usize>, k: usize| rank.is_some_and(|r| r <= k);
        for (count, k) in self.any_at.iter_mut().zip(KS) {
            *count += usize::from(within(judgement.first, k));
        }
        for (count, k) in self.all_at.iter_mut().zip(ALL_KS) {
            *count += usize::from(within(judgement.all, k));
        }
        self.reciprocal_ranks += judgement.first.map_or(0.0, |r| 1.0 / r as f64);
    }

    fn row(&self) -> String {
        let n = self.instances.max(1) as f64;
        let rate = |count: &usize| format!("{:.3}", *count as f64 / n);
        let any: Vec<String> = self.any_at.iter().map(rate).collect();
        let all: Vec<String> = self.all_at.iter().map(rate).collect();
        format!(
            "{} | {:.3} | {}",
            any.join(" | "),
            self.reciprocal_ranks / n,
            all.join(" | ")
        )
    }
}

/// A subset of the instances scores are reported for, in the order tables list them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Subset {
    All,
    Split(String),
    Language(String),
    /// The query names none of the answer files: the harder, realistic case.
    AnswerNotNamed,
}

impl std::fmt::Display for Subset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subset::All => write!(f, "all"),
            Subset::Split(split) => write!(f, "split {split}"),
            Subset::Language(language) => write!(f, "{language}"),
            Subset::AnswerNotNamed => write!(f, "answer not named in the query"),
        }
    }
}

/// Scores by subset and system.
#[derive(Default)]
pub struct Table {
    scores: BTreeMap<(Subset, System), Scores>,
}

impl Table {
    pub fn add(&mut self, subset: Subset, system: System, judgement: Judgement) {
        self.scores
            .entry((subset, system))
            .or_default()
            .add(judgement);
    }

    pub fn print(&self) {
        let any: Vec<String> = KS.iter().map(|k| format!("Acc@{k}")).collect();
        let all: Vec<String> = ALL_KS.iter().map(|k| format!("All@{k}")).collect();
        println!(
            "| subset | n | system | {} | MRR | {} |",
            any.join(" | "),
            all.join(" | ")
        );
        println!(
            "|---|---|---|{}",
            "---|".repeat(KS.len() + 1 + ALL_KS.len())
        );
        for ((subset, system), scores) in &self.scores {
            let system = match system {
                System::Moat => format!("**{}**", system.label()),
                System::Bm25 => system.label().to_string(),
            };
            println!(
                "| {subset} | {} | {system} | {} |",
                scores.instances,
                scores.row()
            );
        }
    }
}

/// How long one system took to index and search.
#[derive(Default)]
pub struct Timings {
    /// Each repository's first index, from nothing.
    pub first_builds: Vec<Duration>,
    /// Each later move to another parent commit, incrementally.
    pub updates: Vec<Duration>,
    /// Files read again by each of those moves.
    pub files_per_update: Vec<u64>,
    pub searches: Vec<Duration>,
}

impl Timings {
    pub const HEADER: &str = "| system | first build per repository: p50 / max (count) | incremental update per commit: p50 / p99 (count) | files re-read per update: p50 | search p50 / p99 |\n|---|---|---|---|---|";

    pub fn row(&self, system: System) -> String {
        let mut files = self.files_per_update.clone();
        files.sort();
        format!(
            "| {} | {} | {} | {} | {:.1} / {:.1} ms |",
            system.label(),
            summary(&self.first_builds, 1.0, 1.0, "s"),
            summary(&self.updates, 0.99, 1000.0, "ms"),
            files
                .get(files.len() / 2)
                .map_or("—".into(), u64::to_string),
            percentile(&self.searches, 0.5).as_secs_f64() * 1000.0,
            percentile(&self.searches, 0.99).as_secs_f64() * 1000.0,
        )
    }
}

/// "p50 / p`high` (count)" in `unit`, scaled from seconds.
fn summary(samples: &[Duration], high: f64, scale: f64, unit: &str) -> String {
    if samples.is_empty() {
        return "—".into();
    }
    format!(
        "{:.2} / {:.2} {unit} ({})",
        percentile(samples, 0.5).as_secs_f64() * scale,
        percentile(samples, high).as_secs_f64() * scale,
        samples.len()
    )
}

pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    match sorted.len() {
        0 => Duration::ZERO,
        n => sorted[((n - 1) as f64 * p).round() as usize],
    }
}

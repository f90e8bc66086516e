//! Issue #25 §4: bug localisation on real history. Each instance is a fixed bug: the
//! text of its report or pull request, the repository at the fix's parent commit, and
//! the files the fix changed. Each system indexes the parent and ranks files for the
//! text; an instance is found at k when one of its answer files is among the first k.
//!
//! Systems: plain BM25 over whole file text (`localize/bm25.rs`), and Moat's search,
//! whose hits (symbols and files) are read as files in order of first appearance.
//! Instances of a repository are run in the order of their parents' commit dates, so
//! both systems index forward in history, incrementally.
//!
//! `cargo bench -p moat-index --bench localize` (`bench/localize/run` saves the report).
//! Relative paths are from the workspace root. Environment:
//! - `MOAT_LOCALIZE_INSTANCES`: the instances, JSONL (default
//!   `bench/localize/data/instances.jsonl`, which `bench/localize/build.py` makes);
//! - `MOAT_LOCALIZE_SPLIT=tune|held-out`: only that split;
//! - `MOAT_LOCALIZE_REPOS=a/b,c/d`: only these repositories;
//! - `MOAT_LOCALIZE_LIMIT=N`: the first N instances of each repository, for quick runs;
//! - `MOAT_LOCALIZE_OUT`: also write each instance's rankings there, JSONL, to study misses.

#[path = "localize/bm25.rs"]
mod bm25;
#[path = "localize/report.rs"]
mod report;

use bm25::{Bm25, Result};
use moat_index::{
    CodeIndex, IndexOptions, IndexSettings, NoProgress, RepoSpec, SearchQuery, SearchRepo, Shown,
};
use report::{Judgement, Subset, System, Table, Timings};
use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

// The allocator of the `moat` binary, which is what runs `moat index`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const DEFAULT_INSTANCES: &str = "bench/localize/data/instances.jsonl";
/// Moat's hits asked for per query, and as many files from BM25.
const RANKED: usize = 50;
/// Files of each ranking written to `MOAT_LOCALIZE_OUT`.
const TOP_WRITTEN: usize = 10;

/// One fixed bug (a line of the instances file).
struct Instance {
    id: String,
    repo: String,
    git_dir: PathBuf,
    parent: String,
    language: String,
    split: String,
    query: String,
    /// The files the fix changed: the answer.
    files: Vec<String>,
    /// The query names one of the answer files.
    mentions_answer: bool,
}

/// Which instances to run, from the environment.
struct Filters {
    split: Option<String>,
    repos: Option<HashSet<String>>,
    limit: Option<usize>,
}

/// One system's answer to one instance.
struct Attempt {
    system: System,
    index_time: Duration,
    /// The index was built from nothing rather than updated.
    first_build: bool,
    /// Files read (Moat: parsed) to reach the commit.
    files_read: u64,
    search_time: Duration,
    /// Distinct paths, best first.
    ranking: Vec<String>,
}

/// Everything measured so far.
#[derive(Default)]
struct Run {
    table: Table,
    timings: BTreeMap<System, Timings>,
    skipped: Vec<String>,
    out: Option<BufWriter<File>>,
    done: usize,
    total: usize,
    /// Searches for long reports, by length in characters.
    long_reports: BTreeMap<usize, Vec<Duration>>,
}

/// Lengths of the long reports timed (issue #25 §5: p99 < 20 ms at 4,000 characters).
const LONG_REPORTS: [usize; 2] = [4_000, 20_000];
/// Long reports timed per repository and length.
const LONG_REPORTS_PER_REPO: usize = 10;

fn main() {
    let instances_path = workspace_path(
        &env_var("MOAT_LOCALIZE_INSTANCES").unwrap_or_else(|| DEFAULT_INSTANCES.into()),
    );
    if !instances_path.exists() {
        eprintln!(
            "no instances at {}; `python3 bench/localize/build.py --mirrors DIR --out {DEFAULT_INSTANCES}` makes them; skipping",
            instances_path.display()
        );
        return;
    }
    let repos = select(load(&instances_path), &Filters::from_env());
    let mut run = Run {
        total: repos.iter().map(|(_, instances)| instances.len()).sum(),
        out: env_var("MOAT_LOCALIZE_OUT").map(|path| {
            BufWriter::new(File::create(workspace_path(&path)).expect("MOAT_LOCALIZE_OUT opens"))
        }),
        ..Run::default()
    };
    if run.total == 0 {
        eprintln!("no instance passes MOAT_LOCALIZE_SPLIT / MOAT_LOCALIZE_REPOS; skipping");
        return;
    }
    let scratch = tempfile::tempdir().expect("temporary directory");
    let settings = IndexSettings {
        options: IndexOptions::default(),
        detector: moat_dlp::Detector::builtin(),
        fingerprint_key: vec![1; 32],
        dlp_version: "bench".into(),
    };
    let index = CodeIndex::open(&scratch.path().join("index"), settings).expect("index opens");
    for (repo, instances) in &repos {
        run_repo(&index, repo, instances, &mut run);
    }
    if let Some(out) = &mut run.out {
        out.flush().expect("MOAT_LOCALIZE_OUT is written");
    }
    print_report(&run, &repos, &instances_path);
}

/// Indexes one repository at each instance's parent, in order, and ranks files for it.
fn run_repo(index: &CodeIndex, repo: &str, instances: &[Instance], run: &mut Run) {
    // One baseline index per repository, dropped before the next one is built.
    let mut bm25 = Bm25::new().expect("tantivy index in RAM");
    let mut previous_parent: Option<&str> = None;
    for instance in instances {
        run.done += 1;
        eprintln!(
            "[{}/{}] {repo} {} at {}",
            run.done,
            run.total,
            instance.id,
            &instance.parent[..instance.parent.len().min(12)]
        );
        let attempts = run_bm25(&mut bm25, instance)
            .and_then(|bm25_attempt| Ok([bm25_attempt, run_moat(index, instance)?]));
        match attempts {
            Ok(attempts) => {
                // Another fix with the same parent costs no indexing: not an update.
                let moved = previous_parent != Some(instance.parent.as_str());
                record(run, instance, &attempts, moved);
                previous_parent = Some(&instance.parent);
            }
            Err(e) => {
                eprintln!("  skipped: {e}");
                run.skipped.push(format!("{}: {e}", instance.id));
            }
        }
    }
    time_long_reports(index, repo, instances, run);
}

/// Search time for reports of [`LONG_REPORTS`] characters, made of this repository's
/// real report texts one after another (each time starting from another), against
/// the index at its last instance's parent.
fn time_long_reports(index: &CodeIndex, repo: &str, instances: &[Instance], run: &mut Run) {
    if instances.is_empty() {
        return;
    }
    for length in LONG_REPORTS {
        for start in 0..LONG_REPORTS_PER_REPO.min(instances.len()) {
            let mut text = String::with_capacity(length + 4096);
            let mut next = start;
            while text.len() < length {
                text.push_str(&instances[next % instances.len()].query);
                text.push_str("\n\n");
                next += 1;
            }
            let mut cut = length;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            let query = SearchQuery {
                text,
                repos: vec![SearchRepo::new(repo, Shown::Everything)],
                limit: RANKED,
                ..SearchQuery::default()
            };
            let started = Instant::now();
            if index.search(&query).is_ok() {
                run.long_reports
                    .entry(length)
                    .or_default()
                    .push(started.elapsed());
            }
        }
    }
}

fn run_bm25(bm25: &mut Bm25, instance: &Instance) -> Result<Attempt> {
    let started = Instant::now();
    let update = bm25.update(&instance.git_dir, &instance.parent)?;
    let index_time = started.elapsed();
    let started = Instant::now();
    let ranking = bm25.search(&instance.query, RANKED)?;
    Ok(Attempt {
        system: System::Bm25,
        index_time,
        first_build: update.first,
        files_read: update.read as u64,
        search_time: started.elapsed(),
        ranking,
    })
}

fn run_moat(index: &CodeIndex, instance: &Instance) -> Result<Attempt> {
    let spec = RepoSpec {
        name: &instance.repo,
        source: &instance.git_dir,
        reference: Some(&instance.parent),
        exclude: &[],
    };
    let started = Instant::now();
    let report = index.index_repo(&spec, &NoProgress)?;
    let index_time = started.elapsed();
    let query = SearchQuery {
        text: instance.query.clone(),
        repos: vec![SearchRepo::new(&instance.repo, Shown::Everything)],
        limit: RANKED,
        ..SearchQuery::default()
    };
    let started = Instant::now();
    let hits = index.search(&query)?;
    let search_time = started.elapsed();
    let mut seen = HashSet::new();
    let ranking = hits
        .into_iter()
        .map(|hit| hit.path)
        .filter(|path| seen.insert(path.clone()))
        .collect();
    Ok(Attempt {
        system: System::Moat,
        index_time,
        first_build: report.previous_commit.is_none(),
        files_read: report.parsed,
        search_time,
        ranking,
    })
}

/// Scores an instance's attempts, keeps their timings, and writes them out if asked.
fn record(run: &mut Run, instance: &Instance, attempts: &[Attempt], moved: bool) {
    let mut subsets = vec![
        Subset::All,
        Subset::Split(instance.split.clone()),
        Subset::Language(instance.language.clone()),
    ];
    if !instance.mentions_answer {
        subsets.push(Subset::AnswerNotNamed);
    }
    for attempt in attempts {
        let judgement = Judgement::of(&attempt.ranking, &instance.files);
        for subset in &subsets {
            run.table.add(subset.clone(), attempt.system, judgement);
        }
        let timings = run.timings.entry(attempt.system).or_default();
        if attempt.first_build {
            timings.first_builds.push(attempt.index_time);
        } else if moved {
            timings.updates.push(attempt.index_time);
            timings.files_per_update.push(attempt.files_read);
        }
        timings.searches.push(attempt.search_time);
        if let Some(out) = &mut run.out {
            let line = serde_json::json!({
                "id": instance.id,
                "repo": instance.repo,
                "split": instance.split,
                "language": instance.language,
                "mentions_answer": instance.mentions_answer,
                "system": attempt.system.label(),
                "rank": judgement.first,
                "all_rank": judgement.all,
                "answers": instance.files,
                "top": &attempt.ranking[..attempt.ranking.len().min(TOP_WRITTEN)],
            });
            writeln!(out, "{line}").expect("MOAT_LOCALIZE_OUT is written");
        }
    }
}

fn print_report(run: &Run, repos: &[(String, Vec<Instance>)], instances_path: &Path) {
    let scored = run.total - run.skipped.len();
    println!("# Bug localisation on real history (issue #25 §4)\n");
    println!(
        "{scored} instances from {} ({} skipped), {} repositories, {} threads.\n",
        instances_path.display(),
        run.skipped.len(),
        repos.len(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let counts: Vec<String> = repos
        .iter()
        .map(|(repo, instances)| format!("{repo} ({})", instances.len()))
        .collect();
    println!("Repositories: {}.\n", counts.join(", "));
    println!(
        "File rankings: Moat's first {RANKED} hits (symbols and files), each path at its first \
         appearance; BM25 over whole file text with Moat's tokeniser, stemmed, every query term \
         optional, first {RANKED} files. Acc@k: an answer file is in the first k; All@k: every \
         answer file is; MRR: of the first answer file, 0 when none is ranked.\n"
    );
    println!("## Accuracy, file level\n");
    run.table.print();
    println!("\n## Time\n");
    println!("{}", Timings::HEADER);
    for (system, timings) in &run.timings {
        println!("{}", timings.row(*system));
    }
    println!(
        "\nMoat's search for long reports (each repository's report texts one after another, \
         cut at the length; index at its last commit):\n"
    );
    println!("| characters | searches | p50 | p99 |\n|---|---|---|---|");
    for (length, times) in &run.long_reports {
        println!(
            "| {length} | {} | {:.1} ms | {:.1} ms |",
            times.len(),
            report::percentile(times, 0.5).as_secs_f64() * 1000.0,
            report::percentile(times, 0.99).as_secs_f64() * 1000.0
        );
    }
    if !run.skipped.is_empty() {
        println!("\nSkipped:\n");
        for skipped in &run.skipped {
            println!("- {skipped}");
        }
    }
}

impl Filters {
    fn from_env() -> Filters {
        Filters {
            split: env_var("MOAT_LOCALIZE_SPLIT"),
            repos: env_var("MOAT_LOCALIZE_REPOS")
                .map(|repos| repos.split(',').map(|r| r.trim().to_string()).collect()),
            limit: env_var("MOAT_LOCALIZE_LIMIT")
                .map(|n| n.trim().parse().expect("MOAT_LOCALIZE_LIMIT is a number")),
        }
    }

    fn admit(&self, instance: &Instance) -> bool {
        self.split
            .as_ref()
            .is_none_or(|split| *split == instance.split)
            && self
                .repos
                .as_ref()
                .is_none_or(|repos| repos.contains(&instance.repo))
    }
}

/// The admitted instances by repository, each repository's in the order of their
/// parents' commit dates.
fn select(instances: Vec<Instance>, filters: &Filters) -> Vec<(String, Vec<Instance>)> {
    let mut repos: BTreeMap<String, Vec<Instance>> = BTreeMap::new();
    for instance in instances.into_iter().filter(|i| filters.admit(i)) {
        let group = repos.entry(instance.repo.clone()).or_default();
        if filters.limit.is_none_or(|limit| group.len() < limit) {
            group.push(instance);
        }
    }
    repos
        .into_iter()
        .map(|(repo, mut instances)| {
            instances.sort_by_cached_key(|i| commit_time(&i.git_dir, &i.parent));
            (repo, instances)
        })
        .collect()
}

/// Committer time of a commit; an unreadable one sorts last, to be skipped there.
fn commit_time(git_dir: &Path, commit: &str) -> i64 {
    Command::new("git")
        .arg("-C")
        .arg(git_dir)
        .args(["log", "-1", "--format=%ct", commit])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| String::from_utf8_lossy(&output.stdout).trim().parse().ok())
        .unwrap_or(i64::MAX)
}

fn load(path: &Path) -> Vec<Instance> {
    let text = std::fs::read_to_string(path).expect("instances file reads");
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            parse_instance(line).unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), n + 1))
        })
        .collect()
}

fn parse_instance(line: &str) -> Result<Instance> {
    let value: serde_json::Value = serde_json::from_str(line)?;
    let text = |key: &str| -> Result<String> {
        let text = value[key].as_str().ok_or(format!("no string `{key}`"))?;
        Ok(text.to_string())
    };
    let files = value["files"].as_array().ok_or("no list `files`")?;
    Ok(Instance {
        id: text("id")?,
        repo: text("repo")?,
        git_dir: text("git_dir")?.into(),
        parent: text("parent")?,
        language: text("language")?,
        split: text("split")?,
        query: text("query")?,
        files: files
            .iter()
            .filter_map(|f| f.as_str().map(str::to_string))
            .collect(),
        mentions_answer: value["mentions_answer"]
            .as_bool()
            .ok_or("no boolean `mentions_answer`")?,
    })
}

/// A setting from the environment; set but empty (as `bench/localize/run` passes an
/// unset one on) means unset.
fn env_var(name: &str) -> Option<String> {
    let value = std::env::var(name).ok()?;
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_string())
}

/// Cargo runs benchmarks in the crate's directory; paths are meant from the workspace's.
fn workspace_path(path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = crate_dir
            .ancestors()
            .nth(2)
            .expect("crates/<name> in a workspace");
        root.join(path)
    }
}

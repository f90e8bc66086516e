//! `moat index [REPO]` and `moat search QUERY --as USER`: build the index from git, and
//! print exactly what a person's AI tool would receive for a query.

use crate::cli::{IndexArgs, SearchArgs};
use crate::context::{Context, UsageError};
use crate::output;
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use moat_audit::event::Actor;
use moat_index::IndexReport;
use serde::Serialize;
use std::process::ExitCode;
use std::time::Duration;

/// Progress bars on a terminal; nothing otherwise. Bytes drive the bar (they say how
/// much work is left); files are counted in the message.
pub(crate) struct Bars {
    bytes: ProgressBar,
    files_total: std::sync::atomic::AtomicU64,
    files_done: std::sync::atomic::AtomicU64,
}

impl Bars {
    pub(crate) fn new(repo: &str) -> Bars {
        let bytes = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            ProgressBar::new(0)
        } else {
            ProgressBar::hidden()
        };
        bytes.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {msg}, {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}) ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bytes.set_prefix(repo.to_string());
        bytes.enable_steady_tick(Duration::from_millis(200));
        Bars {
            bytes,
            files_total: 0.into(),
            files_done: 0.into(),
        }
    }

    fn show_files(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        self.bytes.set_message(format!(
            "{}/{} files",
            self.files_done.load(Relaxed),
            self.files_total.load(Relaxed)
        ));
    }
}

impl moat_index::Progress for Bars {
    fn begin(&self, files: u64, bytes: u64) {
        self.files_total
            .store(files, std::sync::atomic::Ordering::Relaxed);
        self.bytes.set_length(bytes);
        self.show_files();
    }
    fn advance(&self, files: u64, bytes: u64) {
        self.files_done
            .fetch_add(files, std::sync::atomic::Ordering::Relaxed);
        self.bytes.inc(bytes);
        self.show_files();
    }
    fn end(&self) {
        self.bytes.finish_and_clear();
    }
}

pub async fn run_index(context: &Context, args: IndexArgs, json: bool) -> Result<ExitCode> {
    let repos: Vec<_> = context
        .config
        .repos
        .iter()
        .filter(|r| args.repo.as_deref().is_none_or(|name| name == r.name))
        .collect();
    if repos.is_empty() {
        return Err(UsageError(match &args.repo {
            Some(name) => format!(
                "no repository named `{name}` in {}; `moat repo list` shows the connected ones",
                context.config_path.display()
            ),
            None => {
                "no repositories are connected; add one with `moat repo add NAME SOURCE`".into()
            }
        })
        .into());
    }
    let index = context.open_index()?;
    let store = context.open_store().await?;
    let by = format!("moat index ({})", crate::context::os_user());
    let mut reports = Vec::new();
    for repo in context
        .replica_repos()
        .into_iter()
        .filter(|r| repos.iter().any(|c| c.name == r.name))
    {
        let bars = Bars::new(&repo.name);
        let report = moat_service::index_replica::index_now(
            &index,
            store.as_ref(),
            &moat_service::SystemClock,
            &repo,
            args.full,
            &bars,
            &by,
        )
        .await?;
        if !json {
            print_report(&report);
        }
        reports.push(report);
    }
    if json {
        output::json(&serde_json::json!({ "repos": reports }))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_report(report: &IndexReport) {
    let commit = &report.commit[..report.commit.len().min(12)];
    if report.unchanged {
        output::say(&format!(
            "{}@{commit}: up to date ({} files, {} symbols)\n",
            report.repo, report.files, report.symbols
        ));
        return;
    }
    let skipped: Vec<String> = report
        .skipped
        .iter()
        .map(|(reason, n)| format!("{n} {reason}"))
        .collect();
    output::say(&format!(
        "{}@{commit}: {} files parsed ({:.1} MB, {:.1} MB/s), {} reused, {} removed; {} symbols; {} secrets/PII masked; skipped: {}; {:.2} s\n",
        report.repo,
        report.parsed,
        report.bytes as f64 / 1e6,
        report.bytes as f64 / 1e6 / report.seconds.max(1e-9),
        report.reused,
        report.removed,
        report.symbols,
        report.findings,
        if skipped.is_empty() {
            "none".to_string()
        } else {
            skipped.join(", ")
        },
        report.seconds,
    ));
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
}

/// One result, in SPEC.md's search-hit shape.
#[derive(Serialize)]
struct HitView {
    repo: String,
    commit: String,
    path: String,
    start_line: u32,
    end_line: u32,
    kind: String,
    name: String,
    qualified_name: String,
    signature: Option<String>,
    summary: Option<String>,
    score: f32,
    tier: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    snippet: Option<String>,
}

pub async fn run_search(context: &Context, args: SearchArgs, json: bool) -> Result<ExitCode> {
    let store = context.open_store().await?;
    let identity = context.identity(store.clone());
    let user = identity.find_user(&args.as_user).await?;
    let index = context.open_index()?;
    let detector = std::sync::Arc::new(context.detector()?);
    let identity = std::sync::Arc::new(identity);
    let authorizer = context
        .access(identity.clone(), store.clone())?
        .authorizer()
        .await?;
    let service =
        moat_service::CodeContext::new(index, context.repo_policies(), detector, authorizer);
    let request = moat_service::SearchRequest {
        query: args.query.clone(),
        repo: args.repo.clone(),
        language: args.language.clone(),
        kind: args.kind.clone(),
        path_prefix: args.path.clone(),
        limit: args.limit,
    };
    let audit = context.audit_log(store).await?;
    let policy_version = context.policy_version();
    let mut actor_base = crate::context::cli_actor();
    let actor = Actor {
        user: Some(user.id.to_string()),
        email: Some(user.email.clone()),
        client: Some(format!(
            "cli ({})",
            actor_base.user.take().unwrap_or_default()
        )),
        ..Actor::default()
    };
    let recorded = moat_service::code_context::recorded::search_recorded(
        &service,
        &audit,
        actor,
        &user,
        &request,
        &policy_version,
    )
    .await;
    audit.close().await?;
    let (result, seq) = recorded?;
    let results = match result {
        Ok(results) => results,
        Err(moat_service::ContextError::Denied(reason)) => {
            eprintln!("error: access denied: {reason} (audit seq {seq})");
            return Ok(ExitCode::from(1));
        }
        Err(moat_service::ContextError::BadRequest(reason)) => {
            return Err(UsageError(reason).into());
        }
        Err(error) => return Err(error.into()),
    };
    let understood = results.understood;
    let views: Vec<HitView> = results
        .hits
        .into_iter()
        .map(|h| HitView {
            repo: h.repo,
            commit: h.commit,
            path: h.path,
            start_line: h.start_line,
            end_line: h.end_line,
            kind: h.kind,
            name: h.name,
            qualified_name: h.qualified_name,
            signature: h.signature,
            summary: h.summary,
            score: h.score,
            tier: h.tier.to_string(),
            snippet: h.snippet,
        })
        .collect();
    if json {
        output::json(
            &serde_json::json!({ "results": views, "query": understood, "audit_seq": seq }),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if views.is_empty() {
        output::say(&format!("no results (audit seq {seq})\n"));
    }
    for (rank, hit) in views.iter().enumerate() {
        let commit = &hit.commit[..hit.commit.len().min(12)];
        output::say(&format!(
            "{}. {} {} — {}@{commit}:{}:{}-{} [{}] score {:.2}\n",
            rank + 1,
            hit.kind,
            hit.qualified_name,
            hit.repo,
            hit.path,
            hit.start_line,
            hit.end_line,
            hit.tier,
            hit.score
        ));
        if let Some(signature) = hit.signature.as_ref().filter(|s| !s.is_empty()) {
            output::say(&format!("   {signature}\n"));
        }
        if let Some(summary) = hit.summary.as_ref().filter(|s| !s.is_empty()) {
            output::say(&format!("   {summary}\n"));
        }
        if let Some(snippet) = &hit.snippet {
            for line in snippet.lines().take(12) {
                output::say(&format!("   | {line}\n"));
            }
        }
    }
    if let Some(summary) = understood.summary() {
        output::say(&format!("{summary}\n"));
    }
    if !views.is_empty() {
        output::say(&format!("(audit seq {seq})\n"));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::Bars;
    use moat_index::Progress;

    #[test]
    fn progress_counts_files_as_files_and_bytes_as_bytes() {
        // Not a terminal here: the bar is hidden but keeps its counts.
        let bars = Bars::new("payments");
        bars.begin(3, 3_000);
        bars.advance(2, 1_200);
        assert_eq!(bars.bytes.message(), "2/3 files");
        assert_eq!(bars.bytes.position(), 1_200);
        assert_eq!(bars.bytes.length(), Some(3_000));
        bars.advance(1, 1_800);
        assert_eq!(bars.bytes.message(), "3/3 files");
        bars.end();
    }
}

//! Reading source lines (`read_source`), where the tier allows it, redacted.

use super::*;

/// Lines of one file, as `read_source` returns them.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceLines {
    pub commit: String,
    pub tier: Tier,
    pub disclosure: Disclosure,
    pub text: String,
    /// The last line returned (the file may end before the range asked for).
    pub end_line: u32,
    pub redactions: BTreeMap<String, u64>,
    pub rules: Vec<String>,
}

impl CodeContext {
    /// Raw lines of a file, only where the tier allows source: decided as
    /// `ReadSource`; the path must be a file of the indexed commit (no traversal,
    /// nothing outside the index).
    pub fn read_source(
        &self,
        user: &User,
        repo: &str,
        path: &str,
        start: u32,
        end: u32,
    ) -> Result<SourceLines, ContextError> {
        let decision = self.authorizer.decide(&user.id.0, Action::ReadSource, repo);
        if !decision.allow {
            // Only the tier's own limit on source has the outline as a way round.
            let tier_limit = decision.rules == ["source-needs-source-tier"];
            let mut denial = Denial::by(decision);
            if tier_limit {
                denial.reason.push_str(
                    "; use get_symbol or get_file_outline, which show what this tier allows",
                );
            }
            return Err(ContextError::Denied(denial));
        }
        let (policy, graph) = self.allowed_repo(user, repo)?;
        let file = graph.files.get(path).ok_or_else(|| {
            ContextError::BadRequest(format!(
                "no file `{path}` in `{repo}` at {}; use paths exactly as search results give them",
                graph.commit
            ))
        })?;
        let mut redactor = moat_dlp::Redactor::new(&self.detector, rand::random());
        let mut redactions = BTreeMap::new();
        let text = self
            .read_lines(
                user,
                policy,
                Lines {
                    path,
                    start,
                    end,
                    max: end.saturating_sub(start) + 1,
                },
                &mut redactor,
                &mut redactions,
            )
            .ok_or_else(|| {
                ContextError::BadRequest(format!(
                    "`{path}` cannot be shown (binary, unreadable or not maskable)"
                ))
            })?;
        let shown = text.lines().count() as u32;
        Ok(SourceLines {
            commit: graph.commit.clone(),
            tier: policy.tier,
            disclosure: policy.disclosure,
            text,
            end_line: (start + shown).saturating_sub(1).min(file.lines.max(start)),
            redactions,
            rules: decision.rules,
        })
    }
}

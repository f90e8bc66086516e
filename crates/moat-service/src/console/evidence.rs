//! The evidence pack as a console download: the same pack `moat evidence export`
//! writes, for a period small enough to hold in memory.

use super::audit::Download;
use super::session::SignedIn;
use super::views::unavailable;
use super::{Console, ConsoleError};
use crate::evidence::{Evidence, EvidenceError, Period};
use moat_policy::Action;

/// The most events a pack downloaded from the console holds; larger periods are
/// written to a file with `moat evidence export`.
pub const EVIDENCE_MAX: u64 = 1_000_000;

impl Console {
    /// The signed evidence pack for `from`..`to` (dates, `to` included whole).
    /// `ExportEvidence`, decided by Cedar; the export is on the record.
    pub async fn evidence(
        &self,
        signed: &SignedIn,
        address: Option<String>,
        from: &str,
        to: &str,
    ) -> Result<Download, ConsoleError> {
        self.authorize(
            signed,
            address.clone(),
            Action::ExportEvidence,
            "evidence.export",
        )
        .await?;
        let period = Period::parse(from, to).map_err(|e| ConsoleError::Invalid(e.to_string()))?;
        self.evidence_pack(&signed.actor(address), &period).await
    }

    /// The pack for `period`, for an actor whose `ExportEvidence` was already decided
    /// (the console's session above; the admin API at its door).
    pub async fn evidence_pack(
        &self,
        actor: &crate::AdminActor,
        period: &Period,
    ) -> Result<Download, ConsoleError> {
        let (Some(policy), Some(keys)) = (&self.deployment.policy, &self.deployment.evidence)
        else {
            return Err(ConsoleError::Invalid(
                "this node was started without its audit key or its policy, so it writes no evidence pack; use `moat evidence export`".into(),
            ));
        };
        let admin = self.admin();
        let evidence = Evidence {
            access: &self.access,
            admin: &admin,
            policy,
            exception_rules: self.rules(),
            signing: &keys.signing,
            keys: &keys.keys,
            witness_files: &keys.witness_files,
            max_events: Some(EVIDENCE_MAX),
        };
        let (pack, _) = evidence
            .export(actor, period, std::io::Cursor::new(Vec::new()), |_, _| {})
            .await
            .map_err(|error| match error {
                EvidenceError::Usage(message) => ConsoleError::Invalid(message),
                other => unavailable(other),
            })?;
        Ok(Download {
            // Digits and dashes only: the period's days.
            file_name: format!(
                "moat-evidence-{}-{}.zip",
                &period.from[..10],
                &period.to[..10]
            ),
            media_type: "application/zip",
            body: pack.into_inner(),
        })
    }
}

//! `moat vendor list`: the vendor register as of now (`moat_service::vendor_register`).

use crate::cli::VendorCommand;
use crate::context::Context;
use crate::output;
use anyhow::Result;
use moat_service::Clock;
use moat_service::vendor_register::{self, State};
use std::process::ExitCode;

pub fn run(context: &Context, command: VendorCommand, json: bool) -> Result<ExitCode> {
    match command {
        VendorCommand::List => {
            let now = moat_service::SystemClock.now();
            let register = vendor_register::register(&context.config, now);
            if json {
                output::json(&serde_json::json!({
                    "as_of": now.to_rfc3339(),
                    "vendors": register,
                }))?;
                return Ok(ExitCode::SUCCESS);
            }
            if register.is_empty() {
                outln!(
                    "no vendors are configured ([[vendors]] in moat.toml); no code leaves through the gateway"
                );
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = register
                .iter()
                .map(|v| {
                    vec![
                        v.name.clone(),
                        v.kind.clone(),
                        format!(
                            "{}{}",
                            v.region,
                            if v.on_prem { " (on premises)" } else { "" }
                        ),
                        v.models.join(", "),
                        v.breach_notice_hours
                            .map_or("-".into(), |h| format!("{h} h")),
                        v.retention_days.map_or("-".into(), |d| format!("{d} days")),
                        v.subprocessors.join(", "),
                    ]
                })
                .collect();
            output::table(
                &[
                    "VENDOR",
                    "KIND",
                    "REGION",
                    "MODELS",
                    "BREACH NOTICE",
                    "RETENTION",
                    "SUBPROCESSORS",
                ],
                &rows,
            );
            for vendor in &register {
                outln!("\n{}:", vendor.name);
                if vendor.attestations.is_empty() {
                    outln!("  no attestations on record");
                }
                for a in &vendor.attestations {
                    outln!(
                        "  {:<15} {}{}",
                        a.name,
                        a.state.describe(a.last_day.as_deref()),
                        a.signed
                            .as_deref()
                            .map(|d| format!("; signed {d}"))
                            .unwrap_or_default()
                    );
                }
                if let Some([from, to]) = &vendor.soc2_period {
                    outln!("  SOC 2 report period {from} to {to}");
                }
            }
            let flagged = register
                .iter()
                .flat_map(|v| &v.attestations)
                .filter(|a| matches!(a.state, State::Expiring { .. } | State::Expired))
                .count();
            if flagged > 0 {
                outln!(
                    "\n{flagged} attestation{} expired or within 30 days of the last day; renew in [[vendors]] attestations.expires once the vendor has",
                    if flagged == 1 { "" } else { "s" }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

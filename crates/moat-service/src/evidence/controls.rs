//! The control mapping: for each control a review asks about (SOC 2, ISO/IEC
//! 27001:2022 Annex A, the HIPAA Security Rule), what in the pack evidences it and how.
//! Every file named here is in every pack (a test holds the pack to it).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Control {
    pub framework: &'static str,
    pub id: &'static str,
    pub title: &'static str,
    /// What Moat does that meets it.
    pub how: &'static str,
    /// Files of the pack that show it.
    pub files: &'static [&'static str],
}

const POLICY: &str = "policy/policy.md";
const VERSIONS: &str = "policy/versions.csv";
const MATRIX: &str = "access/matrix-at-export.csv";
/// Which matrices at the period's start and end the pack holds, and how exact they are.
const STATES: &str = "access/states.json";
const CHANGES: &str = "access/changes.jsonl";
const JOINERS: &str = "people/joiners.csv";
const LEAVERS: &str = "people/leavers.csv";
const TRAINING: &str = "people/training.csv";
const EVENTS: &str = "audit/events.jsonl";
const PROOF: &str = "audit/proof.json";
const VERIFY: &str = "audit/verify.json";
const VENDORS: &str = "registers/vendors.json";
const MODELS: &str = "registers/models.json";
const EXCEPTIONS: &str = "exceptions/exceptions.json";
const ALERTS: &str = "alerts/alerts.jsonl";
const INCIDENTS: &str = "alerts/incidents.json";
const REDACTIONS: &str = "statistics/redactions.csv";
const REFUSALS: &str = "statistics/refusals.csv";
const EGRESS: &str = "statistics/egress.csv";

pub const CONTROLS: &[Control] = &[
    Control {
        framework: "SOC 2",
        id: "CC6.1",
        title: "Logical access security over protected information assets",
        how: "Every MCP answer and model request is decided by Cedar over the repository's tier and the host's permissions; the written policy states the rules and the matrix shows their result for every person and repository.",
        files: &[POLICY, MATRIX, STATES, CHANGES],
    },
    Control {
        framework: "SOC 2",
        id: "CC6.2",
        title: "Registration, authorization and removal of users",
        how: "People are provisioned and deprovisioned through SCIM or an admin, each change on the record; leavers show the time from offboarding to the first refusal of their credentials.",
        files: &[JOINERS, LEAVERS, CHANGES],
    },
    Control {
        framework: "SOC 2",
        id: "CC6.3",
        title: "Role-based access, changes and removal",
        how: "Roles and teams drive Cedar decisions; grants, reclassifications and mirror changes are audited with before and after; exceptions are time-boxed permits.",
        files: &[MATRIX, STATES, CHANGES, EXCEPTIONS],
    },
    Control {
        framework: "SOC 2",
        id: "CC6.6",
        title: "Access from outside the system boundary",
        how: "Code leaves only to registered vendors whose attestations cover its tier; expired attestations stop egress; refusals are counted by reason.",
        files: &[VENDORS, MODELS, EGRESS, REFUSALS],
    },
    Control {
        framework: "SOC 2",
        id: "CC6.7",
        title: "Restriction of the transmission of information",
        how: "Secrets and personal data are redacted from prompts before they leave; redactions are counted by rule and egress by vendor and model.",
        files: &[REDACTIONS, EGRESS, POLICY],
    },
    Control {
        framework: "SOC 2",
        id: "CC7.2",
        title: "Monitoring of system components for anomalies",
        how: "Every query, model call and admin change is in a tamper-evident log; alerts are themselves audit events.",
        files: &[EVENTS, ALERTS, REFUSALS],
    },
    Control {
        framework: "SOC 2",
        id: "CC7.3",
        title: "Evaluation of security events",
        how: "Alerts and incidents with their timelines.",
        files: &[ALERTS, INCIDENTS],
    },
    Control {
        framework: "SOC 2",
        id: "CC8.1",
        title: "Change management",
        how: "Each configuration that came into force is on the record with its policy version; the policy of each published version is rendered from it.",
        files: &[VERSIONS, CHANGES, PROOF],
    },
    Control {
        framework: "ISO/IEC 27001:2022",
        id: "A.5.15",
        title: "Access control",
        how: "Rules by tier and host permission, enforced at every request.",
        files: &[POLICY, MATRIX],
    },
    Control {
        framework: "ISO/IEC 27001:2022",
        id: "A.5.16",
        title: "Identity management",
        how: "The identity lifecycle through SSO and SCIM, on the record.",
        files: &[JOINERS, LEAVERS, CHANGES],
    },
    Control {
        framework: "ISO/IEC 27001:2022",
        id: "A.5.18",
        title: "Access rights",
        how: "Provisioning, review, exceptions with an end, and removal.",
        files: &[MATRIX, CHANGES, EXCEPTIONS, LEAVERS],
    },
    Control {
        framework: "ISO/IEC 27001:2022",
        id: "A.5.23",
        title: "Information security for use of cloud services",
        how: "The vendor register (attestations, expiry, region, retention) and the pinned models each vendor serves.",
        files: &[VENDORS, MODELS, EGRESS],
    },
    Control {
        framework: "ISO/IEC 27001:2022",
        id: "A.8.15",
        title: "Logging",
        how: "The period's events with a proof that they are the signed log's, and the log verified against its witnesses.",
        files: &[EVENTS, PROOF, VERIFY],
    },
    Control {
        framework: "ISO/IEC 27001:2022",
        id: "A.8.16",
        title: "Monitoring activities",
        how: "Alerts raised from the record and refusals by reason.",
        files: &[ALERTS, REFUSALS],
    },
    Control {
        framework: "HIPAA Security Rule",
        id: "164.308(a)(3)",
        title: "Workforce security",
        how: "Only provisioned people reach code; leavers lose access at once.",
        files: &[JOINERS, LEAVERS, MATRIX],
    },
    Control {
        framework: "HIPAA Security Rule",
        id: "164.308(a)(4)",
        title: "Information access management",
        how: "Access by tier and permission, exceptions reviewed and time-boxed.",
        files: &[POLICY, MATRIX, EXCEPTIONS],
    },
    Control {
        framework: "HIPAA Security Rule",
        id: "164.308(a)(5)",
        title: "Security awareness and training",
        how: "Training requirement in the policy; each person's attestation.",
        files: &[TRAINING, POLICY],
    },
    Control {
        framework: "HIPAA Security Rule",
        id: "164.312(a)",
        title: "Access control",
        how: "Unique identities, tier rules, and revocation on offboarding.",
        files: &[MATRIX, POLICY, LEAVERS],
    },
    Control {
        framework: "HIPAA Security Rule",
        id: "164.312(b)",
        title: "Audit controls",
        how: "A tamper-evident log of every query, model call and change.",
        files: &[EVENTS, PROOF, VERIFY],
    },
    Control {
        framework: "HIPAA Security Rule",
        id: "164.312(c)",
        title: "Integrity",
        how: "Merkle-tree checkpoints signed and witnessed; this pack is signed file by file.",
        files: &[PROOF, VERIFY, super::pack::MANIFEST],
    },
    Control {
        framework: "HIPAA Security Rule",
        id: "164.312(d)",
        title: "Person or entity authentication",
        how: "SSO and short-lived tokens; refused authentications counted on the record.",
        files: &[POLICY, JOINERS, LEAVERS, REFUSALS],
    },
    Control {
        framework: "HIPAA Security Rule",
        id: "164.312(e)",
        title: "Transmission security",
        how: "Only attested vendors receive code, over TLS, with secrets and PHI redacted.",
        files: &[VENDORS, REDACTIONS, EGRESS],
    },
];

/// The mapping as Markdown, one table per framework.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Control mapping\n\nEach control, what Moat does that meets it, and the files of this pack that show it.\n",
    );
    let mut framework = "";
    for control in CONTROLS {
        if control.framework != framework {
            framework = control.framework;
            out.push_str(&format!(
                "\n## {framework}\n\n| control | title | how | files |\n|---|---|---|---|\n"
            ));
        }
        let files: Vec<String> = control.files.iter().map(|f| format!("`{f}`")).collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            control.id,
            control.title,
            control.how,
            files.join(", ")
        ));
    }
    out
}

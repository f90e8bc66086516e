//! The grammar of the compliance and response commands: evidence, exceptions, kill
//! switches, incidents, vendors and the written policy.

use clap::{Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Write the signed evidence pack for a period (admin or auditor: Cedar
    /// ExportEvidence; on the record)
    Export {
        /// First day (YYYY-MM-DD) or time (RFC 3339) of the period
        #[arg(long)]
        from: String,
        /// Last day of the period, included whole (YYYY-MM-DD), or the time it ends
        #[arg(long)]
        to: String,
        /// The zip to write (never over an existing file)
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Check a pack offline: the manifest's signature, every file's hash, and the audit
    /// extract against the signed log and its witnesses; exit 1 naming what fails
    Verify {
        pack: PathBuf,
        /// Trusted public keys (C2SP text form); default <data>/audit/keys
        #[arg(long = "key", value_name = "FILE")]
        keys: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExceptionCommand {
    /// Ask to read a repository (or a whole tier) the rules do not let a person read, to
    /// use a model their teams may not, or to send code to a vendor whose attestations do
    /// not cover it (for yourself with --operator, or for someone else as an
    /// administrator)
    #[command(group(clap::ArgGroup::new("what").required(true).args(["repo", "model", "tier", "vendor"])))]
    Request {
        /// The person it is for (id or email); default: the --operator
        #[arg(long)]
        user: Option<String>,
        /// The repository
        #[arg(long)]
        repo: Option<String>,
        /// The model alias (`[[models]] alias`)
        #[arg(long)]
        model: Option<String>,
        /// Every repository of this tier
        #[arg(long)]
        tier: Option<String>,
        /// A vendor whose attestations do not cover the code sent (`[[vendors]] name`)
        #[arg(long)]
        vendor: Option<String>,
        /// Why it is needed
        #[arg(long)]
        reason: String,
        /// How long, e.g. "7d" (at most `[exceptions] max_duration`)
        #[arg(long = "for", default_value = "7d")]
        duration: String,
    },
    /// Every exception, newest first: pending ones past the review SLA are overdue
    List {
        /// Only those in this status: pending, approved, denied or revoked
        #[arg(long)]
        status: Option<String>,
    },
    /// Approve a pending exception (a reviewer with the security role, --operator EMAIL)
    Approve {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Deny a pending exception, saying why
    Deny {
        id: String,
        #[arg(long)]
        note: String,
    },
    /// End an approved exception now (a reviewer, or its own person)
    Revoke {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KillSwitchCommand {
    /// Engage a switch (security or admin role): a frozen repository gets no MCP answer
    /// and none of its code goes to a model; a disabled model or vendor gets no request,
    /// not even as a fallback
    Engage {
        kind: SwitchKindArg,
        /// The repository, model alias or vendor name
        target: String,
        /// Why: every refusal the switch causes repeats it
        #[arg(long)]
        reason: String,
    },
    /// Release an engaged switch
    Release {
        kind: SwitchKindArg,
        target: String,
        /// Words for the record
        #[arg(long)]
        note: Option<String>,
    },
    /// Every engaged switch, oldest first
    List,
}

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Every incident, newest first, with its overdue deadlines (auditor, security or
    /// admin role)
    List {
        /// `open` or `resolved`
        #[arg(long)]
        status: Option<String>,
    },
    /// One incident: its alerts, what they touched, its timeline and deadlines
    Show { id: String },
    /// Open an incident by hand, for something detection did not see
    Open {
        /// Whom or what it is about, e.g. a person's email
        #[arg(long)]
        subject: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Acknowledge it: someone is on it
    Ack {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Make a person its owner
    Assign {
        id: String,
        #[arg(long)]
        owner: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Record that it is contained (say how: a switch engaged, a person suspended)
    Contain {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Record a notification, meeting the deadlines named (e.g. `--for class:phi`,
    /// `--for vendor:acme`), or all of them
    Notify {
        id: String,
        #[arg(long = "for")]
        meets: Vec<String>,
        #[arg(long)]
        note: Option<String>,
    },
    /// Resolve it; only notes can be added afterwards
    Resolve {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Add a note to its timeline
    Note { id: String, text: String },
}

/// What a kill switch stops.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SwitchKindArg {
    Repo,
    Model,
    Vendor,
}

impl SwitchKindArg {
    pub fn kind(self) -> moat_policy::SwitchKind {
        match self {
            SwitchKindArg::Repo => moat_policy::SwitchKind::Repo,
            SwitchKindArg::Model => moat_policy::SwitchKind::Model,
            SwitchKindArg::Vendor => moat_policy::SwitchKind::Vendor,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum VendorCommand {
    /// Every vendor with its attestations (last day, days left, expired), SOC 2 period,
    /// retention, breach-notification period, subprocessors and the models it serves
    List,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate the configuration and print the policy version
    Check,
    /// Write the organisation's AI coding-tool policy, generated from the configuration
    /// Moat enforces; every statement names its configuration key
    Render {
        /// `md`, `html` or `pdf` (a PDF needs --out)
        #[arg(long, default_value = "md")]
        format: String,
        /// Write it to this file instead of standard output
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// A published configuration version (`moat config history`); default: the
        /// configuration in force here
        #[arg(long)]
        version: Option<i64>,
    },
    /// What changed in the policy between two published configuration versions, in the
    /// words of each (`current` is the configuration in force here)
    Diff {
        /// The older version: a number from `moat config history`, or `current`
        from: String,
        /// The newer version: a number, or `current`
        to: String,
    },
}

//! The pack's files besides the extract: the policy and its versions, access, people,
//! registers, exceptions, alerts, statistics, the control mapping, the verification
//! report and a README that says what is where.

use super::observe::{Observer, PolicyLoad};
use super::pack::PackWriter;
use super::{Evidence, EvidenceError, PAGE, Period, controls, matrix, pretty};
use crate::csv;
use crate::exceptions::Exceptions;
use crate::policy_document::{self, Format, Source};
use moat_audit::event::Event;
use std::io::{Seek, SeekFrom, Write};

pub struct Sections<'a, 'e> {
    pub evidence: &'a Evidence<'e>,
    pub period: &'a Period,
    pub range: (u64, u64),
    /// The signed checkpoint the pack proves into: its size and note.
    pub checkpoint: (u64, &'a str),
    pub observer: Observer,
}

/// What the sections wrote, for the summary.
pub struct Written {
    pub joiners: usize,
    pub leavers: usize,
    pub changes: u64,
}

impl Sections<'_, '_> {
    pub async fn write<W: Write + Seek>(
        mut self,
        pack: &mut PackWriter<W>,
    ) -> Result<Written, EvidenceError> {
        let add = |pack: &mut PackWriter<W>, path: &str, bytes: &[u8]| pack.file(path, bytes);
        let e = self.evidence;
        let now = e.access.now();

        // The audit log verified whole against its witnesses, and the keys.
        let report = self.verify_report().await?;
        add(pack, "audit/verify.json", &pretty(&report)?)?;
        let keys: String = e
            .keys
            .iter()
            .map(|k| format!("{}\n", k.to_text()))
            .collect();
        add(pack, "audit/keys.txt", keys.as_bytes())?;

        // The policy now, and every version in force during the period.
        let current = e.policy.document(now);
        add(
            pack,
            "policy/policy.md",
            &policy_document::render(&current, Format::Markdown),
        )?;
        let mut loads = self.in_force_at_start().await?;
        loads.extend(self.observer.policy.iter().cloned());
        add(pack, "policy/versions.csv", versions_csv(&loads).as_bytes())?;
        let mut rendered = std::collections::BTreeSet::new();
        let mut registers = Vec::new();
        let mut model_registers = Vec::new();
        // A file loaded by a node: its registers as recorded when it came into force.
        for load in &loads {
            if let Some((vendors, models)) = &load.registers {
                let loaded = |key: &str, value: &serde_json::Value| {
                    serde_json::json!({
                        "loaded_from": load.source, "seq": load.seq, "time": load.time,
                        "policy_version": load.policy_version, key: value,
                    })
                };
                registers.push(loaded("vendors", vendors));
                model_registers.push(loaded("models", models));
            }
        }
        for version in loads.iter().filter_map(PolicyLoad::published_version) {
            if !rendered.insert(version) {
                continue;
            }
            let Some(published) = e.access.store().config_published(Some(version)).await? else {
                continue;
            };
            let name = format!("published configuration version {version}");
            let Ok(config) = moat_config::parse(&published.text, &name) else {
                continue;
            };
            let document = policy_document::build(Source {
                config: &config,
                policies: published.policies.as_deref(),
                policy_version: &published.policy_version,
                config_version: Some(version),
                now,
            });
            add(
                pack,
                &format!("policy/version-{version}.md"),
                &policy_document::render(&document, Format::Markdown),
            )?;
            registers.push(serde_json::json!({
                "config_version": version,
                "policy_version": published.policy_version,
                "vendors": crate::vendor_register::register(&config, now),
            }));
            model_registers.push(serde_json::json!({
                "config_version": version,
                "models": config.models,
            }));
        }

        // Access: the matrix at export, at the period's start and (when it ended before
        // the export) its end, and every change in the period.
        let authorizer = e
            .access
            .authorizer()
            .await
            .map_err(|e| EvidenceError::Corrupt(e.to_string()))?;
        matrix::write_matrix(pack, "access/matrix-at-export.csv", &authorizer)?;
        let store = e.access.store();
        let mut moments = vec![matrix::Moment {
            name: "start",
            at: unix_of(&self.period.from)?,
            seq: self.range.0,
        }];
        let end = unix_of(&self.period.to)?;
        if end.0 <= now.0 {
            moments.push(matrix::Moment {
                name: "end",
                at: end,
                seq: self.range.1,
            });
        }
        let proving = matrix::Proving {
            size: self.checkpoint.0,
            note: self.checkpoint.1,
            keys: e.keys,
        };
        let mut states = Vec::new();
        for moment in &moments {
            states.push(matrix::write_at(pack, store, moment, &proving).await?);
        }
        let at_start = !states[0]["state"].is_null();
        add(pack, "access/states.json", &pretty(&states)?)?;
        let changes = self.observer.changes_count;
        copy_side(pack, "access/changes.jsonl", &mut self.observer.changes)?;

        // People.
        let people = &self.observer.people;
        add(pack, "people/joiners.csv", people.joiners_csv().as_bytes())?;
        add(pack, "people/leavers.csv", people.leavers_csv().as_bytes())?;
        let training = self.training_csv().await?;
        add(pack, "people/training.csv", training.as_bytes())?;

        // Registers: at export, and as each published version in force had them.
        let vendors = serde_json::json!({
            "at_export": crate::vendor_register::register(&e.policy.config, now),
            "in_force_during_period": registers,
        });
        add(pack, "registers/vendors.json", &pretty(&vendors)?)?;
        let models = serde_json::json!({
            "at_export": e.policy.config.models,
            "in_force_during_period": model_registers,
        });
        add(pack, "registers/models.json", &pretty(&models)?)?;

        // Exceptions that overlap the period.
        let exceptions = Exceptions {
            access: e.access,
            admin: e.admin,
            rules: e.exception_rules,
            models: Vec::new(),
            vendors: Vec::new(),
        };
        let listed = exceptions
            .list(None)
            .await
            .map_err(|e| EvidenceError::Corrupt(e.to_string()))?;
        let overlapping: Vec<_> = listed
            .into_iter()
            .filter(|x| {
                normalized(&x.requested_at) < self.period.to
                    && x.ends_at
                        .as_deref()
                        .is_none_or(|end| normalized(end) >= self.period.from)
            })
            .collect();
        add(pack, "exceptions/exceptions.json", &pretty(&overlapping)?)?;

        // Alerts and incidents.
        copy_side(pack, "alerts/alerts.jsonl", &mut self.observer.alerts)?;
        // Incidents open at any time in the period, with their timelines and their
        // deadlines as of the export.
        let recorder = crate::incidents::Recorder {
            store: e.access.store(),
            admin: e.admin,
        };
        let rules = crate::incidents::IncidentRules::from_config(&e.policy.config);
        let now = e.access.now();
        let incidents: Vec<_> = recorder
            .list(None)
            .await
            .map_err(|e| EvidenceError::Corrupt(e.to_string()))?
            .into_iter()
            .filter(|i| {
                let detected = moat_domain::UnixTime(i.detected_at).to_rfc3339();
                let resolved = i
                    .taken("resolved")
                    .map(|r| moat_domain::UnixTime(r.at).to_rfc3339());
                normalized(&detected) < self.period.to
                    && resolved.is_none_or(|end| normalized(&end) >= self.period.from)
            })
            .map(|i| crate::incidents::shown(i, &rules, now))
            .collect();
        let incidents = serde_json::json!({ "incidents": incidents });
        add(pack, "alerts/incidents.json", &pretty(&incidents)?)?;

        // Statistics.
        let mut redactions = String::from("rule,count\n");
        for (rule, count) in &self.observer.redactions {
            redactions.push_str(&format!("{},{count}\n", csv::field(rule)));
        }
        add(pack, "statistics/redactions.csv", redactions.as_bytes())?;
        let mut refusals = String::from("action,rule,reason,refusals\n");
        for ((action, rule, reason), count) in &self.observer.refusals {
            refusals.push_str(&format!("{},{count}\n", csv::row(&[action, rule, reason])));
        }
        add(pack, "statistics/refusals.csv", refusals.as_bytes())?;
        let mut egress = String::from("vendor,model,requests,bytes\n");
        for ((vendor, model), sent) in &self.observer.egress {
            egress.push_str(&format!(
                "{},{},{}\n",
                csv::row(&[vendor, model]),
                sent.requests,
                sent.bytes
            ));
        }
        add(pack, "statistics/egress.csv", egress.as_bytes())?;

        // The control mapping and the README.
        add(
            pack,
            "controls/controls.json",
            &pretty(&controls::CONTROLS)?,
        )?;
        add(
            pack,
            "controls/controls.md",
            controls::markdown().as_bytes(),
        )?;
        let readme = readme(self.period, self.range, &e.policy.config.org.name, at_start);
        add(pack, "README.md", readme.as_bytes())?;

        Ok(Written {
            joiners: people.joiners.len(),
            leavers: people.leavers.len(),
            changes,
        })
    }

    /// The whole log verified against the witness files, as `moat audit verify` does.
    async fn verify_report(&self) -> Result<serde_json::Value, EvidenceError> {
        use crate::audit::read::{self, VerifyError};
        let e = self.evidence;
        let result = read::verify_with_witness_files(
            e.access.shared_store(),
            e.keys.to_vec(),
            e.witness_files,
            Vec::new(),
            |_, _| {},
        )
        .await;
        Ok(match result {
            Ok(report) => serde_json::json!({
                "ok": true,
                "events": report.events,
                "checkpoints": report.checkpoints,
                "signed_size": report.signed_size,
                "root": hex::encode(report.root),
                "witnesses": report.external.iter()
                    .map(|(source, size)| serde_json::json!({"source": source, "size": size}))
                    .collect::<Vec<_>>(),
            }),
            Err(VerifyError::Failed(failure)) => serde_json::json!({
                "ok": false,
                "first_bad_seq": failure.first_bad_seq,
                "checkpoint_size": failure.checkpoint_size,
                "reason": failure.reason,
            }),
            Err(VerifyError::Store(error)) => return Err(error.into()),
        })
    }

    /// The configuration in force when the period began: the last one loaded or
    /// published before its first event, found by reading back from it.
    async fn in_force_at_start(&self) -> Result<Vec<PolicyLoad>, EvidenceError> {
        let store = self.evidence.access.store();
        let mut end = self.range.0;
        while end > 0 {
            let start = end.saturating_sub(PAGE as u64);
            let leaves = store.audit_leaves(start, (end - start) as usize).await?;
            for leaf in leaves.iter().rev().filter(|l| l.seq < end) {
                let text = &leaf.canonical;
                let candidate = text.starts_with(br#"{"action":"admin.change""#)
                    && contains(text, b"\"config.");
                if !candidate {
                    continue;
                }
                let event = Event::from_canonical(text)
                    .map_err(|e| EvidenceError::Corrupt(format!("event {}: {e}", leaf.seq)))?;
                if let Some(load) = PolicyLoad::from_event(&event) {
                    return Ok(vec![load]);
                }
            }
            end = start;
        }
        Ok(Vec::new())
    }

    async fn training_csv(&self) -> Result<String, EvidenceError> {
        let users = self.evidence.access.store().users().await?;
        let mut attested: std::collections::HashMap<&str, Vec<&str>> = Default::default();
        for a in &self.observer.people.attested {
            attested.entry(&a.user).or_default().push(&a.time);
        }
        let mut out =
            String::from("email,user,status,training_version,completed_at,attested_in_period\n");
        for user in users {
            let seen = attested
                .get(user.id.0.as_str())
                .cloned()
                .unwrap_or_default();
            let training = user.training.as_ref();
            out.push_str(&csv::row(&[
                user.email.clone(),
                user.id.0.clone(),
                user.status.as_str().to_string(),
                training.map(|t| t.version.clone()).unwrap_or_default(),
                training
                    .map(|t| t.completed_at.to_rfc3339())
                    .unwrap_or_default(),
                seen.join(" "),
            ]));
            out.push('\n');
        }
        Ok(out)
    }
}

pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Why a pack has no matrix at its start.
const NO_STATE: &str =
    "Not in this pack: the access matrix at the start of the period. No recorded access state
could be used (Moat records one a day while it serves, and on `moat access snapshot`;
`access/states.json` lists any that were refused and why); the changes of the period are
in `access/changes.jsonl`.
";

/// A period bound (normalized RFC 3339) as a time.
fn unix_of(time: &str) -> Result<moat_domain::UnixTime, EvidenceError> {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(time, &Rfc3339)
        .map(|t| moat_domain::UnixTime(t.unix_timestamp()))
        .map_err(|e| EvidenceError::Usage(format!("`{time}` is not a time: {e}")))
}

/// A time as events carry it, for comparison with the period's bounds.
fn normalized(time: &str) -> String {
    crate::audit::search::normalize_time(time).unwrap_or_else(|_| time.to_string())
}

fn versions_csv(loads: &[PolicyLoad]) -> String {
    let mut out = String::from("seq,time,operation,source,sha256,policy_version\n");
    for load in loads {
        out.push_str(&csv::row(&[
            load.seq.to_string(),
            load.time.clone(),
            load.operation.clone(),
            load.source.clone(),
            load.sha256.clone(),
            load.policy_version.clone(),
        ]));
        out.push('\n');
    }
    out
}

fn copy_side<W: Write + Seek>(
    pack: &mut PackWriter<W>,
    path: &str,
    side: &mut std::io::BufWriter<std::fs::File>,
) -> Result<(), EvidenceError> {
    side.flush()?;
    let file = side.get_mut();
    file.seek(SeekFrom::Start(0))?;
    pack.copy(path, &mut *file)?;
    Ok(())
}

fn readme(period: &Period, (first, end): (u64, u64), org: &str, at_start: bool) -> String {
    let not_in_pack = if at_start { "" } else { NO_STATE };
    format!(
        r#"# Evidence pack: {org}

Period: {from} up to {to} (audit events {first} to {last_seq}).

Check it with the audit public key (`audit/keys.txt` holds a copy, but check against
the key you were given): `moat evidence verify pack.zip --key moat-audit.pub`. That
checks the manifest's signature, the SHA-256 of every file, and re-verifies the audit
extract against the signed checkpoint and the witnesses' checkpoints, offline.

| file | what |
|---|---|
| `manifest.json`, `manifest.sig` | every file with its SHA-256; the manifest signed with the audit key |
| `controls/controls.md`, `controls.json` | SOC 2, ISO/IEC 27001:2022 Annex A and HIPAA Security Rule controls, each pointing to the files that evidence it |
| `policy/policy.md` | the written AI coding-tool policy, generated from the configuration in force at export |
| `policy/versions.csv`, `policy/version-N.md` | each configuration in force during the period (the one in force at its start first), and the policy of each published version |
| `access/matrix-at-export.csv` | who may reach which repository, at which tier and disclosure, at export |
| `access/matrix-at-start.csv`, `matrix-at-end.csv` | the same at the period's start and (when it ended before the export) its end, decided from the recorded access state nearest that moment, when one could be used |
| `access/states.json`, `state-at-*.json`, `changes-between-state-and-*.jsonl`, `events-*.jsonl`, `proof-*.json` | which recorded state each was decided from, the state itself, the recorded changes between it and the moment (with none, `"exact": true`, the matrix is the one in force then, but for what time alone changes: an exception's window, a training lapsing), and the events from the state to the moment with their proof into the signed log, which `moat evidence verify` checks: the state's `access.snapshot` event names its SHA-256 and the changes listed are all there are |
| `access/changes.jsonl` | every change of the period: people, tokens, grants, reclassifications, permission mirrors, exceptions, configuration (audit events, exactly as recorded) |
| `people/joiners.csv`, `people/leavers.csv` | people who joined and left; for each leaver the time from offboarding to the first refusal of their credentials |
| `people/training.csv` | each person's training attestation |
| `audit/events.jsonl` | every audit event of the period, exactly as hashed (RFC 8785), one per line |
| `audit/proof.json` | the proof that those events are the signed log's: the left edge of the tree, a consistency proof to the signed checkpoint, and the witnesses' checkpoints tied to it |
| `audit/verify.json` | the whole log verified against its witnesses at export |
| `registers/vendors.json`, `registers/models.json` | the vendor register (attestations and their expiry, SOC 2 period, region, retention, notice SLA) and the pinned models, at export, per published version in force, and as each configuration file loaded during the period had them (from its `config.load` event) |
| `exceptions/exceptions.json` | exceptions requested or in force during the period, with reviewer and end |
| `alerts/alerts.jsonl`, `alerts/incidents.json` | alerts raised during the period; incidents |
| `statistics/redactions.csv`, `refusals.csv`, `egress.csv` | redactions by rule, refusals by action, rule and reason, egress by vendor and model |

{not_in_pack}"#,
        from = period.from,
        to = period.to,
        not_in_pack = not_in_pack,
        last_seq = if end > first {
            (end - 1).to_string()
        } else {
            "(none)".into()
        },
    )
}

//! Detection over the audit stream: rules that watch what people do with code and
//! models, and raise an alert naming the rule, the person and the events that
//! triggered it. Alerts are audit events themselves (`alert.<rule>`), so the audit
//! sinks carry them to the SIEM and the log proves them.
//!
//! [`Detector`] is the rules, with no IO: it is fed events in order and keeps, per
//! person, token and vendor, what the rules need (hourly totals with an exponentially
//! weighted baseline, sliding windows, what was seen before). Time is the events' own,
//! so a replay of the log decides exactly as the live stream did. [`watch::Watch`]
//! feeds it: on one node only (the audit log's sequencer, or the embedded store's
//! single writer), from a cursor in the store, after rebuilding the baselines from
//! `[detect] baseline` of history.
//!
//! Rules (thresholds in `[detect]`):
//! - `volume`: bytes of code disclosed to a person in an hour, against their own
//!   baseline (z-score after a warm-up) and an absolute ceiling;
//! - `breadth`: distinct repositories or files a person reads in an hour;
//! - `enumeration`: distinct files of one repository walked with `read_source` or
//!   `get_file_outline` within a window;
//! - `denials`: a burst of refusals (access, egress, DLP, authentication) for one
//!   person or token, or of authentications from one source address (IPv6 by /64; at
//!   most `MAX_ADDRESSES` counted at once);
//! - `secrets`: values redacted from a person's prompts in an hour; `injection`: an
//!   answer flagged for prompt injection;
//! - `novelty`: a token used from a client or address it never used; a person active at
//!   an hour of the day they never were;
//! - `egress`: bytes sent to a vendor in an hour far above its baseline.

mod baseline;
mod denials;
pub mod watch;

use baseline::{Hourly, push_seq};
use denials::{AddressSeen, burst, refusals};
use moat_audit::event::{Event, Outcome};
use std::collections::{HashMap, HashSet, VecDeque};

/// `[detect]` in the units the rules use.
#[derive(Debug, Clone)]
pub struct DetectSettings {
    pub volume_z: f64,
    pub volume_warmup_hours: u32,
    pub volume_min_bytes: u64,
    pub volume_ceiling_bytes: u64,
    pub breadth_repos_per_hour: usize,
    pub breadth_files_per_hour: usize,
    pub enumeration_files: usize,
    pub enumeration_window: i64,
    pub denials: usize,
    pub denials_window: i64,
    pub redactions_per_hour: u64,
    pub novelty_after_events: u64,
    pub egress_z: f64,
    pub egress_warmup_hours: u32,
    pub egress_min_bytes: u64,
}

impl DetectSettings {
    pub fn from_config(d: &moat_config::Detect) -> DetectSettings {
        DetectSettings {
            volume_z: d.volume_z,
            volume_warmup_hours: d.volume_warmup_hours,
            volume_min_bytes: d.volume_min_bytes,
            volume_ceiling_bytes: d.volume_ceiling_bytes,
            breadth_repos_per_hour: d.breadth_repos_per_hour as usize,
            breadth_files_per_hour: d.breadth_files_per_hour as usize,
            enumeration_files: d.enumeration_files as usize,
            enumeration_window: d.enumeration_window.seconds,
            denials: d.denials as usize,
            denials_window: d.denials_window.seconds,
            redactions_per_hour: u64::from(d.redactions_per_hour),
            novelty_after_events: u64::from(d.novelty_after_events),
            egress_z: d.egress_z,
            egress_warmup_hours: d.egress_warmup_hours,
            egress_min_bytes: d.egress_min_bytes,
        }
    }
}

impl Default for DetectSettings {
    fn default() -> Self {
        DetectSettings::from_config(&moat_config::Detect::default())
    }
}

/// One alert: the rule, whom it is about, the events that triggered it, the value
/// that crossed the threshold and words for the person who reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// `volume`, `breadth`, `enumeration`, `denials`, `secrets`, `injection`,
    /// `novelty` or `egress`.
    pub rule: &'static str,
    /// The person (their email as recorded, else their user or token id); for
    /// `egress`, `vendor:<name>`.
    pub subject: String,
    pub user: Option<String>,
    pub seqs: Vec<u64>,
    pub value: f64,
    pub threshold: f64,
    pub message: String,
}

/// Distinct client/address pairs kept per token.
const MAX_PAIRS: usize = 64;

/// Distinct files read in a window: `(time, path, seq)`.
type Walk = VecDeque<(i64, String, u64)>;

#[derive(Default)]
struct Person {
    volume: Hourly,
    /// The hour `repos` and `files` count.
    breadth_hour: i64,
    repos: HashSet<String>,
    files: HashSet<(String, String)>,
    breadth_seqs: Vec<u64>,
    breadth_alerted: bool,
    /// Per repository: recent walks and until when it stays quiet.
    walks: HashMap<String, (Walk, i64)>,
    denials: VecDeque<(i64, u64)>,
    denials_quiet_until: i64,
    redactions: Hourly,
    /// Events per hour of the day, and in all.
    hours_of_day: [u64; 24],
    events: u64,
    unusual_alerted_day: i64,
}

#[derive(Default)]
struct TokenSeen {
    pairs: HashSet<(String, String)>,
    denials: VecDeque<(i64, u64)>,
    denials_quiet_until: i64,
}

/// The rules and what they remember.
pub struct Detector {
    settings: DetectSettings,
    people: HashMap<String, Person>,
    tokens: HashMap<String, TokenSeen>,
    vendors: HashMap<String, Hourly>,
    addresses: HashMap<String, AddressSeen>,
    /// While the address map is full of active addresses: until when new ones are not
    /// counted (and not looked for room again), and whether that was said.
    addresses_full_until: i64,
}

impl Detector {
    pub fn new(settings: DetectSettings) -> Detector {
        Detector {
            settings,
            people: HashMap::new(),
            tokens: HashMap::new(),
            vendors: HashMap::new(),
            addresses: HashMap::new(),
            addresses_full_until: i64::MIN,
        }
    }

    /// People the detector remembers.
    pub fn people(&self) -> usize {
        self.people.len()
    }

    /// Feeds one event (in log order); the alerts it raises.
    pub fn observe(&mut self, event: &Event) -> Vec<Alert> {
        let mut alerts = Vec::new();
        let body = &event.body;
        if body.action.starts_with("alert.") {
            return alerts;
        }
        let Some(at) = seconds(&event.time) else {
            return alerts;
        };
        let seq = event.seq;
        let hour = at.div_euclid(3600);
        if let Some(egress) = &body.egress
            && body.action == "gateway.request"
            && body.decision.outcome == Outcome::Allow
        {
            self.egress(&egress.vendor, hour, egress.bytes, seq, &mut alerts);
        }
        let actor = &body.actor;
        // Refused authentications by source address, whoever they were for: guessed
        // tokens name no one, and one address cycling through revoked or stolen tokens
        // is no one person's burst. (Only authentication: behind a NAT or a proxy
        // everyone's access and DLP refusals share an address.) Raised unless the same
        // refusal raised the person's or token's own burst.
        let mut by_address = None;
        if let (Some(count), Some(address)) = (
            refusals(event).filter(|_| body.action == "auth.refused"),
            actor.address.as_deref(),
        ) && let Some((source, seqs)) = self.address_burst(address, at, seq, count)
        {
            let s = &self.settings;
            by_address = Some(Alert {
                rule: "denials",
                subject: format!("address:{source}"),
                user: None,
                value: seqs.len() as f64,
                threshold: s.denials as f64,
                message: format!(
                    "{source} was refused at least {} times within {} s",
                    s.denials, s.denials_window
                ),
                seqs,
            });
        }
        let Some(subject) = actor
            .email
            .as_deref()
            .or(actor.user.as_deref())
            .or(actor.token_id.as_deref())
        else {
            alerts.extend(by_address);
            return alerts;
        };
        let s = &self.settings;
        let person = self.people.entry(subject.to_string()).or_default();
        let mut raise =
            |rule: &'static str, seqs: Vec<u64>, value: f64, threshold: f64, message: String| {
                alerts.push(Alert {
                    rule,
                    subject: subject.to_string(),
                    user: actor.user.clone(),
                    seqs,
                    value,
                    threshold,
                    message,
                });
            };

        // Novelty: judged against what was seen before this event.
        let hour_of_day = (at.div_euclid(3600).rem_euclid(24)) as usize;
        let day = at.div_euclid(86_400);
        let seasoned = person.events >= s.novelty_after_events;
        if seasoned && person.hours_of_day[hour_of_day] == 0 && person.unusual_alerted_day != day {
            person.unusual_alerted_day = day;
            raise(
                "novelty",
                vec![seq],
                hour_of_day as f64,
                0.0,
                format!(
                    "{subject} is active at {hour_of_day:02}:00 UTC, an hour of the day they never were in {} events",
                    person.events
                ),
            );
        }
        person.hours_of_day[hour_of_day] += 1;
        person.events += 1;
        // Where a token is used from: only what it was let do counts (a refusal
        // names no client, and a revoked token's refusals are `denials`).
        if let Some(token) = &actor.token_id
            && body.decision.outcome == Outcome::Allow
        {
            let seen = self.tokens.entry(token.clone()).or_default();
            let pair = (
                actor.client.clone().unwrap_or_default(),
                actor.address.clone().unwrap_or_default(),
            );
            if !seen.pairs.contains(&pair) {
                if seasoned && !seen.pairs.is_empty() {
                    raise(
                        "novelty",
                        vec![seq],
                        seen.pairs.len() as f64,
                        0.0,
                        format!(
                            "token {token} of {subject} is used from {} at {}, which it never used before",
                            if pair.0.is_empty() {
                                "an unnamed client"
                            } else {
                                &pair.0
                            },
                            if pair.1.is_empty() {
                                "an unknown address"
                            } else {
                                &pair.1
                            },
                        ),
                    );
                }
                if seen.pairs.len() < MAX_PAIRS {
                    seen.pairs.insert(pair);
                }
            }
        }

        // Denials, by person and by token.
        if let Some(count) = refusals(event) {
            // By person; by token where one person's tokens are judged apart (a
            // burst on one token is raised once, as the person's when both cross).
            let by_person = burst(
                &mut person.denials,
                &mut person.denials_quiet_until,
                at,
                seq,
                count,
                s.denials,
                s.denials_window,
            );
            let by_token = actor.token_id.as_ref().and_then(|token| {
                let seen = self.tokens.get_mut(token)?;
                let seqs = burst(
                    &mut seen.denials,
                    &mut seen.denials_quiet_until,
                    at,
                    seq,
                    count,
                    s.denials,
                    s.denials_window,
                )?;
                Some((format!("token {token} of {subject}"), seqs))
            });
            let raised = by_person
                .map(|seqs| (subject.to_string(), seqs))
                .or(by_token);
            if raised.is_some() {
                by_address = None;
            }
            if let Some((who, seqs)) = raised {
                let value = seqs.len() as f64;
                raise(
                    "denials",
                    seqs,
                    value,
                    s.denials as f64,
                    format!(
                        "{who} was refused at least {} times within {} s",
                        s.denials, s.denials_window
                    ),
                );
            }
        }

        // What was disclosed through MCP.
        if body.action == "mcp.call" && body.decision.outcome == Outcome::Allow {
            let bytes: u64 = body.disclosed.values().sum();
            if bytes > 0 {
                let volume = &mut person.volume;
                volume.add(hour, bytes as f64, seq);
                if !volume.alerted {
                    let ceiling = s.volume_ceiling_bytes as f64;
                    let learned = volume.baseline.hours >= s.volume_warmup_hours;
                    let above = volume.baseline.above(s.volume_z);
                    let threshold = if learned {
                        above.max(s.volume_min_bytes as f64).min(ceiling)
                    } else {
                        ceiling
                    };
                    if volume.total > threshold {
                        volume.alerted = true;
                        raise(
                            "volume",
                            volume.seqs.clone(),
                            volume.total,
                            threshold,
                            if volume.total > ceiling || !learned {
                                format!(
                                    "{subject} was shown {:.0} bytes of code this hour, past the ceiling of {ceiling:.0}",
                                    volume.total
                                )
                            } else {
                                format!(
                                    "{subject} was shown {:.0} bytes of code this hour; their hours average {:.0} ({} z above is {threshold:.0})",
                                    volume.total,
                                    volume.baseline.mean(),
                                    s.volume_z
                                )
                            },
                        );
                    }
                }
            }
            // Breadth counts what was read, file by file: a search's or a reference
            // list's hits name many files nobody opened.
            let tool = body.details["tool"].as_str().unwrap_or("");
            let reads = matches!(tool, "read_source" | "get_file_outline" | "get_symbol");
            if person.breadth_hour != hour {
                person.breadth_hour = hour;
                person.repos.clear();
                person.files.clear();
                person.breadth_seqs.clear();
                person.breadth_alerted = false;
            }
            let mut grew = false;
            if reads && let Some(repo) = body.resources.repos.first() {
                grew |= person.repos.insert(repo.clone());
                for path in &body.resources.paths {
                    grew |= person.files.insert((repo.clone(), path.clone()));
                }
            }
            if grew {
                push_seq(&mut person.breadth_seqs, seq);
            }
            if !person.breadth_alerted
                && (person.repos.len() > s.breadth_repos_per_hour
                    || person.files.len() > s.breadth_files_per_hour)
            {
                person.breadth_alerted = true;
                raise(
                    "breadth",
                    person.breadth_seqs.clone(),
                    person.files.len().max(person.repos.len()) as f64,
                    s.breadth_files_per_hour as f64,
                    format!(
                        "{subject} read {} repositories and {} files this hour (thresholds {} and {})",
                        person.repos.len(),
                        person.files.len(),
                        s.breadth_repos_per_hour,
                        s.breadth_files_per_hour
                    ),
                );
            }
            if matches!(tool, "read_source" | "get_file_outline")
                && let (Some(repo), Some(path)) =
                    (body.resources.repos.first(), body.resources.paths.first())
            {
                let (walk, quiet) = person.walks.entry(repo.clone()).or_default();
                while walk
                    .front()
                    .is_some_and(|(t, _, _)| *t <= at - s.enumeration_window)
                {
                    walk.pop_front();
                }
                if !walk.iter().any(|(_, p, _)| p == path) {
                    walk.push_back((at, path.clone(), seq));
                }
                if walk.len() >= s.enumeration_files && at >= *quiet {
                    *quiet = at + s.enumeration_window;
                    let mut seqs = Vec::new();
                    for (_, _, seq) in walk.iter() {
                        push_seq(&mut seqs, *seq);
                    }
                    raise(
                        "enumeration",
                        seqs,
                        walk.len() as f64,
                        s.enumeration_files as f64,
                        format!(
                            "{subject} walked {} distinct files of `{repo}` with {tool} within {} s",
                            walk.len(),
                            s.enumeration_window
                        ),
                    );
                    walk.clear();
                }
            }
            let flags: u64 = body.details["injection_flags"]
                .as_object()
                .map(|f| f.values().filter_map(|v| v.as_u64()).sum())
                .unwrap_or(0);
            if flags > 0 {
                raise(
                    "injection",
                    vec![seq],
                    flags as f64,
                    0.0,
                    format!(
                        "an answer to {subject} ({tool}) carried {flags} prompt-injection flag(s)"
                    ),
                );
            }
        }

        // Secrets redacted from prompts.
        if body.action == "gateway.request" {
            let redacted: u64 = body.redactions.values().sum();
            if redacted > 0 {
                let hourly = &mut person.redactions;
                hourly.add(hour, redacted as f64, seq);
                if !hourly.alerted && hourly.total >= s.redactions_per_hour as f64 {
                    hourly.alerted = true;
                    raise(
                        "secrets",
                        hourly.seqs.clone(),
                        hourly.total,
                        s.redactions_per_hour as f64,
                        format!(
                            "{:.0} values were redacted from {subject}'s prompts this hour (threshold {})",
                            hourly.total, s.redactions_per_hour
                        ),
                    );
                }
            }
        }
        alerts.extend(by_address);
        alerts
    }

    fn egress(&mut self, vendor: &str, hour: i64, bytes: u64, seq: u64, alerts: &mut Vec<Alert>) {
        let s = &self.settings;
        let hourly = self.vendors.entry(vendor.to_string()).or_default();
        hourly.add(hour, bytes as f64, seq);
        if hourly.alerted || hourly.baseline.hours < s.egress_warmup_hours {
            return;
        }
        let threshold = hourly
            .baseline
            .above(s.egress_z)
            .max(s.egress_min_bytes as f64);
        if hourly.total > threshold {
            hourly.alerted = true;
            alerts.push(Alert {
                rule: "egress",
                subject: format!("vendor:{vendor}"),
                user: None,
                seqs: hourly.seqs.clone(),
                value: hourly.total,
                threshold,
                message: format!(
                    "{:.0} bytes went to vendor `{vendor}` this hour; its hours average {:.0}",
                    hourly.total,
                    hourly.baseline.mean()
                ),
            });
        }
    }
}

/// Seconds since the epoch of an event's time (`YYYY-MM-DDTHH:MM:SS[.mmm]Z`).
fn seconds(time: &str) -> Option<i64> {
    let b = time.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> { time.get(from..to)?.parse().ok() };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, m, sec) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

#[cfg(test)]
mod tests;

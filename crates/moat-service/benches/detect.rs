//! Detection judged on a generated month (issue #23 §5): ordinary work for
//! `MOAT_BENCH_PEOPLE` people (default 1,000) over `MOAT_BENCH_DAYS` days (default 30)
//! with planted scenarios — slow exfiltration, bulk enumeration, a stolen token used
//! from a new address at night, a contractor sweeping repositories before leaving, a
//! burst of probing refusals, a paste of secrets — fed in time order through the rules.
//! Reports, per rule, alerts raised, true and false positives, and per scenario whether
//! and how fast it was detected; and the detector's throughput on one core, with and
//! without parsing each event from its stored JSON. `bench/detect/run` runs it.
//!
//! The generator is deterministic (a fixed seed), so runs compare.

use moat_audit::event::{Actor, Decision, Egress, Event, EventBody, Outcome, Resources};
use moat_service::detect::{DetectSettings, Detector};
use std::collections::BTreeMap;
use std::time::Instant;

/// 2026-11-02T00:00:00Z, a Monday.
const T0: i64 = 1_793_577_600;

/// xorshift64*: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

struct Scenario {
    name: &'static str,
    person: usize,
    start: i64,
    end: i64,
    /// The rules that should catch it.
    rules: &'static [&'static str],
}

fn time(at: i64) -> String {
    moat_domain::UnixTime(at).to_rfc3339().replace('Z', ".000Z")
}

fn email(person: usize) -> String {
    format!("person{person:04}@example.com")
}

fn base(person: usize, action: &str, outcome: Outcome, address: &str) -> EventBody {
    EventBody {
        actor: Actor {
            user: Some(format!("usr_{person:04}")),
            email: Some(email(person)),
            token_id: Some(format!("tok_{person:04}")),
            client: Some(
                if person.is_multiple_of(3) {
                    "cursor"
                } else {
                    "claude-code"
                }
                .into(),
            ),
            client_version: None,
            address: Some(address.into()),
        },
        action: action.into(),
        resources: Resources::default(),
        decision: Decision {
            outcome,
            rule: None,
            reason: None,
        },
        policy_version: "sha256:bench".into(),
        disclosed: BTreeMap::new(),
        redactions: BTreeMap::new(),
        egress: None,
        content_ref: None,
        details: serde_json::Value::Null,
    }
}

fn read(
    person: usize,
    tool: &str,
    repo: usize,
    path: &str,
    bytes: u64,
    address: &str,
) -> EventBody {
    let mut body = base(person, "mcp.call", Outcome::Allow, address);
    body.resources.repos = vec![format!("repo-{repo:03}")];
    body.resources.paths = vec![path.into()];
    body.disclosed = [("internal".to_string(), bytes)].into();
    body.details = serde_json::json!({"tool": tool, "injection_flags": {}});
    body
}

fn address(person: usize) -> String {
    format!(
        "10.{}.{}.{}",
        person / 65_536 % 256,
        person / 256 % 256,
        person % 256
    )
}

/// Ordinary work: weekdays, each person's own eight hours, a few repositories of
/// their own, a handful of calls an hour, now and then a model request or a refusal.
fn ordinary(people: usize, days: i64, rng: &mut Rng, out: &mut Vec<(i64, EventBody)>) {
    for person in 0..people {
        let start_hour = 6 + (person % 5) as i64;
        let home: Vec<usize> = (0..3).map(|k| (person * 7 + k * 13) % 200).collect();
        let addr = address(person);
        for day in 0..days {
            if day % 7 >= 5 {
                continue;
            }
            for hour in start_hour..start_hour + 8 {
                let calls = 2 + rng.below(8);
                for _ in 0..calls {
                    let at = T0 + day * 86_400 + hour * 3600 + rng.below(3600) as i64;
                    let repo = home[rng.below(3) as usize];
                    let path = format!("src/mod_{}.rs", rng.below(40));
                    let tool = [
                        "search_code",
                        "get_symbol",
                        "read_source",
                        "get_file_outline",
                    ][rng.below(4) as usize];
                    let bytes = 500 + rng.below(6_000);
                    out.push((at, read(person, tool, repo, &path, bytes, &addr)));
                }
                if rng.chance(0.3) {
                    let at = T0 + day * 86_400 + hour * 3600 + rng.below(3600) as i64;
                    let mut request = base(person, "gateway.request", Outcome::Allow, &addr);
                    request.egress = Some(Egress {
                        vendor: ["anthropic", "openai", "local"][person % 3].into(),
                        model: "m".into(),
                        region: "us".into(),
                        bytes: 2_000 + rng.below(20_000),
                        repos: vec![],
                    });
                    if rng.chance(0.05) {
                        request.redactions = [("email".to_string(), 1 + rng.below(2))].into();
                    }
                    out.push((at, request));
                }
                if rng.chance(0.02) {
                    let at = T0 + day * 86_400 + hour * 3600 + rng.below(3600) as i64;
                    out.push((at, base(person, "access.denied", Outcome::Deny, &addr)));
                }
            }
        }
    }
}

/// The planted scenarios, added to `out`.
fn planted(people: usize, days: i64, out: &mut Vec<(i64, EventBody)>) -> Vec<Scenario> {
    let day = |d: i64| T0 + d.min(days - 1) * 86_400;
    let mut scenarios = Vec::new();
    // Slow exfiltration: five workdays of reading four times the usual, file by file.
    let p = 11 % people;
    let start = day(15) + (6 + (p % 5) as i64) * 3600;
    for d in 0..5 {
        for n in 0..8 * 40 {
            let at = start + d * 86_400 + n * 90;
            let path = format!("src/deep/{}.rs", (d * 1000 + n) % 600);
            out.push((
                at,
                read(p, "search_code", (p * 7) % 200, &path, 5_000, &address(p)),
            ));
        }
    }
    scenarios.push(Scenario {
        name: "slow exfiltration",
        person: p,
        start,
        end: start + 5 * 86_400,
        rules: &["volume"],
    });
    // Bulk enumeration: 300 files of one repository in twenty minutes.
    let p = 23 % people;
    let start = day(20) + (7 + (p % 5) as i64) * 3600;
    for n in 0..300 {
        out.push((
            start + n * 4,
            read(
                p,
                "read_source",
                (p * 7) % 200,
                &format!("src/f{n}.rs"),
                3_000,
                &address(p),
            ),
        ));
    }
    scenarios.push(Scenario {
        name: "bulk enumeration",
        person: p,
        start,
        end: start + 1200,
        rules: &["enumeration", "breadth", "volume"],
    });
    // A stolen token: used at 02:00 UTC from an address it never used.
    let p = 37 % people;
    let start = day(18) + 2 * 3600;
    for n in 0..30 {
        out.push((
            start + n * 60,
            read(
                p,
                "search_code",
                (p * 7) % 200,
                "src/auth.rs",
                2_000,
                "203.0.113.77",
            ),
        ));
    }
    scenarios.push(Scenario {
        name: "stolen token, new address, at night",
        person: p,
        start,
        end: start + 1800,
        rules: &["novelty"],
    });
    // A contractor sweeping repositories before leaving: 60 repositories in an hour.
    let p = 41 % people;
    let start = day(27) + (8 + (p % 5) as i64) * 3600;
    for n in 0..60 {
        out.push((
            start + n * 50,
            read(
                p,
                "read_source",
                100 + n as usize,
                "README.md",
                1_500,
                &address(p),
            ),
        ));
    }
    scenarios.push(Scenario {
        name: "contractor sweep before leaving",
        person: p,
        start,
        end: start + 3000,
        rules: &["breadth"],
    });
    // Probing: thirty refusals in five minutes.
    let p = 53 % people;
    let start = day(12) + (9 + (p % 5) as i64) * 3600;
    for n in 0..30 {
        out.push((
            start + n * 10,
            base(p, "access.denied", Outcome::Deny, &address(p)),
        ));
    }
    scenarios.push(Scenario {
        name: "probing refusals",
        person: p,
        start,
        end: start + 300,
        rules: &["denials"],
    });
    // A paste of secrets: forty values redacted from prompts in an hour.
    let p = 67 % people;
    let start = day(9) + (10 + (p % 5) as i64) * 3600;
    for n in 0..8 {
        let mut request = base(p, "gateway.request", Outcome::Allow, &address(p));
        request.redactions = [("aws_access_key".to_string(), 5u64)].into();
        out.push((start + n * 120, request));
    }
    scenarios.push(Scenario {
        name: "secrets pasted into prompts",
        person: p,
        start,
        end: start + 960,
        rules: &["secrets"],
    });
    scenarios
}

fn main() {
    let people: usize = std::env::var("MOAT_BENCH_PEOPLE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let days: i64 = std::env::var("MOAT_BENCH_DAYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let mut rng = Rng(0x6d6f_6174_6465_7465);
    let mut stream = Vec::new();
    ordinary(people, days, &mut rng, &mut stream);
    let scenarios = planted(people, days, &mut stream);
    stream.sort_by_key(|(at, _)| *at);
    let events: Vec<Event> = stream
        .into_iter()
        .enumerate()
        .map(|(seq, (at, body))| Event {
            seq: seq as u64,
            time: time(at),
            body,
        })
        .collect();
    let json: Vec<Vec<u8>> = events
        .iter()
        .map(|e| serde_json::to_vec(e).unwrap())
        .collect();
    println!(
        "{people} people, {days} days: {} events, {} planted scenarios",
        events.len(),
        scenarios.len()
    );

    let mut settings = DetectSettings::default();
    if let Some(min) = std::env::var("MOAT_BENCH_VOLUME_MIN_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        settings.volume_min_bytes = min;
    }
    println!("volume_min_bytes = {}", settings.volume_min_bytes);
    let mut detector = Detector::new(settings.clone());
    let started = Instant::now();
    let mut alerts = Vec::new();
    for event in &events {
        for alert in detector.observe(event) {
            alerts.push((event.seq, alert));
        }
    }
    let rules_only = started.elapsed();
    let mut parsed = Detector::new(settings);
    let started = Instant::now();
    let mut count = 0usize;
    for bytes in &json {
        let event: Event = serde_json::from_slice(bytes).unwrap();
        count += parsed.observe(&event).len();
    }
    let with_parsing = started.elapsed();
    assert_eq!(count, alerts.len(), "parsing changes no decision");
    let rate = |d: std::time::Duration| events.len() as f64 / d.as_secs_f64();
    println!(
        "throughput, one core: {:.0} events/s (rules only), {:.0} events/s (parsing each event's JSON too)",
        rate(rules_only),
        rate(with_parsing)
    );

    // Judge every alert against the scenarios.
    let at = |seq: u64| moat_domain_time(&events[seq as usize].time);
    let mut by_rule: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (seq, alert) in &alerts {
        let when = at(*seq);
        let hit = scenarios
            .iter()
            .any(|s| alert.subject == email(s.person) && when >= s.start && when <= s.end + 3600);
        let entry = by_rule.entry(alert.rule).or_default();
        if hit { entry.0 += 1 } else { entry.1 += 1 }
    }
    println!("\n| rule | alerts | true positives | false positives | precision |");
    println!("|---|---|---|---|---|");
    for (rule, (tp, fp)) in &by_rule {
        println!(
            "| {rule} | {} | {tp} | {fp} | {:.2} |",
            tp + fp,
            *tp as f64 / (tp + fp) as f64
        );
    }
    println!("\n| scenario | expected rules | detected by | time to detect |");
    println!("|---|---|---|---|");
    let mut found = 0;
    for s in &scenarios {
        let first = alerts.iter().find(|(seq, a)| {
            a.subject == email(s.person) && at(*seq) >= s.start && at(*seq) <= s.end + 3600
        });
        match first {
            Some((seq, alert)) => {
                found += 1;
                println!(
                    "| {} | {} | {} | {} s |",
                    s.name,
                    s.rules.join(", "),
                    alert.rule,
                    at(*seq) - s.start
                );
            }
            None => println!("| {} | {} | missed | - |", s.name, s.rules.join(", ")),
        }
    }
    println!(
        "\nscenarios detected: {found} of {}; alerts in all: {}; people remembered: {}",
        scenarios.len(),
        alerts.len(),
        detector.people()
    );
}

/// Seconds of an event time the generator wrote (`YYYY-MM-DDTHH:MM:SS.000Z`).
fn moat_domain_time(text: &str) -> i64 {
    let base = moat_domain::UnixTime::from_date(&text[..10]).unwrap().0;
    let h: i64 = text[11..13].parse().unwrap();
    let m: i64 = text[14..16].parse().unwrap();
    let s: i64 = text[17..19].parse().unwrap();
    base + h * 3600 + m * 60 + s
}

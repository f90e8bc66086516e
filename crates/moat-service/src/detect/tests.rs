//! Each rule against a planted scenario, and ordinary work that raises nothing.

use super::denials::MAX_ADDRESSES;
use super::*;
use moat_audit::event::{Actor, Decision, Egress, EventBody, Resources};
use serde_json::json;

/// 2026-11-02T00:00:00Z, a Monday.
const T0: i64 = 1_793_577_600;

struct Stream {
    seq: u64,
    detector: Detector,
    alerts: Vec<Alert>,
}

fn time(at: i64) -> String {
    moat_domain::UnixTime(at).to_rfc3339().replace('Z', ".000Z")
}

fn body(action: &str, who: &str, outcome: Outcome) -> EventBody {
    EventBody {
        actor: Actor {
            user: Some(format!("usr_{who}")),
            email: Some(format!("{who}@example.com")),
            token_id: Some(format!("tok_{who}")),
            client: Some("claude-code".into()),
            client_version: None,
            address: Some("10.0.0.7".into()),
        },
        action: action.into(),
        resources: Resources::default(),
        decision: Decision {
            outcome,
            rule: None,
            reason: None,
        },
        policy_version: "t".into(),
        disclosed: Default::default(),
        redactions: Default::default(),
        egress: None,
        content_ref: None,
        details: serde_json::Value::Null,
    }
}

fn read(who: &str, tool: &str, repo: &str, path: &str, bytes: u64) -> EventBody {
    let mut event = body("mcp.call", who, Outcome::Allow);
    event.resources.repos = vec![repo.into()];
    event.resources.paths = vec![path.into()];
    event.disclosed = [("internal".to_string(), bytes)].into();
    event.details = json!({"tool": tool, "injection_flags": {}});
    event
}

impl Stream {
    fn new(settings: DetectSettings) -> Stream {
        Stream {
            seq: 0,
            detector: Detector::new(settings),
            alerts: Vec::new(),
        }
    }

    fn feed(&mut self, at: i64, body: EventBody) -> u64 {
        let seq = self.seq;
        self.seq += 1;
        let event = Event {
            seq,
            time: time(at),
            body,
        };
        self.alerts.extend(self.detector.observe(&event));
        seq
    }

    fn rules(&self) -> Vec<(&'static str, String)> {
        self.alerts
            .iter()
            .map(|a| (a.rule, a.subject.clone()))
            .collect()
    }

    /// Two weeks of ordinary work for `who`: working hours, a few files of a few
    /// repositories, small answers.
    fn ordinary_weeks(&mut self, who: &str, days: i64) {
        for day in 0..days {
            for hour in 9..17 {
                for n in 0..6 {
                    let at = T0 + day * 86_400 + hour * 3600 + n * 500;
                    let path = format!("src/module_{}.py", (day + hour + n) % 9);
                    self.feed(
                        at,
                        read(
                            who,
                            "search_code",
                            "claims",
                            &path,
                            2_000 + (n as u64) * 300,
                        ),
                    );
                }
            }
        }
    }
}

#[test]
fn event_times_read_as_the_calendar_says() {
    assert_eq!(seconds("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(seconds("2026-11-02T00:00:00.000Z"), Some(T0));
    assert_eq!(seconds(&time(T0 + 3_723)), Some(T0 + 3_723));
    assert_eq!(seconds("2024-02-29T12:30:05.999Z"), Some(1_709_209_805));
    assert_eq!(seconds("2026-13-02T00:00:00Z"), None);
    assert_eq!(seconds("yesterday"), None);
}

#[test]
fn ordinary_work_raises_nothing() {
    let mut stream = Stream::new(DetectSettings::default());
    stream.ordinary_weeks("ada", 14);
    stream.ordinary_weeks("bob", 14);
    assert_eq!(stream.rules(), Vec::<(&str, String)>::new());
    assert_eq!(stream.detector.people(), 2);
}

#[test]
fn a_burst_of_code_past_a_persons_own_baseline_is_volume() {
    let mut stream = Stream::new(DetectSettings::default());
    stream.ordinary_weeks("ada", 10);
    // Day 11, 10:00: ten times the usual hour, each answer within the ordinary size.
    let start = T0 + 10 * 86_400 + 10 * 3600;
    let mut first = None;
    for n in 0..120 {
        let seq = stream.feed(
            start + n * 20,
            read("ada", "search_code", "claims", "src/module_1.py", 4_000),
        );
        first.get_or_insert(seq);
    }
    let volume: Vec<&Alert> = stream
        .alerts
        .iter()
        .filter(|a| a.rule == "volume")
        .collect();
    assert_eq!(volume.len(), 1, "once per hour: {:?}", stream.alerts);
    let alert = volume[0];
    assert_eq!(alert.subject, "ada@example.com");
    assert_eq!(alert.user.as_deref(), Some("usr_ada"));
    assert_eq!(
        alert.seqs[0],
        first.unwrap(),
        "names the hour's first event"
    );
    assert!(alert.value > alert.threshold && alert.threshold >= 256.0 * 1024.0);
    assert!(alert.message.contains("average"), "{}", alert.message);
}

#[test]
fn the_ceiling_holds_before_any_baseline() {
    let mut stream = Stream::new(DetectSettings::default());
    for n in 0..10 {
        stream.feed(
            T0 + n,
            read("eve", "read_source", "vault", "keys.py", 1_000_000),
        );
    }
    assert_eq!(stream.rules(), [("volume", "eve@example.com".to_string())]);
    assert!(stream.alerts[0].message.contains("ceiling"));
}

#[test]
fn many_repositories_or_files_in_an_hour_is_breadth() {
    let mut stream = Stream::new(DetectSettings::default());
    // Searches whose hits span many repositories and files are not reads.
    for n in 0..30 {
        let mut search = read("cat", "search_code", "repo-0", "README.md", 100);
        search.resources.repos = (0..20).map(|r| format!("repo-{r}")).collect();
        search.resources.paths = (0..40).map(|p| format!("src/hit_{n}_{p}.py")).collect();
        stream.feed(T0 + n * 60, search);
    }
    assert!(stream.alerts.is_empty(), "{:?}", stream.alerts);
    for n in 0..20 {
        stream.feed(
            T0 + 1800 + n * 60,
            read("cat", "get_symbol", &format!("repo-{n}"), "README.md", 100),
        );
    }
    assert_eq!(stream.rules(), [("breadth", "cat@example.com".to_string())]);
    assert!(
        stream.alerts[0].message.contains("16 repositories"),
        "{}",
        stream.alerts[0].message
    );
}

#[test]
fn walking_a_repository_file_by_file_is_enumeration() {
    let mut stream = Stream::new(DetectSettings::default());
    // Re-reading the same few files is not a walk.
    for n in 0..100 {
        stream.feed(
            T0 + n * 5,
            read(
                "dan",
                "read_source",
                "ledger",
                &format!("a{}.py", n % 5),
                500,
            ),
        );
    }
    assert!(stream.alerts.is_empty(), "{:?}", stream.alerts);
    // Forty distinct files within ten minutes is.
    for n in 0..40 {
        stream.feed(
            T0 + 1000 + n * 10,
            read(
                "dan",
                "get_file_outline",
                "ledger",
                &format!("src/f{n}.py"),
                200,
            ),
        );
    }
    assert_eq!(
        stream.rules(),
        [("enumeration", "dan@example.com".to_string())]
    );
    assert!(stream.alerts[0].seqs.len() <= baseline::MAX_SEQS);
    // The same walk spread over hours raises nothing more.
    for n in 0..40 {
        stream.feed(
            T0 + 10_000 + n * 700,
            read("dan", "read_source", "ledger", &format!("src/g{n}.py"), 200),
        );
    }
    assert_eq!(stream.alerts.len(), 1, "{:?}", stream.alerts);
}

#[test]
fn a_burst_of_refusals_is_denials_once_per_window() {
    let mut stream = Stream::new(DetectSettings::default());
    for n in 0..25 {
        let mut denied = body("access.denied", "mal", Outcome::Deny);
        denied.details = json!({"tool": "read_source"});
        stream.feed(T0 + n * 10, denied);
    }
    assert_eq!(
        stream.rules(),
        [("denials", "mal@example.com".to_string())],
        "once, and quiet for the rest of the window"
    );
    assert_eq!(
        stream.alerts[0].seqs.len(),
        10,
        "the ten refusals of the burst"
    );
    // An authentication summary counts as many refusals as it says.
    let mut stream = Stream::new(DetectSettings::default());
    let mut refused = body("auth.refused", "old", Outcome::Deny);
    refused.details = json!({"count": 12});
    stream.feed(T0, refused);
    assert!(
        stream
            .rules()
            .contains(&("denials", "old@example.com".to_string()))
    );
    // Refusals spread out are no burst.
    let mut stream = Stream::new(DetectSettings::default());
    for n in 0..30 {
        stream.feed(T0 + n * 120, body("gateway.request", "slow", Outcome::Deny));
    }
    assert!(stream.alerts.is_empty(), "{:?}", stream.alerts);
}

/// A refusal of nobody known: what a guessed token's minute summary looks like.
fn refused_from(address: &str, count: u64) -> EventBody {
    let mut refused = body("auth.refused", "x", Outcome::Deny);
    refused.actor = Actor {
        address: Some(address.into()),
        ..Actor::default()
    };
    refused.details = json!({"count": count, "reason": "unknown_token"});
    refused
}

#[test]
fn refusals_from_one_address_are_denials_whoever_they_were_for() {
    // Guessed tokens name no one: the address is the subject.
    let mut stream = Stream::new(DetectSettings::default());
    for n in 0..3 {
        stream.feed(T0 + n * 60, refused_from("203.0.113.9", 4));
    }
    assert_eq!(
        stream.rules(),
        [("denials", "address:203.0.113.9".to_string())]
    );
    assert_eq!(stream.alerts[0].user, None, "no one to suspend");
    assert_eq!(stream.alerts[0].seqs.len(), 3);
    // Twenty revoked tokens of twenty people, each refused once from one address: no
    // person's burst, the address's.
    let mut stream = Stream::new(DetectSettings::default());
    for n in 0..20 {
        let mut refused = refused_from("198.51.100.4", 1);
        refused.actor.token_id = Some(format!("tok_p{n}"));
        refused.actor.user = Some(format!("usr_p{n}"));
        stream.feed(T0 + n, refused);
    }
    assert_eq!(
        stream.rules(),
        [("denials", "address:198.51.100.4".to_string())],
        "once, and quiet for the rest of the window"
    );
    // Everyone behind one NAT refused access now and then is not an address's burst:
    // only refused authentications count per address.
    let mut stream = Stream::new(DetectSettings::default());
    for n in 0..40 {
        let mut denied = body("access.denied", &format!("office{n}"), Outcome::Deny);
        denied.actor.address = Some("192.0.2.10".into());
        stream.feed(T0 + n, denied);
    }
    assert!(stream.alerts.is_empty(), "{:?}", stream.alerts);
    // One host's IPv6 addresses are one /64; an IPv4-mapped address is the IPv4 one.
    let mut stream = Stream::new(DetectSettings::default());
    for n in 0..10u64 {
        let address = if n % 2 == 0 {
            format!("2001:db8:7:1::{:x}", n + 1)
        } else {
            format!("2001:db8:7:1:ffff:{n:x}:1:2")
        };
        stream.feed(T0 + n as i64, refused_from(&address, 1));
    }
    assert_eq!(
        stream.rules(),
        [("denials", "address:2001:db8:7:1::/64".to_string())]
    );
    let mut stream = Stream::new(DetectSettings::default());
    for n in 0..5 {
        stream.feed(T0 + n, refused_from("::ffff:192.0.2.1", 1));
        stream.feed(T0 + n, refused_from("192.0.2.1", 1));
    }
    assert_eq!(
        stream.rules(),
        [("denials", "address:192.0.2.1".to_string())]
    );
    // Different /64s, and addresses spread out in time, are no burst.
    let mut stream = Stream::new(DetectSettings::default());
    for n in 0..30u64 {
        stream.feed(
            T0 + n as i64,
            refused_from(&format!("2001:db8:{n:x}::1"), 1),
        );
        stream.feed(T0 + n as i64 * 120, refused_from("192.0.2.200", 1));
    }
    assert!(stream.alerts.is_empty(), "{:?}", stream.alerts);
}

#[test]
fn a_flood_from_more_addresses_than_are_kept_still_counts_the_busy_one() {
    let mut stream = Stream::new(DetectSettings::default());
    // An address already refused, then more new addresses than are kept, all within
    // one window (the map is full of active ones), then the first address again.
    stream.feed(T0, refused_from("192.0.2.77", 5));
    let flood = MAX_ADDRESSES as i64 + 20_000;
    for n in 0..flood {
        stream.feed(
            T0 + 1 + n * 300 / flood,
            refused_from(&format!("10.{}.{}.{}", n >> 16, (n >> 8) & 255, n & 255), 1),
        );
    }
    assert!(stream.detector.addresses.len() <= MAX_ADDRESSES);
    assert!(stream.alerts.is_empty(), "one refusal each is no burst");
    stream.feed(T0 + 400, refused_from("192.0.2.77", 5));
    assert_eq!(
        stream.rules(),
        [("denials", "address:192.0.2.77".to_string())],
        "an address counted before the flood is still counted"
    );
}

#[test]
fn redaction_spikes_and_injection_flags_are_raised() {
    let mut stream = Stream::new(DetectSettings::default());
    for n in 0..5 {
        let mut request = body("gateway.request", "leaky", Outcome::Allow);
        request.redactions = [("aws_access_key".to_string(), 6u64)].into();
        stream.feed(T0 + n, request);
    }
    assert_eq!(
        stream.rules(),
        [("secrets", "leaky@example.com".to_string())]
    );
    let mut flagged = read("ada", "read_source", "claims", "README.md", 100);
    flagged.details =
        json!({"tool": "read_source", "injection_flags": {"instruction_override": 2}});
    stream.feed(T0 + 10, flagged);
    assert_eq!(stream.alerts.last().unwrap().rule, "injection");
}

#[test]
fn a_known_token_from_a_new_address_and_an_unusual_hour_are_novelty() {
    let mut stream = Stream::new(DetectSettings::default());
    stream.ordinary_weeks("ada", 5);
    assert!(stream.alerts.is_empty());
    // The same token, another address: a stolen token.
    let mut stolen = read("ada", "search_code", "claims", "src/module_1.py", 1_000);
    stolen.actor.address = Some("203.0.113.9".into());
    let seq = stream.feed(T0 + 5 * 86_400 + 10 * 3600, stolen);
    assert_eq!(stream.rules(), [("novelty", "ada@example.com".to_string())]);
    assert_eq!(stream.alerts[0].seqs, [seq]);
    assert!(stream.alerts[0].message.contains("203.0.113.9"));
    // 03:00 UTC, never seen before; only once that day.
    stream.feed(
        T0 + 6 * 86_400 + 3 * 3600,
        read("ada", "search_code", "claims", "src/module_1.py", 1_000),
    );
    stream.feed(
        T0 + 6 * 86_400 + 3 * 3600 + 60,
        read("ada", "search_code", "claims", "src/module_1.py", 1_000),
    );
    assert_eq!(stream.alerts.len(), 2, "{:?}", stream.alerts);
    assert!(stream.alerts[1].message.contains("03:00 UTC"));
    // A refusal of the same token from yet another address is no novelty (it is what
    // `denials` counts).
    let mut refused = body("auth.refused", "ada", Outcome::Deny);
    refused.actor.client = None;
    refused.actor.address = Some("192.0.2.50".into());
    stream.feed(T0 + 6 * 86_400 + 3 * 3600 + 120, refused);
    assert_eq!(stream.alerts.len(), 2, "{:?}", stream.alerts);
    // A new person's first events raise nothing (no history to differ from).
    let mut fresh = read("new", "search_code", "claims", "x.py", 10);
    fresh.actor.address = Some("198.51.100.1".into());
    stream.feed(T0 + 6 * 86_400 + 2 * 3600, fresh);
    assert_eq!(stream.alerts.len(), 2);
}

#[test]
fn egress_far_above_a_vendors_baseline_is_raised() {
    // Around the clock, so no hour of the day is new (that is novelty, tested above).
    let mut stream = Stream::new(DetectSettings {
        novelty_after_events: u64::MAX,
        ..DetectSettings::default()
    });
    let request = |bytes: u64| {
        let mut request = body("gateway.request", "ada", Outcome::Allow);
        request.egress = Some(Egress {
            vendor: "anthropic".into(),
            model: "claude".into(),
            region: "us".into(),
            bytes,
            repos: vec![],
        });
        request
    };
    for hour in 0..48 {
        for n in 0..10 {
            stream.feed(T0 + hour * 3600 + n * 60, request(50_000));
        }
    }
    assert!(stream.alerts.is_empty(), "{:?}", stream.alerts);
    for n in 0..100 {
        stream.feed(T0 + 48 * 3600 + n * 10, request(50_000));
    }
    assert_eq!(stream.rules(), [("egress", "vendor:anthropic".to_string())]);
}

#[test]
fn alerts_are_not_fed_back() {
    let mut stream = Stream::new(DetectSettings::default());
    for n in 0..50 {
        stream.feed(T0 + n, body("alert.denials", "mal", Outcome::Deny));
    }
    assert!(stream.alerts.is_empty());
    assert_eq!(stream.detector.people(), 0);
}

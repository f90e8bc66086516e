//! Deadlines from the rules alone: what each class and vendor adds, when each is met,
//! and what resolving stops.

use super::*;

fn rules() -> IncidentRules {
    IncidentRules {
        acknowledge_seconds: 3_600,
        contain_seconds: 4 * 3_600,
        notify: vec![("phi".into(), 60 * 86_400, "HHS".into())],
        vendor_notice_hours: vec![("acme".into(), 72)],
        ..IncidentRules::default()
    }
}

fn incident(classes: &[&str], vendors: &[&str]) -> Incident {
    Incident {
        id: "inc_1".into(),
        title: "t".into(),
        subject: "mal@example.com".into(),
        status: OPEN.into(),
        owner: None,
        detected_at: 1_000_000,
        alerts: vec![],
        repos: vec![],
        vendors: vendors.iter().map(|v| v.to_string()).collect(),
        classes: classes.iter().map(|c| c.to_string()).collect(),
        timeline: vec![],
        flagged: vec![],
        since: Default::default(),
        more_alerts: 0,
        version: 1,
    }
}

fn entry(step: &str, at: i64, meets: &[&str]) -> Entry {
    Entry {
        step: step.into(),
        at,
        by: "sec@example.com".into(),
        note: None,
        meets: meets.iter().map(|m| m.to_string()).collect(),
    }
}

#[test]
fn each_class_and_vendor_touched_adds_its_notification_deadline() {
    let rules = rules();
    let now = UnixTime(1_000_000);
    let keys = |i: &Incident| -> Vec<String> {
        i.deadlines(&rules, now)
            .into_iter()
            .map(|d| d.key)
            .collect()
    };
    assert_eq!(keys(&incident(&[], &[])), ["acknowledged", "contained"]);
    assert_eq!(
        keys(&incident(&["phi", "pci"], &["acme", "other"])),
        [
            "acknowledged",
            "contained",
            "notified:class:phi",
            "notified:vendor:acme"
        ],
        "classes and vendors without a rule add nothing"
    );
    let vendor = incident(&[], &["acme"])
        .deadlines(&rules, now)
        .pop()
        .unwrap();
    assert_eq!(vendor.due, UnixTime(1_000_000 + 72 * 3_600).to_rfc3339());
    assert!(vendor.why.contains("breach_notice_hours"), "{}", vendor.why);
}

#[test]
fn a_step_meets_its_deadline_once_taken_and_resolving_ends_only_the_response_clock() {
    let rules = rules();
    let mut i = incident(&["phi"], &["acme"]);
    let late = UnixTime(1_000_000 + 5 * 3_600);
    let overdue = |i: &Incident, now: UnixTime| -> Vec<String> {
        i.deadlines(&rules, now)
            .into_iter()
            .filter(|d| d.overdue)
            .map(|d| d.key)
            .collect()
    };
    assert_eq!(
        overdue(&i, UnixTime(1_000_000 + 3_600)),
        Vec::<String>::new(),
        "due is not past"
    );
    assert_eq!(overdue(&i, late), ["acknowledged", "contained"]);
    i.timeline.push(entry("acknowledged", 1_000_100, &[]));
    assert_eq!(overdue(&i, late), ["contained"]);
    // Notifying one party meets only its deadline.
    i.timeline
        .push(entry("notified", 1_000_200, &["vendor:acme"]));
    let far = UnixTime(1_000_000 + 61 * 86_400);
    assert_eq!(overdue(&i, far), ["contained", "notified:class:phi"]);
    i.timeline.push(entry("resolved", 1_000_300, &[]));
    i.status = RESOLVED.into();
    assert_eq!(
        overdue(&i, far),
        ["notified:class:phi"],
        "the law's clock runs on"
    );
    i.timeline
        .push(entry("notified", 1_000_400, &["class:phi"]));
    assert!(overdue(&i, far).is_empty());
    // A class first seen with a later alert counts from then.
    let mut late_phi = incident(&["phi"], &[]);
    late_phi
        .since
        .insert("class:phi".into(), 1_000_000 + 30 * 86_400);
    let phi = late_phi.deadlines(&rules, far).pop().unwrap();
    assert_eq!(phi.due, UnixTime(1_000_000 + 90 * 86_400).to_rfc3339());
    assert!(!phi.overdue);
}

#[test]
fn spans_read_in_the_largest_unit() {
    assert_eq!(span(60 * 86_400), "60d");
    assert_eq!(span(72 * 3_600), "3d");
    assert_eq!(span(5_400), "90m");
    assert_eq!(span(61), "61s");
}

#[test]
fn white_space_is_what_the_api_document_calls_white_space() {
    // U+0085 is no white space to JSON Schema's `\S` (ECMAScript), so it is kept.
    assert_eq!(trimmed("\u{85}"), "\u{85}");
    assert_eq!(trimmed(" \u{a0}note\u{3000}\n"), "note");
    assert_eq!(checked_note(Some("\u{2028} ".into())).unwrap(), None);
}

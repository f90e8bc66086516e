use super::{CONTROLS, Period};

#[test]
fn a_date_as_to_includes_that_whole_day() {
    let period = Period::parse("2026-10-01", "2026-12-31").unwrap();
    assert_eq!(period.from, "2026-10-01T00:00:00.000Z");
    assert_eq!(period.to, "2027-01-01T00:00:00.000Z");
    let exact = Period::parse("2026-10-01T08:00:00+02:00", "2026-10-01T12:00:00Z").unwrap();
    assert_eq!(exact.from, "2026-10-01T06:00:00.000Z");
    assert_eq!(exact.to, "2026-10-01T12:00:00.000Z");
}

#[test]
fn an_empty_or_unreadable_period_is_refused_with_what_to_write() {
    let backwards = Period::parse("2026-12-31", "2026-10-01").unwrap_err();
    assert!(
        backwards.to_string().contains("--to comes after --from"),
        "{backwards}"
    );
    let garbage = Period::parse("last quarter", "2026-10-01").unwrap_err();
    assert!(garbage.to_string().contains("2026-11-23"), "{garbage}");
}

#[test]
fn every_control_the_issue_names_points_to_files() {
    let ids: Vec<&str> = CONTROLS.iter().map(|c| c.id).collect();
    for id in [
        "CC6.1",
        "CC6.2",
        "CC6.3",
        "CC6.6",
        "CC6.7",
        "CC7.2",
        "CC7.3",
        "CC8.1",
        "A.5.15",
        "A.5.16",
        "A.5.18",
        "A.5.23",
        "A.8.15",
        "A.8.16",
        "164.308(a)(3)",
        "164.308(a)(4)",
        "164.308(a)(5)",
        "164.312(a)",
        "164.312(b)",
        "164.312(c)",
        "164.312(d)",
        "164.312(e)",
    ] {
        assert!(ids.contains(&id), "control {id} is not mapped");
    }
    assert!(CONTROLS.iter().all(|c| !c.files.is_empty()));
}

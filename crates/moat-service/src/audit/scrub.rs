//! No secret is stored in the audit log: every string an event records — search
//! queries, tool arguments, client names, reasons, paths, JSON keys and numbers in its
//! details — goes through the DLP detector before the event is queued, and each value
//! found becomes `[REDACTED:<rule>:xxxx]` (the placeholder names the rule; its hash is
//! keyed per event, so it can be compared with nothing). The log is append-only and
//! exported to auditors: what enters it stays.
//!
//! Identity fields (who acted, which users or tokens an admin change touched, values
//! under an `email`, `login`, `user` or `id` key) must name people, so only secrets are
//! taken out of them, not the personal data that identifies the people involved.

use moat_audit::event::EventBody;
use moat_dlp::{Detector, Kind, Redactor};
use serde_json::Value;

/// Keys of `details` whose string values identify people or objects.
const IDENTITY_KEYS: &[&str] = &[
    "email", "emails", "login", "user", "user_id", "id", "token", "token_id", "replaced",
];

pub(crate) fn scrub(body: &mut EventBody, detector: &Detector) {
    let mut scrubber = Scrubber {
        redactor: Redactor::new(detector, rand::random()),
    };
    let actor = &mut body.actor;
    for text in [&mut actor.user, &mut actor.email, &mut actor.token_id]
        .into_iter()
        .flatten()
    {
        scrubber.text(text, Only::Secrets);
    }
    for text in [
        &mut actor.client,
        &mut actor.client_version,
        &mut actor.address,
    ]
    .into_iter()
    .flatten()
    {
        scrubber.text(text, Only::All);
    }
    scrubber.text(&mut body.action, Only::All);
    let resources = &mut body.resources;
    for list in [
        &mut resources.repos,
        &mut resources.commits,
        &mut resources.paths,
        &mut resources.symbols,
    ] {
        for text in list.iter_mut() {
            scrubber.text(text, Only::All);
        }
    }
    for text in &mut resources.objects {
        scrubber.text(text, Only::Secrets);
    }
    for text in [&mut body.decision.rule, &mut body.decision.reason]
        .into_iter()
        .flatten()
    {
        scrubber.text(text, Only::All);
    }
    scrubber.text(&mut body.policy_version, Only::All);
    for map in [&mut body.disclosed, &mut body.redactions] {
        if map.keys().any(|k| scrubber.finds(k, Only::All)) {
            let entries = std::mem::take(map);
            for (mut key, value) in entries {
                scrubber.text(&mut key, Only::All);
                *map.entry(key).or_insert(0) += value;
            }
        }
    }
    if let Some(egress) = &mut body.egress {
        for text in [&mut egress.vendor, &mut egress.model, &mut egress.region] {
            scrubber.text(text, Only::All);
        }
        for text in &mut egress.repos {
            scrubber.text(text, Only::All);
        }
    }
    if let Some(text) = &mut body.content_ref {
        scrubber.text(text, Only::All);
    }
    scrubber.value(&mut body.details, Only::All);
}

/// Which findings to take out of a string.
#[derive(Clone, Copy, PartialEq)]
enum Only {
    /// Every rule: free text.
    All,
    /// Secrets only: a field that names a person or object.
    Secrets,
}

struct Scrubber<'d> {
    redactor: Redactor<'d>,
}

impl Scrubber<'_> {
    fn findings(&self, text: &str, only: Only) -> Vec<moat_dlp::Finding> {
        let mut findings = self.redactor.detector().scan(text);
        if only == Only::Secrets {
            findings.retain(|f| f.kind == Kind::Secret);
        }
        findings
    }

    fn finds(&self, text: &str, only: Only) -> bool {
        !self.findings(text, only).is_empty()
    }

    fn text(&mut self, text: &mut String, only: Only) {
        let findings = self.findings(text, only);
        if !findings.is_empty() {
            *text = self.redactor.apply_keeping_lines(text, &findings).text;
        }
    }

    fn value(&mut self, value: &mut Value, only: Only) {
        match value {
            Value::String(text) => self.text(text, only),
            // A card number sent as a JSON number is a card number.
            Value::Number(number) => {
                let mut text = number.to_string();
                if self.finds(&text, Only::All) {
                    self.text(&mut text, Only::All);
                    *value = Value::String(text);
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.value(item, only);
                }
            }
            Value::Object(fields) => {
                let entries = std::mem::take(fields);
                for (mut key, mut item) in entries {
                    self.text(&mut key, Only::All);
                    let only = if IDENTITY_KEYS.contains(&key.as_str()) {
                        Only::Secrets
                    } else {
                        only
                    };
                    self.value(&mut item, only);
                    fields.insert(key, item);
                }
            }
            Value::Bool(_) | Value::Null => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_audit::event::{Actor, Decision, Outcome, Resources};
    use serde_json::json;

    const KEY: &str = "AKIAQ3EGRBJXZ7KLMN4P";
    const CARD: &str = "4111111111111111";
    const SSN: &str = "536-22-8173";

    fn event(details: Value) -> EventBody {
        EventBody {
            actor: Actor {
                user: Some("usr_1".into()),
                email: Some("dev@acme-health.io".into()),
                client: Some(format!("client {KEY}")),
                ..Actor::default()
            },
            action: "mcp.call".into(),
            resources: Resources {
                paths: vec![format!("src/{KEY}.rs")],
                objects: vec!["tool:search_code".into(), "dev@acme-health.io".into()],
                ..Resources::default()
            },
            decision: Decision {
                outcome: Outcome::Deny,
                rule: None,
                reason: Some(format!("no repository has `{KEY}`")),
            },
            policy_version: "p".into(),
            disclosed: Default::default(),
            redactions: Default::default(),
            egress: None,
            content_ref: None,
            details,
        }
    }

    #[test]
    fn every_recorded_string_is_scrubbed_and_people_stay_named() {
        let detector = Detector::builtin();
        let mut body = event(json!({
            "tool": "search_code",
            "arguments": {"query": format!("where is {KEY} used"), "repo": null},
            format!("patient ssn: {SSN}"): "as a key",
            "card": CARD.parse::<u64>().unwrap(),
            "nested": [{"text": format!("card number {CARD}")}],
            "request": {"email": "new.hire@acme-health.io", "note": "ssn: 536-22-8173"},
        }));
        scrub(&mut body, &detector);
        let stored = String::from_utf8(
            moat_audit::event::Event {
                seq: 0,
                time: "t".into(),
                body: body.clone(),
            }
            .canonical_bytes(),
        )
        .unwrap();
        for secret in [KEY, CARD, SSN, "4111 1111"] {
            assert!(!stored.contains(secret), "{secret} stored: {stored}");
        }
        assert!(stored.contains("[REDACTED:aws-access-key-id:"), "{stored}");
        assert!(stored.contains("[REDACTED:payment-card:"), "{stored}");
        assert!(stored.contains("[REDACTED:us-ssn:"), "{stored}");
        // Who acted and whom the change concerned are still named.
        assert_eq!(body.actor.email.as_deref(), Some("dev@acme-health.io"));
        assert!(
            body.resources
                .objects
                .contains(&"dev@acme-health.io".to_string())
        );
        assert_eq!(body.details["request"]["email"], "new.hire@acme-health.io");
        assert_eq!(body.details["tool"], "search_code");
    }

    #[test]
    fn a_secret_in_an_identity_field_is_still_taken_out() {
        let detector = Detector::builtin();
        let mut body = event(json!({"request": {"email": format!("{KEY}@x.io")}}));
        body.actor.user = Some(KEY.into());
        scrub(&mut body, &detector);
        assert!(!body.actor.user.as_deref().unwrap().contains(KEY));
        assert!(!body.details.to_string().contains(KEY));
    }
}

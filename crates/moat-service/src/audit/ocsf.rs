//! Audit events as OCSF 1.5.0 events, for SIEMs that normalise on OCSF: each Moat event
//! maps to the class that fits (README "Forwarding the audit log" has the table), with
//! the whole Moat event under `unmapped.moat` (its `seq` and `leaf_hash` included), so
//! nothing is lost and each line can still be checked against the log.

use moat_audit::event::{Event, Outcome};
use serde_json::{Value, json};

pub const OCSF_VERSION: &str = "1.5.0";

/// An OCSF class, its category and the names OCSF gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    ApiActivity,
    DatastoreActivity,
    AccountChange,
    Authentication,
    AuthorizeSession,
    DetectionFinding,
}

impl Class {
    fn uid(self) -> u64 {
        match self {
            Class::ApiActivity => 6003,
            Class::DatastoreActivity => 6005,
            Class::AccountChange => 3001,
            Class::Authentication => 3002,
            Class::AuthorizeSession => 3003,
            Class::DetectionFinding => 2004,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Class::ApiActivity => "API Activity",
            Class::DatastoreActivity => "Datastore Activity",
            Class::AccountChange => "Account Change",
            Class::Authentication => "Authentication",
            Class::AuthorizeSession => "Authorize Session",
            Class::DetectionFinding => "Detection Finding",
        }
    }

    fn category(self) -> (u64, &'static str) {
        match self {
            Class::ApiActivity | Class::DatastoreActivity => (6, "Application Activity"),
            Class::AccountChange | Class::Authentication | Class::AuthorizeSession => {
                (3, "Identity & Access Management")
            }
            Class::DetectionFinding => (2, "Findings"),
        }
    }
}

/// Which class and activity an event is: `(class, activity_id, activity name)`.
pub fn classify(event: &Event) -> (Class, u64, &'static str) {
    let body = &event.body;
    let detail = |key: &str| body.details[key].as_str().unwrap_or_default();
    let denied = body.decision.outcome == Outcome::Deny;
    match body.action.as_str() {
        "auth.refused" => (Class::Authentication, 1, "Logon"),
        // Detection's alerts are findings by definition.
        action if action.starts_with("alert.") => (Class::DetectionFinding, 1, "Create"),
        // A refusal Moat decided by a rule is a finding to look at.
        _ if denied && body.decision.rule.is_some() => (Class::DetectionFinding, 1, "Create"),
        "mcp.call" | "search" => match detail("tool") {
            "list_repositories" => (Class::DatastoreActivity, 8, "List"),
            "search_code" | "find_references" | "" => (Class::DatastoreActivity, 4, "Query"),
            _ => (Class::DatastoreActivity, 1, "Read"),
        },
        "admin.read" => (Class::ApiActivity, 2, "Read"),
        "admin.change" => {
            let operation = detail("operation");
            match operation.rsplit('.').next().unwrap_or_default() {
                _ if operation.starts_with("config.") => (Class::ApiActivity, 3, "Update"),
                _ if operation.starts_with("token.") || operation.starts_with("grant.") => {
                    (Class::AuthorizeSession, 99, "Other")
                }
                "add" | "create" => (Class::AccountChange, 1, "Create"),
                "reactivate" => (Class::AccountChange, 2, "Enable"),
                "suspend" => (Class::AccountChange, 5, "Disable"),
                "deprovision" | "delete" => (Class::AccountChange, 6, "Delete"),
                _ => (Class::AccountChange, 99, "Other"),
            }
        }
        "access.mirror" | "access.link" => match (
            body.details["before"].is_null(),
            body.details["after"].is_null(),
        ) {
            (true, false) => (Class::AccountChange, 7, "Attach Policy"),
            (false, true) => (Class::AccountChange, 8, "Detach Policy"),
            _ => (Class::AccountChange, 99, "Other"),
        },
        action if action.starts_with("oauth.") => (Class::AuthorizeSession, 99, "Other"),
        action if action.starts_with("gateway.") => (Class::ApiActivity, 1, "Create"),
        _ => (Class::ApiActivity, 99, "Other"),
    }
}

/// The OCSF event for a Moat event; `flat` is the event as exported (with `leaf_hash`).
pub fn to_ocsf(event: &Event, flat: &Value) -> Value {
    let body = &event.body;
    let (class, activity_id, activity_name) = classify(event);
    let (category_uid, category_name) = class.category();
    let denied = body.decision.outcome == Outcome::Deny;
    let alert = body.action.starts_with("alert.");
    let (severity_id, severity) = match (alert, denied) {
        (true, _) => (4, "High"),
        (false, true) => (3, "Medium"),
        (false, false) => (1, "Informational"),
    };
    let time =
        time::OffsetDateTime::parse(&event.time, &time::format_description::well_known::Rfc3339)
            .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
            .unwrap_or(0);
    let user = {
        let mut user = serde_json::Map::new();
        if let Some(id) = &body.actor.user {
            user.insert("uid".into(), json!(id));
        }
        if let Some(email) = &body.actor.email {
            user.insert("email_addr".into(), json!(email));
            user.insert("name".into(), json!(email));
        }
        if let Some(token) = &body.actor.token_id {
            user.insert("credential_uid".into(), json!(token));
        }
        Value::Object(user)
    };
    let mut actor = json!({ "user": user });
    if let Some(client) = &body.actor.client {
        actor["app_name"] = json!(client);
    }
    let mut src_endpoint = json!({});
    if let Some(address) = &body.actor.address {
        src_endpoint["ip"] = json!(address);
    }
    let what: Vec<&str> = body
        .resources
        .repos
        .iter()
        .chain(&body.resources.objects)
        .map(String::as_str)
        .collect();
    let message = match &body.decision.reason {
        Some(reason) => format!("{}: {reason}", body.action),
        None if what.is_empty() => body.action.clone(),
        None => format!("{} {}", body.action, what.join(" ")),
    };
    let mut out = json!({
        "class_uid": class.uid(),
        "class_name": class.name(),
        "category_uid": category_uid,
        "category_name": category_name,
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": class.uid() * 100 + activity_id,
        "time": time,
        "severity_id": severity_id,
        "severity": severity,
        "status_id": if denied { 2 } else { 1 },
        "status": if denied { "Failure" } else { "Success" },
        "message": message,
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "Moat", "vendor_name": "Moat", "version": env!("CARGO_PKG_VERSION")},
            "uid": event.seq.to_string(),
            "log_name": "moat-audit",
            "original_time": event.time,
        },
        "actor": actor,
        "src_endpoint": src_endpoint,
        "unmapped": {"moat": flat},
    });
    if let Some(reason) = &body.decision.reason {
        out["status_detail"] = json!(reason);
    }
    match class {
        Class::ApiActivity => {
            out["api"] = json!({"operation": detail_or(event, "operation", &body.action)});
        }
        Class::DatastoreActivity => {
            out["api"] = json!({"operation": detail_or(event, "tool", &body.action)});
        }
        Class::AccountChange | Class::AuthorizeSession => {
            // The account changed is the object of the change, not who changed it.
            let subject = body.details["after"]["email"]
                .as_str()
                .or_else(|| body.details["before"]["email"].as_str())
                .or_else(|| body.details["email"].as_str());
            let mut changed = json!({});
            if let Some(object) = body.resources.objects.first() {
                changed["uid"] = json!(object);
            }
            if let Some(email) = subject {
                changed["email_addr"] = json!(email);
                changed["name"] = json!(email);
            }
            out["user"] = changed;
        }
        Class::Authentication => {
            out["user"] = out["actor"]["user"].clone();
            if let Some(count) = body.details["count"].as_u64() {
                out["count"] = json!(count);
            }
            out["auth_protocol"] = json!("OAuth 2.0");
        }
        Class::DetectionFinding => {
            out["finding_info"] = json!({
                "uid": format!("moat-{}", event.seq),
                "title": message,
                "types": [body.action],
                "analytic": {"name": body.decision.rule, "type_id": 1, "type": "Rule"},
            });
            // An alert's triggering events, by the `metadata.uid` their own OCSF
            // form carries.
            if let Some(seqs) = body.details["seqs"].as_array() {
                out["finding_info"]["related_events"] = seqs
                    .iter()
                    .filter_map(Value::as_u64)
                    .map(|seq| json!({"uid": seq.to_string()}))
                    .collect();
            }
        }
    }
    out
}

fn detail_or(event: &Event, key: &str, fallback: &str) -> String {
    event.body.details[key]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or(fallback)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_audit::event::{Actor, Decision, EventBody, Resources};

    fn event(action: &str, outcome: Outcome, rule: Option<&str>, details: Value) -> Event {
        Event {
            seq: 7,
            time: "2026-12-04T12:00:00.250Z".into(),
            body: EventBody {
                actor: Actor {
                    user: Some("usr_1".into()),
                    email: Some("ada@example.com".into()),
                    address: Some("10.0.0.9".into()),
                    ..Actor::default()
                },
                action: action.into(),
                resources: Resources {
                    objects: vec!["usr_2".into()],
                    ..Resources::default()
                },
                decision: Decision {
                    outcome,
                    rule: rule.map(String::from),
                    reason: None,
                },
                policy_version: "sha256:x".into(),
                disclosed: Default::default(),
                redactions: Default::default(),
                egress: None,
                content_ref: None,
                details,
            },
        }
    }

    #[test]
    fn each_kind_of_event_maps_to_the_class_that_fits() {
        let allow = Outcome::Allow;
        let cases = [
            (
                event("mcp.call", allow, Some("r"), json!({"tool": "search_code"})),
                6005,
                4,
            ),
            (
                event("mcp.call", allow, Some("r"), json!({"tool": "read_source"})),
                6005,
                1,
            ),
            (
                event(
                    "mcp.call",
                    allow,
                    None,
                    json!({"tool": "list_repositories"}),
                ),
                6005,
                8,
            ),
            (
                event("access.denied", Outcome::Deny, Some("access"), json!({})),
                2004,
                1,
            ),
            (
                event(
                    "auth.refused",
                    Outcome::Deny,
                    Some("authentication"),
                    json!({"count": 3}),
                ),
                3002,
                1,
            ),
            (event("admin.read", allow, None, Value::Null), 6003, 2),
            (
                event(
                    "admin.change",
                    allow,
                    None,
                    json!({"operation": "user.suspend"}),
                ),
                3001,
                5,
            ),
            (
                event(
                    "admin.change",
                    allow,
                    None,
                    json!({"operation": "scim.user.create"}),
                ),
                3001,
                1,
            ),
            (
                event(
                    "admin.change",
                    allow,
                    None,
                    json!({"operation": "token.issue"}),
                ),
                3003,
                99,
            ),
            (
                event(
                    "admin.change",
                    allow,
                    None,
                    json!({"operation": "config.load"}),
                ),
                6003,
                3,
            ),
            (
                event(
                    "access.mirror",
                    allow,
                    None,
                    json!({"before": null, "after": "read"}),
                ),
                3001,
                7,
            ),
            (event("gateway.request", allow, None, json!({})), 6003, 1),
        ];
        for (event, class_uid, activity_id) in cases {
            let ocsf = to_ocsf(&event, &json!({"seq": 7}));
            let what = format!("{} {}", event.body.action, event.body.details);
            assert_eq!(ocsf["class_uid"], class_uid, "{what}");
            assert_eq!(ocsf["activity_id"], activity_id, "{what}");
            assert_eq!(ocsf["type_uid"], class_uid * 100 + activity_id, "{what}");
            assert_eq!(ocsf["time"], 1_796_385_600_250_i64, "{what}");
            assert_eq!(ocsf["metadata"]["version"], OCSF_VERSION);
            assert_eq!(ocsf["unmapped"]["moat"]["seq"], 7);
        }
    }

    #[test]
    fn a_refusal_is_a_failure_and_a_finding_names_its_rule() {
        let denied = event(
            "access.denied",
            Outcome::Deny,
            Some("tier-restricted"),
            json!({}),
        );
        let ocsf = to_ocsf(&denied, &json!({}));
        assert_eq!(
            (ocsf["status_id"].clone(), ocsf["severity_id"].clone()),
            (json!(2), json!(3))
        );
        assert_eq!(ocsf["finding_info"]["analytic"]["name"], "tier-restricted");
        assert_eq!(ocsf["finding_info"]["uid"], "moat-7");
        assert_eq!(ocsf["src_endpoint"]["ip"], "10.0.0.9");
    }

    #[test]
    fn an_alert_is_a_high_severity_finding_naming_the_events_that_raised_it() {
        let alert = event(
            "alert.enumeration",
            Outcome::Allow,
            Some("detect.enumeration"),
            json!({"rule": "enumeration", "seqs": [3, 4, 5]}),
        );
        let ocsf = to_ocsf(&alert, &json!({}));
        assert_eq!(
            (ocsf["class_uid"].clone(), ocsf["type_uid"].clone()),
            (json!(2004), json!(200401))
        );
        assert_eq!(ocsf["severity_id"], 4);
        assert_eq!(
            ocsf["finding_info"]["analytic"]["name"],
            "detect.enumeration"
        );
        assert_eq!(
            ocsf["finding_info"]["related_events"],
            json!([{"uid": "3"}, {"uid": "4"}, {"uid": "5"}])
        );
    }
}

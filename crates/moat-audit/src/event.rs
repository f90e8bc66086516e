//! One line of the audit log, with the fields SPEC.md fixes, and its canonical bytes.
//!
//! The stored form of an event *is* its RFC 8785 (JCS) canonical JSON; the leaf hash is
//! computed over exactly those bytes, so an extract can be re-hashed by anyone with a
//! JCS implementation and SHA-256.

use crate::merkle::{Hash, leaf_hash};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Who acted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// `cli`, `api`, or the MCP client name from `initialize`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// What the action touched or returned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repos: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub symbols: Vec<String>,
    /// Users, tokens and other objects an admin change touched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<String>,
}

impl Resources {
    pub fn is_empty(&self) -> bool {
        self == &Resources::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Allow,
    Deny,
}

/// The decision and the rule that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Code context that left towards a model vendor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Egress {
    pub vendor: String,
    pub model: String,
    pub region: String,
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repos: Vec<String>,
}

/// Everything about an event that its author supplies; the log adds `seq` and `time`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventBody {
    pub actor: Actor,
    /// `mcp.call`, `gateway.request`, `admin.change`, `auth.*`, `scim.*`, `access.denied`, ...
    pub action: String,
    #[serde(default, skip_serializing_if = "Resources::is_empty")]
    pub resources: Resources,
    pub decision: Decision,
    pub policy_version: String,
    /// Bytes of code context disclosed, by tier.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub disclosed: BTreeMap<String, u64>,
    /// Redactions applied, by kind.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub redactions: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Egress>,
    /// SHA-256 of stored request/response bodies, which retention may delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_ref: Option<String>,
    /// Action-specific detail, e.g. `before`/`after` of an admin change.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the log, from 0; also the leaf index in the Merkle tree.
    pub seq: u64,
    /// RFC 3339, UTC, milliseconds.
    pub time: String,
    #[serde(flatten)]
    pub body: EventBody,
}

impl Event {
    /// The RFC 8785 canonical JSON that is stored and hashed.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // Serialising plain data with string keys cannot fail.
        serde_json_canonicalizer::to_vec(self).unwrap_or_default()
    }

    pub fn from_canonical(bytes: &[u8]) -> Result<Event, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// The RFC 8785 canonical form of any JSON value: an event read back from an export
/// (as an object, without the fields the export adds) gives the bytes that were hashed.
pub fn canonical_json(value: &serde_json::Value) -> Vec<u8> {
    serde_json_canonicalizer::to_vec(value).unwrap_or_default()
}

/// The leaf hash of stored canonical bytes.
pub fn event_leaf_hash(canonical: &[u8]) -> Hash {
    leaf_hash(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(seq: u64) -> Event {
        Event {
            seq,
            time: "2026-11-23T12:00:00.000Z".into(),
            body: EventBody {
                actor: Actor {
                    user: Some("usr_1".into()),
                    client: Some("cli".into()),
                    ..Actor::default()
                },
                action: "admin.change".into(),
                resources: Resources {
                    objects: vec!["usr_2".into()],
                    ..Resources::default()
                },
                decision: Decision {
                    outcome: Outcome::Allow,
                    rule: Some("role:admin".into()),
                    reason: None,
                },
                policy_version: "sha256:abc".into(),
                disclosed: BTreeMap::new(),
                redactions: BTreeMap::from([("aws-access-key".into(), 1)]),
                egress: None,
                content_ref: None,
                details: serde_json::json!({"zeta": 1, "alpha": "\u{e9}\n", "émoji": "😀"}),
            },
        }
    }

    #[test]
    fn canonical_bytes_are_rfc_8785_and_round_trip() {
        let event = sample(7);
        let bytes = event.canonical_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"action":"admin.change","actor":{"client":"cli","user":"usr_1"}"#),
            "{text}"
        );
        assert!(
            text.contains(r#""details":{"alpha":"é\n","zeta":1,"émoji":"😀"}"#),
            "{text}"
        );
        assert!(
            !text.contains("\": ") && !text.contains(", \""),
            "no insignificant whitespace: {text}"
        );
        assert_eq!(Event::from_canonical(&bytes).unwrap(), event);
        assert_eq!(
            serde_json_canonicalizer::to_vec(
                &serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
            )
            .unwrap(),
            bytes,
            "canonicalising the canonical form changes nothing"
        );
    }
}

//! Responses a vendor keeps (`store: true` through the Responses API) belong to the
//! person they were kept for: only they continue one (`previous_response_id`) or cite
//! its items (`item_reference`, or a reasoning item by its `id` alone, which the
//! vendor looks up in what it keeps). Whoever else holds an id — from a shared log, a screenshot, a
//! colleague's terminal — is refused before anything is sent, and so is an id Moat
//! never saw kept (kept before this gateway recorded it, a file uploaded to the vendor
//! some other way): fail closed.

use super::{Gateway, Refusal, RefusalKind};
use crate::identity::Principal;
use serde_json::Value;

impl Gateway {
    /// Records that the vendor keeps `ids` (a response and its output items) for
    /// `principal`.
    pub async fn keep_responses(&self, principal: &Principal, ids: &[String]) {
        if ids.is_empty() {
            return;
        }
        let at = self.access.now();
        if let Err(error) = self
            .access
            .store()
            .gateway_kept_put(ids, &principal.user.id.0, at)
            .await
        {
            // Unrecorded, the response cannot be continued (refused, not leaked).
            tracing::warn!(%error, "gateway: a kept response's owner could not be recorded");
        }
    }

    /// Whether `principal` may continue or cite each of `ids`.
    pub async fn may_continue(&self, principal: &Principal, ids: &[String]) -> Result<(), Refusal> {
        if ids.len() > MAX_CITED {
            return Err(Refusal::new(
                RefusalKind::KeptForAnother,
                format!(
                    "the request cites {} items kept at the vendor, more than the {MAX_CITED} one request may; send the conversation itself instead",
                    ids.len()
                ),
            ));
        }
        for id in ids {
            let owner = self
                .access
                .store()
                .gateway_kept_owner(id)
                .await
                .map_err(|error| {
                    tracing::error!(%error, "gateway: kept responses cannot be read");
                    Refusal::new(
                        RefusalKind::Unavailable,
                        "whom a kept response belongs to cannot be read right now; retry shortly",
                    )
                })?;
            if owner.as_deref() != Some(principal.user.id.0.as_str()) {
                return Err(Refusal::new(
                    RefusalKind::KeptForAnother,
                    format!(
                        "`{id}` was not kept for you through this gateway: only the person a response was kept for may continue it or cite its items; send the conversation itself instead"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The most distinct kept responses, items and files one request may cite.
const MAX_CITED: usize = 256;

/// The kept responses, items and files a Responses API request continues or cites,
/// each once: `previous_response_id`, an `item_reference`'s id, a reasoning item's id
/// when it brings no `encrypted_content` (the vendor would load it from what it keeps),
/// an approval's request, and content parts' `file_id`. Items that bring their content
/// (a client's own message ids, as Codex CLI numbers its turns) are sent as they are.
pub fn continued(body: &Value) -> Vec<String> {
    let mut ids: Vec<String> = body["previous_response_id"]
        .as_str()
        .map(String::from)
        .into_iter()
        .collect();
    for item in body["input"].as_array().into_iter().flatten() {
        let loaded = match item["type"].as_str() {
            Some("item_reference") => true,
            Some("reasoning") => item["encrypted_content"].as_str().is_none(),
            _ => false,
        };
        if loaded {
            ids.extend(item["id"].as_str().map(String::from));
        }
        ids.extend(item["approval_request_id"].as_str().map(String::from));
        for part in item["content"].as_array().into_iter().flatten() {
            ids.extend(part["file_id"].as_str().map(String::from));
        }
    }
    ids.sort();
    ids.dedup();
    ids
}

/// The ids a response kept at the vendor answers to: its own and its output items'.
pub fn kept_ids(response: &Value) -> Vec<String> {
    response["id"]
        .as_str()
        .map(String::from)
        .into_iter()
        .chain(
            response["output"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|item| item["id"].as_str().map(String::from)),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_a_request_would_have_the_vendor_load_is_what_is_checked() {
        let body = json!({
            "previous_response_id": "resp_1",
            "input": [
                {"type": "item_reference", "id": "msg_2"},
                {"type": "item_reference", "id": "msg_2"},
                {"type": "reasoning", "id": "rs_3", "summary": []},
                {"type": "reasoning", "id": "rs_own", "summary": [], "encrypted_content": "gAAA"},
                {"type": "message", "role": "user", "id": "msg_client", "content": [
                    {"type": "input_text", "text": "x"},
                    {"type": "input_file", "file_id": "file-4"},
                    {"type": "input_image", "file_id": "file-5"},
                ]},
                {"type": "mcp_approval_response", "approval_request_id": "mcpr_6", "approve": true},
            ],
        });
        assert_eq!(
            continued(&body),
            ["file-4", "file-5", "mcpr_6", "msg_2", "resp_1", "rs_3"]
        );
        assert!(continued(&json!({"input": "just text"})).is_empty());
    }

    #[test]
    fn a_kept_response_answers_to_its_id_and_its_items() {
        let response =
            json!({"id": "resp_1", "output": [{"id": "rs_1"}, {"id": "msg_1"}, {"type": "x"}]});
        assert_eq!(kept_ids(&response), ["resp_1", "rs_1", "msg_1"]);
        assert!(kept_ids(&json!(null)).is_empty());
    }
}

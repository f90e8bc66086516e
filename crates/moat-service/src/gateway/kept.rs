//! Responses a vendor keeps (`store: true` through the Responses API) belong to the
//! person they were kept for: only they continue one (`previous_response_id`) or cite
//! its items (`item_reference`). Whoever else holds an id — from a shared log, a
//! screenshot, a colleague's terminal — is refused before anything is sent, and so is
//! an id Moat never saw kept (kept before this gateway recorded it, or through another
//! way to the vendor): fail closed.

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
                    RefusalKind::Forbidden,
                    format!(
                        "`{id}` was not kept for you through this gateway: only the person a response was kept for may continue it or cite its items; send the conversation itself instead"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The kept responses and items a Responses API request continues or cites.
pub fn continued(body: &Value) -> Vec<String> {
    let mut ids: Vec<String> = body["previous_response_id"]
        .as_str()
        .map(String::from)
        .into_iter()
        .collect();
    ids.extend(
        body["input"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|item| item["type"] == "item_reference")
            .filter_map(|item| item["id"].as_str().map(String::from)),
    );
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

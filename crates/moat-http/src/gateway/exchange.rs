//! One model request as it goes, and its place on the record. Before the first byte
//! goes to a vendor, [`Exchange::requested`] makes a `gateway.requested` event durable
//! (no event, no send). The outcome follows from [`Exchange::finish`] — or, if the
//! request is dropped before that (the client went away, the deadline passed), from
//! the exchange's `Drop`: a guard, so a vendor that received a request always has an
//! outcome beside it on the record.

use super::GatewayContext;
use super::wire::WireError;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use moat_service::Principal;
use moat_service::gateway::{BudgetHold, Refusal, RequestRecord, Route, UserSlot, WireFormat};
use std::sync::Arc;
use std::time::Instant;

/// What is known of a request as it goes, for its audit events.
pub(super) struct Exchange {
    pub context: Arc<GatewayContext>,
    pub principal: Principal,
    pub format: WireFormat,
    pub path: &'static str,
    /// The path at the vendor: the client's, or the other format's when translating.
    pub vendor_path: &'static str,
    pub started: Instant,
    pub record: RequestRecord,
    /// The body as sent to the vendor (redacted, pinned model).
    pub sent: Bytes,
    /// Tokens held against the caller's day budgets until the outcome settles them.
    pub budget: Option<BudgetHold>,
    /// The host of a vendor with replicas this request is counted at, until it ends.
    pub replica: Option<moat_service::gateway::replicas::InFlight>,
    /// The vendor keeps this response (`store: true`): its ids and its items', recorded
    /// as the caller's when the outcome is ([`moat_service::gateway::kept`]).
    pub kept: Option<Vec<String>>,
    /// Whether the outcome is on the record (or being put there).
    finished: bool,
    /// Held until the exchange ends (after the stream, for streams).
    _user_slot: Option<UserSlot>,
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Exchange {
    pub fn new(
        context: Arc<GatewayContext>,
        principal: Principal,
        format: WireFormat,
        path: &'static str,
        started: Instant,
        record: RequestRecord,
    ) -> Exchange {
        Exchange {
            context,
            principal,
            format,
            path,
            vendor_path: path,
            started,
            record,
            sent: Bytes::new(),
            budget: None,
            replica: None,
            kept: None,
            finished: false,
            _user_slot: None,
            _permit: None,
        }
    }

    pub fn hold(&mut self, slot: UserSlot, permit: tokio::sync::OwnedSemaphorePermit) {
        self._user_slot = Some(slot);
        self._permit = Some(permit);
    }

    /// Puts "about to send to `route`" on the record, durably; an error is the answer
    /// to give instead of sending (503: nothing left).
    pub async fn requested(&mut self, route: &Route) -> Result<(), WireError> {
        match self
            .context
            .gateway
            .record_requested(&self.principal, &self.record, route)
            .await
        {
            Ok(seq) => {
                self.record.requested.push(seq);
                Ok(())
            }
            Err(error) => {
                tracing::error!(%error, "gateway: the request could not be recorded; nothing sent");
                Err(WireError::new(
                    self.format,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "audit_unavailable",
                    "the request could not be recorded in the audit log, so nothing was sent to the vendor; retry shortly",
                ))
            }
        }
    }

    /// What to keep by reference from the audit event, when bodies are kept:
    /// `{"request": <as sent>, "response": <as answered>}`, both already JSON.
    pub fn keep_body(&mut self, response: &[u8]) {
        if !self.context.gateway.settings().keep_bodies {
            return;
        }
        let mut body = Vec::with_capacity(self.sent.len() + response.len() + 32);
        body.extend_from_slice(b"{\"request\":");
        body.extend_from_slice(if self.sent.is_empty() {
            b"null"
        } else {
            &self.sent
        });
        body.extend_from_slice(b",\"response\":");
        body.extend_from_slice(response);
        body.push(b'}');
        self.record.body = Some(body);
    }

    /// Records the outcome and answers `error`.
    pub async fn refuse(mut self, error: WireError, refusal: Option<Refusal>) -> Response {
        self.record.status = error.status.as_u16();
        self.record.refusal = refusal;
        if self.record.error.is_none() && self.record.refusal.is_none() {
            self.record.error = Some(error.message.clone());
        }
        // A refusal is answered even when it could not be recorded (finish logs that):
        // nothing more was disclosed.
        let _ = self.finish().await;
        error.into_response()
    }

    /// Records the outcome; its sequence number once durable.
    pub async fn finish(mut self) -> Result<u64, moat_service::AuditError> {
        self.finished = true;
        let mut record = std::mem::take(&mut self.record);
        record.latency = self.started.elapsed();
        if record.tokens_in + record.tokens_out == 0
            && record.error.is_none()
            && (200..300).contains(&record.status)
        {
            // A vendor that reported no usage is still counted: estimated from bytes
            // (about four per token), so no answer bypasses the token budget.
            record.tokens_in = (record.bytes_sent as usize).div_ceil(4) as u64;
            record.tokens_out = record.answer_text.len().div_ceil(4) as u64;
        }
        let gateway = &self.context.gateway;
        if let Some(mut ids) = self.kept.take() {
            ids.sort();
            ids.dedup();
            gateway.keep_responses(&self.principal, &ids).await;
        }
        if let Some(hold) = self.budget.take() {
            gateway
                .settle(hold, record.tokens_in + record.tokens_out)
                .await;
        }
        let result = gateway.record(Some(&self.principal), record).await;
        if let Err(error) = &result {
            tracing::error!(%error, "gateway: the audit event could not be recorded");
        }
        result
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let hold = self.budget.take();
        if self.finished || self.record.requested.is_empty() {
            // Nothing went to a vendor: nothing was spent.
            if let Some(hold) = hold {
                let gateway = self.context.gateway.clone();
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(async move { gateway.settle(hold, 0).await });
                }
            }
            return;
        }
        // A vendor may have received this request and no outcome was recorded: the
        // client went away (or the deadline passed) while we waited for the vendor.
        let mut record = std::mem::take(&mut self.record);
        let elapsed = self.started.elapsed();
        record.latency = elapsed;
        record.aborted = true;
        record.status = 499;
        record.error = Some(
            if elapsed >= self.context.gateway.settings().request_deadline {
                "the request deadline passed before the vendor's answer was complete"
            } else {
                "the client went away before the vendor's answer was complete"
            }
            .to_string(),
        );
        let gateway = self.context.gateway.clone();
        let principal = self.principal.clone();
        // What the vendor was seen keeping before the end is still the caller's.
        let kept = self.kept.take().filter(|ids| !ids.is_empty());
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Some(ids) = kept {
                        gateway.keep_responses(&principal, &ids).await;
                    }
                    // The vendor may have spent all it was allowed: the hold stays spent.
                    if let Some(hold) = hold {
                        let held = hold.tokens();
                        gateway.settle(hold, held).await;
                    }
                    if let Err(error) = gateway.record(Some(&principal), record).await {
                        tracing::error!(%error, "gateway: an aborted request's outcome could not be recorded");
                    }
                });
            }
            Err(_) => {
                tracing::error!(
                    "gateway: an aborted request's outcome could not be recorded (no runtime)"
                );
            }
        }
    }
}

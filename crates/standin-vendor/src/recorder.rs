//! The record of what the stand-in received, shared between the server and the test.
//!
//! A `Mutex<VecDeque>` behind an `Arc`: the lock is held only to push or copy, never across
//! an `.await`, which keeps up with thousands of requests a second. The record keeps the
//! newest [`Recorder::CAPACITY`] requests and drops the oldest beyond that.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// One request as the stand-in received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    /// HTTP method, upper case (`POST`).
    pub method: String,
    /// Path and query string as received (`/v1/messages`, `/v1/models?x=1`).
    pub path: String,
    /// Headers by lowercase name; repeated headers are joined with `", "`.
    pub headers: BTreeMap<String, String>,
    /// The body parsed as JSON, or `null` if it was empty or not JSON.
    pub body: serde_json::Value,
    /// The body as text (invalid UTF-8 replaced), exactly as sent.
    pub raw_body: String,
}

/// Cloneable handle to the shared record; every clone sees the same requests.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    requests: Mutex<VecDeque<Recorded>>,
    /// Source of the `N` in response ids such as `chatcmpl-standin-N`.
    last_response_number: AtomicU64,
    /// Responses API responses kept (`store: true`), which a later request may continue.
    stored: Mutex<std::collections::HashSet<String>>,
}

impl Recorder {
    /// How many requests are kept; older ones are dropped first.
    pub const CAPACITY: usize = 10_000;

    /// An empty record.
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// Appends `request`, dropping the oldest entry when the record is full.
    pub fn record(&self, request: Recorded) {
        let mut requests = self.lock();
        if requests.len() >= Self::CAPACITY {
            requests.pop_front();
        }
        requests.push_back(request);
    }

    /// A copy of every request kept, oldest first.
    pub fn snapshot(&self) -> Vec<Recorded> {
        self.lock().iter().cloned().collect()
    }

    /// Forgets every request kept so far.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// A number unique to this recorder, starting at 1, for response ids.
    pub(crate) fn next_response_number(&self) -> u64 {
        self.shared
            .last_response_number
            .fetch_add(1, Ordering::Relaxed)
            + 1
    }

    /// Keeps a Responses API response's id, as a vendor storing it would.
    pub(crate) fn store_response(&self, id: &str) {
        let mut stored = self
            .shared
            .stored
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if stored.len() < Self::CAPACITY {
            stored.insert(id.to_owned());
        }
    }

    /// Whether a response with this id was kept.
    pub(crate) fn is_stored(&self, id: &str) -> bool {
        self.shared
            .stored
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(id)
    }

    /// The record, even if a thread panicked while holding it: a `VecDeque` of owned
    /// values cannot be left half-updated by push, pop or clear.
    fn lock(&self) -> MutexGuard<'_, VecDeque<Recorded>> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(number: usize) -> Recorded {
        Recorded {
            method: "POST".to_owned(),
            path: format!("/{number}"),
            headers: BTreeMap::new(),
            body: serde_json::Value::Null,
            raw_body: String::new(),
        }
    }

    #[test]
    fn keeps_requests_in_order_and_clears() {
        let recorder = Recorder::new();
        let clone = recorder.clone();
        recorder.record(request(1));
        clone.record(request(2));
        let paths: Vec<String> = recorder.snapshot().into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/1", "/2"]);
        clone.clear();
        assert!(recorder.snapshot().is_empty());
    }

    #[test]
    fn drops_the_oldest_beyond_capacity() {
        let recorder = Recorder::new();
        for number in 0..Recorder::CAPACITY + 5 {
            recorder.record(request(number));
        }
        let kept = recorder.snapshot();
        assert_eq!(kept.len(), Recorder::CAPACITY);
        assert_eq!(kept[0].path, "/5");
        assert_eq!(
            kept[kept.len() - 1].path,
            format!("/{}", Recorder::CAPACITY + 4)
        );
    }

    #[test]
    fn response_numbers_start_at_one_and_increase() {
        let recorder = Recorder::new();
        assert_eq!(recorder.next_response_number(), 1);
        assert_eq!(recorder.clone().next_response_number(), 2);
    }
}

//! One on-premises vendor served from several hosts (vLLM, TGI or Ollama on a few GPU
//! machines): each attempt goes to the healthy host with the fewest requests in
//! progress (ties taken in turn). A health check marks hosts up or down; a connection
//! that fails marks its host down at once, so the next attempt goes elsewhere. With no
//! host marked healthy every host is tried, least loaded first: a stale check must not
//! stop a working host from answering.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

pub struct Replicas {
    hosts: Vec<Host>,
    /// Where ties start, moved on at each pick.
    next: AtomicUsize,
    /// The path a health check GETs on each host (`/v1/models` unless configured).
    pub health_path: String,
    pub health_interval: Duration,
}

struct Host {
    url: String,
    healthy: AtomicBool,
    in_flight: Arc<AtomicUsize>,
}

/// A request in progress at a host, counted until dropped.
pub struct InFlight {
    url: String,
    count: Arc<AtomicUsize>,
}

impl InFlight {
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Replicas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replicas")
            .field("hosts", &self.urls().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Replicas {
    /// Hosts start healthy: the first check comes at once, and until then requests
    /// should not be refused.
    pub fn new(urls: Vec<String>, health_path: String, health_interval: Duration) -> Replicas {
        Replicas {
            hosts: urls
                .into_iter()
                .map(|url| Host {
                    url,
                    healthy: AtomicBool::new(true),
                    in_flight: Arc::new(AtomicUsize::new(0)),
                })
                .collect(),
            next: AtomicUsize::new(0),
            health_path,
            health_interval,
        }
    }

    pub fn urls(&self) -> impl Iterator<Item = &str> {
        self.hosts.iter().map(|h| h.url.as_str())
    }

    /// The host for the next attempt, counted as busy until the guard is dropped.
    pub fn pick(&self) -> InFlight {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let any_healthy = self.hosts.iter().any(|h| h.healthy.load(Ordering::Relaxed));
        let candidates: Vec<&Host> = self
            .hosts
            .iter()
            .filter(|h| !any_healthy || h.healthy.load(Ordering::Relaxed))
            .collect();
        // Ties go in turn among the candidates, not the whole list: a host that is down
        // must not pass its turns to the one after it.
        let n = candidates.len();
        let host = (0..n)
            .map(|i| candidates[(start + i) % n])
            .min_by_key(|h| h.in_flight.load(Ordering::Relaxed))
            .unwrap_or(&self.hosts[0]);
        host.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight {
            url: host.url.clone(),
            count: host.in_flight.clone(),
        }
    }

    /// Marks `url` up or down; says whether that changed anything.
    pub fn mark(&self, url: &str, healthy: bool) -> bool {
        self.hosts
            .iter()
            .find(|h| h.url == url)
            .is_some_and(|h| h.healthy.swap(healthy, Ordering::Relaxed) != healthy)
    }

    pub fn is_healthy(&self, url: &str) -> bool {
        self.hosts
            .iter()
            .any(|h| h.url == url && h.healthy.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::Replicas;
    use std::time::Duration;

    fn three() -> Replicas {
        Replicas::new(
            vec!["http://a".into(), "http://b".into(), "http://c".into()],
            "/v1/models".into(),
            Duration::from_secs(10),
        )
    }

    #[test]
    fn the_least_loaded_healthy_host_is_picked_and_ties_are_taken_in_turn() {
        let r = three();
        let first: Vec<String> = (0..3).map(|_| r.pick().url().to_string()).collect();
        assert_eq!(first, ["http://a", "http://b", "http://c"], "idle: in turn");
        let busy_a = r.pick();
        let busy_b = r.pick();
        assert_eq!((busy_a.url(), busy_b.url()), ("http://a", "http://b"));
        assert_eq!(
            r.pick().url(),
            "http://c",
            "the one with nothing in progress"
        );
        drop(busy_a);
        let held_c = r.pick();
        assert_ne!(held_c.url(), "http://b");
    }

    #[test]
    fn a_host_marked_down_is_passed_over_until_none_is_up() {
        let r = three();
        assert!(r.mark("http://b", false));
        assert!(!r.mark("http://b", false), "no change");
        let picked: Vec<String> = (0..6).map(|_| r.pick().url().to_string()).collect();
        assert!(!picked.contains(&"http://b".to_string()), "{picked:?}");
        let to_a = picked.iter().filter(|u| *u == "http://a").count();
        assert_eq!(to_a, 3, "the others share b's turns evenly: {picked:?}");
        r.mark("http://a", false);
        r.mark("http://c", false);
        let all_down: Vec<String> = (0..3).map(|_| r.pick().url().to_string()).collect();
        assert_eq!(all_down.len(), 3);
        assert!(
            all_down.iter().any(|u| u == "http://b"),
            "every host is tried"
        );
        r.mark("http://b", true);
        assert!((0..4).all(|_| r.pick().url() == "http://b"));
    }
}

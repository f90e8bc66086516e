//! Forwarding the audit log as it becomes durable: to a SIEM over syslog (RFC 5424 over
//! TLS), to an HTTP collector (JSON or Splunk HEC) or to a file.
//!
//! Each sink has its own task and its own cursor in the store (the first sequence number
//! it has not delivered). A task reads events from its cursor in batches, delivers a
//! batch, and only then moves the cursor: delivery is at least once. A crash (of Moat or
//! of the receiver) between a delivery and its cursor write sends that batch again
//! after restart; every event carries its `seq`, by which a receiver can drop repeats.
//! A failed delivery is retried with backoff (doubling from 200 ms to 30 s) until it
//! succeeds; the sink never skips an event, so a receiver that keeps refusing shows as
//! growing lag (`moat audit sinks`, `moat_audit_sink_lag_events`), not as a gap.
//!
//! Alert sinks (`[[alerts.sinks]]`) are the same machinery reading the same log with a
//! selection: only alerts (`alert.*` and the actions of `[alerts] on`) are delivered,
//! and the cursor passes over everything else. A webhook delivers one alert per POST
//! and moves its cursor after each, so a failure re-sends at most that alert.

mod file;
mod format;
mod http;
mod syslog;
mod webhook;

pub use format::Forwarded;
pub use syslog::TlsSettings;

use crate::Clock;
use moat_store::Store;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// One configured sink, with its secrets resolved.
#[derive(Clone)]
pub struct SinkSettings {
    /// Names the cursor: renaming a sink starts it over.
    pub name: String,
    pub target: SinkTarget,
    /// Most events per delivery.
    pub batch: usize,
    /// Where a sink with no cursor yet starts.
    pub start: SinkStart,
    /// Which events it delivers.
    pub select: Select,
}

/// The events a sink delivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Select {
    /// Every event: an audit sink.
    All,
    /// Alerts: `alert.*` and these actions. Its cursor is `alert:<name>`.
    Alerts { also: Vec<String> },
}

impl Select {
    pub fn takes(&self, action: &str) -> bool {
        match self {
            Select::All => true,
            Select::Alerts { also } => {
                action.starts_with("alert.") || also.iter().any(|a| a == action)
            }
        }
    }
}

impl SinkSettings {
    /// The cursor's name in the store: an alert sink's is apart from the audit sinks'.
    pub fn cursor(&self) -> String {
        match self.select {
            Select::All => self.name.clone(),
            Select::Alerts { .. } => format!("alert:{}", self.name),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkStart {
    /// Every event in the log.
    Beginning,
    /// Events appended from now on.
    End,
}

#[derive(Clone)]
pub enum SinkTarget {
    /// RFC 5424 messages, octet-counted (RFC 6587), over TLS (RFC 5425) unless `tls` is
    /// `None` (loopback only; configuration refuses it elsewhere).
    Syslog {
        address: String,
        tls: Option<TlsSettings>,
        /// The HOSTNAME field of each message.
        hostname: String,
    },
    /// Batches POSTed to `url`.
    Http {
        url: String,
        format: HttpFormat,
        token: Option<String>,
        hostname: String,
    },
    /// JSON Lines appended to a file, synced to disk before the cursor moves: each
    /// event as exported, or its OCSF form with `ocsf`.
    File {
        path: std::path::PathBuf,
        ocsf: bool,
    },
    /// One POST per event to a chat or automation webhook.
    Webhook {
        url: String,
        format: WebhookFormat,
        token: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookFormat {
    /// A Slack incoming-webhook message (`text` and `blocks`).
    Slack,
    /// A Teams message with an Adaptive Card, as Workflows webhooks take it.
    Teams,
    /// The event as exported, one JSON object.
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpFormat {
    /// A JSON array of events.
    Json,
    /// Splunk HTTP Event Collector: one `{"time", "host", "source", "sourcetype",
    /// "event"}` object per event.
    Hec,
    /// A JSON array of OCSF events (`audit::ocsf`).
    Ocsf,
}

impl SinkTarget {
    /// Whether the sink sends events in their OCSF form.
    fn ocsf(&self) -> bool {
        matches!(
            self,
            SinkTarget::Http {
                format: HttpFormat::Ocsf,
                ..
            } | SinkTarget::File { ocsf: true, .. }
        )
    }

    pub fn kind(&self) -> &'static str {
        match self {
            SinkTarget::Syslog { .. } => "syslog",
            SinkTarget::Http { .. } => "http",
            SinkTarget::File { .. } => "file",
            SinkTarget::Webhook { .. } => "webhook",
        }
    }

    /// Whether each delivery carries one event (a chat message per alert).
    fn one_at_a_time(&self) -> bool {
        matches!(self, SinkTarget::Webhook { .. })
    }
}

/// What a sink has done, for metrics and `moat audit sinks`; updated by its task.
#[derive(Debug)]
pub struct SinkStatus {
    pub name: String,
    pub kind: &'static str,
    /// The first sequence number not yet delivered.
    next: AtomicU64,
    /// The log's size when the task last looked.
    head: AtomicU64,
    delivered: AtomicU64,
    failures: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl SinkStatus {
    fn new(name: &str, kind: &'static str) -> SinkStatus {
        SinkStatus {
            name: name.to_string(),
            kind,
            next: AtomicU64::new(0),
            head: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    /// Events durable in the log and not yet delivered.
    pub fn lag(&self) -> u64 {
        self.head
            .load(Ordering::Relaxed)
            .saturating_sub(self.next.load(Ordering::Relaxed))
    }

    pub fn next(&self) -> u64 {
        self.next.load(Ordering::Relaxed)
    }

    /// Events delivered since this process started.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Failed deliveries since this process started.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Why the last delivery failed, until one succeeds.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_error(&self, error: Option<String>) {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = error;
    }
}

/// The running sinks. Dropping it (or [`Forwarder::stop`]) stops them; a cursor is
/// only ever written after its delivery, so stopping at any point loses nothing.
pub struct Forwarder {
    statuses: Vec<Arc<SinkStatus>>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// How often a sink that has caught up looks for new events.
const POLL: Duration = Duration::from_millis(100);
const FIRST_RETRY: Duration = Duration::from_millis(200);
const LAST_RETRY: Duration = Duration::from_secs(30);

impl Forwarder {
    /// Starts one task per sink on the current runtime.
    pub fn start(
        store: Arc<dyn Store>,
        sinks: Vec<SinkSettings>,
        clock: Arc<dyn Clock>,
    ) -> Forwarder {
        let (stop, stopped) = watch::channel(false);
        let mut statuses = Vec::new();
        let mut tasks = Vec::new();
        for settings in sinks {
            let status = Arc::new(SinkStatus::new(&settings.cursor(), settings.target.kind()));
            statuses.push(status.clone());
            let run = Run {
                store: store.clone(),
                clock: clock.clone(),
                status,
                stopped: stopped.clone(),
            };
            tasks.push(tokio::spawn(run.forward(settings)));
        }
        Forwarder {
            statuses,
            stop,
            tasks,
        }
    }

    pub fn statuses(&self) -> &[Arc<SinkStatus>] {
        &self.statuses
    }

    /// Stops every sink, letting a delivery under way finish for up to `grace`.
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(grace, task).await.is_err() {
                abort.abort();
            }
        }
    }
}

struct Run {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    status: Arc<SinkStatus>,
    stopped: watch::Receiver<bool>,
}

impl Run {
    async fn forward(mut self, settings: SinkSettings) {
        let mut deliver = Delivery::new(&settings.target);
        let mut retry = FIRST_RETRY;
        let mut next = None;
        while !self.should_stop() {
            let outcome = match next {
                None => self.resume(&settings).await.map(|at| {
                    next = Some(at);
                    false
                }),
                Some(at) => self.step(&settings, &mut deliver, at).await.map(|moved| {
                    if let Some(moved) = moved {
                        next = Some(moved);
                    }
                    moved.is_some()
                }),
            };
            let pause = match outcome {
                Ok(true) => {
                    retry = FIRST_RETRY;
                    continue;
                }
                Ok(false) => POLL,
                Err(error) => {
                    self.status.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(sink = %settings.name, %error, retry_in = ?retry, "audit sink delivery failed");
                    self.status.set_error(Some(error));
                    let pause = retry;
                    retry = (retry * 2).min(LAST_RETRY);
                    pause
                }
            };
            self.wait(pause).await;
        }
    }

    /// Asked to stop, or the forwarder is gone (dropped without `stop`).
    fn should_stop(&self) -> bool {
        *self.stopped.borrow() || self.stopped.has_changed().is_err()
    }

    /// Sleeps for `pause`, waking early when asked to stop; through a long retry pause
    /// the log's size is still read every second, so the lag shown stays current.
    async fn wait(&mut self, pause: Duration) {
        let until = tokio::time::Instant::now() + pause;
        loop {
            let now = tokio::time::Instant::now();
            if now >= until || self.should_stop() {
                return;
            }
            let step = (until - now).min(Duration::from_secs(1));
            if tokio::time::timeout(step, self.stopped.changed())
                .await
                .is_ok()
            {
                return;
            }
            if let Ok(head) = self.store.audit_size().await {
                self.status.head.store(head, Ordering::Relaxed);
            }
        }
    }

    /// The stored cursor, or where a new sink starts (written down at once, so `end`
    /// means the moment the sink was first configured, not each restart).
    async fn resume(&self, settings: &SinkSettings) -> Result<u64, String> {
        let store_error = |e: moat_store::StoreError| format!("reading the sink's cursor: {e}");
        let next = match self
            .store
            .audit_sink_cursor(&settings.cursor())
            .await
            .map_err(store_error)?
        {
            Some(next) => next,
            None => {
                let start = match settings.start {
                    SinkStart::Beginning => 0,
                    SinkStart::End => self.store.audit_size().await.map_err(store_error)?,
                };
                self.store
                    .audit_sink_advance(&settings.cursor(), start, self.clock.now())
                    .await
                    .map_err(store_error)?;
                start
            }
        };
        self.status.next.store(next, Ordering::Relaxed);
        Ok(next)
    }

    /// Delivers the next batch from `next`; the new cursor, or `None` when there was
    /// nothing to deliver.
    async fn step(
        &self,
        settings: &SinkSettings,
        deliver: &mut Delivery,
        next: u64,
    ) -> Result<Option<u64>, String> {
        let head = self
            .store
            .audit_size()
            .await
            .map_err(|e| format!("reading the log's size: {e}"))?;
        self.status.head.store(head, Ordering::Relaxed);
        if next >= head {
            return Ok(None);
        }
        let leaves = self
            .store
            .audit_leaves(next, settings.batch)
            .await
            .map_err(|e| format!("reading events from {next}: {e}"))?;
        let mut events = Vec::new();
        let mut last = None;
        for leaf in &leaves {
            let event = Forwarded::from_leaf(leaf, settings.target.ocsf())?;
            last = Some(leaf.seq);
            if settings.select.takes(&event.action) {
                events.push(event);
                if settings.target.one_at_a_time() {
                    break;
                }
            }
        }
        let Some(last) = last else {
            return Ok(None);
        };
        if !events.is_empty() {
            deliver.deliver(&events).await?;
        }
        let moved = last + 1;
        self.store
            .audit_sink_advance(&settings.cursor(), moved, self.clock.now())
            .await
            .map_err(|e| format!("events {next}..={last} were delivered but the cursor could not be written ({e}); they will be sent again"))?;
        self.status.next.store(moved, Ordering::Relaxed);
        self.status
            .delivered
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        self.status.set_error(None);
        Ok(Some(moved))
    }
}

/// One sink's way of handing over a batch.
enum Delivery {
    Syslog(syslog::SyslogSink),
    Http(http::HttpSink),
    File(file::FileSink),
    Webhook(webhook::WebhookSink),
}

impl Delivery {
    fn new(target: &SinkTarget) -> Delivery {
        match target {
            SinkTarget::Syslog {
                address,
                tls,
                hostname,
            } => Delivery::Syslog(syslog::SyslogSink::new(address, tls.clone(), hostname)),
            SinkTarget::Http {
                url,
                format,
                token,
                hostname,
            } => Delivery::Http(http::HttpSink::new(url, *format, token.clone(), hostname)),
            SinkTarget::File { path, .. } => Delivery::File(file::FileSink::new(path)),
            SinkTarget::Webhook { url, format, token } => {
                Delivery::Webhook(webhook::WebhookSink::new(url, *format, token.clone()))
            }
        }
    }

    async fn deliver(&mut self, events: &[Forwarded]) -> Result<(), String> {
        match self {
            Delivery::Syslog(sink) => sink.deliver(events).await,
            Delivery::Http(sink) => sink.deliver(events).await,
            Delivery::File(sink) => sink.deliver(events).await,
            Delivery::Webhook(sink) => sink.deliver(events).await,
        }
    }
}

/// This machine's name, for the syslog HOSTNAME and HEC `host` fields.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "-".to_string())
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_alerts;

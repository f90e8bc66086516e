//! The process's own resources, read from `/proc/self` at scrape time (Linux; on other
//! systems these metrics are absent).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use std::time::SystemTime;

#[derive(Debug)]
pub struct ProcessMetrics {
    /// When the metrics were set up, which is when the server started.
    started: f64,
}

impl ProcessMetrics {
    pub fn new() -> ProcessMetrics {
        ProcessMetrics {
            started: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        }
    }
}

/// A `/proc/self/status` field in its unit (`VmRSS:  1234 kB` → 1234).
fn status_field(status: &str, field: &str) -> Option<f64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// The soft limit on open files from `/proc/self/limits`.
fn max_open_files(limits: &str) -> Option<f64> {
    limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

impl Collector for ProcessMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let samples = [
            (
                "process_resident_memory_bytes",
                "Resident memory of the server process",
                status_field(&status, "VmRSS").map(|kb| kb * 1024.0),
            ),
            (
                "process_threads",
                "Threads of the server process",
                status_field(&status, "Threads"),
            ),
            (
                "process_open_fds",
                "Open file descriptors (connections, files, the database)",
                std::fs::read_dir("/proc/self/fd")
                    .ok()
                    .map(|entries| entries.count() as f64),
            ),
            (
                "process_max_fds",
                "The limit on open file descriptors",
                std::fs::read_to_string("/proc/self/limits")
                    .ok()
                    .and_then(|l| max_open_files(&l)),
            ),
            (
                "process_start_time_seconds",
                "When the server started, Unix seconds",
                Some(self.started),
            ),
        ];
        for (name, help, value) in samples {
            if let Some(value) = value {
                super::collectors::gauge(&mut encoder, name, help, value)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_fields() {
        let status = "Name:\tmoat\nVmRSS:\t   20480 kB\nThreads:\t7\n";
        assert_eq!(status_field(status, "VmRSS"), Some(20480.0));
        assert_eq!(status_field(status, "Threads"), Some(7.0));
        assert_eq!(status_field(status, "VmSwap"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024.0));
    }
}

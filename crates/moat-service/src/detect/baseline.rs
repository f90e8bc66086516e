//! Hourly totals against an exponentially weighted baseline of past active hours.

/// Weight of the newest hour in the baseline.
const ALPHA: f64 = 0.1;

/// Mean and variance of past active hours' totals, exponentially weighted.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ewma {
    mean: f64,
    variance: f64,
    /// Active hours seen.
    pub hours: u32,
}

impl Ewma {
    pub fn update(&mut self, total: f64) {
        if self.hours == 0 {
            self.mean = total;
            self.variance = 0.0;
        } else {
            let delta = total - self.mean;
            self.mean += ALPHA * delta;
            self.variance = (1.0 - ALPHA) * (self.variance + ALPHA * delta * delta);
        }
        self.hours = self.hours.saturating_add(1);
    }

    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// Where `z` standard deviations above the mean lie. The deviation is at least a
    /// quarter of the mean, so a person whose hours were all alike is not alerted for
    /// the first hour that differs a little.
    pub fn above(&self, z: f64) -> f64 {
        self.mean + z * self.variance.sqrt().max(self.mean * 0.25)
    }
}

/// One subject's running total for the current hour, the events that made it (the
/// last few), and its baseline of past active hours.
#[derive(Debug, Clone, Default)]
pub struct Hourly {
    hour: i64,
    pub total: f64,
    pub seqs: Vec<u64>,
    pub baseline: Ewma,
    /// Whether this hour already raised its alert.
    pub alerted: bool,
}

/// Sequence numbers an alert names at most.
pub const MAX_SEQS: usize = 32;

impl Hourly {
    /// Adds `amount` at `hour`; a new hour first folds the last active one into the
    /// baseline.
    pub fn add(&mut self, hour: i64, amount: f64, seq: u64) {
        if hour != self.hour {
            if self.total > 0.0 {
                self.baseline.update(self.total);
            }
            self.hour = hour;
            self.total = 0.0;
            self.seqs.clear();
            self.alerted = false;
        }
        self.total += amount;
        push_seq(&mut self.seqs, seq);
    }
}

/// Keeps the first and the latest sequence numbers, at most [`MAX_SEQS`].
pub fn push_seq(seqs: &mut Vec<u64>, seq: u64) {
    if seqs.len() >= MAX_SEQS {
        seqs.remove(1);
    }
    seqs.push(seq);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_baseline_follows_past_hours_and_a_flat_history_keeps_a_margin() {
        let mut flat = Ewma::default();
        for _ in 0..20 {
            flat.update(1000.0);
        }
        assert!((flat.mean() - 1000.0).abs() < 1e-9);
        assert!(flat.above(4.0) >= 2000.0, "{}", flat.above(4.0));
        let mut hourly = Hourly::default();
        hourly.add(10, 5.0, 1);
        hourly.add(10, 5.0, 2);
        assert_eq!(hourly.total, 10.0);
        hourly.add(11, 1.0, 3);
        assert_eq!(hourly.baseline.hours, 1);
        assert_eq!(hourly.baseline.mean(), 10.0);
        assert_eq!(hourly.seqs, [3]);
        let mut seqs = Vec::new();
        for seq in 0..100 {
            push_seq(&mut seqs, seq);
        }
        assert_eq!(seqs.len(), MAX_SEQS);
        assert_eq!(seqs[0], 0, "the first event is kept");
        assert_eq!(*seqs.last().unwrap(), 99);
    }
}

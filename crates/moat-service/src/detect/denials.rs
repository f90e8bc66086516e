//! Refusals counted in sliding windows: per person and token (in `Detector::observe`)
//! and per source address here, an IPv6 address by its /64.

use super::baseline::push_seq;
use super::{Detector, Event, Outcome};
use std::collections::VecDeque;

/// Source addresses whose refusals are counted at once; past it, addresses with no
/// refusal in the current window are forgotten first.
pub(super) const MAX_ADDRESSES: usize = 100_000;

/// Refusals from one source address (IPv6: one /64).
#[derive(Default)]
pub(super) struct AddressSeen {
    denials: VecDeque<(i64, u64)>,
    quiet_until: i64,
}

/// How many refusals an event records: one for a refused request, the count of an
/// `auth.refused` summary; `None` for anything else.
pub(super) fn refusals(event: &Event) -> Option<u64> {
    let body = &event.body;
    if body.decision.outcome != Outcome::Deny {
        return None;
    }
    match body.action.as_str() {
        "access.denied" | "gateway.request" => Some(1),
        "auth.refused" => Some(body.details["count"].as_u64().unwrap_or(1).max(1)),
        _ => None,
    }
}

impl Detector {
    /// Counts refusals from `address`; its key and the burst's events when they reach
    /// the threshold (the caller drops it when the same refusal raised the person's or
    /// token's own burst: one person refused from one address is one alert).
    pub(super) fn address_burst(
        &mut self,
        address: &str,
        at: i64,
        seq: u64,
        count: u64,
    ) -> Option<(String, Vec<u64>)> {
        let source = source_key(address);
        let span = self.settings.denials_window;
        if !self.addresses.contains_key(&source) && self.addresses.len() >= MAX_ADDRESSES {
            // Room is looked for at most once a second (a sweep is the whole map), and
            // a map still full of active addresses is said at most once a second.
            if at < self.addresses_full_until {
                return None;
            }
            self.addresses
                .retain(|_, seen| seen.denials.back().is_some_and(|(t, _)| *t > at - span));
            if self.addresses.len() >= MAX_ADDRESSES {
                tracing::warn!(
                    "refused authentications come from more than {MAX_ADDRESSES} addresses at once; new ones are not counted per address for a second"
                );
                self.addresses_full_until = at + 1;
                return None;
            }
        }
        let seen = self.addresses.entry(source.clone()).or_default();
        let seqs = burst(
            &mut seen.denials,
            &mut seen.quiet_until,
            at,
            seq,
            count,
            self.settings.denials,
            span,
        )?;
        Some((source, seqs))
    }
}

/// What refusals are counted under: the address, an IPv6 address by its /64 (one host
/// holds a whole /64), an IPv4-mapped one as IPv4.
fn source_key(address: &str) -> String {
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
        Ok(ip) => ip.to_string(),
        Err(_) => address.to_string(),
    }
}

/// Adds `count` refusals at `at` to a sliding window; the window's events when it
/// reaches `threshold` (and the window is not quiet after an earlier alert).
pub(super) fn burst(
    window: &mut VecDeque<(i64, u64)>,
    quiet_until: &mut i64,
    at: i64,
    seq: u64,
    count: u64,
    threshold: usize,
    span: i64,
) -> Option<Vec<u64>> {
    while window.front().is_some_and(|(t, _)| *t <= at - span) {
        window.pop_front();
    }
    for _ in 0..count.min(threshold as u64) {
        window.push_back((at, seq));
    }
    if window.len() < threshold || at < *quiet_until {
        return None;
    }
    *quiet_until = at + span;
    let mut seqs: Vec<u64> = Vec::new();
    for (_, seq) in window.iter() {
        if seqs.last() != Some(seq) {
            push_seq(&mut seqs, *seq);
        }
    }
    window.clear();
    Some(seqs)
}

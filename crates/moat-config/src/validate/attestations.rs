//! `[[vendors]] attestations`: the register's dates are real dates, an expiry or a
//! signature is given only for an attestation the vendor holds, and a SOC 2 period
//! runs forwards.

use super::Problems;
use crate::locate::KeyPath;
use crate::model::{Attestation, Config};
use moat_domain::UnixTime;

fn name(attestation: Attestation) -> String {
    serde_json::to_value(attestation)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn date(p: &mut Problems, at: KeyPath, text: &str) -> Option<UnixTime> {
    let parsed = UnixTime::from_date(text);
    if parsed.is_none() {
        p.add(
            at,
            format!("`{text}` is not a date"),
            "write it as \"YYYY-MM-DD\", e.g. \"2027-03-31\"",
        );
    }
    parsed
}

pub(super) fn check_attestations(config: &Config, p: &mut Problems) {
    for (index, vendor) in config.vendors.iter().enumerate() {
        let at = KeyPath::root()
            .key("vendors")
            .index(index)
            .key("attestations");
        let held = &vendor.attestations;
        for (field, dates) in [("expires", &held.expires), ("signed", &held.signed)] {
            for (attestation, text) in dates {
                let key = at.key(field).key(&name(*attestation));
                date(p, key.clone(), text);
                if !held.holds(*attestation) {
                    p.add(
                        key,
                        format!(
                            "vendor `{}` has a `{}` date for `{}`, which it does not hold",
                            vendor.name,
                            field,
                            name(*attestation)
                        ),
                        format!(
                            "set `{} = true` if the vendor holds it, or remove the date",
                            name(*attestation)
                        ),
                    );
                }
            }
        }
        if let Some([from, to]) = &held.soc2_period {
            let key = at.key("soc2_period");
            let from = date(p, key.clone(), from);
            let to = date(p, key.clone(), to);
            if let (Some(from), Some(to)) = (from, to)
                && from > to
            {
                p.add(
                    key.clone(),
                    "the SOC 2 period ends before it starts",
                    "write it as [\"first day\", \"last day\"]",
                );
            }
            if !held.soc2_type2 {
                p.add(
                    key,
                    format!(
                        "vendor `{}` has a SOC 2 period but does not hold `soc2_type2`",
                        vendor.name
                    ),
                    "set `soc2_type2 = true` if it does, or remove the period",
                );
            }
        }
    }
}

//! Seconds since the Unix epoch: the one time representation stored and compared.

use serde::{Deserialize, Serialize};

/// A point in time, whole seconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixTime(pub i64);

impl UnixTime {
    /// The current wall-clock time. Callers that need a testable clock pass one in instead.
    pub fn now() -> UnixTime {
        UnixTime(::time::OffsetDateTime::now_utc().unix_timestamp())
    }

    pub fn plus_seconds(self, seconds: i64) -> UnixTime {
        UnixTime(self.0.saturating_add(seconds))
    }

    /// Midnight UTC at the start of a `YYYY-MM-DD` date; `None` for anything else.
    pub fn from_date(text: &str) -> Option<UnixTime> {
        let format = ::time::macros::format_description!("[year]-[month]-[day]");
        let date = ::time::Date::parse(text, &format).ok()?;
        Some(UnixTime(date.midnight().assume_utc().unix_timestamp()))
    }

    /// The UTC date this instant falls on, `YYYY-MM-DD`.
    pub fn to_date(self) -> String {
        let rfc3339 = self.to_rfc3339();
        rfc3339.get(..10).unwrap_or(&rfc3339).to_string()
    }

    /// RFC 3339 in UTC, e.g. `2026-11-23T12:00:00Z`.
    pub fn to_rfc3339(self) -> String {
        ::time::OffsetDateTime::from_unix_timestamp(self.0)
            .ok()
            .and_then(|t| {
                t.format(&::time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| self.0.to_string())
    }
}

impl std::fmt::Display for UnixTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod date_tests {
    use super::UnixTime;

    #[test]
    fn dates_read_as_midnight_utc_and_nothing_else_reads() {
        assert_eq!(UnixTime::from_date("1970-01-02"), Some(UnixTime(86_400)));
        assert_eq!(
            UnixTime::from_date("2026-12-31").unwrap().to_date(),
            "2026-12-31"
        );
        for bad in [
            "2026-02-30",
            "2026-1-5",
            "31/12/2026",
            "2026-12-31T00:00:00Z",
            "",
        ] {
            assert_eq!(UnixTime::from_date(bad), None, "{bad}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_rfc3339_utc() {
        assert_eq!(UnixTime(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(UnixTime(1_795_000_000).to_rfc3339(), "2026-11-18T11:06:40Z");
    }
}

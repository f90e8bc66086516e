//! Durations written the way people write them: `"30s"`, `"15m"`, `"24h"`, `"90d"`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A whole number of seconds, written in configuration with a unit suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration {
    pub seconds: i64,
}

impl Duration {
    pub const fn seconds(seconds: i64) -> Duration {
        Duration { seconds }
    }

    pub const fn days(days: i64) -> Duration {
        Duration {
            seconds: days * 86_400,
        }
    }

    pub fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.seconds.max(0) as u64)
    }
}

impl std::str::FromStr for Duration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let expected = || {
            format!(
                "`{text}` is not a duration; write a whole number with a unit: \"30s\", \"15m\", \"24h\" or \"90d\""
            )
        };
        let unit_at = text
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(expected)?;
        let (number, unit) = text.split_at(unit_at);
        let number: i64 = number.parse().map_err(|_| expected())?;
        let scale = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            _ => return Err(expected()),
        };
        number
            .checked_mul(scale)
            .map(Duration::seconds)
            .ok_or_else(expected)
    }
}

impl std::fmt::Display for Duration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.seconds;
        match s {
            0 => write!(f, "0s"),
            _ if s % 86_400 == 0 => write!(f, "{}d", s / 86_400),
            _ if s % 3_600 == 0 => write!(f, "{}h", s / 3_600),
            _ if s % 60 == 0 => write!(f, "{}m", s / 60),
            _ => write!(f, "{s}s"),
        }
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_prints_them_back() {
        for (text, seconds) in [
            ("30s", 30),
            ("15m", 900),
            ("36h", 129_600),
            ("90d", 7_776_000),
        ] {
            let d: Duration = text.parse().unwrap();
            assert_eq!(d.seconds, seconds);
            assert_eq!(d.to_string(), text);
        }
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for bad in ["", "10", "d", "1w", "-5m", "1.5h", "99999999999999999999d"] {
            let err = bad.parse::<Duration>().unwrap_err();
            assert!(err.contains("is not a duration"), "{bad}: {err}");
        }
    }
}

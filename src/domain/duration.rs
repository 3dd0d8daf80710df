//! Human durations (`"10m"`, `"1h30m"`, `"30d"`) as operators write them in the config file,
//! in the rules folder and in admin commands.
//!
//! One parser serves all three so that `mute 10m` means the same thing everywhere.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written the human way: one or more `<number><unit>` parts, units `s`, `m`, `h`,
/// `d` and `w` (also `min`, `sec`, `day(s)`, `week(s)` and the Chinese 秒/分/分钟/时/小时/天/周).
/// A bare number is seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// The wrapped [`Duration`].
    #[must_use]
    pub fn get(self) -> Duration {
        self.0
    }

    /// Whole seconds, saturating.
    #[must_use]
    pub fn as_secs(self) -> u64 {
        self.0.as_secs()
    }

    /// A duration of `secs` seconds.
    #[must_use]
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }
}

impl std::str::FromStr for HumanDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s).map(Self)
    }
}

impl fmt::Display for HumanDuration {
    /// Prints the shortest exact form, e.g. `1h30m`, `30d`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut secs = self.0.as_secs();
        if secs == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
            if secs >= size {
                write!(f, "{}{unit}", secs / size)?;
                secs %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"30s\", \"10m\", \"1h30m\" or \"30d\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(HumanDuration::from_secs(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map(HumanDuration::from_secs)
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Why a duration did not parse. The message is meant for operators.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason} (write it like \"30s\", \"10m\", \"1h30m\" or \"30d\")")]
pub struct DurationError {
    input: String,
    reason: &'static str,
}

/// Parses a human duration; see [`HumanDuration`] for the accepted forms.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let err = |reason| DurationError {
        input: input.to_owned(),
        reason,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err("it is empty"));
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err("expected a number"));
        }
        let value: u64 = rest[..digits].parse().map_err(|_| err("the number is too large"))?;
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .char_indices()
            .find(|&(_, c)| c.is_ascii_digit() || c.is_whitespace())
            .map_or(rest.len(), |(i, _)| i);
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let size = unit_seconds(unit).ok_or_else(|| err("unknown unit"))?;
        total = value
            .checked_mul(size)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| err("the duration is too large"))?;
    }
    Ok(Duration::from_secs(total))
}

fn unit_seconds(unit: &str) -> Option<u64> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "s" | "sec" | "secs" | "second" | "seconds" | "秒" | "秒钟" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" | "分" | "分钟" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" | "时" | "小时" => 3_600,
        "d" | "day" | "days" | "天" | "日" => 86_400,
        "w" | "week" | "weeks" | "周" | "星期" => 604_800,
        "" => return None,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_operators_write() {
        let cases = [
            ("30s", 30),
            ("10m", 600),
            ("1h30m", 5_400),
            ("1h 30m", 5_400),
            ("30d", 2_592_000),
            ("2w", 1_209_600),
            ("90", 90),
            ("10分钟", 600),
            ("1小时", 3_600),
            ("7天", 604_800),
            (" 5 min ", 300),
        ];
        for (input, secs) in cases {
            assert_eq!(parse_duration(input), Ok(Duration::from_secs(secs)), "{input}");
        }
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        for input in ["", "m", "10x", "ten minutes", "-5m", "99999999999999999999s"] {
            assert!(parse_duration(input).is_err(), "{input} should not parse");
        }
    }

    #[test]
    fn displays_the_shortest_exact_form() {
        for (secs, text) in [
            (0, "0s"),
            (600, "10m"),
            (5_400, "1h30m"),
            (2_592_000, "30d"),
            (90_061, "1d1h1m1s"),
        ] {
            assert_eq!(HumanDuration::from_secs(secs).to_string(), text);
            assert_eq!(text.parse::<HumanDuration>().map(HumanDuration::as_secs), Ok(secs));
        }
    }
}

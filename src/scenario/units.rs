//! Human-readable durations (`50ms`, `2s`) and rates (`200/s`).

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// What is wrong with one value of a scenario, said so that it reads after
/// the key it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// A duration as the user wrote it, with its parsed value.
#[derive(Debug, Clone, PartialEq)]
pub struct HumanDuration {
    pub text: String,
    pub value: Duration,
}

/// A rate in events per second as the user wrote it, with its parsed value.
#[derive(Debug, Clone, PartialEq)]
pub struct Rate {
    pub text: String,
    pub per_second: f64,
}

const DURATION_UNITS: [(&str, f64); 8] =
    [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1.0), ("m", 60.0), ("h", 3_600.0), ("d", 86_400.0)];

/// Parses `250us`, `50ms`, `1.5s`, `2m`, `12h`, `1095d`. No space between number and unit.
pub fn parse_duration(text: &str) -> Result<Duration, Invalid> {
    let bad = || Invalid(format!("invalid duration {text:?} (expected e.g. \"50ms\", \"2s\")"));
    let seconds = with_unit(text, &DURATION_UNITS).ok_or_else(bad)?;
    if !seconds.is_finite() || seconds > 1e9 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// `50ms` or `10Mbit/s` as a number times its unit's scale in `units`: the
/// one parser of a number directly followed by a unit; `None` when either
/// part is not one.
fn with_unit(text: &str, units: &[(&str, f64)]) -> Option<f64> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    units.iter().find(|(u, _)| *u == unit).map(|(_, scale)| number * scale)
}

/// A bandwidth as the user wrote it, with its value in bits per second.
#[derive(Debug, Clone, PartialEq)]
pub struct Bandwidth {
    pub text: String,
    pub bits_per_second: f64,
}

const BANDWIDTH_UNITS: [(&str, f64); 8] = [
    ("bit/s", 1.0),
    ("kbit/s", 1e3),
    ("Mbit/s", 1e6),
    ("Gbit/s", 1e9),
    ("B/s", 8.0),
    ("kB/s", 8e3),
    ("MB/s", 8e6),
    ("GB/s", 8e9),
];

/// Parses `10Mbit/s`, `512kbit/s`, `1.5MB/s` (decimal prefixes; `B` is a byte).
pub fn parse_bandwidth(text: &str) -> Result<f64, Invalid> {
    let bad = || Invalid(format!("invalid bandwidth {text:?} (expected e.g. \"10Mbit/s\", \"512kbit/s\", \"1MB/s\")"));
    let bps = with_unit(text, &BANDWIDTH_UNITS).ok_or_else(bad)?;
    if !bps.is_finite() || bps <= 0.0 {
        return Err(bad());
    }
    Ok(bps)
}

/// Parses `200/s`, `12.5/s`, `600/min`.
pub fn parse_rate(text: &str) -> Result<f64, Invalid> {
    let bad = || Invalid(format!("invalid rate {text:?} (expected e.g. \"200/s\")"));
    let (number, unit) = text.split_once('/').ok_or_else(bad)?;
    let number: f64 = number.trim().parse().map_err(|_| bad())?;
    let per = match unit.trim() {
        "s" => 1.0,
        "min" => 60.0,
        _ => return Err(bad()),
    };
    let rate = number / per;
    if !rate.is_finite() || rate < 0.0 {
        return Err(bad());
    }
    Ok(rate)
}

impl HumanDuration {
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        Ok(Self { text: text.to_string(), value: parse_duration(text)? })
    }
}

impl Bandwidth {
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        Ok(Self { text: text.to_string(), bits_per_second: parse_bandwidth(text)? })
    }
}

impl Rate {
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        Ok(Self { text: text.to_string(), per_second: parse_rate(text)? })
    }
}

struct TextVisitor(&'static str);

impl Visitor<'_> for TextVisitor {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Err(E::custom(format!("invalid {} {v} (a unit is required)", self.0)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Err(E::custom(format!("invalid {} {v} (a unit is required)", self.0)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Err(E::custom(format!("invalid {} {v} (a unit is required)", self.0)))
    }
}

/// Reads a value from its text (`Type::parse`) and writes it back as written,
/// so that a resolved scenario keeps the user's spelling.
macro_rules! text_serde {
    ($($ty:ident => $what:literal / $pattern:literal),* $(,)?) => {$(
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = d.deserialize_any(TextVisitor($what))?;
                $ty::parse(&text).map_err(de::Error::custom)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.text)
            }
        }

        impl schemars::JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($ty).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "pattern": $pattern, "description": $what })
            }
        }
    )*};
}

text_serde!(
    HumanDuration => "duration" / "^[0-9.]+(ns|us|µs|ms|s|m|h|d)$",
    Rate => "rate" / "^\\s*[0-9.]+\\s*/\\s*(s|min)\\s*$",
    Bandwidth => "bandwidth" / "^[0-9.]+(bit/s|kbit/s|Mbit/s|Gbit/s|B/s|kB/s|MB/s|GB/s)$",
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("50ms").unwrap(), Duration::from_millis(50));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
        assert_eq!(parse_duration("0ms").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
    }

    #[test]
    fn durations_reject_bad_text() {
        for bad in ["50 ms", "50", "ms", "", "-5ms", "5hours", "1e999s", "..s"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.0.contains("invalid duration"), "{bad}: {err}");
        }
    }

    #[test]
    fn bandwidths_parse() {
        assert_eq!(parse_bandwidth("10Mbit/s").unwrap(), 10e6);
        assert_eq!(parse_bandwidth("512kbit/s").unwrap(), 512e3);
        assert_eq!(parse_bandwidth("1MB/s").unwrap(), 8e6);
        for bad in ["10 Mbit/s", "10mbps", "0Mbit/s", "Mbit/s", "10"] {
            assert!(parse_bandwidth(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rates_parse() {
        assert_eq!(parse_rate("200/s").unwrap(), 200.0);
        assert_eq!(parse_rate("600/min").unwrap(), 10.0);
        assert!(parse_rate("200").is_err());
        assert!(parse_rate("200/h").is_err());
        assert!(parse_rate("-3/s").is_err());
        assert!(parse_rate("x/s").is_err());
    }
}

//! Settings that are numbers, durations and flags.

use std::time::Duration;

use config::ValueKind;

use super::setting::{MAX_DURATION, MAX_POOL_SIZE, Raw, SettingValue, describe_text, integer};

/// An integer from `MIN` to `MAX`, written as an integer in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Integer<const MIN: u32, const MAX: u32>(pub u32);

/// A TCP port.
pub type Port = Integer<1, 65535>;
/// A pool size from `MIN` to [`MAX_POOL_SIZE`] (sqlx and tokio take any `u32`, but more than
/// that to one target is a typo).
pub type PoolSize<const MIN: u32> = Integer<MIN, MAX_POOL_SIZE>;

impl<const MIN: u32, const MAX: u32> Integer<MIN, MAX> {
    fn in_range(n: i128) -> Result<Self, String> {
        match u32::try_from(n) {
            Ok(n) if (MIN..=MAX).contains(&n) => Ok(Integer(n)),
            _ => Err(format!("got {n}, out of range")),
        }
    }
}

impl Port {
    /// The port as the driver takes it (the range makes it fit).
    pub fn number(self) -> u16 {
        u16::try_from(self.0).unwrap_or(u16::MAX)
    }
}

impl<const MIN: u32, const MAX: u32> SettingValue for Integer<MIN, MAX> {
    fn allowed() -> String {
        format!("an integer from {MIN} to {MAX}")
    }
    fn from_file(raw: Raw) -> Result<Self, String> {
        match raw {
            Raw::Integer(n) => Self::in_range(n),
            other => Err(other.got()),
        }
    }
    fn from_env(raw: &str) -> Result<Self, String> {
        integer(raw).and_then(Self::in_range)
    }
    fn canonical(&self) -> ValueKind {
        ValueKind::I64(self.0.into())
    }
}

impl<'de, const MIN: u32, const MAX: u32> serde::Deserialize<'de> for Integer<MIN, MAX> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::setting::deserialize_setting(d)
    }
}

impl<const MIN: u32, const MAX: u32> serde::Serialize for Integer<MIN, MAX> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        super::setting::serialize_kind(&self.canonical(), s)
    }
}

/// A duration from 1 ms to [`MAX_DURATION`]: `"5s"`, `"250ms"`, or whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeSpan(pub Duration);

impl TimeSpan {
    fn in_range(duration: Duration) -> Result<Self, String> {
        if duration < Duration::from_millis(1) || duration > MAX_DURATION {
            return Err(format!(
                "got {}, out of range",
                humantime::format_duration(duration)
            ));
        }
        Ok(TimeSpan(duration))
    }
}

impl SettingValue for TimeSpan {
    fn allowed() -> String {
        format!(
            "a duration from 1ms to {} such as \"5s\", \"250ms\", \"2m\", or whole seconds",
            humantime::format_duration(MAX_DURATION)
        )
    }
    fn from_file(raw: Raw) -> Result<Self, String> {
        match raw {
            Raw::Integer(secs) => Self::from_env(&secs.to_string()),
            Raw::Text(text) => Self::from_env(&text),
            other => Err(other.got()),
        }
    }
    fn from_env(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        let duration = match trimmed.parse::<u64>() {
            Ok(secs) => Duration::from_secs(secs),
            Err(_) => humantime::parse_duration(trimmed)
                .map_err(|_| format!("got {}", describe_text(raw)))?,
        };
        Self::in_range(duration)
    }
    fn canonical(&self) -> ValueKind {
        ValueKind::String(humantime::format_duration(self.0).to_string())
    }
}

/// `true` or `false` (also yes/no, on/off, 1/0 in the environment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl SettingValue for Flag {
    fn allowed() -> String {
        "true or false".into()
    }
    fn from_file(raw: Raw) -> Result<Self, String> {
        match raw {
            Raw::Bool(b) => Ok(Flag(b)),
            other => Err(other.got()),
        }
    }
    fn from_env(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Flag(true)),
            "false" | "0" | "no" | "off" => Ok(Flag(false)),
            _ => Err(format!("got {}", describe_text(raw))),
        }
    }
    fn canonical(&self) -> ValueKind {
        ValueKind::Boolean(self.0)
    }
}

super::setting::setting_serde!(TimeSpan, Flag);

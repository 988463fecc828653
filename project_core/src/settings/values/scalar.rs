//! Settings that are numbers, durations and flags.

use std::time::Duration;

use config::ValueKind;

use super::setting::{MAX_DURATION, MAX_POOL_SIZE, Raw, SettingValue, describe_text, integer};

/// A TCP port: 1 to 65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port(pub u16);

impl Port {
    fn in_range(n: i128) -> Result<Self, String> {
        match u16::try_from(n) {
            Ok(p) if p > 0 => Ok(Port(p)),
            _ => Err(format!("got {n}, out of range")),
        }
    }
}

impl SettingValue for Port {
    fn allowed() -> String {
        "an integer from 1 to 65535".into()
    }
    fn from_file(raw: Raw) -> Result<Self, String> {
        match raw {
            Raw::Integer(n) => Self::in_range(n),
            other => Err(other.got()),
        }
    }
    fn from_env(raw: &str) -> Result<Self, String> {
        Self::in_range(integer(raw)?)
    }
    fn canonical(&self) -> ValueKind {
        ValueKind::I64(self.0.into())
    }
}

/// A pool size: an integer from `MIN` to [`MAX_POOL_SIZE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSize<const MIN: u32>(pub u32);

impl<const MIN: u32> PoolSize<MIN> {
    fn in_range(n: i128) -> Result<Self, String> {
        match u32::try_from(n) {
            Ok(n) if (MIN..=MAX_POOL_SIZE).contains(&n) => Ok(PoolSize(n)),
            _ => Err(format!("got {n}, out of range")),
        }
    }
}

impl<const MIN: u32> SettingValue for PoolSize<MIN> {
    fn allowed() -> String {
        format!("an integer from {MIN} to {MAX_POOL_SIZE}")
    }
    fn from_file(raw: Raw) -> Result<Self, String> {
        match raw {
            Raw::Integer(n) => Self::in_range(n),
            other => Err(other.got()),
        }
    }
    fn from_env(raw: &str) -> Result<Self, String> {
        Self::in_range(integer(raw)?)
    }
    fn canonical(&self) -> ValueKind {
        ValueKind::I64(self.0.into())
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

super::setting::setting_serde!(Port, PoolSize<0>, PoolSize<1>, TimeSpan, Flag);

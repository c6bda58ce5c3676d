//! Request values whose bounds are checked as they are read, so that a refusal names the JSON
//! path of the field: [`Days`] (a lifetime, so date arithmetic cannot overflow) and [`Note`]
//! (free text shown to people: bounded, no control characters).

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize};

/// A lifetime in whole days, from 1 to [`Days::MAX`] (ten years).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Days(u32);

impl Days {
    /// The longest lifetime a credential may be given.
    pub const MAX: u32 = 3650;

    /// `days`, if within 1..=[`Self::MAX`].
    pub fn new(days: u32) -> Option<Self> {
        (1..=Self::MAX).contains(&days).then_some(Self(days))
    }

    /// The lifetime as a time span (cannot overflow: at most ten years).
    pub fn duration(self) -> chrono::TimeDelta {
        chrono::TimeDelta::days(i64::from(self.0))
    }
}

impl<'de> Deserialize<'de> for Days {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let days = u32::deserialize(deserializer)?;
        Self::new(days).ok_or_else(|| {
            serde::de::Error::custom(format!("{days} days is out of range: give 1 to {} days", Self::MAX))
        })
    }
}

impl JsonSchema for Days {
    fn schema_name() -> Cow<'static, str> {
        "Days".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "integer", "minimum": 1, "maximum": Self::MAX})
    }
}

/// A name or note people read: at most [`Note::MAX_CHARS`] characters, no control characters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Note(String);

impl Note {
    /// The longest note, in characters.
    pub const MAX_CHARS: usize = 200;

    /// Validates a note.
    pub fn new(text: &str) -> Result<Self, String> {
        if text.chars().count() > Self::MAX_CHARS {
            return Err(format!("longer than {} characters", Self::MAX_CHARS));
        }
        if text.chars().any(char::is_control) {
            return Err("contains a control character".to_owned());
        }
        Ok(Self(text.to_owned()))
    }

    /// The text.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl<'de> Deserialize<'de> for Note {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<str>::deserialize(deserializer)?;
        Self::new(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Note {
    fn schema_name() -> Cow<'static, str> {
        "Note".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "maxLength": Self::MAX_CHARS})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_bounded_as_they_are_read() {
        assert_eq!(serde_json::from_str::<Days>("3650").ok(), Days::new(3650));
        for bad in ["0", "3651", "4294967295", "-1", "1e30", "\"7\""] {
            assert!(serde_json::from_str::<Days>(bad).is_err(), "{bad}");
        }
        assert_eq!(Days::new(3650).map(Days::duration), Some(chrono::TimeDelta::days(3650)));
    }

    #[test]
    fn notes_are_short_plain_text() {
        assert!(Note::new("deploys from CI — nightly").is_ok());
        assert!(Note::new(&"é".repeat(Note::MAX_CHARS)).is_ok());
        assert!(Note::new(&"n".repeat(Note::MAX_CHARS + 1)).is_err());
        for bad in ["a\u{0}b", "line\nbreak", "\u{1b}[31mred"] {
            assert!(Note::new(bad).is_err(), "{bad:?}");
        }
    }
}

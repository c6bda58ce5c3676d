//! Validated identifiers: [`PromptName`] (a path under `prompts/`), [`Label`] (a movable pointer
//! such as `production`) and [`PromptRef`] (a name plus the version it selects).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// Why a name, label or ref was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The prompt name breaks the naming rules.
    #[error("invalid prompt name `{name}`: {reason}")]
    Prompt { name: String, reason: &'static str },
    /// The label breaks the naming rules.
    #[error("invalid label `{label}`: {reason}")]
    Label { label: String, reason: &'static str },
    /// The ref has an empty part around `@`.
    #[error("invalid prompt ref `{0}`: expected `name`, `name@3`, `name@label` or `name@<hash>`")]
    Ref(String),
}

impl crate::error::Diagnostic for NameError {
    fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Usage
    }
    fn hints(&self) -> Vec<String> {
        match self {
            Self::Prompt { .. } => vec![
                "prompt names are paths of lowercase letters, digits, `-`, `_` and `.`, separated by `/` (e.g. `support/triage`)".to_owned(),
            ],
            Self::Label { .. } => vec!["labels use lowercase letters, digits, `-`, `_` and `.`, at most 36 characters".to_owned()],
            Self::Ref(_) => Vec::new(),
        }
    }
}

/// A prompt's name: its path under `prompts/` without `.yaml`, such as `support/triage`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct PromptName(String);

impl PromptName {
    /// Longest accepted name, in bytes (the same limit as Langfuse).
    pub const MAX_LEN: usize = 255;

    /// Validates and wraps a name.
    pub fn new(name: &str) -> Result<Self, NameError> {
        let reject = |reason| Err(NameError::Prompt { name: name.to_owned(), reason });
        if name.is_empty() {
            return reject("it is empty");
        }
        if name.len() > Self::MAX_LEN {
            return reject("it is longer than 255 characters");
        }
        for segment in name.split('/') {
            if segment.is_empty() {
                return reject("it has an empty path segment");
            }
            if segment.starts_with('.') || segment.starts_with('_') {
                return reject("a path segment starts with `.` or `_` (reserved for partials and hidden files)");
            }
            if !segment.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b)) {
                return reject("only lowercase letters, digits, `-`, `_`, `.` and `/` are allowed");
            }
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PromptName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for PromptName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl<'de> Deserialize<'de> for PromptName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::new(&text).map_err(serde::de::Error::custom)
    }
}

/// A movable pointer to a version, such as `production` or `staging`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Label(String);

impl Label {
    /// The automatic label that always points at the newest version.
    pub const LATEST: &'static str = "latest";
    /// Longest accepted label (the same limit as Langfuse).
    pub const MAX_LEN: usize = 36;

    /// Validates and wraps a label. `latest` is accepted here; setting it is refused elsewhere.
    pub fn new(label: &str) -> Result<Self, NameError> {
        let reject = |reason| Err(NameError::Label { label: label.to_owned(), reason });
        if label.is_empty() {
            return reject("it is empty");
        }
        if label.len() > Self::MAX_LEN {
            return reject("it is longer than 36 characters");
        }
        if label.bytes().all(|b| b.is_ascii_digit()) {
            return reject("an all-digit label would read as a version number");
        }
        if !label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b)) {
            return reject("only lowercase letters, digits, `-`, `_` and `.` are allowed");
        }
        // A label is also a URL path segment: `.`, `..`, `.hidden` or `-x` would read as a path or
        // an option somewhere, so a label starts with a letter or digit and has no `..`.
        if !label.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric()) {
            return reject("it must start with a letter or a digit");
        }
        if label.contains("..") {
            return reject("`..` is not allowed");
        }
        Ok(Self(label.to_owned()))
    }

    /// The label as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the automatic `latest` label.
    pub fn is_latest(&self) -> bool {
        self.0 == Self::LATEST
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Label {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::new(&text).map_err(serde::de::Error::custom)
    }
}

/// Which version of a prompt a ref selects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selector {
    /// The file in `prompts/` as it is now (`name`).
    WorkingCopy,
    /// A version number (`name@3`).
    Version(u32),
    /// The newest version (`name@latest`).
    Latest,
    /// A label or, failing that, a hash prefix (`name@production`, `name@3fa9c1`); the
    /// registry decides which, since only it knows the labels.
    Named(String),
}

/// A prompt name plus a [`Selector`]: `name`, `name@3`, `name@production`, `name@latest`,
/// `name@<hash prefix>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PromptRef {
    /// The prompt.
    pub name: PromptName,
    /// The version it selects.
    pub selector: Selector,
}

impl PromptRef {
    /// A ref to the working copy of `name`.
    pub fn working(name: PromptName) -> Self {
        Self { name, selector: Selector::WorkingCopy }
    }
}

impl FromStr for PromptRef {
    type Err = NameError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, selector) = match text.split_once('@') {
            None => (text, Selector::WorkingCopy),
            Some((_, "")) | Some(("", _)) => return Err(NameError::Ref(text.to_owned())),
            Some((name, "latest")) => (name, Selector::Latest),
            Some((name, sel)) if sel.bytes().all(|b| b.is_ascii_digit()) => {
                let number = sel.parse().map_err(|_| NameError::Ref(text.to_owned()))?;
                (name, Selector::Version(number))
            }
            Some((name, sel)) => {
                if sel.contains('@') {
                    return Err(NameError::Ref(text.to_owned()));
                }
                (name, Selector::Named(sel.to_owned()))
            }
        };
        Ok(Self { name: PromptName::new(name)?, selector })
    }
}

impl fmt::Display for PromptRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.selector {
            Selector::WorkingCopy => write!(f, "{}", self.name),
            Selector::Version(n) => write!(f, "{}@{n}", self.name),
            Selector::Latest => write!(f, "{}@latest", self.name),
            Selector::Named(s) => write!(f, "{}@{s}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercase_paths() {
        assert!(PromptName::new("support/triage").is_ok());
        assert!(PromptName::new("a/b-c_d.e/f1").is_ok());
        for bad in ["", "Support", "a//b", "/a", "a/", "_partials/x", "a/.hidden", "a b", "a@b", "../x"] {
            assert!(PromptName::new(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn labels_follow_langfuse_rules() {
        assert!(Label::new("production").is_ok());
        assert!(Label::new("canary-2.b_x").is_ok());
        for bad in ["", "Prod", "a b", "123", &"x".repeat(37), ".", "..", ".hidden", "-rf", "_x", "v1..2", "a/b"] {
            assert!(Label::new(bad).is_err(), "{bad} should be rejected");
        }
        assert!(Label::new("v1.2").is_ok());
    }

    #[test]
    fn refs_parse_every_selector() {
        let parse = |s: &str| s.parse::<PromptRef>().map(|r| r.selector);
        assert_eq!(parse("a/b"), Ok(Selector::WorkingCopy));
        assert_eq!(parse("a/b@3"), Ok(Selector::Version(3)));
        assert_eq!(parse("a/b@latest"), Ok(Selector::Latest));
        assert_eq!(parse("a/b@production"), Ok(Selector::Named("production".into())));
        assert!(parse("a/b@").is_err());
        assert!(parse("@3").is_err());
        assert!(parse("a@b@c").is_err());
        assert!(parse("a@99999999999").is_err());
    }

    #[test]
    fn refs_display_as_typed() {
        for text in ["a/b", "a/b@3", "a/b@latest", "a/b@prod"] {
            assert_eq!(text.parse::<PromptRef>().expect("valid").to_string(), text);
        }
    }
}

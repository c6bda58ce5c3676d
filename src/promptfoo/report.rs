//! What a translation did with each part of a promptfoo config: converted as it is,
//! approximated (runs, with a difference the user should know), or left out.

use serde::Serialize;

/// How a part of the config was carried over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Treatment {
    /// Carried over with the same meaning.
    Converted,
    /// Carried over with a difference worth knowing.
    Approximated,
    /// Not carried over.
    LeftOut,
}

impl Treatment {
    /// The word shown in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Converted => "converted",
            Self::Approximated => "approximated",
            Self::LeftOut => "left out",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportItem {
    /// How it was carried over.
    pub treatment: Treatment,
    /// `file:line:col` of what it is about.
    pub place: String,
    /// What, and what changed.
    pub what: String,
}

/// Every line, in the order found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The lines.
    pub items: Vec<ReportItem>,
}

impl Report {
    /// How many lines have `treatment`.
    pub fn count(&self, treatment: Treatment) -> usize {
        self.items.iter().filter(|i| i.treatment == treatment).count()
    }

    /// The lines with `treatment`.
    pub fn with(&self, treatment: Treatment) -> impl Iterator<Item = &ReportItem> {
        self.items.iter().filter(move |i| i.treatment == treatment)
    }
}

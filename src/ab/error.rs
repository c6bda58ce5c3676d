//! The one error type of [`crate::ab`]: arms that do not resolve, comparisons that cannot be
//! made, settings out of range. Statistics errors are wrapped with the metric they concern.

use crate::api::upload::BodyProblem;
use crate::error::{Diagnostic, ErrorClass, ServiceError, list_names};
use crate::stats::StatsError;
use crate::store::StoreError;

/// Why an A/B comparison could not be set up or analysed.
#[derive(Debug, thiserror::Error)]
pub enum AbError {
    /// Fewer than two arms.
    #[error("an A/B comparison needs at least two arms, got {got}")]
    TooFewArms {
        /// Arms given.
        got: usize,
    },
    /// The same arm twice.
    #[error("arm `{arm}` is given twice")]
    DuplicateArm {
        /// The arm as written.
        arm: String,
    },
    /// An arm is neither a prompt nor a provider.
    #[error("arm `{arm}` is neither a prompt nor a provider of this project")]
    UnknownArm {
        /// The arm as written.
        arm: String,
        /// Close names, prompts and providers alike.
        suggestions: Vec<String>,
    },
    /// A bare word names both a prompt and a provider.
    #[error("arm `{arm}` names both a prompt and a provider")]
    AmbiguousArm {
        /// The arm as written.
        arm: String,
    },
    /// An arm's prompt or provider part is malformed or does not resolve.
    #[error("arm `{arm}`: {message}")]
    BadArm {
        /// The arm as written.
        arm: String,
        /// What is wrong.
        message: String,
        /// What to do.
        hints: Vec<String>,
    },
    /// A provider-only arm, but the suite does not have exactly one target to run it with.
    #[error("arm `{arm}` names only a provider, but suite `{suite}` has {targets} targets")]
    NeedsPrompt {
        /// The arm as written.
        arm: String,
        /// The suite.
        suite: String,
        /// How many targets it lists.
        targets: usize,
    },
    /// A prompt-only arm, but the suite runs several providers.
    #[error("arm `{arm}` names only a prompt, but suite `{suite}` runs {} providers", providers.len())]
    NeedsProvider {
        /// The arm as written.
        arm: String,
        /// The suite.
        suite: String,
        /// The providers listed.
        providers: Vec<String>,
    },
    /// An arm that runs more than one target × provider pair.
    #[error("arm `{arm}` runs {pairs} target × provider pairs, not one")]
    NotOnePair {
        /// The arm as written.
        arm: String,
        /// The pairs it runs.
        pairs: usize,
    },
    /// Too few cases to compare anything.
    #[error("{what} has {cases} case(s) with a result in every arm; a comparison needs at least 2")]
    TooFewCases {
        /// The suite or runs compared.
        what: String,
        /// Usable cases.
        cases: usize,
    },
    /// A run given with `--runs` has no results.
    #[error("run {run} has no results to compare")]
    EmptyRun {
        /// The run.
        run: u64,
    },
    /// A setting is out of range (α, power, a margin).
    #[error("`{name}` must be {expected}, got {value}")]
    Setting {
        /// The flag.
        name: &'static str,
        /// The value given.
        value: f64,
        /// The allowed range, as a phrase.
        expected: &'static str,
    },
    /// `--primary` names a metric the suite does not measure.
    #[error("`{name}` is not a metric of this comparison, so it cannot be the primary metric")]
    UnknownPrimary {
        /// What was given.
        name: String,
        /// The metrics measured, as written on the command line.
        available: Vec<String>,
    },
    /// A statistics function refused its input.
    #[error("cannot compute {what}")]
    Stats {
        /// What was being computed.
        what: String,
        /// Why.
        #[source]
        source: StatsError,
    },
    /// The judge provider failed.
    #[error("judge `{provider}` failed: {message}")]
    Judge {
        /// The judge provider.
        provider: String,
        /// What it said.
        message: String,
    },
    /// Not an experiment number.
    #[error("`{text}` is not an experiment number")]
    BadExperimentRef {
        /// What was given.
        text: String,
    },
    /// An experiment that does not exist.
    #[error("experiment {id} not found")]
    ExperimentNotFound {
        /// The number asked for.
        id: u64,
    },
    /// An uploaded experiment cannot be stored as it is; nothing was written.
    #[error("the uploaded experiment cannot be stored")]
    BadUpload(#[source] BodyProblem),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The experiment service (a remote server) failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl AbError {
    /// Wraps a statistics error with what was being computed.
    pub fn stats(what: impl Into<String>) -> impl FnOnce(StatsError) -> Self {
        let what = what.into();
        move |source| Self::Stats { what, source }
    }
}

impl Diagnostic for AbError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::Store(err) => err.class(),
            Self::Service(err) => err.class(),
            Self::Judge { .. } => ErrorClass::Upstream,
            _ => ErrorClass::Usage,
        }
    }

    fn hints(&self) -> Vec<String> {
        match self {
            Self::TooFewArms { .. } => {
                vec!["e.g. `promptops ab support/triage@production support/triage --suite support-triage`".to_owned()]
            }
            Self::DuplicateArm { .. } => vec!["compare two different versions, labels or providers".to_owned()],
            Self::UnknownArm { suggestions, .. } => {
                let mut hints = Vec::new();
                if !suggestions.is_empty() {
                    hints.push(format!("did you mean {}?", list_names(suggestions).replace(", ", " or ")));
                }
                hints.push("an arm is a prompt ref (`name`, `name@3`, `name@production`), a provider id (`+fast`), or both (`name@production+fast`)".to_owned());
                hints.push("run `promptops prompt list` and `promptops provider list` to see what exists".to_owned());
                hints
            }
            Self::AmbiguousArm { arm } => vec![format!("write `{arm}+` for the prompt or `+{arm}` for the provider")],
            Self::BadArm { hints, .. } => hints.clone(),
            Self::NeedsPrompt { arm, .. } => vec![format!("name the prompt too, e.g. `support/triage{arm}`")],
            Self::NeedsProvider { arm, providers, .. } => {
                vec![format!(
                    "name the provider too, e.g. `{arm}+{}`",
                    providers.first().map_or("fast", String::as_str)
                )]
            }
            Self::NotOnePair { .. } => vec!["name the prompt and the provider: `PROMPT+PROVIDER`".to_owned()],
            Self::TooFewCases { .. } => {
                vec!["add cases to the suite; `promptops ab plan` tells how many are needed".to_owned()]
            }
            Self::EmptyRun { .. } => vec!["run `promptops eval list` to find finished runs".to_owned()],
            Self::Setting { .. } => vec!["α and power are probabilities such as 0.05 and 0.8".to_owned()],
            Self::UnknownPrimary { available, .. } => {
                vec![format!("the metrics here are {}", list_names(available))]
            }
            Self::Stats { source, .. } => source.hints(),
            Self::Judge { provider, .. } => {
                vec![format!("run `promptops provider test {provider}` to check the judge")]
            }
            Self::BadExperimentRef { .. } | Self::ExperimentNotFound { .. } => {
                vec!["run `promptops ab list` to list experiments".to_owned()]
            }
            Self::BadUpload(_) => vec!["record experiments the way `promptops ab --remote NAME` does".to_owned()],
            Self::Store(err) => err.hints(),
            Self::Service(err) => err.hints(),
        }
    }
}

/// Checks that `value` is a probability strictly between 0 and 1 (statrs panics outside).
pub fn check_probability(name: &'static str, value: f64) -> Result<f64, AbError> {
    if value > 0.0 && value < 1.0 {
        Ok(value)
    } else {
        Err(AbError::Setting { name, value, expected: "strictly between 0 and 1" })
    }
}

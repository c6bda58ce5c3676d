//! The one error type of [`crate::stats`]: invalid input, named, with the offending value.
//! Degenerate but valid data is not an error; see each function for what it returns then.

/// `Result` with [`StatsError`] as the default error.
pub type Result<T, E = StatsError> = std::result::Result<T, E>;

/// Why a statistics function refused its input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    /// A probability (α, power, a rate, a quantile level) is outside the open interval (0, 1).
    #[error("`{name}` must be strictly between 0 and 1, got {value}")]
    ProbabilityOutOfRange {
        /// The parameter's name.
        name: &'static str,
        /// The value given.
        value: f64,
    },
    /// A sample is too small for the computation (a variance needs two values).
    #[error("`{name}` needs at least {needed} observations, got {got}")]
    TooFewObservations {
        /// The sample's name.
        name: &'static str,
        /// The minimum size.
        needed: usize,
        /// The size given.
        got: usize,
    },
    /// Paired samples must have one value per case in each arm.
    #[error("paired samples differ in length: `a` has {a} values, `b` has {b}")]
    LengthMismatch {
        /// Length of the first arm.
        a: usize,
        /// Length of the second arm.
        b: usize,
    },
    /// An input value is NaN or infinite.
    #[error("`{name}` holds a value that is not finite at index {index}")]
    NotFinite {
        /// The sample's name.
        name: &'static str,
        /// Position of the first bad value.
        index: usize,
    },
    /// A count given as a number is negative.
    #[error("`{name}` holds a negative count {value}")]
    NegativeCount {
        /// The input's name.
        name: &'static str,
        /// The value given.
        value: f64,
    },
    /// More successes than trials.
    #[error("`{name}` has {successes} successes out of only {trials} trials")]
    CountExceedsTotal {
        /// The input's name.
        name: &'static str,
        /// Successes (or discordant pairs) given.
        successes: u64,
        /// Trials (or pairs) given.
        trials: u64,
    },
    /// A numeric parameter is outside its domain (a negative standard deviation, a zero effect).
    #[error("`{name}` must be {expected}, got {value}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// What was expected, as a phrase ("positive", "at most psi").
        expected: &'static str,
    },
    /// Every difference is the same non-zero number: the standard error is zero and a t statistic
    /// would be infinite, which overstates the evidence of a few identical cases.
    #[error("the differences have zero variance and mean {mean}, so the t test is undefined")]
    ZeroVariance {
        /// The common difference.
        mean: f64,
    },
    /// An exact distribution was requested for more observations than it can afford.
    #[error("an exact `{name}` distribution for {n} observations exceeds the limit of {limit}")]
    ExactTooLarge {
        /// The test's name.
        name: &'static str,
        /// Observations given.
        n: usize,
        /// The largest size computed exactly.
        limit: usize,
    },
    /// Some arms are never compared, directly or through others, so their ratings have no common scale.
    #[error("arm {arm} is not connected to arm 0 by any comparison")]
    Disconnected {
        /// Index of an arm outside arm 0's component.
        arm: usize,
    },
    /// Even the largest possible effect would not be detected at this sample size.
    #[error("no effect is detectable with {n} cases at this alpha and power")]
    NothingDetectable {
        /// Cases given.
        n: f64,
    },
}

impl StatsError {
    /// What the user can do about the error; `ab` forwards these as `hint:` lines.
    pub fn hints(&self) -> Vec<String> {
        match self {
            Self::ProbabilityOutOfRange { name, .. } => {
                vec![format!("`{name}` is a probability such as 0.05; write 5% as 0.05")]
            }
            Self::TooFewObservations { .. } => vec!["add cases to the suite or lower the number of arms".to_owned()],
            Self::LengthMismatch { .. } => vec!["keep only cases that have a valid result in both arms".to_owned()],
            Self::ZeroVariance { .. } => {
                vec!["every case moved by the same amount; use the sign test for an exact p-value".to_owned()]
            }
            Self::ExactTooLarge { .. } => vec!["use the normal approximation for samples this large".to_owned()],
            Self::Disconnected { .. } => vec!["judge at least one pair that links each group of arms".to_owned()],
            Self::NothingDetectable { .. } => vec!["run more cases".to_owned()],
            _ => Vec::new(),
        }
    }
}

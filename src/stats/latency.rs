//! Latency (and other positive, right-skewed measures such as tokens or cost) compared as a
//! ratio: a paired t test on log values, reported back on the original scale as the ratio of
//! geometric means with its interval. Percentile deltas (p50, p95) need the bootstrap instead.
//! Cache hits and errored calls should be excluded by the caller before this point.

use serde::Serialize;

use super::common::{check_sample, paired_differences};
use super::paired::{PairedT, one_sample_t};
use super::{Interval, Result, StatsError};

/// The ratio of geometric means A / B of a positive measure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeometricMeanRatio {
    /// exp(mean of ln a − ln b): 0.8 means A takes 80% of B's time, per case on average.
    pub ratio: f64,
    /// exp of the t interval of the mean log difference, at level 1 − α.
    pub interval: Interval,
    /// The paired t test on ln(a) − ln(b); its p-value is the ratio's p-value against 1.
    pub log_test: PairedT,
}

/// Ratio of geometric means of paired positive values A / B, interval at level 1 − `alpha`.
/// Every value must be finite and greater than zero. A constant ratio other than 1 on every
/// case is [`StatsError::ZeroVariance`] (its `mean` is the log ratio), as in the paired t test.
pub fn geometric_mean_ratio(a: &[f64], b: &[f64], alpha: f64) -> Result<GeometricMeanRatio> {
    paired_differences(a, b, 2)?;
    let log_a = positive_logs("a", a)?;
    let log_b = positive_logs("b", b)?;
    let differences: Vec<f64> = log_a.iter().zip(&log_b).map(|(x, y)| x - y).collect();
    let log_test = one_sample_t(&differences, alpha)?;
    let interval = Interval::new(log_test.test.interval.lower.exp(), log_test.test.interval.upper.exp());
    Ok(GeometricMeanRatio { ratio: log_test.test.estimate.exp(), interval, log_test })
}

fn positive_logs(name: &'static str, values: &[f64]) -> Result<Vec<f64>> {
    check_sample(name, values, 1)?;
    match values.iter().find(|&&v| v <= 0.0) {
        Some(&value) => Err(StatsError::InvalidParameter { name, value, expected: "greater than 0" }),
        None => Ok(values.iter().map(|v| v.ln()).collect()),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn halving_every_latency_gives_a_ratio_of_one_half() {
        let b = [100.0, 220.0, 180.0, 400.0];
        let a = [52.0, 105.0, 91.0, 199.0];
        let result = geometric_mean_ratio(&a, &b, 0.05).unwrap();
        assert!((result.ratio - 0.5).abs() < 0.02);
        assert!(result.interval.contains(result.ratio));
        assert!(result.interval.upper < 1.0);
    }

    #[test]
    fn identical_latencies_give_ratio_one_and_p_one() {
        let b = [100.0, 220.0, 180.0];
        let result = geometric_mean_ratio(&b, &b, 0.05).unwrap();
        assert_eq!((result.ratio, result.log_test.test.p_value), (1.0, 1.0));
    }

    #[test]
    fn zero_or_negative_latency_is_rejected() {
        let error = geometric_mean_ratio(&[1.0, 0.0], &[1.0, 2.0], 0.05).unwrap_err();
        assert_eq!(error, StatsError::InvalidParameter { name: "a", value: 0.0, expected: "greater than 0" });
    }

    proptest! {
        #[test]
        fn swapping_arms_inverts_the_ratio(
            pairs in proptest::collection::vec((1.0f64..1000.0, 1.0f64..1000.0), 3..30),
        ) {
            let (a, b): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
            if let (Ok(forward), Ok(backward)) = (geometric_mean_ratio(&a, &b, 0.05), geometric_mean_ratio(&b, &a, 0.05)) {
                prop_assert!((forward.ratio * backward.ratio - 1.0).abs() < 1e-9);
                prop_assert!((forward.log_test.test.p_value - backward.log_test.test.p_value).abs() < 1e-12);
                prop_assert!(forward.interval.contains(forward.ratio));
            }
        }
    }
}

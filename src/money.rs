//! Money as integers: [`Micros`] is a whole number of micro-dollars (DESIGN rule 5). Costs are
//! added as integers everywhere; a figure is rounded only when it is shown.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Sub};

use serde::{Deserialize, Serialize};

/// An amount of US dollars in millionths (1 USD = 1,000,000).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct Micros(pub i64);

impl Micros {
    /// Zero dollars.
    pub const ZERO: Self = Self(0);

    /// Converts a dollar amount typed by a user (config, flags) to micro-dollars, rounding to
    /// the nearest micro-dollar. Returns `None` for NaN, infinities and out-of-range values.
    pub fn from_usd(usd: f64) -> Option<Self> {
        let micros = (usd * 1_000_000.0).round();
        (micros.is_finite() && micros.abs() < 9.0e18).then_some(Self(micros as i64))
    }

    /// The amount in dollars, for display and statistics only.
    pub fn as_usd(self) -> f64 {
        self.0 as f64 / 1_000_000.0
    }

    /// Cost of `tokens` at `per_million` micro-dollars per million tokens, rounded half up to a
    /// whole micro-dollar. Integer arithmetic, so the same inputs always give the same figure.
    pub fn for_tokens(tokens: u64, per_million: Micros) -> Self {
        let product = i128::from(tokens) * i128::from(per_million.0);
        let rounded = (product + 500_000).div_euclid(1_000_000);
        Self(i64::try_from(rounded).unwrap_or(i64::MAX))
    }
}

impl fmt::Display for Micros {
    /// Dollars with enough decimals to show small per-call costs: `$0.000150`, `$12.34`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let usd = self.as_usd();
        if self.0 != 0 && self.0.abs() < 10_000 { write!(f, "${usd:.6}") } else { write!(f, "${usd:.2}") }
    }
}

impl Add for Micros {
    type Output = Self;
    fn add(self, rhs: Self) -> Self {
        Self(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign for Micros {
    fn add_assign(&mut self, rhs: Self) {
        *self = *self + rhs;
    }
}

impl Sub for Micros {
    type Output = Self;
    fn sub(self, rhs: Self) -> Self {
        Self(self.0.saturating_sub(rhs.0))
    }
}

impl Sum for Micros {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::ZERO, Add::add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_cost_is_exact_integer_arithmetic() {
        // 0.15 USD per million tokens = 150,000 micro-dollars per million.
        let price = Micros::from_usd(0.15).expect("finite");
        assert_eq!(price, Micros(150_000));
        assert_eq!(Micros::for_tokens(1_000, price), Micros(150));
        assert_eq!(Micros::for_tokens(3, price), Micros(0)); // 0.45 rounds down
        assert_eq!(Micros::for_tokens(4, price), Micros(1)); // 0.6 rounds up
    }

    #[test]
    fn display_keeps_small_costs_visible() {
        assert_eq!(Micros(150).to_string(), "$0.000150");
        assert_eq!(Micros(12_340_000).to_string(), "$12.34");
        assert_eq!(Micros::ZERO.to_string(), "$0.00");
    }

    #[test]
    fn rejects_non_finite_dollars() {
        assert_eq!(Micros::from_usd(f64::NAN), None);
        assert_eq!(Micros::from_usd(f64::INFINITY), None);
    }
}

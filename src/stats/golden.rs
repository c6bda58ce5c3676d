//! Test-only access to the golden vectors: those computed with SciPy for the methods
//! (`tests/data/ab-stats-golden.json`, a copy of `shared/golden/`) and those for the decisions
//! `ab` makes (`tests/data/ab-decisions-golden.json`, from the script beside it, each by an
//! independent implementation): each vector's inputs, expected values and absolute tolerance.

use serde_json::Value;

const GOLDEN: [&str; 2] =
    [include_str!("../../tests/data/ab-stats-golden.json"), include_str!("../../tests/data/ab-decisions-golden.json")];

/// One named vector of the golden file.
pub(crate) struct Vector {
    value: Value,
    /// The absolute tolerance the vector states.
    pub(crate) tolerance: f64,
}

/// The vector called `name`; panics (in tests only) if it is missing.
pub(crate) fn vector(name: &str) -> Vector {
    let value = GOLDEN
        .iter()
        .flat_map(|text| {
            let file: Value = serde_json::from_str(text).expect("golden file is valid JSON");
            file["vectors"].as_array().expect("golden file has a vector list").clone()
        })
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("golden vector `{name}` exists"));
    let tolerance = value["abs_tol"].as_f64().expect("vector states abs_tol");
    Vector { value, tolerance }
}

impl Vector {
    /// An input or expected value by JSON pointer below the vector, e.g. `/expected/t`.
    pub(crate) fn get(&self, pointer: &str) -> &Value {
        self.value.pointer(pointer).unwrap_or_else(|| panic!("golden value `{pointer}` exists"))
    }

    /// A number by pointer.
    pub(crate) fn number(&self, pointer: &str) -> f64 {
        self.get(pointer).as_f64().unwrap_or_else(|| panic!("golden value `{pointer}` is a number"))
    }

    /// A list of numbers by pointer.
    pub(crate) fn numbers(&self, pointer: &str) -> Vec<f64> {
        let list = self.get(pointer).as_array().unwrap_or_else(|| panic!("golden value `{pointer}` is a list"));
        list.iter().map(|v| v.as_f64().expect("list holds numbers")).collect()
    }

    /// A matrix (list of lists of numbers) by pointer.
    pub(crate) fn rows(&self, pointer: &str) -> Vec<Vec<f64>> {
        let list = self.get(pointer).as_array().unwrap_or_else(|| panic!("golden value `{pointer}` is a list"));
        (0..list.len()).map(|i| self.numbers(&format!("{pointer}/{i}"))).collect()
    }

    /// Asserts `actual` is within the vector's tolerance of the expected value at `pointer`.
    #[track_caller]
    pub(crate) fn assert_close(&self, pointer: &str, actual: f64) {
        let expected = self.number(pointer);
        assert!(
            (actual - expected).abs() <= self.tolerance,
            "{pointer}: expected {expected}, got {actual} (tolerance {})",
            self.tolerance
        );
    }
}

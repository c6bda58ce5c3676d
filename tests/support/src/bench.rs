//! A tiny benchmark harness for `benches/*.rs` (`harness = false`): run a closure several
//! times and print the median, so that figures are reproducible with one command.

use std::time::{Duration, Instant};

/// Timings of one benchmark.
#[derive(Debug, Clone)]
pub struct Measurement {
    /// What was measured.
    pub name: String,
    /// Every sample, sorted ascending.
    pub samples: Vec<Duration>,
}

impl Measurement {
    /// The median sample.
    pub fn median(&self) -> Duration {
        self.samples[self.samples.len() / 2]
    }

    /// The fastest sample.
    pub fn min(&self) -> Duration {
        self.samples[0]
    }
}

/// Runs `f` once to warm up, then `runs` times, and prints `name: median … (min …, n runs)`.
pub fn measure<T>(name: &str, runs: usize, mut f: impl FnMut() -> T) -> Measurement {
    std::hint::black_box(f());
    let mut samples: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect();
    samples.sort();
    let m = Measurement { name: name.to_owned(), samples };
    println!("{:<60} median {:>12.3?}   min {:>12.3?}   ({} runs)", m.name, m.median(), m.min(), m.samples.len());
    m
}

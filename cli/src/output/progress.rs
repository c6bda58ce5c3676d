//! The eval progress bar: done/total, passes, failures, errors, cost so far and ETA, drawn on
//! stderr only when it is a terminal and `--quiet` is off (the printer decides).

use indicatif::{ProgressBar, ProgressStyle};
use promptops::eval::Progress;

use super::Printer;

/// A bar for one suite's run.
#[derive(Debug, Clone)]
pub struct EvalBar {
    bar: ProgressBar,
}

impl EvalBar {
    /// A bar of `total` results for `suite`, hidden when the printer says so.
    pub fn new(printer: &Printer, suite: &str, total: u64) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), printer.progress_target());
        // indicatif styles through its own colour switch, which knows NO_COLOR but not `--no-color`.
        let template = if printer.stderr_colour() {
            "{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} {msg} · ETA {eta}"
        } else {
            "{prefix} [{bar:30}] {pos}/{len} {msg} · ETA {eta}"
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("━╸─");
        bar.set_style(style);
        bar.set_prefix(suite.to_owned());
        Self { bar }
    }

    /// Shows a progress report.
    pub fn update(&self, progress: &Progress) {
        let t = &progress.totals;
        self.bar.set_position(t.done);
        self.bar.set_message(format!("✓ {} ✗ {} ! {} · {}", t.passed, t.failed, t.errors, t.cost));
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl promptops::session::ProgressSink for EvalBar {
    fn update(&self, progress: &Progress) {
        EvalBar::update(self, progress);
    }

    fn finish(&self) {
        EvalBar::finish(self);
    }
}

/// A session's messages on the printer, its runs' progress as bars.
#[derive(Debug, Clone)]
pub struct TerminalEvents(pub Printer);

impl promptops::session::SessionEvents for TerminalEvents {
    fn status(&self, message: &str) {
        self.0.status(message);
    }

    fn detail(&self, message: &str) {
        self.0.detail(message);
    }

    fn warn(&self, message: &str) {
        self.0.warn(message);
    }

    fn progress(&self, label: &str, total: u64) -> std::sync::Arc<dyn promptops::session::ProgressSink> {
        std::sync::Arc::new(EvalBar::new(&self.0, label, total))
    }
}

//! The one way commands write output. stdout carries data; stderr carries status lines,
//! warnings, errors and progress bars. Colour is used only on a terminal, never with
//! `--no-color` or `NO_COLOR`; progress bars only on a terminal and never with `--quiet`.
//! A failed write to stdout is remembered (and later writes skipped) so that `main` ends the
//! process the way the failure calls for, after the command has finished its work.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use anstyle::{AnsiColor, Style};

/// The meaning of a coloured piece of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Success, additions.
    Good,
    /// Failures, deletions.
    Bad,
    /// Warnings, modifications.
    Warn,
    /// Secondary information (hashes, dates).
    Dim,
    /// Headers and names.
    Strong,
    /// Changed words inside a changed line.
    Emphasis,
}

impl Tone {
    fn style(self) -> Style {
        match self {
            Self::Good => Style::new().fg_color(Some(AnsiColor::Green.into())),
            Self::Bad => Style::new().fg_color(Some(AnsiColor::Red.into())),
            Self::Warn => Style::new().fg_color(Some(AnsiColor::Yellow.into())),
            Self::Dim => Style::new().dimmed(),
            Self::Strong => Style::new().bold(),
            Self::Emphasis => Style::new().bold().underline(),
        }
    }
}

/// Output settings, decided once from the flags and the environment.
#[derive(Debug, Clone)]
pub struct Printer {
    quiet: bool,
    progress: bool,
    verbose: u8,
    color_stdout: bool,
    color_stderr: bool,
    /// The first error writing to stdout, shared by every clone.
    stdout_failure: Arc<Mutex<Option<std::io::Error>>>,
}

impl Printer {
    /// Decides colour and progress from the flags, `NO_COLOR` and whether the streams are terminals.
    pub fn new(quiet: bool, verbose: u8, no_color: bool) -> Self {
        let colour_allowed = !no_color && std::env::var_os(promptops::env::NO_COLOR).is_none_or(|v| v.is_empty());
        let stderr_is_terminal = std::io::stderr().is_terminal();
        Self {
            quiet,
            progress: !quiet && stderr_is_terminal,
            verbose,
            color_stdout: colour_allowed && std::io::stdout().is_terminal(),
            color_stderr: colour_allowed && stderr_is_terminal,
            stdout_failure: Arc::default(),
        }
    }

    /// Writes data to stdout, ending with a newline.
    pub fn out(&self, text: &str) {
        if text.ends_with('\n') {
            self.out_raw(text);
        } else {
            self.out_raw(&format!("{text}\n"));
        }
    }

    /// Writes text to stdout as it is (streamed tokens, documents that end their own lines).
    /// After a failed write (a closed pipe, a full disk) nothing more is written, and
    /// [`Self::stdout_failure`] tells `main` how to end.
    pub fn out_raw(&self, text: &str) {
        let mut failure = self.stdout_failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if failure.is_some() {
            return;
        }
        let mut stdout = std::io::stdout().lock();
        if let Err(err) = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
            *failure = Some(err);
        }
    }

    /// The first error writing to stdout, if any (taken: asked once, at the end).
    pub fn stdout_failure(&self) -> Option<std::io::Error> {
        self.stdout_failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }

    /// Writes text to stderr as it is, even with `--quiet` (CI workflow commands).
    pub fn err_raw(&self, text: &str) {
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }

    /// A status line on stderr, unless `--quiet`.
    pub fn status(&self, text: &str) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        }
    }

    /// A detail line on stderr, only with `--verbose`.
    pub fn detail(&self, text: &str) {
        if self.verbose > 0 && !self.quiet {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        }
    }

    /// A warning on stderr (shown even with `--quiet`).
    pub fn warn(&self, text: &str) {
        self.error_line("warning", text);
    }

    /// `label: text` on stderr with the label coloured (`error`, `caused by`, `hint`, `warning`).
    pub fn error_line(&self, label: &str, text: &str) {
        let tone = match label {
            "error" => Tone::Bad,
            "warning" => Tone::Warn,
            "hint" => Tone::Good,
            _ => Tone::Dim,
        };
        let label = self.paint_stderr(tone, &format!("{label}:"));
        let _ = writeln!(std::io::stderr().lock(), "{label} {text}");
    }

    /// Where progress bars draw: stderr on a terminal, nowhere when quiet or redirected.
    pub fn progress_target(&self) -> indicatif::ProgressDrawTarget {
        if self.progress { indicatif::ProgressDrawTarget::stderr() } else { indicatif::ProgressDrawTarget::hidden() }
    }

    /// Whether stderr gets colour (progress bars style themselves by it).
    pub fn stderr_colour(&self) -> bool {
        self.color_stderr
    }

    /// `text` styled for stdout (plain when colour is off).
    pub fn paint(&self, tone: Tone, text: &str) -> String {
        paint(self.color_stdout, tone, text)
    }

    /// `text` styled for stderr (plain when colour is off).
    pub fn paint_stderr(&self, tone: Tone, text: &str) -> String {
        paint(self.color_stderr, tone, text)
    }
}

fn paint(enabled: bool, tone: Tone, text: &str) -> String {
    if !enabled || text.is_empty() {
        return text.to_owned();
    }
    let style = tone.style();
    format!("{}{text}{}", style.render(), style.render_reset())
}

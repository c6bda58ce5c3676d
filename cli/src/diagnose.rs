//! Carrying a library error's class and hints through `anyhow`, and rendering any error as
//! `error:` / `caused by:` / `hint:` lines.

use std::fmt;

use promptops::error::{Diagnostic, ErrorClass};

use crate::exit::ExitStatus;
use crate::output::Printer;

/// A library error with its class and hints captured, so `anyhow` can carry them to `main`.
#[derive(Debug)]
pub struct Diagnosed {
    /// The class (decides the exit code).
    pub class: ErrorClass,
    /// Remediation lines.
    pub hints: Vec<String>,
    inner: Box<dyn std::error::Error + Send + Sync>,
}

impl fmt::Display for Diagnosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl std::error::Error for Diagnosed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}

impl Diagnosed {
    /// Wraps a library error.
    pub fn new<E: Diagnostic + Send + Sync + 'static>(err: E) -> Self {
        Self { class: err.class(), hints: err.hints(), inner: Box::new(err) }
    }

    /// A CLI-level error with a class and hints.
    pub fn message(class: ErrorClass, message: impl Into<String>, hints: Vec<String>) -> Self {
        Self { class, hints, inner: message.into().into() }
    }
}

/// `.diag()?` turns a library result into an `anyhow` result that keeps class and hints.
pub trait DiagnoseExt<T> {
    /// Converts the error.
    fn diag(self) -> anyhow::Result<T>;
}

impl<T, E: Diagnostic + Send + Sync + 'static> DiagnoseExt<T> for Result<T, E> {
    fn diag(self) -> anyhow::Result<T> {
        self.map_err(|err| Diagnosed::new(err).into())
    }
}

/// A usage error (exit 2) with hints.
pub fn usage(message: impl Into<String>, hints: &[&str]) -> anyhow::Error {
    Diagnosed::message(ErrorClass::Usage, message, hints.iter().map(|h| (*h).to_owned()).collect()).into()
}

/// A failed write to stdout (a full disk, a closed file): exit 2, with what went wrong.
pub fn output_failed(err: std::io::Error) -> anyhow::Error {
    let message = format!("cannot write the output to stdout: {err}");
    Diagnosed::message(ErrorClass::Usage, message, vec!["check where stdout goes (free space, permissions)".to_owned()])
        .into()
}

/// Prints the error chain and hints to stderr and returns the exit status it calls for.
pub fn report(printer: &Printer, err: &anyhow::Error) -> ExitStatus {
    let diagnosed = err.chain().find_map(|e| e.downcast_ref::<Diagnosed>());
    let mut chain = err.chain().map(ToString::to_string);
    let first = chain.next().unwrap_or_default();
    printer.error_line("error", &first);
    let mut last = first;
    for cause in chain {
        // `#[error(transparent)]` and context layers can repeat the same text: say it once.
        if cause != last && !last.ends_with(&cause) {
            printer.error_line("caused by", &cause);
        }
        last = cause;
    }
    for hint in diagnosed.map(|d| d.hints.as_slice()).unwrap_or_default() {
        printer.error_line("hint", hint);
    }
    diagnosed.map_or(ExitStatus::Usage, |d| ExitStatus::for_class(d.class))
}

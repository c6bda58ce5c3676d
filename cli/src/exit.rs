//! Exit codes, from one enum (documented in `--help` and the README).

use std::process::ExitCode;

use promptops::error::ErrorClass;

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: success.
    Success,
    /// 1: an evaluation failed its threshold, a regression was found, or `--exit-code` saw a difference.
    Failed,
    /// 2: usage or configuration error.
    Usage,
    /// 3: provider, network or server error.
    Upstream,
    /// 100: a test failed, with `--promptfoo-exit-codes` (promptfoo's convention).
    PromptfooFailed,
    /// 141 (128 + SIGPIPE): stdout was closed by its reader, as a shell reports `git log | head`.
    BrokenPipe,
}

impl ExitStatus {
    /// The status for an error of this class.
    pub fn for_class(class: ErrorClass) -> Self {
        match class {
            ErrorClass::EvalFailed => Self::Failed,
            ErrorClass::Upstream => Self::Upstream,
            ErrorClass::Usage | ErrorClass::Config | ErrorClass::Internal => Self::Usage,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(match status {
            ExitStatus::Success => 0,
            ExitStatus::Failed => 1,
            ExitStatus::Usage => 2,
            ExitStatus::Upstream => 3,
            ExitStatus::PromptfooFailed => 100,
            ExitStatus::BrokenPipe => 141,
        })
    }
}

/// The exit-code table shown at the end of `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  evaluation below its threshold, regression against a baseline, an interrupted run, or
     differences with --exit-code
  2  usage or configuration error (bad flag, invalid file, unknown prompt or label), output
     that could not be written (stdout, an -o file), or usage rows and cache entries the store
     could not record (the answer is shown; budgets would undercount it)
  3  provider, network or server error
  100  `eval --promptfoo-exit-codes`: a test failed or errored (promptfoo's convention)
  141  stdout was closed by its reader (`promptops … | head`): nothing is printed";

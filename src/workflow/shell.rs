//! Command lines for `exec` tools with `shell: true`. A substituted value (`{{ … }}`) never
//! becomes part of the script that `sh` parses: it is passed as a positional parameter and the
//! script refers to it as `"${N}"`, so a value such as `bob; touch /tmp/x` is one word of data
//! whatever it contains. The literal text of the template stays shell code, as its author wrote it.
//!
//! Rendering goes through the workflow's minijinja environment: templates registered as shell
//! templates have a custom auto-escape mode, and [`format`] (the environment's formatter) turns
//! each value they print into a marker while keeping the value aside. [`ShellCommand::assemble`]
//! then replaces each marker by the parameter reference that fits its quoting context.

use std::sync::{Arc, Mutex};

use minijinja::value::{Object, Value};
use minijinja::{AutoEscape, Error, Output, State};

/// The auto-escape mode of shell templates (see [`format`]).
pub const AUTO_ESCAPE: AutoEscape = AutoEscape::Custom("sh");

/// The context key under which a render's [`Positional`] collector travels. It contains a space,
/// so no template can name it.
pub const COLLECTOR_KEY: &str = "shell positional";

/// Brackets a parameter number in rendered text. A NUL byte cannot appear in a command line
/// (`execve` refuses it), so literal template text cannot forge a marker that would survive.
const MARK: char = '\0';

/// The values printed while rendering one command line, in order.
#[derive(Debug, Default)]
pub struct Positional(Mutex<Vec<String>>);

impl Object for Positional {}

impl Positional {
    fn push(&self, value: String) -> usize {
        let mut values = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        values.push(value);
        values.len()
    }

    /// The collected values.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

/// The environment's formatter: in shell templates a printed value is kept aside and a marker
/// written in its place; elsewhere values print as usual.
pub fn format(out: &mut Output<'_>, state: &State<'_, '_>, value: &Value) -> Result<(), Error> {
    if state.auto_escape() != AUTO_ESCAPE {
        return minijinja::escape_formatter(out, state, value);
    }
    let collector = state.lookup(COLLECTOR_KEY);
    let Some(positional) = collector.as_ref().and_then(Value::downcast_object_ref::<Positional>) else {
        return Err(Error::new(
            minijinja::ErrorKind::InvalidOperation,
            "a shell template was rendered without its collector",
        ));
    };
    let number = positional.push(value.to_string());
    write!(out, "{MARK}{number}{MARK}").map_err(Error::from)
}

/// A collector for one render, as a context value.
pub fn collector() -> (Arc<Positional>, Value) {
    let positional = Arc::new(Positional::default());
    let value = Value::from_dyn_object(Arc::clone(&positional));
    (positional, value)
}

/// What `sh -c` receives: the script and the values it refers to as `$1`, `$2`, …
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellCommand {
    /// The command line with parameter references in place of the values.
    pub script: String,
    /// The values, `$1` first.
    pub args: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quoting {
    None,
    Single,
    Double,
}

impl ShellCommand {
    /// Builds the command from rendered text holding markers, and the values they stand for.
    /// The reference fits where the marker stands: `"${N}"` outside quotes, `${N}` inside double
    /// quotes, and `'"${N}"'` inside single quotes (which closes and reopens them).
    pub fn assemble(rendered: &str, args: Vec<String>) -> Result<Self, String> {
        let mut script = String::with_capacity(rendered.len());
        let mut quoting = Quoting::None;
        let mut chars = rendered.chars();
        while let Some(c) = chars.next() {
            if c == MARK {
                let number: String = chars.by_ref().take_while(|d| *d != MARK).collect();
                let n = number.parse::<usize>().ok().filter(|n| (1..=args.len()).contains(n));
                let Some(n) = n else { return Err("the command line contains a NUL byte".to_owned()) };
                script.push_str(&match quoting {
                    Quoting::None => format!("\"${{{n}}}\""),
                    Quoting::Double => format!("${{{n}}}"),
                    Quoting::Single => format!("'\"${{{n}}}\"'"),
                });
                continue;
            }
            script.push(c);
            match (quoting, c) {
                (Quoting::None | Quoting::Double, '\\') => {
                    // The escaped character is copied as is, unless it is a marker.
                    if let Some(next) = chars.clone().next().filter(|n| *n != MARK) {
                        script.push(next);
                        chars.next();
                    }
                }
                (Quoting::None, '\'') => quoting = Quoting::Single,
                (Quoting::None, '"') => quoting = Quoting::Double,
                (Quoting::Single, '\'') | (Quoting::Double, '"') => quoting = Quoting::None,
                _ => {}
            }
        }
        Ok(Self { script, args })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders `parts` with `{1}` standing for the first parameter's marker.
    fn assemble(parts: &[&str], args: &[&str]) -> ShellCommand {
        let rendered = parts.concat().replace("{1}", &format!("{MARK}1{MARK}"));
        ShellCommand::assemble(&rendered, args.iter().map(|a| (*a).to_owned()).collect()).expect("assembles")
    }

    #[test]
    fn references_fit_their_quoting_context() {
        let plain = assemble(&["grep -c ", "{1}", " notes.txt"], &["a b"]);
        assert_eq!(plain.script, "grep -c \"${1}\" notes.txt");
        let double = assemble(&["echo \"Hello ", "{1}", "!\""], &["bob"]);
        assert_eq!(double.script, "echo \"Hello ${1}!\"");
        let single = assemble(&["echo 'Hello ", "{1}", "'"], &["bob"]);
        assert_eq!(single.script, "echo 'Hello '\"${1}\"''");
        let escaped = assemble(&["echo \\\" ", "{1}"], &["x"]);
        assert_eq!(escaped.script, "echo \\\" \"${1}\"");
    }

    #[test]
    fn a_stray_nul_byte_is_an_error() {
        let err = ShellCommand::assemble("echo \0x", Vec::new()).expect_err("no such parameter");
        assert!(err.contains("NUL byte"), "{err}");
    }
}

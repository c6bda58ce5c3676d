//! The one minijinja setup every template of promptops renders through (prompts, workflow
//! expressions, assertion values, grader prompts, mock replies): strict undefined values, no
//! auto-escaping, and bounds, so that a template or the values it is given cannot make a render
//! run away. Owns the limits and the bounded render; the callers own their contexts and errors.
//!
//! The bounds are fuel (minijinja counts every executed instruction, so a nested loop stops after
//! [`FUEL`] of them), the size of the output ([`MAX_OUTPUT`], checked as it is written) and the
//! depth of nested calls and includes ([`RECURSION_LIMIT`]).

use std::io;

use minijinja::{AutoEscape, Environment, Error, ErrorKind, Template, UndefinedBehavior};
use serde::Serialize;

/// Instructions one render may execute: about a second of work in a release build, and two
/// orders of magnitude above a prompt that loops over a thousand few-shot examples.
pub const FUEL: u64 = 10_000_000;

/// The most text one render may produce (16 MiB, above any model's context window).
pub const MAX_OUTPUT: usize = 16 << 20;

/// The deepest nesting of macro calls and includes.
pub const RECURSION_LIMIT: usize = 64;

/// A bounded environment with strict undefined values and no auto-escaping.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    env
}

/// Renders `template`, stopping with an error once the output passes [`MAX_OUTPUT`].
pub fn render<S: Serialize>(template: &Template<'_, '_>, context: S) -> Result<String, Error> {
    let mut out = Capped { bytes: Vec::new(), over: false };
    match template.render_captured_to(context, &mut out) {
        Ok(_) => String::from_utf8(out.bytes)
            .map_err(|_| Error::new(ErrorKind::InvalidOperation, "the rendered text is not valid UTF-8")),
        Err(_) if out.over => Err(too_long()),
        Err(err) => Err(err),
    }
}

/// Compiles and renders `source` in `env` (see [`render`]).
pub fn render_str<S: Serialize>(env: &Environment<'_>, source: &str, context: S) -> Result<String, Error> {
    render(&env.template_from_str(source)?, context)
}

/// Compiles an expression in `env`. minijinja 2.24 panics ("empty lexer stack") on an expression
/// with a `}}` outside a string literal that more text follows (found by fuzzing workflow files),
/// so such an expression is refused first: `}}` closes a template's `{{ … }}` and has no place in
/// an expression.
pub fn compile_expression<'env, 'source>(
    env: &'env Environment<'source>,
    source: &'source str,
) -> Result<minijinja::Expression<'env, 'source>, Error> {
    check_expression(source)?;
    env.compile_expression(source)
}

/// [`compile_expression`] for an owned source, for an expression kept beyond its text's lifetime.
pub fn compile_expression_owned(
    env: &'static Environment<'static>,
    source: String,
) -> Result<minijinja::Expression<'static, 'static>, Error> {
    check_expression(&source)?;
    env.compile_expression_owned(source)
}

fn check_expression(source: &str) -> Result<(), Error> {
    if closes_a_variable_block(source) {
        return Err(Error::new(ErrorKind::SyntaxError, "`}}` closes a template's `{{ … }}`; an expression has none"));
    }
    Ok(())
}

/// Whether `source` has a `}}` that minijinja's lexer takes for the end of a `{{ … }}`: outside
/// string literals ('…' or "…", with backslash escapes) and with brackets balanced, as the lexer
/// counts them (`(`, `[` and `{` together).
fn closes_a_variable_block(source: &str) -> bool {
    let bytes = source.as_bytes();
    let (mut quote, mut escaped, mut balance) = (None, false, 0isize);
    for (i, &b) in bytes.iter().enumerate() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if b == b'\\' => escaped = true,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'}' if balance == 0 && bytes.get(i + 1) == Some(&b'}') => return true,
                b'\'' | b'"' => quote = Some(b),
                b'(' | b'[' | b'{' => balance += 1,
                b')' | b']' | b'}' => balance -= 1,
                _ => {}
            },
        }
    }
    false
}

/// Whether `err` is one of the bounds above.
pub fn is_limit(err: &Error) -> bool {
    matches!(err.kind(), ErrorKind::OutOfFuel) || err.detail().is_some_and(|d| d.starts_with(TOO_LONG))
}

const TOO_LONG: &str = "the rendered text exceeds";

fn too_long() -> Error {
    Error::new(ErrorKind::InvalidOperation, format!("{TOO_LONG} {MAX_OUTPUT} bytes"))
}

/// A writer that refuses to grow past [`MAX_OUTPUT`].
struct Capped {
    bytes: Vec<u8>,
    over: bool,
}

impl io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_OUTPUT {
            self.over = true;
            return Err(io::Error::other(TOO_LONG));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn an_expression_closing_a_variable_block_is_refused_not_a_panic() {
        let env = environment();
        // Each of these made minijinja 2.24's lexer panic ("empty lexer stack").
        for source in ["a }} b", "state.score >= 8}}}}", "'x' }} 'y'", "a -}} b", "a\n}}\nb", "a ~ '}}' }}x"] {
            let err = compile_expression(&env, source).expect_err(source);
            assert_eq!(err.kind(), ErrorKind::SyntaxError, "{source}");
            assert!(err.detail().is_some_and(|d| d.contains("`}}`")), "{source}: {err}");
        }
    }

    #[test]
    fn braces_inside_string_literals_are_left_to_the_expression() {
        let env = environment();
        for source in ["a ~ '}}'", "a ~ \"}}\"", "a ~ \"\\\"}}\" ~ b", "{'k': {'n': 1}}", "{'k': {'n': 1}} == x"] {
            assert!(compile_expression(&env, source).is_ok(), "{source}");
        }
    }

    #[test]
    fn a_nested_loop_runs_out_of_fuel_quickly() {
        let env = environment();
        let started = Instant::now();
        let source = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}";
        let err = render_str(&env, source, ()).expect_err("bounded");
        assert_eq!(err.kind(), ErrorKind::OutOfFuel);
        assert!(is_limit(&err));
        assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    }

    #[test]
    fn output_past_the_cap_is_an_error_naming_it() {
        let env = environment();
        let source = "{% for i in range(20) %}{{ 'x' * 1000000 }}{% endfor %}";
        let err = render_str(&env, source, ()).expect_err("too long");
        assert!(err.to_string().contains(&format!("the rendered text exceeds {MAX_OUTPUT} bytes")), "{err}");
        assert!(is_limit(&err));
    }

    #[test]
    fn deep_recursion_is_refused() {
        let env = environment();
        let source = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}";
        let err = render_str(&env, source, ()).expect_err("too deep");
        assert!(err.to_string().contains("recursion"), "{err}");
    }

    #[test]
    fn ordinary_templates_render_as_before() {
        let env = environment();
        let text = render_str(&env, "{% for x in xs %}{{ x }} & {% endfor %}", minijinja::context! { xs => [1, 2] });
        assert_eq!(text.expect("renders"), "1 & 2 & ");
        assert_eq!(render_str(&env, "{{ missing }}", ()).expect_err("strict").kind(), ErrorKind::UndefinedError);
    }
}

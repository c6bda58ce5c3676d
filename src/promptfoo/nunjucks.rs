//! promptfoo templates are Nunjucks; promptops renders minijinja. Most Nunjucks is minijinja
//! already (`{{ var }}`, `{% if %}`, `{% for %}`, filters such as `upper` or `join`). What has a
//! direct equivalent is rewritten — `dump` → `tojson`, `.length` → `|length`, `===` → `==`,
//! `&&`/`||` → `and`/`or`, `.toUpperCase()` → `|upper` — and what has none (async tags,
//! filters such as `nl2br` or `truncate`, other JavaScript methods) is named with its file and
//! line. The result is compiled with minijinja to catch anything else, and its variables listed.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::LazyLock;

use regex::{Captures, Regex};

use super::source::Problems;
use crate::yaml::Location;

/// Where a template's first character is written.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    /// The file.
    pub path: &'a Path,
    /// The line of the template's first line.
    pub line: usize,
}

/// A template in minijinja, and the variables it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    /// The minijinja text.
    pub text: String,
    /// Top-level variables it reads.
    pub variables: BTreeSet<String>,
}

/// Tags minijinja has.
const TAGS: [&str; 30] = [
    "if",
    "elif",
    "else",
    "endif",
    "for",
    "endfor",
    "set",
    "endset",
    "macro",
    "endmacro",
    "call",
    "endcall",
    "filter",
    "endfilter",
    "block",
    "endblock",
    "extends",
    "include",
    "import",
    "from",
    "raw",
    "endraw",
    "with",
    "endwith",
    "autoescape",
    "endautoescape",
    "do",
    "continue",
    "break",
    "elseif",
];

/// Filters minijinja has (its builtins).
const FILTERS: [&str; 45] = [
    "abs",
    "attr",
    "batch",
    "bool",
    "capitalize",
    "count",
    "d",
    "default",
    "dictsort",
    "e",
    "escape",
    "first",
    "float",
    "groupby",
    "indent",
    "int",
    "items",
    "join",
    "last",
    "length",
    "lines",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "pprint",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "safe",
    "select",
    "selectattr",
    "slice",
    "sort",
    "split",
    "string",
    "sum",
    "title",
    "tojson",
    "trim",
    "unique",
    "upper",
];

/// Names minijinja defines itself: not variables of a case.
const GLOBALS: [&str; 7] = ["loop", "range", "dict", "namespace", "debug", "self", "super"];

/// JavaScript string methods with a filter equivalent.
const METHODS: [(&str, &str); 3] = [("toUpperCase", "upper"), ("toLowerCase", "lower"), ("trim", "trim")];

static SPANS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)\{\{(.*?)\}\}|\{%(.*?)%\}|\{#.*?#\}").expect("invariant: valid regex"));
static FILTER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\|\s*([A-Za-z_]\w*)").expect("invariant: valid regex"));
static METHOD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\.([A-Za-z_]\w*)\s*\(\s*\)|\.([A-Za-z_]\w*)\s*\(").expect("invariant: valid regex"));
static LENGTH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\.length\b(\s*[^(\s]|\s*$)").expect("invariant: valid regex"));
static DUMP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\|\s*dump\b(\s*\([^)]*\))?").expect("invariant: valid regex"));

/// Maps `template` to minijinja; `None` when it cannot be used (the problems are recorded).
pub fn map(template: &str, site: Site<'_>, problems: &mut Problems) -> Option<Mapped> {
    let mut ok = true;
    let mut text = String::with_capacity(template.len());
    let mut last = 0;
    for span in SPANS.captures_iter(template) {
        let whole = span.get(0).expect("invariant: a match has group 0");
        text.push_str(&template[last..whole.start()]);
        last = whole.end();
        let line = site.line + template[..whole.start()].matches('\n').count();
        let at = Some(Location { line, column: 1 });
        let mut unsupported = |what: String, hint: &str| {
            ok = false;
            problems.unsupported_at(site.path, at, what, hint);
        };
        if let Some(inner) = span.get(1) {
            text.push_str(&format!("{{{{{}}}}}", expression(inner.as_str(), &mut unsupported)));
        } else if let Some(inner) = span.get(2) {
            text.push_str(&format!("{{%{}%}}", statement(inner.as_str(), &mut unsupported)));
        } else {
            text.push_str(whole.as_str());
        }
    }
    text.push_str(&template[last..]);
    if !ok {
        return None;
    }
    compile(text, site, problems)
}

fn statement(inner: &str, unsupported: &mut impl FnMut(String, &str)) -> String {
    let trimmed = inner.trim_start_matches('-').trim_start();
    let tag: String = trimmed.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    if !TAGS.contains(&tag.as_str()) {
        unsupported(
            format!("Nunjucks tag `{{% {tag} %}}` has no minijinja equivalent"),
            "rewrite it with `{% if %}`, `{% for %}` or `{% set %}`",
        );
        return inner.to_owned();
    }
    // `elseif` is Nunjucks' spelling of `elif`.
    let inner = if tag == "elseif" { inner.replacen("elseif", "elif", 1) } else { inner.to_owned() };
    expression(&inner, unsupported)
}

fn expression(inner: &str, unsupported: &mut impl FnMut(String, &str)) -> String {
    let mut out = inner.replace("===", "==").replace("!==", "!=").replace("&&", " and ").replace("||", " or ");
    out = DUMP.replace_all(&out, "| tojson").into_owned();
    out = LENGTH.replace_all(&out, |c: &Captures<'_>| format!("|length{}", &c[1])).into_owned();
    out = METHOD
        .replace_all(&out, |c: &Captures<'_>| {
            let name = c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str());
            match METHODS.iter().find(|(js, _)| *js == name) {
                Some((_, filter)) if c.get(1).is_some() => format!("|{filter}"),
                _ => {
                    unsupported(
                        format!("JavaScript method `.{name}()` in a template has no minijinja equivalent"),
                        "use a minijinja filter instead (`|upper`, `|replace(\"a\", \"b\")`, `|join(\", \")`)",
                    );
                    c[0].to_owned()
                }
            }
        })
        .into_owned();
    for filter in FILTER.captures_iter(&out) {
        let name = &filter[1];
        if !FILTERS.contains(&name) {
            unsupported(
                format!("Nunjucks filter `{name}` has no minijinja equivalent"),
                "minijinja's filters: https://docs.rs/minijinja/latest/minijinja/filters/",
            );
        }
    }
    out
}

fn compile(text: String, site: Site<'_>, problems: &mut Problems) -> Option<Mapped> {
    let env = crate::template::environment();
    let template = match env.template_from_str(&text) {
        Ok(template) => template,
        Err(err) => {
            let line = site.line + err.line().unwrap_or(1).saturating_sub(1);
            problems.error(
                crate::yaml::YamlError::at(
                    site.path,
                    Some(Location { line, column: 1 }),
                    format!("the template does not parse: {}", err.detail().unwrap_or("syntax error")),
                )
                .with_hint("promptops renders minijinja, which covers most of Nunjucks"),
            );
            return None;
        }
    };
    let variables =
        template.undeclared_variables(false).into_iter().filter(|v| !GLOBALS.contains(&v.as_str())).collect();
    Some(Mapped { text, variables })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped(template: &str) -> Result<Mapped, Vec<String>> {
        let mut problems = Problems::new(false);
        let out = map(template, Site { path: Path::new("p.txt"), line: 1 }, &mut problems);
        let (errors, _) = problems.finish();
        out.ok_or_else(|| errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn plain_nunjucks_is_kept_and_its_variables_listed() {
        let m = mapped("Hi {{ name | upper }}{% if polite %}, please{% endif %}").expect("maps");
        assert_eq!(m.text, "Hi {{ name | upper }}{% if polite %}, please{% endif %}");
        assert_eq!(m.variables, BTreeSet::from(["name".to_owned(), "polite".to_owned()]));
    }

    #[test]
    fn javascript_isms_with_an_equivalent_are_rewritten() {
        let m = mapped("{{ items.length }} {{ x | dump }} {% if a === 1 && b %}{{ s.toUpperCase() }}{% endif %}")
            .expect("maps");
        assert_eq!(m.text, "{{ items|length }} {{ x | tojson }} {% if a == 1  and  b %}{{ s|upper }}{% endif %}");
    }

    #[test]
    fn constructs_without_an_equivalent_are_named_with_their_line() {
        let errors = mapped("line one\n{{ text | truncate(10) }}\n{% asyncEach x in xs %}{% endeach %}")
            .expect_err("unsupported");
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("p.txt:2:1: unsupported: Nunjucks filter `truncate`"), "{errors:?}");
        assert!(errors[1].contains("p.txt:3:1") && errors[1].contains("asyncEach"), "{errors:?}");
    }

    #[test]
    fn a_syntax_error_points_at_its_line() {
        let errors = mapped("ok\n{% if %}").expect_err("bad");
        assert!(errors[0].starts_with("p.txt:2:1: the template does not parse"), "{errors:?}");
    }
}

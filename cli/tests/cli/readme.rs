//! The README's promises, run as written: its quickstart block is executed line by line in a
//! shell, with the real binary on PATH and `$EDITOR` standing for a person changing the prompt.

use std::path::Path;

use crate::support::Project;

/// The first ```sh block after `heading` in the README.
fn block_after(heading: &str) -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).expect("README");
    let start = readme.find(heading).unwrap_or_else(|| panic!("README has no `{heading}`"));
    let rest = &readme[start..];
    let open = rest.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let close = rest[open..].find("```").expect("the block ends");
    rest[open..open + close].to_owned()
}

#[test]
fn the_quickstart_runs_as_written() {
    let dir = Project::empty();
    let script = block_after("## Quickstart");
    assert!(script.contains("rollback hello --label production"), "{script}");
    let editor = dir.root.join("edit.sh");
    std::fs::write(&editor, "#!/bin/sh\nsed -i 's/^description: \\(.*\\)$/description: \\1 Edited./' \"$1\"\n")
        .expect("editor");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let bin = Path::new(env!("CARGO_BIN_EXE_promptops")).parent().expect("bin dir").to_owned();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let output = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-xc", &script])
        .current_dir(&dir.root)
        .env("PATH", path)
        .env("EDITOR", &editor)
        .env("PROMPTOPS_AUTHOR", "tester")
        .env("PROMPTOPS_KEYRING", "none")
        .env("NO_COLOR", "1")
        .env_remove("PROMPTOPS_PROJECT")
        .env_remove("PROMPTOPS_FORMAT")
        .output()
        .expect("bash");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the quickstart failed\n--- stdout\n{stdout}--- stderr\n{stderr}");
    assert!(stdout.contains("hello production: @2 → @1"), "{stdout}");
    assert!(stdout.contains("PASSED 1/1"), "{stdout}");
}

/// A whole-line pattern for one line of a documented output: runs of spaces match any run
/// (column widths follow the figures), and timings (`7ms`, `0.0s`) match any timing.
fn pattern(line: &str) -> regex::Regex {
    let timing = regex::Regex::new(r"\d+(\.\d+)?m?s\b").expect("valid regex");
    let mut out = String::from("^");
    let mut last = 0;
    for found in timing.find_iter(line) {
        out.push_str(&spaced(&line[last..found.start()]));
        out.push_str(if found.as_str().ends_with("ms") { r"\d+ms" } else { r"\d+(\.\d+)?s" });
        last = found.end();
    }
    out.push_str(&spaced(&line[last..]));
    out.push('$');
    regex::Regex::new(&out).expect("valid pattern")
}

fn spaced(text: &str) -> String {
    let words: Vec<String> = text.split(' ').map(regex::escape).collect();
    words.join(" +").replace(" + +", " +")
}

/// Checks that the output block after `$ promptops COMMAND` in `doc` is what the command prints
/// in a fresh copy of this repository's example project: every line shown, in order; `…`
/// stands for lines left out.
fn check_example(doc: &str, command: &str) {
    check_example_except(doc, command, |_| false);
}

/// [`check_example`], leaving out the lines for which `measured` is true: figures that depend on
/// the machine's timing rather than on the project.
fn check_example_except(doc: &str, command: &str, measured: impl Fn(&str) -> bool) {
    let project = crate::eval_run::examples();
    let output = run_example(&project, command);
    check_lines(doc, command, &String::from_utf8_lossy(&output.stdout), measured);
}

fn run_example(project: &Project, command: &str) -> std::process::Output {
    let args: Vec<&str> = command.split_whitespace().collect();
    let output = crate::support::command(&project.root).env("PROMPTOPS_KEYRING", "none").args(&args).output();
    output.expect("run")
}

/// Every line of the block after `$ promptops COMMAND` in `doc` (but the `measured` ones) is in
/// `printed`, in order.
fn check_lines(doc: &str, command: &str, printed: &str, measured: impl Fn(&str) -> bool) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(doc);
    let text = std::fs::read_to_string(&path).expect("doc");
    let marker = format!("$ promptops {command}\n");
    let start = text.find(&marker).unwrap_or_else(|| panic!("{doc} has no `{}`", marker.trim())) + marker.len();
    let end = start + text[start..].find("```").expect("the block ends");
    // The block may go on with another command: its output ends there.
    let shown: Vec<&str> = text[start..end].lines().take_while(|l| !l.starts_with("$ ")).collect();
    let mut lines = printed.lines();
    for line in shown.iter().filter(|l| !matches!(l.trim(), "…" | "") && !measured(l)) {
        let want = pattern(line.trim_end());
        assert!(
            lines.any(|real| want.is_match(real.trim_end())),
            "{doc}: `promptops {command}` no longer prints (in this order)\n  {line}\n--- it printed\n{printed}"
        );
    }
}

#[test]
fn the_sequential_example_is_what_a_sequential_ab_prints() {
    // docs/ab.md's setup: the end-to-end test's 200-case suite and its two mock arms. The looks
    // are reported on stderr, before the report on stdout.
    let command = "ab +weak +strong --suite words --sequential --stop-early";
    let project = crate::ab::project(200);
    let output = run_example(&project, command);
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stderr), String::from_utf8_lossy(&output.stdout));
    check_lines("docs/ab.md", command, &printed, |_| false);
}

/// Lines of an `ab` comparison that depend on measured latency: the latency row and verdict,
/// and the secondary metrics, whose Benjamini-Hochberg adjustment includes latency's p-value.
fn latency_dependent(line: &str) -> bool {
    let trimmed = line.trim_start();
    line.contains("latency")
        || line.contains("(secondary")
        || trimmed.starts_with("score ")
        || trimmed.starts_with("metric `")
}

#[test]
fn the_ab_examples_are_what_ab_prints() {
    let command = "ab support/triage+offline support/triage+offline-lite --suite support-triage";
    check_example_except("README.md", command, latency_dependent);
    check_example_except("docs/ab.md", command, latency_dependent);
    check_example("docs/ab.md", &format!("{command} --judge judge"));
}

#[test]
fn a_stale_example_line_is_caught() {
    assert!(pattern("PASSED 9/9 passed (100.0%) · $0.00 · 0.0s").is_match("PASSED 9/9 passed (100.0%) · $0.00 · 1.2s"));
    assert!(!pattern("all 5 suites passed · 16/16 cases passed").is_match("all 6 suites passed · 17/17 cases passed"));
    assert!(pattern("  hello    offline    1/1   7ms").is_match("  hello  offline  1/1   12ms"));
}

//! What promptfoo users reach for in `promptops eval` (issue 18): `--filter-first-n`,
//! `--filter-sample N --seed S`, `file://` variables, `--watch`, and a JUnit time that counts a
//! script that ran into its timeout.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::eval_run::examples;
use crate::support::{Project, Run, command};

fn eval(project: &Project, args: &[&str]) -> Run {
    let mut cmd = command(&project.root);
    cmd.env("PROMPTOPS_KEYRING", "none").env_remove("GITHUB_ACTIONS").env_remove("GITHUB_STEP_SUMMARY");
    Run::from(cmd.args(args).output().expect("run promptops"))
}

/// The names of the cases a JSON report ran, in order.
fn case_names(report: &str) -> Vec<String> {
    let outcomes: serde_json::Value = serde_json::from_str(report).expect("json report");
    outcomes[0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["case_name"].as_str().expect("name").to_owned())
        .collect()
}

#[test]
fn filter_first_n_runs_only_the_first_cases() {
    let project = examples();
    let all = case_names(eval(&project, &["eval", "support-triage", "--format", "json"]).ok());
    assert_eq!(all.len(), 9, "{all:?}");
    let first =
        case_names(eval(&project, &["eval", "support-triage", "--filter-first-n", "2", "--format", "json"]).ok());
    assert_eq!(first, all[..2]);
    // After the other filters: the first two cases whose names have a `-` (the dataset's rows).
    let tagged =
        eval(&project, &["eval", "support-triage", "--filter", "-", "--filter-first-n", "2", "--format", "json"]);
    assert_eq!(case_names(tagged.ok()), ["refund-request", "invoice-copy"]);
}

#[test]
fn filter_sample_draws_the_same_cases_for_the_same_seed() {
    let project = examples();
    let args =
        |seed: &'static str| ["eval", "support-triage", "--filter-sample", "4", "--seed", seed, "--format", "json"];
    let once = eval(&project, &args("11"));
    let drawn = case_names(once.ok());
    assert_eq!(drawn.len(), 4, "{drawn:?}");
    assert!(once.stderr.contains("sampling 4 case(s) of each suite with --seed 11"), "{}", once.stderr);
    assert_eq!(case_names(eval(&project, &args("11")).ok()), drawn, "the same seed draws the same cases");
    let all = case_names(eval(&project, &["eval", "support-triage", "--format", "json"]).ok());
    let positions: Vec<usize> =
        drawn.iter().map(|name| all.iter().position(|a| a == name).expect("a case of the suite")).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "kept in suite order: {positions:?}");
    // Without --seed one is chosen and printed, so that the draw can be repeated.
    let unseeded = eval(&project, &["eval", "support-triage", "--filter-sample", "4", "--format", "json"]);
    let seed =
        regex::Regex::new(r"--seed (\d+)").expect("regex").captures(&unseeded.stderr).expect("a seed")[1].to_owned();
    let again = ["eval", "support-triage", "--filter-sample", "4", "--seed", &seed, "--format", "json"];
    assert_eq!(case_names(eval(&project, &again).ok()), case_names(unseeded.ok()));
}

#[test]
fn a_subset_of_zero_cases_is_refused() {
    let project = examples();
    let stderr = eval(&project, &["eval", "--filter-first-n", "0"]).fails_with(2).to_owned();
    assert!(stderr.contains("a subset of 0 cases would run nothing"), "{stderr}");
    let stderr = eval(&project, &["eval", "--filter-first-n", "2", "--filter-sample", "2"]).fails_with(2).to_owned();
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}

#[test]
fn file_variables_are_read_relative_to_the_suite() {
    let project = examples();
    project.write("eval-suites/data/article.txt", "Offices are changing.\nTeams meet on Tuesdays.\n");
    project.write(
        "eval-suites/from-file.yaml",
        "targets: [summarize/article]\nproviders: [echo]\ntests:\n  - name: an article read from a file\n    vars: { article: file://data/article.txt, sentences: 1 }\n    assert:\n      - { type: contains, value: \"sentence.\\n\\nOffices are changing.\\nTeams meet on Tuesdays.\" }\n      - { type: not-contains, value: \"file://\" }\n",
    );
    let run = eval(&project, &["eval", "from-file"]);
    assert_eq!(run.code, 0, "{}", run.snapshot());
    assert!(run.stdout.contains("PASSED 1/1 passed"), "{}", run.stdout);
}

#[test]
fn a_file_variable_that_cannot_be_read_is_a_problem_before_any_call() {
    let project = examples();
    project.write(
        "eval-suites/from-file.yaml",
        "targets: [support/triage]\nproviders: [echo]\ntests:\n  - name: missing\n    vars: { ticket: file://data/nope.txt }\n  - name: outside\n    vars: { ticket: file://../../../../etc/hostname }\n",
    );
    let stderr = eval(&project, &["eval", "from-file"]).fails_with(2).to_owned();
    assert!(
        stderr.contains("eval-suites/from-file.yaml:4:")
            && stderr.contains("variable `ticket`: cannot read `file://data/nope.txt`"),
        "{stderr}"
    );
    assert!(stderr.contains("variable `ticket`: cannot read `file://../../../../etc/hostname`"), "{stderr}");
    assert!(stderr.contains("hint: `file://` paths are relative to the suite file (eval-suites)"), "{stderr}");
    assert!(stderr.contains("no model was called"), "{stderr}");
}

#[test]
fn junit_time_counts_a_script_that_timed_out() {
    let project = examples();
    project.write(
        "eval-suites/slow-check.yaml",
        "targets: [support/triage]\ntests:\n  - name: slow check\n    vars: { ticket: refund }\n    assert:\n      - { type: script, value: \"sleep 5\", timeout_s: 1 }\n",
    );
    let run = eval(&project, &["eval", "slow-check", "-o", "eval.xml"]);
    assert_eq!(run.code, 3, "{}", run.snapshot());
    let xml = project.read("eval.xml");
    let time = regex::Regex::new(r#"<testcase [^>]*name="slow check"[^>]* time="([0-9.]+)""#)
        .expect("regex")
        .captures(&xml)
        .unwrap_or_else(|| panic!("a testcase\n{xml}"))[1]
        .parse::<f64>()
        .expect("seconds");
    assert!((1.0..5.0).contains(&time), "the case took its 1 s timeout, not 0: {time}\n{xml}");
    assert!(xml.contains("<error "), "a timed-out script is an error\n{xml}");
}

/// Lines of a child's stream, as they come.
fn lines(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    receive
}

/// Waits (at most a minute) for a line containing `text`; returns every line seen until then.
fn wait_for(lines: &mpsc::Receiver<String>, text: &str, seen: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(text);
                seen.push(line);
                if found {
                    return;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no line with `{text}`; seen:\n{}", seen.join("\n"));
}

#[test]
fn watch_reruns_only_the_suites_a_change_touches() {
    let project = examples();
    let mut child = command(&project.root)
        .args(["eval", "support-triage", "summarize-article", "--watch"])
        .env("PROMPTOPS_KEYRING", "none")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = lines(child.stdout.take().expect("stdout"));
    let stderr = lines(child.stderr.take().expect("stderr"));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    wait_for(&stderr, "watching", &mut err);
    // An edit to the article prompt re-runs its suite alone, as run 3.
    let prompt = project.read("prompts/summarize/article.yaml");
    project.write("prompts/summarize/article.yaml", &prompt.replacen("description: ", "description: Edited. ", 1));
    wait_for(&stderr, "re-running eval-suites/summarize-article.yaml: prompt `summarize/article` changed", &mut err);
    wait_for(&stdout, "(eval-suites/summarize-article.yaml, run 3)", &mut out);
    wait_for(&stderr, "watching", &mut err);
    // A suite that stops parsing is reported, and the watch goes on.
    let suite = project.read("eval-suites/summarize-article.yaml");
    project.write("eval-suites/summarize-article.yaml", &format!("{suite}\nthreshold: lots\n"));
    wait_for(&stderr, "no model was called", &mut err);
    project.write("eval-suites/summarize-article.yaml", &suite);
    wait_for(&stdout, "(eval-suites/summarize-article.yaml, run 4)", &mut out);
    wait_for(&stderr, "watching", &mut err);
    assert!(
        !out.iter()
            .chain(&err)
            .any(|l| l.contains("support-triage.yaml, run 3") || l.contains("support-triage.yaml, run 4")),
        "the triage suite was not touched:\n{}",
        out.join("\n")
    );
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let ended = child.wait().expect("wait");
    assert_eq!(ended.code(), Some(0), "Ctrl-C ends the watch with the last round's status");
}

//! On a real (pseudo-)terminal: colour where it is allowed, none with `--no-color`, progress bars
//! included, and tables whose columns line up whether their cells are coloured or not.

use crate::support::{Project, run_in_terminal, strip_escapes};

/// SGR sequences: the escapes that set colours and text styles.
fn colours(text: &str) -> Vec<String> {
    let sgr = regex::Regex::new(r"\x1b\[[0-9;]*m").expect("valid regex");
    sgr.find_iter(text).map(|m| m.as_str().escape_debug().to_string()).collect()
}

/// A project whose eval runs long enough (a slow mock) for the progress bar to draw.
fn slow_project() -> Project {
    let project = Project::new();
    let config = project.read("promptops.yaml").replace("    kind: mock\n", "    kind: mock\n    latency_ms: 400\n");
    project.write("promptops.yaml", &config);
    project
}

#[test]
fn no_color_leaves_the_progress_bar_plain_too() {
    let project = slow_project();
    let coloured = run_in_terminal(&project.root, &["eval"]);
    assert!(coloured.contains("\x1b[36m"), "the bar is cyan on a terminal: {coloured:?}");
    let plain = run_in_terminal(&project.root, &["eval", "--no-color"]);
    assert!(strip_escapes(&plain).contains("PASSED 1/1"), "{plain:?}");
    assert!(plain.contains("hello ["), "the bar was drawn: {plain:?}");
    assert_eq!(colours(&plain), Vec::<String>::new(), "{plain:?}");
}

#[test]
fn a_coloured_status_table_keeps_its_columns_aligned() {
    let project = Project::new();
    project.run(&["commit", "-m", "first"]).ok();
    project.write("prompts/hello.yaml", &project.read("prompts/hello.yaml").replace("Say hello", "Say a warm hello"));
    let shown = run_in_terminal(&project.root, &["status"]);
    assert!(!colours(&shown).is_empty(), "the state is coloured: {shown:?}");
    let text = strip_escapes(&shown);
    let lines: Vec<&str> = text.lines().collect();
    let header = lines.iter().find(|l| l.contains("STATE")).expect("header");
    let row = lines.iter().find(|l| l.contains("modified")).expect("row");
    assert_eq!(header.find("STATE"), row.find("modified"), "{text}");
    assert_eq!(header.find("LATEST"), row.find('1'), "{text}");
}

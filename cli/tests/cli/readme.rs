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

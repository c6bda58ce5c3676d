//! Output errors are errors: a reader that closes stdout early ends the process quietly with
//! 141 (as `git log | head` does), and a write that fails for any other reason (a full disk,
//! here `/dev/full`) is an error with exit 2, for stdout and for `-o` report files alike.

use std::process::Stdio;

use crate::support::{Project, command};

#[test]
fn a_closed_pipe_ends_quietly_with_141() {
    let project = Project::new();
    for args in [&["completions", "zsh"][..], &["schema", "prompt"], &["prompt", "list"], &["--help"]] {
        let mut child = command(&project.root)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn promptops");
        // Closing the read end before the first write: every write then fails with EPIPE.
        drop(child.stdout.take());
        let output = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        if args != ["--help"] {
            // clap prints `--help` itself and exits 0 whatever the pipe did.
            assert_eq!(output.status.code(), Some(141), "{args:?}: {stderr}");
            assert_eq!(stderr, "", "{args:?} ends quietly");
        }
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_stdout_is_an_error_with_exit_2() {
    let project = Project::new();
    let full = std::fs::File::create("/dev/full").expect("open /dev/full");
    let output = command(&project.root).args(["schema", "prompt"]).stdout(full).output().expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("error: cannot write the output to stdout: No space left on device"), "{stderr}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_report_file_that_cannot_be_written_is_an_error_with_exit_2() {
    let project = Project::new();
    std::os::unix::fs::symlink("/dev/full", project.root.join("report.json")).expect("symlink");
    let run = project.run(&["eval", "-o", "report.json"]);
    let stderr = run.fails_with(2);
    assert!(stderr.contains("cannot write the report `report.json`: No space left on device"), "{stderr}");
    let meta = std::fs::symlink_metadata(project.root.join("report.json")).expect("meta");
    assert!(meta.file_type().is_symlink(), "the link (and /dev/full) stay as they were");
}

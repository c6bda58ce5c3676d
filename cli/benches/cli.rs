//! Start-up and registry benchmarks of the real binary (issue 2's targets):
//! `--version` < 5 ms; `prompt list` with 1,000 prompts × 10 versions < 50 ms;
//! `commit` of 1,000 changed prompts < 1 s; `diff` of two 100 KB prompts < 50 ms.
//! Run: `cargo bench -p promptops-cli --bench cli`.

use std::path::Path;
use std::process::{Command, Stdio};

use promptops_test_support::bench::measure;

fn promptops(dir: &Path, args: &[&str]) {
    let status = Command::new(env!("CARGO_BIN_EXE_promptops"))
        .args(args)
        .current_dir(dir)
        .env("PROMPTOPS_AUTHOR", "bench")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run promptops");
    assert!(status.success(), "promptops {args:?} failed");
}

fn write_prompts(root: &Path, count: usize, round: usize) {
    for i in 0..count {
        let path = root.join(format!("prompts/bench/p{i:04}.yaml"));
        let text = format!(
            "description: Benchmark prompt {i}\nvariables:\n  x: {{ type: string }}\nmessages:\n  - role: system\n    content: You are prompt {i}, round {round}.\n  - role: user\n    content: \"{{{{ x }}}}\"\n"
        );
        std::fs::write(path, text).expect("write prompt");
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    promptops(root, &["init", "-q"]);
    measure("promptops --version", 50, || promptops(root, &["--version"]));

    std::fs::create_dir_all(root.join("prompts/bench")).expect("mkdir");
    let mut commits = Vec::new();
    for round in 0..10 {
        write_prompts(root, 1_000, round);
        let start = std::time::Instant::now();
        promptops(root, &["commit", "-q", "-m", "bench"]);
        commits.push(start.elapsed());
    }
    commits.sort();
    println!(
        "{:<60} median {:>12.3?}   min {:>12.3?}   (10 runs)",
        "commit of 1,000 changed prompts", commits[5], commits[0]
    );
    measure("prompt list (1,000 prompts x 10 versions)", 20, || promptops(root, &["prompt", "list"]));
    measure("status (1,000 prompts x 10 versions)", 20, || promptops(root, &["status"]));

    let big = |word: &str| {
        let lines: String =
            (0..2_000).map(|i| format!("      line {i} of a long instruction, {word} version.\n")).collect();
        format!("messages:\n  - role: system\n    content: |\n{lines}")
    };
    std::fs::write(root.join("prompts/big.yaml"), big("old")).expect("write");
    promptops(root, &["commit", "big", "-q", "-m", "big"]);
    let mut changed = big("old");
    for i in (0..2_000).step_by(20) {
        changed = changed
            .replace(&format!("line {i} of a long instruction, old"), &format!("line {i} of a long instruction, new"));
    }
    std::fs::write(root.join("prompts/big.yaml"), &changed).expect("write");
    println!("diff sizes: {} and {} bytes", big("old").len(), changed.len());
    measure("diff of two 100 KB prompts (100 changed lines)", 20, || promptops(root, &["diff", "big"]));
}

//! `promptops init`: scaffold a project.

use std::path::{Path, PathBuf};

use clap::Args;
use promptops::config::{CONFIG_FILE, STATE_DIR};
use promptops::fsutil::write_atomic;
use promptops::schema;

use crate::context::Context;
use crate::diagnose::usage;
use crate::exit::ExitStatus;

/// Flags of `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to create the project (default: the current directory).
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The project's name (default: the directory's name).
    #[arg(long)]
    pub name: Option<String>,
}

const PROMPT_EXAMPLE: &str = r#"# yaml-language-server: $schema=../schemas/prompt.schema.json
description: Greet someone in the house style.
variables:
  name: { type: string, description: Who to greet }
messages:
  - role: system
    content: |
      {% include "house-style.j2" %}
  - role: user
    content: "Say hello to {{ name }}."
tags: [example]
"#;

const SUITE_EXAMPLE: &str = r#"# yaml-language-server: $schema=../schemas/eval-suite.schema.json
description: The greeting is short and friendly. Run it with `promptops eval`.
targets: [hello]
providers: [offline]
tests:
  - name: greets Ada
    vars: { name: Ada }
    assert:
      - { type: icontains, value: hello }
      - { type: word-count, max: 20 }
"#;

const PARTIAL_EXAMPLE: &str = "You are friendly and brief. Answer in one sentence.\n";

/// Creates the project files; refuses to touch an existing project.
pub fn run(args: InitArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let InitArgs { dir, name } = args;
    let root = match dir {
        Some(dir) => dir,
        None => std::env::current_dir()?,
    };
    if root.join(CONFIG_FILE).exists() {
        return Err(usage(
            format!("`{}` is already a promptops project", root.display()),
            &["edit its promptops.yaml, or choose another directory"],
        ));
    }
    let name = name.unwrap_or_else(|| {
        let absolute = std::path::absolute(&root).unwrap_or_else(|_| root.clone());
        absolute.file_name().map_or_else(|| "my-prompts".to_owned(), |n| n.to_string_lossy().into_owned())
    });
    for dir in ["prompts/_partials", "eval-suites", "workflows", "schemas"] {
        std::fs::create_dir_all(root.join(dir))?;
    }
    write_new(&root.join(CONFIG_FILE), &config_template(&name))?;
    write_new(&root.join("prompts/hello.yaml"), PROMPT_EXAMPLE)?;
    write_new(&root.join("prompts/_partials/house-style.j2"), PARTIAL_EXAMPLE)?;
    write_new(&root.join("eval-suites/hello.yaml"), SUITE_EXAMPLE)?;
    write_new(&root.join("workflows/.gitkeep"), "")?;
    for doc in schema::SCHEMAS {
        write_atomic(&root.join("schemas").join(doc.file), schema::render(doc).as_bytes())?;
    }
    ensure_gitignored(&root)?;
    ctx.printer.status(&format!("Created promptops project `{name}` in {}", root.display()));
    ctx.printer
        .status("Next: `promptops prompt render hello --var name=Ada`, `promptops eval`, then `promptops commit -m \"first version\"`");
    Ok(ExitStatus::Success)
}

fn config_template(name: &str) -> String {
    format!(
        r#"# yaml-language-server: $schema=./schemas/promptops.schema.json
name: {name}
providers:
  - id: offline                # a scripted model: runs with no key and no network
    kind: mock
    rules:
      - match: {{ contains: hello }}
        reply: "Hello! Nice to meet you."
    default: "I am an offline mock model."
  - id: echo                   # answers with the rendered prompt
    kind: echo
defaults:
  provider: offline
labels:
  protected: [production]
"#
    )
}

/// Writes a scaffold file unless one is already there (never overwrite the user's work).
fn write_new(path: &Path, contents: &str) -> anyhow::Result<()> {
    if !path.exists() {
        write_atomic(path, contents.as_bytes())?;
    }
    Ok(())
}

/// Adds `.promptops/` to `.gitignore` unless an entry already covers it.
fn ensure_gitignored(root: &Path) -> anyhow::Result<()> {
    let path = root.join(".gitignore");
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let entry = format!("{STATE_DIR}/");
    if existing.lines().any(|l| l.trim() == entry || l.trim() == STATE_DIR || l.trim() == format!("/{entry}")) {
        return Ok(());
    }
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&entry);
    text.push('\n');
    write_atomic(&path, text.as_bytes())?;
    Ok(())
}

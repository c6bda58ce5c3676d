//! `commit`, `status`, `log`, `diff`, `show`, `checkout`: the working copy against the registry.

use clap::Args;
use promptops::prompt::{self, PromptRef, Selector};
use promptops::registry::diff::{FileDiff, diff_prompts};
use promptops::registry::status::{FileState, status as compare};
use promptops::service::RegistryService;
use promptops::store::{CommitOutcome, VersionRecord};

use super::workspace::{diff_side, from_record, load_valid, parse_name, parse_ref, short_hash, when, working_hashes};
use crate::context::Context;
use crate::diagnose::{DiagnoseExt, usage};
use crate::exit::ExitStatus;
use crate::output::{Format, Grid, Tone, diff as render_diff, emit_structured};

/// Flags of `commit`.
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Prompts to commit (default: all).
    #[arg(value_name = "NAME", add = clap_complete::ArgValueCandidates::new(crate::complete::prompts))]
    pub names: Vec<String>,
    /// Why: recorded with each new version.
    #[arg(short, long)]
    pub message: String,
}

/// Commits every changed prompt.
pub async fn commit(args: CommitArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let CommitArgs { names, message } = args;
    if message.trim().is_empty() {
        return Err(usage("the commit message is empty", &["say why with `-m \"...\"`"]));
    }
    let format = ctx.format(Format::DOCUMENT, "commit")?;
    let names = names.iter().map(|n| parse_name(n)).collect::<anyhow::Result<Vec<_>>>()?;
    let project = ctx.project()?;
    let prompts = load_valid(ctx, &project, &names)?;
    if prompts.is_empty() {
        ctx.printer.status("nothing to commit: no prompts in prompts/");
        return Ok(ExitStatus::Success);
    }
    let registry = ctx.registry(&project).await?;
    let outcomes = registry.commit(&prompts, message.trim()).await.diag()?;
    if !emit_structured(&ctx.printer, format, &outcomes)? {
        print_outcomes(ctx, &outcomes);
    }
    Ok(ExitStatus::Success)
}

fn print_outcomes(ctx: &Context, outcomes: &[CommitOutcome]) {
    let mut created = 0;
    for outcome in outcomes {
        match outcome {
            CommitOutcome::Created(m) => {
                created += 1;
                let hash = ctx.printer.paint(Tone::Dim, short_hash(&m.hash));
                ctx.printer.out(&format!(
                    "{} {}@{} {hash}",
                    ctx.printer.paint(Tone::Good, "created  "),
                    m.name,
                    m.number
                ));
            }
            CommitOutcome::Unchanged(m) => {
                ctx.printer.status(&format!("unchanged {} (still @{})", m.name, m.number));
            }
        }
    }
    ctx.printer.status(&format!("{created} new version(s), {} unchanged", outcomes.len() - created));
}

/// Shows the state of every prompt.
pub async fn status(ctx: &Context) -> anyhow::Result<ExitStatus> {
    let format = ctx.format(Format::LISTING, "status")?;
    let project = ctx.project()?;
    let working = working_hashes(&project)?;
    let registry = ctx.registry(&project).await?;
    let stored = registry.prompts().await.diag()?;
    let labels = registry.labels(None).await.diag()?;
    let entries = compare(&working, &stored, &labels);
    if !emit_structured(&ctx.printer, format, &entries)? {
        let mut grid = Grid::new(&["PROMPT", "STATE", "LATEST", "LABELS"]);
        for e in &entries {
            let tone = match e.state {
                FileState::New => Tone::Good,
                FileState::Modified => Tone::Warn,
                FileState::Deleted | FileState::Invalid => Tone::Bad,
                FileState::Unchanged => Tone::Dim,
            };
            let labels: Vec<String> = e.labels.iter().map(|(l, v)| format!("{l}→{v}")).collect();
            let state = if format == Format::Table {
                ctx.printer.paint(tone, e.state.as_str())
            } else {
                e.state.as_str().to_owned()
            };
            grid.row(vec![
                e.name.to_string(),
                state,
                e.latest.map_or("-".into(), |n| n.to_string()),
                labels.join(", "),
            ]);
        }
        if grid.is_empty() {
            ctx.printer.status("no prompts yet: create one with `promptops prompt new NAME`");
        } else {
            ctx.printer.out(&grid.render(format));
        }
    }
    Ok(ExitStatus::Success)
}

/// Flags of `log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// The prompt.
    #[arg(add = clap_complete::ArgValueCandidates::new(crate::complete::prompts))]
    pub name: String,
}

/// Shows versions and label moves.
pub async fn log(args: LogArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let LogArgs { name } = args;
    let format = ctx.format(Format::LISTING, "log")?;
    let name = parse_name(&name)?;
    let project = ctx.project()?;
    let registry = ctx.registry(&project).await?;
    let log = registry.log(&name).await.diag()?;
    if !emit_structured(&ctx.printer, format, &log)? {
        let mut versions = Grid::new(&["VERSION", "HASH", "AUTHOR", "DATE", "LABELS", "MESSAGE"]);
        for (i, v) in log.versions.iter().enumerate() {
            let mut labels: Vec<&str> =
                log.labels.iter().filter(|l| l.version == v.number).map(|l| l.label.as_str()).collect();
            if i == 0 {
                labels.insert(0, "latest");
            }
            versions.row(vec![
                v.number.to_string(),
                short_hash(&v.hash).to_owned(),
                v.author.clone(),
                when(&v.created_at),
                labels.join(", "),
                v.message.clone(),
            ]);
        }
        ctx.printer.out(&versions.render(format));
        if !log.moves.is_empty() {
            let mut moves = Grid::new(&["DATE", "LABEL", "FROM", "TO", "BY", "REASON"]);
            let show = |v: Option<u32>| v.map_or("-".to_owned(), |n| n.to_string());
            for m in &log.moves {
                moves.row(vec![
                    when(&m.at),
                    m.label.to_string(),
                    show(m.from),
                    show(m.to),
                    m.actor.clone(),
                    m.reason.as_str().to_owned(),
                ]);
            }
            ctx.printer.out(&format!("\nLabel moves:\n{}", moves.render(format)));
        }
    }
    Ok(ExitStatus::Success)
}

/// Flags of `diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Zero refs: every changed prompt against its latest version. One: that ref against the
    /// working copy (a bare name: latest against the working copy). Two: the first against the second.
    #[arg(value_name = "REF", num_args = 0..=2, add = clap_complete::ArgValueCandidates::new(crate::complete::prompts))]
    pub refs: Vec<String>,
    /// Show changed line counts instead of the diff.
    #[arg(long)]
    pub stat: bool,
    /// Exit with 1 when there are differences, 0 when there are none (like `git diff --exit-code`).
    #[arg(long)]
    pub exit_code: bool,
}

/// Shows differences between prompt versions.
pub async fn diff(args: DiffArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let DiffArgs { refs, stat, exit_code } = args;
    let format = ctx.format(&[Format::Table, Format::Json, Format::Yaml], "diff")?;
    let refs = refs.iter().map(|r| parse_ref(r)).collect::<anyhow::Result<Vec<_>>>()?;
    let project = ctx.project()?;
    let registry = ctx.registry(&project).await?;
    let pairs: Vec<(PromptRef, PromptRef)> = match refs.as_slice() {
        [] => {
            let working = working_hashes(&project)?;
            let stored = registry.prompts().await.diag()?;
            compare(&working, &stored, &[])
                .into_iter()
                .filter(|e| matches!(e.state, FileState::New | FileState::Modified | FileState::Deleted))
                .map(|e| (PromptRef { name: e.name.clone(), selector: Selector::Latest }, PromptRef::working(e.name)))
                .collect()
        }
        [one] if one.selector == Selector::WorkingCopy => {
            vec![(PromptRef { name: one.name.clone(), selector: Selector::Latest }, one.clone())]
        }
        [one] => vec![(one.clone(), PromptRef::working(one.name.clone()))],
        [a, b, ..] => vec![(a.clone(), b.clone())],
    };
    let mut files: Vec<FileDiff> = Vec::new();
    for (old, new) in &pairs {
        let new_side = diff_side(&project, registry.as_ref(), new).await?;
        // A prompt never committed has an empty old side, so its diff shows the whole file.
        let old_side = match diff_side(&project, registry.as_ref(), old).await {
            Ok(side) => side,
            Err(_) if old.selector == Selector::Latest && refs.len() < 2 => promptops::registry::diff::DiffSide {
                label: format!("{} (no versions)", old.name),
                source: String::new(),
                partials: Default::default(),
            },
            Err(err) => return Err(err),
        };
        files.extend(diff_prompts(&old_side, &new_side));
    }
    let structured = emit_structured(&ctx.printer, format, &files)?;
    if !structured && stat && !files.is_empty() {
        ctx.printer.out(&render_diff::stat(&ctx.printer, &files));
    } else if !structured {
        for file in &files {
            ctx.printer.out_raw(&render_diff::unified(&ctx.printer, file));
        }
    }
    Ok(if exit_code && !files.is_empty() { ExitStatus::Failed } else { ExitStatus::Success })
}

/// Flags of `show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The version to show (a bare name shows the latest version).
    #[arg(value_name = "REF", add = clap_complete::ArgValueCandidates::new(crate::complete::prompts))]
    pub reference: String,
}

/// Prints a stored version's file (metadata on stderr; everything with `--format json`).
pub async fn show(args: ShowArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let ShowArgs { reference } = args;
    let format = ctx.format(Format::DOCUMENT, "show")?;
    let project = ctx.project()?;
    let registry = ctx.registry(&project).await?;
    let record = resolve_stored(registry.as_ref(), &reference).await?;
    if !emit_structured(&ctx.printer, format, &record)? {
        let m = &record.meta;
        ctx.printer.status(&format!(
            "{}@{} {} by {} at {}: {}",
            m.name,
            m.number,
            short_hash(&m.hash),
            m.author,
            when(&m.created_at),
            m.message
        ));
        ctx.printer.out_raw(&record.source);
    }
    Ok(ExitStatus::Success)
}

/// The stored version a ref names; a bare name means its latest version.
async fn resolve_stored(registry: &dyn RegistryService, reference: &str) -> anyhow::Result<VersionRecord> {
    let r = parse_ref(reference)?;
    let selector = if r.selector == Selector::WorkingCopy { Selector::Latest } else { r.selector };
    registry.resolve(&r.name, &selector).await.diag()
}

/// Flags of `checkout`.
#[derive(Debug, Args)]
pub struct CheckoutArgs {
    /// The version to write back (a bare name means its latest version).
    #[arg(value_name = "REF", add = clap_complete::ArgValueCandidates::new(crate::complete::prompts))]
    pub reference: String,
    /// Overwrite uncommitted changes in the file.
    #[arg(long)]
    pub force: bool,
}

/// Writes a stored version back to its file, atomically.
pub async fn checkout(args: CheckoutArgs, ctx: &Context) -> anyhow::Result<ExitStatus> {
    let CheckoutArgs { reference, force } = args;
    let project = ctx.project()?;
    let registry = ctx.registry(&project).await?;
    let record = resolve_stored(registry.as_ref(), &reference).await?;
    let r = PromptRef::working(record.meta.name.clone());
    let on_disk = prompt::prompt_names_on_disk(&project.prompts_dir()).diag()?;
    let path = on_disk.get(&r.name).cloned().unwrap_or_else(|| project.prompts_dir().join(format!("{}.yaml", r.name)));
    if path.exists() && !force {
        let committed: Vec<String> = registry.log(&r.name).await.diag()?.versions.into_iter().map(|v| v.hash).collect();
        let current = prompt::load_prompt(&project.prompts_dir(), &r.name).map(|p| p.hash()).ok();
        if !current.is_some_and(|hash| committed.contains(&hash)) {
            return Err(usage(
                format!("`{}` has uncommitted changes", project.relative(&path).display()),
                &["commit them first, or pass `--force` to overwrite them", "see them with `promptops diff NAME`"],
            ));
        }
    }
    let version = from_record(&record)?;
    let current_partials = prompt::load_partials(&project.prompts_dir()).diag()?;
    for (include, text) in &version.partials {
        if current_partials.get(include) != Some(text) {
            ctx.printer.warn(&format!(
                "partial `{include}` differs from the one version {} used; it was left as it is",
                record.meta.number
            ));
        }
    }
    promptops::fsutil::write_atomic(&path, record.source.as_bytes())?;
    ctx.printer.status(&format!(
        "checked out {}@{} into {}",
        record.meta.name,
        record.meta.number,
        project.relative(&path).display()
    ));
    Ok(ExitStatus::Success)
}

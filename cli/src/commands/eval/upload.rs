//! `--remote NAME` on `eval` and `ab`: runs are made locally (local cache, local providers) and
//! then uploaded with their results to the server, which numbers them; where each landed is
//! printed on stderr. The local copy stays, so a failed upload loses nothing.

use promptops::api::RunUpload;
use promptops::config::Project;
use promptops::eval::report::for_each_result;
use promptops::store::RunRecord;

use crate::context::{Context, LocalStore};
use crate::diagnose::DiagnoseExt;

/// Uploads local `run` to remote `remote`; returns it as the server stored it.
pub(crate) async fn upload_run(
    ctx: &Context,
    project: &Project,
    local: &LocalStore,
    remote: &str,
    run: &RunRecord,
) -> anyhow::Result<RunRecord> {
    let mut results = Vec::new();
    for_each_result(&local.store, &local.scope, run.id, false, |r| results.push(r.clone())).await.diag()?;
    let service = ctx.runs(project).await?;
    let stored = service.upload(RunUpload { run: run.clone(), results }).await.diag().map_err(|err| {
        err.context(format!(
            "run {} ({}) is kept in the local store but did not reach remote `{remote}`",
            run.id, run.draft.suite
        ))
    })?;
    ctx.printer.status(&format!(
        "uploaded run {} ({}) to remote `{remote}` as run {}: `promptops eval show {} --remote {remote}`",
        run.id, run.draft.suite, stored.id, stored.id
    ));
    Ok(stored)
}

//! `--remote NAME` on `eval` and `ab`: runs are made locally (local cache, local providers) and
//! then uploaded with their results to the server, which numbers them; where each landed is
//! printed on stderr. The local copy stays, so a failed upload loses nothing.

use promptops::api::RunUpload;
use promptops::config::Project;
use promptops::store::{ResultRecord, RunRecord};

use crate::context::Context;
use crate::diagnose::DiagnoseExt;

/// Uploads local `run` with its `results` (read by the caller, once for every use) to remote
/// `remote`; returns it as the server stored it.
pub(crate) async fn upload_run(
    ctx: &Context,
    project: &Project,
    remote: &str,
    run: &RunRecord,
    results: &[ResultRecord],
) -> anyhow::Result<RunRecord> {
    let service = ctx.runs(project).await?;
    let stored =
        service.upload(RunUpload { run: run.clone(), results: results.to_vec() }).await.diag().map_err(|err| {
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

//! The model caller the CLI hands to the workflow executor: the project's providers, with the
//! cache and usage ledger in the local store.

use promptops::config::Project;
use promptops::provider::ProvidersOptions;
use promptops::workflow::ProviderCaller;

use crate::context::Context;

/// The providers of `project` as a workflow model caller.
pub async fn caller(ctx: &Context, project: &Project, no_cache: bool) -> anyhow::Result<ProviderCaller> {
    let (store, scope) = ctx.store(project).await?;
    Ok(ProviderCaller::new(project, store, scope, ProvidersOptions { no_cache, ..ProvidersOptions::default() }))
}

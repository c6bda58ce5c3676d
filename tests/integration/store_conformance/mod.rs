//! One behaviour suite for every [`Store`] backend (DESIGN boundary 1). Each case is an
//! `async fn case(b: Backend)` in the module of its sub-trait, listed once in `conformance!`
//! below, which runs it against SQLite always and against PostgreSQL when
//! `PROMPTOPS_TEST_POSTGRES_URL` is set (each test in a fresh schema, dropped afterwards, so
//! tests run in parallel); without the variable the PostgreSQL half says that it skipped, test by test.
//!
//! To cover a new sub-trait: add a module here with its cases, written against `b.store`, and
//! add `module::case` lines to the `conformance!` list.

mod accounts;
mod backends;
mod experiments;
mod gateway;
mod gateway_shares;
mod inference;
mod isolation;
mod queue;
mod registry;
mod runs;
mod schema;
mod sqlite_only;
mod urls;
mod workflow;

use std::collections::BTreeMap;

pub use backends::{Backend, postgres, sqlite};
use promptops::access::{Action, Principal, Role};
use promptops::prompt::{Label, PromptName};
use promptops::store::{CommitOutcome, Scope, VersionDraft};

pub fn scope(tenant: &str, project: &str) -> Scope {
    let principal = Principal {
        subject: "tester".into(),
        tenant: tenant.into(),
        roles: BTreeMap::from([(project.to_owned(), Role::Owner)]),
        tenant_admin: false,
        super_admin: false,
    };
    principal.authorize(Action::Write, project).expect("owner may write")
}

pub fn name(text: &str) -> PromptName {
    PromptName::new(text).expect("valid name")
}

pub fn label(text: &str) -> Label {
    Label::new(text).expect("valid label")
}

pub fn draft(prompt: &str, content: &str) -> VersionDraft {
    VersionDraft {
        name: name(prompt),
        hash: format!("{:x}", md5_like(content)),
        source: content.to_owned(),
        partials: BTreeMap::from([("style.j2".to_owned(), "Be kind.".to_owned())]),
        author: "ada".to_owned(),
        message: format!("commit {content}"),
        created_at: None,
    }
}

/// A stable, content-derived hex "hash" for test drafts (the store treats hashes as opaque).
fn md5_like(content: &str) -> u128 {
    content.bytes().fold(0xcbf29ce484222325_u128, |h, b| (h ^ u128::from(b)).wrapping_mul(0x100000001b3))
}

fn created(outcomes: &[CommitOutcome]) -> Vec<u32> {
    outcomes
        .iter()
        .filter_map(|o| match o {
            CommitOutcome::Created(m) => Some(m.number),
            CommitOutcome::Unchanged(_) => None,
        })
        .collect()
}

/// The suites of the five records the keyset cases create, numbered 1 to 5 in this order.
pub const KEYSET_SUITES: [&str; 5] = ["triage", "reply", "triage", "reply", "triage"];

/// Checks a newest-first list with a keyset bound over the records of [`KEYSET_SUITES`]:
/// `list(suite, before, limit)` answers the numbers listed (runs or experiments).
pub async fn check_keyset_paging(list: impl AsyncFn(Option<&'static str>, Option<u64>, u32) -> Vec<u64>) {
    assert_eq!(list(None, None, 10).await, vec![5, 4, 3, 2, 1], "newest first");
    assert_eq!(list(None, Some(4), 10).await, vec![3, 2, 1], "`before` itself is excluded");
    assert_eq!(list(None, Some(4), 2).await, vec![3, 2], "the limit counts after the bound");
    assert_eq!(list(Some("triage"), Some(5), 10).await, vec![3, 1], "suite and bound combine");
    assert_eq!(list(Some("triage"), Some(5), 1).await, vec![3]);
    assert_eq!(list(Some("reply"), Some(2), 10).await, Vec::<u64>::new());
    assert_eq!(list(None, Some(1), 10).await, Vec::<u64>::new(), "nothing below the first");
    assert_eq!(list(None, Some(u64::MAX), 10).await, vec![5, 4, 3, 2, 1], "a bound above every number");
    let mut walked = Vec::new();
    let mut before = None;
    loop {
        let page = list(None, before, 2).await;
        let Some(&last) = page.last() else { break };
        walked.extend(page);
        before = Some(last);
    }
    assert_eq!(walked, vec![5, 4, 3, 2, 1], "pages of two walk the list once");
}

/// Runs every listed case once per backend: `sqlite_backend::case` and `postgres_backend::case`.
macro_rules! conformance {
    ($($module:ident :: $case:ident),* $(,)?) => {
        mod sqlite_backend {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::$module::$case(super::sqlite().await).await;
            })*
        }
        mod postgres_backend {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                if let Some(backend) = super::postgres(concat!(module_path!(), "::", stringify!($case))).await {
                    super::$module::$case(backend).await;
                }
            })*
        }
    };
}

conformance!(
    registry::commit_numbers_versions_per_prompt,
    registry::commit_skips_unchanged_content,
    registry::commit_chains_drafts_of_one_prompt_in_one_batch,
    registry::versions_keep_content_and_metadata,
    registry::a_copied_version_keeps_its_creation_time,
    registry::hash_prefix_finds_versions,
    registry::prompts_summarise_latest_versions,
    registry::labels_move_and_record_history,
    registry::label_to_missing_version_fails_and_changes_nothing,
    registry::concurrent_commits_lose_nothing_and_stay_gapless,
    registry::concurrent_batches_in_opposite_orders_neither_deadlock_nor_collide,
    registry::concurrent_label_moves_record_a_chained_history,
    isolation::tenants_and_projects_are_isolated,
    accounts::only_owners_change_owners_and_one_always_remains,
    accounts::concurrent_demotions_leave_an_owner,
    accounts::revoking_a_token_revokes_exactly_what_was_made_with_it,
    accounts::a_key_pair_grant_carries_its_creators_current_role,
    accounts::tenants_projects_and_principals_are_created_once_and_listed,
    accounts::tokens_keep_their_fields_and_grant_their_principals_roles,
    accounts::key_pairs_are_listed_and_revoked_in_their_project_only,
    accounts::the_audit_log_is_read_newest_first_filtered_and_paged,
    accounts::the_label_move_mark_grows_with_every_move,
    isolation::same_keys_in_two_tenants_stay_apart_in_every_sub_trait,
    workflow::workflow_threads_are_created_once_and_listed,
    workflow::workflow_tasks_survive_until_their_step_commits,
    workflow::workflow_forks_copy_history_up_to_a_step,
    workflow::workflow_threads_are_isolated,
    runs::runs_are_numbered_and_keep_their_results,
    runs::an_imported_run_is_numbered_anew_and_stored_whole,
    runs::runs_are_isolated_by_tenant_and_project,
    runs::appending_the_same_results_again_changes_nothing,
    runs::concurrent_appends_keep_totals_equal_to_the_rows,
    runs::concurrent_runs_get_distinct_gapless_numbers,
    runs::runs_list_newest_first_below_a_bound,
    runs::a_run_is_claimed_by_one_owner_at_a_time,
    inference::cache_entries_are_read_back_until_they_expire,
    inference::cache_entries_are_read_many_at_once_in_the_order_asked,
    inference::cache_batches_replace_existing_entries,
    inference::usage_is_summed_by_period_and_grouped,
    inference::cache_and_usage_are_isolated_by_scope,
    schema::a_fresh_store_is_current_and_migrating_again_is_a_no_op,
    schema::stores_opened_at_once_on_a_fresh_database_migrate_it_once,
    schema::a_store_opened_without_migrating_reports_what_is_pending,
    experiments::experiments_are_numbered_and_kept_whole,
    experiments::experiments_are_isolated_by_tenant_and_project,
    experiments::concurrent_experiments_get_distinct_gapless_numbers,
    experiments::experiments_list_newest_first_below_a_bound,
    gateway::a_dead_replicas_slot_comes_back_when_its_lease_ends,
    gateway::a_dead_replicas_reservation_comes_back_when_its_lease_ends,
    gateway::a_settled_reservation_becomes_spend_and_its_lease_no_longer_holds_it,
    gateway::concurrent_admissions_and_settlements_never_deadlock,
    gateway::a_live_replica_keeps_its_slot_while_it_renews_and_gives_it_back_when_settled,
    gateway_shares::replicas_admitting_at_once_never_overspend_a_budget_of_three_calls,
    gateway_shares::replicas_sharing_a_budget_admit_at_most_what_it_holds_and_strand_under_a_call_each,
    gateway_shares::a_dead_replicas_unused_share_comes_back_when_its_lease_ends,
    gateway_shares::a_rate_limit_holds_across_replicas_leasing_shares,
    queue::a_queued_run_is_created_once_per_idempotency_key,
    queue::concurrent_submissions_with_one_key_make_one_run,
    queue::a_result_is_written_only_by_the_holder_of_its_lease,
    queue::an_expired_lease_is_rescued_and_its_late_holder_is_refused,
    queue::a_restart_requeues_every_running_unit_at_once,
    queue::released_units_are_claimed_again_without_spending_an_attempt,
    queue::renewal_keeps_held_units_and_a_cancel_takes_them_away,
    queue::a_run_stopped_by_a_worker_keeps_the_first_reason,
    queue::a_tenant_runs_at_most_its_cap_of_units,
    queue::waiting_tenants_share_the_free_slots_evenly,
    queue::concurrent_claimers_never_share_a_unit,
);

//! What a commit stores, decided the same way by every backend: a draft whose hash equals its
//! prompt's latest version is unchanged; any other gets the next number. Backends lock, read the
//! latest versions, call [`plan_commit`] and insert the drafts it marks created. Also the
//! clock every backend stamps rows with.

use std::collections::HashMap;

use chrono::{DateTime, SubsecRound, Utc};

use super::{CommitOutcome, VersionDraft, VersionMeta};
use crate::prompt::PromptName;

/// Now, to the microsecond: what both backends store, so a value read back equals the one returned.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// The names of the drafts, sorted and without repeats (the order backends lock them in).
pub(crate) fn draft_names(drafts: &[VersionDraft]) -> Vec<&str> {
    let mut names: Vec<&str> = drafts.iter().map(|d| d.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// The outcome of every draft, in order, given the latest stored version of each prompt. Two
/// drafts of one prompt in a batch chain: the second compares with (and numbers after) the first.
pub(crate) fn plan_commit(
    drafts: &[VersionDraft],
    mut latest: HashMap<PromptName, VersionMeta>,
    at: DateTime<Utc>,
) -> Vec<CommitOutcome> {
    drafts
        .iter()
        .map(|draft| match latest.get(&draft.name) {
            Some(meta) if meta.hash == draft.hash => CommitOutcome::Unchanged(meta.clone()),
            previous => {
                let meta = VersionMeta {
                    name: draft.name.clone(),
                    number: previous.map_or(1, |m| m.number + 1),
                    hash: draft.hash.clone(),
                    author: draft.author.clone(),
                    message: draft.message.clone(),
                    created_at: draft.created_at.unwrap_or(at),
                };
                latest.insert(draft.name.clone(), meta.clone());
                CommitOutcome::Created(meta)
            }
        })
        .collect()
}

/// The drafts to insert with their metadata, from a plan.
pub(crate) fn created<'a>(
    drafts: &'a [VersionDraft],
    plan: &'a [CommitOutcome],
) -> impl Iterator<Item = (&'a VersionDraft, &'a VersionMeta)> {
    drafts.iter().zip(plan).filter_map(|(draft, outcome)| match outcome {
        CommitOutcome::Created(meta) => Some((draft, meta)),
        CommitOutcome::Unchanged(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(name: &str, hash: &str) -> VersionDraft {
        VersionDraft {
            name: PromptName::new(name).expect("valid"),
            hash: hash.to_owned(),
            source: String::new(),
            partials: Default::default(),
            author: "ada".to_owned(),
            message: String::new(),
            created_at: None,
        }
    }

    fn numbers(plan: &[CommitOutcome]) -> Vec<(bool, u32)> {
        plan.iter()
            .map(|o| match o {
                CommitOutcome::Created(m) => (true, m.number),
                CommitOutcome::Unchanged(m) => (false, m.number),
            })
            .collect()
    }

    #[test]
    fn drafts_of_one_prompt_in_one_batch_chain() {
        let drafts = [draft("a", "1"), draft("a", "2"), draft("a", "2"), draft("b", "1")];
        let plan = plan_commit(&drafts, HashMap::new(), now());
        assert_eq!(numbers(&plan), vec![(true, 1), (true, 2), (false, 2), (true, 1)]);
        assert_eq!(created(&drafts, &plan).count(), 3);
    }

    #[test]
    fn a_draft_equal_to_the_latest_version_is_unchanged() {
        let first = plan_commit(&[draft("a", "1")], HashMap::new(), now());
        let CommitOutcome::Created(meta) = &first[0] else { panic!("created") };
        let latest = HashMap::from([(meta.name.clone(), meta.clone())]);
        let plan = plan_commit(&[draft("a", "1"), draft("a", "2")], latest, now());
        assert_eq!(numbers(&plan), vec![(false, 1), (true, 2)]);
        assert_eq!(draft_names(&[draft("b", "1"), draft("a", "1"), draft("b", "2")]), vec!["a", "b"]);
    }
}

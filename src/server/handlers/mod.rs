//! The handlers, one module per resource. Each is short: authorize (which yields the store
//! scope), call the library, answer. Shared here: paging, of lists the store returns whole
//! ([`paginate`]) and of numbered records the store pages itself ([`newest_first`]).

pub mod accounts;
pub mod experiments;
pub mod health;
pub mod langfuse;
pub mod prompts;
pub mod providers;
pub mod queue;
pub mod runs;
pub mod sync;

use std::future::Future;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::error::ApiError;
use crate::api::{DEFAULT_LIMIT, MAX_LIMIT, Page, RunListQuery};
use crate::store::StoreError;

/// Encodes a sort key as an opaque cursor.
pub fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

/// Decodes a cursor made by [`encode_cursor`].
pub fn decode_cursor(cursor: Option<&str>) -> Result<Option<String>, ApiError> {
    cursor
        .map(|c| {
            URL_SAFE_NO_PAD.decode(c).ok().and_then(|bytes| String::from_utf8(bytes).ok()).ok_or_else(|| {
                ApiError::bad_request("invalid_cursor", "the cursor is not one this server made", Some("cursor"))
            })
        })
        .transpose()
}

/// One page of `items` (sorted by `key`, ascending): those after the cursor, at most `limit`.
pub fn paginate<T>(
    items: Vec<T>,
    limit: Option<u32>,
    cursor: Option<&str>,
    key: impl Fn(&T) -> String,
) -> Result<Page<T>, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let after = decode_cursor(cursor)?;
    let items: Vec<T> = items.into_iter().filter(|item| after.as_ref().is_none_or(|a| key(item) > *a)).collect();
    Ok(page_of(items, limit, |last| encode_cursor(&key(last))))
}

/// The page of `items`, fetched as up to `limit + 1` after the previous page: the first `limit`,
/// with a cursor made from the last of them by `cursor` when the extra one says more follow.
pub fn page_of<T>(mut items: Vec<T>, limit: u32, cursor: impl Fn(&T) -> String) -> Page<T> {
    let limit = limit as usize;
    let next_cursor = (items.len() > limit).then(|| {
        items.truncate(limit);
        items.last().map(cursor)
    });
    Page { items, next_cursor: next_cursor.flatten() }
}

/// One page of numbered records the store lists newest first (runs, experiments): those numbered
/// below the cursor, at most `?limit=`. `fetch(before, limit)` asks the store for at most
/// `limit` numbered below `before`, so the paging happens in SQL; one more than the page is
/// fetched to know whether another follows.
pub async fn newest_first<T, F>(
    query: &RunListQuery,
    fetch: impl FnOnce(Option<u64>, u32) -> F,
    id: impl Fn(&T) -> u64,
) -> Result<Page<T>, ApiError>
where
    F: Future<Output = Result<Vec<T>, StoreError>>,
{
    let invalid = || ApiError::bad_request("invalid_cursor", "the cursor is not one this server made", Some("cursor"));
    let before =
        decode_cursor(query.cursor.as_deref())?.map(|c| c.parse::<u64>()).transpose().map_err(|_| invalid())?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let items = fetch(before, limit + 1).await?;
    Ok(page_of(items, limit, |last| encode_cursor(&id(last).to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_the_whole_list_once() {
        let items: Vec<u32> = (0..7).collect();
        let key = |n: &u32| format!("{n:04}");
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = paginate(items.clone(), Some(3), cursor.as_deref(), key).expect("valid");
            seen.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, items);
    }

    /// A store of the numbers 1..=7 as `newest_first` asks it: below `before`, newest first, at most `limit`.
    async fn seven(before: Option<u64>, limit: u32) -> Result<Vec<u64>, StoreError> {
        Ok((1..=7).rev().filter(|n| before.is_none_or(|b| *n < b)).take(limit as usize).collect())
    }

    #[tokio::test]
    async fn newest_first_walks_the_store_by_keyset() {
        let mut seen = Vec::new();
        let mut query = RunListQuery { limit: Some(3), ..RunListQuery::default() };
        loop {
            let page = newest_first(&query, seven, |n| *n).await.expect("valid");
            seen.extend(page.items);
            match page.next_cursor {
                Some(next) => query.cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, vec![7, 6, 5, 4, 3, 2, 1]);
    }

    #[tokio::test]
    async fn a_cursor_that_is_not_a_number_is_a_bad_request() {
        let query = RunListQuery { cursor: Some(encode_cursor("seven")), ..RunListQuery::default() };
        let err = newest_first(&query, seven, |n| *n).await.unwrap_err();
        assert_eq!(err.code(), "invalid_cursor");
    }

    #[test]
    fn a_forged_cursor_is_a_bad_request() {
        let err = paginate(vec![1], None, Some("%%%"), |n: &i32| n.to_string()).unwrap_err();
        assert_eq!(err.code(), "invalid_cursor");
    }
}

//! The handlers, one module per resource. Each is short: authorize (which yields the store
//! scope), call the library, answer. Shared here: paging of lists the store returns whole.

pub mod accounts;
pub mod experiments;
pub mod health;
pub mod langfuse;
pub mod prompts;
pub mod runs;
pub mod sync;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::error::ApiError;
use crate::api::{DEFAULT_LIMIT, MAX_LIMIT, Page, RunListQuery};

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
    let limit = limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT) as usize;
    let after = decode_cursor(cursor)?;
    let mut items: Vec<T> = items.into_iter().filter(|item| after.as_ref().is_none_or(|a| key(item) > *a)).collect();
    let next_cursor = (items.len() > limit).then(|| {
        items.truncate(limit);
        items.last().map(|last| encode_cursor(&key(last)))
    });
    Ok(Page { items, next_cursor: next_cursor.flatten() })
}

/// One page of numbered records the store returns newest first (runs, experiments): those
/// numbered below the cursor, at most `?limit=`.
pub fn newest_first<T>(items: Vec<T>, query: &RunListQuery, id: impl Fn(&T) -> u64) -> Result<Page<T>, ApiError> {
    let invalid = || ApiError::bad_request("invalid_cursor", "the cursor is not one this server made", Some("cursor"));
    let before =
        decode_cursor(query.cursor.as_deref())?.map(|c| c.parse::<u64>()).transpose().map_err(|_| invalid())?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT) as usize;
    let mut items: Vec<T> =
        items.into_iter().filter(|item| before.is_none_or(|b| id(item) < b)).take(limit + 1).collect();
    let next_cursor = (items.len() > limit).then(|| {
        items.truncate(limit);
        items.last().map(|last| encode_cursor(&id(last).to_string()))
    });
    Ok(Page { items, next_cursor: next_cursor.flatten() })
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

    #[test]
    fn a_forged_cursor_is_a_bad_request() {
        let err = paginate(vec![1], None, Some("%%%"), |n: &i32| n.to_string()).unwrap_err();
        assert_eq!(err.code(), "invalid_cursor");
    }
}

//! Cursor pagination. A cursor is the opaque (URL-safe base64 JSON) sort key of the last item of
//! the previous page; the next page starts after it, so rows added or removed meanwhile neither
//! shift nor repeat the rest.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// A page of a list: `{"items": [...], "next_cursor": "..." | null}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The `limit` query value, checked.
pub fn limit(requested: Option<usize>) -> Result<usize, ApiError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            "invalid_parameter",
            format!("limit must be between 1 and {MAX_LIMIT}, not {n}"),
        )),
    }
}

pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

pub fn decode_cursor<K: DeserializeOwned>(cursor: &str) -> Result<K, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_cursor",
                "the cursor is not one this endpoint returned; start again without `cursor`",
            )
        })
}

/// Cut one page out of `items`, which are in ascending order of `key`.
pub fn paginate<T, K>(
    items: Vec<T>,
    key: impl Fn(&T) -> K,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<T>, ApiError>
where
    K: Ord + Serialize + DeserializeOwned,
{
    let start = match cursor {
        Some(c) => {
            let after: K = decode_cursor(c)?;
            items.partition_point(|it| key(it) <= after)
        }
        None => 0,
    };
    let more = items.len() > start + limit;
    let items: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    let next_cursor = if more {
        items.last().map(|it| encode_cursor(&key(it)))
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_cover_everything_once() {
        let items: Vec<u32> = (0..25).collect();
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = paginate(items.clone(), |i| *i, cursor.as_deref(), 10).unwrap();
            seen.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, items);
        // An item removed between pages does not shift the rest.
        let first = paginate(items.clone(), |i| *i, None, 10).unwrap();
        let fewer: Vec<u32> = items
            .iter()
            .copied()
            .filter(|i| *i != 3 && *i != 12)
            .collect();
        let second = paginate(fewer, |i| *i, first.next_cursor.as_deref(), 10).unwrap();
        assert_eq!(second.items.first(), Some(&10));
        assert!(paginate(items, |i| *i, Some("not a cursor"), 10).is_err());
        assert!(limit(Some(0)).is_err() && limit(Some(1001)).is_err());
    }
}

//! The audit log: every write s1bridge makes to a console, whatever the feature (access grants
//! and revokes today; indicator pushes next). Real writes are always recorded, failed ones
//! included; dry runs are not (they write nothing). Idempotent no-ops of a real run are recorded
//! with result `noop`.
//!
//! Entries never hold the API token: `request` is the request as sent, without its headers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One write (or attempted write) to a console.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Assigned by the store (0 before).
    pub id: i64,
    pub console: String,
    pub at: DateTime<Utc>,
    /// Who ran it: the OS user and host (`user@host`), never a token.
    pub actor: String,
    /// What kind of write, `<feature>.<verb>`: `access.grant`, `access.revoke`, …
    pub action: String,
    /// What it was applied to, e.g. `user 123… (a@b.c): Admin on site:456…`.
    pub target: String,
    pub dry_run: bool,
    /// The request: `{"method", "path", "body"}` (no headers, so no token).
    pub request: serde_json::Value,
    /// The object before and after (as read back from the console), when known.
    pub before: serde_json::Value,
    pub after: serde_json::Value,
    /// `ok`, `noop` or `failed: <reason>`.
    pub result: String,
    /// The sync run it belongs to, if any.
    pub run_id: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    pub console: Option<String>,
    /// Entries at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// An action (`access.grant`) or a prefix ending at a dot boundary (`access`).
    pub action: Option<String>,
    /// 0 = no limit.
    pub limit: u32,
}

impl AuditFilter {
    /// Whether `action` is selected by the filter's action.
    pub fn action_matches(&self, action: &str) -> bool {
        self.action.as_deref().is_none_or(|want| {
            action == want
                || action
                    .strip_prefix(want)
                    .is_some_and(|rest| rest.starts_with('.'))
        })
    }
}

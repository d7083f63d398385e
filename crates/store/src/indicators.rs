//! Indicators s1bridge knows per console (feature "indicators"): the console objects that hold
//! an indicator value — ours (created by `iocs push`) and foreign (imported by `iocs backfill`).
//!
//! One row = one indicator value on one console object of one target:
//! (console, target, object_id, type, value). A blocklist entry holds one hash for one OS type; a
//! firewall Block rule may hold many values (one row per value, same `object_id`); a
//! threat-intelligence IOC holds one value. The console stays the source of truth: rows are what
//! s1bridge last saw or did, so `iocs list` can answer without reading the console.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The feature name of indicators.
pub const INDICATORS_FEATURE: &str = "indicators";

/// The last thing s1bridge did with or learned about a stored object value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorState {
    /// `iocs push` created the object (or added the value to our firewall rule).
    Created,
    /// `iocs push` found the value already held by this object and created nothing.
    Skipped,
    /// `iocs backfill` read it from the console.
    Imported,
    /// `iocs verify` found our object as it was created.
    Deployed,
    /// `iocs verify` found our object changed in the console.
    Drifted,
    /// The object was not found any more when its target was last read completely.
    Missing,
}

impl IndicatorState {
    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorState::Created => "created",
            IndicatorState::Skipped => "skipped",
            IndicatorState::Imported => "imported",
            IndicatorState::Deployed => "deployed",
            IndicatorState::Drifted => "drifted",
            IndicatorState::Missing => "missing",
        }
    }

    pub fn parse(s: &str) -> Option<IndicatorState> {
        Some(match s {
            "created" => IndicatorState::Created,
            "skipped" => IndicatorState::Skipped,
            "imported" => IndicatorState::Imported,
            "deployed" => IndicatorState::Deployed,
            "drifted" => IndicatorState::Drifted,
            "missing" => IndicatorState::Missing,
            _ => return None,
        })
    }
}

/// A stored indicator value on a console object. Its serde form is the `iocs list --json`
/// contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredIndicator {
    pub console: String,
    /// `firewall`, `blocklist` or `ti`.
    pub target: String,
    /// The console object: blocklist entry id, firewall rule id, IOC uuid.
    pub object_id: String,
    /// `ipv4`, `ipv6`, `cidr`, `domain`, `url`, `sha1`, `sha256`, `md5`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The normalised value (lower-case hashes and domains, canonical IPs and CIDRs).
    pub value: String,
    /// The OS type of a blocklist entry.
    pub os_type: Option<String>,
    /// The direction of a firewall rule.
    pub direction: Option<String>,
    pub description: Option<String>,
    /// Created by s1bridge (it carries our marker) or not.
    pub ours: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub state: IndicatorState,
    /// When `state` was set.
    pub state_at: DateTime<Utc>,
}

/// What a push or a backfill saw of one object value (input of `Store::upsert_indicators`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorUpsert {
    pub target: String,
    pub object_id: String,
    pub kind: String,
    pub value: String,
    pub os_type: Option<String>,
    pub direction: Option<String>,
    pub description: Option<String>,
    pub ours: bool,
    pub expires_at: Option<DateTime<Utc>>,
    /// `None` keeps the stored state (a new row gets [`IndicatorState::Imported`]).
    pub state: Option<IndicatorState>,
}

/// Which stored rows a state change or a deletion applies to: `object_id` given → that object's
/// row of (target, type, value); `None` → every object's row of (target, type, value, os_type)
/// (`os_type` `None` matches any OS type).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IndicatorRef {
    pub target: String,
    pub object_id: Option<String>,
    pub kind: String,
    pub value: String,
    pub os_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IndicatorUpsertStats {
    pub inserted: u64,
    pub updated: u64,
}

/// Filters of `s1bridge iocs list` and `GET /api/v1/indicators` (all optional, all must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndicatorFilter {
    pub console: Option<String>,
    pub target: Option<String>,
    /// `Some(true)`: ours only; `Some(false)`: foreign only.
    pub ours: Option<bool>,
    /// Indicator type (`ipv4`, `sha256`, …).
    pub kind: Option<String>,
    /// Exact normalised value.
    pub value: Option<String>,
    pub state: Option<IndicatorState>,
}

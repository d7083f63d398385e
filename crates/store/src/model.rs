//! Stored domain types. Their serde form is the `--json` contract of PRODUCT.md: field names
//! here are part of the public interface (add fields, never rename them).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Scope;

/// A registered console. The token is never part of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleRecord {
    pub name: String,
    pub description: Option<String>,
    /// Normalised console URL (scheme + host [+ port]).
    pub url: String,
    pub mode: String,
    pub scope: Scope,
}

/// The outcome of one feature in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureStatus {
    Running,
    Ok,
    Partial,
    Unavailable,
    Skipped,
    Failed,
}

impl FeatureStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FeatureStatus::Running => "running",
            FeatureStatus::Ok => "ok",
            FeatureStatus::Partial => "partial",
            FeatureStatus::Unavailable => "unavailable",
            FeatureStatus::Skipped => "skipped",
            FeatureStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => FeatureStatus::Running,
            "ok" => FeatureStatus::Ok,
            "partial" => FeatureStatus::Partial,
            "unavailable" => FeatureStatus::Unavailable,
            "skipped" => FeatureStatus::Skipped,
            "failed" => FeatureStatus::Failed,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureOutcome {
    pub feature: String,
    pub status: FeatureStatus,
    /// Why it is not `ok` (null when ok).
    pub reason: Option<String>,
    pub records: u64,
    pub requests: u64,
    pub retries: u64,
    pub errors: u64,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Ok,
    /// Finished, but at least one feature was unavailable or partial.
    Degraded,
    Failed,
    /// The process died while the run was open (detected later by a stale heartbeat).
    Abandoned,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Ok => "ok",
            RunStatus::Degraded => "degraded",
            RunStatus::Failed => "failed",
            RunStatus::Abandoned => "abandoned",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => RunStatus::Running,
            "ok" => RunStatus::Ok,
            "degraded" => RunStatus::Degraded,
            "failed" => RunStatus::Failed,
            "abandoned" => RunStatus::Abandoned,
            _ => return None,
        })
    }
}

/// A sync run as listed by `s1bridge runs` / the API (PRODUCT.md "sync run").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRun {
    pub run_id: i64,
    pub console: String,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// The process that ran it (`host:pid`).
    pub owner: Option<String>,
    pub features: Vec<FeatureOutcome>,
}

/// What a findings pass needs of each device (to prioritise its findings and to scope the
/// absence decisions): a narrow projection of [`Device`], which a backend can read without the
/// rest of the row ([`crate::Store::device_facts_page`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFacts {
    pub agent_id: String,
    pub computer_name: String,
    pub account_id: Option<String>,
    pub site_id: Option<String>,
    pub site_name: Option<String>,
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    pub machine_type: Option<String>,
    pub ips: Vec<String>,
    pub tags: Vec<String>,
    pub is_decommissioned: bool,
    pub last_active_at: Option<DateTime<Utc>>,
    /// Marked removed (`removed_at` is set).
    pub removed: bool,
}

impl From<Device> for DeviceFacts {
    fn from(d: Device) -> Self {
        DeviceFacts {
            agent_id: d.agent_id,
            computer_name: d.computer_name,
            account_id: d.account_id,
            site_id: d.site_id,
            site_name: d.site_name,
            group_id: d.group_id,
            group_name: d.group_name,
            machine_type: d.machine_type,
            ips: d.ips,
            tags: d.tags,
            is_decommissioned: d.is_decommissioned,
            last_active_at: d.last_active_at,
            removed: d.removed_at.is_some(),
        }
    }
}

/// One endpoint (SentinelOne agent) as stored. Serialises to the PRODUCT.md device shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub console: String,
    pub agent_id: String,
    pub uuid: Option<String>,
    pub computer_name: String,
    pub os_name: Option<String>,
    pub os_type: Option<String>,
    pub os_revision: Option<String>,
    pub os_arch: Option<String>,
    pub agent_version: Option<String>,
    /// Every non-loopback inet/inet6 address of every interface.
    pub ips: Vec<String>,
    /// MAC addresses (upper-case, colon separated) of every interface.
    pub macs: Vec<String>,
    /// The console's tags on the agent: `key=value`, or the value alone for a tag without key.
    #[serde(default)]
    pub tags: Vec<String>,
    pub external_ip: Option<String>,
    pub last_logged_in_user: Option<String>,
    pub account_id: Option<String>,
    pub account_name: Option<String>,
    pub site_id: Option<String>,
    pub site_name: Option<String>,
    pub group_id: Option<String>,
    pub group_name: Option<String>,
    pub machine_type: Option<String>,
    pub serial_number: Option<String>,
    pub domain: Option<String>,
    pub model_name: Option<String>,
    pub network_status: Option<String>,
    pub infected: bool,
    pub active_threats: i64,
    pub last_active_at: Option<DateTime<Utc>>,
    pub registered_at: Option<DateTime<Utc>>,
    /// The console's `updatedAt` for this agent, verbatim (the incremental watermark source).
    pub console_updated_at: Option<String>,
    pub is_active: bool,
    pub is_decommissioned: bool,
    pub is_uninstalled: bool,
    /// Set by the store on first insert; ignored on input.
    pub first_seen_at: DateTime<Utc>,
    /// When a sync last saw this agent in the console.
    pub last_seen_at: DateTime<Utc>,
    /// When a complete full pass no longer found it (null while present).
    pub removed_at: Option<DateTime<Utc>>,
    /// Computed when read: no activity for `stale_days` (never for removed or decommissioned).
    pub stale: bool,
    /// agent_id of the newest record of the same machine, or null.
    pub duplicate_of: Option<String>,
}

/// Which devices to list.
#[derive(Debug, Clone, Default)]
pub struct DeviceFilter {
    pub console: Option<String>,
    /// Reference time for `stale` (the current time when None).
    pub now: Option<DateTime<Utc>>,
    /// Days without activity after which a present device is stale; 0 disables staleness.
    pub stale_days: u32,
    pub only_stale: bool,
    pub only_duplicates: bool,
    pub only_decommissioned: bool,
    /// false: only present devices; true: only removed ones.
    pub removed: bool,
    /// Include removed devices as well as present ones (ignores `removed`).
    pub include_removed: bool,
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCounts {
    pub present: u64,
    pub removed: u64,
    pub decommissioned: u64,
    pub duplicates: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DevicePageStats {
    pub inserted: u64,
    pub updated: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassSummary {
    pub seen: u64,
    pub newly_removed: u64,
    pub restored: u64,
    pub duplicates: u64,
}

/// Whether a pass re-reads everything (and may decide removals) or only changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassKind {
    Full,
    Incremental,
}

/// The position of one stream of a pass after the last committed page. A pass is split into
/// streams (for example one per site) that page independently; each has its own checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub console: String,
    pub feature: String,
    pub pass_id: i64,
    pub kind: PassKind,
    /// Stream key, e.g. `all` or `site:1286405255257023125`.
    pub stream: String,
    /// The cursor to request next; None with `done = false` means "start of the stream".
    pub cursor: Option<String>,
    pub done: bool,
    /// Records committed by this stream so far.
    pub records: u64,
    /// The largest console `updatedAt` this stream has committed.
    pub max_updated_at: Option<String>,
    /// The watermark the pass started from (incremental passes).
    pub since: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    pub value: String,
    /// When the last complete full pass finished (drives "full every N hours").
    pub last_full_at: Option<DateTime<Utc>>,
}

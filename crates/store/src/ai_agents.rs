//! AI coding agents seen in a console's process telemetry (feature "ai-agents").
//!
//! One detection = (console, device, user, agent): first and last seen, how many events, the
//! version when the image path or command line carried one, and a few evidence samples. The
//! engine covers time in consecutive chunks; each chunk's aggregates are merged into the stored
//! detections and the *covered window* advances in the same transaction, so a later run queries
//! only what is not covered yet and an interrupted run loses nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The feature name of AI agent detection.
pub const AI_AGENTS_FEATURE: &str = "ai-agents";
/// Evidence samples kept per detection.
pub const MAX_EVIDENCE: usize = 3;

/// One sample of what was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AiEvidence {
    pub image_path: String,
    pub command_line: String,
    /// The parent (creator) process name, when known.
    pub parent: Option<String>,
}

/// Whose user a detection names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserSource {
    /// The user the process ran as.
    Process,
    /// The process ran under a service or system account; the device's last logged-in user is
    /// reported instead (`process_user` keeps the account).
    DeviceLastLoggedIn,
}

/// A detected AI agent on a device, for a user. Its serde form is the `--json` contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AiDetection {
    pub console: String,
    /// Catalog id of the agent.
    pub agent_name: String,
    pub display_name: String,
    /// The device (`/agents` id).
    pub agent_id: String,
    pub computer_name: String,
    pub user: String,
    pub user_source: UserSource,
    /// The account the process ran as, when it is not `user`.
    pub process_user: Option<String>,
    pub version: Option<String>,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub event_count: u64,
    pub evidence: Vec<AiEvidence>,
}

/// The aggregates of one covered time chunk `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiChunk {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// One per (agent_id, user, agent_name); `console` may be empty (it takes the call's).
    pub detections: Vec<AiDetection>,
    /// Detections last seen before this instant leave the rolling window (deleted).
    pub evict_before: DateTime<Utc>,
}

/// The time the stored detections cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AiCoverage {
    pub covered_from: DateTime<Utc>,
    pub covered_to: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AiChunkStats {
    pub inserted: u64,
    pub updated: u64,
    pub evicted: u64,
}

/// Filters of `s1bridge ai-agents` (all optional; text compared case-insensitively).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AiDetectionFilter {
    pub console: Option<String>,
    /// Catalog id.
    pub agent: Option<String>,
    /// Device agent id or computer name.
    pub device: Option<String>,
    pub user: Option<String>,
}

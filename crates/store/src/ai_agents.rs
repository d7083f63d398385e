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

/// `stored` merged with a later-or-concurrent sighting `new` (the rule of
/// [`crate::Store::apply_ai_chunk`]): first seen the earliest, last seen the latest, counts
/// summed, version and names from the later sighting (a missing version keeps the stored one),
/// evidence distinct by (image path, command line), at most [`MAX_EVIDENCE`], stored ones first.
pub fn merge_ai_detection(stored: &mut AiDetection, new: &AiDetection) {
    if new.last_seen_at >= stored.last_seen_at {
        if new.version.is_some() {
            stored.version = new.version.clone();
        }
        stored.display_name = new.display_name.clone();
        stored.computer_name = new.computer_name.clone();
        stored.user_source = new.user_source;
        stored.process_user = new.process_user.clone();
    }
    stored.first_seen_at = stored.first_seen_at.min(new.first_seen_at);
    stored.last_seen_at = stored.last_seen_at.max(new.last_seen_at);
    stored.event_count = stored.event_count.saturating_add(new.event_count);
    for e in &new.evidence {
        if stored.evidence.len() >= MAX_EVIDENCE {
            break;
        }
        if !stored
            .evidence
            .iter()
            .any(|s| s.image_path == e.image_path && s.command_line == e.command_line)
        {
            stored.evidence.push(e.clone());
        }
    }
}

/// Check a chunk against the stored coverage of `console` (the rules of
/// [`crate::Store::apply_ai_chunk`]) and return where the coverage starts once it is applied;
/// `Err` holds the reason it is refused.
pub fn ai_chunk_covered_from(
    console: &str,
    coverage: Option<AiCoverage>,
    chunk: &AiChunk,
) -> Result<DateTime<Utc>, String> {
    if chunk.to <= chunk.from {
        return Err(format!(
            "an AI agent chunk must end after it starts ({} .. {})",
            chunk.from, chunk.to
        ));
    }
    for d in &chunk.detections {
        if !d.console.is_empty() && d.console != console {
            return Err(format!(
                "an AI agent detection of console '{}' cannot be stored under '{console}'",
                d.console
            ));
        }
        if d.agent_id.is_empty() || d.user.is_empty() || d.agent_name.is_empty() {
            return Err("an AI agent detection needs a device, a user and an agent name".into());
        }
    }
    match coverage {
        None => Ok(chunk.from),
        Some(c) if c.covered_to == chunk.from => Ok(c.covered_from),
        Some(c) if c.covered_to < chunk.evict_before && chunk.from <= chunk.evict_before => {
            Ok(chunk.from)
        }
        Some(c) => Err(format!(
            "AI agent chunk {} .. {} does not continue the covered window {} .. {} ({}); nothing was stored",
            chunk.from,
            chunk.to,
            c.covered_from,
            c.covered_to,
            if chunk.from < c.covered_to {
                "it overlaps it and would count events twice"
            } else {
                "it leaves a gap"
            }
        )),
    }
}

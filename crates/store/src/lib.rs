//! The s1bridge store: the domain types that are persisted, the [`Store`] trait every backend
//! implements, and (behind the `testkit` feature) the conformance suite every backend must pass.
//!
//! Architecture invariant: nothing outside a backend crate writes SQL. The sync engine, the CLI
//! and the server only speak this trait.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod access;
mod ai_agents;
mod audit;
mod duplicates;
mod findings;
mod indicators;
mod jobs;
mod model;
mod service;
#[cfg(feature = "testkit")]
pub mod testkit;
#[cfg(feature = "testkit")]
mod testkit_access;
#[cfg(feature = "testkit")]
mod testkit_ai_agents;
#[cfg(feature = "testkit")]
mod testkit_bench;
#[cfg(feature = "testkit")]
mod testkit_indicators;
#[cfg(feature = "testkit")]
mod testkit_service;

pub use access::*;
pub use ai_agents::*;
pub use audit::*;
pub use duplicates::*;
pub use findings::*;
pub use indicators::*;
pub use jobs::*;
pub use model::*;
pub use service::*;

/// Errors a backend can return. Backends map their driver errors into these.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database at {location} could not be opened: {reason}")]
    Open { location: String, reason: String },
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error(
        "the database schema is version {found}, newer than this s1bridge understands ({supported}); upgrade s1bridge"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("not found: {0}")]
    NotFound(String),
    #[error("another sync of console '{console}' is running (run {run_id}, started {started_at}{}); wait for it to finish", owner.as_ref().map(|o| format!(", by {o}")).unwrap_or_default())]
    ConsoleBusy {
        console: String,
        run_id: i64,
        started_at: DateTime<Utc>,
        /// The process that holds it (`host:pid`), when recorded.
        owner: Option<String>,
    },
    #[error("database error: {0}")]
    Backend(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The storage interface. One implementation per backend (SQLite today, PostgreSQL next), all
/// held to the same behaviour by [`testkit`].
///
/// Consistency contract: every method is one transaction. A reader never sees part of a page,
/// part of a removal pass, or a checkpoint that is ahead of the data it describes.
///
/// Duplicate rule (`Device::duplicate_of`, recomputed when a pass completes): among the
/// console's present devices, group by `computer_name` trimmed and lower-cased (empty names are
/// never grouped). Inside a group two records are the same machine when they share a non-empty
/// serial number (trimmed, case-insensitive), share a MAC address (all-zero MACs ignored), or
/// neither has a serial number; "same machine" is closed transitively. In every cluster of two
/// or more records the newest (greatest `last_active_at`, a missing one being oldest, then
/// greatest `registered_at`, then greatest `agent_id`, numerically for all-digit ids) has no
/// link and every other record points at it. Singletons and removed devices have no link.
///
/// Staleness (`Device::stale`, computed when listing): present, not decommissioned, with a
/// known `last_active_at` older than `now - stale_days`. `stale_days = 0` turns it off.
#[async_trait]
pub trait Store: Send + Sync {
    /// Create or update a console's registration (name is the key; an empty name is refused).
    /// Never stores a token.
    async fn upsert_console(&self, console: &ConsoleRecord) -> Result<()>;
    async fn get_console(&self, name: &str) -> Result<Option<ConsoleRecord>>;
    async fn list_consoles(&self) -> Result<Vec<ConsoleRecord>>;

    /// Start a sync run for a console. Fails with [`StoreError::ConsoleBusy`] when another run of
    /// the same console is still marked running and its heartbeat (its start if it never sent
    /// one) is younger than `stale_after`, measured at `started_at`. An older running run is
    /// marked [`RunStatus::Abandoned`] (finished at `started_at`, its still-running features
    /// failed) and the new run starts. Check and start are atomic across processes.
    async fn begin_run(
        &self,
        console: &str,
        features: &[String],
        started_at: DateTime<Utc>,
        stale_after: chrono::Duration,
    ) -> Result<i64>;
    /// Record which process runs a run (`host:pid`), so that a run whose process died can be
    /// recognised at once.
    async fn set_run_owner(&self, run_id: i64, owner: &str) -> Result<()>;
    /// Declare a running run abandoned (its process is gone): the run becomes `abandoned` and its
    /// unfinished features `failed` with `why`. A run that already finished is left as it is.
    async fn abandon_run(&self, run_id: i64, at: DateTime<Utc>, why: &str) -> Result<()>;
    /// Refresh a running run's heartbeat (proves the process is alive). Fails with
    /// [`StoreError::NotFound`] when the run does not exist or is no longer running (for example
    /// another process declared it abandoned): the caller should stop.
    async fn heartbeat_run(&self, run_id: i64, at: DateTime<Utc>) -> Result<()>;
    /// Record the outcome of one feature of a run (called once per feature, may be called again
    /// to overwrite while the run is open). [`StoreError::NotFound`] for an unknown run.
    async fn record_feature(&self, run_id: i64, outcome: &FeatureOutcome) -> Result<()>;
    /// Close a run with its overall status. [`StoreError::NotFound`] for an unknown run.
    async fn finish_run(
        &self,
        run_id: i64,
        status: RunStatus,
        finished_at: DateTime<Utc>,
    ) -> Result<()>;
    async fn get_run(&self, run_id: i64) -> Result<Option<SyncRun>>;
    /// Most recent runs first (by `started_at`, then `run_id`), each with its recorded features;
    /// `limit = 0` means no limit.
    async fn list_runs(&self, console: Option<&str>, limit: u32) -> Result<Vec<SyncRun>>;

    /// Upsert one page of devices and, in the same transaction, save the checkpoint that
    /// describes the position after this page. `pass_id` identifies the full pass the page
    /// belongs to (so removals can be decided once the whole pass is complete).
    ///
    /// Every device is stored under `console`: a device whose `console` field is empty takes it,
    /// one naming another console, an empty `agent_id`, or a checkpoint of another console fail
    /// the whole call and nothing is stored. A new device's `first_seen_at` is its
    /// `last_seen_at`; an existing one keeps its `first_seen_at`, takes every other field from
    /// the page (but `duplicate_of`, kept until the pass completes) and is present again
    /// (`removed_at` cleared). The stats count rows inserted vs updated (an agent repeated within
    /// the page is one insert, then updates).
    async fn apply_device_page(
        &self,
        console: &str,
        pass_id: i64,
        devices: &[Device],
        checkpoint: Option<&Checkpoint>,
    ) -> Result<DevicePageStats>;

    /// Finish a complete, successful full pass: every present device of the console that the
    /// pass did not see gets `removed_at = at`; devices that were seen lose `removed_at`;
    /// duplicate links are recomputed; the pass's checkpoints are cleared; the watermark is set
    /// (and its `last_full_at` to `at`). Only devices inside `scope` are candidates for removal
    /// (an empty scope is the whole console; otherwise a device is in scope when its account,
    /// site or group id is listed). The checkpoints and watermark are those of the `devices`
    /// feature; a `None` watermark keeps the stored value. `seen` counts present devices written
    /// by `pass_id`, `restored` those of them that had been removed before this pass.
    /// One transaction.
    async fn complete_full_pass(
        &self,
        console: &str,
        pass_id: i64,
        scope: &Scope,
        at: DateTime<Utc>,
        watermark: Option<&str>,
    ) -> Result<PassSummary>;

    /// The agent ids `complete_full_pass(console, pass_id, scope, …)` would mark removed now
    /// (present, inside `scope`, not seen by the pass), at most `limit`, in agent_id order. The
    /// engine re-checks them against the console before deciding.
    async fn removal_candidates(
        &self,
        console: &str,
        pass_id: i64,
        scope: &Scope,
        limit: u32,
    ) -> Result<Vec<String>>;

    /// Finish an incremental pass: recompute duplicates, advance the watermark, clear
    /// checkpoints. Never marks anything removed. `seen`/`restored` count the devices written by
    /// the pass ids of the feature's checkpoints (for features other than `devices`, `seen` is
    /// the sum of the checkpoints' records). A `None` watermark keeps the stored value;
    /// `last_full_at` is left alone.
    async fn complete_incremental_pass(
        &self,
        console: &str,
        feature: &str,
        watermark: Option<&str>,
    ) -> Result<PassSummary>;

    /// Checkpoints of an interrupted pass (one per stream), if any.
    async fn load_checkpoints(&self, console: &str, feature: &str) -> Result<Vec<Checkpoint>>;
    /// Drop the checkpoints of a feature (e.g. when a cursor expired and the pass restarts).
    async fn clear_checkpoints(&self, console: &str, feature: &str) -> Result<()>;

    /// The persisted incremental watermark (the console's `updatedAt` of the newest record seen).
    /// `None` until a pass stored a watermark value.
    async fn get_watermark(&self, console: &str, feature: &str) -> Result<Option<Watermark>>;

    /// Devices matching every filter of `filter`, ordered by `computer_name`, then `agent_id`.
    async fn list_devices(&self, filter: &DeviceFilter) -> Result<Vec<Device>>;
    /// Walk a console's whole inventory in bounded memory: its devices, removed ones included,
    /// ordered by `agent_id` (byte order), strictly after `after` (from the start when `None`),
    /// at most `limit` (0 = none). `stale` is not computed here (false); everything else is as
    /// stored. Call again with the last `agent_id` until a page comes back short.
    async fn device_page(
        &self,
        console: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Device>>;
    /// [`Store::device_page`], each device narrowed to [`DeviceFacts`] (same order, same
    /// paging). A backend may read only those columns; the default narrows whole rows.
    async fn device_facts_page(
        &self,
        console: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<DeviceFacts>> {
        Ok(self
            .device_page(console, after, limit)
            .await?
            .into_iter()
            .map(DeviceFacts::from)
            .collect())
    }

    // --- Vulnerability findings (feature "vulnerabilities"); see `findings.rs` for the lifecycle.

    /// Upsert one page of observations of a findings pass and, in the same transaction, save the
    /// stream checkpoint (feature "vulnerabilities"). A key never seen before becomes `new`
    /// (transition from None); a `fixed` or `device_removed` finding seen again becomes
    /// `reopened`; any other keeps its status. Every observation replaces the stored one and
    /// stamps `last_seen_at = at` and the pass. Never fixes anything.
    async fn apply_finding_page(
        &self,
        console: &str,
        pass_id: i64,
        run_id: i64,
        at: DateTime<Utc>,
        findings: &[FindingObservation],
        checkpoint: Option<&Checkpoint>,
    ) -> Result<FindingPageStats>;

    /// Finish a complete, successful findings pass, in one transaction. Among the console's
    /// findings inside `scope` (a finding is inside when its device's account, site or group is
    /// listed; empty scope = the whole console): active findings (`new|open|reopened`) the pass
    /// did not see become `device_removed` when their device is removed or unknown, else
    /// `fixed` (with `fixed_at = at`); `new` and `reopened` findings seen by this pass whose
    /// status was set by an earlier pass become `open`. Each change is a transition with
    /// `run_id`. Clears the feature's checkpoints.
    async fn complete_finding_pass(
        &self,
        console: &str,
        pass_id: i64,
        run_id: i64,
        scope: &Scope,
        at: DateTime<Utc>,
    ) -> Result<FindingPassSummary>;

    /// Agent ids of the console that have at least one active (`new|open|reopened`) finding.
    async fn agents_with_active_findings(&self, console: &str) -> Result<Vec<String>>;

    /// Mark devices removed because the console, asked for them by id, no longer has them
    /// (positive evidence, so no full pass is needed): `removed_at = at` where not yet set, and
    /// their duplicate links cleared. Unknown ids are ignored. Returns how many changed.
    async fn mark_devices_removed(
        &self,
        console: &str,
        agent_ids: &[String],
        at: DateTime<Utc>,
    ) -> Result<u64>;

    /// The queue: ordered by priority (critical first), then CVSS score, then finding_id.
    async fn list_findings(&self, filter: &FindingFilter) -> Result<Vec<Finding>>;
    async fn get_finding(&self, finding_id: &str) -> Result<Option<Finding>>;
    /// Every status change of a finding, oldest first.
    async fn finding_history(&self, finding_id: &str) -> Result<Vec<FindingTransition>>;
    /// Present, removed, and (among present devices) decommissioned and duplicate devices.
    async fn count_devices(&self, console: &str) -> Result<DeviceCounts>;

    // --- Access (feature "access") and the audit log; see `access.rs` and `audit.rs`.

    /// Store an access sync's snapshot of a console, in one transaction: the stored state
    /// becomes [`reconcile`]'s result and its change events are recorded (with `run_id`, at
    /// `at`; tokens expiring within `token_warning` raise `token_expiring` once per expiry).
    /// Every principal, grant and scope must belong to `console` (a principal naming another
    /// console fails the call; nothing is stored).
    async fn apply_access_snapshot(
        &self,
        console: &str,
        run_id: i64,
        at: DateTime<Utc>,
        snapshot: &AccessSnapshot,
        token_warning: chrono::Duration,
    ) -> Result<AccessSyncSummary>;
    /// The stored access of a console (empty, `synced_at` None, when never synced). Principals
    /// by id, grants by (principal, scope type, scope id), roles by id, scopes by (type, id).
    async fn load_access(&self, console: &str) -> Result<AccessSnapshot>;
    /// After a verified grant or revoke: replace one principal's record and grants (as read back
    /// from the console), recording the differences as change events without a run, in one
    /// transaction. [`StoreError::NotFound`] when the principal is not stored.
    async fn replace_principal_grants(
        &self,
        console: &str,
        principal: &Principal,
        grants: &[Grant],
        at: DateTime<Utc>,
    ) -> Result<Vec<AccessChange>>;
    /// Change events, oldest first (by `at`, then `change_id`).
    async fn list_access_changes(&self, filter: &AccessChangeFilter) -> Result<Vec<AccessChange>>;
    /// Append an audit entry; returns its id. Entries are never changed or deleted; one without
    /// a console or an action is refused.
    async fn record_audit(&self, entry: &AuditEntry) -> Result<i64>;
    /// Audit entries, newest first (by `at`, then `id`).
    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>>;
    // --- AI coding agents (feature "ai-agents"); see `ai_agents.rs`.

    /// Merge one covered chunk, in one transaction: each detection is added to the stored one of
    /// its (agent_id, user, agent_name) — first seen the earliest, last seen the latest, event
    /// counts summed, version and names from the later sighting (a missing version keeps the
    /// stored one), evidence samples distinct by (image path, command line), at most
    /// [`MAX_EVIDENCE`], stored ones first; detections last seen before `evict_before` are
    /// deleted; the covered window becomes `[covered_from, chunk.to)`. A chunk must start exactly
    /// where the coverage ends (it would count events twice if it overlapped) — or, when the
    /// coverage ended before `evict_before`, anywhere up to `evict_before` (the coverage restarts
    /// at `chunk.from`); a first chunk starts the coverage. `to <= from`, an overlap, a gap, an
    /// empty agent_id/user/agent_name or a detection of another console fail the whole call and
    /// nothing changes.
    async fn apply_ai_chunk(&self, console: &str, chunk: &AiChunk) -> Result<AiChunkStats>;
    /// The covered window of a console, if any chunk was applied.
    async fn ai_coverage(&self, console: &str) -> Result<Option<AiCoverage>>;
    /// Detections matching every filter, ordered by agent_name, computer_name, user.
    async fn list_ai_detections(&self, filter: &AiDetectionFilter) -> Result<Vec<AiDetection>>;

    // --- Service (issue 7): API keys (hashed) and sealed console tokens; see `service.rs`.

    /// Store a new API key. A `key_hash` already stored is refused.
    async fn create_api_key(&self, key: &NewApiKey) -> Result<ApiKeyRecord>;
    /// The key with this hash, unless it was revoked.
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>>;
    /// Every key, revoked ones included, by id.
    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>>;
    /// Revoke a key (idempotent). [`StoreError::NotFound`] for an unknown id.
    async fn revoke_api_key(&self, id: i64, at: DateTime<Utc>) -> Result<()>;
    /// Create or replace the sealed token of a console.
    async fn put_sealed_token(&self, token: &SealedToken) -> Result<()>;
    async fn get_sealed_token(&self, console: &str) -> Result<Option<SealedToken>>;

    // --- Indicators (issue 5): console objects holding indicator values; see `indicators.rs`.

    /// Record what a push or a backfill saw, in one transaction. The key of a row is (console,
    /// target, object_id, kind, value). A new key is inserted with `first_seen_at =
    /// last_seen_at = state_at = at` and the record's state (`Imported` when it gives none); an
    /// existing one keeps `first_seen_at`, takes `last_seen_at = at` and every other field from
    /// the record, and keeps its state and `state_at` when the record gives no state (otherwise
    /// takes it, with `state_at = at`). A record repeated within the call is one insert, then an
    /// update. An empty target, object_id, kind or value fails the whole call and nothing is
    /// stored.
    async fn upsert_indicators(
        &self,
        console: &str,
        records: &[IndicatorUpsert],
        at: DateTime<Utc>,
    ) -> Result<IndicatorUpsertStats>;
    /// Set the state (and `state_at = at`) of every stored row of `console` each ref matches
    /// (see [`IndicatorRef`]); `last_seen_at` is not changed. Returns the rows changed. One
    /// transaction.
    async fn set_indicator_states(
        &self,
        console: &str,
        updates: &[(IndicatorRef, IndicatorState)],
        at: DateTime<Utc>,
    ) -> Result<u64>;
    /// Delete every stored row of `console` each ref matches (a prune removed the object or the
    /// value from it). Returns the rows deleted. One transaction.
    async fn delete_indicators(&self, console: &str, refs: &[IndicatorRef]) -> Result<u64>;
    /// Rows matching every filter, ordered by console, target, kind, value, os_type (none
    /// first), object_id.
    async fn list_indicators(&self, filter: &IndicatorFilter) -> Result<Vec<StoredIndicator>>;
}

/// Scope filters a console or a run is restricted to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    pub account_ids: Vec<String>,
    pub site_ids: Vec<String>,
    pub group_ids: Vec<String>,
}

impl Scope {
    pub fn is_empty(&self) -> bool {
        self.account_ids.is_empty() && self.site_ids.is_empty() && self.group_ids.is_empty()
    }
}

//! The job queue of the scale-out mode (`s1bridge worker`): sync jobs (one console × some
//! features, for one schedule tick or an operator's request) that workers claim, hold under a
//! lease renewed by heartbeat, and finish. The PostgreSQL backend implements it
//! (`s1bridge-store-postgres`); the worker loop lives in `s1bridge-server`.
//!
//! Rules every implementation keeps:
//! - one job per (console, `scheduled_for`): enqueueing a tick twice is a no-op;
//! - a job is held by one worker at a time, and one console has at most one running job (its
//!   rate budget is per token);
//! - a running job whose lease expired (its worker died or stalled) is claimable again; the new
//!   claim bumps `attempt`, so the old holder's renewals and completion are refused;
//! - exactly one holder of the scheduler lock ([`JobQueue::try_lead`]) at a time.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Result;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a worker (from `not_before`).
    Queued,
    /// Held by a worker under a lease.
    Running,
    /// The sync ran; its store run (`run_id`) holds the outcome per feature.
    Done,
    /// It could not run (after `attempts` tries); `last_error` says why.
    Failed,
    /// The console's previous job was still queued or running when this tick came: not queued.
    Skipped,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "failed" => JobState::Failed,
            "skipped" => JobState::Skipped,
            _ => return None,
        })
    }
}

/// A job to add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewJob {
    pub console: String,
    /// Feature names (`devices`, `vulnerabilities`, …), in the order they run.
    pub features: Vec<String>,
    /// The schedule tick (the cron time, before jitter) or, for an operator's request, when it
    /// was asked. With `console`, the job's identity.
    pub scheduled_for: DateTime<Utc>,
    /// Not claimable before this (the tick plus its jitter).
    pub not_before: DateTime<Utc>,
    /// `schedule` or `manual`.
    pub trigger: String,
    /// When the console already has a queued or running job: record this one `skipped`
    /// (schedule ticks) instead of queueing it behind (operator requests).
    pub skip_if_busy: bool,
}

impl NewJob {
    /// An operator's request: `features` of `console`, runnable now, queued behind the
    /// console's running job if any.
    pub fn manual(console: impl Into<String>, features: Vec<String>) -> NewJob {
        let now = Utc::now();
        NewJob {
            console: console.into(),
            features,
            scheduled_for: now,
            not_before: now,
            trigger: "manual".to_string(),
            skip_if_busy: false,
        }
    }
}

/// What [`JobQueue::enqueue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "job_id")]
pub enum Enqueued {
    /// A new queued job.
    Queued(i64),
    /// The console was busy; the tick is recorded as a `skipped` job.
    Skipped(i64),
    /// This (console, scheduled_for) exists already; nothing changed.
    Exists(i64),
}

impl Enqueued {
    /// The job this names, whatever happened.
    pub fn job_id(self) -> i64 {
        match self {
            Enqueued::Queued(id) | Enqueued::Skipped(id) | Enqueued::Exists(id) => id,
        }
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub job_id: i64,
    pub console: String,
    pub features: Vec<String>,
    pub scheduled_for: DateTime<Utc>,
    pub not_before: DateTime<Utc>,
    pub trigger: String,
    pub state: JobState,
    /// Claims so far (a re-claim after an expired lease counts).
    pub attempts: i32,
    /// The worker holding it (running) or that held it last.
    pub worker: Option<String>,
    /// That worker's process (`host:pid`), as recorded on the store's runs.
    pub worker_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// The store's sync run of the latest attempt, once known.
    pub run_id: Option<i64>,
    /// That run's status once finished (`ok|degraded|failed|abandoned`).
    pub run_status: Option<String>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A claim: proof that a worker holds a job in one attempt. Renewals and completions with an
/// outdated lease (the job was re-claimed since) are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub job_id: i64,
    pub worker: String,
    pub attempt: i32,
}

/// A claimed job: the job as it is now, the lease, and who held it before when this claim took
/// over an expired lease (that worker's sync run must be abandoned before the console can be
/// synced again).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Claimed {
    pub job: Job,
    pub lease: Lease,
    /// `(worker, host:pid)` of the previous holder when its lease had expired.
    pub took_over_from: Option<(String, Option<String>)>,
}

/// How a held job ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// The sync ran (whatever its features' outcomes); `run_status` is the run's.
    Done { run_id: i64, run_status: String },
    /// It could not run. `retry_after`: queue it again after this long (the attempt is
    /// counted), or `None` to fail it for good.
    Failed {
        error: String,
        retry_after: Option<Duration>,
    },
    /// The worker stops (shutdown) before finishing: queued again at once, the attempt not
    /// held against the job.
    Released { why: String },
}

/// A worker process, as it registers itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerInfo {
    /// Unique name (`--id`, default `host:pid`).
    pub worker: String,
    /// `host:pid`.
    pub owner: String,
    pub concurrency: u32,
    pub version: String,
    /// How often it sends a heartbeat; it counts as silent after three periods without one.
    pub heartbeat_every: std::time::Duration,
}

/// What [`JobQueue::cancel`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    /// It was in this state (queued or running) and is now failed.
    Was(JobState),
    /// It had finished already, in this state; nothing changed.
    Finished(JobState),
    NotFound,
}

/// The jobs of one console in one state ([`JobQueue::job_counts`]).
#[derive(Debug, Clone, PartialEq)]
pub struct JobCount {
    pub console: String,
    pub state: JobState,
    pub jobs: u64,
    /// For `queued`: seconds since the oldest of them could have started (0 when none is due).
    pub oldest_due_secs: f64,
}

/// A worker as stored, with what it runs now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkerRecord {
    pub worker: String,
    pub owner: String,
    pub concurrency: u32,
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    /// Set when it stopped cleanly.
    pub stopped_at: Option<DateTime<Utc>>,
    /// Whether it holds the scheduler lock (as it last reported).
    pub scheduler: bool,
    /// Not stopped cleanly, yet no heartbeat for three of its periods (by the database clock):
    /// killed, frozen or cut off. Its jobs go back to the queue when their leases expire.
    pub silent: bool,
    /// Jobs it holds under a live lease.
    pub running: Vec<Job>,
}

/// Filters of [`JobQueue::list_jobs`]; newest first (by `scheduled_for`, then id).
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub console: Option<String>,
    pub state: Option<JobState>,
    pub worker: Option<String>,
    /// 0 = no limit.
    pub limit: u32,
}

/// The scheduler lock, while held. Dropping it (or the process dying) releases it.
#[async_trait]
pub trait Leadership: Send + Sync {
    /// Whether the lock is still held (the connection holding it is alive).
    async fn still_held(&self) -> bool;
    /// Release it now.
    async fn resign(self: Box<Self>);
}

/// Wakes an idle worker when work is announced ([`JobQueue::notify`]). Created before looking
/// for work, so an announcement in between is not missed.
#[async_trait]
pub trait WorkSignal: Send {
    /// Wait until an announcement since this signal was created (or last returned), or
    /// `timeout`; true when woken by one.
    async fn wait(&mut self, timeout: Duration) -> bool;
}

#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Add a job unless its (console, scheduled_for) exists (see [`Enqueued`]).
    async fn enqueue(&self, job: &NewJob) -> Result<Enqueued>;
    /// Announce that work is ready (wakes idle workers).
    async fn notify(&self) -> Result<()>;
    /// Claim the next claimable job for `worker` (`owner` = its `host:pid`) with a lease of
    /// `lease`: a running job whose lease expired (fewer than `max_attempts` claims so far)
    /// first, else the oldest due queued job of a console that has no running job. `None` when
    /// there is nothing to do. Safe under any number of concurrent claimers.
    async fn claim(
        &self,
        worker: &str,
        owner: &str,
        lease: Duration,
        max_attempts: i32,
    ) -> Result<Option<Claimed>>;
    /// Extend a held lease to now + `lease`; false when the lease is no longer this holder's
    /// (re-claimed by another worker, or finished).
    async fn renew(&self, lease: &Lease, lease_for: Duration) -> Result<bool>;
    /// Record the store's run of the held job; false as for `renew`.
    async fn set_run(&self, lease: &Lease, run_id: i64) -> Result<bool>;
    /// End a held job; false (nothing changed) when the lease is no longer this holder's.
    async fn finish(&self, lease: &Lease, outcome: &JobOutcome) -> Result<bool>;
    /// Fail running jobs whose lease expired after `max_attempts` claims (a job that kills its
    /// workers is not retried for ever). Returns how many.
    async fn fail_exhausted(&self, max_attempts: i32) -> Result<u64>;
    /// Delete finished jobs (`done`, `failed`, `skipped`) whose tick is older than `older_than`,
    /// keeping each console's newest job. Returns how many. (The store's runs keep the history.)
    async fn prune_finished(&self, older_than: Duration) -> Result<u64>;
    async fn get_job(&self, job_id: i64) -> Result<Option<Job>>;
    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>>;
    /// Cancel a queued or running job: it becomes `failed` with "cancelled by {by}" as its
    /// error. A running job's worker learns it at its next lease renewal (renewals of a job that
    /// is no longer running are refused) and stops the sync, its run closed `abandoned` with
    /// its checkpoints kept.
    async fn cancel(&self, job_id: i64, by: &str) -> Result<Cancelled>;
    /// How many jobs each console has in each state (states without jobs left out), with the
    /// age in seconds of its oldest queued job that may run now (for metrics).
    async fn job_counts(&self) -> Result<Vec<JobCount>>;

    /// Register (or re-register) a worker as alive now.
    async fn register_worker(&self, info: &WorkerInfo) -> Result<()>;
    /// The worker is alive; `scheduler` says whether it holds the scheduler lock.
    async fn worker_heartbeat(&self, worker: &str, scheduler: bool) -> Result<()>;
    /// The worker stopped cleanly.
    async fn worker_stopped(&self, worker: &str) -> Result<()>;
    /// Workers seen within `seen_within` (stopped ones included), by id, with their running jobs.
    async fn list_workers(&self, seen_within: Duration) -> Result<Vec<WorkerRecord>>;

    /// Try to become the one scheduler; `None` when another process holds the lock.
    async fn try_lead(&self) -> Result<Option<Box<dyn Leadership>>>;
    /// A signal to wait on for [`JobQueue::notify`] announcements.
    async fn work_signal(&self) -> Result<Box<dyn WorkSignal>>;
}

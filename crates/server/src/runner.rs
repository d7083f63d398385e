//! Running syncs for the service: at most one per console at a time (the store's `begin_run`
//! also refuses a console another process is syncing), progress kept for the API and the
//! dashboard, outcomes counted for `/metrics`, and a graceful stop.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use s1bridge_api::ClientStats;
use s1bridge_store::{FeatureOutcome, RunStatus, Store};
use s1bridge_sync::verify::VerifyReport;
use s1bridge_sync::{Feature, Progress, ProgressSink};
use serde::Serialize;

use crate::metrics::Metrics;

/// What the service needs from the consoles: run a sync, verify, and the client counters. The
/// binary provides the live implementation ([`crate::live::LiveBackend`]); tests a fake.
#[async_trait::async_trait]
pub trait ConsoleBackend: Send + Sync + 'static {
    /// Run `features` of `console` (through `s1bridge_sync::run`).
    async fn sync(
        &self,
        console: &str,
        features: &[Feature],
        progress: ProgressSink,
    ) -> Result<RunSummary, SyncFailure>;
    /// Check the console's URL, token and capabilities.
    async fn verify(&self, console: &str) -> Result<VerifyReport, String>;
    /// Request counters per console (for `/metrics`).
    fn client_stats(&self) -> Vec<(String, ClientStats)> {
        Vec::new()
    }
}

/// Why a sync did not run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SyncFailure {
    /// Another process (for example a CLI `s1bridge sync`) is syncing the console; the store
    /// refused a second run.
    #[error("{0}")]
    Busy(String),
    /// The token, URL, database or engine failed before the run could be recorded.
    #[error("{0}")]
    Failed(String),
}

impl From<String> for SyncFailure {
    fn from(e: String) -> Self {
        SyncFailure::Failed(e)
    }
}

/// The outcome of a finished sync.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: i64,
    pub status: RunStatus,
    pub features: Vec<FeatureOutcome>,
}

/// Why a sync started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Schedule,
    Manual,
}

/// `running`, then `finished` (the run closed; see `status`) or `failed` (it could not run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncPhase {
    Running,
    Finished,
    Failed,
}

/// Progress of one feature of a running sync.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FeatureProgress {
    pub records: u64,
    /// The console's total, when it tells one (a hint).
    pub total: Option<u64>,
    pub done: bool,
}

/// The latest sync the service started for a console (`GET /api/v1/consoles/{name}/syncs/current`).
#[derive(Debug, Clone, Serialize)]
pub struct SyncState {
    pub console: String,
    pub state: SyncPhase,
    pub trigger: Trigger,
    pub features: Vec<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub progress: BTreeMap<String, FeatureProgress>,
    pub run_id: Option<i64>,
    /// The run's status once finished (`ok|degraded|failed|abandoned`).
    pub status: Option<RunStatus>,
    /// Why it failed to run.
    pub error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("a sync of console '{0}' is already running; wait for it to finish")]
    Busy(String),
    #[error("the service is shutting down; no new sync starts")]
    ShuttingDown,
}

struct Slot {
    state: SyncState,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Starts and tracks syncs.
pub struct Runner {
    backend: Arc<dyn ConsoleBackend>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    slots: Mutex<HashMap<String, Slot>>,
    draining: std::sync::atomic::AtomicBool,
    changed: tokio::sync::Notify,
}

impl Runner {
    pub fn new(
        backend: Arc<dyn ConsoleBackend>,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
    ) -> Arc<Runner> {
        Arc::new(Runner {
            backend,
            store,
            metrics,
            slots: Mutex::new(HashMap::new()),
            draining: std::sync::atomic::AtomicBool::new(false),
            changed: tokio::sync::Notify::new(),
        })
    }

    pub fn backend(&self) -> &Arc<dyn ConsoleBackend> {
        &self.backend
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The latest sync of `console` started by this service, if any.
    pub fn state(&self, console: &str) -> Option<SyncState> {
        self.slots().get(console).map(|s| s.state.clone())
    }

    pub fn is_running(&self, console: &str) -> bool {
        self.slots()
            .get(console)
            .is_some_and(|s| s.state.state == SyncPhase::Running)
    }

    /// Start `features` of `console` now, unless a sync of it is running.
    pub fn try_start(
        self: &Arc<Self>,
        console: &str,
        features: Vec<Feature>,
        trigger: Trigger,
    ) -> Result<SyncState, StartError> {
        if self.draining.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StartError::ShuttingDown);
        }
        let mut slots = self.slots();
        if slots
            .get(console)
            .is_some_and(|s| s.state.state == SyncPhase::Running)
        {
            return Err(StartError::Busy(console.to_string()));
        }
        let state = SyncState {
            console: console.to_string(),
            state: SyncPhase::Running,
            trigger,
            features: features.iter().map(|f| f.as_str().to_string()).collect(),
            started_at: Utc::now(),
            finished_at: None,
            progress: features
                .iter()
                .map(|f| (f.as_str().to_string(), FeatureProgress::default()))
                .collect(),
            run_id: None,
            status: None,
            error: None,
        };
        let me = Arc::clone(self);
        let name = console.to_string();
        // The slot exists before the task can touch it (we hold the lock).
        let task = tokio::spawn(async move { me.execute(name, features).await });
        slots.insert(
            console.to_string(),
            Slot {
                state: state.clone(),
                task: Some(task),
            },
        );
        Ok(state)
    }

    async fn execute(self: Arc<Self>, console: String, features: Vec<Feature>) {
        let progress = {
            let me = Arc::clone(&self);
            let console = console.clone();
            ProgressSink::new(move |p| me.on_progress(&console, p))
        };
        let started = std::time::Instant::now();
        let result = self.backend.sync(&console, &features, progress).await;
        let elapsed = started.elapsed();
        match &result {
            Ok(summary) => {
                for f in &summary.features {
                    let secs = match (f.started_at, f.finished_at) {
                        (Some(a), Some(b)) => (b - a).num_milliseconds().max(0) as f64 / 1000.0,
                        _ => elapsed.as_secs_f64(),
                    };
                    self.metrics.record_feature(
                        &console,
                        &f.feature,
                        f.status.as_str(),
                        secs,
                        f.records,
                    );
                }
            }
            Err(SyncFailure::Busy(e)) => {
                tracing::warn!(console = %console, error = %e, "Not syncing: another process is syncing this console.");
                self.metrics.record_skip(&console, "busy_elsewhere");
            }
            Err(SyncFailure::Failed(e)) => {
                tracing::warn!(console = %console, error = %e, "The sync could not run.");
                self.metrics.record_failure(&console);
            }
        }
        {
            let mut slots = self.slots();
            if let Some(slot) = slots.get_mut(&console) {
                let s = &mut slot.state;
                s.finished_at = Some(Utc::now());
                match result {
                    Ok(summary) => {
                        s.state = SyncPhase::Finished;
                        s.run_id = Some(summary.run_id);
                        s.status = Some(summary.status);
                        for p in s.progress.values_mut() {
                            p.done = true;
                        }
                    }
                    Err(e) => {
                        s.state = SyncPhase::Failed;
                        s.error = Some(e.to_string());
                    }
                }
                slot.task = None;
            }
        }
        self.changed.notify_waiters();
    }

    fn on_progress(&self, console: &str, p: Progress) {
        let mut slots = self.slots();
        let Some(slot) = slots.get_mut(console) else {
            return;
        };
        let (feature, records, total, done) = match p {
            Progress::Started {
                feature,
                total,
                already,
            } => (feature, already, total, false),
            Progress::Page {
                feature,
                records,
                total,
            } => (feature, records, total, false),
            Progress::Finished { feature, records } => (feature, records, None, true),
        };
        let e = slot.state.progress.entry(feature.to_string()).or_default();
        e.records = records;
        if total.is_some() {
            e.total = total;
        }
        e.done |= done;
    }

    /// Consoles with a sync running now.
    pub fn running(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .slots()
            .iter()
            .filter(|(_, s)| s.state.state == SyncPhase::Running)
            .map(|(k, _)| k.clone())
            .collect();
        v.sort();
        v
    }

    /// Wait until no sync is running (or `timeout`); true when none is.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            if self.running().is_empty() {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.running().is_empty();
            }
        }
    }

    /// Graceful stop: start no new sync, give running ones `grace` to finish, then stop them.
    /// Every page a stopped sync committed is kept with its checkpoint; its run is closed as
    /// `abandoned`, and the next sync of the console resumes from the checkpoints.
    pub async fn shutdown(&self, grace: Duration) {
        self.draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if self.wait_idle(grace).await {
            return;
        }
        let stopped: Vec<String> = {
            let mut slots = self.slots();
            let mut names = Vec::new();
            for (name, slot) in slots.iter_mut() {
                if let Some(task) = slot.task.take() {
                    task.abort();
                    slot.state.state = SyncPhase::Failed;
                    slot.state.error = Some("stopped: the service shut down".into());
                    names.push(name.clone());
                }
            }
            names
        };
        let me = s1bridge_sync::process_owner();
        for console in stopped {
            let runs = match self.store.list_runs(Some(&console), 5).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(console = %console, error = %e, "Could not close the stopped run.");
                    continue;
                }
            };
            for run in runs.iter().filter(|r| {
                r.status == RunStatus::Running && r.owner.as_deref() == Some(me.as_str())
            }) {
                let why = "s1bridge serve was stopped (SIGINT/SIGTERM); the next sync resumes from its checkpoints";
                if let Err(e) = self.store.abandon_run(run.run_id, Utc::now(), why).await {
                    tracing::warn!(run_id = run.run_id, error = %e, "Could not close the stopped run.");
                } else {
                    tracing::info!(console = %console, run_id = run.run_id, "Stopped the running sync; its checkpoints are kept.");
                }
            }
        }
    }
}

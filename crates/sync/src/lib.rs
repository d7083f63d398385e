//! The s1bridge sync engine: runs a console's features through the one client into the store,
//! records each run and each feature's outcome, and keeps checkpoints so nothing is lost when a
//! run fails or is killed.
//!
//! It knows the [`Store`] trait, never a backend, and the [`Client`], never HTTP.

use std::sync::Arc;

use chrono::Utc;
use s1bridge_api::{ApiError, Client};
use s1bridge_store::{FeatureOutcome, FeatureStatus, RunStatus, Store, StoreError};

pub mod access;
pub mod ai_agents;
pub mod convert;
pub mod devices;
pub mod indicators;
pub mod provision;
pub mod verify;
pub mod vulns;

pub use access::{AccessOptions, AccessReport};
pub use ai_agents::{AiOptions, AiQueryMethod, AiReport};
pub use devices::{DeviceOptions, DeviceReport};
pub use vulns::{VulnOptions, VulnReport};

/// Aborts a background task when dropped, so no early return can leak it.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Page through `path` in a task of its own, converting each page with `convert`, one page
/// ahead of the consumer (a channel of one): the network, decoding and conversion of the next
/// page overlap with the database write of the previous one. The task ends after the last page
/// or the first error, and is aborted when the receiver's guard is dropped.
pub(crate) fn spawn_pages<T, R>(
    client: &Client,
    path: &'static str,
    query: Vec<(String, String)>,
    page_size: u32,
    cursor: Option<String>,
    mut convert: impl FnMut(s1bridge_api::Page<T>) -> R + Send + 'static,
) -> (
    tokio::sync::mpsc::Receiver<Result<R, ApiError>>,
    AbortOnDrop,
)
where
    T: serde::de::DeserializeOwned + Send + 'static,
    R: Send + 'static,
{
    use futures::StreamExt;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let client = client.clone();
    let handle = tokio::spawn(async move {
        let mut pages = Box::pin(client.pages::<T>(path, query, page_size, cursor));
        while let Some(page) = pages.next().await {
            let item = page.map(&mut convert);
            let stop = item.is_err();
            if tx.send(item).await.is_err() || stop {
                break;
            }
        }
    });
    (rx, AbortOnDrop(handle))
}

/// A feature of a sync run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Feature {
    Devices,
    Vulnerabilities,
    Access,
    AiAgents,
}

impl Feature {
    /// What a sync runs when not told otherwise, in this order (vulnerabilities use the device
    /// inventory for their priority, AI agents map events to its devices).
    pub const AVAILABLE: [Feature; 4] = [
        Feature::Devices,
        Feature::Vulnerabilities,
        Feature::Access,
        Feature::AiAgents,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Devices => "devices",
            Feature::Vulnerabilities => "vulnerabilities",
            Feature::Access => "access",
            Feature::AiAgents => "ai-agents",
        }
    }

    pub fn parse(s: &str) -> Result<Feature, String> {
        match s.trim() {
            "devices" => Ok(Feature::Devices),
            "vulnerabilities" => Ok(Feature::Vulnerabilities),
            "access" => Ok(Feature::Access),
            "ai-agents" => Ok(Feature::AiAgents),
            "indicators" => Err(format!(
                "the feature '{s}' is not in this build of s1bridge yet; available: devices, vulnerabilities, access, ai-agents"
            )),
            other => Err(format!(
                "unknown feature '{other}'; known features: devices, vulnerabilities, access, ai-agents"
            )),
        }
    }
}

/// What a console is synced for: `scan` (devices and vulnerabilities) or `asset-sync` (devices
/// only: no vulnerability request is made and stored findings are left exactly as they are).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    #[default]
    Scan,
    AssetSync,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Scan => "scan",
            Mode::AssetSync => "asset-sync",
        }
    }
    pub fn parse(s: &str) -> Result<Mode, String> {
        match s.trim() {
            "scan" => Ok(Mode::Scan),
            "asset-sync" => Ok(Mode::AssetSync),
            other => Err(format!("unknown mode '{other}'; use scan or asset-sync")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The feature cannot run on this console now (licence, permission, a failed or timed-out
    /// query); the rest of the run goes on.
    #[error("{0}")]
    Unavailable(String),
}

/// Events for whoever shows progress (a bar on a terminal, log lines otherwise, the server).
#[derive(Debug, Clone)]
pub enum Progress {
    Started {
        feature: &'static str,
        total: Option<u64>,
        already: u64,
    },
    Page {
        feature: &'static str,
        records: u64,
        total: Option<u64>,
    },
    Finished {
        feature: &'static str,
        records: u64,
    },
}

/// Where progress goes. Cheap to clone; a no-op by default.
#[derive(Clone, Default)]
pub struct ProgressSink(Option<Arc<dyn Fn(Progress) + Send + Sync>>);

impl ProgressSink {
    pub fn new(f: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        ProgressSink(Some(Arc::new(f)))
    }
    pub fn emit(&self, p: Progress) {
        if let Some(f) = &self.0 {
            f(p);
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub console: String,
    pub features: Vec<Feature>,
    pub mode: Mode,
    pub devices: DeviceOptions,
    pub vulns: VulnOptions,
    pub access: AccessOptions,
    pub ai: AiOptions,
    /// A run whose heartbeat is older than this is considered dead (its console may be synced
    /// again).
    pub stale_run_after: chrono::Duration,
}

impl SyncOptions {
    pub fn new(console: impl Into<String>) -> Self {
        SyncOptions {
            console: console.into(),
            features: Feature::AVAILABLE.to_vec(),
            mode: Mode::Scan,
            devices: DeviceOptions::default(),
            vulns: VulnOptions::default(),
            access: AccessOptions::default(),
            ai: AiOptions::default(),
            stale_run_after: chrono::Duration::minutes(5),
        }
    }
}

/// The result of a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    pub run_id: i64,
    pub console: String,
    pub status: RunStatus,
    pub features: Vec<FeatureOutcome>,
    pub devices: Option<DeviceReport>,
    pub vulnerabilities: Option<VulnReport>,
    pub access: Option<AccessReport>,
    pub ai_agents: Option<AiReport>,
    pub elapsed_ms: u64,
}

impl RunReport {
    /// PRODUCT.md exit status: 0 ok, 1 failure, 3 finished with features unavailable/partial.
    pub fn exit_code(&self) -> i32 {
        match self.status {
            RunStatus::Ok => 0,
            RunStatus::Degraded => 3,
            _ => 1,
        }
    }
}

/// Run the requested features for one console. Errors of a feature are recorded in the run
/// (and reflected in its status); only a store failure that prevents recording is an `Err`.
pub async fn run(
    client: &Client,
    store: Arc<dyn Store>,
    opts: &SyncOptions,
    progress: ProgressSink,
) -> Result<RunReport, SyncError> {
    let started = std::time::Instant::now();
    let names: Vec<String> = opts
        .features
        .iter()
        .map(|f| f.as_str().to_string())
        .collect();
    let run_id = begin_run(&store, &opts.console, &names, opts.stale_run_after).await?;

    // Heartbeat while the run is open, so a concurrent sync knows we are alive and a dead
    // process is detected.
    let hb_store = store.clone();
    let _heartbeat = AbortOnDrop(tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(20));
        loop {
            tick.tick().await;
            if let Err(e) = hb_store.heartbeat_run(run_id, Utc::now()).await {
                tracing::warn!(error = %e, "Could not record the run heartbeat.");
            }
        }
    }));

    let mut outcomes = Vec::new();
    let mut device_report = None;
    let mut vuln_report = None;
    let mut access_report = None;
    let mut ai_report = None;
    for feature in &opts.features {
        if *feature == Feature::Vulnerabilities && opts.mode == Mode::AssetSync {
            // Asset-sync mode: not one vulnerability request, stored findings untouched.
            let now = Utc::now();
            let outcome = FeatureOutcome {
                feature: feature.as_str().to_string(),
                status: FeatureStatus::Skipped,
                reason: Some("asset-sync mode".to_string()),
                records: 0,
                requests: 0,
                retries: 0,
                errors: 0,
                started_at: Some(now),
                finished_at: Some(now),
            };
            store.record_feature(run_id, &outcome).await?;
            outcomes.push(outcome);
            continue;
        }
        let before = client.stats();
        let started_at = Utc::now();
        let mut outcome = FeatureOutcome {
            feature: feature.as_str().to_string(),
            status: FeatureStatus::Running,
            reason: None,
            records: 0,
            requests: 0,
            retries: 0,
            errors: 0,
            started_at: Some(started_at),
            finished_at: None,
        };
        store.record_feature(run_id, &outcome).await?;
        // Why a feature that completed saw only part of the console.
        let mut partial: Option<String> = None;
        let result: Result<(u64, u64, Vec<String>), SyncError> = match feature {
            Feature::Devices => devices::run_pass(
                client,
                &store,
                &opts.console,
                run_id,
                &opts.devices,
                &progress,
            )
            .await
            .map(|r| {
                let out = (r.records, r.rejected, Vec::new());
                device_report = Some(r);
                out
            }),
            Feature::Vulnerabilities => vulns::run_pass(
                client,
                &store,
                &opts.console,
                run_id,
                &opts.vulns,
                &progress,
            )
            .await
            .map(|r| {
                let out = (r.records, 0, r.warnings.clone());
                vuln_report = Some(r);
                out
            }),
            Feature::Access => access::run_pass(
                client,
                &store,
                &opts.console,
                run_id,
                &opts.access,
                &progress,
            )
            .await
            .map(|r| {
                partial = r.partial.clone();
                let out = (r.records(), 0, Vec::new());
                access_report = Some(r);
                out
            }),
            Feature::AiAgents => {
                match ai_agents::run_pass(client, &store, &opts.console, &opts.ai, &progress).await
                {
                    Ok(r) => {
                        let out = (r.detections, 0, r.notes.clone());
                        ai_report = Some(r);
                        Ok(out)
                    }
                    Err(ai_agents::AiError::Store(e)) => Err(SyncError::Store(e)),
                    Err(e) => Err(SyncError::Unavailable(format!(
                        "AI agent detection needs Deep Visibility or PowerQuery: {e}"
                    ))),
                }
            }
        };
        let after = client.stats();
        outcome.requests = after.requests.saturating_sub(before.requests);
        outcome.retries = after.retries.saturating_sub(before.retries);
        outcome.finished_at = Some(Utc::now());
        match result {
            Ok((records, rejected, notes)) => {
                outcome.status = FeatureStatus::Ok;
                outcome.records = records;
                if let Some(why) = partial {
                    outcome.status = FeatureStatus::Partial;
                    outcome.reason = Some(why);
                } else if rejected > 0 {
                    outcome.status = FeatureStatus::Partial;
                    outcome.reason = Some(format!("{rejected} records without an id were skipped"));
                } else if !notes.is_empty() {
                    // Completed, with something the user should know (e.g. an unusable KEV
                    // file: the factor was left out).
                    outcome.reason = Some(notes.join("; "));
                }
            }
            Err(SyncError::Store(e)) => {
                outcome.status = FeatureStatus::Failed;
                outcome.reason = Some(e.to_string());
                outcome.errors = 1;
                // Best effort: the store itself failed, recording may fail too.
                let _ = store.record_feature(run_id, &outcome).await;
                let _ = store
                    .finish_run(run_id, RunStatus::Failed, Utc::now())
                    .await;
                return Err(SyncError::Store(e));
            }
            Err(SyncError::Unavailable(reason)) => {
                outcome.errors = 1;
                outcome.status = FeatureStatus::Unavailable;
                outcome.reason = Some(reason);
            }
            Err(SyncError::Api(e)) => {
                outcome.errors = 1;
                let (status, reason) = classify_api_failure(&e);
                outcome.status = status;
                outcome.reason = Some(reason);
            }
        }
        store.record_feature(run_id, &outcome).await?;
        outcomes.push(outcome);
    }
    let status = overall_status(&outcomes);
    store.finish_run(run_id, status, Utc::now()).await?;
    Ok(RunReport {
        run_id,
        console: opts.console.clone(),
        status,
        features: outcomes,
        devices: device_report,
        vulnerabilities: vuln_report,
        access: access_report,
        ai_agents: ai_report,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

/// This process, as recorded on the runs it owns: `host:pid`.
pub fn process_owner() -> String {
    format!("{}:{}", host_name(), std::process::id())
}

/// This host's name (for run owners and audit actors).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

/// True when `owner` names a process on this host that no longer exists. Runs owned by another
/// host, or whose liveness cannot be told, are left to the heartbeat timeout.
fn owner_is_dead(owner: &str) -> bool {
    let Some((host, pid)) = owner.rsplit_once(':') else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    if host != host_name() || pid == std::process::id() {
        return false;
    }
    let proc_root = std::path::Path::new("/proc");
    proc_root.join("self").exists() && !proc_root.join(pid.to_string()).exists()
}

/// Open a run, recovering a console whose previous sync process was killed: a run held by a
/// process of this host that no longer exists is abandoned at once rather than after its
/// heartbeat goes stale.
async fn begin_run(
    store: &Arc<dyn Store>,
    console: &str,
    names: &[String],
    stale_after: chrono::Duration,
) -> Result<i64, SyncError> {
    let run_id = match store
        .begin_run(console, names, Utc::now(), stale_after)
        .await
    {
        Err(StoreError::ConsoleBusy {
            run_id,
            owner: Some(owner),
            ..
        }) if owner_is_dead(&owner) => {
            tracing::warn!(
                run_id,
                owner = %owner,
                "The previous sync of this console was killed; abandoning its run and resuming from its checkpoints."
            );
            store
                .abandon_run(
                    run_id,
                    Utc::now(),
                    &format!("its process ({owner}) is no longer running"),
                )
                .await?;
            store
                .begin_run(console, names, Utc::now(), stale_after)
                .await?
        }
        other => other?,
    };
    store.set_run_owner(run_id, &process_owner()).await?;
    Ok(run_id)
}

/// A licence or permission problem makes a feature *unavailable* (the rest of the run goes
/// on); anything else is a failure of that feature.
fn classify_api_failure(e: &ApiError) -> (FeatureStatus, String) {
    match e {
        ApiError::Forbidden { .. } | ApiError::NotLicensed { .. } => {
            (FeatureStatus::Unavailable, e.to_string())
        }
        _ => (FeatureStatus::Failed, e.to_string()),
    }
}

fn overall_status(outcomes: &[FeatureOutcome]) -> RunStatus {
    if outcomes.iter().any(|o| o.status == FeatureStatus::Failed) {
        RunStatus::Failed
    } else if outcomes.iter().any(|o| {
        matches!(
            o.status,
            FeatureStatus::Unavailable | FeatureStatus::Partial
        )
    }) {
        RunStatus::Degraded
    } else {
        RunStatus::Ok
    }
}

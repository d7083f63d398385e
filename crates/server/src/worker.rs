//! `s1bridge worker`: claims sync jobs from the shared [`JobQueue`] and runs them next to other
//! workers (see ARCHITECTURE.md, "The job model").
//!
//! - Up to `concurrency` jobs at a time, each under a lease renewed every third of its length.
//!   A renewal that is refused means another worker re-claimed the job (this one stalled past
//!   its lease): the sync stops at once and its store run is closed `abandoned`.
//! - A job taken over from a dead worker first closes that worker's still-running store run of
//!   the console (`abandon_run`), so `begin_run` does not refuse with `ConsoleBusy`; the sync
//!   then resumes from the checkpoints the dead worker committed.
//! - One worker at a time holds the scheduler lock and enqueues the due ticks of every console
//!   (idempotent: one job per console and tick); it also fails jobs that exhausted their
//!   attempts. Idle workers wake on `NOTIFY` and poll as a fallback.
//! - Stop (SIGINT/SIGTERM): no new claim; running syncs get `grace` to finish, then stop; their
//!   runs are closed `abandoned` (checkpoints kept) and their jobs released to the queue.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use s1bridge_store::{
    Claimed, JobOutcome, JobQueue, Leadership, NewJob, RunStatus, Store, WorkerInfo,
};
use s1bridge_sync::{Feature, Progress, ProgressSink};
use tokio::sync::watch;

use crate::runner::{ConsoleBackend, SyncFailure};
use crate::scheduler::{ConsolePlan, next_tick, stable_jitter, ticks_between};

/// How a worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Unique worker name.
    pub worker: String,
    /// This process (`host:pid`), as the sync engine records it on its runs.
    pub owner: String,
    pub concurrency: usize,
    /// A held job's lease; renewed every third of it.
    pub lease: Duration,
    /// Idle workers look for work at least this often (NOTIFY wakes them sooner).
    pub poll: Duration,
    /// Claims of one job before it is failed (a job whose worker keeps dying).
    pub max_attempts: i32,
    /// A job that could not run is queued again after this long (attempts permitting).
    pub retry_after: Duration,
    /// On stop, running syncs get this long to finish.
    pub grace: Duration,
    /// The schedules this worker enqueues while it holds the scheduler lock.
    pub plans: Vec<ConsolePlan>,
    /// A new scheduler enqueues ticks missed up to this long ago (the previous one may have died
    /// just before a tick); idempotent, so nothing is enqueued twice.
    pub catch_up: Duration,
    /// Finished jobs older than this are deleted by the scheduler (hourly); the store's runs
    /// keep the history.
    pub keep_finished: Duration,
}

impl WorkerOptions {
    pub fn new(worker: impl Into<String>) -> WorkerOptions {
        WorkerOptions {
            worker: worker.into(),
            owner: s1bridge_sync::process_owner(),
            concurrency: 4,
            lease: Duration::from_secs(60),
            poll: Duration::from_secs(10),
            max_attempts: 5,
            retry_after: Duration::from_secs(60),
            grace: Duration::from_secs(10),
            plans: Vec::new(),
            catch_up: Duration::from_secs(120),
            keep_finished: Duration::from_secs(30 * 86400),
        }
    }
}

/// Run the worker until `stop` turns true. Errors only when it cannot register.
pub async fn run(
    queue: Arc<dyn JobQueue>,
    store: Arc<dyn Store>,
    backend: Arc<dyn ConsoleBackend>,
    opts: WorkerOptions,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let opts = Arc::new(opts);
    queue
        .register_worker(&WorkerInfo {
            worker: opts.worker.clone(),
            owner: opts.owner.clone(),
            concurrency: u32::try_from(opts.concurrency).unwrap_or(u32::MAX),
            version: env!("CARGO_PKG_VERSION").to_string(),
            heartbeat_every: opts.lease / 3,
        })
        .await
        .map_err(|e| format!("registering worker '{}': {e}", opts.worker))?;
    tracing::info!(worker = %opts.worker, owner = %opts.owner, concurrency = opts.concurrency, "Worker started.");

    let leading = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let heartbeat = {
        let queue = queue.clone();
        let opts = opts.clone();
        let leading = leading.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(opts.lease / 3);
            loop {
                tick.tick().await;
                let lead = leading.load(std::sync::atomic::Ordering::SeqCst);
                if let Err(e) = queue.worker_heartbeat(&opts.worker, lead).await {
                    tracing::warn!(error = %e, "Could not record the worker heartbeat.");
                }
            }
        })
    };
    let scheduler = tokio::spawn(schedule_loop(
        queue.clone(),
        opts.clone(),
        leading.clone(),
        stop.clone(),
    ));

    // Cancels running jobs once the grace period is over.
    let (cancel_tx, cancel_rx) = watch::channel(false);
    let slots = Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1)));
    let mut jobs = tokio::task::JoinSet::new();
    'claiming: loop {
        if *stop.borrow() {
            break;
        }
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = stop.changed() => break,
        };
        // Subscribe before looking, so an announcement in between is not missed.
        let mut signal = match queue.work_signal().await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "Cannot listen for new jobs; polling.");
                None
            }
        };
        loop {
            if *stop.borrow() {
                break 'claiming;
            }
            while jobs.try_join_next().is_some() {}
            match queue
                .claim(&opts.worker, &opts.owner, opts.lease, opts.max_attempts)
                .await
            {
                Ok(Some(claimed)) => {
                    let (queue, store, backend, opts) =
                        (queue.clone(), store.clone(), backend.clone(), opts.clone());
                    let cancel = cancel_rx.clone();
                    jobs.spawn(async move {
                        run_job(queue, store, backend, opts, claimed, cancel).await;
                        drop(permit);
                    });
                    continue 'claiming;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "Could not claim a job; retrying."),
            }
            let wait = opts.poll;
            tokio::select! {
                _ = async {
                    match signal.as_mut() {
                        Some(s) => { s.wait(wait).await; }
                        None => tokio::time::sleep(wait).await,
                    }
                } => {}
                _ = stop.changed() => {}
            }
        }
    }

    // Stopping.
    if !jobs.is_empty() {
        tracing::info!(
            running = jobs.len(),
            grace_s = opts.grace.as_secs(),
            "Stopping: no new job is claimed; running syncs get the grace period to finish."
        );
        let finished = tokio::time::timeout(opts.grace, async {
            while jobs.join_next().await.is_some() {}
        })
        .await;
        if finished.is_err() {
            let _ = cancel_tx.send(true);
            while jobs.join_next().await.is_some() {}
        }
    }
    let _ = scheduler.await;
    heartbeat.abort();
    if let Err(e) = queue.worker_stopped(&opts.worker).await {
        tracing::warn!(error = %e, "Could not record that the worker stopped.");
    }
    tracing::info!(worker = %opts.worker, "Worker stopped.");
    Ok(())
}

/// Hold (or wait for) the scheduler lock; while held, enqueue the due ticks of every console.
async fn schedule_loop(
    queue: Arc<dyn JobQueue>,
    opts: Arc<WorkerOptions>,
    leading: Arc<std::sync::atomic::AtomicBool>,
    mut stop: watch::Receiver<bool>,
) {
    if opts.plans.iter().all(|p| p.schedules.is_empty()) {
        return;
    }
    let mut lead: Option<Box<dyn Leadership>> = None;
    let mut cursor: DateTime<Utc> = Utc::now();
    let mut last_prune: Option<tokio::time::Instant> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        if let Some(l) = &lead
            && !l.still_held().await
        {
            tracing::warn!(
                "Lost the scheduler lock (its connection failed); another worker takes over."
            );
            lead = None;
            leading.store(false, std::sync::atomic::Ordering::SeqCst);
        }
        if lead.is_none() {
            match queue.try_lead().await {
                Ok(Some(l)) => {
                    tracing::info!(worker = %opts.worker, "This worker is the scheduler now.");
                    lead = Some(l);
                    leading.store(true, std::sync::atomic::Ordering::SeqCst);
                    cursor =
                        Utc::now() - chrono::Duration::from_std(opts.catch_up).unwrap_or_default();
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "Could not try the scheduler lock."),
            }
        }
        let now = Utc::now();
        if lead.is_some() {
            match enqueue_due(&*queue, &opts.plans, cursor, now).await {
                Ok(()) => cursor = now,
                Err(e) => tracing::warn!(error = %e, "Could not enqueue the due jobs; retrying."),
            }
            if last_prune
                .is_none_or(|t: tokio::time::Instant| t.elapsed() >= Duration::from_secs(3600))
            {
                last_prune = Some(tokio::time::Instant::now());
                match queue.prune_finished(opts.keep_finished).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(jobs = n, "Pruned old finished jobs."),
                    Err(e) => tracing::warn!(error = %e, "Could not prune old finished jobs."),
                }
            }
            match queue.fail_exhausted(opts.max_attempts).await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(
                    jobs = n,
                    "Failed jobs whose workers stopped renewing their lease too many times."
                ),
                Err(e) => tracing::warn!(error = %e, "Could not sweep exhausted jobs."),
            }
        }
        // The leader sleeps until the next tick (at most the poll interval, to notice a lost
        // lock and sweep); the others retry the lock at the poll interval.
        let mut wait = opts.poll;
        if lead.is_some()
            && let Some(next) = next_tick(&opts.plans, now)
        {
            wait = wait.min((next - Utc::now()).to_std().unwrap_or(Duration::ZERO));
        }
        tokio::select! {
            _ = tokio::time::sleep(wait.max(Duration::from_millis(50))) => {}
            _ = stop.changed() => {}
        }
    }
    leading.store(false, std::sync::atomic::Ordering::SeqCst);
    if let Some(l) = lead {
        l.resign().await;
    }
}

/// Enqueue each console's latest tick in `(after, until]` (older missed ticks of the same
/// console are not replayed).
async fn enqueue_due(
    queue: &dyn JobQueue,
    plans: &[ConsolePlan],
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<(), s1bridge_store::StoreError> {
    for plan in plans {
        let Some((tick, features)) = ticks_between(plan, after, until).pop() else {
            continue;
        };
        let jitter = stable_jitter(&plan.console, tick, plan.jitter);
        let job = NewJob {
            console: plan.console.clone(),
            features: features.iter().map(|f| f.as_str().to_string()).collect(),
            scheduled_for: tick,
            not_before: tick + chrono::Duration::from_std(jitter).unwrap_or_default(),
            trigger: "schedule".to_string(),
            skip_if_busy: true,
        };
        match queue.enqueue(&job).await? {
            s1bridge_store::Enqueued::Queued(id) => {
                tracing::info!(job_id = id, console = %plan.console, tick = %tick, features = ?job.features, "Enqueued a scheduled sync.")
            }
            s1bridge_store::Enqueued::Skipped(id) => tracing::warn!(
                job_id = id,
                console = %plan.console,
                tick = %tick,
                "Skipped a scheduled sync: the previous job of this console is still queued or running."
            ),
            s1bridge_store::Enqueued::Exists(_) => {}
        }
    }
    Ok(())
}

/// Close the store runs a dead holder of this job left running on its console: those owned by
/// its process, and the job's recorded run.
async fn abandon_previous(store: &dyn Store, claimed: &Claimed, why: &str) {
    let console = &claimed.job.console;
    let prev_owner = claimed.took_over_from.as_ref().and_then(|(_, o)| o.clone());
    let runs = match store.list_runs(Some(console), 10).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(console = %console, error = %e, "Could not look for the dead worker's run.");
            return;
        }
    };
    for run in runs.iter().filter(|r| {
        r.status == RunStatus::Running
            && (Some(r.run_id) == claimed.job.run_id
                || (prev_owner.is_some() && r.owner == prev_owner))
    }) {
        match store.abandon_run(run.run_id, Utc::now(), why).await {
            Ok(()) => {
                tracing::warn!(console = %console, run_id = run.run_id, "Abandoned the dead worker's run; resuming from its checkpoints.")
            }
            Err(e) => {
                tracing::warn!(console = %console, run_id = run.run_id, error = %e, "Could not abandon the dead worker's run.")
            }
        }
    }
}

/// This process's running store run of `console` started since `since`, if any.
async fn own_run(
    store: &dyn Store,
    console: &str,
    owner: &str,
    since: DateTime<Utc>,
) -> Option<i64> {
    let runs = store.list_runs(Some(console), 5).await.ok()?;
    runs.iter()
        .find(|r| {
            r.status == RunStatus::Running
                && r.owner.as_deref() == Some(owner)
                && r.started_at >= since - chrono::Duration::seconds(5)
        })
        .map(|r| r.run_id)
}

fn progress_log(job_id: i64, console: String) -> ProgressSink {
    ProgressSink::new(move |p| match p {
        Progress::Started {
            feature,
            total,
            already,
        } => {
            tracing::info!(job_id, console = %console, feature, total, resumed_at = already, "Feature started.")
        }
        Progress::Page {
            feature,
            records,
            total,
        } => tracing::debug!(job_id, console = %console, feature, records, total, "Page stored."),
        Progress::Finished { feature, records } => {
            tracing::info!(job_id, console = %console, feature, records, "Feature finished.")
        }
    })
}

/// Run one claimed job to its end under its lease.
async fn run_job(
    queue: Arc<dyn JobQueue>,
    store: Arc<dyn Store>,
    backend: Arc<dyn ConsoleBackend>,
    opts: Arc<WorkerOptions>,
    claimed: Claimed,
    mut cancel: watch::Receiver<bool>,
) {
    let job = &claimed.job;
    let lease = claimed.lease.clone();
    let claimed_at = Utc::now();
    tracing::info!(job_id = job.job_id, console = %job.console, features = ?job.features, attempt = job.attempts, "Claimed a job.");
    if let Some((prev, prev_owner)) = &claimed.took_over_from {
        tracing::warn!(
            job_id = job.job_id,
            console = %job.console,
            previous_worker = %prev,
            previous_process = prev_owner.as_deref().unwrap_or("?"),
            "Took over a job whose worker stopped renewing its lease."
        );
        let why = format!(
            "its worker ({prev}) stopped renewing the lease of job {}; worker {} took the job over",
            job.job_id, opts.worker
        );
        abandon_previous(&*store, &claimed, &why).await;
    }
    let features: Result<Vec<Feature>, String> =
        job.features.iter().map(|f| Feature::parse(f)).collect();
    let features = match features {
        Ok(f) => f,
        Err(e) => {
            let _ = queue
                .finish(
                    &lease,
                    &JobOutcome::Failed {
                        error: e,
                        retry_after: None,
                    },
                )
                .await;
            return;
        }
    };

    // Lease renewal; `lost` turns true when the job was re-claimed by another worker.
    let (lost_tx, mut lost) = watch::channel(false);
    let renewer = {
        let (queue, store, opts, lease) =
            (queue.clone(), store.clone(), opts.clone(), lease.clone());
        let console = job.console.clone();
        let mut run_recorded = job.run_id.is_some() && claimed.took_over_from.is_none();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(opts.lease / 3);
            tick.tick().await;
            let mut renewed = tokio::time::Instant::now();
            loop {
                tick.tick().await;
                match queue.renew(&lease, opts.lease).await {
                    Ok(true) => renewed = tokio::time::Instant::now(),
                    Ok(false) => {
                        let _ = lost_tx.send(true);
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(job_id = lease.job_id, error = %e, "Could not renew the lease; retrying.");
                        // Unrenewed for a whole lease: another worker may hold the job now, and
                        // two syncs of one console must never overlap.
                        if renewed.elapsed() >= opts.lease {
                            let _ = lost_tx.send(true);
                            return;
                        }
                    }
                }
                if !run_recorded
                    && let Some(run_id) = own_run(&*store, &console, &opts.owner, claimed_at).await
                {
                    run_recorded = queue.set_run(&lease, run_id).await.unwrap_or(false);
                }
            }
        })
    };

    let sync = backend.sync(
        &job.console,
        &features,
        progress_log(job.job_id, job.console.clone()),
    );
    let interrupted: Option<&str> = tokio::select! {
        result = sync => {
            renewer.abort();
            let outcome = match result {
                Ok(summary) => {
                    tracing::info!(job_id = job.job_id, console = %job.console, run_id = summary.run_id, status = summary.status.as_str(), "Job done.");
                    JobOutcome::Done { run_id: summary.run_id, run_status: summary.status.as_str().to_string() }
                }
                Err(e) => {
                    let retry = (job.attempts < opts.max_attempts).then_some(opts.retry_after);
                    tracing::warn!(job_id = job.job_id, console = %job.console, error = %e, retry_in_s = retry.map(|d| d.as_secs()), "The job could not run.");
                    let error = match &e {
                        SyncFailure::Busy(m) => format!("console busy: {m}"),
                        SyncFailure::Failed(m) => m.clone(),
                    };
                    JobOutcome::Failed { error, retry_after: retry }
                }
            };
            match queue.finish(&lease, &outcome).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!(job_id = job.job_id, "The job was re-claimed by another worker before it finished here (this worker stalled past its lease)."),
                Err(e) => tracing::warn!(job_id = job.job_id, error = %e, "Could not record the job's end; its lease will expire and another worker re-runs it."),
            }
            None
        }
        _ = async { let _ = lost.wait_for(|l| *l).await.is_ok(); } => Some("lost"),
        _ = async { let _ = cancel.wait_for(|c| *c).await.is_ok(); } => Some("stopped"),
    };
    renewer.abort();
    let Some(why) = interrupted else {
        return;
    };
    // The sync future is dropped: stop its run (its committed pages and checkpoints stay).
    let reason = if why == "lost" {
        format!(
            "worker {} lost the lease of job {} (cancelled, re-claimed by another worker, or not renewable for a whole lease)",
            opts.worker, job.job_id
        )
    } else {
        format!(
            "worker {} was stopped; the job goes back to the queue and resumes from its checkpoints",
            opts.worker
        )
    };
    tracing::warn!(job_id = job.job_id, console = %job.console, "Stopping the sync: {reason}.");
    if let Some(run_id) = own_run(&*store, &job.console, &opts.owner, claimed_at).await
        && let Err(e) = store.abandon_run(run_id, Utc::now(), &reason).await
    {
        tracing::warn!(run_id, error = %e, "Could not close the stopped run.");
    }
    if why == "stopped" {
        let _ = queue
            .finish(&lease, &JobOutcome::Released { why: reason })
            .await;
    }
}

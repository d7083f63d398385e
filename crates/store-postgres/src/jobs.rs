//! The job queue of the scale-out mode on PostgreSQL ([`JobQueue`] for [`PgJobQueue`]).
//!
//! - Claims: one `UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED LIMIT 1)`; concurrent claimers
//!   never wait on each other's rows. "One console, one running job" is the partial unique index
//!   `s1b_jobs_one_running_per_console`: a claimer that loses that race gets a unique violation
//!   and looks again.
//! - Leases: `lease_until` in the database's clock (never a worker's); a renewal or completion
//!   names the attempt it holds, so a worker whose job was re-claimed is refused.
//! - The scheduler lock: a session advisory lock on a connection taken out of the pool; it drops
//!   with the connection when its process dies.
//! - Wake-ups: `NOTIFY s1bridge_jobs` with the schema as payload (so deployments or tests sharing
//!   a database do not wake each other), received on a dedicated `LISTEN` connection.
//!
//! Advisory lock keys and notification payloads include `current_schema()`: two s1bridge
//! deployments in two schemas of one database stay independent.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use s1bridge_store::{
    Cancelled, Claimed, Enqueued, Job, JobCount, JobFilter, JobOutcome, JobQueue, JobState,
    Leadership, Lease, NewJob, Result, StoreError, WorkSignal, WorkerInfo, WorkerRecord,
};
use tokio::sync::{OnceCell, watch};
use tokio_postgres::Row;
use tokio_postgres::config::SslMode;

use crate::{PgStore, backend, pg_error};

/// The notification channel.
const CHANNEL: &str = "s1bridge_jobs";

/// The columns of a job, in [`job_from_row`]'s order.
const JOB_COLUMNS: &str = "j.job_id, j.console, j.features, j.scheduled_for, j.not_before, j.trigger, j.state, \
     j.attempts, j.worker, j.worker_owner, j.lease_until, j.heartbeat_at, j.run_id, j.run_status, \
     j.last_error, j.created_at, j.started_at, j.finished_at";

fn db(e: tokio_postgres::Error) -> StoreError {
    StoreError::Backend(pg_error(&e))
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn job_from_row(r: &Row) -> Result<Job> {
    let state: String = r.get(6);
    Ok(Job {
        job_id: r.get(0),
        console: r.get(1),
        features: r.get(2),
        scheduled_for: r.get(3),
        not_before: r.get(4),
        trigger: r.get(5),
        state: JobState::parse(&state)
            .ok_or_else(|| StoreError::Backend(format!("unknown job state '{state}'")))?,
        attempts: r.get(7),
        worker: r.get(8),
        worker_owner: r.get(9),
        lease_until: r.get(10),
        heartbeat_at: r.get(11),
        run_id: r.get(12),
        run_status: r.get(13),
        last_error: r.get(14),
        created_at: r.get(15),
        started_at: r.get(16),
        finished_at: r.get(17),
    })
}

/// The PostgreSQL job queue. Cheap to clone.
#[derive(Clone)]
pub struct PgJobQueue {
    store: PgStore,
    /// For the `LISTEN` connection (outside the pool: the pool's connections drop
    /// notifications).
    config: tokio_postgres::Config,
    listener: Arc<OnceCell<watch::Receiver<u64>>>,
}

impl std::fmt::Debug for PgJobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgJobQueue")
            .field("location", &self.store.location)
            .finish()
    }
}

impl PgJobQueue {
    /// Connect to the queue's database (`postgres://…`, as [`PgStore::open`]) and apply the
    /// migrations.
    pub async fn open(url: &str) -> Result<PgJobQueue> {
        let store = PgStore::open(url).await?;
        let (plain, _) = crate::take_pool_size(url).map_err(|reason| StoreError::Open {
            location: store.location.clone(),
            reason,
        })?;
        let config: tokio_postgres::Config =
            plain
                .parse()
                .map_err(|e: tokio_postgres::Error| StoreError::Open {
                    location: store.location.clone(),
                    reason: pg_error(&e),
                })?;
        Ok(PgJobQueue {
            store,
            config,
            listener: Arc::default(),
        })
    }

    /// Where the queue lives, password removed.
    pub fn location(&self) -> &str {
        self.store.location()
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.store.pool.get().await.map_err(backend)
    }

    /// Start the `LISTEN` task once; returns when it listens (or failed to connect the first
    /// time, in which case waiting falls back to polling and the task keeps retrying).
    async fn listening(&self) -> watch::Receiver<u64> {
        self.listener
            .get_or_init(|| async {
                let (tx, rx) = watch::channel(0u64);
                let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
                tokio::spawn(listen_loop(self.config.clone(), tx, ready_tx));
                let _ = tokio::time::timeout(Duration::from_secs(10), ready_rx).await;
                rx
            })
            .await
            .clone()
    }
}

/// Keep a `LISTEN s1bridge_jobs` connection open (reconnecting after failures) and bump `tx` for
/// each notification of our schema. Ends when every receiver is gone.
async fn listen_loop(
    config: tokio_postgres::Config,
    tx: watch::Sender<u64>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    loop {
        let result = if config.get_ssl_mode() == SslMode::Disable {
            listen_once(&config, tokio_postgres::NoTls, &tx, &mut ready).await
        } else {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let tls = {
                use rustls_platform_verifier::ConfigVerifierExt;
                rustls::ClientConfig::with_platform_verifier()
            };
            match tls {
                Ok(tls) => {
                    listen_once(
                        &config,
                        tokio_postgres_rustls::MakeRustlsConnect::new(tls),
                        &tx,
                        &mut ready,
                    )
                    .await
                }
                Err(e) => Err(format!("TLS set-up failed: {e}")),
            }
        };
        if tx.is_closed() {
            return;
        }
        if let Err(e) = result {
            tracing::warn!(error = %e, "The job queue's LISTEN connection failed; idle workers poll until it is back.");
        }
        // Something may have been announced while we were not listening.
        tx.send_modify(|n| *n += 1);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn listen_once<T>(
    config: &tokio_postgres::Config,
    tls: T,
    tx: &watch::Sender<u64>,
    ready: &mut Option<tokio::sync::oneshot::Sender<()>>,
) -> std::result::Result<(), String>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
    T::Stream: Send + 'static,
{
    use futures::StreamExt;
    let (client, mut connection) = config.connect(tls).await.map_err(|e| pg_error(&e))?;
    let (msg_tx, mut msg_rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                    if msg_tx.send(n.payload().to_string()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    let _abort = AbortOnDrop(driver);
    let schema: String = client
        .query_one("SELECT current_schema()", &[])
        .await
        .map_err(|e| pg_error(&e))?
        .get(0);
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(|e| pg_error(&e))?;
    if let Some(r) = ready.take() {
        let _ = r.send(());
    }
    loop {
        tokio::select! {
            m = msg_rx.recv() => match m {
                Some(payload) if payload == schema => tx.send_modify(|n| *n += 1),
                Some(_) => {}
                None => return Err("the connection closed".to_string()),
            },
            _ = tx.closed() => return Ok(()),
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct PgWorkSignal(watch::Receiver<u64>);

#[async_trait]
impl WorkSignal for PgWorkSignal {
    async fn wait(&mut self, timeout: Duration) -> bool {
        match tokio::time::timeout(timeout, self.0.changed()).await {
            Ok(Ok(())) => {
                self.0.borrow_and_update();
                true
            }
            Ok(Err(_)) => {
                // The listener is gone: poll.
                tokio::time::sleep(timeout).await;
                false
            }
            Err(_) => false,
        }
    }
}

/// The scheduler lock's SQL: a session advisory lock keyed by name and schema.
const LEAD_LOCK: &str =
    "pg_try_advisory_lock(hashtext('s1bridge-scheduler'), hashtext(current_schema()))";
const LEAD_UNLOCK: &str =
    "pg_advisory_unlock(hashtext('s1bridge-scheduler'), hashtext(current_schema()))";

/// The held scheduler lock: a connection taken out of the pool.
struct PgLeadership(deadpool_postgres::ClientWrapper);

#[async_trait]
impl Leadership for PgLeadership {
    async fn still_held(&self) -> bool {
        !self.0.is_closed() && self.0.simple_query("SELECT 1").await.is_ok()
    }

    async fn resign(self: Box<Self>) {
        let _ = self.0.execute(&format!("SELECT {LEAD_UNLOCK}"), &[]).await;
        // Dropping the client closes the connection, which would release the lock anyway.
    }
}

#[async_trait]
impl JobQueue for PgJobQueue {
    async fn enqueue(&self, job: &NewJob) -> Result<Enqueued> {
        if job.console.is_empty() || job.features.is_empty() {
            return Err(StoreError::Backend(
                "a job needs a console and at least one feature".to_string(),
            ));
        }
        let client = self.client().await?;
        let row = client
            .query_opt(
                "WITH busy AS (
                     SELECT EXISTS (SELECT 1 FROM s1b_jobs
                                    WHERE console = $1 AND state IN ('queued', 'running')) AS b
                 )
                 INSERT INTO s1b_jobs (console, features, scheduled_for, not_before, trigger, state,
                                       last_error, finished_at)
                 SELECT $1, $2, $3, $4, $5,
                        CASE WHEN $6 AND busy.b THEN 'skipped' ELSE 'queued' END,
                        CASE WHEN $6 AND busy.b
                             THEN 'the previous job of this console was still queued or running' END,
                        CASE WHEN $6 AND busy.b THEN now() END
                 FROM busy
                 ON CONFLICT (console, scheduled_for) DO NOTHING
                 RETURNING job_id, state",
                &[
                    &job.console,
                    &job.features,
                    &job.scheduled_for,
                    &job.not_before,
                    &job.trigger,
                    &job.skip_if_busy,
                ],
            )
            .await
            .map_err(db)?;
        let Some(row) = row else {
            let id: i64 = client
                .query_one(
                    "SELECT job_id FROM s1b_jobs WHERE console = $1 AND scheduled_for = $2",
                    &[&job.console, &job.scheduled_for],
                )
                .await
                .map_err(db)?
                .get(0);
            return Ok(Enqueued::Exists(id));
        };
        let id: i64 = row.get(0);
        let state: String = row.get(1);
        if state == "skipped" {
            return Ok(Enqueued::Skipped(id));
        }
        client
            .execute(
                &format!("SELECT pg_notify('{CHANNEL}', current_schema())"),
                &[],
            )
            .await
            .map_err(db)?;
        Ok(Enqueued::Queued(id))
    }

    async fn notify(&self) -> Result<()> {
        self.client()
            .await?
            .execute(
                &format!("SELECT pg_notify('{CHANNEL}', current_schema())"),
                &[],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn claim(
        &self,
        worker: &str,
        owner: &str,
        lease: Duration,
        max_attempts: i32,
    ) -> Result<Option<Claimed>> {
        let client = self.client().await?;
        let sql = format!(
            "WITH c AS (
                 SELECT job_id, state AS prev_state, worker AS prev_worker,
                        worker_owner AS prev_owner
                 FROM s1b_jobs j
                 WHERE (j.state = 'running' AND j.lease_until < now() AND j.attempts < $4)
                    OR (j.state = 'queued' AND j.not_before <= now()
                        AND NOT EXISTS (SELECT 1 FROM s1b_jobs r
                                        WHERE r.console = j.console AND r.state = 'running'))
                 ORDER BY (j.state = 'running') DESC, j.not_before, j.job_id
                 FOR UPDATE SKIP LOCKED
                 LIMIT 1
             )
             UPDATE s1b_jobs j
             SET state = 'running', attempts = j.attempts + 1, worker = $1, worker_owner = $2,
                 lease_until = now() + make_interval(secs => $3), heartbeat_at = now(),
                 started_at = coalesce(j.started_at, now()),
                 last_error = CASE WHEN c.prev_state = 'running'
                                   THEN 'the lease of ' || c.prev_worker || ' expired; re-claimed by ' || $1
                                   ELSE j.last_error END
             FROM c
             WHERE j.job_id = c.job_id
             RETURNING {JOB_COLUMNS}, c.prev_state, c.prev_worker, c.prev_owner"
        );
        // A claimer that loses the race for a console (two queued jobs of one console claimed
        // at once) hits the partial unique index; the next look skips that console.
        for _ in 0..20 {
            match client
                .query_opt(&sql, &[&worker, &owner, &secs(lease), &max_attempts])
                .await
            {
                Ok(None) => return Ok(None),
                Ok(Some(row)) => {
                    let job = job_from_row(&row)?;
                    let prev_state: String = row.get(18);
                    let took_over_from = (prev_state == "running")
                        .then(|| (row.get::<_, String>(19), row.get::<_, Option<String>>(20)));
                    let lease = Lease {
                        job_id: job.job_id,
                        worker: worker.to_string(),
                        attempt: job.attempts,
                    };
                    return Ok(Some(Claimed {
                        job,
                        lease,
                        took_over_from,
                    }));
                }
                Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
                    tokio::task::yield_now().await;
                    continue;
                }
                Err(e) => return Err(db(e)),
            }
        }
        Ok(None)
    }

    async fn renew(&self, lease: &Lease, lease_for: Duration) -> Result<bool> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE s1b_jobs SET lease_until = now() + make_interval(secs => $4),
                     heartbeat_at = now()
                 WHERE job_id = $1 AND worker = $2 AND attempts = $3 AND state = 'running'",
                &[
                    &lease.job_id,
                    &lease.worker,
                    &lease.attempt,
                    &secs(lease_for),
                ],
            )
            .await
            .map_err(db)?;
        Ok(n == 1)
    }

    async fn set_run(&self, lease: &Lease, run_id: i64) -> Result<bool> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE s1b_jobs SET run_id = $4
                 WHERE job_id = $1 AND worker = $2 AND attempts = $3 AND state = 'running'",
                &[&lease.job_id, &lease.worker, &lease.attempt, &run_id],
            )
            .await
            .map_err(db)?;
        Ok(n == 1)
    }

    async fn finish(&self, lease: &Lease, outcome: &JobOutcome) -> Result<bool> {
        let client = self.client().await?;
        const HELD: &str = "job_id = $1 AND worker = $2 AND attempts = $3 AND state = 'running'";
        let n = match outcome {
            JobOutcome::Done { run_id, run_status } => client
                .execute(
                    &format!(
                        "UPDATE s1b_jobs SET state = 'done', run_id = $4, run_status = $5,
                             lease_until = NULL, finished_at = now()
                         WHERE {HELD}"
                    ),
                    &[
                        &lease.job_id,
                        &lease.worker,
                        &lease.attempt,
                        run_id,
                        run_status,
                    ],
                )
                .await
                .map_err(db)?,
            JobOutcome::Failed {
                error,
                retry_after: Some(after),
            } => client
                .execute(
                    &format!(
                        "UPDATE s1b_jobs SET state = 'queued', last_error = $4, lease_until = NULL,
                             not_before = now() + make_interval(secs => $5)
                         WHERE {HELD}"
                    ),
                    &[
                        &lease.job_id,
                        &lease.worker,
                        &lease.attempt,
                        error,
                        &secs(*after),
                    ],
                )
                .await
                .map_err(db)?,
            JobOutcome::Failed {
                error,
                retry_after: None,
            } => client
                .execute(
                    &format!(
                        "UPDATE s1b_jobs SET state = 'failed', last_error = $4, lease_until = NULL,
                             finished_at = now()
                         WHERE {HELD}"
                    ),
                    &[&lease.job_id, &lease.worker, &lease.attempt, error],
                )
                .await
                .map_err(db)?,
            JobOutcome::Released { why } => client
                .execute(
                    &format!(
                        "UPDATE s1b_jobs SET state = 'queued', last_error = $4, lease_until = NULL,
                             attempts = attempts - 1, not_before = now()
                         WHERE {HELD}"
                    ),
                    &[&lease.job_id, &lease.worker, &lease.attempt, why],
                )
                .await
                .map_err(db)?,
        };
        if n == 1 && matches!(outcome, JobOutcome::Released { .. }) {
            let _ = client
                .execute(
                    &format!("SELECT pg_notify('{CHANNEL}', current_schema())"),
                    &[],
                )
                .await;
        }
        Ok(n == 1)
    }

    async fn fail_exhausted(&self, max_attempts: i32) -> Result<u64> {
        self.client()
            .await?
            .execute(
                "UPDATE s1b_jobs
                 SET state = 'failed', lease_until = NULL, finished_at = now(),
                     last_error = 'its worker (' || worker || ') stopped renewing the lease; '
                                  || attempts || ' attempts, giving up'
                 WHERE state = 'running' AND lease_until < now() AND attempts >= $1",
                &[&max_attempts],
            )
            .await
            .map_err(db)
    }

    async fn prune_finished(&self, older_than: Duration) -> Result<u64> {
        self.client()
            .await?
            .execute(
                "DELETE FROM s1b_jobs j
                 WHERE j.state IN ('done', 'failed', 'skipped')
                   AND j.scheduled_for < now() - make_interval(secs => $1)
                   AND j.job_id <> (SELECT k.job_id FROM s1b_jobs k WHERE k.console = j.console
                                    ORDER BY k.scheduled_for DESC, k.job_id DESC LIMIT 1)",
                &[&secs(older_than)],
            )
            .await
            .map_err(db)
    }

    async fn get_job(&self, job_id: i64) -> Result<Option<Job>> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!("SELECT {JOB_COLUMNS} FROM s1b_jobs j WHERE j.job_id = $1"),
                &[&job_id],
            )
            .await
            .map_err(db)?;
        row.as_ref().map(job_from_row).transpose()
    }

    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        let limit: Option<i64> = (filter.limit > 0).then_some(i64::from(filter.limit));
        let state = filter.state.map(|s| s.as_str().to_string());
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT {JOB_COLUMNS} FROM s1b_jobs j
                     WHERE ($1::text IS NULL OR j.console = $1)
                       AND ($2::text IS NULL OR j.state = $2)
                       AND ($3::text IS NULL OR j.worker = $3)
                     ORDER BY j.scheduled_for DESC, j.job_id DESC
                     LIMIT $4"
                ),
                &[&filter.console, &state, &filter.worker, &limit],
            )
            .await
            .map_err(db)?;
        rows.iter().map(job_from_row).collect()
    }

    async fn cancel(&self, job_id: i64, by: &str) -> Result<Cancelled> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db)?;
        let Some(row) = tx
            .query_opt(
                "SELECT state FROM s1b_jobs WHERE job_id = $1 FOR UPDATE",
                &[&job_id],
            )
            .await
            .map_err(db)?
        else {
            return Ok(Cancelled::NotFound);
        };
        let state: String = row.get(0);
        let state = JobState::parse(&state).ok_or_else(|| {
            StoreError::Backend(format!("the job queue holds an unknown state '{state}'"))
        })?;
        if !matches!(state, JobState::Queued | JobState::Running) {
            return Ok(Cancelled::Finished(state));
        }
        tx.execute(
            "UPDATE s1b_jobs SET state = 'failed', last_error = $2, lease_until = NULL,
                                 finished_at = now()
             WHERE job_id = $1",
            &[&job_id, &format!("cancelled by {by}")],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(Cancelled::Was(state))
    }

    async fn job_counts(&self) -> Result<Vec<JobCount>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT console, state, count(*)::int8,
                        COALESCE(EXTRACT(EPOCH FROM now() - min(not_before)
                                 FILTER (WHERE state = 'queued' AND not_before <= now())), 0)::float8
                 FROM s1b_jobs GROUP BY console, state ORDER BY console, state",
                &[],
            )
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                let state: String = r.get(1);
                Ok(JobCount {
                    console: r.get(0),
                    state: JobState::parse(&state).ok_or_else(|| {
                        StoreError::Backend(format!(
                            "the job queue holds an unknown state '{state}'"
                        ))
                    })?,
                    jobs: u64::try_from(r.get::<_, i64>(2)).unwrap_or(0),
                    oldest_due_secs: r.get(3),
                })
            })
            .collect()
    }

    async fn register_worker(&self, info: &WorkerInfo) -> Result<()> {
        let concurrency = i32::try_from(info.concurrency).unwrap_or(i32::MAX);
        self.client()
            .await?
            .execute(
                "INSERT INTO s1b_workers (worker, owner, concurrency, version, heartbeat_secs)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (worker) DO UPDATE
                 SET owner = EXCLUDED.owner, concurrency = EXCLUDED.concurrency,
                     version = EXCLUDED.version, started_at = now(), heartbeat_at = now(),
                     stopped_at = NULL, scheduler = false,
                     heartbeat_secs = EXCLUDED.heartbeat_secs",
                &[
                    &info.worker,
                    &info.owner,
                    &concurrency,
                    &info.version,
                    &info.heartbeat_every.as_secs_f64(),
                ],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn worker_heartbeat(&self, worker: &str, scheduler: bool) -> Result<()> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE s1b_workers SET heartbeat_at = now(), scheduler = $2, stopped_at = NULL
                 WHERE worker = $1",
                &[&worker, &scheduler],
            )
            .await
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("worker '{worker}'")));
        }
        Ok(())
    }

    async fn worker_stopped(&self, worker: &str) -> Result<()> {
        self.client()
            .await?
            .execute(
                "UPDATE s1b_workers SET stopped_at = now(), scheduler = false WHERE worker = $1",
                &[&worker],
            )
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn list_workers(&self, seen_within: Duration) -> Result<Vec<WorkerRecord>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT worker, owner, concurrency, version, started_at, heartbeat_at, stopped_at,
                        scheduler,
                        stopped_at IS NULL
                            AND heartbeat_at < now() - make_interval(secs => 3 * heartbeat_secs)
                 FROM s1b_workers
                 WHERE heartbeat_at > now() - make_interval(secs => $1)
                 ORDER BY worker",
                &[&secs(seen_within)],
            )
            .await
            .map_err(db)?;
        let running = client
            .query(
                &format!(
                    "SELECT {JOB_COLUMNS} FROM s1b_jobs j
                     WHERE j.state = 'running' AND j.lease_until >= now()
                     ORDER BY j.console"
                ),
                &[],
            )
            .await
            .map_err(db)?;
        let mut by_worker: BTreeMap<String, Vec<Job>> = BTreeMap::new();
        for r in &running {
            let job = job_from_row(r)?;
            if let Some(w) = job.worker.clone() {
                by_worker.entry(w).or_default().push(job);
            }
        }
        Ok(rows
            .iter()
            .map(|r| {
                let worker: String = r.get(0);
                let concurrency: i32 = r.get(2);
                WorkerRecord {
                    running: by_worker.remove(&worker).unwrap_or_default(),
                    worker,
                    owner: r.get(1),
                    concurrency: u32::try_from(concurrency).unwrap_or(0),
                    version: r.get(3),
                    started_at: r.get::<_, DateTime<Utc>>(4),
                    heartbeat_at: r.get(5),
                    stopped_at: r.get(6),
                    scheduler: r.get(7),
                    silent: r.get(8),
                }
            })
            .collect())
    }

    async fn try_lead(&self) -> Result<Option<Box<dyn Leadership>>> {
        let object = self.client().await?;
        let got: bool = object
            .query_one(&format!("SELECT {LEAD_LOCK}"), &[])
            .await
            .map_err(db)?
            .get(0);
        if !got {
            return Ok(None);
        }
        // The lock lives as long as this session: keep the connection out of the pool.
        let client = deadpool_postgres::Object::take(object);
        Ok(Some(Box::new(PgLeadership(client))))
    }

    async fn work_signal(&self) -> Result<Box<dyn WorkSignal>> {
        let mut rx = self.listening().await;
        rx.borrow_and_update();
        Ok(Box::new(PgWorkSignal(rx)))
    }
}

//! `s1bridge worker` (claims and runs sync jobs next to other workers) and `s1bridge jobs`
//! (enqueue a sync, list jobs and workers). The queue is PostgreSQL: `--queue URL`, else `--db`
//! when it is a `postgres://` URL.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use s1bridge_config::Config;
use s1bridge_config::tokens::KeySource;
use s1bridge_server::live::LiveBackend;
use s1bridge_server::worker::{self, WorkerOptions};
use s1bridge_store::{Cancelled, Job, JobFilter, JobQueue, JobState, NewJob};
use s1bridge_store_postgres::{PgJobQueue, is_postgres_url, redact_url};
use s1bridge_sync::Feature;

use crate::connect::{open_store, usage};

#[derive(Args, Debug, Clone)]
pub struct QueueArgs {
    /// The job queue's PostgreSQL database (default: --db when it is a postgres:// URL).
    #[arg(long, env = "S1BRIDGE_QUEUE", value_name = "postgres://…")]
    pub queue: Option<String>,
}

#[derive(Args, Debug)]
pub struct WorkerArgs {
    #[command(flatten)]
    queue: QueueArgs,
    /// This worker's name, unique among the workers (default: host:pid).
    #[arg(long, value_name = "NAME")]
    id: Option<String>,
    /// Jobs (consoles) this worker runs at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// A held job's lease; renewed every third of it. A worker that dies loses its jobs to the
    /// others after this long.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    lease_seconds: u64,
    /// An idle worker looks for work at least this often (NOTIFY wakes it sooner).
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    poll_seconds: u64,
    /// Claims of one job before it is failed.
    #[arg(long, default_value_t = 5)]
    max_attempts: i32,
    /// Never take the scheduler role (only run jobs others enqueue).
    #[arg(long)]
    no_scheduler: bool,
}

#[derive(Args, Debug)]
pub struct JobsArgs {
    #[command(flatten)]
    queue: QueueArgs,
    #[command(subcommand)]
    command: JobsCommand,
}

#[derive(Subcommand, Debug)]
enum JobsCommand {
    /// Queue a sync of a console now (it waits behind the console's running job, if any).
    Enqueue {
        #[arg(long)]
        console: String,
        /// Features (comma separated; default: every feature of this build).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "devices,vulnerabilities,access,ai-agents"
        )]
        only: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Jobs, newest first.
    List {
        #[arg(long)]
        console: Option<String>,
        /// queued, running, done, failed or skipped.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Cancel a queued or running job (it becomes failed, "cancelled by …"); a running job's
    /// worker stops the sync at its next lease renewal, its run closed abandoned and its
    /// checkpoints kept.
    Cancel {
        job_id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Queue a finished (failed, skipped or done) job's console and features again.
    Retry {
        job_id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Workers seen in the last hour and the jobs they run.
    Workers {
        #[arg(long)]
        json: bool,
    },
}

/// The queue URL: `--queue`, else `--db` when it is a PostgreSQL URL.
pub fn queue_url(queue: &QueueArgs, db: Option<&str>) -> Result<String> {
    match (&queue.queue, db) {
        (Some(q), _) if is_postgres_url(q) => Ok(q.clone()),
        (Some(q), _) => Err(usage(format!(
            "--queue must be a postgres:// URL, not {:?}",
            redact_url(q)
        ))),
        (None, Some(d)) if is_postgres_url(d) => Ok(d.to_string()),
        _ => Err(usage(
            "the job queue is PostgreSQL: give --queue postgres://… (or S1BRIDGE_QUEUE), or --db postgres://…",
        )),
    }
}

pub async fn open_queue(url: &str) -> Result<Arc<dyn JobQueue>> {
    let q = PgJobQueue::open(url)
        .await
        .with_context(|| format!("opening the job queue at {}", redact_url(url)))?;
    Ok(Arc::new(q))
}

pub async fn worker(db: Option<String>, config: Config, args: WorkerArgs) -> Result<u8> {
    let url = queue_url(&args.queue, db.as_deref())?;
    if args.concurrency == 0 {
        return Err(usage("--concurrency must be at least 1"));
    }
    if args.lease_seconds < 3 {
        return Err(usage(
            "--lease-seconds must be at least 3 (it is renewed every third)",
        ));
    }
    let plans = crate::serve_cmd::plans(&config)?;
    let queue = open_queue(&url).await?;
    let store = open_store(db.as_deref()).await?;
    let config = Arc::new(config);
    let keys = KeySource::from_env(&config);
    let backend = Arc::new(LiveBackend::new(config.clone(), store.clone(), keys));
    let mut opts = WorkerOptions::new(args.id.clone().unwrap_or_else(s1bridge_sync::process_owner));
    opts.concurrency = args.concurrency;
    opts.lease = Duration::from_secs(args.lease_seconds);
    opts.poll = Duration::from_secs(args.poll_seconds.max(1));
    opts.max_attempts = args.max_attempts.max(1);
    opts.grace = Duration::from_secs(config.server.shutdown_grace_seconds);
    opts.catch_up = opts.catch_up.max(opts.lease * 2);
    if !args.no_scheduler {
        opts.plans = plans;
    }
    eprintln!(
        "s1bridge worker {} ({}): queue {}, {} job(s) at a time, lease {} s, {} console(s) scheduled{}",
        opts.worker,
        opts.owner,
        redact_url(&url),
        opts.concurrency,
        args.lease_seconds,
        opts.plans.len(),
        if args.no_scheduler {
            " (scheduler role off)"
        } else {
            ""
        }
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let grace = opts.grace;
    tokio::spawn(async move {
        crate::serve_cmd::signal().await;
        eprintln!(
            "Stopping: no new job is claimed; running syncs get {} s to finish.",
            grace.as_secs()
        );
        let _ = stop_tx.send(true);
    });
    worker::run(queue, store, backend, opts, stop_rx)
        .await
        .map_err(anyhow::Error::msg)?;
    eprintln!("Stopped.");
    Ok(0)
}

fn job_json(j: &Job) -> serde_json::Value {
    serde_json::to_value(j).unwrap_or_default()
}

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

pub async fn jobs(db: Option<String>, config: Config, args: JobsArgs) -> Result<u8> {
    let url = queue_url(&args.queue, db.as_deref())?;
    let queue = open_queue(&url).await?;
    match args.command {
        JobsCommand::Enqueue {
            console,
            only,
            json,
        } => {
            let mut parsed = Vec::new();
            for f in &only {
                let f = Feature::parse(f).map_err(usage)?;
                if !parsed.contains(&f) {
                    parsed.push(f);
                }
            }
            // The engine's order (vulnerabilities use the device inventory).
            parsed.sort_by_key(|f| Feature::AVAILABLE.iter().position(|a| a == f));
            let features: Vec<String> = parsed.iter().map(|f| f.as_str().to_string()).collect();
            if config.console(&console).is_none() {
                let known = match open_store(db.as_deref()).await {
                    Ok(store) => store.get_console(&console).await?.is_some(),
                    Err(_) => false,
                };
                if !known {
                    return Err(usage(format!(
                        "no console named '{console}' in the config or the database"
                    )));
                }
            }
            let id = queue
                .enqueue(&NewJob::manual(&console, features.clone()))
                .await?
                .job_id();
            if json {
                println!(
                    "{}",
                    serde_json::json!({"job_id": id, "console": console, "features": features})
                );
            } else {
                println!(
                    "Queued job {id}: {console} ({}); a worker picks it up when the console has no running job.",
                    features.join(", ")
                );
            }
            Ok(0)
        }
        JobsCommand::List {
            console,
            state,
            limit,
            json,
        } => {
            let state = match state {
                Some(s) => Some(JobState::parse(&s).ok_or_else(|| {
                    usage(format!(
                        "unknown state '{s}'; one of queued, running, done, failed, skipped"
                    ))
                })?),
                None => None,
            };
            let jobs = queue
                .list_jobs(&JobFilter {
                    console,
                    state,
                    worker: None,
                    limit,
                })
                .await?;
            if json {
                let v: Vec<_> = jobs.iter().map(job_json).collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = jobs
                .iter()
                .map(|j| {
                    vec![
                        j.job_id.to_string(),
                        j.console.clone(),
                        j.features.join(","),
                        when(Some(j.scheduled_for)),
                        j.trigger.clone(),
                        j.state.as_str().to_string(),
                        j.attempts.to_string(),
                        j.worker.clone().unwrap_or_default(),
                        j.run_id.map(|r| r.to_string()).unwrap_or_default(),
                        j.run_status.clone().unwrap_or_default(),
                        j.last_error.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            print!(
                "{}",
                crate::output::table(
                    &[
                        "JOB",
                        "CONSOLE",
                        "FEATURES",
                        "TICK",
                        "TRIGGER",
                        "STATE",
                        "TRIES",
                        "WORKER",
                        "RUN",
                        "RUN STATUS",
                        "NOTE"
                    ],
                    &rows
                )
            );
            Ok(0)
        }
        JobsCommand::Cancel { job_id, json } => {
            let by = format!("s1bridge jobs cancel ({})", s1bridge_sync::process_owner());
            let outcome = queue.cancel(job_id, &by).await?;
            let (code, state, message) = match outcome {
                Cancelled::Was(was) => (
                    0,
                    Some(was),
                    if was == JobState::Running {
                        format!(
                            "Cancelled job {job_id} (it was running): its worker stops the sync \
                             at its next lease renewal, within a third of its lease; the run is \
                             closed abandoned and its checkpoints are kept."
                        )
                    } else {
                        format!("Cancelled job {job_id} (it was queued).")
                    },
                ),
                Cancelled::Finished(state) => (
                    1,
                    Some(state),
                    format!(
                        "Job {job_id} has finished already ({}); nothing was cancelled.",
                        state.as_str()
                    ),
                ),
                Cancelled::NotFound => {
                    return Err(usage(format!(
                        "there is no job {job_id}; `s1bridge jobs list` shows the jobs"
                    )));
                }
            };
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "job_id": job_id,
                        "cancelled": code == 0,
                        "state_before": state.map(JobState::as_str),
                    })
                );
            } else if code == 0 {
                println!("{message}");
            } else {
                eprintln!("{message}");
            }
            Ok(code)
        }
        JobsCommand::Retry { job_id, json } => {
            let Some(old) = queue.get_job(job_id).await? else {
                return Err(usage(format!(
                    "there is no job {job_id}; `s1bridge jobs list` shows the jobs"
                )));
            };
            if matches!(old.state, JobState::Queued | JobState::Running) {
                eprintln!(
                    "Job {job_id} is still {}; nothing to retry.",
                    old.state.as_str()
                );
                return Ok(1);
            }
            let id = queue
                .enqueue(&NewJob::manual(&old.console, old.features.clone()))
                .await?
                .job_id();
            if json {
                println!(
                    "{}",
                    serde_json::json!({"job_id": id, "retry_of": job_id, "console": old.console, "features": old.features})
                );
            } else {
                println!(
                    "Queued job {id}, a retry of job {job_id} ({}): {}.",
                    old.state.as_str(),
                    old.console
                );
            }
            Ok(0)
        }
        JobsCommand::Workers { json } => {
            let workers = queue.list_workers(Duration::from_secs(3600)).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&workers)?);
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = workers
                .iter()
                .map(|w| {
                    vec![
                        w.worker.clone(),
                        w.owner.clone(),
                        when(Some(w.heartbeat_at)),
                        if w.stopped_at.is_some() {
                            "stopped".into()
                        } else if w.silent {
                            "SILENT (no heartbeat)".into()
                        } else if w.scheduler {
                            "scheduler".into()
                        } else {
                            String::new()
                        },
                        w.running
                            .iter()
                            .map(|j| format!("{} (job {})", j.console, j.job_id))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ]
                })
                .collect();
            print!(
                "{}",
                crate::output::table(
                    &["WORKER", "PROCESS", "HEARTBEAT", "ROLE", "RUNNING"],
                    &rows
                )
            );
            Ok(0)
        }
    }
}

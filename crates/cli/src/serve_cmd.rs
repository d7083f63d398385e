//! `s1bridge serve`: the scheduler, the REST API, the dashboard and `/metrics`, until SIGINT or
//! SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use s1bridge_config::Config;
use s1bridge_config::tokens::KeySource;
use s1bridge_server::live::LiveBackend;
use s1bridge_server::metrics::Metrics;
use s1bridge_server::scheduler::{self, Clock, ConsolePlan};
use s1bridge_server::{AppState, Runner};
use s1bridge_sync::Feature;

use crate::connect::{open_store, usage};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (default: the config's `server.bind`, else 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR:PORT")]
    bind: Option<String>,
    /// Serve the API and dashboard only; run no scheduled sync.
    #[arg(long)]
    no_scheduler: bool,
    /// Scale-out: the workers' job queue (postgres://…; default --db when it is a postgres://
    /// URL). The service then shows the workers and jobs and leaves scheduling to the workers.
    #[command(flatten)]
    queue: crate::worker_cmd::QueueArgs,
}

/// The schedules of every configured console, checked against this build's features.
pub(crate) fn plans(config: &Config) -> Result<Vec<ConsolePlan>> {
    let mut plans = Vec::new();
    for c in &config.consoles {
        let mut schedules = Vec::new();
        for (feature, schedule) in &c.schedules {
            let f = Feature::parse(feature)
                .map_err(|e| usage(format!("consoles.{}.schedules.{feature}: {e}", c.name)))?;
            schedules.push((f, schedule.clone()));
        }
        plans.push(ConsolePlan {
            console: c.name.clone(),
            jitter: Duration::from_secs(c.jitter_seconds),
            schedules,
        });
    }
    Ok(plans)
}

pub(crate) async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

pub async fn run(db: Option<String>, config: Config, args: ServeArgs) -> Result<u8> {
    let bind = args
        .bind
        .clone()
        .unwrap_or_else(|| config.server.bind.clone());
    let addr: SocketAddr = bind.parse().map_err(|_| {
        usage(format!(
            "--bind {bind:?} is not ADDR:PORT, e.g. 127.0.0.1:8080"
        ))
    })?;
    if !addr.ip().is_loopback() {
        eprintln!(
            "warning: listening on {addr}, not a loopback address: anyone who can reach it can try API keys, \
             and traffic is plain HTTP; put a TLS proxy in front"
        );
    }
    let plans = plans(&config)?;
    let store = open_store(db.as_deref()).await?;
    if store
        .list_api_keys()
        .await?
        .iter()
        .all(|k| k.revoked_at.is_some())
    {
        eprintln!(
            "warning: no API key exists, so nothing can use the API or the dashboard yet; create one with `s1bridge keys create --role admin`"
        );
    }
    let config = Arc::new(config);
    let keys = KeySource::from_env(&config);
    let backend = Arc::new(LiveBackend::new(config.clone(), store.clone(), keys));
    let runner = Runner::new(backend, store.clone(), Arc::new(Metrics::default()));
    let mut state = AppState::new(store, runner.clone(), config.clone());
    let queued = args.queue.queue.is_some()
        || db
            .as_deref()
            .is_some_and(s1bridge_store_postgres::is_postgres_url);
    if queued {
        let url = crate::worker_cmd::queue_url(&args.queue, db.as_deref())?;
        state = state.with_queue(crate::worker_cmd::open_queue(&url).await?);
    }
    // With a queue the workers run the schedules (one of them holds the scheduler lock).
    let no_scheduler = args.no_scheduler || queued;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr} (is another process using the port?)"))?;
    let local = listener.local_addr()?;
    let scheduled: usize = plans.iter().map(|p| p.schedules.len()).sum();
    eprintln!(
        "s1bridge serve on http://{local}: dashboard /ui, API /api/v1 (OpenAPI /api/v1/openapi.json), /metrics, /healthz; \
         {} console(s), {} schedule(s){}",
        state.consoles().await?.len(),
        scheduled,
        if queued {
            " (scheduling left to the workers of the job queue; /ui/workers shows them)"
        } else if no_scheduler {
            " (scheduler off)"
        } else {
            ""
        }
    );
    // Verify every console once in the background, so the overview shows its capabilities and
    // token expiry without waiting for someone to ask.
    {
        let state = state.clone();
        tokio::spawn(async move {
            for c in state.consoles().await.unwrap_or_default() {
                if let Err(e) = state.check_capabilities(&c.name).await {
                    tracing::warn!(console = %c.name, error = %e, "Could not verify the console at start-up.");
                }
            }
        });
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sched = if no_scheduler {
        None
    } else {
        Some(tokio::spawn(scheduler::run(
            plans,
            runner.clone(),
            Clock::Wall,
            fastrand_seed(),
            stop_rx,
        )))
    };
    s1bridge_server::serve(listener, state, signal())
        .await
        .context("serving HTTP")?;
    eprintln!(
        "Stopping: no new sync starts; a running sync gets {} s to finish.",
        config.server.shutdown_grace_seconds
    );
    let _ = stop_tx.send(true);
    if let Some(s) = sched {
        let _ = s.await;
    }
    runner
        .shutdown(Duration::from_secs(config.server.shutdown_grace_seconds))
        .await;
    eprintln!("Stopped.");
    Ok(0)
}

fn fastrand_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ u64::from(std::process::id())
}

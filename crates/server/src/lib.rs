//! `s1bridge serve`: the REST API (`/api/v1`, with an OpenAPI document), the dashboard (`/ui`),
//! `/metrics`, and the scheduler that runs each console's features on cron schedules.
//!
//! It depends on the [`Store`] trait, never on a backend (the binary wires SQLite), and reaches
//! consoles only through a [`runner::ConsoleBackend`] (the live one uses `s1bridge-sync` and the
//! API client). Each product feature (devices, vulnerabilities, and those added by later
//! branches) is a [`features::FeatureModule`] contributing its API endpoints, OpenAPI schemas,
//! dashboard pages, navigation entry and overview counts; see `features/mod.rs`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::get;
use s1bridge_config::{Config, ConsoleConfig};
use s1bridge_store::{Scope, Store};
use s1bridge_sync::verify::VerifyReport;
use serde::Serialize;

mod api;
pub mod auth;
pub mod error;
pub mod features;
pub mod live;
pub mod metrics;
pub mod openapi;
pub mod page;
pub mod runner;
pub mod scheduler;
mod ui;
pub mod worker;

pub use runner::{ConsoleBackend, RunSummary, Runner, SyncPhase, SyncState, Trigger};

/// A console as the service shows it (config, or registered in the store by the CLI).
#[derive(Debug, Clone, Serialize)]
pub struct ConsoleInfo {
    pub name: String,
    pub description: Option<String>,
    pub url: String,
    pub mode: String,
    pub scope: Scope,
    /// Cron expression per feature.
    pub schedules: BTreeMap<String, String>,
    pub jitter_seconds: u64,
}

impl ConsoleInfo {
    pub fn from_config(c: &ConsoleConfig) -> ConsoleInfo {
        ConsoleInfo {
            name: c.name.clone(),
            description: c.description.clone(),
            url: c.url.clone(),
            mode: c.mode.clone(),
            scope: Scope {
                account_ids: c.account_ids.clone(),
                site_ids: c.site_ids.clone(),
                group_ids: c.group_ids.clone(),
            },
            schedules: c
                .schedules
                .iter()
                .map(|(f, s)| (f.clone(), s.expr.clone()))
                .collect(),
            jitter_seconds: c.jitter_seconds,
        }
    }
}

/// Verify reports by console, with when they were taken.
type CapabilityCache = HashMap<String, (chrono::DateTime<chrono::Utc>, VerifyReport)>;

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub runner: Arc<Runner>,
    pub config: Arc<Config>,
    capabilities: Arc<Mutex<CapabilityCache>>,
    pub modules: Arc<Vec<Box<dyn features::FeatureModule>>>,
    /// The job queue of the scale-out mode (PostgreSQL), when the service shows its workers.
    pub queue: Option<Arc<dyn s1bridge_store::JobQueue>>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, runner: Arc<Runner>, config: Arc<Config>) -> AppState {
        AppState {
            store,
            runner,
            config,
            capabilities: Arc::default(),
            modules: Arc::new(features::modules()),
            queue: None,
        }
    }

    /// Show the workers and jobs of this queue (`/api/v1/workers`, `/api/v1/jobs`, `/ui/workers`).
    pub fn with_queue(mut self, queue: Arc<dyn s1bridge_store::JobQueue>) -> AppState {
        self.queue = Some(queue);
        self
    }

    /// The configured consoles, then those only registered in the store, by name.
    pub async fn consoles(&self) -> Result<Vec<ConsoleInfo>, s1bridge_store::StoreError> {
        let mut out: Vec<ConsoleInfo> = self
            .config
            .consoles
            .iter()
            .map(ConsoleInfo::from_config)
            .collect();
        for rec in self.store.list_consoles().await? {
            if !out.iter().any(|c| c.name == rec.name) {
                out.push(ConsoleInfo {
                    name: rec.name,
                    description: rec.description,
                    url: rec.url,
                    mode: rec.mode,
                    scope: rec.scope,
                    schedules: BTreeMap::new(),
                    jitter_seconds: 0,
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub async fn console(&self, name: &str) -> Result<ConsoleInfo, error::ApiError> {
        self.consoles()
            .await?
            .into_iter()
            .find(|c| c.name == name)
            .ok_or_else(|| {
                error::ApiError::new(
                    axum::http::StatusCode::NOT_FOUND,
                    "unknown_console",
                    format!("no console named '{name}'; GET /api/v1/consoles lists them"),
                )
            })
    }

    /// The last verify report of a console, if one was taken.
    pub fn cached_capabilities(
        &self,
        console: &str,
    ) -> Option<(chrono::DateTime<chrono::Utc>, VerifyReport)> {
        self.capabilities
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(console)
            .cloned()
    }

    /// Verify the console now and remember the report.
    pub async fn check_capabilities(&self, console: &str) -> Result<VerifyReport, String> {
        let report = self.runner.backend().verify(console).await?;
        self.capabilities
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(console.to_string(), (chrono::Utc::now(), report.clone()));
        Ok(report)
    }

    /// Days left of a console's token: the sealed token's recorded expiry, else the last verify.
    pub async fn token_days_left(&self, console: &str) -> Option<i64> {
        let expires = match self.store.get_sealed_token(console).await {
            Ok(Some(t)) => t.expires_at,
            _ => None,
        }
        .or_else(|| {
            self.cached_capabilities(console)
                .and_then(|(_, r)| r.token_expires_at)
        })?;
        Some((expires - chrono::Utc::now()).num_days())
    }
}

/// The whole HTTP application: `/healthz` (open), `/api/v1` and `/metrics` (API key), `/ui`
/// (key cookie) and `/` (redirect to the dashboard).
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(api::router(&state))
        .merge(ui::router(&state))
        .with_state(state)
}

/// Serve `app` on `listener` until `shutdown` resolves (in-flight requests finish).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

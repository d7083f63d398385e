//! The core of `/api/v1` (consoles, capabilities, syncs, runs, the OpenAPI document) and the
//! assembly of every module's endpoints behind the API-key check. Also `/metrics`.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use s1bridge_store::SyncRun;
use s1bridge_sync::Feature;
use s1bridge_sync::verify::VerifyReport;
use serde::{Deserialize, Serialize};

use crate::auth::{Principal, require_key};
use crate::error::{ApiError, ApiResult};
use crate::features::{ApiQuery, Endpoint, Method, Param, paging_params};
use crate::metrics::Gauges;
use crate::page::{Page, limit, paginate};
use crate::runner::{StartError, SyncState, Trigger};
use crate::{AppState, ConsoleInfo};

/// What `GET /api/v1/consoles` says of a console.
#[derive(Debug, Clone, Serialize)]
pub struct ConsoleView {
    #[serde(flatten)]
    pub info: ConsoleInfo,
    pub token: TokenView,
    /// The latest sync this service started (null when none).
    pub sync: Option<SyncState>,
    /// The latest recorded run, from any process (null when none).
    pub last_run: Option<SyncRun>,
}

/// What is known of a console's token, never the token.
#[derive(Debug, Clone, Serialize)]
pub struct TokenView {
    /// Held in the encrypted token store.
    pub stored: bool,
    pub owner: Option<String>,
    pub scope: Option<String>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub days_left: Option<i64>,
}

#[derive(Serialize)]
pub struct ConsoleList {
    pub items: Vec<ConsoleView>,
}

pub async fn console_view(state: &AppState, info: ConsoleInfo) -> ApiResult<ConsoleView> {
    let sealed = state.store.get_sealed_token(&info.name).await?;
    let token = TokenView {
        stored: sealed.is_some(),
        owner: sealed.as_ref().and_then(|s| s.owner.clone()),
        scope: sealed.as_ref().and_then(|s| s.scope.clone()),
        expires_at: sealed.as_ref().and_then(|s| s.expires_at),
        days_left: state.token_days_left(&info.name).await,
    };
    let last_run = state
        .store
        .list_runs(Some(&info.name), 1)
        .await?
        .into_iter()
        .next();
    Ok(ConsoleView {
        sync: state.runner.state(&info.name),
        info,
        token,
        last_run,
    })
}

async fn list_consoles(State(state): State<AppState>) -> ApiResult<Json<ConsoleList>> {
    let mut items = Vec::new();
    for info in state.consoles().await? {
        items.push(console_view(&state, info).await?);
    }
    Ok(Json(ConsoleList { items }))
}

async fn get_console(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<ConsoleView>> {
    let info = state.console(&name).await?;
    Ok(Json(console_view(&state, info).await?))
}

#[derive(Deserialize)]
struct CapQuery {
    refresh: Option<bool>,
}

async fn capabilities(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<CapQuery>,
) -> ApiResult<Json<VerifyReport>> {
    state.console(&name).await?;
    if !q.refresh.unwrap_or(false)
        && let Some((at, report)) = state.cached_capabilities(&name)
        && chrono::Utc::now() - at < chrono::Duration::minutes(10)
    {
        return Ok(Json(report));
    }
    state
        .check_capabilities(&name)
        .await
        .map(Json)
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "console_unreachable", e))
}

#[derive(Deserialize, Default)]
struct SyncRequest {
    /// Default: every feature of the console's mode.
    #[serde(default)]
    features: Vec<String>,
}

/// Start a sync of `console` now (shared by the API and the dashboard's "Sync now").
pub async fn start_sync(
    state: &AppState,
    console: &str,
    features: &[String],
) -> ApiResult<SyncState> {
    state.console(console).await?;
    let mut parsed = Vec::new();
    for f in features {
        let f = Feature::parse(f).map_err(|m| ApiError::bad_request("unknown_feature", m))?;
        if !parsed.contains(&f) {
            parsed.push(f);
        }
    }
    if parsed.is_empty() {
        parsed = Feature::AVAILABLE.to_vec();
    }
    state
        .runner
        .try_start(console, parsed, Trigger::Manual)
        .map_err(|e| match e {
            StartError::Busy(_) => {
                ApiError::new(StatusCode::CONFLICT, "console_busy", e.to_string())
            }
            StartError::ShuttingDown => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                e.to_string(),
            ),
        })
}

async fn post_sync(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<SyncState>)> {
    let req: SyncRequest = if body.iter().all(u8::is_ascii_whitespace) {
        SyncRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(
                "invalid_body",
                format!("the body must be JSON like {{\"features\": [\"devices\"]}}: {e}"),
            )
        })?
    };
    if state.queue.is_some() {
        state.console(&name).await?;
        // The workers run the syncs (and hold each console's rate budget); a sync started
        // here would run beside them, outside the queue.
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "queue_mode",
            format!(
                "this service hands syncs to the workers of its job queue; POST \
                 /api/v1/consoles/{name}/jobs queues one (`s1bridge jobs enqueue {name}`), and \
                 GET /api/v1/jobs?console={name} follows it"
            ),
        ));
    }
    let st = start_sync(&state, &name, &req.features).await?;
    Ok((StatusCode::ACCEPTED, Json(st)))
}

async fn current_sync(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<SyncState>> {
    state.console(&name).await?;
    state.runner.state(&name).map(Json).ok_or_else(|| {
        ApiError::not_found(format!(
            "this service has not started a sync of '{name}'; POST /api/v1/consoles/{name}/syncs starts one"
        ))
    })
}

#[derive(Deserialize)]
struct RunQuery {
    console: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn list_runs(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<RunQuery>,
) -> ApiResult<Json<Page<SyncRun>>> {
    let runs = state
        .store
        .list_runs(q.console.as_deref().filter(|c| !c.is_empty()), 0)
        .await?;
    // Newest first: (started_at, run_id) descending as an ascending key.
    let page = paginate(
        runs,
        |r| (-r.started_at.timestamp_micros(), -r.run_id),
        q.cursor.as_deref(),
        limit(q.limit)?,
    )?;
    Ok(Json(page))
}

async fn get_run(
    State(state): State<AppState>,
    Path(run_id): Path<String>,
) -> ApiResult<Json<SyncRun>> {
    let id: i64 = run_id.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_parameter",
            format!("run id {run_id:?} is not a number"),
        )
    })?;
    state
        .store
        .get_run(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no run {id}; GET /api/v1/runs lists them")))
}

async fn openapi_doc(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(crate::openapi::document(&state.modules))
}

pub async fn metrics_text(state: &AppState) -> String {
    let mut gauges = Gauges::default();
    if let Ok(consoles) = state.consoles().await {
        for c in consoles {
            if let Some(d) = state.token_days_left(&c.name).await {
                gauges.token_days_left.push((c.name.clone(), d));
            }
            gauges
                .running
                .push((c.name.clone(), state.runner.is_running(&c.name)));
        }
    }
    if let Some(queue) = state.queue.as_deref() {
        match queue.job_counts().await {
            Ok(jobs) => gauges.jobs = jobs,
            Err(e) => tracing::warn!(error = %e, "Could not count the jobs for /metrics."),
        }
        match queue
            .list_workers(std::time::Duration::from_secs(3600))
            .await
        {
            Ok(workers) => {
                gauges.workers = workers
                    .into_iter()
                    .map(|w| {
                        let status = if w.stopped_at.is_some() {
                            "stopped"
                        } else if w.silent {
                            "silent"
                        } else {
                            "alive"
                        };
                        (w.worker, status, w.running.len())
                    })
                    .collect();
            }
            Err(e) => tracing::warn!(error = %e, "Could not list the workers for /metrics."),
        }
    }
    state
        .runner
        .metrics()
        .render(&state.runner.backend().client_stats(), &gauges)
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics_text(&state).await,
    )
        .into_response()
}

/// The core endpoints (not those of feature modules).
pub fn core_endpoints() -> Vec<Endpoint> {
    let name = || vec![Param::path("name", "The console name.")];
    let mut run_params = vec![Param::query(
        "console",
        "string",
        "Only this console's runs.",
    )];
    run_params.extend(paging_params());
    vec![
        Endpoint {
            method: Method::Get,
            path: "/api/v1/consoles",
            summary: "Every console: configuration, token expiry, latest sync and run.",
            params: vec![],
            response: "ConsoleList",
            status: 200,
            admin: false,
            handler: get(list_consoles),
        },
        Endpoint {
            method: Method::Get,
            path: "/api/v1/consoles/{name}",
            summary: "One console.",
            params: name(),
            response: "Console",
            status: 200,
            admin: false,
            handler: get(get_console),
        },
        Endpoint {
            method: Method::Get,
            path: "/api/v1/consoles/{name}/capabilities",
            summary: "The verify report: token owner, expiry and each feature's availability (cached 10 minutes).",
            params: {
                let mut p = name();
                p.push(Param::query(
                    "refresh",
                    "boolean",
                    "Ask the console again now.",
                ));
                p
            },
            response: "Capabilities",
            status: 200,
            admin: false,
            handler: get(capabilities),
        },
        Endpoint {
            method: Method::Post,
            path: "/api/v1/consoles/{name}/syncs",
            summary: "Start a sync now (body optional: {\"features\": [\"devices\"]}); 409 console_busy while one runs; 409 queue_mode when the service has a job queue (then POST /api/v1/consoles/{name}/jobs).",
            params: name(),
            response: "SyncState",
            status: 202,
            admin: true,
            handler: post(post_sync),
        },
        Endpoint {
            method: Method::Get,
            path: "/api/v1/consoles/{name}/syncs/current",
            summary: "Progress of the latest sync this service started for the console.",
            params: name(),
            response: "SyncState",
            status: 200,
            admin: false,
            handler: get(current_sync),
        },
        Endpoint {
            method: Method::Get,
            path: "/api/v1/runs",
            summary: "Sync runs, newest first, each with its features' outcomes (`s1bridge runs --json`).",
            params: run_params,
            response: "RunPage",
            status: 200,
            admin: false,
            handler: get(list_runs),
        },
        Endpoint {
            method: Method::Get,
            path: "/api/v1/runs/{run_id}",
            summary: "One sync run.",
            params: vec![Param::path("run_id", "The run id.")],
            response: "SyncRun",
            status: 200,
            admin: false,
            handler: get(get_run),
        },
        Endpoint {
            method: Method::Get,
            path: "/api/v1/openapi.json",
            summary: "This document.",
            params: vec![],
            response: "OpenApi",
            status: 200,
            admin: false,
            handler: get(openapi_doc),
        },
        Endpoint {
            method: Method::Get,
            path: "/metrics",
            summary: "Prometheus metrics (text format 0.0.4).",
            params: vec![],
            response: "text",
            status: 200,
            admin: false,
            handler: get(metrics),
        },
    ]
}

/// Every endpoint of this build: the core, then each module's.
pub fn all_endpoints(modules: &[Box<dyn crate::features::FeatureModule>]) -> Vec<Endpoint> {
    let mut v = core_endpoints();
    for m in modules {
        v.extend(m.endpoints());
    }
    v
}

async fn admin_only(req: Request, next: Next) -> Result<Response, ApiError> {
    let principal = req
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(ApiError::unauthorized)?;
    principal.require_admin(&format!("{} {}", req.method(), req.uri().path()))?;
    Ok(next.run(req).await)
}

async fn api_not_found() -> ApiError {
    ApiError::not_found("no such API endpoint; GET /api/v1/openapi.json lists them")
}

/// `/api/v1/*` and `/metrics`, every route behind the key check; admin routes behind the role
/// check.
pub fn router(state: &AppState) -> Router<AppState> {
    let mut r = Router::new();
    for ep in all_endpoints(&state.modules) {
        let handler = if ep.admin {
            ep.handler.route_layer(middleware::from_fn(admin_only))
        } else {
            ep.handler
        };
        r = r.route(ep.path, handler);
    }
    r = r.route("/api/v1/{*rest}", axum::routing::any(api_not_found));
    r.route_layer(middleware::from_fn_with_state(state.clone(), require_key))
}

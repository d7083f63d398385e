//! Scale-out: which worker runs what. `GET /api/v1/workers` (workers with their heartbeat and
//! running jobs), `GET /api/v1/jobs` (the job queue, newest first) and the `/ui/workers` page.
//! Served when the service has a job queue (`s1bridge serve --queue postgres://…`); without one
//! the endpoints answer 404 `no_queue` and the page says so.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;
use s1bridge_store::{Job, JobFilter, JobQueue, JobState, WorkerRecord};
use serde::{Deserialize, Serialize};

use super::{ApiQuery, Endpoint, FeatureModule, Method, Param};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::ui;

pub struct Workers;

/// Workers that sent a heartbeat within this long are listed.
const SEEN_WITHIN: Duration = Duration::from_secs(3600);

#[derive(Debug, Serialize)]
pub struct WorkerList {
    pub workers: Vec<WorkerRecord>,
}

#[derive(Debug, Serialize)]
pub struct JobList {
    pub jobs: Vec<Job>,
}

#[derive(Debug, Default, Deserialize)]
pub struct JobQuery {
    pub console: Option<String>,
    /// queued, running, done, failed or skipped.
    pub state: Option<String>,
    pub limit: Option<u32>,
}

fn queue(state: &AppState) -> ApiResult<&dyn JobQueue> {
    state.queue.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_queue",
            "this service runs without a job queue (single node); start it with --queue postgres://… to see the workers",
        )
    })
}

fn job_filter(q: &JobQuery) -> ApiResult<JobFilter> {
    let state = match q.state.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(JobState::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_parameter",
                format!("unknown state '{s}'; one of queued, running, done, failed, skipped"),
            )
        })?),
        None => None,
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            "limit must be between 1 and 1000",
        ));
    }
    Ok(JobFilter {
        console: q.console.clone().filter(|c| !c.is_empty()),
        state,
        worker: None,
        limit,
    })
}

async fn workers(State(state): State<AppState>) -> ApiResult<Json<WorkerList>> {
    let workers = queue(&state)?.list_workers(SEEN_WITHIN).await?;
    Ok(Json(WorkerList { workers }))
}

async fn jobs(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<JobQuery>,
) -> ApiResult<Json<JobList>> {
    let filter = job_filter(&q)?;
    let jobs = queue(&state)?.list_jobs(&filter).await?;
    Ok(Json(JobList { jobs }))
}

#[derive(Debug, Default, Deserialize)]
struct EnqueueRequest {
    /// Default: every feature of this build.
    #[serde(default)]
    features: Vec<String>,
}

/// Queue a sync of `console` for the workers (the API's `POST …/jobs` and, with a queue, the
/// dashboard's "Sync now"). Features in the engine's order; empty = every feature.
pub async fn enqueue_sync(state: &AppState, console: &str, requested: &[String]) -> ApiResult<Job> {
    let queue = queue(state)?;
    state.console(console).await?;
    let mut features: Vec<String> = Vec::new();
    for f in requested {
        let f = s1bridge_sync::Feature::parse(f)
            .map_err(|m| ApiError::bad_request("unknown_feature", m))?;
        if !features.iter().any(|x| x == f.as_str()) {
            features.push(f.as_str().to_string());
        }
    }
    // The engine's order (vulnerabilities use the device inventory).
    features.sort_by_key(|f| {
        s1bridge_sync::Feature::AVAILABLE
            .iter()
            .position(|a| a.as_str() == f)
    });
    if features.is_empty() {
        features = s1bridge_sync::Feature::AVAILABLE
            .iter()
            .map(|f| f.as_str().to_string())
            .collect();
    }
    let id = queue
        .enqueue(&s1bridge_store::NewJob::manual(console, features))
        .await?
        .job_id();
    queue
        .get_job(id)
        .await?
        .ok_or_else(|| ApiError::internal(format!("job {id} vanished")))
}

/// Queue a sync of a console for the workers (`s1bridge jobs enqueue`): 202 with the job.
async fn enqueue(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Job>)> {
    queue(&state)?;
    let req: EnqueueRequest = if body.iter().all(u8::is_ascii_whitespace) {
        EnqueueRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(
                "invalid_body",
                format!("the body must be JSON like {{\"features\": [\"devices\"]}}: {e}"),
            )
        })?
    };
    let job = enqueue_sync(&state, &name, &req.features).await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(ui::when).unwrap_or_else(|| "—".to_string())
}

async fn page(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<JobQuery>,
) -> ApiResult<Html<String>> {
    let mut body = String::from("<h1>Workers</h1>");
    let Some(queue) = state.queue.as_deref() else {
        body.push_str(
            "<p class=\"muted\">This service runs without a job queue (single node): its own \
             scheduler runs the syncs. With PostgreSQL, start <code>s1bridge worker</code> \
             processes and <code>s1bridge serve --queue postgres://…</code> to see them here.</p>",
        );
        return Ok(ui::layout(&state, "Workers", "/ui/workers", &body));
    };
    let workers = queue.list_workers(SEEN_WITHIN).await?;
    let rows: Vec<Vec<String>> = workers
        .iter()
        .map(|w| {
            let role = if w.stopped_at.is_some() {
                format!("stopped {}", when(w.stopped_at))
            } else if w.silent {
                "silent: no heartbeat (killed or cut off?); its jobs return to the queue when \
                 their leases expire"
                    .to_string()
            } else if w.scheduler {
                "scheduler".to_string()
            } else {
                String::new()
            };
            let running = w
                .running
                .iter()
                .map(|j| {
                    format!(
                        "{} <span class=\"muted\">(job {}, {}, lease until {})</span>",
                        ui::esc(&j.console),
                        j.job_id,
                        ui::esc(&j.features.join(", ")),
                        when(j.lease_until)
                    )
                })
                .collect::<Vec<_>>()
                .join("<br>");
            vec![
                ui::esc(&w.worker),
                ui::esc(&w.owner),
                ui::when(w.heartbeat_at),
                ui::esc(&role),
                format!("{}/{}", w.running.len(), w.concurrency),
                if running.is_empty() {
                    "<span class=\"muted\">idle</span>".to_string()
                } else {
                    running
                },
            ]
        })
        .collect();
    body.push_str(&ui::table(
        "workers",
        &[
            "Worker",
            "Process",
            "Last heartbeat",
            "Role",
            "Busy",
            "Running",
        ],
        &rows,
    ));
    let mut filter = job_filter(&JobQuery {
        limit: Some(q.limit.unwrap_or(100)),
        ..q
    })?;
    filter.limit = filter.limit.min(1000);
    let jobs = queue.list_jobs(&filter).await?;
    body.push_str("<h2>Jobs</h2>");
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            vec![
                j.job_id.to_string(),
                ui::esc(&j.console),
                ui::esc(&j.features.join(", ")),
                ui::when(j.scheduled_for),
                ui::esc(&j.trigger),
                ui::esc(j.state.as_str()),
                j.attempts.to_string(),
                ui::esc(j.worker.as_deref().unwrap_or("—")),
                j.run_id
                    .map(|r| {
                        format!(
                            "<a href=\"/ui/runs/{r}\">{r}</a> {}",
                            ui::esc(j.run_status.as_deref().unwrap_or(""))
                        )
                    })
                    .unwrap_or_default(),
                ui::esc(j.last_error.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    body.push_str(&ui::table(
        "jobs",
        &[
            "Job", "Console", "Features", "Tick", "Trigger", "State", "Tries", "Worker", "Run",
            "Note",
        ],
        &rows,
    ));
    Ok(ui::layout(&state, "Workers", "/ui/workers", &body))
}

/// An example job for the OpenAPI schema.
fn sample_job() -> Job {
    use crate::openapi::samples::t;
    Job {
        job_id: 7,
        console: "prod".into(),
        features: vec!["devices".into(), "vulnerabilities".into()],
        scheduled_for: t(),
        not_before: t(),
        trigger: "schedule".into(),
        state: JobState::Running,
        attempts: 2,
        worker: Some("worker-b".into()),
        worker_owner: Some("host-b:4242".into()),
        lease_until: Some(t()),
        heartbeat_at: Some(t()),
        run_id: Some(12),
        run_status: Some("ok".into()),
        last_error: Some("the lease of worker-a expired; re-claimed by worker-b".into()),
        created_at: t(),
        started_at: Some(t()),
        finished_at: Some(t()),
    }
}

#[async_trait::async_trait]
impl FeatureModule for Workers {
    fn name(&self) -> &'static str {
        "workers"
    }

    fn endpoints(&self) -> Vec<Endpoint> {
        vec![
            Endpoint {
                method: Method::Get,
                path: "/api/v1/workers",
                summary: "Workers of the job queue seen in the last hour: process, last heartbeat, scheduler role and the jobs each runs now (`s1bridge jobs workers --json`). 404 `no_queue` without a queue.",
                params: Vec::new(),
                response: "WorkerList",
                status: 200,
                admin: false,
                handler: get(workers),
            },
            Endpoint {
                method: Method::Get,
                path: "/api/v1/jobs",
                summary: "Sync jobs of the queue, newest tick first (`s1bridge jobs list --json`). 404 `no_queue` without a queue.",
                params: vec![
                    Param::query("console", "string", "Only this console's jobs."),
                    Param::query(
                        "state",
                        "string",
                        "queued, running, done, failed or skipped.",
                    ),
                    Param::query(
                        "limit",
                        "integer",
                        "At most this many (1–1000, default 100).",
                    ),
                ],
                response: "JobList",
                status: 200,
                admin: false,
                handler: get(jobs),
            },
            Endpoint {
                method: Method::Post,
                path: "/api/v1/consoles/{name}/jobs",
                summary: "Queue a sync of the console for the workers (`s1bridge jobs enqueue`); body optional `{\"features\": [\"devices\"]}`. It waits behind the console's running job. 202 with the job; 404 `no_queue` without a queue.",
                params: vec![Param::path("name", "The console name.")],
                response: "Job",
                status: 202,
                admin: true,
                handler: axum::routing::post(enqueue),
            },
        ]
    }

    fn schemas(&self) -> Vec<(&'static str, serde_json::Value)> {
        let worker = WorkerRecord {
            worker: "worker-b".into(),
            owner: "host-b:4242".into(),
            concurrency: 4,
            version: "0.1.0".into(),
            started_at: crate::openapi::samples::t(),
            heartbeat_at: crate::openapi::samples::t(),
            stopped_at: Some(crate::openapi::samples::t()),
            scheduler: true,
            silent: false,
            running: vec![sample_job()],
        };
        vec![
            (
                "WorkerList",
                serde_json::to_value(WorkerList {
                    workers: vec![worker],
                })
                .unwrap_or_default(),
            ),
            (
                "Job",
                serde_json::to_value(sample_job()).unwrap_or_default(),
            ),
            (
                "JobList",
                serde_json::to_value(JobList {
                    jobs: vec![sample_job()],
                })
                .unwrap_or_default(),
            ),
        ]
    }

    fn nav(&self) -> Option<(&'static str, &'static str)> {
        Some(("/ui/workers", "Workers"))
    }

    fn pages(&self) -> Router<AppState> {
        Router::new().route("/ui/workers", get(page))
    }

    async fn overview_counts(&self, state: &AppState, console: &str) -> Vec<(String, String)> {
        let Some(queue) = state.queue.as_deref() else {
            return Vec::new();
        };
        let filter = JobFilter {
            console: Some(console.to_string()),
            state: Some(JobState::Running),
            worker: None,
            limit: 1,
        };
        match queue.list_jobs(&filter).await {
            Ok(running) => vec![(
                "Running on".into(),
                running
                    .first()
                    .and_then(|j| j.worker.clone())
                    .unwrap_or_else(|| "no worker now".into()),
            )],
            Err(e) => vec![("Workers".into(), format!("error: {e}"))],
        }
    }
}

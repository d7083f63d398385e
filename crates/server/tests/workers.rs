//! `serve` with a job queue shows which worker runs what: `/api/v1/workers`, `/api/v1/jobs`, the
//! `/ui/workers` page and the overview's "Running on". Needs PostgreSQL (skips outside CI when it
//! is unreachable); without a queue the endpoints answer 404 `no_queue`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::Utc;
use s1bridge_server::app;
use s1bridge_sim::SimConfig;
use s1bridge_store::{JobQueue, NewJob, WorkerInfo};
use s1bridge_store_postgres::{PgJobQueue, testdb::TestDb};
use serde_json::Value;
use tower::ServiceExt;

async fn get(
    state: &s1bridge_server::AppState,
    uri: &str,
    key: &str,
    cookie: bool,
) -> (StatusCode, String) {
    let mut req = Request::get(uri);
    req = if cookie {
        req.header(header::COOKIE, format!("s1bridge_key={key}"))
    } else {
        req.header(header::AUTHORIZATION, format!("Bearer {key}"))
    };
    let resp = app(state.clone())
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_shows_workers_and_the_jobs_they_run() {
    let h = common::harness(SimConfig::default(), None).await;
    // Without a queue: a clear 404, and the page explains.
    let (status, body) = get(&h.state, "/api/v1/workers", &h.read, false).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("no_queue"), "{body}");
    let (status, page) = get(&h.state, "/ui/workers", &h.read, true).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("without a job queue"), "{page}");

    let Some(db) = TestDb::create().await else {
        return;
    };
    let queue = Arc::new(PgJobQueue::open(&db.url()).await.unwrap());
    for w in ["worker-a", "worker-b"] {
        queue
            .register_worker(&WorkerInfo {
                worker: w.into(),
                owner: format!("host-{w}:7"),
                concurrency: 2,
                version: "test".into(),
                heartbeat_every: Duration::from_secs(20),
            })
            .await
            .unwrap();
    }
    let now = Utc::now();
    for (console, at) in [("lab", now), ("other", now - chrono::Duration::minutes(1))] {
        queue
            .enqueue(&NewJob {
                console: console.into(),
                features: vec!["devices".into()],
                scheduled_for: at,
                not_before: at,
                trigger: "schedule".into(),
                skip_if_busy: true,
            })
            .await
            .unwrap();
    }
    let claimed = queue
        .claim("worker-b", "host-worker-b:7", Duration::from_secs(60), 3)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.job.console, "other", "the oldest tick first");
    let state = h.state.clone().with_queue(queue.clone());

    let (status, body) = get(&state, "/api/v1/workers", &h.read, false).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let workers = v["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2);
    assert_eq!(workers[0]["worker"], "worker-a");
    assert_eq!(workers[0]["running"].as_array().unwrap().len(), 0);
    assert_eq!(workers[1]["worker"], "worker-b");
    assert_eq!(workers[1]["owner"], "host-worker-b:7");
    assert_eq!(workers[1]["running"][0]["console"], "other");

    let (status, body) = get(&state, "/api/v1/jobs?state=queued", &h.read, false).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let jobs = v["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["console"], "lab");
    let (status, body) = get(&state, "/api/v1/jobs?console=other", &h.read, false).await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["jobs"][0]["worker"], "worker-b");
    assert_eq!(v["jobs"][0]["state"], "running");
    let (status, body) = get(&state, "/api/v1/jobs?state=sleeping", &h.read, false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("invalid_parameter"), "{body}");

    // An admin queues a sync for the workers; a read key may not.
    let post = |key: String, body: &'static str| {
        let state = state.clone();
        async move {
            let req = Request::post("/api/v1/consoles/lab/jobs")
                .header(header::AUTHORIZATION, format!("Bearer {key}"))
                .body(Body::from(body))
                .unwrap();
            let resp = app(state).oneshot(req).await.unwrap();
            let status = resp.status();
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap();
            (status, String::from_utf8_lossy(&bytes).to_string())
        }
    };
    let (status, _) = post(h.read.clone(), "").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = post(
        h.admin.clone(),
        r#"{"features": ["vulnerabilities", "devices"]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let job: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        job["state"], "queued",
        "behind nothing: lab has no running job"
    );
    assert_eq!(job["trigger"], "manual");
    assert_eq!(
        job["features"],
        serde_json::json!(["devices", "vulnerabilities"]),
        "in the engine's order"
    );
    // The single-node "start a sync here" is refused with the way to queue one instead.
    let req = Request::post("/api/v1/consoles/lab/syncs")
        .header(header::AUTHORIZATION, format!("Bearer {}", h.admin))
        .body(Body::empty())
        .unwrap();
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = String::from_utf8_lossy(&bytes);
    assert!(body.contains("queue_mode"), "{body}");
    assert!(body.contains("/api/v1/consoles/lab/jobs"), "{body}");
    assert!(state.runner.state("lab").is_none(), "nothing started");
    let (status, body) = post(h.admin.clone(), r#"{"features": ["teleport"]}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("unknown_feature"), "{body}");
    let queued = queue
        .list_jobs(&s1bridge_store::JobFilter {
            console: Some("lab".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(queued.len(), 2, "the tick and the manual job");

    // With a queue, the dashboard's "Sync now" hands the sync to the workers.
    let resp = app(state.clone())
        .oneshot(
            Request::post("/ui/consoles/lab/sync")
                .header(header::COOKIE, format!("s1bridge_key={}", h.admin))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(resp.status().is_redirection(), "{:?}", resp.status());
    assert_eq!(resp.headers()[header::LOCATION], "/ui/workers");
    assert!(
        state.runner.state("lab").is_none(),
        "not run inside the service"
    );
    let lab = queue
        .list_jobs(&s1bridge_store::JobFilter {
            console: Some("lab".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(lab.len(), 3);
    assert_eq!(lab[0].trigger, "manual");
    assert_eq!(lab[0].features.len(), 4, "every feature");

    // The dashboard: the workers page and the navigation entry.
    let (status, page) = get(&state, "/ui/workers", &h.read, true).await;
    assert_eq!(status, StatusCode::OK);
    for needle in [
        "worker-a",
        "worker-b",
        "host-worker-b:7",
        "other",
        "idle",
        "href=\"/ui/workers\"",
    ] {
        assert!(page.contains(needle), "{needle} missing from {page}");
    }

    // /metrics: the queue by console and state, and the workers by status. worker-c promised a
    // heartbeat every 50 ms and went silent.
    queue
        .register_worker(&WorkerInfo {
            worker: "worker-c".into(),
            owner: "host-worker-c:9".into(),
            concurrency: 1,
            version: "test".into(),
            heartbeat_every: Duration::from_millis(50),
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, text) = get(&state, "/metrics", &h.read, false).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    for needle in [
        "s1bridge_queue_jobs{console=\"lab\",state=\"queued\"} 3",
        "s1bridge_queue_jobs{console=\"other\",state=\"running\"} 1",
        "s1bridge_queue_oldest_due_seconds{console=\"lab\"}",
        "s1bridge_workers{status=\"alive\"} 2",
        "s1bridge_workers{status=\"silent\"} 1",
        "s1bridge_workers{status=\"stopped\"} 0",
        "s1bridge_worker_running_jobs{worker=\"worker-b\"} 1",
    ] {
        assert!(text.contains(needle), "{needle} missing from {text}");
    }
    let (_, page) = get(&state, "/ui/workers", &h.read, true).await;
    assert!(page.contains("silent: no heartbeat"), "{page}");
}

//! The REST API through the router, without a socket: authentication on every route, read vs
//! admin, syncs, filters, pagination, errors, metrics, the OpenAPI drift check, and a graceful
//! stop in the middle of a sync.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use s1bridge_server::{AppState, app};
use s1bridge_sim::SimConfig;
use s1bridge_store::RunStatus;
use serde_json::Value;
use tower::ServiceExt;

use common::{Harness, harness};

async fn call(
    state: &AppState,
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, Value, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(k) = key {
        req = req.header(header::AUTHORIZATION, format!("Bearer {k}"));
    }
    let req = req
        .body(
            body.map(|b| Body::from(b.to_string()))
                .unwrap_or_else(Body::empty),
        )
        .unwrap();
    let resp = app(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&bytes).to_string();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

/// Call and check the JSON error's status and stable code.
async fn expect_error(
    state: &AppState,
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: Option<&str>,
    status: StatusCode,
    code: &str,
) {
    let (got, json, text) = call(state, method, uri, key, body).await;
    assert_eq!(got, status, "{method} {uri}: {text}");
    assert_eq!(json["error"]["code"], code, "{method} {uri}: {text}");
    assert!(
        json["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{method} {uri}: a message says what to do"
    );
}

/// Start a sync of the console `lab` with the admin key.
async fn post_sync(h: &Harness, body: Option<&str>) -> (StatusCode, Value, String) {
    call(
        &h.state,
        "POST",
        "/api/v1/consoles/lab/syncs",
        Some(&h.admin),
        body,
    )
    .await
}

async fn get(h: &Harness, uri: &str) -> Value {
    let (status, body, text) = call(&h.state, "GET", uri, Some(&h.read), None).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {text}");
    body
}

async fn sim_small() -> Harness {
    harness(
        SimConfig {
            agents: 40,
            findings_per_agent: 3,
            latency_ms: 20,
            ..SimConfig::default()
        },
        None,
    )
    .await
}

/// Every path of the document with its parameters filled in, and whether it needs an admin.
fn every_route(doc: &Value) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let admin = op["description"].as_str() == Some("Needs an admin key.");
            let filled = path
                .replace("{name}", "lab")
                .replace("{run_id}", "1")
                .replace("{finding_id}", "f0000000000000000");
            out.push((method.to_uppercase(), filled, admin));
        }
    }
    out
}

async fn wait_finished(h: &Harness) -> Value {
    for _ in 0..600 {
        let st = get(h, "/api/v1/consoles/lab/syncs/current").await;
        if st["state"] != "running" {
            return st;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the sync did not finish in 30 s");
}

#[tokio::test]
async fn every_route_but_healthz_needs_a_key_and_writes_need_admin() {
    let h = sim_small().await;
    let doc = s1bridge_server::openapi::document(&h.state.modules);
    let routes = every_route(&doc);
    assert!(routes.len() >= 12, "{routes:?}");
    for (method, path, admin) in &routes {
        let (status, body, text) = call(&h.state, method, path, None, None).await;
        if path == "/healthz" {
            assert_eq!(status, StatusCode::OK);
            continue;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {text}");
        assert_eq!(body["error"]["code"], "unauthorized", "{method} {path}");
        let (status, body, _) = call(&h.state, method, path, Some("s1b_0000notakey"), None).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} with an unknown key"
        );
        assert_eq!(body["error"]["code"], "unauthorized");
        if *admin {
            let (status, body, _) = call(&h.state, method, path, Some(&h.read), None).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{method} {path} with a read key"
            );
            assert_eq!(body["error"]["code"], "forbidden");
        }
    }
    assert!(
        routes
            .iter()
            .any(|(m, p, a)| m == "POST" && p.ends_with("/syncs") && *a),
        "starting a sync is an admin route"
    );
    assert!(
        h.state.runner.state("lab").is_none(),
        "no sync was started by a refused request"
    );
    // The dashboard without a cookie shows the login form, never data.
    let resp = app(h.state.clone())
        .oneshot(Request::get("/ui/devices").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(resp.status().is_redirection());
    assert_eq!(resp.headers()[header::LOCATION], "/ui/login");
    // With the cookie, pages render; a bad filter is an error page, not JSON.
    let page = |uri: &str| {
        Request::get(uri)
            .header(header::COOKIE, format!("s1bridge_key={}", h.read))
            .body(Body::empty())
            .unwrap()
    };
    let resp = app(h.state.clone())
        .oneshot(page("/ui/vulns?min_priority=urgent"))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(
        resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&body).contains("min_priority &quot;urgent&quot; is not one of")
    );
    // A read key cannot start a sync from the dashboard either.
    let resp = app(h.state.clone())
        .oneshot(
            Request::post("/ui/consoles/lab/sync")
                .header(header::COOKIE, format!("s1bridge_key={}", h.read))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(h.state.runner.state("lab").is_none());
    // A revoked key stops working.
    let keys = h.store.list_api_keys().await.unwrap();
    let reader = keys.iter().find(|k| k.name == "reader").unwrap();
    h.store
        .revoke_api_key(reader.id, chrono::Utc::now())
        .await
        .unwrap();
    let (status, _, _) = call(&h.state, "GET", "/api/v1/consoles", Some(&h.read), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sync_on_demand_then_query_with_filters_and_pages() {
    let h = sim_small().await;
    let (status, body, text) =
        post_sync(&h, Some(r#"{"features": ["devices", "vulnerabilities"]}"#)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    assert_eq!(body["state"], "running");
    assert_eq!(body["trigger"], "manual");
    expect_error(
        &h.state,
        "POST",
        "/api/v1/consoles/lab/syncs",
        Some(&h.admin),
        None,
        StatusCode::CONFLICT,
        "console_busy",
    )
    .await;
    let st = wait_finished(&h).await;
    assert_eq!(st["state"], "finished", "{st}");
    assert_eq!(st["status"], "ok", "{st}");
    assert_eq!(st["progress"]["devices"]["records"], 40, "{st}");

    // Unknown console, bad bodies and features.
    expect_error(
        &h.state,
        "POST",
        "/api/v1/consoles/nope/syncs",
        Some(&h.admin),
        None,
        StatusCode::NOT_FOUND,
        "unknown_console",
    )
    .await;
    expect_error(
        &h.state,
        "POST",
        "/api/v1/consoles/lab/syncs",
        Some(&h.admin),
        Some("{"),
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    expect_error(
        &h.state,
        "POST",
        "/api/v1/consoles/lab/syncs",
        Some(&h.admin),
        Some(r#"{"features": ["threats"]}"#),
        StatusCode::BAD_REQUEST,
        "unknown_feature",
    )
    .await;

    // Runs: the CLI's field names.
    let runs = get(&h, "/api/v1/runs?console=lab").await;
    let run = &runs["items"][0];
    for field in ["run_id", "console", "started_at", "finished_at", "features"] {
        assert!(run.get(field).is_some(), "run field {field}: {run}");
    }
    assert_eq!(run["status"], "ok");
    let id = run["run_id"].as_i64().unwrap();
    assert_eq!(get(&h, &format!("/api/v1/runs/{id}")).await["run_id"], id);
    expect_error(
        &h.state,
        "GET",
        "/api/v1/runs/abc",
        Some(&h.read),
        None,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    )
    .await;

    // Devices, paged: every device exactly once.
    let mut seen = BTreeSet::new();
    let mut uri = "/api/v1/devices?console=lab&limit=15".to_string();
    let mut pages = 0;
    loop {
        let page = get(&h, &uri).await;
        pages += 1;
        for d in page["items"].as_array().unwrap() {
            for field in [
                "agent_id",
                "computer_name",
                "ips",
                "stale",
                "duplicate_of",
                "removed_at",
            ] {
                assert!(d.get(field).is_some(), "device field {field}");
            }
            assert!(seen.insert(d["agent_id"].as_str().unwrap().to_string()));
        }
        match page["next_cursor"].as_str() {
            Some(c) => uri = format!("/api/v1/devices?console=lab&limit=15&cursor={c}"),
            None => break,
        }
    }
    assert_eq!((seen.len(), pages), (40, 3));
    for filter in ["decommissioned", "stale", "duplicates"] {
        let page = get(&h, &format!("/api/v1/devices?{filter}=true&limit=1000")).await;
        for d in page["items"].as_array().unwrap() {
            let ok = match filter {
                "decommissioned" => d["is_decommissioned"] == true,
                "stale" => d["stale"] == true,
                _ => !d["duplicate_of"].is_null(),
            };
            assert!(ok, "{filter}: {d}");
        }
    }
    expect_error(
        &h.state,
        "GET",
        "/api/v1/devices?cursor=garbage",
        Some(&h.read),
        None,
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
    )
    .await;
    expect_error(
        &h.state,
        "GET",
        "/api/v1/devices?stale=maybe",
        Some(&h.read),
        None,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    )
    .await;
    let (status, _, _) = call(
        &h.state,
        "GET",
        "/api/v1/devices?limit=0",
        Some(&h.read),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The queue: filters, explain, history.
    let all = get(&h, "/api/v1/vulnerabilities?limit=1000").await;
    let all = all["items"].as_array().unwrap().clone();
    assert!(!all.is_empty());
    let high = get(&h, "/api/v1/vulnerabilities?min_priority=high&limit=1000").await;
    let high = high["items"].as_array().unwrap();
    assert!(
        high.iter()
            .all(|f| f["priority"] == "critical" || f["priority"] == "high")
    );
    assert_eq!(
        high.len(),
        all.iter()
            .filter(|f| f["priority"] == "critical" || f["priority"] == "high")
            .count()
    );
    let new = get(&h, "/api/v1/vulnerabilities?status=new,open&limit=1000").await;
    assert_eq!(
        new["items"].as_array().unwrap().len(),
        all.len(),
        "all are new after one sync"
    );
    let kev = get(&h, "/api/v1/vulnerabilities?kev=true&limit=1000").await;
    assert!(
        kev["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["kev"] == true)
    );
    // Pages of the queue keep its order.
    let first = get(&h, "/api/v1/vulnerabilities?limit=7").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = get(
        &h,
        &format!("/api/v1/vulnerabilities?limit=7&cursor={cursor}"),
    )
    .await;
    let paged: Vec<&Value> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["items"].as_array().unwrap())
        .map(|f| &f["finding_id"])
        .collect();
    let expected: Vec<&Value> = all.iter().take(14).map(|f| &f["finding_id"]).collect();
    assert_eq!(paged, expected);
    let id = all[0]["finding_id"].as_str().unwrap();
    let one = get(&h, &format!("/api/v1/vulnerabilities/{id}")).await;
    assert!(one["factors"].is_array() && one["cve_id"].is_string());
    let hist = get(&h, &format!("/api/v1/vulnerabilities/{id}/history")).await;
    assert_eq!(hist["items"][0]["to"], "new");
    expect_error(
        &h.state,
        "GET",
        "/api/v1/vulnerabilities/fnope",
        Some(&h.read),
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        &h.state,
        "GET",
        "/api/v1/vulnerabilities?status=gone",
        Some(&h.read),
        None,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    )
    .await;

    // Consoles and capabilities.
    let consoles = get(&h, "/api/v1/consoles").await;
    let lab = &consoles["items"][0];
    assert_eq!(lab["name"], "lab");
    assert_eq!(lab["token"]["stored"], true);
    assert_eq!(lab["schedules"]["devices"], "0 * * * *");
    let days = lab["token"]["days_left"].as_i64().unwrap();
    assert!((39..=40).contains(&days), "{days}");
    assert_eq!(lab["last_run"]["status"], "ok");
    let caps = get(&h, "/api/v1/consoles/lab/capabilities").await;
    assert_eq!(caps["ok"], true, "{caps}");
    assert!(caps["capabilities"].as_array().unwrap().len() >= 2);
    let text = serde_json::to_string(&consoles).unwrap();
    assert!(!text.contains(&h.token), "the token never appears");

    // Metrics.
    let (status, _, text) = call(&h.state, "GET", "/metrics", Some(&h.read), None).await;
    assert_eq!(status, StatusCode::OK);
    for want in [
        "s1bridge_sync_feature_runs_total{console=\"lab\",feature=\"devices\",outcome=\"ok\"} 1",
        "s1bridge_sync_records_total{console=\"lab\",feature=\"devices\"} 40",
        "s1bridge_s1_requests_total{console=\"lab\",endpoint=\"/agents\",status=\"200\"}",
        "s1bridge_s1_rate_limit_wait_seconds_total{console=\"lab\"}",
        "s1bridge_token_days_left{console=\"lab\"}",
        "s1bridge_sync_running{console=\"lab\"} 0",
    ] {
        assert!(text.contains(want), "missing {want}:\n{text}");
    }
}

#[tokio::test]
async fn openapi_document_matches_the_committed_file() {
    let h = sim_small().await;
    let doc = s1bridge_server::openapi::document(&h.state.modules);
    let served = get(&h, "/api/v1/openapi.json").await;
    assert_eq!(served, doc);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "crates/server/openapi.json differs from the API this code serves; if the change is \
         intended, regenerate it with `UPDATE_OPENAPI=1 cargo test -p s1bridge-server --test api openapi` and commit it"
    );
    // The document describes what the CLI prints: the device schema has the --json fields.
    let props =
        &doc["components"]["schemas"]["DevicePage"]["properties"]["items"]["items"]["properties"];
    for field in [
        "agent_id",
        "uuid",
        "computer_name",
        "last_active_at",
        "duplicate_of",
        "stale",
    ] {
        assert!(props.get(field).is_some(), "{field}");
    }
}

#[tokio::test]
async fn stopping_the_service_mid_sync_closes_the_run_and_keeps_pages_and_checkpoints() {
    let tune: s1bridge_server::live::SyncTuner = Arc::new(|o: &mut s1bridge_sync::SyncOptions| {
        o.devices.page_size = 50;
        o.devices.concurrency = 1;
    });
    let h = harness(
        SimConfig {
            agents: 1500,
            findings_per_agent: 0,
            latency_ms: 150,
            sites_per_account: 1,
            ..SimConfig::default()
        },
        Some(tune),
    )
    .await;
    let (status, _, text) = post_sync(&h, Some(r#"{"features": ["devices"]}"#)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    // Let a few pages commit, then stop with no grace.
    for _ in 0..200 {
        let n = h.store.count_devices("lab").await.unwrap().present;
        if n >= 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.state.runner.shutdown(Duration::ZERO).await;
    let runs = h.store.list_runs(Some("lab"), 0).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Abandoned, "{runs:?}");
    let kept = h.store.count_devices("lab").await.unwrap().present;
    assert!((100..1500).contains(&kept), "{kept} devices kept");
    assert!(
        !h.store
            .load_checkpoints("lab", "devices")
            .await
            .unwrap()
            .is_empty(),
        "the checkpoints of the stopped pass are kept"
    );
}

#[tokio::test]
async fn a_console_another_process_is_syncing_is_not_synced_twice() {
    let h = sim_small().await;
    // A CLI `s1bridge sync` of the same console holds the run (fresh heartbeat).
    let foreign = h
        .store
        .begin_run(
            "lab",
            &["devices".to_string()],
            chrono::Utc::now(),
            chrono::Duration::minutes(5),
        )
        .await
        .unwrap();
    let (status, _, text) = post_sync(&h, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let st = wait_finished(&h).await;
    assert_eq!(st["state"], "failed", "{st}");
    assert!(
        st["error"]
            .as_str()
            .is_some_and(|e| e.contains("another sync of console 'lab' is running")),
        "{st}"
    );
    assert_eq!(h.store.list_runs(Some("lab"), 0).await.unwrap().len(), 1);
    let (_, _, metrics) = call(&h.state, "GET", "/metrics", Some(&h.read), None).await;
    assert!(
        metrics
            .contains("s1bridge_sync_skipped_total{console=\"lab\",reason=\"busy_elsewhere\"} 1"),
        "{metrics}"
    );
    // Once the other process is done, the service syncs.
    h.store
        .finish_run(foreign, RunStatus::Ok, chrono::Utc::now())
        .await
        .unwrap();
    let (status, _, _) = post_sync(&h, None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(wait_finished(&h).await["state"], "finished");
}

/// Follow `next_cursor` from `first` (a URI with `limit`) to the end; every item once.
async fn all_pages(h: &Harness, first: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut uri = first.to_string();
    for _ in 0..1000 {
        let page = get(h, &uri).await;
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => uri = format!("{first}&cursor={c}"),
            None => return items,
        }
    }
    panic!("{first}: more than 1000 pages");
}

fn strings(items: &[Value], field: &str) -> Vec<String> {
    items
        .iter()
        .map(|i| i[field].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn access_audit_and_ai_agents_with_filters_and_pages() {
    use s1bridge_store::{AiDetectionFilter, AuditEntry, ScopeType};

    let h = sim_small().await;
    expect_error(
        &h.state,
        "GET",
        "/api/v1/consoles/nope/access/grants",
        Some(&h.read),
        None,
        StatusCode::NOT_FOUND,
        "unknown_console",
    )
    .await;
    // Before an access sync: empty lists, not errors.
    let before = get(&h, "/api/v1/consoles/lab/access/grants").await;
    assert_eq!(before["items"], serde_json::json!([]));
    assert!(before["next_cursor"].is_null());

    let (status, _, text) = post_sync(
        &h,
        Some(r#"{"features": ["devices", "access", "ai-agents"]}"#),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let st = wait_finished(&h).await;
    assert_eq!(st["status"], "ok", "{st}");
    let snap = h.store.load_access("lab").await.unwrap();
    assert!(snap.grants.len() > 3 && snap.principals.len() > 3);

    // Grants, paged with the read key: every grant once, PRODUCT.md field names.
    let grants = all_pages(&h, "/api/v1/consoles/lab/access/grants?limit=2").await;
    assert_eq!(grants.len(), snap.grants.len());
    for field in [
        "principal_id",
        "principal_kind",
        "email",
        "role_id",
        "role_name",
        "scope_type",
        "scope_id",
        "scope_name",
    ] {
        assert!(grants[0].get(field).is_some(), "grant field {field}");
    }
    let mut places: Vec<String> = grants
        .iter()
        .map(|g| {
            format!(
                "{}/{}/{}",
                g["principal_id"], g["scope_type"], g["scope_id"]
            )
        })
        .collect();
    places.dedup();
    assert_eq!(places.len(), grants.len(), "no grant twice");

    // Filters, as the CLI's.
    let site = snap
        .grants
        .iter()
        .find(|g| g.scope_type == ScopeType::Site)
        .expect("a site grant");
    let site_id = site.scope_id.clone().unwrap();
    let on_site = get(
        &h,
        &format!("/api/v1/consoles/lab/access/grants?on=site:{site_id}"),
    )
    .await;
    let on_site = on_site["items"].as_array().unwrap().clone();
    assert!(!on_site.is_empty());
    assert!(on_site.iter().all(|g| g["scope_id"] == site_id.as_str()));
    assert_eq!(
        on_site.len(),
        snap.grants
            .iter()
            .filter(|g| g.scope_id.as_deref() == Some(&site_id))
            .count()
    );
    let role = site.role_name.clone().unwrap();
    let holders = all_pages(
        &h,
        &format!(
            "/api/v1/consoles/lab/access/grants?limit=1&who_has={}",
            role.replace(' ', "%20")
        ),
    )
    .await;
    assert!(!holders.is_empty());
    assert!(strings(&holders, "role_name").iter().all(|r| *r == role));
    let user = snap
        .principals
        .iter()
        .find(|p| p.email.is_some() && !snap.grants_of(&p.principal_id).is_empty())
        .expect("a user with a grant");
    let email = user.email.clone().unwrap().to_uppercase();
    let own = get(
        &h,
        &format!("/api/v1/consoles/lab/access/grants?principal={email}"),
    )
    .await;
    assert_eq!(
        own["items"].as_array().unwrap().len(),
        snap.grants_of(&user.principal_id).len()
    );
    let one = get(
        &h,
        &format!("/api/v1/consoles/lab/access/principals?principal={email}"),
    )
    .await;
    assert_eq!(
        strings(one["items"].as_array().unwrap(), "principal_id"),
        std::slice::from_ref(&user.principal_id)
    );

    // Principals and roles, paged; expiring tokens.
    let principals = all_pages(&h, "/api/v1/consoles/lab/access/principals?limit=3").await;
    assert_eq!(principals.len(), snap.principals.len());
    let expiring = get(
        &h,
        "/api/v1/consoles/lab/access/principals?expiring_days=36500",
    )
    .await;
    let expiring = expiring["items"].as_array().unwrap().clone();
    assert_eq!(
        expiring.len(),
        snap.principals
            .iter()
            .filter(|p| p.api_token_expires_at.is_some())
            .count()
    );
    assert!(
        expiring
            .iter()
            .all(|p| !p["api_token_expires_at"].is_null())
    );
    let roles = all_pages(&h, "/api/v1/consoles/lab/access/roles?limit=2").await;
    assert_eq!(roles.len(), snap.roles.len());

    // Changes: a later snapshot without one principal records its removal.
    let mut later = snap.clone();
    let gone = later.principals.remove(0);
    later.grants.retain(|g| g.principal_id != gone.principal_id);
    later.complete = true;
    let run = h
        .store
        .list_runs(Some("lab"), 1)
        .await
        .unwrap()
        .remove(0)
        .run_id;
    h.store
        .apply_access_snapshot(
            "lab",
            run,
            chrono::Utc::now(),
            &later,
            chrono::Duration::zero(),
        )
        .await
        .unwrap();
    let changes = all_pages(&h, "/api/v1/consoles/lab/access/changes?limit=1").await;
    assert!(
        changes
            .iter()
            .any(|c| c["kind"] == "principal_removed"
                && c["principal_id"] == gone.principal_id.as_str()),
        "{changes:?}"
    );
    let none = get(&h, "/api/v1/consoles/lab/access/changes?since=2999-01-01").await;
    assert_eq!(none["items"], serde_json::json!([]));
    let since = get(&h, "/api/v1/consoles/lab/access/changes?since=2000-01-01").await;
    assert_eq!(since["items"].as_array().unwrap().len(), changes.len());
    expect_error(
        &h.state,
        "GET",
        "/api/v1/consoles/lab/access/changes?since=yesterday",
        Some(&h.read),
        None,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
    )
    .await;

    // Audit: newest first, paged, filtered by action family and date.
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-02-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    for (i, action) in ["access.grant", "access.revoke", "devices.tag"]
        .iter()
        .enumerate()
    {
        h.store
            .record_audit(&AuditEntry {
                id: 0,
                console: "lab".into(),
                at: t0 + chrono::Duration::days(i as i64),
                actor: "ann@host".into(),
                action: action.to_string(),
                target: format!("target {i}"),
                dry_run: false,
                request: serde_json::json!({"method": "PUT"}),
                before: Value::Null,
                after: Value::Null,
                result: "ok".into(),
                run_id: None,
            })
            .await
            .unwrap();
    }
    let audit = all_pages(&h, "/api/v1/consoles/lab/audit?limit=2").await;
    assert_eq!(
        strings(&audit, "action"),
        ["devices.tag", "access.revoke", "access.grant"]
    );
    let family = get(&h, "/api/v1/consoles/lab/audit?action=access").await;
    assert_eq!(
        strings(family["items"].as_array().unwrap(), "action"),
        ["access.revoke", "access.grant"]
    );
    let recent = get(&h, "/api/v1/consoles/lab/audit?since=2026-02-02").await;
    assert_eq!(recent["items"].as_array().unwrap().len(), 2);

    // AI agents: every detection once, filters by agent, device and user.
    let stored = h
        .store
        .list_ai_detections(&AiDetectionFilter {
            console: Some("lab".into()),
            ..AiDetectionFilter::default()
        })
        .await
        .unwrap();
    let runs = get(&h, "/api/v1/runs?console=lab").await;
    assert!(stored.len() > 2, "the simulator plants AI agents: {runs}");
    let found = all_pages(&h, "/api/v1/consoles/lab/ai-agents?limit=2").await;
    assert_eq!(found.len(), stored.len());
    for field in [
        "agent_name",
        "computer_name",
        "user",
        "version",
        "first_seen_at",
        "last_seen_at",
        "event_count",
        "evidence",
    ] {
        assert!(found[0].get(field).is_some(), "detection field {field}");
    }
    let d = &stored[0];
    let q = |field: &str, v: &str| {
        format!(
            "/api/v1/consoles/lab/ai-agents?{field}={}",
            v.replace('\\', "%5C").replace(' ', "%20")
        )
    };
    let by_agent = get(&h, &q("agent", &d.agent_name)).await;
    let by_agent = by_agent["items"].as_array().unwrap().clone();
    assert_eq!(
        by_agent.len(),
        stored
            .iter()
            .filter(|x| x.agent_name == d.agent_name)
            .count()
    );
    assert!(
        strings(&by_agent, "agent_name")
            .iter()
            .all(|a| *a == d.agent_name)
    );
    let by_device = get(&h, &q("device", &d.computer_name)).await;
    assert!(
        strings(by_device["items"].as_array().unwrap(), "computer_name")
            .iter()
            .all(|c| *c == d.computer_name)
    );
    assert!(!by_device["items"].as_array().unwrap().is_empty());
    let by_user = get(&h, &q("user", &d.user)).await;
    let by_user = by_user["items"].as_array().unwrap().clone();
    assert!(!by_user.is_empty());
    assert!(strings(&by_user, "user").iter().all(|u| *u == d.user));
    expect_error(
        &h.state,
        "GET",
        "/api/v1/consoles/lab/ai-agents?cursor=bogus",
        Some(&h.read),
        None,
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
    )
    .await;

    // The dashboard pages show them, with the overview counts.
    let html = |uri: &'static str| {
        let h = &h;
        async move {
            let req = Request::get(uri)
                .header(header::COOKIE, format!("s1bridge_key={}", h.read))
                .body(Body::empty())
                .unwrap();
            let resp = app(h.state.clone()).oneshot(req).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{uri}");
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap();
            String::from_utf8_lossy(&body).to_string()
        }
    };
    let page = html("/ui/access").await;
    assert!(page.contains("id=\"grants\""), "{page}");
    assert!(page.contains(&ui_esc(site.scope_name.as_deref().unwrap_or(&site_id))));
    assert!(page.contains("principal_removed"));
    assert!(page.contains("devices.tag"));
    let page = html("/ui/ai-agents").await;
    assert!(page.contains(&ui_esc(&d.display_name)), "{page}");
    assert!(page.contains(&ui_esc(&d.computer_name)));
    let page = html("/ui").await;
    assert!(page.contains("Grants") && page.contains("Devices with AI agents"));
}

fn ui_esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[tokio::test]
async fn indicators_with_filters_pages_and_the_page() {
    use s1bridge_store::{IndicatorState, IndicatorUpsert};

    let h = sim_small().await;
    // Before any push or backfill: an empty list.
    let empty = get(&h, "/api/v1/indicators").await;
    assert_eq!(empty["items"], serde_json::json!([]));
    let rec = |target: &str, id: &str, kind: &str, value: &str, ours: bool| IndicatorUpsert {
        target: target.into(),
        object_id: id.into(),
        kind: kind.into(),
        value: value.into(),
        os_type: (target == "blocklist").then(|| "windows".to_string()),
        direction: None,
        description: None,
        ours,
        expires_at: None,
        state: Some(if ours {
            IndicatorState::Created
        } else {
            IndicatorState::Imported
        }),
    };
    let sha = "a".repeat(40);
    h.store
        .upsert_indicators(
            "lab",
            &[
                rec("blocklist", "1", "sha1", &sha, true),
                rec("firewall", "2", "ipv4", "203.0.113.7", true),
                rec("firewall", "3", "domain", "bad.example", false),
                rec("firewall", "3", "domain", "worse.example", false),
                rec("ti", "u1", "domain", "bad.example", false),
            ],
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let all = all_pages(&h, "/api/v1/indicators?limit=2").await;
    assert_eq!(all.len(), 5);
    assert_eq!(all[0]["value"], sha.as_str());
    assert_eq!(all[0]["type"], "sha1");
    assert_eq!(all[0]["ours"], true);
    let foreign = all_pages(&h, "/api/v1/indicators?console=lab&ours=false").await;
    assert_eq!(
        strings(&foreign, "value"),
        ["bad.example", "worse.example", "bad.example"]
    );
    let fw = all_pages(&h, "/api/v1/indicators?target=firewall&type=domain").await;
    assert_eq!(fw.len(), 2);
    let v = all_pages(&h, "/api/v1/indicators?value=bad.example&state=imported").await;
    assert_eq!(v.len(), 2);
    for bad in [
        "/api/v1/indicators?target=router",
        "/api/v1/indicators?type=ssdeep",
        "/api/v1/indicators?state=lost",
        "/api/v1/indicators?ours=maybe",
    ] {
        expect_error(
            &h.state,
            "GET",
            bad,
            Some(&h.read),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
        )
        .await;
    }
    expect_error(
        &h.state,
        "GET",
        "/api/v1/indicators?cursor=bogus",
        Some(&h.read),
        None,
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
    )
    .await;
    expect_error(
        &h.state,
        "GET",
        "/api/v1/indicators?console=nope",
        Some(&h.read),
        None,
        StatusCode::NOT_FOUND,
        "unknown_console",
    )
    .await;
    expect_error(
        &h.state,
        "GET",
        "/api/v1/indicators",
        None,
        None,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    let html = |uri: &'static str| {
        let h = &h;
        async move {
            let req = Request::builder()
                .uri(uri)
                .header(header::COOKIE, format!("s1bridge_key={}", h.read))
                .body(Body::empty())
                .unwrap();
            let resp = app(h.state.clone()).oneshot(req).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{uri}");
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap();
            String::from_utf8_lossy(&body).to_string()
        }
    };
    let page = html("/ui/indicators?owner=foreign").await;
    assert!(page.contains("id=\"indicators\""), "{page}");
    assert!(page.contains("worse.example"), "{page}");
    assert!(!page.contains("203.0.113.7"), "{page}");
    let page = html("/ui").await;
    assert!(page.contains("Indicators (ours)"), "{page}");
}

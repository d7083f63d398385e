//! The client against a small in-test console (plain http on 127.0.0.1).
#![cfg(feature = "client")]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use s1bridge_api::features::Capability;
use s1bridge_api::limits::{Limit, LimitTable};
use s1bridge_api::wire::{Agent, Envelope, Site};
use s1bridge_api::{
    ApiError, ApiToken, Client, ClientOptions, ConsoleUrl, Page, ProbeResult, RetryPolicy,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "tok_Sup3rS3cret.value-XYZ";

fn sample(name: &str) -> String {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/s1-samples")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

async fn serve(app: Router) -> ConsoleUrl {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    ConsoleUrl::parse(&format!("http://{addr}")).unwrap().0
}

fn fast_retry(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_retry_after: Duration::from_secs(10),
    }
}

fn options(url: ConsoleUrl, retries: u32) -> ClientOptions {
    let mut o = ClientOptions::new(url, ApiToken::new(TOKEN).unwrap());
    o.retry = fast_retry(retries);
    o
}

fn client(url: ConsoleUrl, retries: u32) -> Client {
    Client::new(options(url, retries)).unwrap()
}

fn respond(status: u16, body: impl Into<String>) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [(header::CONTENT_TYPE, "application/json")],
        body.into(),
    )
        .into_response()
}

fn assert_no_token(e: &ApiError) {
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(TOKEN), "token leaked: {shown}");
    assert!(!shown.contains("Sup3rS3cret"), "token leaked: {shown}");
}

#[derive(Default)]
struct Seen {
    auth: Vec<String>,
    accept: Vec<String>,
    queries: Vec<HashMap<String, String>>,
}

#[tokio::test]
async fn paginates_until_each_end_marker_and_caps_limits() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    let agents = move |headers: HeaderMap, Query(q): Query<HashMap<String, String>>| {
        let s = s.clone();
        async move {
            {
                let mut s = s.lock().unwrap();
                s.auth
                    .push(headers[header::AUTHORIZATION].to_str().unwrap().to_string());
                s.accept
                    .push(headers[header::ACCEPT].to_str().unwrap().to_string());
                s.queries.push(q.clone());
            }
            let body = match q.get("cursor").map(String::as_str) {
                None => json!({"data":[{"id":"1","computerName":"a"},{"id":"2"}],
                               "pagination":{"nextCursor":"c1","totalItems":0}}),
                Some("c1") => json!({"data":[{"id":"3","firewallEnabled":"True"}],
                                     "pagination":{"nextCursor":"c2","totalItems":1}}),
                Some("c2") => json!({"data":[{"id":"4"}],
                                     "pagination":{"nextCursor":"","totalItems":999}}),
                Some(other) => panic!("unexpected cursor {other}"),
            };
            respond(200, body.to_string())
        }
    };
    let threats = |Query(q): Query<HashMap<String, String>>| async move {
        let body = match q.get("cursor").map(String::as_str) {
            None => json!({"data":[{"id":"t1"}],"pagination":{"nextCursor":"x","totalItems":1}}),
            _ => json!({"data":[{"id":"t2"}],"pagination":{"nextCursor":"null","totalItems":1}}),
        };
        respond(200, body.to_string())
    };
    let s2 = seen.clone();
    let groups = move |Query(q): Query<HashMap<String, String>>| {
        let s2 = s2.clone();
        async move {
            s2.lock().unwrap().queries.push(q);
            respond(
                200,
                r#"{"data":[{"id":"g1"}],"pagination":{"nextCursor":null}}"#,
            )
        }
    };
    let app = Router::new()
        .route("/web/api/v2.1/agents", get(agents))
        .route("/web/api/v2.1/threats", get(threats))
        .route("/web/api/v2.1/groups", get(groups))
        // No `pagination` at all: a single, last page.
        .route(
            "/web/api/v2.1/activities",
            get(|| async { respond(200, r#"{"data":[{"id":"a1"},{"id":"a2"}]}"#) }),
        )
        .route(
            "/web/api/v2.1/sites",
            get(|| async { respond(200, sample("sites-list.swimlane.json")) }),
        );
    let c = client(serve(app).await, 0);

    let pages: Vec<Page<Agent>> = c
        .pages::<Agent>("/agents", vec![("siteIds".into(), "42".into())], 5000, None)
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(pages.len(), 3);
    let ids: Vec<&str> = pages
        .iter()
        .flat_map(|p| p.items.iter().map(|a| a.id.as_str()))
        .collect();
    assert_eq!(ids, ["1", "2", "3", "4"]);
    assert_eq!(pages[1].items[0].firewall_enabled, Some(true));
    assert_eq!(pages[0].cursor, None);
    assert_eq!(pages[0].next_cursor.as_deref(), Some("c1"));
    assert_eq!(pages[2].cursor.as_deref(), Some("c2"));
    assert_eq!(pages[2].next_cursor, None);
    {
        let s = seen.lock().unwrap();
        assert_eq!(s.auth.len(), 3);
        assert!(
            s.auth.iter().all(|a| a == &format!("ApiToken {TOKEN}")),
            "{:?}",
            s.auth
        );
        assert!(s.accept.iter().all(|a| a == "application/json"));
        assert!(
            s.queries
                .iter()
                .all(|q| q["limit"] == "1000" && q["siteIds"] == "42")
        );
    }

    let threats: Vec<_> = c
        .pages::<Value>("/threats", vec![], 10, None)
        .collect::<Vec<_>>()
        .await;
    assert_eq!(threats.len(), 2);
    assert_eq!(threats[1].as_ref().unwrap().next_cursor, None);

    let g: Page<Value> = c
        .get_page("/groups", &[("limit", "7".into())], 1000, None)
        .await
        .unwrap();
    assert_eq!(g.items.len(), 1);
    assert_eq!(seen.lock().unwrap().queries.last().unwrap()["limit"], "300");

    let a: Vec<_> = c
        .pages::<Value>("/activities", vec![], 100, None)
        .collect::<Vec<_>>()
        .await;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].as_ref().unwrap().items.len(), 2);

    let sites: Page<Site> = c.get_page("/sites", &[], 100, None).await.unwrap();
    assert_eq!(sites.items[0].id, "1286405255257023125");
    assert_eq!(sites.next_cursor, None);

    // Resuming from a checkpointed cursor.
    let rest: Vec<_> = c
        .pages::<Agent>("/agents", vec![], 100, Some("c2".into()))
        .collect::<Vec<_>>()
        .await;
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].as_ref().unwrap().items[0].id, "4");
}

#[tokio::test]
async fn repeated_cursor_is_a_cursor_loop_not_an_endless_loop() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = Router::new().route(
        "/web/api/v2.1/agents",
        get(move |Query(q): Query<HashMap<String, String>>| {
            let h = h.clone();
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                let next = if q.contains_key("cursor") { "B" } else { "A" };
                // A → B → A again.
                let next = if q.get("cursor").map(String::as_str) == Some("B") {
                    "A"
                } else {
                    next
                };
                respond(
                    200,
                    json!({"data":[{"id":"x"}],"pagination":{"nextCursor":next}}).to_string(),
                )
            }
        }),
    );
    let c = client(serve(app).await, 0);
    let items: Vec<_> = c
        .pages::<Agent>("/agents", vec![], 10, None)
        .collect::<Vec<_>>()
        .await;
    assert_eq!(items.len(), 4, "{items:?}");
    assert!(items[..3].iter().all(Result::is_ok));
    match &items[3] {
        Err(ApiError::CursorLoop { path, cursor }) => {
            assert_eq!(path, "/agents");
            assert_eq!(cursor, "A");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert!(
        items[3]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("endless loop")
    );
}

#[tokio::test]
async fn unauthorized_explains_and_never_shows_the_token() {
    let app = Router::new()
        .route(
            "/web/api/v2.1/agents",
            get(|| async { respond(401, sample("error-401-authentication-failed.json")) }),
        )
        .route(
            "/web/api/v2.1/user",
            get(|| async {
                respond(
                    401,
                    json!({"errors":[{"code":4010010,"title":"Authentication Failed",
                                      "detail":format!("token {TOKEN} is expired")}]})
                    .to_string(),
                )
            }),
        );
    let c = client(serve(app).await, 3);
    let e = c
        .get::<Vec<Agent>>("/agents", &[("limit", "1".into())])
        .await
        .unwrap_err();
    assert!(
        matches!(
            &e,
            ApiError::Unauthorized {
                code: Some(4010010),
                ..
            }
        ),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains("4010010 Authentication Failed"), "{msg}");
    assert!(msg.contains("wrong, expired or revoked"), "{msg}");
    assert!(msg.contains("Settings → Users → Service Users"), "{msg}");
    assert!(msg.contains("the console the token was issued by"), "{msg}");
    assert_eq!(e.status(), Some(401));
    assert!(e.is_auth() && !e.is_transient());
    assert_no_token(&e);
    // 401 is not retried.
    assert_eq!(c.stats().requests, 1);
    assert_eq!(c.stats().retries, 0);

    // A console echoing the token in its error: scrubbed.
    let e = c.current_user().await.unwrap_err();
    assert_no_token(&e);
    assert!(e.to_string().contains("<redacted>"), "{e}");
}

#[tokio::test]
async fn forbidden_names_the_permission_and_licence_is_told_apart() {
    let app = Router::new()
        .route(
            "/web/api/v2.1/agents",
            get(|| async { respond(403, sample("error-403-insufficient-permissions-2.json")) }),
        )
        .route(
            "/web/api/v2.1/firewall-control",
            get(|| async {
                respond(
                    403,
                    r#"{"errors":[{"code":4030010,"detail":"Feature is not licensed for this site","title":"Insufficient permissions"}]}"#,
                )
            }),
        );
    let c = client(serve(app).await, 3);
    let e = c.get::<Vec<Agent>>("/agents", &[]).await.unwrap_err();
    match &e {
        ApiError::Forbidden {
            capability, code, ..
        } => {
            assert_eq!(*capability, Some(Capability::Devices));
            assert_eq!(*code, Some(4030010));
        }
        other => panic!("{other:?}"),
    }
    let msg = e.to_string();
    assert!(msg.contains(Capability::Devices.permission_hint()), "{msg}");
    assert!(
        msg.contains("User does not have required permissions"),
        "{msg}"
    );
    assert!(
        msg.contains("Site-scoped token sees only its own site"),
        "{msg}"
    );
    assert_no_token(&e);

    let e = c.get::<Value>("/firewall-control", &[]).await.unwrap_err();
    assert!(
        matches!(
            &e,
            ApiError::NotLicensed {
                capability: Some(Capability::FirewallControl),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("not licensed"), "{e}");
    assert_eq!(c.stats().requests, 2);
}

#[tokio::test]
async fn validation_lists_every_error() {
    let app = Router::new().route(
        "/web/api/v2.1/remote-scripts/execute",
        post(|| async { respond(400, sample("error-400-validation-multiple.json")) }),
    );
    let c = client(serve(app).await, 3);
    let e = c
        .post::<_, Value>("/remote-scripts/execute", &[], &json!({"data":{}}))
        .await
        .unwrap_err();
    match &e {
        ApiError::Validation { status, errors, .. } => {
            assert_eq!(*status, 400);
            assert_eq!(errors.len(), 3);
        }
        other => panic!("{other:?}"),
    }
    let msg = e.to_string();
    for part in [
        "3 errors",
        "(1) 4000010 Validation Error: 2FA must be enabled for this User to use Remote Shell",
        "(2) 4000010 Validation Error: Only authorized user can open a Remote Shell",
        "(3) 4000010 Validation Error: Remote Shell can only be opened on a single Endpoint at a time.",
    ] {
        assert!(msg.contains(part), "{part:?} missing from {msg}");
    }
    assert_eq!(c.stats().requests, 1);
}

/// Answers `fail` with the response from `first` for the first `n` calls, then 200 `ok`.
fn flaky(
    n: usize,
    first: impl Fn() -> Response + Clone + Send + Sync + 'static,
    ok: &'static str,
) -> (Router, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = Router::new().route(
        "/web/api/v2.1/system/info",
        get(move || {
            let h = h.clone();
            let first = first.clone();
            async move {
                if h.fetch_add(1, Ordering::SeqCst) < n {
                    first()
                } else {
                    respond(200, ok)
                }
            }
        }),
    );
    (app, hits)
}

const INFO: &str = r#"{"data":{"version":"23.4.1","build":"7","latestAgentVersion":"23.4.2.14"}}"#;

#[tokio::test]
async fn rate_limited_with_retry_after_seconds_then_success() {
    let (app, hits) = flaky(
        1,
        || {
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "1")],
                "",
            )
                .into_response()
        },
        INFO,
    );
    let c = client(serve(app).await, 3);
    let t = Instant::now();
    let info = c.system_info().await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(950),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(info.version.as_deref(), Some("23.4.1"));
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    let st = c.stats();
    assert_eq!((st.requests, st.retries, st.rate_limited), (2, 1, 1));
    assert_eq!(st.by_status.get(&429), Some(&1));
    assert_eq!(st.by_status.get(&200), Some(&1));
}

#[tokio::test]
async fn rate_limited_with_retry_after_http_date() {
    let (app, hits) = flaky(
        1,
        || {
            let when = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, when)],
                "",
            )
                .into_response()
        },
        INFO,
    );
    let c = client(serve(app).await, 3);
    let t = Instant::now();
    c.system_info().await.unwrap();
    // now + 2 s truncated to whole seconds is at least 1 s away.
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert_eq!(c.stats().rate_limited, 1);
}

#[tokio::test]
async fn rate_limited_too_long_or_too_often_fails() {
    let (app, hits) = flaky(
        100,
        || {
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, "3600")],
                "",
            )
                .into_response()
        },
        INFO,
    );
    let c = client(serve(app).await, 3);
    let e = c.system_info().await.unwrap_err();
    match &e {
        ApiError::RateLimited {
            attempts,
            retry_after,
            ..
        } => {
            assert_eq!(*attempts, 1);
            assert_eq!(*retry_after, Some(Duration::from_secs(3600)));
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("3600 s"), "{e}");
    assert!(e.is_transient());
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    let (app, hits) = flaky(100, || respond(429, "{}"), INFO);
    let c = client(serve(app).await, 2);
    let e = c.system_info().await.unwrap_err();
    assert!(
        matches!(
            e,
            ApiError::RateLimited {
                attempts: 3,
                retry_after: None,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert_eq!(c.stats().rate_limited, 3);
}

#[tokio::test]
async fn server_errors_are_retried_then_reported() {
    let (app, hits) = flaky(2, || respond(500, sample("error-500-internal.json")), INFO);
    let c = client(serve(app).await, 3);
    c.system_info().await.unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert_eq!(c.stats().retries, 2);
    assert_eq!(c.stats().by_status.get(&500), Some(&2));

    let (app, hits) = flaky(
        100,
        || respond(500, sample("error-500-internal.json")),
        INFO,
    );
    let c = client(serve(app).await, 3);
    let e = c.system_info().await.unwrap_err();
    match &e {
        ApiError::Server {
            status,
            attempts,
            errors,
            ..
        } => {
            assert_eq!((*status, *attempts), (500, 4));
            assert_eq!(errors[0].code, Some(5000010));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        e.to_string().contains("5000010 Internal server error"),
        "{e}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 4);

    // An HTML 502 from a proxy: status and a scrubbed excerpt.
    let (app, _) = flaky(
        100,
        || {
            (
                StatusCode::BAD_GATEWAY,
                format!("<html><body>Bad gateway for {TOKEN}</body></html>"),
            )
                .into_response()
        },
        INFO,
    );
    let c = client(serve(app).await, 1);
    let e = c.system_info().await.unwrap_err();
    assert!(
        matches!(
            e,
            ApiError::Server {
                status: 502,
                attempts: 2,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("Bad gateway for <redacted>"), "{e}");
    assert_no_token(&e);
}

#[tokio::test]
async fn truncated_json_is_retried_then_a_decode_error() {
    let (app, hits) = flaky(2, || respond(200, r#"{"data":{"version":"23"#), INFO);
    let c = client(serve(app).await, 3);
    assert_eq!(c.system_info().await.unwrap().build.as_deref(), Some("7"));
    assert_eq!(hits.load(Ordering::SeqCst), 3);

    let (app, hits) = flaky(100, || respond(200, r#"{"data":{"version":"23"#), INFO);
    let c = client(serve(app).await, 2);
    let e = c.system_info().await.unwrap_err();
    match &e {
        ApiError::Decode { path, reason } => {
            assert_eq!(path, "/system/info");
            assert!(reason.contains("line 1 column"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(hits.load(Ordering::SeqCst), 3);

    // An empty 2xx is not retried: fine where no data is expected, a Decode error otherwise.
    let (app, hits) = flaky(100, || StatusCode::NO_CONTENT.into_response(), INFO);
    let c = client(serve(app).await, 3);
    let env = c.get::<Option<Value>>("/system/info", &[]).await.unwrap();
    assert_eq!(env.data, None);
    let e = c.system_info().await.unwrap_err();
    assert!(matches!(e, ApiError::Decode { .. }), "{e:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    // Well-formed JSON of the wrong shape is not retried.
    let (app, hits) = flaky(100, || respond(200, r#"{"data":"not a list"}"#), INFO);
    let c = client(serve(app).await, 3);
    let e = c.get::<Vec<Agent>>("/system/info", &[]).await.unwrap_err();
    assert!(matches!(e, ApiError::Decode { .. }), "{e:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

/// A raw HTTP server whose first `drops` connections send half a body and hang up.
async fn dropping_server(drops: usize) -> (ConsoleUrl, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let n = conns.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let i = n.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => got.extend_from_slice(&buf[..k]),
                    }
                }
                if i < drops {
                    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n";
                    let _ = sock.write_all(head.as_bytes()).await;
                    let _ = sock.write_all(br#"{"data":{"vers"#).await;
                    let _ = sock.flush().await;
                    // Dropping the socket closes the connection mid-body.
                } else {
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{INFO}",
                        INFO.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                    let _ = sock.shutdown().await;
                }
            });
        }
    });
    (
        ConsoleUrl::parse(&format!("http://{addr}")).unwrap().0,
        conns,
    )
}

#[tokio::test]
async fn connection_dropped_mid_body_is_retried_then_a_transport_error() {
    let (url, conns) = dropping_server(2).await;
    let c = client(url, 3);
    assert_eq!(
        c.system_info().await.unwrap().version.as_deref(),
        Some("23.4.1")
    );
    assert_eq!(conns.load(Ordering::SeqCst), 3);
    assert_eq!(c.stats().transport_errors, 2);

    let (url, conns) = dropping_server(100).await;
    let c = client(url, 2);
    let e = c.system_info().await.unwrap_err();
    match &e {
        ApiError::Transport {
            path,
            attempts,
            reason,
        } => {
            assert_eq!(path, "/system/info");
            assert_eq!(*attempts, 3);
            assert!(!reason.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert!(e.is_transient());
    assert_eq!(conns.load(Ordering::SeqCst), 3);
    assert_no_token(&e);
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_transport_errors() {
    let app = Router::new().route(
        "/web/api/v2.1/system/info",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            respond(200, INFO)
        }),
    );
    let mut o = options(serve(app).await, 1);
    o.timeout = Duration::from_millis(200);
    let c = Client::new(o).unwrap();
    let e = c.system_info().await.unwrap_err();
    assert!(
        matches!(&e, ApiError::Transport { attempts: 2, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("timed out"), "{e}");

    // Nothing listens there any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let c = client(ConsoleUrl::parse(&format!("http://{addr}")).unwrap().0, 1);
    let e = c.system_info().await.unwrap_err();
    assert!(
        matches!(&e, ApiError::Transport { attempts: 2, .. }),
        "{e:?}"
    );
    assert_eq!(c.stats().transport_errors, 2);
}

#[tokio::test]
async fn limiter_paces_requests_across_clones() {
    let app = Router::new().route(
        "/web/api/v2.1/agents",
        get(|| async { respond(200, r#"{"data":[],"pagination":{"nextCursor":null}}"#) }),
    );
    let mut o = options(serve(app).await, 0);
    let mut limits = LimitTable::published();
    limits.set("/agents", Limit::new(10.0, 1));
    o.limits = limits;
    let c = Client::new(o).unwrap();
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            c.get::<Vec<Agent>>("/agents", &[])
                .await
                .map(|e| e.data.len())
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 0);
    }
    // One at once, then one every 100 ms.
    assert!(
        t.elapsed() >= Duration::from_millis(480),
        "{:?}",
        t.elapsed()
    );
    let st = c.stats();
    assert_eq!(st.requests, 6);
    assert!(st.throttle_wait_ms >= 900, "{st:?}"); // 100+200+…+500 ms in total
}

#[tokio::test]
async fn identity_calls_and_token_details_body() {
    let body_seen = Arc::new(Mutex::new(None::<(Value, String)>));
    let b = body_seen.clone();
    let app = Router::new()
        .route("/web/api/v2.1/system/info", get(|| async { respond(200, INFO) }))
        .route(
            "/web/api/v2.1/user",
            get(|| async {
                respond(
                    200,
                    r#"{"data":{"id":"225494730938493804","email":"svc@example.com","scope":"site",
                        "scopeRoles":[{"id":"1","roleName":"Viewer","roles":["Viewer"]}],
                        "apiToken":{"createdAt":"2025-01-30T10:12:09Z","expiresAt":"2025-03-01T10:12:08Z"}}}"#,
                )
            }),
        )
        .route(
            "/web/api/v2.1/users/api-token-details",
            post(move |headers: HeaderMap, body: String| {
                let b = b.clone();
                async move {
                    let ct = headers[header::CONTENT_TYPE].to_str().unwrap().to_string();
                    *b.lock().unwrap() = Some((serde_json::from_str(&body).unwrap(), ct));
                    respond(200, r#"{"data":{"createdAt":"2025-01-30T10:12:09Z","expiresAt":"2025-03-01T10:12:08Z"}}"#)
                }
            }),
        );
    let c = client(serve(app).await, 0);
    assert_eq!(
        c.system_info()
            .await
            .unwrap()
            .latest_agent_version
            .as_deref(),
        Some("23.4.2.14")
    );
    let u = c.current_user().await.unwrap();
    assert_eq!(u.id, "225494730938493804");
    assert_eq!(u.scope_roles[0].role_name.as_deref(), Some("Viewer"));
    let d = c.token_details().await.unwrap();
    assert_eq!(d.expires_at.as_deref(), Some("2025-03-01T10:12:08Z"));
    let (body, ct) = body_seen.lock().unwrap().clone().unwrap();
    assert_eq!(body, json!({"data":{"apiToken": TOKEN}}));
    assert_eq!(ct, "application/json");
}

#[tokio::test]
async fn probes_classify_answers() {
    let app = Router::new()
        .route(
            "/web/api/v2.1/agents",
            get(|| async { respond(200, r#"{"data":[],"pagination":{"nextCursor":null,"totalItems":0}}"#) }),
        )
        .route(
            "/web/api/v2.1/users",
            get(|| async { respond(403, sample("error-403-insufficient-permissions.json")) }),
        )
        .route(
            "/web/api/v2.1/dv/query-status",
            get(|| async { respond(400, r#"{"errors":[{"code":4000010,"title":"Validation Error","detail":"Query not found"}]}"#) }),
        )
        .route(
            "/web/api/v2.1/restrictions",
            get(|| async { respond(401, sample("error-401-authentication-failed.json")) }),
        )
        .route(
            "/web/api/v2.1/firewall-control",
            get(|| async { respond(403, r#"{"errors":[{"code":4030010,"title":"Not licensed","detail":null}]}"#) }),
        )
        .route(
            "/web/api/v2.1/threat-intelligence/iocs",
            get(|| async { respond(500, sample("error-500-internal.json")) }),
        );
    // /application-management/risks is absent: 404.
    let c = client(serve(app).await, 0);
    assert_eq!(c.probe(Capability::Devices).await, ProbeResult::Available);
    assert_eq!(
        c.probe(Capability::DeepVisibility).await,
        ProbeResult::Available
    );
    match c.probe(Capability::Access).await {
        ProbeResult::MissingPermission { reason } => {
            assert!(
                reason.contains(Capability::Access.permission_hint()),
                "{reason}"
            );
            assert!(
                reason.contains("Action limited to global admins."),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    match c.probe(Capability::Vulnerabilities).await {
        ProbeResult::NotLicensed { reason } => {
            assert_eq!(
                reason,
                "this console does not offer /application-management/risks"
            );
        }
        other => panic!("{other:?}"),
    }
    let r = c.probe(Capability::Blocklist).await;
    assert_eq!(r.as_str(), "unknown");
    assert!(r.reason().unwrap().contains("authentication failed"), "{r}");
    assert_eq!(
        c.probe(Capability::FirewallControl).await.as_str(),
        "not licensed"
    );
    assert_eq!(
        c.probe(Capability::ThreatIntelligence).await.as_str(),
        "unknown"
    );
}

#[tokio::test]
async fn envelopes_tolerate_errors_on_success_and_https_client_builds() {
    let app = Router::new()
        .route(
            "/web/api/v2.1/restrictions",
            get(|uri: axum::http::Uri| async move {
                let q = uri.query().unwrap_or_default().to_string();
                assert!(q.is_empty() || q == "ids=1&limit=1", "{q}");
                respond(200, r#"{"data":{"affected":"2"},"errors":[{}]}"#)
            }),
        )
        .route(
            "/web/api/v2.1/login-redirect",
            get(|| async {
                (
                    StatusCode::FOUND,
                    [(header::LOCATION, "https://sso.example/login?next=/x")],
                    "",
                )
                    .into_response()
            }),
        );
    let c = client(serve(app).await, 0);
    let env: Envelope<s1bridge_api::wire::Affected> = c.get("/restrictions", &[]).await.unwrap();
    assert_eq!(env.data.affected, Some(2));
    // A query string given in the path is kept, alongside the query parameters.
    let env: Envelope<s1bridge_api::wire::Affected> = c
        .get("/web/api/v2.1/restrictions?ids=1", &[("limit", "1".into())])
        .await
        .unwrap();
    assert_eq!(env.data.affected, Some(2));
    let e = c.get::<Value>("/login-redirect", &[]).await.unwrap_err();
    assert!(
        matches!(&e, ApiError::Unexpected { status: 302, .. }),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("redirected to https://sso.example/login"),
        "{e}"
    );
    assert!(!e.to_string().contains("next="), "{e}");
    let (u, _) = ConsoleUrl::parse("https://example.invalid").unwrap();
    let https = Client::new(ClientOptions::new(u, ApiToken::new(TOKEN).unwrap())).unwrap();
    assert_eq!(https.url().as_str(), "https://example.invalid");
    assert!(!format!("{https:?}").contains(TOKEN));
}

//! The dashboard: server-rendered HTML, the stylesheet embedded in the binary (no CDN, works
//! air-gapped), no JavaScript. The API key is asked for once (login form) and kept in an
//! HttpOnly, SameSite=Strict cookie; without a valid key no page shows data.

use std::fmt::Write;

use axum::Router;
use axum::extract::{Form, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::AppState;
use crate::auth::{COOKIE, Principal, authenticate, cookie};
use crate::error::ApiError;
use crate::runner::SyncPhase;

mod overview;
mod runs;

const STYLE: &str = include_str!("../../assets/style.css");

/// HTML-escape text.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encode a query value.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn when(t: DateTime<Utc>) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        t.to_rfc3339(),
        t.format("%Y-%m-%d %H:%M UTC")
    )
}

pub fn badge(text: &str, class: &str) -> String {
    format!("<span class=\"badge {}\">{}</span>", esc(class), esc(text))
}

/// A table; cells are HTML already.
pub fn table(id: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = format!("<table id=\"{}\"><thead><tr>", esc(id));
    for h in headers {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr></thead><tbody>");
    if rows.is_empty() {
        let _ = write!(
            s,
            "<tr><td colspan=\"{}\" class=\"muted\">Nothing here.</td></tr>",
            headers.len()
        );
    }
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            let _ = write!(s, "<td>{c}</td>");
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

fn query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&amp;")
}

/// Links that set one query parameter, keeping `keep`.
pub fn filter_bar(
    base: &str,
    param: &str,
    options: &[(&str, &str)],
    current: &str,
    keep: &[(&str, &str)],
) -> String {
    let mut s = String::from("<div class=\"filters\">");
    for (value, label) in options {
        let mut pairs = keep.to_vec();
        pairs.push((param, value));
        let _ = write!(
            s,
            "<a href=\"{base}?{}\" id=\"filter-{}\"{}>{}</a>",
            query(&pairs),
            if value.is_empty() { "all" } else { value },
            if current == *value {
                " class=\"active\""
            } else {
                ""
            },
            esc(label)
        );
    }
    s.push_str("</div>");
    s
}

/// "Next page" link when there is a next page.
pub fn next_link(base: &str, keep: &[(&str, &str)], cursor: Option<&str>) -> String {
    match cursor {
        Some(c) => {
            let mut pairs = keep.to_vec();
            pairs.push(("cursor", c));
            format!(
                "<p><a id=\"next-page\" href=\"{base}?{}\">Next page →</a></p>",
                query(&pairs)
            )
        }
        None => String::new(),
    }
}

/// The page frame: navigation (core pages, then each feature module's), title, body.
pub fn layout(state: &AppState, title: &str, active: &str, body: &str) -> Html<String> {
    let mut nav = vec![("/ui", "Overview")];
    nav.extend(state.modules.iter().filter_map(|m| m.nav()));
    nav.push(("/ui/runs", "Sync history"));
    let mut links = String::new();
    for (href, label) in nav {
        let _ = write!(
            links,
            "<a href=\"{href}\"{}>{}</a>",
            if href == active {
                " class=\"active\""
            } else {
                ""
            },
            esc(label)
        );
    }
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · s1bridge</title><link rel=\"stylesheet\" href=\"/ui/assets/style.css\"></head>\
         <body><header><span class=\"brand\">s1bridge</span><nav>{links}</nav>\
         <span class=\"who\"><a href=\"/ui/logout\">Sign out</a></span></header>\
         <main>{body}</main></body></html>",
        esc(title)
    ))
}

fn login_page(error: Option<&str>) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in · s1bridge</title>\
         <link rel=\"stylesheet\" href=\"/ui/assets/style.css\"></head><body><main class=\"login card\">\
         <h1>s1bridge</h1>{}<form method=\"post\" action=\"/ui/login\">\
         <label for=\"key\">API key</label><input type=\"password\" id=\"key\" name=\"key\" autocomplete=\"current-password\" autofocus>\
         <button type=\"submit\" id=\"sign-in\">Sign in</button></form>\
         <p class=\"muted\">Create a key with <code>s1bridge keys create --role read</code> (or <code>--role admin</code> to start syncs).</p>\
         </main></body></html>",
        error
            .map(|e| format!("<p class=\"error\">{}</p>", esc(e)))
            .unwrap_or_default()
    ))
}

async fn login_form() -> Html<String> {
    login_page(None)
}

#[derive(Deserialize)]
struct LoginForm {
    key: String,
}

async fn login(State(state): State<AppState>, Form(f): Form<LoginForm>) -> Response {
    let key = f.key.trim().to_string();
    match authenticate(&state.store, &key).await {
        Ok(Some(_)) => (
            [(
                header::SET_COOKIE,
                format!("{COOKIE}={key}; HttpOnly; SameSite=Strict; Path=/"),
            )],
            Redirect::to("/ui"),
        )
            .into_response(),
        Ok(None) => (
            StatusCode::UNAUTHORIZED,
            login_page(Some(
                "This key is unknown or revoked. `s1bridge keys list` shows the valid keys.",
            )),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            login_page(Some(&e.message)),
        )
            .into_response(),
    }
}

async fn logout() -> Response {
    (
        [(
            header::SET_COOKIE,
            format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
        )],
        Redirect::to("/ui/login"),
    )
        .into_response()
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

/// Pages need the key cookie; without it, the login form.
async fn require_cookie(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let principal = match cookie(req.headers(), COOKIE) {
        Some(key) => authenticate(&state.store, &key).await.ok().flatten(),
        None => None,
    };
    match principal {
        Some(p) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        None => Redirect::to("/ui/login").into_response(),
    }
}

/// An error as a page (the dashboard's counterpart of the JSON error).
impl ApiError {
    fn page(&self, state: &AppState) -> Response {
        (
            self.status,
            layout(
                state,
                "Error",
                "",
                &format!(
                    "<h1>Error</h1><p class=\"error\">{}</p>",
                    esc(&self.message)
                ),
            ),
        )
            .into_response()
    }
}

async fn sync_now(
    State(state): State<AppState>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    let allowed = req
        .extensions()
        .get::<Principal>()
        .map(|p| p.require_admin("Starting a sync"));
    if let Some(Err(e)) = allowed {
        return e.page(&state);
    }
    // With a job queue the workers run syncs: queue it and show the workers.
    if state.queue.is_some() {
        return match crate::features::workers::enqueue_sync(&state, &name, &[]).await {
            Ok(_) => Redirect::to("/ui/workers").into_response(),
            Err(e) => e.page(&state),
        };
    }
    match crate::api::start_sync(&state, &name, &[]).await {
        Ok(_) => Redirect::to(&format!("/ui/syncs/{}", enc(&name))).into_response(),
        Err(e) if e.code == "console_busy" => {
            Redirect::to(&format!("/ui/syncs/{}", enc(&name))).into_response()
        }
        Err(e) => e.page(&state),
    }
}

async fn sync_progress(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let Some(st) = state.runner.state(&name) else {
        return ApiError::not_found(format!("no sync of '{name}' was started by this service"))
            .page(&state);
    };
    let running = st.state == SyncPhase::Running;
    let mut body = format!("<h1>Sync of {}</h1>", esc(&name));
    let phase = match st.state {
        SyncPhase::Running => "running",
        SyncPhase::Finished => "finished",
        SyncPhase::Failed => "failed",
    };
    let _ = write!(
        body,
        "<p>State: <b id=\"sync-state\">{phase}</b>{} · started {}{}</p>",
        st.status
            .map(|s| format!(" · run status {}", badge(s.as_str(), s.as_str())))
            .unwrap_or_default(),
        when(st.started_at),
        st.run_id
            .map(|id| format!(" · run <a href=\"/ui/runs#run-{id}\" id=\"run-id\">{id}</a>"))
            .unwrap_or_default()
    );
    if let Some(e) = &st.error {
        let _ = write!(body, "<p class=\"error\">{}</p>", esc(e));
    }
    let rows: Vec<Vec<String>> = st
        .progress
        .iter()
        .map(|(f, p)| {
            let bar = match (p.total, p.done) {
                (_, true) => "<progress value=\"1\" max=\"1\"></progress>".to_string(),
                (Some(t), false) if t > 0 => {
                    format!(
                        "<progress value=\"{}\" max=\"{t}\"></progress>",
                        p.records.min(t)
                    )
                }
                _ => "<progress></progress>".to_string(),
            };
            vec![
                esc(f),
                p.records.to_string(),
                p.total.map(|t| t.to_string()).unwrap_or_default(),
                bar,
            ]
        })
        .collect();
    body.push_str(&table(
        "progress",
        &["Feature", "Records", "Total (hint)", ""],
        &rows,
    ));
    if running {
        body.push_str(
            "<p class=\"muted\">This page refreshes every second while the sync runs.</p>",
        );
    } else {
        body.push_str("<p><a href=\"/ui\">Back to the overview</a></p>");
    }
    let Html(mut html) = layout(&state, &format!("Sync of {name}"), "", &body);
    if running {
        html = html.replacen(
            "<head>",
            "<head><meta http-equiv=\"refresh\" content=\"1\">",
            1,
        );
    }
    Html(html).into_response()
}

async fn capabilities_page(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    if let Err(e) = state.console(&name).await {
        return e.page(&state);
    }
    let body = match state.check_capabilities(&name).await {
        Ok(r) => format!(
            "<h1>Capabilities of {}</h1>{}",
            esc(&name),
            overview::capability_table(&r)
        ),
        Err(e) => format!(
            "<h1>Capabilities of {}</h1><p class=\"error\">{}</p>",
            esc(&name),
            esc(&e)
        ),
    };
    layout(&state, "Capabilities", "/ui", &body).into_response()
}

/// Pages share the API's handlers and errors; a JSON error on a page becomes an error page.
async fn errors_as_pages(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(resp.status().is_client_error() || resp.status().is_server_error()) || !is_json {
        return resp;
    }
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(String::from))
        .unwrap_or_else(|| "the request failed".into());
    ApiError::new(status, "page", message).page(&state)
}

async fn root() -> Redirect {
    Redirect::to("/ui")
}

/// `/ui/*`: the login form and the stylesheet are open; every other page needs the cookie.
pub fn router(state: &AppState) -> Router<AppState> {
    let mut pages = Router::new()
        .route("/ui", get(overview::page))
        .route("/ui/runs", get(runs::page))
        .route("/ui/consoles/{name}/sync", post(sync_now))
        .route("/ui/consoles/{name}/capabilities", get(capabilities_page))
        .route("/ui/syncs/{name}", get(sync_progress));
    for m in state.modules.iter() {
        pages = pages.merge(m.pages());
    }
    let pages = pages
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            errors_as_pages,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_cookie,
        ));
    Router::new()
        .route("/", get(root))
        .route("/ui/login", get(login_form).post(login))
        .route("/ui/logout", get(logout))
        .route("/ui/assets/style.css", get(style))
        .merge(pages)
}

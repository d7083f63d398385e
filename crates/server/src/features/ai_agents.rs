//! AI coding agents: detections per (device, user, agent), `GET
//! /api/v1/consoles/{name}/ai-agents` and the AI agents page.

use std::collections::BTreeSet;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Html;
use axum::routing::get;
use s1bridge_store::{AiDetection, AiDetectionFilter, UserSource};
use serde::Deserialize;

use super::{ApiQuery, Endpoint, FeatureModule, Method, Param, paging_params};
use crate::AppState;
use crate::error::ApiResult;
use crate::page::{Page, limit, paginate};
use crate::ui;

pub struct AiAgents;

#[derive(Debug, Default, Deserialize)]
pub struct DetectionQuery {
    /// Catalog id of the agent (`claude-code`).
    pub agent: Option<String>,
    /// Agent id or computer name.
    pub device: Option<String>,
    /// The user as reported (`CORP\ann`).
    pub user: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// The store's order (agent, computer name, user), made total by the device id.
fn key(d: &AiDetection) -> (String, String, String, String) {
    (
        d.agent_name.clone(),
        d.computer_name.clone(),
        d.user.clone(),
        d.agent_id.clone(),
    )
}

pub async fn detection_page(
    state: &AppState,
    console: &str,
    q: &DetectionQuery,
) -> ApiResult<Page<AiDetection>> {
    state.console(console).await?;
    let set = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    let mut found = state
        .store
        .list_ai_detections(&AiDetectionFilter {
            console: Some(console.to_string()),
            agent: set(&q.agent),
            device: set(&q.device),
            user: set(&q.user),
        })
        .await?;
    found.sort_by_key(key);
    paginate(found, key, q.cursor.as_deref(), limit(q.limit)?)
}

async fn list(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<DetectionQuery>,
) -> ApiResult<Json<Page<AiDetection>>> {
    Ok(Json(detection_page(&state, &name, &q).await?))
}

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    console: Option<String>,
    agent: Option<String>,
    device: Option<String>,
    user: Option<String>,
    cursor: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Html<String>> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut body = String::from("<h1>AI coding agents</h1>");
    let Some((console, select)) = super::page_console(&state, q.console.as_deref()).await? else {
        body.push_str("<p class=\"muted\">No console is configured.</p>");
        return Ok(ui::layout(&state, "AI agents", "/ui/ai-agents", &body));
    };
    body.push_str(&format!(
        "<form class=\"filters\" method=\"get\" action=\"/ui/ai-agents\">\
         {select} \
         <label>Agent <input name=\"agent\" id=\"agent\" value=\"{}\" placeholder=\"claude-code\"></label> \
         <label>Device <input name=\"device\" id=\"device\" value=\"{}\"></label> \
         <label>User <input name=\"user\" id=\"user\" value=\"{}\"></label> \
         <button type=\"submit\">Filter</button></form>",
        ui::esc(&text(&q.agent)),
        ui::esc(&text(&q.device)),
        ui::esc(&text(&q.user)),
    ));
    if let Some(c) = state.store.ai_coverage(&console).await? {
        body.push_str(&format!(
            "<p>Process telemetry covered from {} to {}.</p>",
            ui::when(c.covered_from),
            ui::when(c.covered_to)
        ));
    }
    let dq = DetectionQuery {
        agent: q.agent.clone(),
        device: q.device.clone(),
        user: q.user.clone(),
        limit: Some(200),
        cursor: q.cursor.clone(),
    };
    let found = detection_page(&state, &console, &dq).await?;
    let rows: Vec<Vec<String>> = found
        .items
        .iter()
        .map(|d| {
            let user = match (d.user_source, &d.process_user) {
                (UserSource::DeviceLastLoggedIn, Some(p)) => format!(
                    "{} <span class=\"muted\">(last logged in; ran as {})</span>",
                    ui::esc(&d.user),
                    ui::esc(p)
                ),
                (UserSource::DeviceLastLoggedIn, None) => format!(
                    "{} <span class=\"muted\">(last logged in)</span>",
                    ui::esc(&d.user)
                ),
                _ => ui::esc(&d.user),
            };
            let evidence = d
                .evidence
                .iter()
                .map(|e| {
                    format!(
                        "<code title=\"{}\">{}</code>{}",
                        ui::esc(&e.command_line),
                        ui::esc(&e.image_path),
                        e.parent
                            .as_deref()
                            .map(|p| format!(" (from {})", ui::esc(p)))
                            .unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("<br>");
            vec![
                ui::esc(&d.display_name),
                ui::esc(&d.computer_name),
                user,
                ui::esc(d.version.as_deref().unwrap_or("—")),
                ui::when(d.first_seen_at),
                ui::when(d.last_seen_at),
                d.event_count.to_string(),
                evidence,
            ]
        })
        .collect();
    body.push_str(&ui::table(
        "ai-agents",
        &[
            "Agent",
            "Device",
            "User",
            "Version",
            "First seen",
            "Last seen",
            "Events",
            "Evidence",
        ],
        &rows,
    ));
    body.push_str(&ui::next_link(
        "/ui/ai-agents",
        &[
            ("console", &console),
            ("agent", &text(&q.agent)),
            ("device", &text(&q.device)),
            ("user", &text(&q.user)),
        ],
        found.next_cursor.as_deref(),
    ));
    Ok(ui::layout(&state, "AI agents", "/ui/ai-agents", &body))
}

/// An example detection for the OpenAPI schema.
fn sample() -> AiDetection {
    use crate::openapi::samples::t;
    AiDetection {
        console: "prod".into(),
        agent_name: "claude-code".into(),
        display_name: "Claude Code".into(),
        agent_id: "1000".into(),
        computer_name: "LAPTOP-7".into(),
        user: "CORP\\ann".into(),
        user_source: UserSource::DeviceLastLoggedIn,
        process_user: Some("NT AUTHORITY\\SYSTEM".into()),
        version: Some("1.0.3".into()),
        first_seen_at: t(),
        last_seen_at: t(),
        event_count: 12,
        evidence: vec![s1bridge_store::AiEvidence {
            image_path: "C:\\Users\\ann\\.local\\bin\\claude.exe".into(),
            command_line: "claude --version".into(),
            parent: Some("pwsh.exe".into()),
        }],
    }
}

#[async_trait::async_trait]
impl FeatureModule for AiAgents {
    fn name(&self) -> &'static str {
        "ai-agents"
    }

    fn endpoints(&self) -> Vec<Endpoint> {
        let mut params = vec![
            Param::path("name", "The console name."),
            Param::query(
                "agent",
                "string",
                "Only this agent (catalog id, e.g. claude-code).",
            ),
            Param::query(
                "device",
                "string",
                "Only this device (agent id or computer name).",
            ),
            Param::query(
                "user",
                "string",
                "Only this user (as reported, e.g. CORP\\ann).",
            ),
        ];
        params.extend(paging_params());
        vec![Endpoint {
            method: Method::Get,
            path: "/api/v1/consoles/{name}/ai-agents",
            summary: "Detected AI coding agents per device, user and agent, by agent, device and user (`s1bridge ai-agents --json`).",
            params,
            response: "AiDetectionPage",
            status: 200,
            admin: false,
            handler: get(list),
        }]
    }

    fn schemas(&self) -> Vec<(&'static str, serde_json::Value)> {
        let page = Page {
            items: vec![sample()],
            next_cursor: Some("cursor".to_string()),
        };
        vec![(
            "AiDetectionPage",
            serde_json::to_value(page).unwrap_or_default(),
        )]
    }

    fn nav(&self) -> Option<(&'static str, &'static str)> {
        Some(("/ui/ai-agents", "AI agents"))
    }

    fn pages(&self) -> Router<AppState> {
        Router::new().route("/ui/ai-agents", get(page))
    }

    async fn overview_counts(&self, state: &AppState, console: &str) -> Vec<(String, String)> {
        let filter = AiDetectionFilter {
            console: Some(console.to_string()),
            ..AiDetectionFilter::default()
        };
        match state.store.list_ai_detections(&filter).await {
            Ok(found) => {
                let devices: BTreeSet<&str> = found.iter().map(|d| d.agent_id.as_str()).collect();
                vec![
                    ("AI agent detections".into(), found.len().to_string()),
                    ("Devices with AI agents".into(), devices.len().to_string()),
                ]
            }
            Err(e) => vec![("AI agents".into(), format!("error: {e}"))],
        }
    }
}

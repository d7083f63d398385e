//! The device inventory: `GET /api/v1/devices` and the devices page.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use s1bridge_store::{Device, DeviceFilter};
use serde::Deserialize;

use super::{ApiQuery, Endpoint, FeatureModule, Method, Param, paging_params};
use crate::AppState;
use crate::error::ApiResult;
use crate::page::{Page, limit, paginate};
use crate::ui;

pub struct Devices;

#[derive(Debug, Default, Deserialize)]
pub struct DeviceQuery {
    pub console: Option<String>,
    pub stale: Option<bool>,
    pub duplicates: Option<bool>,
    pub decommissioned: Option<bool>,
    pub removed: Option<bool>,
    pub stale_days: Option<u32>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// One page of devices matching `q`, in the store's order (computer name, agent id, console).
pub async fn device_page(state: &AppState, q: &DeviceQuery) -> ApiResult<Page<Device>> {
    let filter = DeviceFilter {
        console: q.console.clone().filter(|c| !c.is_empty()),
        stale_days: q.stale_days.unwrap_or(state.config.server.stale_days),
        only_stale: q.stale.unwrap_or(false),
        only_duplicates: q.duplicates.unwrap_or(false),
        only_decommissioned: q.decommissioned.unwrap_or(false),
        removed: q.removed.unwrap_or(false),
        ..DeviceFilter::default()
    };
    let all = state.store.list_devices(&filter).await?;
    paginate(
        all,
        |d| {
            (
                d.computer_name.clone(),
                d.agent_id.clone(),
                d.console.clone(),
            )
        },
        q.cursor.as_deref(),
        limit(q.limit)?,
    )
}

async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<DeviceQuery>,
) -> ApiResult<Json<Page<Device>>> {
    Ok(Json(device_page(&state, &q).await?))
}

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    console: Option<String>,
    filter: Option<String>,
    cursor: Option<String>,
}

const FILTERS: [(&str, &str); 5] = [
    ("", "All present"),
    ("stale", "Stale"),
    ("duplicates", "Duplicates"),
    ("decommissioned", "Decommissioned"),
    ("removed", "Removed"),
];

async fn page(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Html<String>> {
    let filter = q.filter.clone().unwrap_or_default();
    let dq = DeviceQuery {
        console: q.console.clone(),
        stale: Some(filter == "stale"),
        duplicates: Some(filter == "duplicates"),
        decommissioned: Some(filter == "decommissioned"),
        removed: Some(filter == "removed"),
        limit: Some(200),
        cursor: q.cursor.clone(),
        ..DeviceQuery::default()
    };
    let page = device_page(&state, &dq).await?;
    let console = q.console.clone().unwrap_or_default();
    let mut body = String::new();
    body.push_str("<h1>Devices</h1>");
    body.push_str(&ui::filter_bar(
        "/ui/devices",
        "filter",
        &FILTERS,
        &filter,
        &[("console", &console)],
    ));
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|d| {
            let mut flags = Vec::new();
            if d.stale {
                flags.push(ui::badge("stale", "warn"));
            }
            if d.duplicate_of.is_some() {
                flags.push(ui::badge("duplicate", "warn"));
            }
            if d.is_decommissioned {
                flags.push(ui::badge("decommissioned", "muted"));
            }
            if d.removed_at.is_some() {
                flags.push(ui::badge("removed", "bad"));
            }
            vec![
                ui::esc(&d.computer_name),
                ui::esc(&d.console),
                ui::esc(d.os_name.as_deref().unwrap_or("")),
                ui::esc(d.agent_version.as_deref().unwrap_or("")),
                ui::esc(d.site_name.as_deref().unwrap_or("")),
                ui::esc(&d.ips.join(", ")),
                d.last_active_at.map(ui::when).unwrap_or_default(),
                flags.join(" "),
                ui::esc(d.duplicate_of.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    body.push_str(&ui::table(
        "devices",
        &[
            "Name",
            "Console",
            "OS",
            "Agent",
            "Site",
            "Addresses",
            "Last active",
            "Flags",
            "Newer record",
        ],
        &rows,
    ));
    body.push_str(&ui::next_link(
        "/ui/devices",
        &[("console", &console), ("filter", &filter)],
        page.next_cursor.as_deref(),
    ));
    Ok(ui::layout(&state, "Devices", "/ui/devices", &body))
}

#[async_trait::async_trait]
impl FeatureModule for Devices {
    fn name(&self) -> &'static str {
        "devices"
    }

    fn endpoints(&self) -> Vec<Endpoint> {
        let mut params = vec![
            Param::query("console", "string", "Only this console's devices."),
            Param::query(
                "stale",
                "boolean",
                "Only devices without activity for `stale_days`.",
            ),
            Param::query(
                "duplicates",
                "boolean",
                "Only older records of a machine that has a newer one.",
            ),
            Param::query("decommissioned", "boolean", "Only decommissioned agents."),
            Param::query(
                "removed",
                "boolean",
                "Only devices no longer in the console (default: only present ones).",
            ),
            Param::query(
                "stale_days",
                "integer",
                "Days without activity after which a device is stale (server default 14).",
            ),
        ];
        params.extend(paging_params());
        vec![Endpoint {
            method: Method::Get,
            path: "/api/v1/devices",
            summary: "Stored devices, ordered by computer name (the `s1bridge devices --json` shape).",
            params,
            response: "DevicePage",
            status: 200,
            admin: false,
            handler: get(list),
        }]
    }

    fn schemas(&self) -> Vec<(&'static str, serde_json::Value)> {
        let page = Page {
            items: vec![crate::openapi::samples::device()],
            next_cursor: Some("cursor".to_string()),
        };
        vec![("DevicePage", serde_json::to_value(page).unwrap_or_default())]
    }

    fn nav(&self) -> Option<(&'static str, &'static str)> {
        Some(("/ui/devices", "Devices"))
    }

    fn pages(&self) -> Router<AppState> {
        Router::new().route("/ui/devices", get(page))
    }

    async fn overview_counts(&self, state: &AppState, console: &str) -> Vec<(String, String)> {
        match state.store.count_devices(console).await {
            Ok(c) => vec![
                ("Devices".into(), c.present.to_string()),
                ("Decommissioned".into(), c.decommissioned.to_string()),
                ("Duplicates".into(), c.duplicates.to_string()),
                ("Removed".into(), c.removed.to_string()),
            ],
            Err(e) => vec![("Devices".into(), format!("error: {e}"))],
        }
    }
}

//! Indicators (IoCs): the console objects s1bridge knows per console — pushed by `iocs push`
//! (ours) or imported by `iocs backfill` (foreign) — `GET /api/v1/indicators` and the
//! indicators page. Read from the store only; nothing here talks to a console.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use s1bridge_store::{IndicatorFilter, IndicatorState, StoredIndicator};
use serde::Deserialize;

use super::{ApiQuery, Endpoint, FeatureModule, Method, Param, paging_params};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::page::{Page, limit, paginate};
use crate::ui;

pub struct Indicators;

const TARGETS: [&str; 3] = ["firewall", "blocklist", "ti"];
const TYPES: [&str; 8] = [
    "ipv4", "ipv6", "cidr", "domain", "url", "sha1", "sha256", "md5",
];

#[derive(Debug, Default, Deserialize)]
pub struct IndicatorQuery {
    pub console: Option<String>,
    /// `firewall`, `blocklist` or `ti`.
    pub target: Option<String>,
    /// `true`: created by s1bridge; `false`: foreign.
    pub ours: Option<bool>,
    /// `ipv4`, `ipv6`, `cidr`, `domain`, `url`, `sha1`, `sha256`, `md5`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `created`, `skipped`, `imported`, `deployed`, `drifted`, `missing`.
    pub state: Option<String>,
    /// Exact normalised value.
    pub value: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

type Key = (String, String, String, String, String, String);

/// The store's order (console, target, type, value, OS type, object).
fn key(i: &StoredIndicator) -> Key {
    (
        i.console.clone(),
        i.target.clone(),
        i.kind.clone(),
        i.value.clone(),
        i.os_type.clone().unwrap_or_default(),
        i.object_id.clone(),
    )
}

fn one_of(name: &str, v: &Option<String>, allowed: &[&str]) -> ApiResult<Option<String>> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) if allowed.contains(&s.to_ascii_lowercase().as_str()) => {
            Ok(Some(s.to_ascii_lowercase()))
        }
        Some(s) => Err(ApiError::bad_request(
            "invalid_parameter",
            format!("{name} {s:?} is not one of: {}", allowed.join(", ")),
        )),
    }
}

pub async fn indicator_page(
    state: &AppState,
    q: &IndicatorQuery,
) -> ApiResult<Page<StoredIndicator>> {
    let console = q.console.clone().filter(|c| !c.trim().is_empty());
    if let Some(c) = &console {
        state.console(c).await?;
    }
    let st = match one_of(
        "state",
        &q.state,
        &[
            "created", "skipped", "imported", "deployed", "drifted", "missing",
        ],
    )? {
        Some(s) => IndicatorState::parse(&s),
        None => None,
    };
    let mut found = state
        .store
        .list_indicators(&IndicatorFilter {
            console,
            target: one_of("target", &q.target, &TARGETS)?,
            ours: q.ours,
            kind: one_of("type", &q.kind, &TYPES)?,
            value: q.value.clone().filter(|v| !v.trim().is_empty()),
            state: st,
        })
        .await?;
    found.sort_by_key(key);
    paginate(found, key, q.cursor.as_deref(), limit(q.limit)?)
}

async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<IndicatorQuery>,
) -> ApiResult<Json<Page<StoredIndicator>>> {
    Ok(Json(indicator_page(&state, &q).await?))
}

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    console: Option<String>,
    target: Option<String>,
    owner: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    cursor: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Html<String>> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut body = String::from("<h1>Indicators</h1>");
    let Some((console, select)) = super::page_console(&state, q.console.as_deref()).await? else {
        body.push_str("<p class=\"muted\">No console is configured.</p>");
        return Ok(ui::layout(&state, "Indicators", "/ui/indicators", &body));
    };
    let option = |value: &str, label: &str, current: &str| {
        format!(
            "<option value=\"{value}\"{}>{label}</option>",
            if value == current { " selected" } else { "" }
        )
    };
    let target = text(&q.target);
    let owner = text(&q.owner);
    body.push_str(&format!(
        "<form class=\"filters\" method=\"get\" action=\"/ui/indicators\">{select} \
         <label>Target <select name=\"target\" id=\"target\">{}{}{}{}</select></label> \
         <label>Owner <select name=\"owner\" id=\"owner\">{}{}{}</select></label> \
         <label>Type <input name=\"type\" id=\"type\" value=\"{}\" placeholder=\"sha256\"></label> \
         <button type=\"submit\">Filter</button></form>",
        option("", "any", &target),
        option("firewall", "firewall", &target),
        option("blocklist", "blocklist", &target),
        option("ti", "threat intelligence", &target),
        option("", "any", &owner),
        option("ours", "ours", &owner),
        option("foreign", "foreign", &owner),
        ui::esc(&text(&q.kind)),
    ));
    let iq = IndicatorQuery {
        console: Some(console.clone()),
        target: q.target.clone(),
        ours: match owner.as_str() {
            "ours" => Some(true),
            "foreign" => Some(false),
            _ => None,
        },
        kind: q.kind.clone(),
        limit: Some(200),
        cursor: q.cursor.clone(),
        ..Default::default()
    };
    let found = indicator_page(&state, &iq).await?;
    if found.items.is_empty() && q.cursor.is_none() {
        body.push_str(
            "<p class=\"muted\">No indicators match. <code>s1bridge iocs push FILE</code> records \
             what it creates or finds; <code>s1bridge iocs backfill</code> imports what the \
             console already has.</p>",
        );
    }
    let rows: Vec<Vec<String>> = found
        .items
        .iter()
        .map(|i| {
            vec![
                format!("<code>{}</code>", ui::esc(&i.value)),
                ui::esc(&i.kind),
                ui::esc(&i.target),
                ui::esc(
                    i.os_type
                        .as_deref()
                        .or(i.direction.as_deref())
                        .unwrap_or("—"),
                ),
                if i.ours { "ours" } else { "foreign" }.into(),
                i.state.as_str().into(),
                i.expires_at.map_or_else(|| "—".into(), ui::when),
                ui::when(i.last_seen_at),
            ]
        })
        .collect();
    body.push_str(&ui::table(
        "indicators",
        &[
            "Value",
            "Type",
            "Target",
            "OS / scope",
            "Owner",
            "State",
            "Expires",
            "Last seen",
        ],
        &rows,
    ));
    body.push_str(&ui::next_link(
        "/ui/indicators",
        &[
            ("console", &console),
            ("target", &target),
            ("owner", &owner),
            ("type", &text(&q.kind)),
        ],
        found.next_cursor.as_deref(),
    ));
    Ok(ui::layout(&state, "Indicators", "/ui/indicators", &body))
}

/// An example for the OpenAPI schema.
fn sample() -> StoredIndicator {
    use crate::openapi::samples::t;
    StoredIndicator {
        console: "prod".into(),
        target: "blocklist".into(),
        object_id: "1900000000000000001".into(),
        kind: "sha256".into(),
        value: "beab9fadb100a44b3bc8ea4df3249aa6d93e710193be437adb5e47c2e201c1ef".into(),
        os_type: Some("windows".into()),
        direction: Some("any".into()),
        description: Some("Created by s1bridge [s1bridge]".into()),
        ours: true,
        expires_at: Some(t()),
        first_seen_at: t(),
        last_seen_at: t(),
        state: IndicatorState::Created,
        state_at: t(),
    }
}

#[async_trait::async_trait]
impl FeatureModule for Indicators {
    fn name(&self) -> &'static str {
        "indicators"
    }

    fn endpoints(&self) -> Vec<Endpoint> {
        let mut params = vec![
            Param::query("console", "string", "Only this console's indicators."),
            Param::query(
                "target",
                "string",
                "Only this target: firewall, blocklist or ti.",
            ),
            Param::query(
                "ours",
                "boolean",
                "true: only objects s1bridge created; false: only foreign objects.",
            ),
            Param::query(
                "type",
                "string",
                "Only this type: ipv4, ipv6, cidr, domain, url, sha1, sha256, md5.",
            ),
            Param::query(
                "state",
                "string",
                "Only this state: created, skipped, imported, deployed, drifted, missing.",
            ),
            Param::query("value", "string", "Only this (normalised) value."),
        ];
        params.extend(paging_params());
        vec![Endpoint {
            method: Method::Get,
            path: "/api/v1/indicators",
            summary: "Indicator values per console object, pushed (ours) or backfilled (foreign), by console, target, type and value (`s1bridge iocs list --json`).",
            params,
            response: "IndicatorPage",
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
            "IndicatorPage",
            serde_json::to_value(page).unwrap_or_default(),
        )]
    }

    fn nav(&self) -> Option<(&'static str, &'static str)> {
        Some(("/ui/indicators", "Indicators"))
    }

    fn pages(&self) -> Router<AppState> {
        Router::new().route("/ui/indicators", get(page))
    }

    async fn overview_counts(&self, state: &AppState, console: &str) -> Vec<(String, String)> {
        let filter = IndicatorFilter {
            console: Some(console.to_string()),
            ..IndicatorFilter::default()
        };
        match state.store.list_indicators(&filter).await {
            Ok(found) => {
                let ours = found.iter().filter(|i| i.ours).count();
                vec![
                    ("Indicators (ours)".into(), ours.to_string()),
                    (
                        "Indicators (foreign)".into(),
                        (found.len() - ours).to_string(),
                    ),
                ]
            }
            Err(e) => vec![("Indicators".into(), format!("error: {e}"))],
        }
    }
}

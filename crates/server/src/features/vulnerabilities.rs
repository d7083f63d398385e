//! The vulnerability queue: `GET /api/v1/vulnerabilities` (+ explain and history) and its pages.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Html;
use axum::routing::get;
use s1bridge_store::{Finding, FindingFilter, FindingStatus, FindingTransition};
use serde::{Deserialize, Serialize};

use super::{ApiQuery, Endpoint, FeatureModule, Method, Param, csv, paging_params};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::page::{Page, limit, paginate};
use crate::ui;

pub struct Vulnerabilities;

const PRIORITIES: [&str; 5] = ["critical", "high", "medium", "low", "info"];

#[derive(Debug, Default, Deserialize)]
pub struct FindingQuery {
    pub console: Option<String>,
    /// Comma-separated statuses.
    pub status: Option<String>,
    pub min_priority: Option<String>,
    pub cve: Option<String>,
    pub device: Option<String>,
    pub kev: Option<bool>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

fn rank(priority: &str) -> i64 {
    PRIORITIES
        .iter()
        .position(|p| p.eq_ignore_ascii_case(priority))
        .map(|i| 4 - i as i64)
        .unwrap_or(-1)
}

/// The queue order as an ascending key: priority (critical first), CVSS (highest first, unknown
/// last), finding id.
fn queue_key(f: &Finding) -> (i64, bool, i64, String) {
    (
        -rank(&f.priority),
        f.cvss_score.is_none(),
        -(f.cvss_score.unwrap_or(0.0) * 1000.0).round() as i64,
        f.finding_id.clone(),
    )
}

pub async fn finding_page(state: &AppState, q: &FindingQuery) -> ApiResult<Page<Finding>> {
    let mut statuses = Vec::new();
    for s in csv(&q.status) {
        statuses.push(FindingStatus::parse(&s).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_parameter",
                format!("status {s:?} is not one of new, open, fixed, reopened, device_removed"),
            )
        })?);
    }
    let min_priority = q.min_priority.clone().filter(|p| !p.is_empty());
    if let Some(p) = &min_priority
        && rank(p) < 0
    {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("min_priority {p:?} is not one of {}", PRIORITIES.join(", ")),
        ));
    }
    let filter = FindingFilter {
        console: q.console.clone().filter(|c| !c.is_empty()),
        statuses,
        min_priority,
        cve_id: q.cve.clone().filter(|c| !c.is_empty()),
        device: q.device.clone().filter(|c| !c.is_empty()),
        kev_only: q.kev.unwrap_or(false),
        limit: None,
    };
    let all = state.store.list_findings(&filter).await?;
    paginate(all, queue_key, q.cursor.as_deref(), limit(q.limit)?)
}

async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<FindingQuery>,
) -> ApiResult<Json<Page<Finding>>> {
    Ok(Json(finding_page(&state, &q).await?))
}

async fn finding(state: &AppState, id: &str) -> ApiResult<Finding> {
    state.store.get_finding(id).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "no finding {id:?}; GET /api/v1/vulnerabilities lists them"
        ))
    })
}

async fn explain(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Finding>> {
    Ok(Json(finding(&state, &id).await?))
}

#[derive(Serialize)]
struct History {
    items: Vec<FindingTransition>,
}

async fn history(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<History>> {
    finding(&state, &id).await?;
    Ok(Json(History {
        items: state.store.finding_history(&id).await?,
    }))
}

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    console: Option<String>,
    min_priority: Option<String>,
    status: Option<String>,
    kev: Option<String>,
    cursor: Option<String>,
}

async fn queue_page(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Html<String>> {
    let kev = q.kev.as_deref() == Some("on") || q.kev.as_deref() == Some("true");
    let fq = FindingQuery {
        console: q.console.clone(),
        status: q.status.clone().filter(|s| !s.is_empty()),
        min_priority: q.min_priority.clone(),
        kev: Some(kev),
        limit: Some(200),
        cursor: q.cursor.clone(),
        ..FindingQuery::default()
    };
    let page = finding_page(&state, &fq).await?;
    let mut body = String::from("<h1>Vulnerability queue</h1>");
    let sel = |name: &str, options: &[&str], current: &Option<String>| {
        let cur = current.clone().unwrap_or_default();
        let mut s =
            format!("<select name=\"{name}\" id=\"{name}\"><option value=\"\">any</option>");
        for o in options {
            s.push_str(&format!(
                "<option value=\"{o}\"{}>{o}</option>",
                if cur == *o { " selected" } else { "" }
            ));
        }
        s.push_str("</select>");
        s
    };
    body.push_str(&format!(
        "<form class=\"filters\" method=\"get\" action=\"/ui/vulns\">\
         <input type=\"hidden\" name=\"console\" value=\"{}\">\
         <label>Priority at least {}</label> <label>Status {}</label> \
         <label><input type=\"checkbox\" name=\"kev\" id=\"kev\"{}> KEV only</label> \
         <button type=\"submit\">Filter</button></form>",
        ui::esc(q.console.as_deref().unwrap_or("")),
        sel("min_priority", &PRIORITIES, &q.min_priority),
        sel(
            "status",
            &["new", "open", "reopened", "fixed", "device_removed"],
            &q.status
        ),
        if kev { " checked" } else { "" },
    ));
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|f| {
            vec![
                ui::badge(&f.priority, &f.priority),
                format!(
                    "<a href=\"/ui/vulns/{}\">{}</a>{}",
                    ui::esc(&f.finding_id),
                    ui::esc(&f.cve_id),
                    if f.kev {
                        format!(" {}", ui::badge("KEV", "bad"))
                    } else {
                        String::new()
                    }
                ),
                ui::esc(&format!("{} {}", f.application, f.application_version)),
                ui::esc(f.computer_name.as_deref().unwrap_or(&f.agent_id)),
                f.cvss_score.map(|c| format!("{c:.1}")).unwrap_or_default(),
                ui::esc(f.status.as_str()),
                ui::esc(
                    &f.factors
                        .iter()
                        .map(|x| format!("{} ({:+})", x.name, x.effect))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            ]
        })
        .collect();
    body.push_str(&ui::table(
        "vulns",
        &[
            "Priority",
            "CVE",
            "Application",
            "Device",
            "CVSS",
            "Status",
            "Factors",
        ],
        &rows,
    ));
    body.push_str(&ui::next_link(
        "/ui/vulns",
        &[
            ("console", q.console.as_deref().unwrap_or("")),
            ("min_priority", q.min_priority.as_deref().unwrap_or("")),
            ("status", q.status.as_deref().unwrap_or("")),
            ("kev", if kev { "on" } else { "" }),
        ],
        page.next_cursor.as_deref(),
    ));
    Ok(ui::layout(&state, "Vulnerabilities", "/ui/vulns", &body))
}

async fn finding_detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Html<String>> {
    let f = finding(&state, &id).await?;
    let hist = state.store.finding_history(&id).await?;
    let mut body = format!(
        "<h1>{} on {}</h1><p>{} {} · vendor severity {} · CVSS {} · status <b>{}</b> · priority {}</p>",
        ui::esc(&f.cve_id),
        ui::esc(f.computer_name.as_deref().unwrap_or(&f.agent_id)),
        ui::esc(&f.application),
        ui::esc(&f.application_version),
        ui::esc(f.vendor_severity.as_deref().unwrap_or("unknown")),
        f.cvss_score
            .map(|c| format!("{c:.1}"))
            .unwrap_or_else(|| "unknown".into()),
        ui::esc(f.status.as_str()),
        ui::badge(&f.priority, &f.priority),
    );
    body.push_str("<h2>Why this priority</h2>");
    let rows: Vec<Vec<String>> = f
        .factors
        .iter()
        .map(|x| {
            vec![
                ui::esc(&x.name),
                format!("{:+}", x.effect),
                ui::esc(&x.detail),
            ]
        })
        .collect();
    body.push_str(&ui::table(
        "factors",
        &["Factor", "Effect", "Detail"],
        &rows,
    ));
    body.push_str("<h2>History</h2>");
    let rows: Vec<Vec<String>> = hist
        .iter()
        .map(|t| {
            vec![
                ui::when(t.at),
                ui::esc(t.from.map(|s| s.as_str()).unwrap_or("—")),
                ui::esc(t.to.as_str()),
                t.run_id.to_string(),
                ui::esc(&t.reason),
            ]
        })
        .collect();
    body.push_str(&ui::table(
        "history",
        &["When", "From", "To", "Run", "Why"],
        &rows,
    ));
    Ok(ui::layout(&state, &f.cve_id, "/ui/vulns", &body))
}

#[async_trait::async_trait]
impl FeatureModule for Vulnerabilities {
    fn name(&self) -> &'static str {
        "vulnerabilities"
    }

    fn endpoints(&self) -> Vec<Endpoint> {
        let mut params = vec![
            Param::query("console", "string", "Only this console's findings."),
            Param::query(
                "status",
                "string",
                "Comma-separated statuses: new, open, fixed, reopened, device_removed.",
            ),
            Param::query(
                "min_priority",
                "string",
                "critical, high, medium, low or info: this priority or higher.",
            ),
            Param::query("cve", "string", "One CVE id."),
            Param::query("device", "string", "An agent id or computer name."),
            Param::query("kev", "boolean", "Only findings in the CISA KEV catalog."),
        ];
        params.extend(paging_params());
        let id = || {
            vec![Param::path(
                "finding_id",
                "The finding id (`f` + 16 hex digits).",
            )]
        };
        vec![
            Endpoint {
                method: Method::Get,
                path: "/api/v1/vulnerabilities",
                summary: "The vulnerability queue, highest effective priority first (the `s1bridge vulns --json` shape).",
                params,
                response: "FindingPage",
                status: 200,
                admin: false,
                handler: get(list),
            },
            Endpoint {
                method: Method::Get,
                path: "/api/v1/vulnerabilities/{finding_id}",
                summary: "One finding with the factors of its priority (`vulns --explain`).",
                params: id(),
                response: "Finding",
                status: 200,
                admin: false,
                handler: get(explain),
            },
            Endpoint {
                method: Method::Get,
                path: "/api/v1/vulnerabilities/{finding_id}/history",
                summary: "Every status change of a finding, oldest first (`vulns --history`).",
                params: id(),
                response: "FindingHistory",
                status: 200,
                admin: false,
                handler: get(history),
            },
        ]
    }

    fn schemas(&self) -> Vec<(&'static str, serde_json::Value)> {
        let f = crate::openapi::samples::finding();
        let page = Page {
            items: vec![f.clone()],
            next_cursor: Some("cursor".into()),
        };
        let hist = History {
            items: vec![crate::openapi::samples::transition()],
        };
        vec![
            (
                "FindingPage",
                serde_json::to_value(page).unwrap_or_default(),
            ),
            ("Finding", serde_json::to_value(f).unwrap_or_default()),
            (
                "FindingHistory",
                serde_json::to_value(hist).unwrap_or_default(),
            ),
        ]
    }

    fn nav(&self) -> Option<(&'static str, &'static str)> {
        Some(("/ui/vulns", "Vulnerabilities"))
    }

    fn pages(&self) -> Router<AppState> {
        Router::new()
            .route("/ui/vulns", get(queue_page))
            .route("/ui/vulns/{finding_id}", get(finding_detail))
    }

    async fn overview_counts(&self, state: &AppState, console: &str) -> Vec<(String, String)> {
        let filter = FindingFilter {
            console: Some(console.to_string()),
            statuses: vec![
                FindingStatus::New,
                FindingStatus::Open,
                FindingStatus::Reopened,
            ],
            ..FindingFilter::default()
        };
        match state.store.list_findings(&filter).await {
            Ok(list) => {
                let count = |p: &str| list.iter().filter(|f| f.priority == p).count();
                vec![
                    ("Open findings".into(), list.len().to_string()),
                    ("Critical".into(), count("critical").to_string()),
                    ("High".into(), count("high").to_string()),
                    (
                        "KEV".into(),
                        list.iter().filter(|f| f.kev).count().to_string(),
                    ),
                ]
            }
            Err(e) => vec![("Findings".into(), format!("error: {e}"))],
        }
    }
}

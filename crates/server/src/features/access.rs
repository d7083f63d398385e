//! Access: principals, roles and scope-exact grants of a console (`GET
//! /api/v1/consoles/{name}/access/...`), its change events, the audit log of s1bridge's writes
//! (`GET /api/v1/consoles/{name}/audit`) and the access page.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Html;
use axum::routing::get;
use chrono::{DateTime, Utc};
use s1bridge_store::{
    AccessChange, AccessChangeFilter, AccessChangeKind, AccessRole, AccessSnapshot, AuditEntry,
    AuditFilter, Grant, GrantFilter, Principal, PrincipalKind, ScopeType, parse_since,
};
use serde::Deserialize;

use super::{ApiQuery, Endpoint, FeatureModule, Method, Param, paging_params};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::page::{Page, limit, paginate};
use crate::ui;

pub struct Access;

/// Days ahead the access page looks for expiring service-user tokens.
const TOKEN_WARNING_DAYS: i64 = 30;

#[derive(Debug, Default, Deserialize)]
pub struct GrantQuery {
    /// A role id or name (`--who-has`).
    pub who_has: Option<String>,
    /// `tenant`, `account:ID`, `site:ID`, or a scope id or name (`--on`).
    pub on: Option<String>,
    /// A principal id, email or name (`--principal`).
    pub principal: Option<String>,
    /// Principals only: those whose API token expires within this many days.
    pub expiring_days: Option<i64>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

impl GrantQuery {
    fn filter(&self) -> GrantFilter {
        let set = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        GrantFilter {
            role: set(&self.who_has),
            scope: set(&self.on),
            principal: set(&self.principal),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct SinceQuery {
    /// `YYYY-MM-DD` or RFC 3339.
    pub since: Option<String>,
    /// Audit only: an action (`access.grant`) or family (`access`).
    pub action: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

fn since(q: &SinceQuery) -> ApiResult<Option<DateTime<Utc>>> {
    match q.since.as_deref().filter(|s| !s.trim().is_empty()) {
        None => Ok(None),
        Some(s) => parse_since(s).map(Some).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_parameter",
                format!(
                    "since {s:?} is not a date: use YYYY-MM-DD or an RFC 3339 time such as 2026-03-01T12:00:00Z"
                ),
            )
        }),
    }
}

/// The stored access of a known console (empty before its first access sync).
async fn snapshot(state: &AppState, console: &str) -> ApiResult<AccessSnapshot> {
    state.console(console).await?;
    Ok(state.store.load_access(console).await?)
}

/// The pagination key of a grant: its place (a principal holds one role per scope).
fn grant_key(g: &Grant) -> (String, ScopeType, Option<String>) {
    (g.principal_id.clone(), g.scope_type, g.scope_id.clone())
}

pub async fn grant_page(state: &AppState, console: &str, q: &GrantQuery) -> ApiResult<Page<Grant>> {
    let snap = snapshot(state, console).await?;
    let mut grants: Vec<Grant> = snap
        .grants_matching(&q.filter())
        .into_iter()
        .cloned()
        .collect();
    grants.sort_by_key(grant_key);
    paginate(grants, grant_key, q.cursor.as_deref(), limit(q.limit)?)
}

pub async fn principal_page(
    state: &AppState,
    console: &str,
    q: &GrantQuery,
) -> ApiResult<Page<Principal>> {
    let snap = snapshot(state, console).await?;
    let horizon = q
        .expiring_days
        .map(|d| Utc::now() + chrono::Duration::days(d.max(0)));
    let mut principals: Vec<Principal> = snap
        .principals_matching(&q.filter())
        .into_iter()
        .filter(|p| horizon.is_none_or(|h| p.api_token_expires_at.is_some_and(|e| e <= h)))
        .cloned()
        .collect();
    principals.sort_by(|a, b| a.principal_id.cmp(&b.principal_id));
    paginate(
        principals,
        |p| p.principal_id.clone(),
        q.cursor.as_deref(),
        limit(q.limit)?,
    )
}

async fn principals(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<GrantQuery>,
) -> ApiResult<Json<Page<Principal>>> {
    Ok(Json(principal_page(&state, &name, &q).await?))
}

async fn grants(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<GrantQuery>,
) -> ApiResult<Json<Page<Grant>>> {
    Ok(Json(grant_page(&state, &name, &q).await?))
}

#[derive(Debug, Default, Deserialize)]
struct PagingQuery {
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn roles(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<PagingQuery>,
) -> ApiResult<Json<Page<AccessRole>>> {
    let mut roles = snapshot(&state, &name).await?.roles;
    roles.sort_by(|a, b| a.role_id.cmp(&b.role_id));
    Ok(Json(paginate(
        roles,
        |r| r.role_id.clone(),
        q.cursor.as_deref(),
        limit(q.limit)?,
    )?))
}

/// Change events of a console, oldest first (by time, then id).
pub async fn change_page(
    state: &AppState,
    console: &str,
    q: &SinceQuery,
) -> ApiResult<Page<AccessChange>> {
    state.console(console).await?;
    let mut changes = state
        .store
        .list_access_changes(&AccessChangeFilter {
            console: Some(console.to_string()),
            since: since(q)?,
            limit: 0,
        })
        .await?;
    let key = |c: &AccessChange| (c.at.timestamp_micros(), c.change_id);
    changes.sort_by_key(key);
    paginate(changes, key, q.cursor.as_deref(), limit(q.limit)?)
}

async fn changes(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<SinceQuery>,
) -> ApiResult<Json<Page<AccessChange>>> {
    Ok(Json(change_page(&state, &name, &q).await?))
}

/// Audit entries of a console, newest first (by time, then id).
pub async fn audit_page(
    state: &AppState,
    console: &str,
    q: &SinceQuery,
) -> ApiResult<Page<AuditEntry>> {
    state.console(console).await?;
    let mut entries = state
        .store
        .list_audit(&AuditFilter {
            console: Some(console.to_string()),
            since: since(q)?,
            action: q.action.clone().filter(|a| !a.trim().is_empty()),
            limit: 0,
        })
        .await?;
    let key = |e: &AuditEntry| (-e.at.timestamp_micros(), -e.id);
    entries.sort_by_key(key);
    paginate(entries, key, q.cursor.as_deref(), limit(q.limit)?)
}

async fn audit(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<SinceQuery>,
) -> ApiResult<Json<Page<AuditEntry>>> {
    Ok(Json(audit_page(&state, &name, &q).await?))
}

fn scope_cell(ty: Option<ScopeType>, id: Option<&str>, name: Option<&str>) -> String {
    match (ty, id) {
        (Some(t), Some(id)) => format!("{}:{}", ui::esc(t.as_str()), ui::esc(name.unwrap_or(id))),
        (Some(t), None) => ui::esc(t.as_str()),
        _ => String::new(),
    }
}

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    console: Option<String>,
    who_has: Option<String>,
    on: Option<String>,
    principal: Option<String>,
    cursor: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Html<String>> {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut body = String::from("<h1>Access</h1>");
    let Some((console, select)) = super::page_console(&state, q.console.as_deref()).await? else {
        body.push_str("<p class=\"muted\">No console is configured.</p>");
        return Ok(ui::layout(&state, "Access", "/ui/access", &body));
    };
    let snap = snapshot(&state, &console).await?;
    body.push_str(&format!(
        "<form class=\"filters\" method=\"get\" action=\"/ui/access\">\
         {select} \
         <label>Role <input name=\"who_has\" id=\"who_has\" value=\"{}\" placeholder=\"Admin\"></label> \
         <label>Scope <input name=\"on\" id=\"on\" value=\"{}\" placeholder=\"site:ID\"></label> \
         <label>Principal <input name=\"principal\" id=\"principal\" value=\"{}\" placeholder=\"email or id\"></label> \
         <button type=\"submit\">Filter</button></form>",
        ui::esc(&text(&q.who_has)),
        ui::esc(&text(&q.on)),
        ui::esc(&text(&q.principal)),
    ));
    body.push_str(&match snap.synced_at {
        None => format!(
            "<p class=\"muted\">No access data for {} yet: sync the access feature.</p>",
            ui::esc(&console)
        ),
        Some(at) => format!(
            "<p>{} principals, {} roles, {} grants; last access sync {}{}</p>",
            snap.principals.len(),
            snap.roles.len(),
            snap.grants.len(),
            ui::when(at),
            if snap.complete {
                ""
            } else {
                " (partial: the token saw only part of the console)"
            }
        ),
    });

    body.push_str("<h2>Who holds what where</h2>");
    let gq = GrantQuery {
        who_has: q.who_has.clone(),
        on: q.on.clone(),
        principal: q.principal.clone(),
        limit: Some(200),
        cursor: q.cursor.clone(),
        ..GrantQuery::default()
    };
    let grants = grant_page(&state, &console, &gq).await?;
    let rows: Vec<Vec<String>> = grants
        .items
        .iter()
        .map(|g| {
            vec![
                ui::esc(
                    g.email
                        .as_deref()
                        .or(g.principal_name.as_deref())
                        .unwrap_or(&g.principal_id),
                ),
                ui::esc(g.principal_kind.as_str()),
                ui::esc(g.role_name.as_deref().unwrap_or(&g.role_id)),
                ui::esc(g.scope_type.as_str()),
                ui::esc(
                    g.scope_name
                        .as_deref()
                        .or(g.scope_id.as_deref())
                        .unwrap_or(""),
                ),
            ]
        })
        .collect();
    body.push_str(&ui::table(
        "grants",
        &["Principal", "Kind", "Role", "Scope type", "Scope"],
        &rows,
    ));
    body.push_str(&ui::next_link(
        "/ui/access",
        &[
            ("console", &console),
            ("who_has", &text(&q.who_has)),
            ("on", &text(&q.on)),
            ("principal", &text(&q.principal)),
        ],
        grants.next_cursor.as_deref(),
    ));

    let now = Utc::now();
    body.push_str(&format!(
        "<h2>Service-user tokens expiring within {TOKEN_WARNING_DAYS} days</h2>"
    ));
    let rows: Vec<Vec<String>> = snap
        .expiring_tokens(now, chrono::Duration::days(TOKEN_WARNING_DAYS))
        .into_iter()
        .filter(|p| p.principal_kind == PrincipalKind::ServiceUser)
        .map(|p| {
            let exp = p.api_token_expires_at.unwrap_or(now);
            vec![
                ui::esc(p.label()),
                ui::esc(&p.principal_id),
                ui::when(exp),
                if exp <= now {
                    ui::badge("expired", "bad")
                } else {
                    ui::badge(&format!("in {} days", (exp - now).num_days()), "warn")
                },
            ]
        })
        .collect();
    body.push_str(&ui::table(
        "expiring-tokens",
        &["Service user", "Id", "Expires", "When"],
        &rows,
    ));

    body.push_str("<h2>Recent changes</h2>");
    let mut recent = state
        .store
        .list_access_changes(&AccessChangeFilter {
            console: Some(console.clone()),
            since: Some(now - chrono::Duration::days(30)),
            limit: 0,
        })
        .await?;
    recent.reverse();
    recent.truncate(50);
    let rows: Vec<Vec<String>> = recent
        .iter()
        .map(|c| {
            let class = match c.kind {
                AccessChangeKind::PrincipalRemoved | AccessChangeKind::GrantRemoved => "bad",
                AccessChangeKind::TokenExpiring | AccessChangeKind::RoleChanged => "warn",
                _ => "muted",
            };
            vec![
                ui::when(c.at),
                ui::badge(c.kind.as_str(), class),
                ui::esc(&c.principal),
                ui::esc(
                    c.role_name
                        .as_deref()
                        .or(c.role_id.as_deref())
                        .unwrap_or(""),
                ),
                scope_cell(c.scope_type, c.scope_id.as_deref(), c.scope_name.as_deref()),
                ui::esc(c.detail.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    body.push_str(&ui::table(
        "changes",
        &["When", "Change", "Principal", "Role", "Scope", "Detail"],
        &rows,
    ));

    body.push_str("<h2>Audit log</h2>");
    let entries = state
        .store
        .list_audit(&AuditFilter {
            console: Some(console.clone()),
            limit: 20,
            ..AuditFilter::default()
        })
        .await?;
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                ui::when(e.at),
                ui::esc(&e.actor),
                ui::esc(&e.action),
                ui::esc(&e.target),
                ui::esc(&e.result),
            ]
        })
        .collect();
    body.push_str(&ui::table(
        "audit",
        &["When", "Actor", "Action", "Target", "Result"],
        &rows,
    ));
    Ok(ui::layout(&state, "Access", "/ui/access", &body))
}

/// Example values for the OpenAPI schemas.
mod samples {
    use s1bridge_store::{
        AccessChange, AccessChangeKind, AccessRole, AuditEntry, Grant, Principal, PrincipalKind,
        ScopeType,
    };

    use crate::openapi::samples::t;

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    pub fn principal() -> Principal {
        Principal {
            console: "prod".into(),
            principal_id: "100".into(),
            principal_kind: PrincipalKind::User,
            email: s("ann@example.com"),
            name: s("Ann Example"),
            scope: s("site"),
            api_token_expires_at: Some(t()),
            last_login_at: Some(t()),
            first_seen_at: t(),
            last_seen_at: t(),
        }
    }

    pub fn grant() -> Grant {
        Grant {
            principal_id: "100".into(),
            principal_kind: PrincipalKind::User,
            email: s("ann@example.com"),
            principal_name: s("Ann Example"),
            role_id: "200".into(),
            role_name: s("Admin"),
            scope_type: ScopeType::Site,
            scope_id: s("300"),
            scope_name: s("Lab"),
        }
    }

    pub fn role() -> AccessRole {
        AccessRole {
            role_id: "200".into(),
            name: "Admin".into(),
            predefined: false,
            description: s("Full access"),
            scope: s("account"),
            scope_id: s("1"),
        }
    }

    pub fn change() -> AccessChange {
        AccessChange {
            change_id: 1,
            console: "prod".into(),
            run_id: Some(7),
            at: t(),
            kind: AccessChangeKind::RoleChanged,
            principal_id: "100".into(),
            principal_kind: PrincipalKind::User,
            principal: "ann@example.com".into(),
            role_id: s("200"),
            role_name: s("Admin"),
            scope_type: Some(ScopeType::Site),
            scope_id: s("300"),
            scope_name: s("Lab"),
            detail: s("Viewer → Admin"),
        }
    }

    pub fn audit() -> AuditEntry {
        AuditEntry {
            id: 1,
            console: "prod".into(),
            at: t(),
            actor: "ann@host".into(),
            action: "access.grant".into(),
            target: "user 100 (ann@example.com): Admin on site:300".into(),
            dry_run: false,
            request: serde_json::json!({"method": "PUT", "path": "/web/api/v2.1/users/100", "body": {}}),
            before: serde_json::json!({"scopeRoles": []}),
            after: serde_json::json!({"scopeRoles": []}),
            result: "ok".into(),
            run_id: Some(7),
        }
    }
}

#[async_trait::async_trait]
impl FeatureModule for Access {
    fn name(&self) -> &'static str {
        "access"
    }

    fn endpoints(&self) -> Vec<Endpoint> {
        let name = || Param::path("name", "The console name.");
        let filters = || {
            vec![
                name(),
                Param::query(
                    "who_has",
                    "string",
                    "Only grants of this role (id or name).",
                ),
                Param::query(
                    "on",
                    "string",
                    "Only grants on this scope: tenant, account:ID, site:ID (or an id or name).",
                ),
                Param::query(
                    "principal",
                    "string",
                    "Only this principal (id, email or name).",
                ),
            ]
        };
        let with_paging = |mut p: Vec<Param>| {
            p.extend(paging_params());
            p
        };
        let since = Param::query(
            "since",
            "string",
            "Only entries at or after this date (YYYY-MM-DD or RFC 3339).",
        );
        let mut principal_params = filters();
        principal_params.push(Param::query(
            "expiring_days",
            "integer",
            "Only principals whose API token expires within this many days (expired ones included).",
        ));
        vec![
            Endpoint {
                method: Method::Get,
                path: "/api/v1/consoles/{name}/access/principals",
                summary: "Users and service users, by id; with filters, those holding a matching grant (`s1bridge access --json` principals).",
                params: with_paging(principal_params),
                response: "PrincipalPage",
                status: 200,
                admin: false,
                handler: get(principals),
            },
            Endpoint {
                method: Method::Get,
                path: "/api/v1/consoles/{name}/access/grants",
                summary: "Scope-exact grants (principal, role, scope), by principal and scope (`s1bridge access --json` grants).",
                params: with_paging(filters()),
                response: "GrantPage",
                status: 200,
                admin: false,
                handler: get(grants),
            },
            Endpoint {
                method: Method::Get,
                path: "/api/v1/consoles/{name}/access/roles",
                summary: "RBAC roles (predefined and custom), by id.",
                params: with_paging(vec![name()]),
                response: "RolePage",
                status: 200,
                admin: false,
                handler: get(roles),
            },
            Endpoint {
                method: Method::Get,
                path: "/api/v1/consoles/{name}/access/changes",
                summary: "Access change events, oldest first (`s1bridge access --changes --json`).",
                params: with_paging(vec![name(), since.clone()]),
                response: "AccessChangePage",
                status: 200,
                admin: false,
                handler: get(changes),
            },
            Endpoint {
                method: Method::Get,
                path: "/api/v1/consoles/{name}/audit",
                summary: "Every write s1bridge made or tried to make to the console, newest first (`s1bridge audit --json`).",
                params: with_paging(vec![
                    name(),
                    since,
                    Param::query(
                        "action",
                        "string",
                        "Only this action (`access.grant`) or family (`access`).",
                    ),
                ]),
                response: "AuditPage",
                status: 200,
                admin: false,
                handler: get(audit),
            },
        ]
    }

    fn schemas(&self) -> Vec<(&'static str, serde_json::Value)> {
        fn page<T: serde::Serialize>(item: T) -> serde_json::Value {
            serde_json::to_value(Page {
                items: vec![item],
                next_cursor: Some("cursor".to_string()),
            })
            .unwrap_or_default()
        }
        vec![
            ("PrincipalPage", page(samples::principal())),
            ("GrantPage", page(samples::grant())),
            ("RolePage", page(samples::role())),
            ("AccessChangePage", page(samples::change())),
            ("AuditPage", page(samples::audit())),
        ]
    }

    fn nav(&self) -> Option<(&'static str, &'static str)> {
        Some(("/ui/access", "Access"))
    }

    fn pages(&self) -> Router<AppState> {
        Router::new().route("/ui/access", get(page))
    }

    async fn overview_counts(&self, state: &AppState, console: &str) -> Vec<(String, String)> {
        match state.store.load_access(console).await {
            Ok(s) => vec![
                ("Principals".into(), s.principals.len().to_string()),
                ("Grants".into(), s.grants.len().to_string()),
            ],
            Err(e) => vec![("Access".into(), format!("error: {e}"))],
        }
    }
}

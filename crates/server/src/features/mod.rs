//! Feature modules: each product feature brings its own API endpoints (with their OpenAPI
//! description), schemas, dashboard pages, navigation entry and overview counts. The API, the
//! OpenAPI document, the navigation and the overview are assembled from [`modules`].
//!
//! To add a feature (access, AI agents, indicators): write `features/<name>.rs` with a type
//! implementing [`FeatureModule`], declare it below and append it to [`modules`]. Nothing else
//! changes; then regenerate `openapi.json` (`UPDATE_OPENAPI=1 cargo test -p s1bridge-server
//! --test api openapi`).

use axum::Router;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::routing::MethodRouter;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::ApiError;

pub mod access;
pub mod ai_agents;
pub mod devices;
pub mod indicators;
pub mod vulnerabilities;
pub mod workers;

/// Every feature module of this build, in navigation order.
pub fn modules() -> Vec<Box<dyn FeatureModule>> {
    vec![
        Box::new(devices::Devices),
        Box::new(vulnerabilities::Vulnerabilities),
        Box::new(access::Access),
        Box::new(ai_agents::AiAgents),
        Box::new(indicators::Indicators),
        Box::new(workers::Workers),
    ]
}

/// One feature's contribution to the service.
#[async_trait::async_trait]
pub trait FeatureModule: Send + Sync {
    /// The feature name (`devices`, `vulnerabilities`, …).
    fn name(&self) -> &'static str;
    /// API endpoints under `/api/v1`.
    fn endpoints(&self) -> Vec<Endpoint>;
    /// Named example values of the JSON this feature returns; the OpenAPI schemas are derived
    /// from them (so a field added to a type shows up in the document, and the drift test fails
    /// until `openapi.json` is regenerated).
    fn schemas(&self) -> Vec<(&'static str, serde_json::Value)>;
    /// The dashboard navigation entry: (path, label).
    fn nav(&self) -> Option<(&'static str, &'static str)>;
    /// Dashboard pages (behind the key cookie).
    fn pages(&self) -> Router<AppState>;
    /// (label, value) counts for the overview card of `console`.
    async fn overview_counts(&self, state: &AppState, console: &str) -> Vec<(String, String)>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "post",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum In {
    Path,
    Query,
}

/// A parameter, for the OpenAPI document.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: &'static str,
    pub location: In,
    /// `string|integer|boolean`.
    pub kind: &'static str,
    pub description: &'static str,
}

impl Param {
    pub const fn path(name: &'static str, description: &'static str) -> Param {
        Param {
            name,
            location: In::Path,
            kind: "string",
            description,
        }
    }
    pub const fn query(name: &'static str, kind: &'static str, description: &'static str) -> Param {
        Param {
            name,
            location: In::Query,
            kind,
            description,
        }
    }
}

/// The parameters every list takes.
pub fn paging_params() -> [Param; 2] {
    [
        Param::query("limit", "integer", "Items per page (1–1000, default 100)."),
        Param::query(
            "cursor",
            "string",
            "The `next_cursor` of the previous page.",
        ),
    ]
}

/// One API endpoint: its route and its description.
pub struct Endpoint {
    pub method: Method,
    /// Under the server root, e.g. `/api/v1/devices`.
    pub path: &'static str,
    pub summary: &'static str,
    pub params: Vec<Param>,
    /// The name of the response schema (a key of some module's `schemas`), or `text` for
    /// plain text.
    pub response: &'static str,
    /// 200, or 202 for accepted work.
    pub status: u16,
    /// Needs an admin key (read keys get 403 `forbidden`).
    pub admin: bool,
    pub handler: MethodRouter<AppState>,
}

/// `Query<T>` whose rejection is a JSON error with code `invalid_parameter`.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e| ApiError::bad_request("invalid_parameter", e.body_text()))
    }
}

/// Split a comma-separated filter value.
pub fn csv(v: &Option<String>) -> Vec<String> {
    v.as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// The console a per-console page shows: the requested one, else the first; with a `<select
/// name="console">` of every console. `None` when no console is known.
pub async fn page_console(
    state: &AppState,
    requested: Option<&str>,
) -> Result<Option<(String, String)>, ApiError> {
    let consoles = state.consoles().await?;
    let Some(console) = requested
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .or_else(|| consoles.first().map(|c| c.name.clone()))
    else {
        return Ok(None);
    };
    let mut select = String::from("<label>Console <select name=\"console\" id=\"console\">");
    for c in &consoles {
        select.push_str(&format!(
            "<option value=\"{0}\"{1}>{0}</option>",
            crate::ui::esc(&c.name),
            if c.name == console { " selected" } else { "" }
        ));
    }
    select.push_str("</select></label>");
    Ok(Some((console, select)))
}

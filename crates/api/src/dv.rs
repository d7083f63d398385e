//! Deep Visibility and PowerQuery payloads (research/s1-api.md §6.10; samples `dv-*.json`).
//!
//! Deep Visibility: `POST /dv/init-query` → `queryId`; `GET /dv/query-status` until a terminal
//! `responseState`; `GET /dv/events` paged with a cursor. PowerQuery: `POST /dv/events/pq` →
//! `status` RUNNING/FINISHED with `columns` + row arrays; `GET /dv/events/pq-ping` until FINISHED.

use serde::{Deserialize, Serialize};

use crate::lenient;

/// Body of `POST /dv/init-query` (top level, no `data` wrapper).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DvInitQuery {
    pub query: String,
    /// ISO-8601 UTC, e.g. `2024-01-01T00:00:00.000000Z`.
    pub from_date: String,
    pub to_date: String,
    /// 1–100,000 (events the query may collect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `["events"]` or `["processState"]`.
    #[serde(default)]
    pub query_type: Vec<String>,
    #[serde(default)]
    pub is_verbose: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub site_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub account_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct QueryModeInfo {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub last_activated_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub mode: Option<String>,
}

/// `data` of `POST /dv/init-query`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DvQueryCreated {
    #[serde(deserialize_with = "lenient::string")]
    pub query_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_mode_info: Option<QueryModeInfo>,
}

/// `data` of `GET /dv/query-status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DvQueryStatus {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub progress_status: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_mode_info: Option<QueryModeInfo>,
    /// Only for FAILED / FAILED_CLIENT.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub response_error: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub response_state: Option<String>,
    #[serde(default, deserialize_with = "lenient::strings_or_null")]
    pub warnings: Vec<String>,
}

/// The states of a Deep Visibility query (Swagger enum plus the extra values its description
/// lists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DvState {
    /// Still working: RUNNING, PLANNING, QUERY_RUNNING, PROCESS_RUNNING, EVENTS_RUNNING.
    Running(String),
    Finished,
    /// Finished with nothing to page.
    EmptyResults,
    /// FAILED, FAILED_CLIENT, ERROR, TIMED_OUT, QUERY_CANCELLED / QUERY_CANCEL, QUERY_EXPIRED,
    /// QUERY_NOT_FOUND, a missing state, or a value this build does not know.
    Failed(String),
}

impl DvState {
    pub fn parse(state: Option<&str>) -> DvState {
        match state.map(str::trim) {
            Some(
                s @ ("RUNNING" | "PLANNING" | "QUERY_RUNNING" | "PROCESS_RUNNING"
                | "EVENTS_RUNNING"),
            ) => DvState::Running(s.to_string()),
            Some("FINISHED") => DvState::Finished,
            Some("EMPTY_RESULTS") => DvState::EmptyResults,
            Some(other) if !other.is_empty() => DvState::Failed(other.to_string()),
            _ => DvState::Failed("(no responseState)".to_string()),
        }
    }
}

/// One event of `GET /dv/events`. For a `Process Creation` event the `process*` fields describe
/// the created process and `parentProcessName` its creator. Keys are those of the real captures
/// (`dv-events.rapid7.json`, `threats-explore-events.swimlane.json`), alphabetical like theirs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DvEvent {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub account_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub agent_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub agent_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub agent_os: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub agent_uuid: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub endpoint_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub endpoint_os: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub event_time: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub event_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub object_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub parent_pid: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub parent_process_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub pid: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub process_cmd: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub process_image_path: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub process_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub process_user_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub site_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub site_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub user: Option<String>,
}

/// Body of `POST /dv/events/pq`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PqRequest {
    pub query: String,
    pub from_date: String,
    pub to_date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub site_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub account_ids: Vec<String>,
}

/// `columns[]` of a PowerQuery answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PqColumn {
    #[serde(default)]
    pub name: String,
    /// `STRING`, `INTEGER`, `UNKNOWN` …
    #[serde(default, rename = "type", deserialize_with = "lenient::opt_string")]
    pub kind: Option<String>,
}

/// One cell of a PowerQuery row.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum PqCell {
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
}

impl PqCell {
    /// The cell as text (numbers in their JSON form).
    pub fn text(&self) -> String {
        match self {
            PqCell::Int(i) => i.to_string(),
            PqCell::Float(f) => f.to_string(),
            PqCell::Bool(b) => b.to_string(),
            PqCell::Text(s) => s.clone(),
        }
    }
}

/// `data` of `POST /dv/events/pq` and `GET /dv/events/pq-ping`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PqResult {
    #[serde(default, deserialize_with = "lenient::vec_or_null")]
    pub columns: Vec<PqColumn>,
    #[serde(default, deserialize_with = "lenient::vec_or_null")]
    pub data: Vec<Vec<Option<PqCell>>>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub external_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub progress: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub query_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::strings_or_null")]
    pub recommendations: Vec<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub status: Option<String>,
}

impl PqResult {
    /// The rows as maps from column name to text (null cells absent).
    pub fn records(&self) -> Vec<std::collections::HashMap<&str, String>> {
        self.data
            .iter()
            .map(|row| {
                self.columns
                    .iter()
                    .zip(row)
                    .filter_map(|(c, v)| v.as_ref().map(|v| (c.name.as_str(), v.text())))
                    .collect()
            })
            .collect()
    }
}

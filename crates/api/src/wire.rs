//! Wire types of the SentinelOne Management API v2.1: the response envelope, the error body and
//! the entities s1bridge reads. One definition serves the client (which deserialises it,
//! tolerantly) and the simulator (which serialises it), so both speak the same shapes.
//!
//! Conventions (research/s1-api.md §8): ids are 18-19 digit numbers sent as JSON strings;
//! timestamps are ISO-8601 strings kept verbatim here (parsed leniently where used); unknown
//! fields are ignored; missing optional fields are `None`; numbers and booleans may arrive as
//! strings. Serialising emits `null` for `None`, like the console does.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::lenient;

/// `{"data": …, "pagination": {…}, "errors": …}`. `errors` on a 2xx is ignored (real consoles
/// send `"errors": [{}]` on successful deletes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub data: T,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination: Option<Pagination>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    // Field order = the console's (alphabetical) key order, so serialised bodies match it.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub next_cursor: Option<String>,
    /// Never trusted for loop control (it is 0 with `skipCount=true` and wrong on some paths).
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub total_items: Option<i64>,
}

impl Pagination {
    /// The cursor of the next page, or `None` at the end of data. `null`, `""` and the string
    /// `"null"` all mean the end (all three are seen in the wild).
    pub fn next(&self) -> Option<&str> {
        match self.next_cursor.as_deref() {
            None => None,
            Some(c) if c.trim().is_empty() || c.trim().eq_ignore_ascii_case("null") => None,
            Some(c) => Some(c),
        }
    }
}

/// The error envelope of every 4xx/5xx: `{"errors":[{"code":4010010,"detail":null,"title":"…"}]}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    #[serde(default, deserialize_with = "lenient::vec_or_null")]
    pub errors: Vec<ErrorItem>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorItem {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub code: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub detail: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub title: Option<String>,
}

/// `POST /users/api-token-details` and `GET /users/{id}/api-token-details`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TokenDetails {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub expires_at: Option<String>,
}

/// Request body of `POST /users/api-token-details`: `{"data":{"apiToken":"…"}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenDetailsRequest {
    pub api_token: String,
}

/// `GET /system/info`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SystemInfo {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub version: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub build: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub patch: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub release: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub latest_agent_version: Option<String>,
}

/// One `scopeRoles[]` entry: which role a principal holds on which scope (`id` is the scope id).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ScopeRole {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub account_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub role_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub role_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::strings_or_null")]
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiTokenInfo {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub expires_at: Option<String>,
}

/// `GET /user` (the token's own user) and `GET /users` items.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(default, deserialize_with = "lenient::string")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub full_name: Option<String>,
    /// `tenant|account|site`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub scope: Option<String>,
    #[serde(default, deserialize_with = "lenient::vec_or_null")]
    pub scope_roles: Vec<ScopeRole>,
    #[serde(default)]
    pub api_token: Option<ApiTokenInfo>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub can_generate_api_token: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub source: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub date_joined: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub last_login: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub two_fa_enabled: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub two_fa_status: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub email_verified: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_system: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub lowest_role: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NamedRef {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
}

/// `GET /service-users` items.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceUser {
    #[serde(default, deserialize_with = "lenient::string")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub scope: Option<String>,
    #[serde(default, deserialize_with = "lenient::vec_or_null")]
    pub scope_roles: Vec<ScopeRole>,
    #[serde(default)]
    pub api_token: Option<ApiTokenInfo>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_at: Option<String>,
    #[serde(default)]
    pub created_by: Option<NamedRef>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub updated_by: Option<NamedRef>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub last_activation: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Sku {
    #[serde(rename = "type", default, deserialize_with = "lenient::opt_string")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub total_licenses: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub unlimited: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub agents_in_sku: Option<i64>,
}

/// `licenses{bundles, modules, settings}` of accounts and sites; kept loosely typed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Licenses {
    #[serde(default, deserialize_with = "lenient::vec_or_null")]
    pub bundles: Vec<Value>,
    #[serde(default, deserialize_with = "lenient::vec_or_null")]
    pub modules: Vec<Value>,
    #[serde(default, deserialize_with = "lenient::vec_or_null")]
    pub settings: Vec<Value>,
}

/// `GET /accounts` items.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    #[serde(default, deserialize_with = "lenient::string")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub account_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub state: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub updated_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub expiration: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_default: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub external_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub number_of_sites: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub active_agents: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub total_licenses: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub usage_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub billing_mode: Option<String>,
    #[serde(default, deserialize_with = "lenient::vec_or_null")]
    pub skus: Vec<Sku>,
    #[serde(default)]
    pub licenses: Option<Licenses>,
}

/// `GET /sites` answers an object, not a list: `data{allSites{…}, sites[…]}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SitesData {
    #[serde(default)]
    pub all_sites: Option<AllSites>,
    #[serde(default, deserialize_with = "lenient::vec_or_null")]
    pub sites: Vec<Site>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AllSites {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub active_licenses: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub total_licenses: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Site {
    #[serde(default, deserialize_with = "lenient::string")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub account_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub account_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub active_licenses: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub creator: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub creator_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub expiration: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub external_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub health_status: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_default: Option<bool>,
    #[serde(default)]
    pub licenses: Option<Licenses>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub registration_token: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub site_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub sku: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub state: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub suite: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub total_licenses: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub unlimited_expiration: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub unlimited_licenses: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub updated_at: Option<String>,
}

/// `GET /groups` items.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    #[serde(default, deserialize_with = "lenient::string")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub site_id: Option<String>,
    #[serde(rename = "type", default, deserialize_with = "lenient::opt_string")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_default: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub inherits: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub rank: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub total_agents: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub creator: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub creator_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub filter_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub filter_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub registration_token: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterface {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::strings_or_null")]
    pub inet: Vec<String>,
    #[serde(default, deserialize_with = "lenient::strings_or_null")]
    pub inet6: Vec<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub physical: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub gateway_ip: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub gateway_mac_address: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ActiveDirectory {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub computer_distinguished_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::strings_or_null")]
    pub computer_member_of: Vec<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub last_user_distinguished_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::strings_or_null")]
    pub last_user_member_of: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AgentTag {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub key: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub value: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub assigned_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub assigned_by: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub assigned_by_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AgentTags {
    #[serde(default, deserialize_with = "lenient::vec_or_null")]
    pub sentinelone: Vec<AgentTag>,
}

/// `GET /agents` items: every field of the real captured agent (s1-samples/agents-list.*).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub account_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub account_name: Option<String>,
    #[serde(default)]
    pub active_directory: Option<ActiveDirectory>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub active_threats: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub agent_version: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub allow_remote_shell: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub apps_vulnerability_status: Option<String>,
    #[serde(default)]
    pub cloud_providers: Option<Value>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub computer_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub console_migration_status: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub core_count: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub cpu_count: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub cpu_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub detection_state: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub domain: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub encrypted_applications: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub external_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub external_ip: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub firewall_enabled: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub first_full_mode_time: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub group_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub group_ip: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub group_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub in_remote_shell_session: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub infected: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub installer_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_active: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_decommissioned: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_pending_uninstall: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_uninstalled: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_up_to_date: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub last_active_date: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub last_ip_to_mgmt: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub last_logged_in_user_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub license_key: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub location_enabled: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub location_type: Option<String>,
    #[serde(default)]
    pub locations: Option<Value>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub machine_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub mitigation_mode: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub mitigation_mode_suspicious: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub model_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::vec_or_null")]
    pub network_interfaces: Vec<NetworkInterface>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub network_quarantine_enabled: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub network_status: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub operational_state: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub operational_state_expiration: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub os_arch: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub os_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub os_revision: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub os_start_time: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub os_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub os_username: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub ranger_status: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub ranger_version: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub registered_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub remote_profiling_state: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub remote_profiling_state_expiration: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub scan_aborted_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub scan_finished_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub scan_started_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub scan_status: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub serial_number: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub site_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub site_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub storage_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub storage_type: Option<String>,
    #[serde(default)]
    pub tags: Option<AgentTags>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub threat_reboot_required: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub total_memory: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub updated_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::strings_or_null")]
    pub user_actions_needed: Vec<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub uuid: Option<String>,
}

/// `{"data":{"affected":n}}` of bulk actions and deletes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Affected {
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub affected: Option<i64>,
}

/// The projection of [`Agent`] that the device inventory stores. Decoding it skips the other
/// fields of each agent instead of building them, which halves decode time and the memory of a
/// page in flight (a 1,000-agent page is ~3.7 MB of JSON). Every field here has the same name
/// and type as in [`Agent`] (checked by a test), so it parses anything `Agent` parses.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentRecord {
    #[serde(default, deserialize_with = "lenient::string")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub uuid: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub computer_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub os_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub os_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub os_revision: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub os_arch: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub agent_version: Option<String>,
    #[serde(default, deserialize_with = "lenient::vec_or_null")]
    pub network_interfaces: Vec<NetworkInterface>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub external_ip: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub last_logged_in_user_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub account_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub account_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub site_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub site_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub group_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub group_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub machine_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub serial_number: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub domain: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub model_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub network_status: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub infected: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub active_threats: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub last_active_date: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub registered_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub updated_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_active: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_decommissioned: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub is_uninstalled: Option<bool>,
    #[serde(default)]
    pub tags: Option<AgentTags>,
}

#[cfg(test)]
mod projection_tests {
    use super::*;

    #[test]
    fn agent_record_is_a_true_projection_of_agent() {
        let full = serde_json::to_value(Agent::default()).unwrap();
        let proj = serde_json::to_value(AgentRecord::default()).unwrap();
        let (full, proj) = (full.as_object().unwrap(), proj.as_object().unwrap());
        for (k, v) in proj {
            let f = full
                .get(k)
                .unwrap_or_else(|| panic!("AgentRecord.{k} is not a field of Agent"));
            // Same JSON type for the default value (null, [] …).
            assert_eq!(
                std::mem::discriminant(f),
                std::mem::discriminant(v),
                "field {k} differs in type"
            );
        }
        // And a populated agent projects field by field.
        let mut a = Agent {
            id: "42".into(),
            computer_name: Some("h".into()),
            is_decommissioned: Some(true),
            active_threats: Some(3),
            ..Agent::default()
        };
        a.network_interfaces.push(NetworkInterface {
            inet: vec!["10.0.0.1".into()],
            ..Default::default()
        });
        let r: AgentRecord = serde_json::from_value(serde_json::to_value(&a).unwrap()).unwrap();
        assert_eq!(r.id, "42");
        assert_eq!(r.computer_name.as_deref(), Some("h"));
        assert_eq!(r.is_decommissioned, Some(true));
        assert_eq!(r.active_threats, Some(3));
        assert_eq!(r.network_interfaces[0].inet, vec!["10.0.0.1"]);
    }
}

/// One row of `GET /application-management/risks`: one (CVE, endpoint, application) finding.
/// Every field of the real captures (s1-samples/application-management-risks-*) plus the Swagger
/// VLN-SKU fields. Scores stay strings on the wire (`"7.80"`, exactly as the console sends them,
/// so re-serialising is faithful); use [`Risk::base_score_f64`] and friends for arithmetic.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Risk {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub application: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub application_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub application_vendor: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub application_version: Option<String>,
    /// CVSS base score as the console sends it: a decimal string, e.g. `"7.80"`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub base_score: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub cve_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub cvss_version: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub days_detected: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub detection_date: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub endpoint_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub endpoint_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub endpoint_type: Option<String>,
    /// `Not Defined|Unproven|Proof of Concept|Functional|High` (VLN SKU).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub exploit_code_maturity: Option<String>,
    /// `Not Defined|Unknown|Yes` in `/risks/cves`; not in the row schema, kept free-form and
    /// only serialised when set (so a row without it has exactly the console's key set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exploited_in_the_wild: Option<Value>,
    /// The console's row id (18-19 digits). A finding that disappears and comes back gets a
    /// new one.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub last_scan_date: Option<String>,
    /// `Succeeded|Failed`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub last_scan_result: Option<String>,
    /// `""` in every capture; typed `any` in the Swagger.
    #[serde(default)]
    pub mark_type: Option<Value>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub marked_by: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub marked_date: Option<String>,
    /// `Not mitigated|To be patched|On hold` (VLN SKU).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub mitigation_status: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub mitigation_status_change_time: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub mitigation_status_changed_by: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub mitigation_status_reason: Option<String>,
    /// NVD base score, a decimal string like `base_score`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub nvd_base_score: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub nvd_cvss_version: Option<String>,
    /// `windows|macos|linux|windows_legacy`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub os_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub published_date: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub reason: Option<String>,
    /// `Not Defined|Official Fix|Temporary Fix|Workaround|Unavailable`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub remediation_level: Option<String>,
    /// `Not Defined|Unknown|Reasonable|Confirmed`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub report_confidence: Option<String>,
    /// S1's risk score, a decimal string (VLN SKU).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub risk_score: Option<String>,
    /// Upper case: `CRITICAL|HIGH|MEDIUM|LOW|NONE`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub severity: Option<String>,
    /// `Detected|Removed` (`Removed` rows only with `includeRemovals=true`).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub status: Option<String>,
}

/// A decimal score string (`"7.80"`, `" 9.8 "`) as a number; `None` for missing or non-numeric.
fn score(s: Option<&str>) -> Option<f64> {
    s.and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite())
}

impl Risk {
    /// `baseScore` as a number (`"7.80"` → 7.8).
    pub fn base_score_f64(&self) -> Option<f64> {
        score(self.base_score.as_deref())
    }
    /// `nvdBaseScore` as a number.
    pub fn nvd_base_score_f64(&self) -> Option<f64> {
        score(self.nvd_base_score.as_deref())
    }
    /// `riskScore` as a number.
    pub fn risk_score_f64(&self) -> Option<f64> {
        score(self.risk_score.as_deref())
    }
}

/// `GET /installed-applications` items (the deprecated Application Risk API).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InstalledApplication {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub agent_computer_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub agent_domain: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub agent_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub agent_infected: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub agent_is_active: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub agent_is_decommissioned: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub agent_machine_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub agent_network_status: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub agent_operational_state: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub agent_os_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub agent_uuid: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub agent_version: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub installed_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub os_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub publisher: Option<String>,
    /// `none|low|medium|high|critical` (lower case in this API).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub risk_level: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub signed: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub size: Option<i64>,
    /// `app|kb|patch|chromeExtension|edgeExtension|firefoxExtension|safariExtension`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub r#type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub updated_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub version: Option<String>,
}

/// `GET /installed-applications/cves` items (deprecated API). `score` is a JSON number here.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InstalledApplicationCve {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub cve_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub link: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub published_at: Option<String>,
    /// `none|low|medium|high|critical`.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub risk_level: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_f64")]
    pub score: Option<f64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub updated_at: Option<String>,
}

/// `GET /application-management/inventory` items: one per (application, vendor).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InventoryApplication {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub application_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub application_vendor: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub application_versions_count: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub endpoints_count: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub estimate: Option<bool>,
}

/// `GET /application-management/inventory/endpoints` items: one application on one endpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InventoryEndpoint {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub account_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub application_installation_date: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub application_installation_path: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub application_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub core_count: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub cpe: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub cpu_count: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub detection_date: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub endpoint_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub endpoint_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub endpoint_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub endpoint_uuid: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub file_size: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub group_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub os_arch: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub os_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub os_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub os_version: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub site_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub version: Option<String>,
}

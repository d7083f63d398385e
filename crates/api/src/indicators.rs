//! Indicator wire types (research/s1-api.md §6.7–6.9): the blocklist (`/restrictions`, type
//! `black_hash`, one entry per OS type), firewall-control rules (`/firewall-control`) and
//! threat-intelligence IOCs (`/threat-intelligence/iocs`). Lenient on the way in (the samples
//! send `tenant` as `"true"`, null lists, placeholder objects), canonical on the way out.

use serde::{Deserialize, Serialize};

use crate::lenient;

/// The blocklist restriction type s1bridge creates; "any other value will create an Exclusion".
pub const BLACK_HASH: &str = "black_hash";

/// The OS types a blocklist entry is created for (one entry each).
pub const BLOCKLIST_OS_TYPES: [&str; 3] = ["windows", "macos", "linux"];

/// The OS types a firewall rule applies to (as SentinelOne's own SOAR connector sends them).
pub const FIREWALL_OS_TYPES: [&str; 4] = ["windows_legacy", "macos", "linux", "windows"];

/// The scope `filter` of a create call: `tenant` (global) or account/site/group ids.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ScopeFilter {
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "lenient::strings_or_null"
    )]
    pub account_ids: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "lenient::strings_or_null"
    )]
    pub site_ids: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "lenient::strings_or_null"
    )]
    pub group_ids: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_bool"
    )]
    pub tenant: Option<bool>,
}

impl ScopeFilter {
    /// Global scope (`{"tenant": true}`).
    pub fn global() -> Self {
        ScopeFilter {
            tenant: Some(true),
            ..Default::default()
        }
    }

    /// The same scope as list-query parameters (`tenant=true` or `accountIds=…`).
    pub fn query(&self) -> Vec<(String, String)> {
        let mut q = Vec::new();
        for (k, v) in [
            ("accountIds", &self.account_ids),
            ("siteIds", &self.site_ids),
            ("groupIds", &self.group_ids),
        ] {
            if !v.is_empty() {
                q.push((k.to_string(), v.join(",")));
            }
        }
        if let Some(t) = self.tenant {
            q.push(("tenant".to_string(), t.to_string()));
        }
        q
    }
}

// ---- blocklist (/restrictions) ----

/// A `GET /restrictions` item.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Restriction {
    #[serde(default, deserialize_with = "lenient::string")]
    pub id: String,
    #[serde(default, rename = "type", deserialize_with = "lenient::opt_string")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub value: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub os_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub source: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub scope_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub scope_path: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub user_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub user_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub updated_at: Option<String>,
}

/// The `data` of `POST /restrictions`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RestrictionData {
    #[serde(rename = "type", default, deserialize_with = "lenient::string")]
    pub kind: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub value: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub os_type: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub source: Option<String>,
}

/// `POST /restrictions` body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RestrictionCreate {
    pub data: RestrictionData,
    #[serde(default)]
    pub filter: ScopeFilter,
}

/// The `data` of `DELETE /restrictions`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RestrictionIds {
    #[serde(default, deserialize_with = "lenient::strings_or_null")]
    pub ids: Vec<String>,
    #[serde(rename = "type", default, deserialize_with = "lenient::string")]
    pub kind: String,
}

/// `DELETE /restrictions` body: `{"data":{"ids":[…],"type":"black_hash"}}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RestrictionDelete {
    pub data: RestrictionIds,
}

// ---- firewall control ----

/// `remoteHosts[]` / `location` style `{type, values}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct HostSpec {
    #[serde(rename = "type", default, deserialize_with = "lenient::string")]
    pub kind: String,
    #[serde(default, deserialize_with = "lenient::strings_or_null")]
    pub values: Vec<String>,
}

/// A `GET /firewall-control` item (the fields s1bridge reads; others are ignored).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FirewallRule {
    #[serde(default, deserialize_with = "lenient::string")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub action: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub direction: Option<String>,
    #[serde(default, deserialize_with = "lenient::strings_or_null")]
    pub os_types: Vec<String>,
    #[serde(default, deserialize_with = "lenient::vec_or_null")]
    pub remote_hosts: Vec<HostSpec>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub scope: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub scope_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub rule_category: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub creator: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub order: Option<i64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub created_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub updated_at: Option<String>,
}

/// The `data` of `POST /firewall-control`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FirewallRuleData {
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "lenient::string")]
    pub action: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub status: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub direction: Option<String>,
    #[serde(default, deserialize_with = "lenient::strings_or_null")]
    pub os_types: Vec<String>,
    #[serde(default, deserialize_with = "lenient::vec_or_null")]
    pub remote_hosts: Vec<HostSpec>,
    #[serde(default, deserialize_with = "lenient::strings_or_null")]
    pub tag_ids: Vec<String>,
}

/// `POST /firewall-control` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FirewallRuleCreate {
    pub data: FirewallRuleData,
    #[serde(default)]
    pub filter: ScopeFilter,
}

/// `PUT /firewall-control/{id}` body (Swagger `PutFirewallSchema`: only `data`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FirewallRuleUpdate {
    pub data: FirewallRuleData,
}

/// The most values one `remoteHosts[]` entry may hold (Swagger: `values.maxItems: 5000` in the
/// create, update and list schemas of `/firewall-control`).
pub const REMOTE_HOST_VALUES_MAX: usize = 5000;

/// `{"ids": […]}` filter of deletes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdsFilter {
    #[serde(default, deserialize_with = "lenient::strings_or_null")]
    pub ids: Vec<String>,
}

/// `DELETE /firewall-control` body: `{"filter":{"ids":[…]}}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct FirewallRuleDelete {
    pub filter: IdsFilter,
}

// ---- threat intelligence ----

/// A `GET /threat-intelligence/iocs` item.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Ioc {
    #[serde(default, deserialize_with = "lenient::string")]
    pub uuid: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub batch_id: Option<String>,
    /// Upper case: `IPV4|IPV6|DNS|MD5|SHA1|SHA256|URL`.
    #[serde(rename = "type", default, deserialize_with = "lenient::string")]
    pub kind: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub value: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub source: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub method: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub external_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub creator: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub scope: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub scope_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub upload_time: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub updated_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub creation_time: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub valid_until: Option<String>,
}

/// One item of the `data[]` of `POST /threat-intelligence/iocs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct IocData {
    #[serde(rename = "type", default, deserialize_with = "lenient::string")]
    pub kind: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub value: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub source: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub method: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub valid_until: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub name: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub description: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub external_id: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub creation_time: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient::opt_string"
    )]
    pub creator: Option<String>,
}

/// `POST /threat-intelligence/iocs` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct IocCreate {
    #[serde(default)]
    pub filter: ScopeFilter,
    #[serde(default, deserialize_with = "lenient::vec_or_null")]
    pub data: Vec<IocData>,
}

/// The filter of `DELETE /threat-intelligence/iocs`: the scope and the IOC uuids.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct IocDeleteFilter {
    #[serde(flatten)]
    pub scope: ScopeFilter,
    #[serde(default, deserialize_with = "lenient::strings_or_null")]
    pub uuids: Vec<String>,
}

/// `DELETE /threat-intelligence/iocs` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct IocDelete {
    pub filter: IocDeleteFilter,
}

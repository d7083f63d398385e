//! Vulnerability findings: identity, lifecycle and history.
//!
//! A finding is one (endpoint, application, version, CVE) of one console. That key is its
//! identity in s1bridge: the console's own row id may change (a finding that disappears and comes
//! back gets a new row id), the `finding_id` never does.
//!
//! Lifecycle (decided by the store, only ever after a complete pass):
//! * `new` — first seen in the current pass; becomes `open` when a later pass sees it again.
//! * `open` — seen again.
//! * `fixed` — absent after a complete pass while its device is still present.
//! * `reopened` — seen again after `fixed` (or `device_removed`); becomes `open` when a later pass
//!   sees it again.
//! * `device_removed` — absent because its device is gone (removed from the console): not a fix.
//!
//! Every status change is a [`FindingTransition`] with the run that caused it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The identity of a finding within a console.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FindingKey {
    pub agent_id: String,
    /// Application name without version (the console's `applicationName`).
    pub application: String,
    pub application_version: String,
    pub cve_id: String,
}

impl FindingKey {
    /// The stable public id: `f` + 16 hex digits of a 64-bit FNV-1a hash of the console and the
    /// key (fields separated by a byte that cannot occur in them). Same key → same id, forever.
    pub fn finding_id(&self, console: &str) -> String {
        format!("f{:016x}", self.finding_hash(console))
    }

    /// The 64-bit hash behind [`FindingKey::finding_id`] (which is `f` + its 16 hex digits), for
    /// backends that store it as a number.
    pub fn finding_hash(&self, console: &str) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        // The CVE id counts upper-cased (byte by byte: no copy per finding).
        for (part, upper) in [
            (console, false),
            (&self.agent_id, false),
            (&self.application, false),
            (&self.application_version, false),
            (&self.cve_id, true),
        ] {
            for &b in part.as_bytes().iter().chain(std::iter::once(&0x1f)) {
                let b = if upper { b.to_ascii_uppercase() } else { b };
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        h
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingStatus {
    New,
    Open,
    Fixed,
    Reopened,
    DeviceRemoved,
}

impl FindingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingStatus::New => "new",
            FindingStatus::Open => "open",
            FindingStatus::Fixed => "fixed",
            FindingStatus::Reopened => "reopened",
            FindingStatus::DeviceRemoved => "device_removed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "new" => FindingStatus::New,
            "open" => FindingStatus::Open,
            "fixed" => FindingStatus::Fixed,
            "reopened" => FindingStatus::Reopened,
            "device_removed" => FindingStatus::DeviceRemoved,
            _ => return None,
        })
    }
    /// Still a problem on the endpoint (as far as the last complete pass knows).
    pub fn is_active(self) -> bool {
        matches!(
            self,
            FindingStatus::New | FindingStatus::Open | FindingStatus::Reopened
        )
    }
}

/// One priority factor: `{name, effect, detail}` (effect in severity steps, signed).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PriorityFactor {
    pub name: String,
    pub effect: i32,
    pub detail: String,
}

/// What one sync saw of a finding (one row of the console), with the priority the engine
/// computed for it. The store keeps the latest observation of each finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingObservation {
    pub key: FindingKey,
    pub computer_name: Option<String>,
    pub application_vendor: Option<String>,
    /// The console's row id of this observation (changes when a finding comes back).
    pub console_row_id: Option<String>,
    /// As sent: `CRITICAL|HIGH|MEDIUM|LOW|NONE`.
    pub vendor_severity: Option<String>,
    pub cvss_score: Option<f64>,
    pub cvss_version: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
    pub detected_at: Option<DateTime<Utc>>,
    pub days_detected: Option<i64>,
    /// The console's status (`Detected|Removed`).
    pub console_status: Option<String>,
    pub mark_type: Option<String>,
    pub marked_by: Option<String>,
    pub marked_at: Option<DateTime<Utc>>,
    pub mark_reason: Option<String>,
    /// Exploit / KEV / EPSS / remediation fields the response carried (e.g.
    /// `exploitCodeMaturity`, `remediationLevel`, `riskScore`, `nvdBaseScore`), as a JSON object.
    pub extra: ExtraJson,
    /// `critical|high|medium|low|info`, computed by the engine.
    pub priority: String,
    /// Shared: findings with the same factors (same endpoint verdict, same CVE facts) may hold
    /// one list, and a backend may recognise it by identity (`Arc::ptr_eq`) instead of content.
    pub factors: Arc<[PriorityFactor]>,
    /// In the CISA Known Exploited Vulnerabilities catalog (false when unknown).
    pub kev: bool,
}

/// A stored finding: the PRODUCT.md vulnerability shape (plus a few extra fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub finding_id: String,
    pub console: String,
    pub agent_id: String,
    pub computer_name: Option<String>,
    pub cve_id: String,
    pub application: String,
    pub application_vendor: Option<String>,
    pub application_version: String,
    pub vendor_severity: Option<String>,
    pub cvss_score: Option<f64>,
    pub cvss_version: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
    pub detected_at: Option<DateTime<Utc>>,
    pub days_detected: Option<i64>,
    pub status: FindingStatus,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// When the last transition to `fixed` happened (null unless fixed).
    pub fixed_at: Option<DateTime<Utc>>,
    pub priority: String,
    pub factors: Vec<PriorityFactor>,
    /// In the CISA Known Exploited Vulnerabilities catalog (as of the sync that last saw it).
    pub kev: bool,
    pub console_row_id: Option<String>,
    pub console_status: Option<String>,
    pub mark_type: Option<String>,
    pub marked_by: Option<String>,
    pub marked_at: Option<DateTime<Utc>>,
    pub mark_reason: Option<String>,
    pub extra: serde_json::Value,
}

/// One status change of a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingTransition {
    pub finding_id: String,
    /// None for the first observation.
    pub from: Option<FindingStatus>,
    pub to: FindingStatus,
    pub at: DateTime<Utc>,
    /// The sync run that caused it.
    pub run_id: i64,
    /// Why, in words (e.g. "absent from a complete pass; device present").
    pub reason: String,
}

/// Which findings to list. Ordered by priority (critical first), then CVSS score (highest
/// first), then finding_id.
#[derive(Debug, Clone, Default)]
pub struct FindingFilter {
    pub console: Option<String>,
    /// Any of these statuses (empty = all).
    pub statuses: Vec<FindingStatus>,
    /// `critical|high|medium|low|info`: this priority or higher.
    pub min_priority: Option<String>,
    /// Exact CVE id (case-insensitive).
    pub cve_id: Option<String>,
    /// An agent id or a computer name (case-insensitive exact).
    pub device: Option<String>,
    /// Only findings in the CISA KEV catalog.
    pub kev_only: bool,
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingPageStats {
    /// Keys never stored before (a key repeated within the page counts once here).
    pub new: u64,
    /// `fixed`/`device_removed` findings seen again.
    pub reopened: u64,
    /// Every other observation (an existing finding that kept its status, or a repeat).
    pub updated: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingPassSummary {
    /// Findings seen by the pass.
    pub seen: u64,
    /// `new` → `open` on this completion.
    pub opened: u64,
    pub fixed: u64,
    pub device_removed: u64,
    /// Status per count after the pass, over the whole console.
    pub active: u64,
}

/// `critical|high|medium|low|info` (any case) as a number that orders them (4 to 0); `None`
/// for anything else. Backends store it to order the queue and filter by minimum priority.
pub fn priority_rank(priority: &str) -> Option<i64> {
    const RANKS: [(&str, i64); 5] = [
        ("critical", 4),
        ("high", 3),
        ("medium", 2),
        ("low", 1),
        ("info", 0),
    ];
    RANKS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(priority))
        .map(|&(_, rank)| rank)
}

/// The `extra` fields of an observation: a JSON object kept as its text. Both backends store the
/// text, so the sync writes it once per finding ([`ExtraJson::builder`]) instead of building a
/// map that a backend would serialise again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraJson(String);

impl Default for ExtraJson {
    fn default() -> Self {
        ExtraJson("{}".to_string())
    }
}

impl ExtraJson {
    /// Start an object; add fields with [`ExtraJsonBuilder::string`] / [`ExtraJsonBuilder::value`].
    pub fn builder() -> ExtraJsonBuilder {
        let mut text = String::with_capacity(320);
        text.push('{');
        ExtraJsonBuilder { text }
    }

    /// The text of `value` (normally an object).
    pub fn from_value(value: &serde_json::Value) -> Self {
        ExtraJson(value.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn to_value(&self) -> serde_json::Value {
        // Only the builder and `from_value` make one, and both write valid JSON.
        serde_json::from_str(&self.0)
            .unwrap_or_else(|_| serde_json::Value::Object(Default::default()))
    }
}

impl Serialize for ExtraJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for ExtraJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(d).map(|v| ExtraJson::from_value(&v))
    }
}

/// Writes an [`ExtraJson`] object field by field. The caller names each field once.
pub struct ExtraJsonBuilder {
    text: String,
}

impl ExtraJsonBuilder {
    fn key(&mut self, key: &str) {
        if self.text.len() > 1 {
            self.text.push(',');
        }
        push_json_string(&mut self.text, key);
        self.text.push(':');
    }

    /// Add `key: "value"`.
    pub fn string(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        push_json_string(&mut self.text, value);
        self
    }

    /// Add `key: value`.
    pub fn value(&mut self, key: &str, value: &serde_json::Value) -> &mut Self {
        self.key(key);
        self.text.push_str(&value.to_string());
        self
    }

    pub fn finish(mut self) -> ExtraJson {
        self.text.push('}');
        ExtraJson(self.text)
    }
}

/// `s` as a JSON string literal (quotes and escapes as serde_json writes them).
fn push_json_string(out: &mut String, s: &str) {
    if !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        // Escaping is rare in these fields; let serde_json do it.
        out.push_str(&serde_json::Value::String(s.to_string()).to_string());
    }
}

#[cfg(test)]
mod extra_json_tests {
    use super::ExtraJson;

    #[test]
    fn the_builder_writes_the_json_serde_json_reads() {
        let mut b = ExtraJson::builder();
        b.string("plain", "High")
            .string("quoted \"key\"", "a \"quote\", a \\ and a\nnewline\u{1}")
            .value("exploitedInTheWild", &serde_json::json!({"n": [1, null]}))
            .string("unicode", "é ✓");
        let extra = b.finish();
        assert_eq!(
            extra.to_value(),
            serde_json::json!({
                "plain": "High",
                "quoted \"key\"": "a \"quote\", a \\ and a\nnewline\u{1}",
                "exploitedInTheWild": {"n": [1, null]},
                "unicode": "é ✓",
            })
        );
        assert_eq!(ExtraJson::builder().finish().as_str(), "{}");
        assert_eq!(ExtraJson::default().to_value(), serde_json::json!({}));
        assert_eq!(
            ExtraJson::from_value(&serde_json::Value::Null).as_str(),
            "null"
        );
    }
}

#[cfg(test)]
mod finding_id_tests {
    use super::FindingKey;

    /// Finding ids are stored and handed to users: the same key must keep its id across
    /// versions (FNV-1a over the key, the CVE id upper-cased).
    #[test]
    fn a_finding_id_is_stable_and_ignores_the_cve_ids_case() {
        let key = |cve: &str| FindingKey {
            agent_id: "1502797527125478025".into(),
            application: "Apache Log4j".into(),
            application_version: "2.14.1".into(),
            cve_id: cve.into(),
        };
        assert_eq!(
            key("CVE-2021-44832").finding_id("prod"),
            "fe8d82fe8bea5db86"
        );
        assert_eq!(
            key("cve-2021-44832").finding_id("prod"),
            "fe8d82fe8bea5db86"
        );
        assert_ne!(
            key("CVE-2021-44832").finding_id("test"),
            "fe8d82fe8bea5db86"
        );
    }
}

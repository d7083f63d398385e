//! Explained re-prioritisation of vulnerability findings.
//!
//! Every finding gets an effective [`Priority`] computed from the vendor
//! severity (or the CVSS score when the console has no severity), adjusted by
//! a list of [`Factor`]s, each recorded as `{name, effect, detail}` so that
//! `s1bridge vulns --explain FINDING_ID` can show exactly why:
//!
//! | factor           | default effect | source                                             |
//! |------------------|----------------|----------------------------------------------------|
//! | `kev`            | +2             | CISA Known Exploited Vulnerabilities JSON file     |
//! | `epss`           | +1 at ≥ 0.5, −1 below 0.01 (only when a loaded KEV catalog rules out known exploitation) | FIRST EPSS CSV file |
//! | `exposed`        | +1             | a public address on one of the endpoint's own interfaces, or machine type `server` |
//! | `criticality`    | per rule       | criticality rules by site, group, tag or name pattern |
//! | `decommissioned` | −2             | the endpoint is decommissioned                      |
//! | `inactive`       | −1             | not seen for more than 30 days                      |
//! | `fixed_version`  | 0 (reported)   | an official fix exists                              |
//!
//! The result is `base + Σ effects`, clamped to `[floor, ceiling]`
//! (`info`..`critical` by default). Factors with effect 0 are kept when they
//! are informative, so the explanation lists everything that was considered.
//!
//! The library is pure: the only I/O is reading the two data files, in
//! [`Prioritizer::load`], [`Kev::load`] and [`Epss::load`]. A missing or
//! malformed file never fails the sync: it becomes a warning in
//! [`Prioritizer::warnings`] and that factor is simply absent.
//!
//! All defaults are listed in `DEFAULTS.md` and on [`PriorityConfig`].

mod config;
mod data;
mod engine;
mod glob;
mod net;

pub use config::{CriticalityRule, PriorityConfig};
pub use data::{DataFileError, DataKind, Epss, EpssScore, Kev, KevEntry, MAX_ROW_ERRORS, RowError};
pub use engine::Prioritizer;
pub use glob::Glob;
pub use net::public_ip;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// Effective priority of a finding, ordered from `Info` (lowest) to
/// `Critical` (highest). Serialised in lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Priority {
    /// All priorities, lowest first.
    pub const ALL: [Priority; 5] = [
        Priority::Info,
        Priority::Low,
        Priority::Medium,
        Priority::High,
        Priority::Critical,
    ];

    /// Lower-case name: `critical`, `high`, `medium`, `low`, `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Info => "info",
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
            Priority::Critical => "critical",
        }
    }

    /// Upper-case name, as the console shows severities.
    pub fn as_upper(self) -> &'static str {
        match self {
            Priority::Info => "INFO",
            Priority::Low => "LOW",
            Priority::Medium => "MEDIUM",
            Priority::High => "HIGH",
            Priority::Critical => "CRITICAL",
        }
    }

    /// Parses a console vendor severity (`CRITICAL`, `HIGH`, `MEDIUM`, `LOW`,
    /// `NONE`/`INFO`/`INFORMATIONAL`), case-insensitively and ignoring
    /// surrounding blanks. Unknown values give `None`.
    pub fn parse(s: &str) -> Option<Priority> {
        let s = s.trim();
        let eq = |w: &str| s.eq_ignore_ascii_case(w);
        if eq("critical") {
            Some(Priority::Critical)
        } else if eq("high") {
            Some(Priority::High)
        } else if eq("medium") {
            Some(Priority::Medium)
        } else if eq("low") {
            Some(Priority::Low)
        } else if eq("none") || eq("info") || eq("informational") {
            Some(Priority::Info)
        } else {
            None
        }
    }

    /// CVSS v3 qualitative rating: 9.0+ critical, 7.0+ high, 4.0+ medium,
    /// 0.1+ low, otherwise info.
    pub fn from_cvss(score: f64) -> Priority {
        if score >= 9.0 {
            Priority::Critical
        } else if score >= 7.0 {
            Priority::High
        } else if score >= 4.0 {
            Priority::Medium
        } else if score >= 0.1 {
            Priority::Low
        } else {
            Priority::Info
        }
    }

    /// Position on the scale: `Info` = 0 … `Critical` = 4.
    pub fn level(self) -> i32 {
        self as i32
    }

    /// The priority at `level`, clamped to the scale.
    pub fn from_level(level: i32) -> Priority {
        match level {
            i32::MIN..=0 => Priority::Info,
            1 => Priority::Low,
            2 => Priority::Medium,
            3 => Priority::High,
            _ => Priority::Critical,
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One adjustment considered for a finding.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Factor {
    /// Factor name: `base`, `kev`, `epss`, `exposed`, `criticality`,
    /// `decommissioned`, `inactive`, `fixed_version`.
    pub name: String,
    /// Steps on the priority scale: `+1` raises one level, `-2` lowers two,
    /// `0` means considered but not applied.
    pub effect: i32,
    /// Human-readable reason.
    pub detail: String,
}

impl Factor {
    pub fn new(name: impl Into<String>, effect: i32, detail: impl Into<String>) -> Factor {
        Factor {
            name: name.into(),
            effect,
            detail: detail.into(),
        }
    }

    /// `"+1"`, `"-2"` or `"0"`.
    pub fn effect_label(&self) -> String {
        if self.effect == 0 {
            "0".to_string()
        } else {
            format!("{:+}", self.effect)
        }
    }
}

/// The parts of a vulnerability finding the prioritiser looks at.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FindingInput {
    pub cve_id: String,
    /// Console severity (`CRITICAL`, `HIGH`, …); `None` or unknown falls back
    /// to the CVSS score.
    pub vendor_severity: Option<String>,
    pub cvss_score: Option<f64>,
    pub application: String,
    pub application_version: Option<String>,
    /// Whether a fixed version exists (e.g. remediation level "Official Fix").
    pub fixed_version_available: Option<bool>,
    pub exploit_code_maturity: Option<String>,
}

/// What [`Prioritizer::assess_facts`] reads of a finding, borrowed: a sync prioritising a
/// million findings builds no owned [`FindingInput`] for them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FindingFacts<'a> {
    pub cve_id: &'a str,
    pub vendor_severity: Option<&'a str>,
    pub cvss_score: Option<f64>,
    pub fixed_version_available: Option<bool>,
}

impl<'a> FindingFacts<'a> {
    pub fn of(f: &'a FindingInput) -> FindingFacts<'a> {
        FindingFacts {
            cve_id: &f.cve_id,
            vendor_severity: f.vendor_severity.as_deref(),
            cvss_score: f.cvss_score,
            fixed_version_available: f.fixed_version_available,
        }
    }
}

/// The parts of the affected endpoint the prioritiser looks at.
///
/// The site, group and machine-type strings are `Arc<str>` so that a caller holding the inputs
/// of a whole inventory (the findings pass keeps one per endpoint) shares one copy per distinct
/// value instead of one per endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceInput {
    pub agent_id: String,
    pub computer_name: String,
    pub site_id: Option<Arc<str>>,
    pub site_name: Option<Arc<str>>,
    pub group_id: Option<Arc<str>>,
    pub group_name: Option<Arc<str>>,
    /// Tags as `key=value` or plain `value`.
    pub tags: Vec<String>,
    /// Console machine type (`server`, `desktop`, `laptop`, …).
    pub machine_type: Option<Arc<str>>,
    /// Addresses of the endpoint's own network interfaces only — never the
    /// console's `externalIp`, which is usually the shared NAT egress address.
    pub ips: Vec<String>,
    pub is_decommissioned: bool,
    pub last_active_at: Option<DateTime<Utc>>,
}

/// The outcome for one finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    /// Vendor severity as parsed from the console (`None` when missing or unknown).
    pub vendor: Option<Priority>,
    /// Starting point: the vendor severity, else from CVSS, else medium.
    pub base: Priority,
    /// Effective priority: `base + Σ effects`, clamped to `[floor, ceiling]`.
    pub priority: Priority,
    /// Every factor considered, in evaluation order.
    pub factors: Vec<Factor>,
    /// Whether the CVE is in the CISA KEV catalog: `None` when that cannot be known (no
    /// catalog loaded, or no CVE id). A fact, independent of the weight given to it.
    #[serde(default)]
    pub in_kev: Option<bool>,
}

impl Assessment {
    /// Sum of all factor effects.
    pub fn total_effect(&self) -> i32 {
        self.factors.iter().map(|f| f.effect).sum()
    }
}

/// Readable multi-line explanation of an assessment, e.g.
///
/// ```text
/// vendor severity: HIGH
///    +2  kev             in CISA KEV since 2023-09-13, known ransomware use: Known
///     0  epss            EPSS 0.031 (percentile 0.710): below thresholds
/// result: HIGH → CRITICAL (+2 steps)
/// ```
pub fn explain(a: &Assessment) -> String {
    use fmt::Write as _;
    let mut out = String::new();
    let vendor = a.vendor.map(Priority::as_upper).unwrap_or("(none)");
    let _ = writeln!(out, "vendor severity: {vendor}");
    if a.vendor != Some(a.base) {
        let _ = writeln!(out, "base priority:   {}", a.base.as_upper());
    }
    if a.factors.is_empty() {
        let _ = writeln!(out, "  (no factors)");
    }
    for f in &a.factors {
        let _ = writeln!(
            out,
            "  {:>3}  {:<15} {}",
            f.effect_label(),
            f.name,
            f.detail
        );
    }
    let total = a.total_effect();
    let unclamped = a.base.level() + total;
    let total_label = if total == 0 {
        "0".to_string()
    } else {
        format!("{total:+}")
    };
    let _ = write!(
        out,
        "result: {} → {} ({} step{})",
        a.base.as_upper(),
        a.priority.as_upper(),
        total_label,
        if total.abs() == 1 { "" } else { "s" }
    );
    if unclamped != a.priority.level() {
        let bound = if unclamped > a.priority.level() {
            "ceiling"
        } else {
            "floor"
        };
        let _ = write!(out, ", clamped at the {bound} {}", a.priority.as_upper());
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_vendor_severities() {
        assert_eq!(Priority::parse("CRITICAL"), Some(Priority::Critical));
        assert_eq!(Priority::parse("high"), Some(Priority::High));
        assert_eq!(Priority::parse(" Medium "), Some(Priority::Medium));
        assert_eq!(Priority::parse("LOW"), Some(Priority::Low));
        assert_eq!(Priority::parse("NONE"), Some(Priority::Info));
        assert_eq!(Priority::parse("info"), Some(Priority::Info));
        assert_eq!(Priority::parse("UNKNOWN"), None);
        assert_eq!(Priority::parse(""), None);
    }

    #[test]
    fn ordering_and_levels() {
        assert!(Priority::Info < Priority::Low);
        assert!(Priority::High < Priority::Critical);
        for p in Priority::ALL {
            assert_eq!(Priority::from_level(p.level()), p);
        }
        assert_eq!(Priority::from_level(-7), Priority::Info);
        assert_eq!(Priority::from_level(12), Priority::Critical);
    }

    #[test]
    fn cvss_bands() {
        assert_eq!(Priority::from_cvss(9.0), Priority::Critical);
        assert_eq!(Priority::from_cvss(8.9), Priority::High);
        assert_eq!(Priority::from_cvss(7.0), Priority::High);
        assert_eq!(Priority::from_cvss(4.0), Priority::Medium);
        assert_eq!(Priority::from_cvss(3.9), Priority::Low);
        assert_eq!(Priority::from_cvss(0.1), Priority::Low);
        assert_eq!(Priority::from_cvss(0.0), Priority::Info);
    }

    #[test]
    fn serde_lower_case_and_effect_labels() {
        assert_eq!(
            serde_json::to_string(&Priority::Critical).ok().as_deref(),
            Some("\"critical\"")
        );
        let f = Factor::new("kev", 2, "x");
        assert_eq!(f.effect_label(), "+2");
        assert_eq!(Factor::new("d", -2, "").effect_label(), "-2");
        assert_eq!(Factor::new("z", 0, "").effect_label(), "0");
        assert_eq!(
            serde_json::to_value(Factor::new("d", -2, "gone")).ok(),
            Some(serde_json::json!({"name": "d", "effect": -2, "detail": "gone"}))
        );
    }
}

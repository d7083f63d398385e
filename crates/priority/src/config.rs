use crate::Priority;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Weights and thresholds of the prioritiser. Every field is optional in a
/// config file; a missing field takes the default documented on it (and
/// listed in `DEFAULTS.md`). Effects are steps on the scale
/// `info < low < medium < high < critical`: `+1` raises one level, `-2`
/// lowers two.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PriorityConfig {
    /// Path of the CISA Known Exploited Vulnerabilities catalog, in CISA's
    /// published JSON format (`known_exploited_vulnerabilities.json` from
    /// <https://www.cisa.gov/known-exploited-vulnerabilities-catalog>).
    /// Default: none — the KEV factor is off.
    pub kev_file: Option<PathBuf>,
    /// Path of a FIRST EPSS scores CSV (`epss_scores-YYYY-MM-DD.csv`, decompressed,
    /// from <https://www.first.org/epss/data_stats>). Default: none — the EPSS
    /// factor is off.
    pub epss_file: Option<PathBuf>,
    /// Effect when the CVE is listed in the KEV catalog. Default: `+2`.
    pub kev_effect: i32,
    /// EPSS bands as `[probability, effect]` pairs: the band with the highest
    /// probability that the CVE's score reaches applies (at most one band).
    /// Default: `[[0.5, 1]]` — a 50 %+ chance of exploitation within 30 days
    /// raises one level.
    pub epss_thresholds: Vec<(f64, i32)>,
    /// EPSS probability below which a finding is lowered by `epss_low_effect`,
    /// but only when a loaded KEV catalog confirms the CVE is not known to be
    /// exploited (no lowering when KEV is unavailable). Default: `0.01`.
    pub epss_low_threshold: f64,
    /// Effect of a very low EPSS score (see `epss_low_threshold`). Default: `-1`.
    pub epss_low_effect: i32,
    /// Effect when the endpoint is exposed: a public (non-private,
    /// non-reserved) address on one of its own interfaces, or machine type
    /// `server` when `server_counts_as_exposed`. The console's `externalIp`
    /// is never used (it is usually the NAT egress address of every device).
    /// Default: `+1`.
    pub exposed_effect: i32,
    /// Whether machine type `server` counts as exposed. Default: `true`.
    pub server_counts_as_exposed: bool,
    /// Rules marking business-critical (or unimportant) endpoints; every
    /// matching rule adds its effect. Default: none.
    pub criticality_rules: Vec<CriticalityRule>,
    /// Effect when the endpoint is decommissioned. Default: `-2`.
    pub decommissioned_effect: i32,
    /// An endpoint not active for more than this many days is inactive
    /// (checked only when it is not decommissioned; `0` turns the factor
    /// off). Default: `30`.
    pub inactive_days: u32,
    /// Effect when the endpoint is inactive. Default: `-1`.
    pub inactive_effect: i32,
    /// Effect when a fixed version exists. Default: `0` — a fix makes
    /// remediation actionable but does not change the risk, so it is reported
    /// as a factor with effect 0; set `1` to push fixable findings up.
    pub fixed_version_effect: i32,
    /// Lowest possible effective priority. Default: `info`.
    pub floor: Priority,
    /// Highest possible effective priority. Default: `critical`.
    pub ceiling: Priority,
}

impl Default for PriorityConfig {
    fn default() -> Self {
        PriorityConfig {
            kev_file: None,
            epss_file: None,
            kev_effect: 2,
            epss_thresholds: vec![(0.5, 1)],
            epss_low_threshold: 0.01,
            epss_low_effect: -1,
            exposed_effect: 1,
            server_counts_as_exposed: true,
            criticality_rules: Vec::new(),
            decommissioned_effect: -2,
            inactive_days: 30,
            inactive_effect: -1,
            fixed_version_effect: 0,
            floor: Priority::Info,
            ceiling: Priority::Critical,
        }
    }
}

/// Marks endpoints as more (or less) critical. All conditions that are set
/// must match (they are combined with AND); a rule with no condition never
/// matches. Comparisons are case-insensitive (ASCII).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriticalityRule {
    /// Name shown in the factor detail.
    pub name: String,
    /// Site name or site id.
    #[serde(default)]
    pub site: Option<String>,
    /// Group name or group id.
    #[serde(default)]
    pub group: Option<String>,
    /// Tag: `key=value` matches that exact tag; a bare `key` matches a tag
    /// equal to it or any `key=…` tag.
    #[serde(default)]
    pub tag: Option<String>,
    /// Glob on the computer name: `*` matches any run of characters, `?` one
    /// character, e.g. `srv-db-*`.
    #[serde(default)]
    pub name_pattern: Option<String>,
    /// Effect when the rule matches. Default: `+1`.
    #[serde(default = "default_rule_effect")]
    pub effect: i32,
}

fn default_rule_effect() -> i32 {
    1
}

use crate::data::cve_key;
use crate::{
    Assessment, CriticalityRule, DeviceInput, Epss, Factor, FindingFacts, FindingInput, Glob, Kev,
    Priority, PriorityConfig, public_ip,
};
use chrono::{DateTime, Duration, Utc};

/// A criticality rule with its conditions prepared for fast matching.
#[derive(Debug, Clone)]
struct CompiledRule {
    name: String,
    site: Option<String>,
    group: Option<String>,
    /// (whole tag, is the rule tag a bare key?)
    tag: Option<(String, bool)>,
    name_pattern: Option<(String, Glob)>,
    effect: i32,
}

impl CompiledRule {
    fn new(rule: &CriticalityRule) -> CompiledRule {
        let clean = |s: &Option<String>| {
            s.as_ref()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        CompiledRule {
            name: rule.name.clone(),
            site: clean(&rule.site),
            group: clean(&rule.group),
            tag: clean(&rule.tag).map(|t| {
                let bare = !t.contains('=');
                (t, bare)
            }),
            name_pattern: clean(&rule.name_pattern).map(|p| {
                let g = Glob::new(&p);
                (p, g)
            }),
            effect: rule.effect,
        }
    }

    fn has_condition(&self) -> bool {
        self.site.is_some()
            || self.group.is_some()
            || self.tag.is_some()
            || self.name_pattern.is_some()
    }

    /// All set conditions must hold; returns the matched values for the detail.
    fn matches(&self, d: &DeviceInput) -> Option<String> {
        if !self.has_condition() {
            return None;
        }
        let eq = |want: &str, have: &Option<std::sync::Arc<str>>| {
            have.as_deref()
                .is_some_and(|h| h.trim().eq_ignore_ascii_case(want))
        };
        let mut parts: Vec<String> = Vec::new();
        if let Some(site) = &self.site {
            if !(eq(site, &d.site_name) || eq(site, &d.site_id)) {
                return None;
            }
            parts.push(format!("site {site}"));
        }
        if let Some(group) = &self.group {
            if !(eq(group, &d.group_name) || eq(group, &d.group_id)) {
                return None;
            }
            parts.push(format!("group {group}"));
        }
        if let Some((tag, bare)) = &self.tag {
            let hit = d.tags.iter().find(|t| {
                let t = t.trim();
                t.eq_ignore_ascii_case(tag)
                    || (*bare
                        && t.split_once('=')
                            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case(tag)))
            })?;
            parts.push(format!("tag {hit}"));
        }
        if let Some((pattern, glob)) = &self.name_pattern {
            if !glob.is_match(&d.computer_name) {
                return None;
            }
            parts.push(format!("name {} ~ {pattern}", d.computer_name));
        }
        Some(parts.join(", "))
    }
}

/// Computes explained priorities. Build it once per sync with
/// [`Prioritizer::load`], then call [`Prioritizer::assess`] for every finding.
#[derive(Debug, Clone)]
pub struct Prioritizer {
    config: PriorityConfig,
    kev: Option<Kev>,
    epss: Option<Epss>,
    rules: Vec<CompiledRule>,
    /// Sorted by threshold, highest first.
    epss_bands: Vec<(f64, i32)>,
    floor: Priority,
    ceiling: Priority,
    /// Problems found while loading: unusable data files (that factor is off
    /// for this sync), skipped EPSS rows, ineffective config. Each names the
    /// file and line where there is one.
    pub warnings: Vec<String>,
}

impl Prioritizer {
    /// Loads the KEV and EPSS files named in `config`. Never fails: a missing
    /// or malformed file becomes a warning and its factor is left out.
    pub fn load(config: PriorityConfig) -> Prioritizer {
        let mut warnings = Vec::new();
        let kev = config
            .kev_file
            .as_ref()
            .and_then(|path| match Kev::load(path) {
                Ok(kev) => {
                    if kev.is_empty() {
                        warnings.push(format!(
                            "KEV file {}: the catalog lists no vulnerabilities — no finding will match it",
                            path.display()
                        ));
                    }
                    Some(kev)
                }
                Err(e) => {
                    warnings.push(format!("{e} — the KEV factor is off for this sync"));
                    None
                }
            });
        let epss = config
            .epss_file
            .as_ref()
            .and_then(|path| match Epss::load(path) {
                Ok(epss) => {
                    if epss.skipped_rows > 0 {
                        let shown: Vec<String> =
                            epss.row_errors.iter().take(5).map(|r| r.to_string()).collect();
                        warnings.push(format!(
                            "EPSS file {}: skipped {} malformed row{} ({}{}); the other {} scores are used",
                            path.display(),
                            epss.skipped_rows,
                            if epss.skipped_rows == 1 { "" } else { "s" },
                            shown.join("; "),
                            if epss.skipped_rows > shown.len() { "; …" } else { "" },
                            epss.len()
                        ));
                    }
                    if epss.is_empty() {
                        warnings.push(format!(
                            "EPSS file {}: no usable scores — the EPSS factor will not change any priority",
                            path.display()
                        ));
                    }
                    Some(epss)
                }
                Err(e) => {
                    warnings.push(format!("{e} — the EPSS factor is off for this sync"));
                    None
                }
            });
        let mut p = Prioritizer::with_data(config, kev, epss);
        warnings.append(&mut p.warnings);
        p.warnings = warnings;
        p
    }

    /// Builds a prioritiser from already-loaded data (the file paths in
    /// `config` are ignored).
    pub fn with_data(config: PriorityConfig, kev: Option<Kev>, epss: Option<Epss>) -> Prioritizer {
        let mut warnings = Vec::new();
        let rules: Vec<CompiledRule> = config
            .criticality_rules
            .iter()
            .map(CompiledRule::new)
            .collect();
        for r in &rules {
            if !r.has_condition() {
                warnings.push(format!(
                    "criticality rule `{}` has no site, group, tag or name_pattern; it never matches",
                    r.name
                ));
            }
        }
        let mut epss_bands: Vec<(f64, i32)> = Vec::with_capacity(config.epss_thresholds.len());
        for &(t, e) in &config.epss_thresholds {
            if t.is_finite() {
                epss_bands.push((t, e));
            } else {
                warnings.push(format!("EPSS threshold {t} is not a number; ignored"));
            }
        }
        epss_bands.sort_by(|a, b| b.0.total_cmp(&a.0));
        let (mut floor, mut ceiling) = (config.floor, config.ceiling);
        if floor > ceiling {
            warnings.push(format!(
                "priority floor {floor} is above ceiling {ceiling}; they are swapped"
            ));
            std::mem::swap(&mut floor, &mut ceiling);
        }
        Prioritizer {
            config,
            kev,
            epss,
            rules,
            epss_bands,
            floor,
            ceiling,
            warnings,
        }
    }

    pub fn config(&self) -> &PriorityConfig {
        &self.config
    }

    pub fn kev(&self) -> Option<&Kev> {
        self.kev.as_ref()
    }

    pub fn epss(&self) -> Option<&Epss> {
        self.epss.as_ref()
    }

    /// One line per data source saying whether its factor is active, for the
    /// sync summary.
    pub fn data_summary(&self) -> Vec<String> {
        let kev = match (&self.kev, &self.config.kev_file) {
            (Some(k), _) => format!(
                "KEV factor on: {} CVEs (catalog {})",
                k.len(),
                k.catalog_version.as_deref().unwrap_or("version unknown")
            ),
            (None, Some(p)) => format!("KEV factor off: {} could not be used", p.display()),
            (None, None) => "KEV factor off: no kev_file configured".to_string(),
        };
        let epss = match (&self.epss, &self.config.epss_file) {
            (Some(e), _) => format!(
                "EPSS factor on: {} CVEs (scores of {})",
                e.len(),
                e.score_date.as_deref().unwrap_or("unknown date")
            ),
            (None, Some(p)) => format!("EPSS factor off: {} could not be used", p.display()),
            (None, None) => "EPSS factor off: no epss_file configured".to_string(),
        };
        vec![kev, epss]
    }

    /// Effective priority of one finding on one endpoint, with every factor
    /// considered. `now` is the reference time for the inactivity factor.
    pub fn assess(
        &self,
        finding: &FindingInput,
        device: &DeviceInput,
        now: DateTime<Utc>,
    ) -> Assessment {
        self.assess_facts(&FindingFacts::of(finding), &self.assess_device(device, now))
    }

    /// The factors that depend on the endpoint alone — exposure, criticality rules,
    /// decommissioned or inactive — in evaluation order. A caller prioritising many findings
    /// per endpoint evaluates them once per endpoint and passes them to
    /// [`Prioritizer::assess_facts`]; [`Prioritizer::assess`] does both.
    pub fn assess_device(&self, device: &DeviceInput, now: DateTime<Utc>) -> Vec<Factor> {
        let cfg = &self.config;
        let mut factors: Vec<Factor> = Vec::with_capacity(3);

        // Exposure: own interface addresses only.
        let is_server = device
            .machine_type
            .as_deref()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("server"));
        if let Some(ip) = device.ips.iter().find_map(|a| public_ip(a)) {
            factors.push(Factor::new(
                "exposed",
                cfg.exposed_effect,
                format!("public address {ip} on one of its interfaces"),
            ));
        } else if is_server && cfg.server_counts_as_exposed {
            factors.push(Factor::new(
                "exposed",
                cfg.exposed_effect,
                "machine type server",
            ));
        } else {
            let mut detail = format!("no public interface address ({} checked)", device.ips.len());
            if is_server {
                detail.push_str(
                    "; machine type server not counted (server_counts_as_exposed = false)",
                );
            }
            factors.push(Factor::new("exposed", 0, detail));
        }

        // Criticality rules.
        for rule in &self.rules {
            if let Some(what) = rule.matches(device) {
                factors.push(Factor::new(
                    "criticality",
                    rule.effect,
                    format!("rule `{}` matched {what}", rule.name),
                ));
            }
        }

        // Lifecycle.
        if device.is_decommissioned {
            factors.push(Factor::new(
                "decommissioned",
                cfg.decommissioned_effect,
                "endpoint is decommissioned",
            ));
        } else if let (true, Some(last)) = (cfg.inactive_days > 0, device.last_active_at) {
            let age = now.signed_duration_since(last);
            if age > Duration::days(i64::from(cfg.inactive_days)) {
                factors.push(Factor::new(
                    "inactive",
                    cfg.inactive_effect,
                    format!(
                        "last active {} ({} days ago; threshold {} days)",
                        last.format("%Y-%m-%d"),
                        age.num_days(),
                        cfg.inactive_days
                    ),
                ));
            }
        }
        factors
    }

    /// Effective priority of one finding, given the factors of its endpoint from
    /// [`Prioritizer::assess_device`] (they are placed between the finding's threat factors
    /// and its fix availability, as [`Prioritizer::assess`] orders them).
    pub fn assess_facts(
        &self,
        finding: &FindingFacts<'_>,
        device_factors: &[Factor],
    ) -> Assessment {
        let cfg = &self.config;
        let mut factors: Vec<Factor> = Vec::with_capacity(5 + device_factors.len());

        // Base.
        let vendor = finding.vendor_severity.and_then(Priority::parse);
        let base = match vendor {
            Some(v) => v,
            None => {
                let why = match finding.vendor_severity.map(str::trim) {
                    Some(raw) if !raw.is_empty() => {
                        format!("vendor severity `{raw}` not recognised")
                    }
                    _ => "no vendor severity".to_string(),
                };
                match finding.cvss_score.filter(|s| s.is_finite()) {
                    Some(score) => {
                        let b = Priority::from_cvss(score);
                        factors.push(Factor::new(
                            "base",
                            0,
                            format!("{why}; from CVSS {score:.1}: {}", b.as_str()),
                        ));
                        b
                    }
                    None => {
                        factors.push(Factor::new(
                            "base",
                            0,
                            format!("{why} and no CVSS score: assumed medium"),
                        ));
                        Priority::Medium
                    }
                }
            }
        };

        let cve = cve_key(finding.cve_id);
        let has_cve = !cve.is_empty();

        // KEV. `in_kev` is None when it cannot be known.
        let in_kev = match &self.kev {
            _ if !has_cve => {
                factors.push(Factor::new("kev", 0, "finding has no CVE id"));
                None
            }
            None => {
                factors.push(Factor::new(
                    "kev",
                    0,
                    "KEV catalog not available: not considered",
                ));
                None
            }
            Some(kev) => match kev.get(&cve) {
                Some(e) => {
                    factors.push(Factor::new(
                        "kev",
                        cfg.kev_effect,
                        format!(
                            "in CISA KEV since {}, known ransomware use: {}",
                            e.date_added.as_deref().unwrap_or("(date unknown)"),
                            e.known_ransomware_campaign_use
                                .as_deref()
                                .unwrap_or("Unknown")
                        ),
                    ));
                    Some(true)
                }
                None => {
                    factors.push(Factor::new("kev", 0, "not in CISA KEV"));
                    Some(false)
                }
            },
        };

        // EPSS.
        match &self.epss {
            _ if !has_cve => {}
            None => factors.push(Factor::new(
                "epss",
                0,
                "EPSS scores not available: not considered",
            )),
            Some(epss) => match epss.get(&cve) {
                None => factors.push(Factor::new("epss", 0, format!("no EPSS score for {cve}"))),
                Some(s) => {
                    let shown = match s.percentile {
                        Some(p) => format!("EPSS {:.3} (percentile {:.3})", s.epss, p),
                        None => format!("EPSS {:.3}", s.epss),
                    };
                    let factor = if let Some(&(t, e)) =
                        self.epss_bands.iter().find(|(t, _)| s.epss >= *t)
                    {
                        Factor::new("epss", e, format!("{shown} ≥ {t}"))
                    } else if s.epss < cfg.epss_low_threshold {
                        match in_kev {
                            Some(false) => Factor::new(
                                "epss",
                                cfg.epss_low_effect,
                                format!(
                                    "{shown} < {} and not in KEV: exploitation unlikely",
                                    cfg.epss_low_threshold
                                ),
                            ),
                            Some(true) => Factor::new(
                                "epss",
                                0,
                                format!("{shown} is very low, but the CVE is in KEV: not lowered"),
                            ),
                            None => Factor::new(
                                "epss",
                                0,
                                format!(
                                    "{shown} is very low, but without KEV known exploitation cannot be ruled out: not lowered"
                                ),
                            ),
                        }
                    } else {
                        Factor::new("epss", 0, format!("{shown}: below thresholds"))
                    };
                    factors.push(factor);
                }
            },
        }

        factors.extend(device_factors.iter().cloned());

        // Fix availability.
        match finding.fixed_version_available {
            Some(true) => factors.push(Factor::new(
                "fixed_version",
                cfg.fixed_version_effect,
                "a fixed version is available: remediation is actionable",
            )),
            Some(false) => factors.push(Factor::new(
                "fixed_version",
                0,
                "no fixed version available yet",
            )),
            None => {}
        }

        let total: i32 = factors.iter().map(|f| f.effect).sum();
        let level = base
            .level()
            .saturating_add(total)
            .clamp(self.floor.level(), self.ceiling.level());
        Assessment {
            vendor,
            base,
            priority: Priority::from_level(level),
            factors,
            in_kev,
        }
    }
}

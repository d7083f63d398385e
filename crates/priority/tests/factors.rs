//! Each priority factor on its own, combinations, clamping and `explain`.

use chrono::{DateTime, Duration, TimeZone, Utc};
use s1bridge_priority::{
    Assessment, CriticalityRule, DeviceInput, Epss, Factor, FindingFacts, FindingInput, Kev,
    Prioritizer, Priority, PriorityConfig, explain,
};
use std::path::Path;

const KEV_JSON: &str = r#"{
  "title": "CISA Catalog of Known Exploited Vulnerabilities",
  "catalogVersion": "2025.11.20",
  "dateReleased": "2025-11-20T17:00:00.000Z",
  "count": 1,
  "vulnerabilities": [
    {
      "cveID": "CVE-2023-4863",
      "vendorProject": "Google",
      "product": "Chromium WebP",
      "vulnerabilityName": "Google Chromium WebP Heap-Based Buffer Overflow Vulnerability",
      "dateAdded": "2023-09-13",
      "shortDescription": "heap buffer overflow",
      "requiredAction": "Apply mitigations per vendor instructions.",
      "dueDate": "2023-10-04",
      "knownRansomwareCampaignUse": "Known",
      "notes": "",
      "cwes": ["CWE-787"]
    }
  ]
}"#;

const EPSS_CSV: &str = "#model_version:v2025.03.14,score_date:2025-11-20T12:55:00Z
cve,epss,percentile
CVE-2023-4863,0.94123,0.99912
CVE-2024-0001,0.00100,0.05000
CVE-2024-0002,0.03100,0.71000
CVE-2024-0003,0.60000,0.98000
";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 11, 21, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

fn kev() -> Kev {
    Kev::parse(KEV_JSON.as_bytes(), Path::new("kev.json")).expect("fixture KEV parses")
}

fn epss() -> Epss {
    Epss::parse(EPSS_CSV.as_bytes(), Path::new("epss.csv")).expect("fixture EPSS parses")
}

fn finding(cve: &str, severity: &str) -> FindingInput {
    FindingInput {
        cve_id: cve.to_string(),
        vendor_severity: Some(severity.to_string()),
        cvss_score: Some(7.5),
        application: "Google Chrome".to_string(),
        application_version: Some("116.0".to_string()),
        fixed_version_available: None,
        exploit_code_maturity: None,
    }
}

/// An active, private-only laptop: no device factor applies.
fn device() -> DeviceInput {
    DeviceInput {
        agent_id: "1001".into(),
        computer_name: "LAPTOP-ALICE".into(),
        site_id: Some("225".into()),
        site_name: Some("Default site".into()),
        group_id: Some("330".into()),
        group_name: Some("Default Group".into()),
        tags: vec!["owner=alice".into()],
        machine_type: Some("laptop".into()),
        ips: vec!["192.168.1.20".into(), "fe80::1".into()],
        is_decommissioned: false,
        last_active_at: Some(now() - Duration::hours(2)),
    }
}

fn full() -> Prioritizer {
    Prioritizer::with_data(PriorityConfig::default(), Some(kev()), Some(epss()))
}

fn bare() -> Prioritizer {
    Prioritizer::with_data(PriorityConfig::default(), None, None)
}

fn factor<'a>(a: &'a Assessment, name: &str) -> Option<&'a Factor> {
    a.factors.iter().find(|f| f.name == name)
}

fn effect(a: &Assessment, name: &str) -> Option<i32> {
    factor(a, name).map(|f| f.effect)
}

#[test]
fn neutral_finding_keeps_vendor_severity() {
    // In EPSS (mid score), not in KEV, private laptop.
    let a = full().assess(&finding("CVE-2024-0002", "MEDIUM"), &device(), now());
    assert_eq!(a.vendor, Some(Priority::Medium));
    assert_eq!(a.priority, Priority::Medium);
    assert_eq!(a.total_effect(), 0);
    assert_eq!(effect(&a, "kev"), Some(0));
    let e = factor(&a, "epss").expect("epss factor");
    assert_eq!(e.effect, 0);
    assert!(
        e.detail
            .contains("EPSS 0.031 (percentile 0.710): below thresholds"),
        "{}",
        e.detail
    );
    assert_eq!(effect(&a, "exposed"), Some(0));
}

#[test]
fn kev_raises_with_detail() {
    let a = full().assess(&finding("cve-2023-4863", "MEDIUM"), &device(), now());
    let k = factor(&a, "kev").expect("kev factor");
    assert_eq!(k.effect, 2);
    assert_eq!(
        k.detail,
        "in CISA KEV since 2023-09-13, known ransomware use: Known"
    );
    // KEV +2 and EPSS 0.94 ≥ 0.5 → +1: MEDIUM + 3 → CRITICAL.
    assert_eq!(effect(&a, "epss"), Some(1));
    assert_eq!(a.priority, Priority::Critical);

    // KEV alone (no EPSS data).
    let p = Prioritizer::with_data(PriorityConfig::default(), Some(kev()), None);
    let a = p.assess(&finding("CVE-2023-4863", "LOW"), &device(), now());
    assert_eq!(a.priority, Priority::High);
    assert_eq!(effect(&a, "epss"), Some(0));
}

#[test]
fn epss_high_raises() {
    let a = full().assess(&finding("CVE-2024-0003", "MEDIUM"), &device(), now());
    let e = factor(&a, "epss").expect("epss factor");
    assert_eq!(e.effect, 1);
    assert!(e.detail.contains("0.600"), "{}", e.detail);
    assert_eq!(a.priority, Priority::High);
}

#[test]
fn epss_very_low_lowers_only_when_kev_rules_out_exploitation() {
    let a = full().assess(&finding("CVE-2024-0001", "MEDIUM"), &device(), now());
    assert_eq!(effect(&a, "epss"), Some(-1));
    assert_eq!(a.priority, Priority::Low);

    // Without a KEV catalog the low score is reported but not applied.
    let p = Prioritizer::with_data(PriorityConfig::default(), None, Some(epss()));
    let a = p.assess(&finding("CVE-2024-0001", "MEDIUM"), &device(), now());
    let e = factor(&a, "epss").expect("epss factor");
    assert_eq!(e.effect, 0);
    assert!(e.detail.contains("not lowered"), "{}", e.detail);
    assert_eq!(a.priority, Priority::Medium);
}

#[test]
fn epss_low_score_on_a_kev_cve_is_not_lowered() {
    let e = Epss::parse(
        format!("{EPSS_CSV}CVE-2023-9999,0.00200,0.10000\n").as_bytes(),
        Path::new("e.csv"),
    )
    .expect("epss");
    let k = Kev::parse(
        KEV_JSON
            .replace("CVE-2023-4863", "CVE-2023-9999")
            .as_bytes(),
        Path::new("k.json"),
    )
    .expect("kev");
    let p = Prioritizer::with_data(PriorityConfig::default(), Some(k), Some(e));
    let a = p.assess(&finding("CVE-2023-9999", "MEDIUM"), &device(), now());
    assert_eq!(effect(&a, "kev"), Some(2));
    let f = factor(&a, "epss").expect("epss");
    assert_eq!(f.effect, 0);
    assert!(f.detail.contains("in KEV"), "{}", f.detail);
    assert_eq!(a.priority, Priority::Critical);
}

#[test]
fn exposed_by_public_interface_address() {
    let mut d = device();
    d.ips = vec!["10.0.0.5".into(), "52.14.1.9".into()];
    let a = bare().assess(&finding("CVE-2024-0002", "MEDIUM"), &d, now());
    let f = factor(&a, "exposed").expect("exposed");
    assert_eq!(f.effect, 1);
    assert!(f.detail.contains("52.14.1.9"), "{}", f.detail);
    assert_eq!(a.priority, Priority::High);
}

#[test]
fn not_exposed_by_private_cgnat_or_link_local() {
    for ip in [
        "10.1.2.3",
        "172.20.0.4",
        "192.168.0.9",
        "100.64.12.1",
        "100.127.0.1",
        "169.254.7.7",
        "fe80::abcd",
        "fd12::1",
    ] {
        let mut d = device();
        d.ips = vec![ip.to_string()];
        let a = bare().assess(&finding("CVE-2024-0002", "MEDIUM"), &d, now());
        assert_eq!(
            effect(&a, "exposed"),
            Some(0),
            "{ip} must not count as exposed"
        );
        assert_eq!(a.priority, Priority::Medium, "{ip}");
    }
}

#[test]
fn exposed_by_machine_type_server_and_configurable_off() {
    let mut d = device();
    d.machine_type = Some("SERVER".into());
    let a = bare().assess(&finding("CVE-2024-0002", "MEDIUM"), &d, now());
    let f = factor(&a, "exposed").expect("exposed");
    assert_eq!((f.effect, f.detail.as_str()), (1, "machine type server"));
    assert_eq!(a.priority, Priority::High);

    let cfg = PriorityConfig {
        server_counts_as_exposed: false,
        ..PriorityConfig::default()
    };
    let p = Prioritizer::with_data(cfg, None, None);
    let a = p.assess(&finding("CVE-2024-0002", "MEDIUM"), &d, now());
    let f = factor(&a, "exposed").expect("exposed");
    assert_eq!(f.effect, 0);
    assert!(
        f.detail.contains("server_counts_as_exposed = false"),
        "{}",
        f.detail
    );
    assert_eq!(a.priority, Priority::Medium);
}

fn rule(name: &str) -> CriticalityRule {
    CriticalityRule {
        name: name.into(),
        site: None,
        group: None,
        tag: None,
        name_pattern: None,
        effect: 1,
    }
}

fn with_rules(rules: Vec<CriticalityRule>) -> Prioritizer {
    let cfg = PriorityConfig {
        criticality_rules: rules,
        ..PriorityConfig::default()
    };
    Prioritizer::with_data(cfg, None, None)
}

fn crit(p: &Prioritizer, d: &DeviceInput) -> (Vec<i32>, Priority) {
    let a = p.assess(&finding("CVE-2024-0002", "MEDIUM"), d, now());
    let effects = a
        .factors
        .iter()
        .filter(|f| f.name == "criticality")
        .map(|f| f.effect)
        .collect();
    (effects, a.priority)
}

#[test]
fn criticality_by_site() {
    let p = with_rules(vec![CriticalityRule {
        site: Some("production".into()),
        effect: 2,
        ..rule("prod-site")
    }]);
    let mut d = device();
    assert_eq!(crit(&p, &d), (vec![], Priority::Medium));
    d.site_name = Some("Production".into());
    assert_eq!(crit(&p, &d), (vec![2], Priority::Critical));
    // By site id too.
    let p = with_rules(vec![CriticalityRule {
        site: Some("225".into()),
        ..rule("by-id")
    }]);
    assert_eq!(crit(&p, &device()), (vec![1], Priority::High));
}

#[test]
fn criticality_by_group() {
    let p = with_rules(vec![CriticalityRule {
        group: Some("Domain Controllers".into()),
        ..rule("dc")
    }]);
    let mut d = device();
    assert_eq!(crit(&p, &d).0, Vec::<i32>::new());
    d.group_name = Some("domain controllers".into());
    assert_eq!(crit(&p, &d), (vec![1], Priority::High));
}

#[test]
fn criticality_by_tag() {
    let p = with_rules(vec![CriticalityRule {
        tag: Some("env=prod".into()),
        ..rule("prod-tag")
    }]);
    let mut d = device();
    assert!(crit(&p, &d).0.is_empty());
    d.tags = vec!["env=staging".into()];
    assert!(crit(&p, &d).0.is_empty());
    d.tags = vec!["owner=bob".into(), "ENV=Prod".into()];
    assert_eq!(crit(&p, &d), (vec![1], Priority::High));

    // A bare key matches any value of that key, and a plain tag.
    let p = with_rules(vec![CriticalityRule {
        tag: Some("pci".into()),
        ..rule("pci")
    }]);
    d.tags = vec!["pci=zone-a".into()];
    assert_eq!(crit(&p, &d).0, vec![1]);
    d.tags = vec!["PCI".into()];
    assert_eq!(crit(&p, &d).0, vec![1]);
    d.tags = vec!["pcie=1".into()];
    assert!(crit(&p, &d).0.is_empty());
}

#[test]
fn criticality_by_name_pattern_and_lowering_rules() {
    let p = with_rules(vec![
        CriticalityRule {
            name_pattern: Some("srv-db-*".into()),
            effect: 1,
            ..rule("db")
        },
        CriticalityRule {
            name_pattern: Some("kiosk-??".into()),
            effect: -1,
            ..rule("kiosks")
        },
    ]);
    let mut d = device();
    d.computer_name = "SRV-DB-07".into();
    let a = p.assess(&finding("CVE-2024-0002", "MEDIUM"), &d, now());
    let f = factor(&a, "criticality").expect("criticality");
    assert_eq!(f.effect, 1);
    assert!(
        f.detail.contains("`db`") && f.detail.contains("SRV-DB-07"),
        "{}",
        f.detail
    );
    assert_eq!(a.priority, Priority::High);
    d.computer_name = "srv-web-07".into();
    assert!(crit(&p, &d).0.is_empty());
    d.computer_name = "kiosk-12".into();
    assert_eq!(crit(&p, &d), (vec![-1], Priority::Low));
}

#[test]
fn criticality_conditions_combine_with_and() {
    let p = with_rules(vec![CriticalityRule {
        site: Some("Default site".into()),
        name_pattern: Some("srv-*".into()),
        ..rule("both")
    }]);
    let mut d = device();
    assert!(crit(&p, &d).0.is_empty(), "site alone is not enough");
    d.computer_name = "srv-1".into();
    assert_eq!(crit(&p, &d).0, vec![1]);
    // A rule without conditions never matches and is reported.
    let p = with_rules(vec![rule("empty")]);
    assert!(crit(&p, &d).0.is_empty());
    assert!(
        p.warnings.iter().any(|w| w.contains("`empty`")),
        "{:?}",
        p.warnings
    );
}

#[test]
fn decommissioned_lowers() {
    let mut d = device();
    d.is_decommissioned = true;
    d.last_active_at = Some(now() - Duration::days(200));
    let a = bare().assess(&finding("CVE-2024-0002", "HIGH"), &d, now());
    assert_eq!(effect(&a, "decommissioned"), Some(-2));
    // Inactivity is not counted on top of decommissioning.
    assert_eq!(effect(&a, "inactive"), None);
    assert_eq!(a.priority, Priority::Low);
}

#[test]
fn inactive_lowers_after_threshold() {
    let mut d = device();
    d.last_active_at = Some(now() - Duration::days(45));
    let a = bare().assess(&finding("CVE-2024-0002", "HIGH"), &d, now());
    let f = factor(&a, "inactive").expect("inactive");
    assert_eq!(f.effect, -1);
    assert!(f.detail.contains("45 days ago"), "{}", f.detail);
    assert_eq!(a.priority, Priority::Medium);

    d.last_active_at = Some(now() - Duration::days(29));
    let a = bare().assess(&finding("CVE-2024-0002", "HIGH"), &d, now());
    assert_eq!(effect(&a, "inactive"), None);
    assert_eq!(a.priority, Priority::High);

    // inactive_days = 0 turns the factor off.
    let p = Prioritizer::with_data(
        PriorityConfig {
            inactive_days: 0,
            ..PriorityConfig::default()
        },
        None,
        None,
    );
    d.last_active_at = Some(now() - Duration::days(400));
    assert_eq!(
        effect(
            &p.assess(&finding("CVE-2024-0002", "HIGH"), &d, now()),
            "inactive"
        ),
        None
    );
}

#[test]
fn fixed_version_factor() {
    let mut f = finding("CVE-2024-0002", "MEDIUM");
    f.fixed_version_available = Some(true);
    let a = bare().assess(&f, &device(), now());
    let fx = factor(&a, "fixed_version").expect("reported even with effect 0");
    assert_eq!(fx.effect, 0);
    assert!(fx.detail.contains("fixed version is available"));
    assert_eq!(a.priority, Priority::Medium);

    let p = Prioritizer::with_data(
        PriorityConfig {
            fixed_version_effect: 1,
            ..PriorityConfig::default()
        },
        None,
        None,
    );
    assert_eq!(p.assess(&f, &device(), now()).priority, Priority::High);
    f.fixed_version_available = Some(false);
    let a = p.assess(&f, &device(), now());
    assert_eq!(effect(&a, "fixed_version"), Some(0));
    assert_eq!(a.priority, Priority::Medium);
    f.fixed_version_available = None;
    assert_eq!(
        effect(&p.assess(&f, &device(), now()), "fixed_version"),
        None
    );
}

#[test]
fn clamps_at_ceiling_and_floor() {
    let mut d = device();
    d.machine_type = Some("server".into());
    d.ips = vec!["8.8.8.8".into()];
    // KEV +2, EPSS +1, exposed +1 on a CRITICAL: stays CRITICAL.
    let a = full().assess(&finding("CVE-2023-4863", "CRITICAL"), &d, now());
    assert_eq!(a.total_effect(), 4);
    assert_eq!(a.priority, Priority::Critical);
    assert!(explain(&a).contains("clamped at the ceiling CRITICAL"));

    // Decommissioned −2 + low EPSS −1 on a LOW: stays INFO.
    let mut d = device();
    d.is_decommissioned = true;
    let a = full().assess(&finding("CVE-2024-0001", "LOW"), &d, now());
    assert_eq!(a.total_effect(), -3);
    assert_eq!(a.priority, Priority::Info);
    assert!(explain(&a).contains("clamped at the floor INFO"));

    // Configured floor and ceiling.
    let cfg = PriorityConfig {
        floor: Priority::Low,
        ceiling: Priority::High,
        ..PriorityConfig::default()
    };
    let p = Prioritizer::with_data(cfg, Some(kev()), Some(epss()));
    assert_eq!(
        p.assess(&finding("CVE-2024-0001", "LOW"), &d, now())
            .priority,
        Priority::Low
    );
    assert_eq!(
        p.assess(&finding("CVE-2023-4863", "MEDIUM"), &device(), now())
            .priority,
        Priority::High
    );
}

#[test]
fn ox_example_vendor_high_effective_low() {
    // Vendor HIGH on an endpoint not seen for 90 days, EPSS 0.001, not in KEV.
    let mut d = device();
    d.last_active_at = Some(now() - Duration::days(90));
    let a = full().assess(&finding("CVE-2024-0001", "HIGH"), &d, now());
    assert_eq!(a.vendor, Some(Priority::High));
    assert_eq!(effect(&a, "inactive"), Some(-1));
    assert_eq!(effect(&a, "epss"), Some(-1));
    assert_eq!(a.priority, Priority::Low);
    let text = explain(&a);
    assert!(text.contains("result: HIGH → LOW"), "{text}");

    // Decommissioned (−2) with a very low EPSS (−1) lowers HIGH by three steps.
    let mut d = device();
    d.is_decommissioned = true;
    let a = full().assess(&finding("CVE-2024-0001", "HIGH"), &d, now());
    assert_eq!(a.total_effect(), -3);
    assert_eq!(a.priority, Priority::Info);
    // …and to LOW when only the decommissioning applies.
    let a = full().assess(&finding("CVE-2024-0002", "HIGH"), &d, now());
    assert_eq!(a.priority, Priority::Low);
}

#[test]
fn missing_vendor_severity_falls_back_to_cvss() {
    let mut f = finding("CVE-2024-0002", "");
    f.vendor_severity = None;
    f.cvss_score = Some(9.8);
    let a = bare().assess(&f, &device(), now());
    assert_eq!(a.vendor, None);
    assert_eq!(a.base, Priority::Critical);
    assert_eq!(a.priority, Priority::Critical);
    let b = factor(&a, "base").expect("base factor");
    assert_eq!(b.effect, 0);
    assert!(b.detail.contains("CVSS 9.8"), "{}", b.detail);

    // An unrecognised vendor severity also falls back, and says so.
    f.vendor_severity = Some("UNKNOWN".into());
    f.cvss_score = Some(5.0);
    let a = bare().assess(&f, &device(), now());
    assert_eq!(a.priority, Priority::Medium);
    let b = factor(&a, "base").expect("base factor");
    assert!(
        b.detail.contains("`UNKNOWN` not recognised"),
        "{}",
        b.detail
    );

    f.cvss_score = Some(3.1);
    assert_eq!(bare().assess(&f, &device(), now()).priority, Priority::Low);
}

#[test]
fn unknown_severity_and_cvss_is_medium_with_a_factor() {
    let mut f = finding("CVE-2024-0002", "");
    f.vendor_severity = None;
    f.cvss_score = None;
    let a = bare().assess(&f, &device(), now());
    assert_eq!(a.base, Priority::Medium);
    assert_eq!(a.priority, Priority::Medium);
    let b = factor(&a, "base").expect("base factor");
    assert!(b.detail.contains("assumed medium"), "{}", b.detail);
    // NaN CVSS is treated as unknown.
    f.cvss_score = Some(f64::NAN);
    assert_eq!(bare().assess(&f, &device(), now()).base, Priority::Medium);
}

#[test]
fn explain_lists_vendor_each_factor_and_result() {
    let mut d = device();
    d.ips = vec!["8.8.8.8".into()];
    let mut f = finding("CVE-2023-4863", "MEDIUM");
    f.fixed_version_available = Some(true);
    let a = full().assess(&f, &d, now());
    let text = explain(&a);
    assert!(text.starts_with("vendor severity: MEDIUM\n"), "{text}");
    assert!(
        text.contains(
            "+2  kev             in CISA KEV since 2023-09-13, known ransomware use: Known"
        ),
        "{text}"
    );
    assert!(text.contains("+1  epss"), "{text}");
    assert!(
        text.contains("+1  exposed         public address 8.8.8.8"),
        "{text}"
    );
    assert!(text.contains("  0  fixed_version"), "{text}");
    for factor in &a.factors {
        assert!(
            text.contains(&factor.detail),
            "missing {factor:?} in {text}"
        );
    }
    assert!(
        text.contains("result: MEDIUM → CRITICAL (+4 steps)"),
        "{text}"
    );

    // Without vendor severity the base is shown.
    f.vendor_severity = None;
    f.cvss_score = Some(7.1);
    let text = explain(&bare().assess(&f, &device(), now()));
    assert!(text.contains("vendor severity: (none)"), "{text}");
    assert!(text.contains("base priority:   HIGH"), "{text}");
}

#[test]
fn no_cve_id_skips_catalog_lookups() {
    let a = full().assess(&finding("", "LOW"), &device(), now());
    assert_eq!(
        factor(&a, "kev").map(|f| f.detail.as_str()),
        Some("finding has no CVE id")
    );
    assert_eq!(effect(&a, "epss"), None);
    assert_eq!(a.priority, Priority::Low);
}

#[test]
fn assessment_serialises_factors_as_name_effect_detail() {
    let a = full().assess(&finding("CVE-2023-4863", "HIGH"), &device(), now());
    let v = serde_json::to_value(&a).expect("serialises");
    assert_eq!(v["priority"], "critical");
    assert_eq!(v["vendor"], "high");
    assert_eq!(v["factors"][0]["name"], "kev");
    assert_eq!(v["factors"][0]["effect"], 2);
}

/// A caller that evaluates an endpoint's factors once (`assess_device`) and reuses them for
/// each of its findings (`assess_facts`) gets exactly what `assess` gives per finding, in the
/// same order: threat factors, then the endpoint's, then fix availability.
#[test]
fn endpoint_factors_evaluated_once_give_the_same_assessment() {
    let config = PriorityConfig {
        criticality_rules: vec![CriticalityRule {
            name: "crown jewels".into(),
            site: None,
            group: None,
            tag: Some("owner".into()),
            name_pattern: None,
            effect: 1,
        }],
        ..PriorityConfig::default()
    };
    let p = Prioritizer::with_data(config, Some(kev()), Some(epss()));
    let mut exposed = device();
    exposed.ips.push("52.1.2.3".into());
    exposed.last_active_at = Some(now() - Duration::days(90));
    let device_factors = p.assess_device(&exposed, now());
    let names: Vec<&str> = device_factors.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["exposed", "criticality", "inactive"]);

    for (cve, severity, fixed) in [
        ("CVE-2023-4863", "HIGH", Some(true)),
        ("CVE-2024-0001", "MEDIUM", Some(false)),
        ("CVE-2024-0003", "LOW", None),
        ("", "", None),
    ] {
        let mut f = finding(cve, severity);
        f.fixed_version_available = fixed;
        let once = p.assess_facts(&FindingFacts::of(&f), &device_factors);
        assert_eq!(once, p.assess(&f, &exposed, now()), "{cve}");
        let names: Vec<&str> = once.factors.iter().map(|f| f.name.as_str()).collect();
        let at = names.iter().position(|n| *n == "exposed").expect("exposed");
        assert_eq!(
            names[at..at + 3],
            ["exposed", "criticality", "inactive"],
            "{cve}"
        );
        assert!(
            names[..at]
                .iter()
                .all(|n| ["base", "kev", "epss"].contains(n)),
            "{cve}: {names:?}"
        );
        assert_eq!(
            names[at + 3..] == ["fixed_version"],
            fixed.is_some(),
            "{cve}: {names:?}"
        );
    }
}

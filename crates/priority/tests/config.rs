//! Configuration defaults and custom weights.

use chrono::{Duration, Utc};
use s1bridge_priority::{
    CriticalityRule, DeviceInput, FindingInput, Prioritizer, Priority, PriorityConfig,
};

#[test]
fn default_matches_empty_json_and_toml() {
    let from_json: PriorityConfig = serde_json::from_str("{}").expect("empty JSON");
    assert_eq!(from_json, PriorityConfig::default());
    let from_toml: PriorityConfig = toml::from_str("").expect("empty TOML");
    assert_eq!(from_toml, PriorityConfig::default());
}

#[test]
fn documented_defaults() {
    let c = PriorityConfig::default();
    assert_eq!(c.kev_file, None);
    assert_eq!(c.epss_file, None);
    assert_eq!(c.kev_effect, 2);
    assert_eq!(c.epss_thresholds, vec![(0.5, 1)]);
    assert_eq!(c.epss_low_threshold, 0.01);
    assert_eq!(c.epss_low_effect, -1);
    assert_eq!(c.exposed_effect, 1);
    assert!(c.server_counts_as_exposed);
    assert!(c.criticality_rules.is_empty());
    assert_eq!(c.decommissioned_effect, -2);
    assert_eq!(c.inactive_days, 30);
    assert_eq!(c.inactive_effect, -1);
    assert_eq!(c.fixed_version_effect, 0);
    assert_eq!(c.floor, Priority::Info);
    assert_eq!(c.ceiling, Priority::Critical);
}

#[test]
fn partial_toml_keeps_other_defaults_and_rejects_typos() {
    let c: PriorityConfig = toml::from_str(
        r#"
kev_file = "/var/lib/s1bridge/kev.json"
decommissioned_effect = -3
epss_thresholds = [[0.9, 2], [0.2, 1]]
ceiling = "high"

[[criticality_rules]]
name = "databases"
name_pattern = "srv-db-*"
effect = 2

[[criticality_rules]]
name = "prod"
tag = "env=prod"
"#,
    )
    .expect("valid TOML");
    assert_eq!(c.decommissioned_effect, -3);
    assert_eq!(c.kev_effect, 2);
    assert_eq!(c.epss_thresholds, vec![(0.9, 2), (0.2, 1)]);
    assert_eq!(c.ceiling, Priority::High);
    assert_eq!(c.criticality_rules.len(), 2);
    assert_eq!(
        c.criticality_rules[1].effect, 1,
        "rule effect defaults to +1"
    );
    assert_eq!(
        c.criticality_rules[0].name_pattern.as_deref(),
        Some("srv-db-*")
    );

    let err = toml::from_str::<PriorityConfig>("kev_efect = 3").expect_err("typo");
    assert!(err.to_string().contains("kev_efect"), "{err}");
}

#[test]
fn custom_weights_change_the_result() {
    let finding = FindingInput {
        cve_id: "CVE-2024-0001".into(),
        vendor_severity: Some("HIGH".into()),
        ..FindingInput::default()
    };
    let device = DeviceInput {
        computer_name: "srv-db-01".into(),
        machine_type: Some("server".into()),
        last_active_at: Some(Utc::now() - Duration::days(10)),
        ..DeviceInput::default()
    };
    let now = Utc::now();
    let default = Prioritizer::with_data(PriorityConfig::default(), None, None);
    // Server +1: HIGH → CRITICAL.
    assert_eq!(
        default.assess(&finding, &device, now).priority,
        Priority::Critical
    );

    let custom = Prioritizer::with_data(
        PriorityConfig {
            exposed_effect: 0,
            inactive_days: 7,
            inactive_effect: -2,
            criticality_rules: vec![CriticalityRule {
                name: "db".into(),
                site: None,
                group: None,
                tag: None,
                name_pattern: Some("srv-db-*".into()),
                effect: -1,
            }],
            ..PriorityConfig::default()
        },
        None,
        None,
    );
    // Exposed 0, inactive −2, criticality −1: HIGH → INFO.
    let a = custom.assess(&finding, &device, now);
    assert_eq!(a.total_effect(), -3);
    assert_eq!(a.priority, Priority::Info);

    // Sorted EPSS bands: the highest reached band applies, once.
    let epss = s1bridge_priority::Epss::parse(
        b"cve,epss,percentile\nCVE-2024-0001,0.95,0.99\n",
        std::path::Path::new("e.csv"),
    )
    .expect("epss");
    let banded = Prioritizer::with_data(
        PriorityConfig {
            epss_thresholds: vec![(0.1, 1), (0.9, 2)],
            server_counts_as_exposed: false,
            ..PriorityConfig::default()
        },
        None,
        Some(epss),
    );
    let mut low = finding.clone();
    low.vendor_severity = Some("LOW".into());
    let a = banded.assess(&low, &device, now);
    assert_eq!(a.total_effect(), 2);
    assert_eq!(a.priority, Priority::High);
}

#[test]
fn floor_above_ceiling_is_swapped_with_warning() {
    let p = Prioritizer::with_data(
        PriorityConfig {
            floor: Priority::High,
            ceiling: Priority::Low,
            ..PriorityConfig::default()
        },
        None,
        None,
    );
    assert_eq!(p.warnings.len(), 1);
    let f = FindingInput {
        vendor_severity: Some("CRITICAL".into()),
        ..FindingInput::default()
    };
    assert_eq!(
        p.assess(&f, &DeviceInput::default(), Utc::now()).priority,
        Priority::High
    );
}

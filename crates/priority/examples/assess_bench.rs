//! Times 1,000,000 assessments with realistic data (a KEV catalog of 1,500
//! CVEs, an EPSS file of 300,000 scores, three criticality rules).
//!
//! cargo run --release -p s1bridge-priority --example assess_bench

use chrono::{Duration, Utc};
use s1bridge_priority::{
    CriticalityRule, DeviceInput, Epss, FindingInput, Kev, Prioritizer, PriorityConfig,
};
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

const N: usize = 1_000_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut kev_json = String::from("{\"catalogVersion\":\"bench\",\"vulnerabilities\":[");
    for i in 0..1_500 {
        if i > 0 {
            kev_json.push(',');
        }
        write!(
            kev_json,
            "{{\"cveID\":\"CVE-2024-{:05}\",\"dateAdded\":\"2024-01-01\",\"knownRansomwareCampaignUse\":\"Unknown\"}}",
            i * 200
        )?;
    }
    kev_json.push_str("]}");
    let kev = Kev::parse(kev_json.as_bytes(), Path::new("bench-kev.json"))?;

    let mut csv =
        String::from("#model_version:bench,score_date:2025-11-20T00:00:00Z\ncve,epss,percentile\n");
    for i in 0..300_000u32 {
        let p = f64::from(i % 1000) / 1000.0;
        writeln!(csv, "CVE-2024-{i:05},{p:.5},{p:.5}")?;
    }
    let t = Instant::now();
    let epss = Epss::parse(csv.as_bytes(), Path::new("bench-epss.csv"))?;
    println!("parsed {} EPSS rows in {:?}", epss.len(), t.elapsed());

    let config = PriorityConfig {
        criticality_rules: vec![
            CriticalityRule {
                name: "db".into(),
                site: None,
                group: None,
                tag: None,
                name_pattern: Some("srv-db-*".into()),
                effect: 1,
            },
            CriticalityRule {
                name: "prod".into(),
                site: None,
                group: None,
                tag: Some("env=prod".into()),
                name_pattern: None,
                effect: 1,
            },
            CriticalityRule {
                name: "hq".into(),
                site: Some("Headquarters".into()),
                group: None,
                tag: None,
                name_pattern: None,
                effect: 1,
            },
        ],
        ..PriorityConfig::default()
    };
    let p = Prioritizer::with_data(config, Some(kev), Some(epss));

    let now = Utc::now();
    let severities = ["CRITICAL", "HIGH", "MEDIUM", "LOW"];
    let findings: Vec<FindingInput> = (0..1_000)
        .map(|i| FindingInput {
            cve_id: format!("CVE-2024-{:05}", i * 331 % 300_000),
            vendor_severity: Some(severities[i % 4].into()),
            cvss_score: Some(7.5),
            application: "app".into(),
            application_version: Some("1.0".into()),
            fixed_version_available: Some(i % 2 == 0),
            exploit_code_maturity: None,
        })
        .collect();
    let devices: Vec<DeviceInput> = (0..97)
        .map(|i| DeviceInput {
            agent_id: i.to_string(),
            computer_name: if i % 3 == 0 {
                format!("srv-db-{i}")
            } else {
                format!("LAPTOP-{i}")
            },
            site_name: Some(if i % 5 == 0 { "Headquarters" } else { "Branch" }.into()),
            tags: vec!["env=prod".into(), "owner=ops".into()],
            machine_type: Some(if i % 4 == 0 { "server" } else { "laptop" }.into()),
            ips: vec![
                "10.0.0.1".into(),
                "fe80::1".into(),
                if i % 7 == 0 {
                    "52.1.2.3"
                } else {
                    "192.168.3.4"
                }
                .into(),
            ],
            is_decommissioned: i % 11 == 0,
            last_active_at: Some(now - Duration::days(i64::from(i % 60))),
            ..DeviceInput::default()
        })
        .collect();

    let t = Instant::now();
    let mut factors = 0usize;
    for i in 0..N {
        let a = p.assess(
            &findings[i % findings.len()],
            &devices[i % devices.len()],
            now,
        );
        factors += a.factors.len();
        black_box(&a);
    }
    let elapsed = t.elapsed();
    println!(
        "{N} assessments in {elapsed:?}: {:.0} assessments/s ({:.2} factors each)",
        N as f64 / elapsed.as_secs_f64(),
        factors as f64 / N as f64
    );
    Ok(())
}

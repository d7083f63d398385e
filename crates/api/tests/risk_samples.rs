//! The vulnerability wire types parse the real captures (shared/s1-samples) with real values.

use s1bridge_api::wire::{
    Envelope, InstalledApplication, InstalledApplicationCve, InventoryApplication,
    InventoryEndpoint, Risk,
};

fn sample(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/s1-samples")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn risks_first_page_parses_with_real_values() {
    let e: Envelope<Vec<Risk>> =
        serde_json::from_slice(&sample("application-management-risks-page1.elastic.json")).unwrap();
    assert_eq!(e.data.len(), 2);
    let r = &e.data[0];
    assert_eq!(r.cve_id.as_deref(), Some("CVE-2025-0411"));
    assert_eq!(r.base_score.as_deref(), Some("7.00"));
    assert_eq!(r.base_score_f64(), Some(7.0));
    assert_eq!(r.severity.as_deref(), Some("HIGH"));
    assert_eq!(r.cvss_version.as_deref(), Some("3.1"));
    assert_eq!(r.days_detected, Some(59));
    assert_eq!(r.status.as_deref(), Some("Detected"));
    assert_eq!(r.endpoint_id.as_deref(), Some("2162143406517023959"));
    assert_eq!(r.endpoint_type.as_deref(), Some("desktop"));
    assert_eq!(r.id.as_deref(), Some("2228104980801805822"));
    assert_eq!(r.application.as_deref(), Some("7-Zip 22.01"));
    assert_eq!(r.application_name.as_deref(), Some("7-Zip"));
    assert_eq!(r.application_vendor.as_deref(), Some("Igor Pavlov"));
    assert_eq!(r.application_version.as_deref(), Some("22.01"));
    assert_eq!(
        r.detection_date.as_deref(),
        Some("2025-06-02T04:46:51.710569Z")
    );
    assert_eq!(r.last_scan_result.as_deref(), Some("Succeeded"));
    assert_eq!(r.mark_type, Some(serde_json::json!("")));
    assert_eq!(r.marked_by, None);
    assert_eq!(r.reason, None);
    assert_eq!(r.os_type.as_deref(), Some("windows"));
    // Absent VLN fields are None.
    assert_eq!(r.risk_score, None);
    assert_eq!(r.nvd_base_score_f64(), None);
    assert_eq!(e.data[1].base_score_f64(), Some(7.8));
    let pg = e.pagination.unwrap();
    assert_eq!(pg.next(), Some("page2"));
    assert_eq!(pg.total_items, Some(5));
}

#[test]
fn risks_last_page_ends_pagination() {
    let e: Envelope<Vec<Risk>> = serde_json::from_slice(&sample(
        "application-management-risks-lastpage.elastic.json",
    ))
    .unwrap();
    let r = &e.data[0];
    assert_eq!(r.cve_id.as_deref(), Some("CVE-2024-38222"));
    assert_eq!(r.base_score_f64(), Some(6.5));
    assert_eq!(r.severity.as_deref(), Some("MEDIUM"));
    assert_eq!(r.application_version.as_deref(), Some("112.0.1722.68"));
    assert_eq!(r.endpoint_name.as_deref(), Some("DESKTOP-R1E2DQ2"));
    assert_eq!(e.pagination.unwrap().next(), None);
}

#[test]
fn risk_round_trips_the_console_string_scores_and_every_sample_key() {
    let raw: serde_json::Value =
        serde_json::from_slice(&sample("application-management-risks-page1.elastic.json")).unwrap();
    let row = &raw["data"][0];
    let r: Risk = serde_json::from_value(row.clone()).unwrap();
    let back = serde_json::to_value(&r).unwrap();
    // Every key of the capture is emitted again with the same value ("7.00" stays a string).
    for (k, v) in row.as_object().unwrap() {
        assert_eq!(back.get(k), Some(v), "key {k}");
    }
    assert_eq!(back["baseScore"], serde_json::json!("7.00"));
}

#[test]
fn risk_accepts_lenient_shapes() {
    let r: Risk = serde_json::from_str(
        r#"{"id": 2228104980801805822, "baseScore": 9.8, "daysDetected": "3",
            "riskScore": " 8.25 ", "nvdBaseScore": "n/a", "markType": {"x": 1},
            "exploitedInTheWild": "Yes"}"#,
    )
    .unwrap();
    assert_eq!(r.id.as_deref(), Some("2228104980801805822"));
    assert_eq!(r.base_score_f64(), Some(9.8));
    assert_eq!(r.days_detected, Some(3));
    assert_eq!(r.risk_score_f64(), Some(8.25));
    assert_eq!(r.nvd_base_score_f64(), None);
    assert_eq!(r.exploited_in_the_wild, Some(serde_json::json!("Yes")));
}

#[test]
fn inventory_samples_parse() {
    let e: Envelope<Vec<InventoryApplication>> =
        serde_json::from_slice(&sample("application-management-inventory.elastic.json")).unwrap();
    assert_eq!(e.data.len(), 2);
    assert_eq!(e.data[1].application_name.as_deref(), Some("Brave"));
    assert_eq!(
        e.data[1].application_vendor.as_deref(),
        Some("Brave Software Inc")
    );
    assert_eq!(e.data[0].endpoints_count, Some(1));
    assert_eq!(e.data[0].estimate, Some(false));
    assert_eq!(e.pagination.unwrap().next(), Some("abcd"));

    let e: Envelope<Vec<InventoryEndpoint>> = serde_json::from_slice(&sample(
        "application-management-inventory-endpoints.elastic.json",
    ))
    .unwrap();
    let x = &e.data[0];
    assert_eq!(x.endpoint_id.as_deref(), Some("2169705024028266268"));
    assert_eq!(x.version.as_deref(), Some("8.17.3"));
    assert_eq!(x.core_count, Some(2));
    assert_eq!(x.file_size, Some(517_364));
    assert_eq!(x.application_installation_path, None);
    assert_eq!(
        x.cpe.as_deref(),
        Some("cpe:2.3:a:elastic:elastic_agent:8.17.3:*:*:*:*:*:*:*")
    );
}

#[test]
fn deprecated_application_risk_items_parse() {
    let a: InstalledApplication = serde_json::from_str(
        r#"{"id":"1","name":"7-Zip","version":"22.01","type":"app","riskLevel":"high",
            "size":"1024","signed":"True","agentId":"42","agentIsDecommissioned":false}"#,
    )
    .unwrap();
    assert_eq!(a.r#type.as_deref(), Some("app"));
    assert_eq!(a.size, Some(1024));
    assert_eq!(a.signed, Some(true));
    assert_eq!(a.agent_is_decommissioned, Some(false));
    // `type` is serialised under its wire name.
    assert_eq!(serde_json::to_value(&a).unwrap()["type"], "app");

    let c: InstalledApplicationCve = serde_json::from_str(
        r#"{"id":"7","cveId":"CVE-2021-44228","score":10.0,"riskLevel":"critical"}"#,
    )
    .unwrap();
    assert_eq!(c.score, Some(10.0));
    assert_eq!(c.cve_id.as_deref(), Some("CVE-2021-44228"));
    assert!(serde_json::to_value(&c).unwrap()["score"].is_number());
}

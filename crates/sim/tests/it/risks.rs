//! Vulnerability findings: `/application-management/risks` fidelity, paging, scope validation,
//! the deprecated Application Risk API, finding changes and scale.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use s1bridge_api::features::Capability;
use s1bridge_api::wire::{Envelope, InstalledApplication, InstalledApplicationCve, Risk};
use s1bridge_sim::{Faults, FindingChanges, FindingKey, RiskApi, SimConfig, Simulator};

use crate::fidelity::compare;
use crate::{b64, get, sample, start, urlencode};

const NOW: &str = "2026-03-01T00:00:00Z";

fn cfg(agents: u32) -> SimConfig {
    SimConfig {
        agents,
        now: Some(NOW.into()),
        ..SimConfig::default()
    }
}

/// The Swagger VLN-SKU fields the simulator adds to the captured (non-VLN) row.
const VLN_FIELDS: [&str; 10] = [
    "nvdBaseScore",
    "nvdCvssVersion",
    "riskScore",
    "exploitCodeMaturity",
    "remediationLevel",
    "reportConfidence",
    "mitigationStatus",
    "mitigationStatusChangedBy",
    "mitigationStatusChangeTime",
    "mitigationStatusReason",
];

fn key(r: &Risk) -> FindingKey {
    FindingKey {
        agent_id: r.endpoint_id.clone().unwrap(),
        application: r.application_name.clone().unwrap(),
        version: r.application_version.clone().unwrap(),
        cve_id: r.cve_id.clone().unwrap(),
    }
}

/// Page through `/application-management/risks?{query}` and return every row in order.
async fn all_risks(sim: &s1bridge_sim::RunningSim, query: &str) -> Vec<Risk> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100_000 {
        let mut q = query.to_string();
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={}", urlencode(c)));
        }
        let r = get(sim, &format!("/application-management/risks?{q}")).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let e: Envelope<Vec<Risk>> = serde_json::from_slice(&r.body).unwrap();
        out.extend(e.data);
        match e.pagination.as_ref().and_then(|p| p.next()) {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
    panic!("pagination did not end");
}

#[tokio::test]
async fn a_served_risk_row_has_the_real_rows_keys_and_types() {
    let sim = start(cfg(40)).await;
    let r = get(&sim, "/application-management/risks?limit=50").await;
    assert_eq!(r.status, 200);
    let ours = r.json();
    let real = sample("application-management-risks-page1.elastic.json");
    let mut problems = Vec::new();
    compare(&real, &ours, "", false, &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");
    let real_row = real["data"][0].as_object().unwrap();
    for row in ours["data"].as_array().unwrap() {
        let row = row.as_object().unwrap();
        let extra: Vec<&String> = row.keys().filter(|k| !real_row.contains_key(*k)).collect();
        assert!(
            extra.iter().all(|k| VLN_FIELDS.contains(&k.as_str())),
            "keys neither in the capture nor VLN fields: {extra:?}"
        );
        // Non-null in the capture => non-null here, same JSON type.
        for (k, v) in real_row {
            if !v.is_null() {
                assert_eq!(
                    crate::fidelity::kind(&row[k]),
                    crate::fidelity::kind(v),
                    "{k}"
                );
            }
        }
        assert_eq!(row["markType"], "");
    }
    assert_eq!(ours["data"].as_array().unwrap().len(), 50);
    assert_eq!(ours["pagination"]["totalItems"], 40 * 8);
}

#[tokio::test]
async fn risk_rows_are_consistent_with_the_agents_and_the_clock() {
    let sim = start(cfg(30)).await;
    let rows = all_risks(&sim, "limit=1000").await;
    assert_eq!(rows.len(), 30 * 8);
    let now = chrono::DateTime::parse_from_rfc3339(NOW).unwrap();
    let mut cves = BTreeSet::new();
    let mut row_ids = BTreeSet::new();
    for r in &rows {
        let agent = sim.sim.agent(r.endpoint_id.as_deref().unwrap()).unwrap();
        assert_eq!(r.endpoint_name, agent.computer_name);
        assert_eq!(r.endpoint_type, agent.machine_type);
        assert_eq!(r.os_type, agent.os_type);
        let id = r.id.clone().unwrap();
        assert!(
            (18..=19).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit()),
            "{id}"
        );
        assert!(row_ids.insert(id), "duplicate row id");
        let det =
            chrono::DateTime::parse_from_rfc3339(r.detection_date.as_deref().unwrap()).unwrap();
        assert!(det < now, "{det} not before {now}");
        let created =
            chrono::DateTime::parse_from_rfc3339(agent.created_at.as_deref().unwrap()).unwrap();
        assert!(
            det > created,
            "detected {det} before the agent was created {created}"
        );
        assert_eq!(r.days_detected, Some((now - det).num_days()));
        let scan =
            chrono::DateTime::parse_from_rfc3339(r.last_scan_date.as_deref().unwrap()).unwrap();
        assert!(
            scan <= now && scan.timestamp() >= det.timestamp(),
            "{scan} vs {det}"
        );
        assert_eq!(r.status.as_deref(), Some("Detected"));
        assert_eq!(r.last_scan_result.as_deref(), Some("Succeeded"));
        assert_eq!(r.cvss_version.as_deref(), Some("3.1"));
        let bs = r.base_score.as_deref().unwrap();
        assert!(
            bs.len() >= 4 && bs.as_bytes()[bs.len() - 3] == b'.',
            "baseScore {bs} is not the console's 2-decimal string"
        );
        let score = r.base_score_f64().unwrap();
        let sev = r.severity.as_deref().unwrap();
        let expected = match score {
            s if s >= 9.0 => "CRITICAL",
            s if s >= 7.0 => "HIGH",
            s if s >= 4.0 => "MEDIUM",
            _ => "LOW",
        };
        assert_eq!(sev, expected, "{:?} {score}", r.cve_id);
        assert_eq!(
            r.application.as_deref().unwrap(),
            format!(
                "{} {}",
                r.application_name.as_deref().unwrap(),
                r.application_version.as_deref().unwrap()
            )
        );
        cves.insert(r.cve_id.clone().unwrap());
    }
    // Rows of one endpoint are together.
    let mut seen = BTreeSet::new();
    let mut last: Option<&str> = None;
    for r in &rows {
        let e = r.endpoint_id.as_deref().unwrap();
        if last != Some(e) {
            assert!(seen.insert(e), "endpoint {e} is split");
            last = Some(e);
        }
    }
    // The priority engine gets CISA KEV hits.
    let kev = [
        "CVE-2023-4863",
        "CVE-2023-38545",
        "CVE-2024-4577",
        "CVE-2021-44228",
    ];
    let all: Vec<FindingKey> = Simulator::new(cfg(2_000)).present_findings();
    for k in kev {
        assert!(all.iter().any(|f| f.cve_id == k), "{k} never served");
    }
    assert!(cves.len() > 10, "{cves:?}");
}

#[tokio::test]
async fn paging_returns_every_finding_exactly_once_in_both_orders() {
    let sim = start(SimConfig {
        sites_per_account: 4,
        ..cfg(70)
    })
    .await;
    let truth = sim.sim.present_findings();
    assert_eq!(truth.len(), 70 * 8);
    for limit in [7, 100, 1000] {
        let rows = all_risks(&sim, &format!("limit={limit}")).await;
        let keys: Vec<FindingKey> = rows.iter().map(key).collect();
        assert_eq!(keys, truth, "limit {limit}");
    }
    let mut desc: Vec<FindingKey> = all_risks(&sim, "limit=33&sortOrder=desc")
        .await
        .iter()
        .map(key)
        .collect();
    desc.reverse();
    assert_eq!(desc, truth);

    // Per site: the union over sites is everything, each site's rows are its agents'.
    let mut union = Vec::new();
    for site in sim.sim.sites() {
        let r = get(
            &sim,
            &format!("/application-management/risks?siteIds={}&limit=1", site.id),
        )
        .await;
        let total = r.json()["pagination"]["totalItems"].as_u64().unwrap();
        let rows = all_risks(&sim, &format!("siteIds={}&limit=45", site.id)).await;
        assert_eq!(rows.len() as u64, total);
        for row in &rows {
            let a = sim.sim.agent(row.endpoint_id.as_deref().unwrap()).unwrap();
            assert_eq!(a.site_id.as_deref(), Some(site.id.as_str()));
        }
        union.extend(rows.iter().map(key));
    }
    union.sort();
    let mut sorted = truth.clone();
    sorted.sort();
    assert_eq!(union, sorted);

    // countOnly, skipCount, skip.
    let r = get(&sim, "/application-management/risks?countOnly=true").await;
    let v = r.json();
    assert_eq!(v["data"], serde_json::json!([]));
    assert_eq!(v["pagination"]["totalItems"], 70 * 8);
    let v = get(&sim, "/application-management/risks?skipCount=true&limit=3")
        .await
        .json();
    assert_eq!(v["pagination"]["totalItems"], 0);
    assert!(v["pagination"]["nextCursor"].is_string());
    let e: Envelope<Vec<Risk>> = serde_json::from_slice(
        &get(&sim, "/application-management/risks?skip=5&limit=4")
            .await
            .body,
    )
    .unwrap();
    assert_eq!(e.data.iter().map(key).collect::<Vec<_>>(), truth[5..9]);
}

#[tokio::test]
async fn filters_select_the_matching_findings() {
    let sim = start(cfg(120)).await;
    let truth = sim.sim.present_findings();
    let rows = all_risks(&sim, "limit=1000&cveId__contains=cve-2021-44").await;
    let want: Vec<&FindingKey> = truth
        .iter()
        .filter(|k| k.cve_id.starts_with("CVE-2021-44"))
        .collect();
    assert!(!want.is_empty());
    assert_eq!(
        rows.iter().map(key).collect::<Vec<_>>(),
        want.into_iter().cloned().collect::<Vec<_>>()
    );
    let r = get(
        &sim,
        "/application-management/risks?cveId__contains=CVE-2021-44&limit=1",
    )
    .await;
    assert_eq!(r.json()["pagination"]["totalItems"], rows.len());

    let rows = all_risks(&sim, "limit=1000&severities=CRITICAL,low").await;
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| matches!(r.severity.as_deref(), Some("CRITICAL" | "LOW")))
    );
    let rows = all_risks(&sim, "limit=1000&osTypes=linux").await;
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r.os_type.as_deref() == Some("linux")));
    let n_linux = truth
        .iter()
        .filter(|k| sim.sim.agent(&k.agent_id).unwrap().os_type.as_deref() == Some("linux"))
        .count();
    assert_eq!(rows.len(), n_linux);
}

#[tokio::test]
async fn scope_filters_accept_exactly_one_id() {
    let sim = start(cfg(20)).await;
    let sites = sim.sim.sites();
    for (k, v) in [
        ("siteIds", format!("{},{}", sites[0].id, sites[1].id)),
        ("accountIds", "1,2".to_string()),
        ("groupIds", "3,4".to_string()),
    ] {
        let r = get(&sim, &format!("/application-management/risks?{k}={v}")).await;
        assert_eq!(r.status, 400, "{k}");
        let e = r.json();
        assert_eq!(e["errors"][0]["code"], 4000010);
        assert_eq!(e["errors"][0]["title"], "Validation Error");
        let d = e["errors"][0]["detail"].as_str().unwrap();
        assert!(d.contains(k) && d.contains("maximum length 1"), "{d}");
    }
    // Bad input is a validation error, never a crash.
    for q in [
        "limit=0",
        "limit=1001",
        "limit=x",
        "cursor=%%%",
        "cursor=cmlzazp4",
        "includeRemovals=maybe",
        "sortBy=nope",
        "sortOrder=sideways",
        "skip=1001",
    ] {
        let r = get(&sim, &format!("/application-management/risks?{q}")).await;
        assert_eq!(r.status, 400, "{q}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["errors"][0]["code"], 4000010, "{q}");
    }
    // One id is fine; the site-scoped token may not read another site.
    let r = get(
        &sim,
        &format!("/application-management/risks?siteIds={}", sites[1].id),
    )
    .await;
    assert_eq!(r.status, 200);
    sim.sim.set_faults(Faults {
        site_scoped_token: true,
        ..Faults::default()
    });
    let r = get(
        &sim,
        &format!("/application-management/risks?siteIds={}", sites[1].id),
    )
    .await;
    assert_eq!(r.status, 403);
    let all = all_risks(&sim, "limit=1000").await;
    assert!(!all.is_empty());
    for row in &all {
        let a = sim.sim.agent(row.endpoint_id.as_deref().unwrap()).unwrap();
        assert_eq!(a.site_id.as_deref(), Some(sites[0].id.as_str()));
    }
}

#[tokio::test]
async fn feature_faults_apply_to_the_vulnerability_paths() {
    let sim = start(cfg(10)).await;
    for (f, status) in [
        (
            Faults {
                forbidden: vec![Capability::Vulnerabilities],
                ..Faults::default()
            },
            403,
        ),
        (
            Faults {
                not_licensed: vec![Capability::Vulnerabilities],
                ..Faults::default()
            },
            403,
        ),
    ] {
        sim.sim.set_faults(f);
        for p in ["/application-management/risks", "/installed-applications"] {
            assert_eq!(get(&sim, p).await.status, status, "{p}");
        }
    }
}

#[tokio::test]
async fn deleted_agents_lose_their_findings_and_decommissioned_keep_them() {
    let sim = start(cfg(50)).await;
    let rep = sim.sim.apply_changes(&s1bridge_sim::TenantChanges {
        delete: 3,
        decommission: 2,
        add: 2,
        seed: 5,
        ..Default::default()
    });
    let truth = sim.sim.present_findings();
    let rows: Vec<FindingKey> = all_risks(&sim, "limit=1000")
        .await
        .iter()
        .map(key)
        .collect();
    assert_eq!(rows, truth);
    let agents: BTreeSet<&str> = truth.iter().map(|k| k.agent_id.as_str()).collect();
    for d in &rep.deleted {
        assert!(!agents.contains(d.as_str()));
    }
    for d in rep.decommissioned.iter().chain(&rep.added) {
        assert!(agents.contains(d.as_str()), "{d}");
    }
    assert_eq!(truth.len(), (50 - 3 + 2) * 8);
}

#[tokio::test]
async fn fixed_new_and_reopened_findings_show_up() {
    let sim = start(cfg(60)).await;
    let before: BTreeMap<FindingKey, String> = all_risks(&sim, "limit=1000")
        .await
        .iter()
        .map(|r| (key(r), r.id.clone().unwrap()))
        .collect();
    let rep = sim.sim.apply_finding_changes(&FindingChanges {
        fix_findings: 6,
        new_findings: 4,
        reopen_findings: 2, // nothing fixed yet: nothing to reopen
        seed: 11,
    });
    assert_eq!(rep.fixed_findings.len(), 6);
    assert_eq!(rep.new_findings.len(), 4);
    assert!(rep.reopened_findings.is_empty());
    let rows = all_risks(&sim, "limit=1000").await;
    let now: BTreeMap<FindingKey, String> = rows
        .iter()
        .map(|r| (key(r), r.id.clone().unwrap()))
        .collect();
    assert_eq!(
        rows.iter().map(key).collect::<Vec<_>>(),
        sim.sim.present_findings()
    );
    assert_eq!(now.len(), 60 * 8 - 6 + 4);
    for k in &rep.fixed_findings {
        assert!(before.contains_key(k) && !now.contains_key(k), "{k:?}");
    }
    for k in &rep.new_findings {
        assert!(!before.contains_key(k) && now.contains_key(k), "{k:?}");
    }
    // Unchanged findings keep their row ids.
    for (k, id) in &now {
        if let Some(old) = before.get(k) {
            assert_eq!(old, id);
        }
    }
    // includeRemovals lists the fixed ones as Removed.
    let with = all_risks(&sim, "limit=1000&includeRemovals=true").await;
    let removed: BTreeSet<FindingKey> = with
        .iter()
        .filter(|r| r.status.as_deref() == Some("Removed"))
        .map(key)
        .collect();
    assert_eq!(
        removed,
        rep.fixed_findings.iter().cloned().collect::<BTreeSet<_>>()
    );

    // Reopen: the same finding comes back with a new console row id.
    let rep2 = sim.sim.apply_finding_changes(&FindingChanges {
        reopen_findings: 2,
        seed: 12,
        ..FindingChanges::default()
    });
    assert_eq!(rep2.reopened_findings.len(), 2);
    let after: BTreeMap<FindingKey, String> = all_risks(&sim, "limit=1000")
        .await
        .iter()
        .map(|r| (key(r), r.id.clone().unwrap()))
        .collect();
    for k in &rep2.reopened_findings {
        assert!(rep.fixed_findings.contains(k), "{k:?} was not fixed");
        let new_id = after.get(k).unwrap_or_else(|| panic!("{k:?} not listed"));
        assert_ne!(new_id, &before[k], "reopened {k:?} kept its row id");
    }
    assert_eq!(after.len(), now.len() + 2);

    // Deterministic: the same changes on a fresh simulator give the same report.
    let twin = Simulator::new(cfg(60));
    let r1 = twin.apply_finding_changes(&FindingChanges {
        fix_findings: 6,
        new_findings: 4,
        reopen_findings: 2,
        seed: 11,
    });
    assert_eq!(r1, rep);
}

#[tokio::test]
async fn deprecated_consoles_have_only_the_application_risk_api() {
    let sim = start(SimConfig {
        risk_api: RiskApi::Deprecated,
        ..cfg(25)
    })
    .await;
    for p in [
        "/application-management/risks",
        "/application-management/inventory",
    ] {
        let r = get(&sim, p).await;
        assert_eq!(r.status, 404, "{p}");
        assert_eq!(r.json()["errors"][0]["title"], "Not Found");
    }
    let truth = sim.sim.present_findings();
    // Every application of every agent, paged.
    let mut apps: Vec<InstalledApplication> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = "/installed-applications?limit=13".to_string();
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={}", urlencode(c)));
        }
        let r = get(&sim, &q).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let e: Envelope<Vec<InstalledApplication>> = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            e.pagination.as_ref().unwrap().total_items,
            Some(total_apps(&truth))
        );
        apps.extend(e.data);
        match e.pagination.as_ref().and_then(|p| p.next()) {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(apps.len() as i64, total_apps(&truth));
    let mut ids = BTreeSet::new();
    let mut from_cves: Vec<FindingKey> = Vec::new();
    for a in &apps {
        assert!(ids.insert(a.id.clone().unwrap()), "duplicate app id");
        let agent = sim.sim.agent(a.agent_id.as_deref().unwrap()).unwrap();
        assert_eq!(a.agent_computer_name, agent.computer_name);
        assert_eq!(a.r#type.as_deref(), Some("app"));
        let r = get(
            &sim,
            &format!(
                "/installed-applications/cves?limit=1000&applicationIds={}",
                a.id.as_deref().unwrap()
            ),
        )
        .await;
        assert_eq!(r.status, 200);
        let e: Envelope<Vec<InstalledApplicationCve>> = serde_json::from_slice(&r.body).unwrap();
        assert!(!e.data.is_empty());
        let max = e
            .data
            .iter()
            .map(|c| level_rank(c.risk_level.as_deref().unwrap()))
            .max()
            .unwrap();
        assert_eq!(level_rank(a.risk_level.as_deref().unwrap()), max);
        for c in &e.data {
            assert!(c.score.is_some());
            from_cves.push(FindingKey {
                agent_id: a.agent_id.clone().unwrap(),
                application: a.name.clone().unwrap(),
                version: a.version.clone().unwrap(),
                cve_id: c.cve_id.clone().unwrap(),
            });
        }
    }
    from_cves.sort();
    let mut t = truth.clone();
    t.sort();
    assert_eq!(from_cves, t);
    // riskLevels filter.
    let v = get(
        &sim,
        "/installed-applications?riskLevels=critical&limit=1000",
    )
    .await
    .json();
    let crit = v["data"].as_array().unwrap();
    assert!(!crit.is_empty());
    assert!(crit.iter().all(|a| a["riskLevel"] == "critical"));
    assert_eq!(
        get(&sim, "/installed-applications?riskLevels=bogus")
            .await
            .status,
        400
    );
    // A fixed finding disappears from its application's CVEs.
    let rep = sim.sim.apply_finding_changes(&FindingChanges {
        fix_findings: 1,
        seed: 1,
        ..FindingChanges::default()
    });
    let fixed = &rep.fixed_findings[0];
    let app = apps
        .iter()
        .find(|a| {
            a.agent_id.as_deref() == Some(fixed.agent_id.as_str())
                && a.name.as_deref() == Some(fixed.application.as_str())
                && a.version.as_deref() == Some(fixed.version.as_str())
        })
        .unwrap();
    let v = get(
        &sim,
        &format!(
            "/installed-applications/cves?applicationIds={}&limit=1000",
            app.id.as_deref().unwrap()
        ),
    )
    .await
    .json();
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["cveId"] != fixed.cve_id.as_str())
    );
}

fn total_apps(truth: &[FindingKey]) -> i64 {
    truth
        .iter()
        .map(|k| (&k.agent_id, &k.application, &k.version))
        .collect::<BTreeSet<_>>()
        .len() as i64
}

fn level_rank(l: &str) -> u8 {
    match l {
        "critical" => 4,
        "high" => 3,
        "medium" => 2,
        "low" => 1,
        _ => 0,
    }
}

#[tokio::test]
async fn current_consoles_also_answer_the_deprecated_api() {
    let sim = start(cfg(5)).await;
    let r = get(&sim, "/installed-applications?limit=5").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn a_200000_finding_tenant_pages_without_materialising() {
    let t0 = Instant::now();
    let small = Simulator::new(cfg(250));
    let t_small = t0.elapsed();
    let t1 = Instant::now();
    let big = Simulator::new(cfg(25_000));
    let t_big = t1.elapsed();
    assert!(
        t_big < t_small * 20 + std::time::Duration::from_millis(50),
        "construction grows with size: {t_small:?} vs {t_big:?}"
    );
    drop(small);
    let sim = big.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let ids = sim.sim.present_agent_ids();
    let mid = &ids[12_500];
    let last_agent = ids.last().unwrap();
    for (what, q) in [
        ("first", "limit=1000".to_string()),
        (
            "middle",
            format!(
                "limit=1000&cursor={}",
                urlencode(&b64(&format!("risk:{mid}:7")))
            ),
        ),
        ("last", "limit=1000&sortOrder=desc".to_string()),
    ] {
        let t = Instant::now();
        let r = get(&sim, &format!("/application-management/risks?{q}")).await;
        let took = t.elapsed();
        eprintln!(
            "{what} page of 1000 findings: {took:?} ({} bytes)",
            r.body.len()
        );
        assert_eq!(r.status, 200, "{what}");
        let e: Envelope<Vec<Risk>> = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(e.data.len(), 1000, "{what}");
        assert_eq!(e.pagination.as_ref().unwrap().total_items, Some(200_000));
        assert!(e.pagination.unwrap().next().is_some());
        // Generous for debug builds on a shared machine; a scan of 200,000 findings would not be.
        assert!(took.as_millis() < 2_000, "{what} page took {took:?}");
        match what {
            "middle" => {
                // Starts right after slot 7 of agent #12,500.
                assert_eq!(e.data[0].endpoint_id.as_deref(), Some(ids[12_501].as_str()));
            }
            "last" => assert_eq!(e.data[0].endpoint_id.as_deref(), Some(last_agent.as_str())),
            _ => assert_eq!(e.data[0].endpoint_id.as_deref(), Some(ids[0].as_str())),
        }
    }
}

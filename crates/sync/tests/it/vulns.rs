//! The vulnerabilities feature end to end against the simulator.

use s1bridge_api::features::Capability;
use s1bridge_sim::{Faults, FindingChanges, RiskApi, SimConfig, TenantChanges};
use s1bridge_store::{FeatureStatus, FindingFilter, FindingKey, FindingStatus, RunStatus, Scope};
use s1bridge_sync::vulns::RiskApi as SeenApi;
use s1bridge_sync::{Feature, Mode, SyncOptions};

use crate::Env;

fn cfg(agents: u32) -> SimConfig {
    SimConfig {
        agents,
        findings_per_agent: 6,
        ..SimConfig::default()
    }
}

fn scan(full: bool) -> SyncOptions {
    let mut o = SyncOptions::new("c");
    o.devices.full = full;
    o
}

fn key_of(k: &s1bridge_sim::FindingKey) -> FindingKey {
    FindingKey {
        agent_id: k.agent_id.clone(),
        application: k.application.clone(),
        application_version: k.version.clone(),
        cve_id: k.cve_id.clone(),
    }
}

async fn stored(env: &Env, statuses: Vec<FindingStatus>) -> Vec<FindingKey> {
    let mut v: Vec<FindingKey> = env
        .store
        .list_findings(&FindingFilter {
            console: Some("c".into()),
            statuses,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|f| FindingKey {
            agent_id: f.agent_id,
            application: f.application,
            application_version: f.application_version,
            cve_id: f.cve_id,
        })
        .collect();
    v.sort();
    v
}

fn truth(env: &Env) -> Vec<FindingKey> {
    let mut v: Vec<FindingKey> = env.sim.sim.present_findings().iter().map(key_of).collect();
    v.sort();
    v
}

fn active() -> Vec<FindingStatus> {
    vec![
        FindingStatus::New,
        FindingStatus::Open,
        FindingStatus::Reopened,
    ]
}

fn risk_requests(env: &Env) -> u64 {
    env.sim
        .sim
        .stats()
        .by_path
        .iter()
        .filter(|(p, _)| {
            p.contains("/application-management") || p.contains("/installed-applications")
        })
        .map(|(_, n)| *n)
        .sum()
}

#[tokio::test]
async fn scan_mode_stores_every_finding_with_an_explained_priority() {
    let env = Env::new(cfg(60)).await;
    let r = s1bridge_sync::run(
        &env.client(),
        env.store.clone(),
        &scan(true),
        Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.features);
    let v = r.vulnerabilities.unwrap();
    assert_eq!(v.api, Some(SeenApi::ApplicationManagement));
    assert_eq!(stored(&env, vec![FindingStatus::New]).await, truth(&env));
    assert_eq!(v.new as usize, truth(&env).len());
    let all = env
        .store
        .list_findings(&FindingFilter::default())
        .await
        .unwrap();
    // The queue is ordered by effective priority, and every finding says why.
    let rank = |p: &str| {
        ["info", "low", "medium", "high", "critical"]
            .iter()
            .position(|x| *x == p)
            .unwrap()
    };
    for w in all.windows(2) {
        assert!(rank(&w[0].priority) >= rank(&w[1].priority));
    }
    for f in &all {
        assert!(!f.factors.is_empty(), "{f:?}");
        assert!(f.cvss_score.is_some() && f.vendor_severity.is_some());
        assert!(f.computer_name.is_some());
    }
    // Stable identity: the id is the hash of the key, not the console's row id.
    let f = &all[0];
    let k = FindingKey {
        agent_id: f.agent_id.clone(),
        application: f.application.clone(),
        application_version: f.application_version.clone(),
        cve_id: f.cve_id.clone(),
    };
    assert_eq!(f.finding_id, k.finding_id("c"));
}

#[tokio::test]
async fn asset_sync_mode_makes_no_vulnerability_request_and_leaves_findings_alone() {
    let env = Env::new(cfg(40)).await;
    let client = env.client();
    s1bridge_sync::run(&client, env.store.clone(), &scan(true), Default::default())
        .await
        .unwrap();
    let before = env
        .store
        .list_findings(&FindingFilter::default())
        .await
        .unwrap();
    env.sim.sim.apply_finding_changes(&FindingChanges {
        fix_findings: 10,
        seed: 3,
        ..Default::default()
    });
    env.sim.sim.reset_stats();
    let mut o = scan(true);
    o.mode = Mode::AssetSync;
    let r = s1bridge_sync::run(&client, env.store.clone(), &o, Default::default())
        .await
        .unwrap();
    assert_eq!(risk_requests(&env), 0, "not one vulnerability request");
    let vf = r
        .features
        .iter()
        .find(|f| f.feature == "vulnerabilities")
        .unwrap();
    assert_eq!(vf.status, FeatureStatus::Skipped);
    assert_eq!(vf.reason.as_deref(), Some("asset-sync mode"));
    assert_eq!(r.status, RunStatus::Ok);
    let after = env
        .store
        .list_findings(&FindingFilter::default())
        .await
        .unwrap();
    assert_eq!(before, after, "stored findings exactly as they were");

    // Scan mode does request them (the counter above can fail).
    s1bridge_sync::run(&client, env.store.clone(), &scan(false), Default::default())
        .await
        .unwrap();
    assert!(risk_requests(&env) > 0);
}

#[tokio::test]
async fn the_lifecycle_across_syncs_with_a_failed_one_in_the_middle() {
    let env = Env::new(cfg(50)).await;
    let client = env.client_with(|o| o.retry.max_retries = 1);
    s1bridge_sync::run(&client, env.store.clone(), &scan(true), Default::default())
        .await
        .unwrap();
    let first = truth(&env);

    // Patched on the console; the next sync fails part-way: nothing may be called fixed.
    let ch = env.sim.sim.apply_finding_changes(&FindingChanges {
        fix_findings: 8,
        seed: 5,
        ..Default::default()
    });
    let mut vulns_only = scan(false);
    vulns_only.features = vec![Feature::Vulnerabilities];
    vulns_only.vulns.page_size = 20;
    env.sim.sim.reset_stats();
    env.sim.sim.set_faults(Faults {
        fail_after_requests: Some(env.sim.sim.stats().requests + 4),
        ..Default::default()
    });
    let r = s1bridge_sync::run(&client, env.store.clone(), &vulns_only, Default::default())
        .await
        .unwrap();
    assert_eq!(r.status, RunStatus::Failed);
    assert!(
        stored(&env, vec![FindingStatus::Fixed]).await.is_empty(),
        "a failed sync fixes nothing"
    );
    assert_eq!(stored(&env, active()).await, first);

    // The console recovers: the resumed pass completes and decides.
    env.sim.sim.set_faults(Faults::default());
    let r = s1bridge_sync::run(&client, env.store.clone(), &vulns_only, Default::default())
        .await
        .unwrap();
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.features);
    let mut fixed: Vec<FindingKey> = ch.fixed_findings.iter().map(key_of).collect();
    fixed.sort();
    assert_eq!(stored(&env, vec![FindingStatus::Fixed]).await, fixed);
    assert_eq!(stored(&env, active()).await, truth(&env));
    // Findings seen a second time are no longer new.
    assert!(stored(&env, vec![FindingStatus::New]).await.is_empty());

    // A fixed finding comes back under a new console row id: same finding_id, reopened.
    let back = env.sim.sim.apply_finding_changes(&FindingChanges {
        reopen_findings: 2,
        seed: 6,
        ..Default::default()
    });
    assert_eq!(back.reopened_findings.len(), 2);
    s1bridge_sync::run(&client, env.store.clone(), &vulns_only, Default::default())
        .await
        .unwrap();
    for k in back.reopened_findings.iter().map(key_of) {
        let id = k.finding_id("c");
        let f = env
            .store
            .get_finding(&id)
            .await
            .unwrap()
            .expect("same finding id");
        assert_eq!(f.status, FindingStatus::Reopened);
        let h = env.store.finding_history(&id).await.unwrap();
        let path: Vec<&str> = h.iter().map(|t| t.to.as_str()).collect();
        assert_eq!(path, ["new", "fixed", "reopened"], "{h:?}");
        assert!(h.windows(2).all(|w| w[0].run_id <= w[1].run_id));
    }

    // Its device is deleted from the console: device_removed, not fixed.
    let gone = env.sim.sim.apply_changes(&TenantChanges {
        delete: 2,
        seed: 8,
        ..Default::default()
    });
    s1bridge_sync::run(&client, env.store.clone(), &scan(true), Default::default())
        .await
        .unwrap();
    let removed = env
        .store
        .list_findings(&FindingFilter {
            statuses: vec![FindingStatus::DeviceRemoved],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!removed.is_empty());
    assert!(removed.iter().all(|f| gone.deleted.contains(&f.agent_id)));
}

#[tokio::test]
async fn a_console_with_only_the_deprecated_api_is_read_through_it_and_says_so() {
    let env = Env::new(SimConfig {
        risk_api: RiskApi::Deprecated,
        ..cfg(20)
    })
    .await;
    let r = s1bridge_sync::run(
        &env.client(),
        env.store.clone(),
        &scan(true),
        Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.features);
    let v = r.vulnerabilities.unwrap();
    assert_eq!(v.api, Some(SeenApi::InstalledApplications));
    let vf = r
        .features
        .iter()
        .find(|f| f.feature == "vulnerabilities")
        .unwrap();
    assert!(
        vf.reason.as_deref().unwrap_or("").contains("deprecated"),
        "{vf:?}"
    );
    assert_eq!(stored(&env, active()).await, truth(&env));
}

#[tokio::test]
async fn several_scopes_are_several_passes_of_one_id_each() {
    let env = Env::new(cfg(60)).await;
    let sites = env.sim.sim.sites();
    let (a, b) = (sites[0].id.clone(), sites[1].id.clone());
    let mut o = scan(true);
    o.devices.scope = Scope {
        site_ids: vec![a.clone(), b.clone()],
        ..Default::default()
    };
    o.vulns.scope = o.devices.scope.clone();
    let r = s1bridge_sync::run(&env.client(), env.store.clone(), &o, Default::default())
        .await
        .unwrap();
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.features);
    let risk_queries: Vec<String> = env
        .sim
        .sim
        .request_log()
        .into_iter()
        .filter(|l| {
            l.path.ends_with("/application-management/risks") && l.query.contains("siteIds")
        })
        .map(|l| l.query)
        .collect();
    assert!(risk_queries.iter().any(|q| q.contains(&a)));
    assert!(risk_queries.iter().any(|q| q.contains(&b)));
    assert!(
        risk_queries
            .iter()
            .all(|q| !q.contains("%2C") && !q.contains(',')),
        "{risk_queries:?}"
    );
    // Only the scoped sites' findings were stored.
    let in_scope: std::collections::HashSet<String> = env
        .store
        .list_devices(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.site_id.as_deref() == Some(&a) || d.site_id.as_deref() == Some(&b))
        .map(|d| d.agent_id)
        .collect();
    let stored_all = stored(&env, active()).await;
    assert!(!stored_all.is_empty());
    assert!(stored_all.iter().all(|k| in_scope.contains(&k.agent_id)));
}

#[tokio::test]
async fn an_unusable_kev_file_is_named_and_the_sync_completes_without_it() {
    let env = Env::new(cfg(10)).await;
    let kev = env.dir.path().join("kev.json");
    std::fs::write(
        &kev,
        "{\n  \"vulnerabilities\": [\n    {\"cveID\": \"CVE-1\",,}\n  ]\n}\n",
    )
    .unwrap();
    let mut o = scan(true);
    o.vulns.priority.kev_file = Some(kev.clone());
    let r = s1bridge_sync::run(&env.client(), env.store.clone(), &o, Default::default())
        .await
        .unwrap();
    assert_eq!(r.status, RunStatus::Ok);
    let vf = r
        .features
        .iter()
        .find(|f| f.feature == "vulnerabilities")
        .unwrap();
    let reason = vf.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("kev.json") && reason.contains("line 3"),
        "{reason}"
    );
    assert!(!truth(&env).is_empty());
    assert_eq!(stored(&env, active()).await, truth(&env));
}

#[tokio::test]
async fn a_forbidden_vulnerability_api_leaves_devices_synced() {
    let env = Env::new(SimConfig {
        faults: Faults {
            forbidden: vec![Capability::Vulnerabilities],
            ..Faults::default()
        },
        ..cfg(20)
    })
    .await;
    let r = s1bridge_sync::run(
        &env.client(),
        env.store.clone(),
        &scan(true),
        Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, RunStatus::Degraded);
    assert_eq!(r.exit_code(), 3);
    let df = r.features.iter().find(|f| f.feature == "devices").unwrap();
    assert_eq!(df.status, FeatureStatus::Ok);
    let vf = r
        .features
        .iter()
        .find(|f| f.feature == "vulnerabilities")
        .unwrap();
    assert_eq!(vf.status, FeatureStatus::Unavailable);
    assert_eq!(env.stored_ids("c").await, env.truth());
}

/// Agents deleted between full device passes: an incremental device pass cannot see the
/// deletion, but the findings pass re-checks the agents whose findings all vanished, so their
/// findings are `device_removed`, never `fixed`, and the devices are marked removed.
#[tokio::test]
async fn findings_of_agents_deleted_between_full_passes_are_device_removed_not_fixed() {
    let env = Env::new(cfg(40)).await;
    let client = env.client();
    s1bridge_sync::run(&client, env.store.clone(), &scan(true), Default::default())
        .await
        .unwrap();
    let gone = env.sim.sim.apply_changes(&TenantChanges {
        delete: 3,
        seed: 13,
        ..Default::default()
    });
    let patched = env.sim.sim.apply_finding_changes(&FindingChanges {
        fix_findings: 4,
        seed: 14,
        ..Default::default()
    });
    // Incremental device pass (no deletions visible), then findings.
    let r = s1bridge_sync::run(&client, env.store.clone(), &scan(false), Default::default())
        .await
        .unwrap();
    assert_eq!(
        r.devices.as_ref().unwrap().kind,
        Some(s1bridge_store::PassKind::Incremental)
    );
    let v = r.vulnerabilities.unwrap();
    assert_eq!(v.devices_gone as usize, gone.deleted.len(), "{v:?}");
    let all = env
        .store
        .list_findings(&FindingFilter::default())
        .await
        .unwrap();
    for f in &all {
        if gone.deleted.contains(&f.agent_id) {
            assert_eq!(f.status, FindingStatus::DeviceRemoved, "{f:?}");
        }
    }
    let fixed: Vec<FindingKey> = stored(&env, vec![FindingStatus::Fixed]).await;
    let mut want: Vec<FindingKey> = patched
        .fixed_findings
        .iter()
        .filter(|k| !gone.deleted.contains(&k.agent_id))
        .map(key_of)
        .collect();
    want.sort();
    assert_eq!(fixed, want, "only really patched findings are fixed");
    let removed = env.removed_ids().await;
    for id in &gone.deleted {
        assert!(removed.contains(id), "device {id} marked removed");
    }
}

/// A scoped findings pass re-checks only the vanished agents inside its scope: agents deleted
/// elsewhere are not its business (their findings were not read), so they are neither asked
/// about nor marked removed.
#[tokio::test]
async fn a_scoped_pass_rechecks_only_vanished_agents_inside_its_scope() {
    let env = Env::new(cfg(60)).await;
    let client = env.client();
    s1bridge_sync::run(&client, env.store.clone(), &scan(true), Default::default())
        .await
        .unwrap();
    let site = env.sim.sim.sites()[0].id.clone();
    let site_of: std::collections::HashMap<String, Option<String>> = env
        .store
        .list_devices(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.agent_id, d.site_id))
        .collect();
    let gone = env.sim.sim.apply_changes(&TenantChanges {
        delete: 12,
        seed: 21,
        ..Default::default()
    });
    let (inside, outside): (Vec<String>, Vec<String>) = gone
        .deleted
        .iter()
        .cloned()
        .partition(|a| site_of[a].as_deref() == Some(site.as_str()));
    assert!(
        !inside.is_empty() && !outside.is_empty(),
        "deleted agents on both sides of the scope: {inside:?} / {outside:?}"
    );
    let mut o = scan(false);
    o.features = vec![Feature::Vulnerabilities];
    o.vulns.scope = Scope {
        site_ids: vec![site.clone()],
        ..Default::default()
    };
    let before = env.sim.sim.request_log().len();
    let r = s1bridge_sync::run(&client, env.store.clone(), &o, Default::default())
        .await
        .unwrap();
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.features);
    assert_eq!(
        r.vulnerabilities.unwrap().devices_gone as usize,
        inside.len()
    );
    let asked: Vec<String> = env.sim.sim.request_log()[before..]
        .iter()
        .filter(|l| l.path.ends_with("/agents") && l.query.contains("ids="))
        .map(|l| l.query.clone())
        .collect();
    assert!(!asked.is_empty());
    for a in &outside {
        assert!(
            asked.iter().all(|q| !q.contains(a.as_str())),
            "{a} asked: {asked:?}"
        );
    }
    let removed = env.removed_ids().await;
    assert!(inside.iter().all(|a| removed.contains(a)), "{removed:?}");
    assert!(outside.iter().all(|a| !removed.contains(a)), "{removed:?}");
}

/// Device tags are stored by the device pass and drive criticality rules: a `tag` rule raises
/// exactly the findings of the agents the console tagged, and says which tag matched.
#[tokio::test]
async fn a_tag_criticality_rule_matches_exactly_the_tagged_devices() {
    let env = Env::new(cfg(200)).await;
    let mut o = scan(true);
    o.vulns
        .priority
        .criticality_rules
        .push(s1bridge_priority::CriticalityRule {
            name: "production".into(),
            site: None,
            group: None,
            tag: Some("env=prod".into()),
            name_pattern: None,
            effect: 1,
        });
    let r = s1bridge_sync::run(&env.client(), env.store.clone(), &o, Default::default())
        .await
        .unwrap();
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.features);
    let devices = env
        .store
        .list_devices(&s1bridge_store::DeviceFilter::default())
        .await
        .unwrap();
    let prod: std::collections::HashSet<String> = devices
        .iter()
        .filter(|d| d.tags.iter().any(|t| t == "env=prod"))
        .map(|d| d.agent_id.clone())
        .collect();
    assert!(
        !prod.is_empty() && prod.len() < devices.len(),
        "the simulator tags some agents env=prod ({} of {})",
        prod.len(),
        devices.len()
    );
    let findings = env
        .store
        .list_findings(&FindingFilter::default())
        .await
        .unwrap();
    for f in &findings {
        let rule = f.factors.iter().find(|x| x.name == "criticality");
        assert_eq!(
            rule.is_some_and(|x| x.effect == 1 && x.detail.contains("tag env=prod")),
            prod.contains(&f.agent_id),
            "{f:?}"
        );
    }
}

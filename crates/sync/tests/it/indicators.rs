//! Indicator push against the simulator: per-OS presence, idempotence (the second push only
//! reads), dry run writes nothing, prune never touches foreign objects, the audit log, and
//! Firewall Control unlicensed while hash blocking proceeds.

use s1bridge_api::features::Capability;
use s1bridge_api::indicators::{RestrictionCreate, RestrictionData, ScopeFilter};
use s1bridge_sim::{Faults, SimConfig};
use s1bridge_store::{AuditFilter, IndicatorFilter, IndicatorState};
use s1bridge_sync::indicators::{Op, PushOptions, State, Target, push, verify};

use crate::Env;

const SHA1: &str = "3395856ce81f2b7382dee72602f798b642f14140";

fn input(text: &str) -> Vec<s1bridge_indicators::Indicator> {
    let p = s1bridge_indicators::parse(text, None);
    assert!(p.rejected.is_empty(), "{:?}", p.rejected);
    p.indicators
}

fn opts(targets: &[Target]) -> PushOptions {
    PushOptions {
        console: "sim".into(),
        actor: "tester@host".into(),
        targets: targets.to_vec(),
        scope: ScopeFilter::global(),
        description: "Created by s1bridge".into(),
        dry_run: false,
        prune: false,
        now: chrono::Utc::now(),
    }
}

fn writes(env: &Env, from: usize) -> Vec<String> {
    env.sim.sim.request_log()[from..]
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[tokio::test]
async fn push_is_per_os_idempotent_and_audited() {
    let env = Env::new(SimConfig::default()).await;
    let client = env.client();
    // Someone already blocked the hash for Windows only.
    client
        .create_blocklist_entry(&RestrictionCreate {
            data: RestrictionData {
                kind: "black_hash".into(),
                value: SHA1.into(),
                os_type: "windows".into(),
                description: Some("analyst".into()),
                source: None,
            },
            filter: ScopeFilter::global(),
        })
        .await
        .unwrap();
    let file = format!(
        "sha1,{SHA1}\nipv4,203.0.113.7,c2\ndomain,evil.example\nurl,https://evil.example/x\n"
    );
    let inds = input(&file);
    let all = [Target::Firewall, Target::Blocklist, Target::Ti];

    // Dry run: a plan, and not one write request.
    let before = env.sim.sim.request_log().len();
    let mut o = opts(&all);
    o.dry_run = true;
    let plan = push(&client, &env.store, &inds, &o).await.unwrap();
    assert!(
        writes(&env, before).is_empty(),
        "{:?}",
        writes(&env, before)
    );
    let creates = plan.steps.iter().filter(|s| s.op == Op::Create).count();
    // blocklist: macOS + Linux; firewall: IP + domain; TI: 4.
    assert_eq!(creates, 2 + 2 + 4, "{:#?}", plan.steps);
    let win = plan
        .steps
        .iter()
        .find(|s| s.target == Target::Blocklist && s.os_type.as_deref() == Some("windows"))
        .unwrap();
    assert_eq!(
        (win.op, win.detail.as_str()),
        (Op::Skip, "exists (not ours)")
    );

    let r = push(&client, &env.store, &inds, &opts(&all)).await.unwrap();
    assert_eq!(r.failed(), 0, "{:#?}", r.steps);
    let audit = env.store.list_audit(&AuditFilter::default()).await.unwrap();
    // 2 blocklist + 2 firewall entries, one TI batch.
    assert_eq!(audit.len(), 5);
    assert!(
        audit
            .iter()
            .all(|a| a.action == "indicators.create" && a.result == "ok")
    );
    let listed = client.list_blocklist(&ScopeFilter::global()).await.unwrap();
    assert_eq!(listed.len(), 3);

    // Verify: everything deployed (Windows by someone else); then someone disables our rule.
    let (rows, warnings) = verify(&client, &inds, &opts(&all)).await;
    assert!(warnings.is_empty(), "{warnings:?}");
    let states: Vec<_> = rows.iter().map(|r| r.state).collect();
    assert_eq!(
        states
            .iter()
            .filter(|s| **s == State::DeployedForeign)
            .count(),
        1
    );
    assert!(
        states
            .iter()
            .all(|s| matches!(s, State::Deployed | State::DeployedForeign)),
        "{rows:#?}"
    );
    let rule = client
        .list_firewall_rules(&ScopeFilter::global())
        .await
        .unwrap()
        .into_iter()
        .find(|r| {
            r.remote_hosts
                .iter()
                .any(|h| h.values.iter().any(|v| v == "203.0.113.7"))
        })
        .unwrap();
    let _: s1bridge_api::wire::Envelope<serde_json::Value> = client
        .put(
            &format!("/firewall-control/{}", rule.id),
            &[],
            &serde_json::json!({"data": {"status": "Disabled"}}),
        )
        .await
        .unwrap();
    let (rows, _) = verify(&client, &inds, &opts(&all)).await;
    let drifted: Vec<_> = rows.iter().filter(|r| r.state == State::Drifted).collect();
    assert_eq!(drifted.len(), 1, "{rows:#?}");
    assert_eq!(drifted[0].target, Target::Firewall);
    assert!(drifted[0].detail.contains("Disabled"));
    let (rows, _) = verify(
        &client,
        &input("md5,d41d8cd98f00b204e9800998ecf8427e\n"),
        &opts(&all),
    )
    .await;
    assert_eq!(rows[0].state, State::Missing);

    // Second push: creates nothing and only reads.
    let before = env.sim.sim.request_log().len();
    let r = push(&client, &env.store, &inds, &opts(&all)).await.unwrap();
    assert!(
        writes(&env, before).is_empty(),
        "{:?}",
        writes(&env, before)
    );
    assert!(r.steps.iter().all(|s| s.op == Op::Skip));
    assert_eq!(
        env.store
            .list_audit(&AuditFilter::default())
            .await
            .unwrap()
            .len(),
        5
    );

    // Prune with the hash gone: our macOS/Linux entries go, the analyst's Windows entry stays.
    let mut o = opts(&all);
    o.prune = true;
    let r = push(
        &client,
        &env.store,
        &input("ipv4,203.0.113.7\ndomain,evil.example\nurl,https://evil.example/x\n"),
        &o,
    )
    .await
    .unwrap();
    let deletes: Vec<_> = r.steps.iter().filter(|s| s.op == Op::Delete).collect();
    assert_eq!(deletes.len(), 3, "{deletes:#?}"); // 2 blocklist + TI sha1
    let left = client.list_blocklist(&ScopeFilter::global()).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].description.as_deref(), Some("analyst"));
    let audit = env.store.list_audit(&AuditFilter::default()).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action == "indicators.delete")
            .count(),
        3
    );
}

#[tokio::test]
async fn firewall_unlicensed_names_the_prerequisite_and_hashes_still_go_through() {
    let env = Env::new(SimConfig::default()).await;
    env.sim.sim.set_faults(Faults {
        not_licensed: vec![Capability::FirewallControl],
        ..Faults::default()
    });
    let client = env.client();
    let inds = input(&format!(
        "sha1,{SHA1}\nipv4,203.0.113.7\nurl,https://evil.example/\n"
    ));
    let r = push(
        &client,
        &env.store,
        &inds,
        &opts(&[Target::Firewall, Target::Blocklist]),
    )
    .await
    .unwrap();
    assert_eq!(r.warnings.len(), 1);
    assert!(r.warnings[0].contains("Control SKU"), "{}", r.warnings[0]);
    assert_eq!(r.unsupported.len(), 1);
    assert!(r.unsupported[0].reason.contains("--target ti"));
    let counts: Vec<_> = r
        .counts
        .iter()
        .map(|(t, c)| (*t, c.created, c.failed))
        .collect();
    assert_eq!(
        counts,
        [(Target::Firewall, 0, 1), (Target::Blocklist, 3, 0)]
    );
}

fn rule(name: &str, host: &str, values: &[&str]) -> s1bridge_api::indicators::FirewallRuleCreate {
    s1bridge_api::indicators::FirewallRuleCreate {
        data: s1bridge_api::indicators::FirewallRuleData {
            name: name.into(),
            description: Some("analyst".into()),
            action: "Block".into(),
            status: "Enabled".into(),
            os_types: vec!["windows".into()],
            remote_hosts: vec![s1bridge_api::indicators::HostSpec {
                kind: host.into(),
                values: values.iter().map(|v| v.to_string()).collect(),
            }],
            ..Default::default()
        },
        filter: ScopeFilter::global(),
    }
}

async fn stored(env: &Env, f: IndicatorFilter) -> Vec<s1bridge_store::StoredIndicator> {
    env.store
        .list_indicators(&IndicatorFilter {
            console: Some("sim".into()),
            ..f
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn push_records_per_object_and_prune_never_touches_foreign_objects() {
    let env = Env::new(SimConfig::default()).await;
    let client = env.client();
    // A foreign rule already blocks one address among others.
    let foreign = client
        .create_firewall_rule(&rule(
            "analyst rule",
            "addresses",
            &["198.51.100.9", "198.51.100.10"],
        ))
        .await
        .unwrap();
    let inds = input(&format!(
        "sha1,{SHA1},dropper\nipv4,198.51.100.9\nipv4,203.0.113.7\n"
    ));
    let targets = [Target::Firewall, Target::Blocklist];
    // A dry run records nothing.
    let mut o = opts(&targets);
    o.dry_run = true;
    push(&client, &env.store, &inds, &o).await.unwrap();
    assert!(stored(&env, IndicatorFilter::default()).await.is_empty());

    let r = push(&client, &env.store, &inds, &opts(&targets))
        .await
        .unwrap();
    assert_eq!(r.failed(), 0, "{:#?}", r.steps);
    let rows = stored(&env, IndicatorFilter::default()).await;
    // 3 blocklist entries (ours, created), our rule's address, the foreign rule's address.
    assert_eq!(rows.len(), 5, "{rows:#?}");
    let fw_foreign: Vec<_> = rows.iter().filter(|r| !r.ours).collect();
    assert_eq!(fw_foreign.len(), 1);
    assert_eq!(fw_foreign[0].object_id, foreign.id);
    assert_eq!(fw_foreign[0].value, "198.51.100.9");
    assert_eq!(fw_foreign[0].state, IndicatorState::Skipped);
    assert_eq!(fw_foreign[0].description.as_deref(), Some("analyst"));
    let hashes: Vec<_> = rows.iter().filter(|r| r.target == "blocklist").collect();
    assert_eq!(hashes.len(), 3);
    assert!(hashes.iter().all(|r| {
        r.ours
            && r.state == IndicatorState::Created
            && r.description
                .as_deref()
                .is_some_and(|d| d.contains("dropper"))
    }));
    let oses: Vec<_> = hashes.iter().map(|r| r.os_type.clone().unwrap()).collect();
    assert_eq!(oses, ["linux", "macos", "windows"]);
    let ours_fw = rows
        .iter()
        .find(|r| r.target == "firewall" && r.ours)
        .unwrap();
    assert_eq!(ours_fw.value, "203.0.113.7");
    assert_eq!(ours_fw.direction.as_deref(), Some("any"));

    // Second push: reads only; the rows become `skipped` with the same objects.
    let before = env.sim.sim.request_log().len();
    push(&client, &env.store, &inds, &opts(&targets))
        .await
        .unwrap();
    assert!(
        writes(&env, before).is_empty(),
        "{:?}",
        writes(&env, before)
    );
    let again = stored(&env, IndicatorFilter::default()).await;
    assert_eq!(again.len(), 5);
    assert!(again.iter().all(|r| r.state == IndicatorState::Skipped));

    // Prune with an empty input: our objects and their rows go; the foreign rule stays whole
    // in the console (its value is not ours to remove) and its row stays.
    let mut o = opts(&targets);
    o.prune = true;
    let r = push(&client, &env.store, &[], &o).await.unwrap();
    assert_eq!(r.failed(), 0, "{:#?}", r.steps);
    let rules = client
        .list_firewall_rules(&ScopeFilter::global())
        .await
        .unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].id, foreign.id);
    assert_eq!(rules[0].remote_hosts[0].values.len(), 2);
    assert!(
        client
            .list_blocklist(&ScopeFilter::global())
            .await
            .unwrap()
            .is_empty()
    );
    let left = stored(&env, IndicatorFilter::default()).await;
    assert_eq!(left.len(), 1, "{left:#?}");
    assert!(!left[0].ours);
}

#[tokio::test]
async fn firewall_rules_are_batched_filled_and_pruned_per_value() {
    use s1bridge_sync::indicators::FIREWALL_BATCH;
    let env = Env::new(SimConfig::default()).await;
    let client = env.client();
    let n = FIREWALL_BATCH * 2 + 20;
    let ips: Vec<String> = (0..n)
        .map(|k| format!("10.{}.{}.{}", k / 65536, (k / 256) % 256, k % 256))
        .collect();
    let file: String = ips.iter().map(|ip| format!("ipv4,{ip}\n")).collect();
    let file = format!("{file}domain,evil.example\n");
    let fw = [Target::Firewall];
    let before = env.sim.sim.request_log().len();
    let r = push(&client, &env.store, &input(&file), &opts(&fw))
        .await
        .unwrap();
    assert_eq!(r.failed(), 0);
    // 3 address rules (500, 500, 20) + 1 domain rule: 4 creates.
    let w = writes(&env, before);
    assert_eq!(w.len(), 4, "{w:?}");
    assert!(w.iter().all(|x| x == "POST /web/api/v2.1/firewall-control"));
    let rules = client
        .list_firewall_rules(&ScopeFilter::global())
        .await
        .unwrap();
    let mut sizes: Vec<(String, usize)> = rules
        .iter()
        .map(|r| {
            (
                r.remote_hosts[0].kind.clone(),
                r.remote_hosts[0].values.len(),
            )
        })
        .collect();
    sizes.sort();
    assert_eq!(
        sizes,
        [
            ("addresses".to_string(), 20),
            ("addresses".to_string(), FIREWALL_BATCH),
            ("addresses".to_string(), FIREWALL_BATCH),
            ("fqdn".to_string(), 1)
        ]
    );
    assert!(rules.iter().all(|r| r.name.starts_with("s1bridge: ")));
    assert_eq!(stored(&env, IndicatorFilter::default()).await.len(), n + 1);

    // Second identical push: reads only.
    let before = env.sim.sim.request_log().len();
    let r = push(&client, &env.store, &input(&file), &opts(&fw))
        .await
        .unwrap();
    assert!(
        writes(&env, before).is_empty(),
        "{:?}",
        writes(&env, before)
    );
    assert!(r.steps.iter().all(|s| s.op == Op::Skip));

    // Two new addresses fill the rule with room: one PUT, no new rule.
    let more = format!("{file}ipv4,192.0.2.1\nipv4,192.0.2.2\n");
    let before = env.sim.sim.request_log().len();
    push(&client, &env.store, &input(&more), &opts(&fw))
        .await
        .unwrap();
    let w = writes(&env, before);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("PUT /web/api/v2.1/firewall-control/"),
        "{w:?}"
    );
    let small = client
        .list_firewall_rules(&ScopeFilter::global())
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.remote_hosts[0].values.len() == 22)
        .expect("the rule with room took both");
    let row = stored(
        &env,
        IndicatorFilter {
            value: Some("192.0.2.2".into()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(row.len(), 1);
    assert_eq!(row[0].object_id, small.id);

    // Prune the domain and one address: the domain's rule is deleted (empty), the address is
    // removed from its batched rule by an update.
    let kept: String = ips[1..].iter().map(|ip| format!("ipv4,{ip}\n")).collect();
    let kept = format!("{kept}ipv4,192.0.2.1\nipv4,192.0.2.2\n");
    let mut o = opts(&fw);
    o.prune = true;
    let before = env.sim.sim.request_log().len();
    let r = push(&client, &env.store, &input(&kept), &o).await.unwrap();
    assert_eq!(
        r.failed(),
        0,
        "{:#?}",
        r.steps
            .iter()
            .filter(|s| s.op != Op::Skip)
            .collect::<Vec<_>>()
    );
    let mut w = writes(&env, before);
    w.sort();
    assert_eq!(w.len(), 2, "{w:?}");
    assert_eq!(w[0], "DELETE /web/api/v2.1/firewall-control");
    assert!(w[1].starts_with("PUT /web/api/v2.1/firewall-control/"));
    let rules = client
        .list_firewall_rules(&ScopeFilter::global())
        .await
        .unwrap();
    assert_eq!(rules.len(), 3);
    assert!(
        rules
            .iter()
            .all(|r| r.remote_hosts[0].values.iter().all(|v| v != &ips[0]))
    );
    assert!(
        stored(
            &env,
            IndicatorFilter {
                value: Some(ips[0].clone()),
                ..Default::default()
            }
        )
        .await
        .is_empty()
    );
    let audit = env.store.list_audit(&AuditFilter::default()).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "indicators.update"));
}

#[tokio::test]
async fn backfill_imports_foreign_objects_marks_ours_and_is_idempotent() {
    use s1bridge_sync::indicators::{BackfillOptions, backfill};
    let env = Env::new(SimConfig::default()).await;
    let client = env.client();
    // Foreign objects: a blocklist entry, a Block rule with three hosts (one an unsupported
    // range), an Allow rule (not a block), an IOC.
    client
        .create_blocklist_entry(&RestrictionCreate {
            data: RestrictionData {
                kind: "black_hash".into(),
                value: SHA1.to_uppercase(),
                os_type: "windows".into(),
                description: Some("analyst".into()),
                source: None,
            },
            filter: ScopeFilter::global(),
        })
        .await
        .unwrap();
    let mut r = rule("analyst rule", "fqdn", &["Bad.Example", "worse.example"]);
    r.data
        .remote_hosts
        .push(s1bridge_api::indicators::HostSpec {
            kind: "range".into(),
            values: vec!["10.0.0.1-10.0.0.9".into()],
        });
    client.create_firewall_rule(&r).await.unwrap();
    let mut allow = rule("allow rule", "addresses", &["192.0.2.50"]);
    allow.data.action = "Allow".into();
    client.create_firewall_rule(&allow).await.unwrap();
    client
        .create_iocs(&s1bridge_api::indicators::IocCreate {
            filter: ScopeFilter::global(),
            data: vec![s1bridge_api::indicators::IocData {
                kind: "DNS".into(),
                value: "ioc.example".into(),
                source: "vendor".into(),
                method: "EQUALS".into(),
                ..Default::default()
            }],
        })
        .await
        .unwrap();
    // Ours, pushed with an empty store (e.g. from another machine).
    let other: std::sync::Arc<dyn s1bridge_store::Store> =
        std::sync::Arc::new(s1bridge_store_sqlite::SqliteStore::open_in_memory().unwrap());
    push(
        &client,
        &other,
        &input("ipv4,203.0.113.7\nurl,https://evil.example/x\n"),
        &opts(&[Target::Firewall, Target::Ti]),
    )
    .await
    .unwrap();

    let bopts = BackfillOptions {
        console: "sim".into(),
        actor: "tester@host".into(),
        targets: vec![Target::Firewall, Target::Blocklist, Target::Ti],
        scope: ScopeFilter::global(),
        now: chrono::Utc::now(),
    };
    let before = env.sim.sim.request_log().len();
    let rep = backfill(&client, &env.store, &bopts).await.unwrap();
    assert!(writes(&env, before).is_empty(), "a backfill only reads");
    assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
    let by = |t: &str| rep.targets.iter().find(|c| c.target == t).unwrap().clone();
    let fw = by("firewall");
    assert_eq!((fw.objects, fw.values, fw.unsupported), (2, 3, 1));
    assert_eq!((fw.ours, fw.foreign, fw.imported), (1, 2, 3));
    let bl = by("blocklist");
    assert_eq!((bl.values, bl.foreign, bl.imported), (1, 1, 1));
    let ti = by("ti");
    assert_eq!((ti.values, ti.ours, ti.foreign), (3, 2, 1)); // the IP and the URL are ours

    let rows = stored(&env, IndicatorFilter::default()).await;
    assert_eq!(rows.len(), 7);
    assert!(rows.iter().all(|r| r.state == IndicatorState::Imported));
    let hash = rows.iter().find(|r| r.target == "blocklist").unwrap();
    assert_eq!(hash.value, SHA1, "normalised to lower case");
    assert_eq!((hash.kind.as_str(), hash.ours), ("sha1", false));
    let domain = rows.iter().find(|r| r.value == "bad.example").unwrap();
    assert_eq!((domain.kind.as_str(), domain.ours), ("domain", false));
    let mine: Vec<_> = rows
        .iter()
        .filter(|r| r.ours)
        .map(|r| r.value.as_str())
        .collect();
    assert_eq!(mine.len(), 3);
    assert!(mine.contains(&"203.0.113.7"));
    let url = rows.iter().find(|r| r.kind == "url").unwrap();
    assert!(url.expires_at.is_some());

    // Again: nothing new, last seen moves, one audit entry per backfill.
    let mut later = bopts.clone();
    later.now = bopts.now + chrono::Duration::minutes(5);
    let rep = backfill(&client, &env.store, &later).await.unwrap();
    assert!(rep.targets.iter().all(|c| c.imported == 0));
    assert_eq!(rep.targets.iter().map(|c| c.updated).sum::<u64>(), 7);
    let again = stored(&env, IndicatorFilter::default()).await;
    assert_eq!(again.len(), 7);
    assert!(
        again
            .iter()
            .all(|r| r.last_seen_at == later.now && r.first_seen_at == bopts.now)
    );
    let audit = env.store.list_audit(&AuditFilter::default()).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.action == "indicators.backfill")
            .count(),
        2
    );

    // The IOC is deleted in the console and Firewall Control stops being licensed: the IOC
    // becomes missing, firewall rows stay as they were, the warning names the prerequisite.
    let ioc = client
        .list_iocs(&ScopeFilter::global())
        .await
        .unwrap()
        .into_iter()
        .find(|x| x.value == "ioc.example")
        .unwrap();
    client
        .delete_iocs(&s1bridge_api::indicators::IocDelete {
            filter: s1bridge_api::indicators::IocDeleteFilter {
                scope: ScopeFilter::global(),
                uuids: vec![ioc.uuid],
            },
        })
        .await
        .unwrap();
    env.sim.sim.set_faults(Faults {
        not_licensed: vec![Capability::FirewallControl],
        ..Faults::default()
    });
    let rep = backfill(&client, &env.store, &later).await.unwrap();
    assert_eq!(rep.warnings.len(), 1);
    assert!(
        rep.warnings[0].contains("Control SKU"),
        "{}",
        rep.warnings[0]
    );
    assert_eq!(rep.targets.len(), 2);
    assert_eq!(by_target(&rep, "ti").missing, 1);
    let missing = stored(
        &env,
        IndicatorFilter {
            state: Some(IndicatorState::Missing),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].value, "ioc.example");
    assert_eq!(
        stored(
            &env,
            IndicatorFilter {
                target: Some("firewall".into()),
                ..Default::default()
            }
        )
        .await
        .len(),
        3
    );
}

fn by_target(
    rep: &s1bridge_sync::indicators::BackfillReport,
    t: &str,
) -> s1bridge_sync::indicators::BackfillCounts {
    rep.targets.iter().find(|c| c.target == t).unwrap().clone()
}

//! Indicator push against the simulator: per-OS presence, idempotence (the second push only
//! reads), dry run writes nothing, prune never touches foreign objects, the audit log, and
//! Firewall Control unlicensed while hash blocking proceeds.

use s1bridge_api::features::Capability;
use s1bridge_api::indicators::{RestrictionCreate, RestrictionData, ScopeFilter};
use s1bridge_sim::{Faults, SimConfig};
use s1bridge_store::AuditFilter;
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
        .find(|r| r.name.contains("203.0.113.7"))
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

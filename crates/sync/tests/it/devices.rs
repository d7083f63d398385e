use s1bridge_sim::TenantChanges;
use s1bridge_store::{DeviceFilter, FeatureStatus, PassKind, RunStatus, Scope, StoreError};
use s1bridge_sync::SyncError;

use crate::{Env, small};

#[tokio::test]
async fn a_full_sync_stores_exactly_the_consoles_agents() {
    let env = Env::new(small(600)).await;
    let client = env.client();
    let r = s1bridge_sync::run(
        &client,
        env.store.clone(),
        &crate::devices_opts("c"),
        Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.features);
    let d = r.devices.as_ref().unwrap();
    assert_eq!(d.kind, Some(PassKind::Full));
    assert!(d.streams > 1, "a multi-site tenant is split into streams");
    assert_eq!(env.stored_ids("c").await, env.truth());
    assert_eq!(d.records as usize, env.truth().len());

    // Every device carries the fields the contract promises, taken from the console.
    let devices = env
        .store
        .list_devices(&DeviceFilter::default())
        .await
        .unwrap();
    for dev in &devices {
        let agent = env.sim.sim.agent(&dev.agent_id).expect("agent exists");
        assert_eq!(
            Some(dev.computer_name.as_str()),
            agent.computer_name.as_deref()
        );
        assert_eq!(dev.site_id, agent.site_id);
        assert_eq!(
            dev.is_decommissioned,
            agent.is_decommissioned.unwrap_or(false)
        );
        assert_eq!(dev.removed_at, None);
    }
    // The simulator plants decommissioned, stale and duplicate endpoints; all are flagged.
    let counts = env.store.count_devices("c").await.unwrap();
    assert!(counts.decommissioned > 0, "{counts:?}");
    assert!(counts.duplicates > 0, "{counts:?}");
    let stale = env
        .store
        .list_devices(&DeviceFilter {
            only_stale: true,
            stale_days: 14,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!stale.is_empty());
    for d in &stale {
        assert!(!d.is_decommissioned && d.removed_at.is_none());
        assert!(d.last_active_at.unwrap() < chrono::Utc::now() - chrono::Duration::days(14));
    }
    for d in devices.iter().filter(|d| d.duplicate_of.is_some()) {
        let newest = devices
            .iter()
            .find(|x| Some(&x.agent_id) == d.duplicate_of.as_ref())
            .expect("duplicate_of points at a stored device");
        assert_eq!(
            newest.computer_name.to_lowercase(),
            d.computer_name.to_lowercase()
        );
        assert!(
            newest.duplicate_of.is_none(),
            "the newest record is not itself a duplicate"
        );
    }
}

#[tokio::test]
async fn incremental_sync_reads_only_changes_and_never_removes() {
    let env = Env::new(small(400)).await;
    let client = env.client();
    let opts = crate::devices_opts("c");
    s1bridge_sync::run(&client, env.store.clone(), &opts, Default::default())
        .await
        .unwrap();

    // Unchanged tenant: an incremental pass costs at most 3 requests.
    let before = client.stats().requests;
    let r = s1bridge_sync::run(&client, env.store.clone(), &opts, Default::default())
        .await
        .unwrap();
    assert_eq!(
        r.devices.as_ref().unwrap().kind,
        Some(PassKind::Incremental)
    );
    let used = client.stats().requests - before;
    assert!(
        used <= 3,
        "an unchanged incremental sync made {used} requests"
    );

    let ch = env.sim.sim.apply_changes(&TenantChanges {
        add: 7,
        update: 11,
        decommission: 3,
        delete: 5,
        seed: 3,
    });
    let r = s1bridge_sync::run(&client, env.store.clone(), &opts, Default::default())
        .await
        .unwrap();
    let d = r.devices.unwrap();
    assert_eq!(d.kind, Some(PassKind::Incremental));
    assert_eq!(d.inserted, 7, "the added agents are new");
    assert!(
        d.records < 60,
        "only changed agents are read, got {}",
        d.records
    );
    assert_eq!(
        d.summary.newly_removed, 0,
        "an incremental pass never removes"
    );
    for id in &ch.decommissioned {
        let dev = find(&env, id).await;
        assert!(
            dev.is_decommissioned,
            "decommissioned agent {id} is flagged"
        );
    }
    for id in &ch.deleted {
        assert!(find(&env, id).await.removed_at.is_none());
    }

    // A full pass decides the removals: exactly the deleted agents.
    let mut full = opts.clone();
    full.devices.full = true;
    let r = s1bridge_sync::run(&client, env.store.clone(), &full, Default::default())
        .await
        .unwrap();
    assert_eq!(
        r.devices.as_ref().unwrap().summary.newly_removed as usize,
        ch.deleted.len()
    );
    let mut expected = ch.deleted.clone();
    expected.sort();
    assert_eq!(env.removed_ids().await, expected);
    assert_eq!(env.stored_ids("c").await, env.truth());
}

async fn find(env: &Env, id: &str) -> s1bridge_store::Device {
    env.store
        .list_devices(&DeviceFilter {
            include_removed: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.agent_id == id)
        .unwrap_or_else(|| panic!("device {id} stored"))
}

#[tokio::test]
async fn a_scoped_full_pass_only_removes_inside_its_scope() {
    let env = Env::new(small(300)).await;
    let client = env.client();
    let mut opts = crate::devices_opts("c");
    opts.devices.full = true;
    s1bridge_sync::run(&client, env.store.clone(), &opts, Default::default())
        .await
        .unwrap();
    let sites = env.sim.sim.sites();
    let site = sites[0].id.clone();
    let ch = env.sim.sim.apply_changes(&TenantChanges {
        delete: 30,
        seed: 9,
        ..Default::default()
    });
    let mut scoped = opts.clone();
    scoped.devices.scope = Scope {
        site_ids: vec![site.clone()],
        ..Default::default()
    };
    s1bridge_sync::run(&client, env.store.clone(), &scoped, Default::default())
        .await
        .unwrap();
    for id in &ch.deleted {
        let dev = find(&env, id).await;
        let in_scope = dev.site_id.as_deref() == Some(site.as_str());
        assert_eq!(
            dev.removed_at.is_some(),
            in_scope,
            "{id} in scope: {in_scope}"
        );
    }
}

#[tokio::test]
async fn a_second_concurrent_run_of_the_same_console_is_refused() {
    let env = Env::new(small(50)).await;
    let busy = env
        .store
        .begin_run(
            "c",
            &["devices".into()],
            chrono::Utc::now(),
            chrono::Duration::minutes(5),
        )
        .await
        .unwrap();
    let err = s1bridge_sync::run(
        &env.client(),
        env.store.clone(),
        &crate::devices_opts("c"),
        Default::default(),
    )
    .await
    .unwrap_err();
    match err {
        SyncError::Store(StoreError::ConsoleBusy { run_id, .. }) => assert_eq!(run_id, busy),
        other => panic!("expected ConsoleBusy, got {other}"),
    }
    // Another console is not blocked.
    let r = s1bridge_sync::run(
        &env.client(),
        env.store.clone(),
        &crate::devices_opts("other"),
        Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.features[0].status, FeatureStatus::Ok);
}

/// An agent the site streams cannot see (it moved to another site while the pass ran) is
/// re-checked by id before removals are decided: it is kept, with its new site.
#[tokio::test]
async fn a_device_missed_by_the_site_streams_is_rechecked_not_removed() {
    let env = Env::new(small(120)).await;
    let client = env.client();
    let mut opts = crate::devices_opts("c");
    opts.devices.full = true;
    s1bridge_sync::run(&client, env.store.clone(), &opts, Default::default())
        .await
        .unwrap();
    let sites = env.sim.sim.sites();
    let (site_a, site_b) = (sites[0].id.clone(), sites[1].id.clone());
    // Make the store believe one of site B's agents is in site A (as if it moved B → A → B
    // between our reads): a pass over site A will not see it.
    let mut moved = env
        .store
        .list_devices(&DeviceFilter::default())
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.site_id.as_deref() == Some(site_b.as_str()))
        .unwrap();
    moved.site_id = Some(site_a.clone());
    env.store
        .apply_device_page("c", 1, std::slice::from_ref(&moved), None)
        .await
        .unwrap();

    let mut scoped = opts.clone();
    scoped.devices.scope = Scope {
        site_ids: vec![site_a.clone()],
        ..Default::default()
    };
    let r = s1bridge_sync::run(&client, env.store.clone(), &scoped, Default::default())
        .await
        .unwrap();
    let d = r.devices.unwrap();
    assert_eq!(d.rechecked_present, 1, "{d:?}");
    assert_eq!(d.summary.newly_removed, 0);
    let after = find(&env, &moved.agent_id).await;
    assert_eq!(after.removed_at, None, "still in the console: not removed");
    assert_eq!(
        after.site_id.as_deref(),
        Some(site_b.as_str()),
        "its real site"
    );

    // A device that is really gone is still removed (the re-check does not keep everything).
    let ch = env.sim.sim.apply_changes(&TenantChanges {
        delete: 5,
        seed: 21,
        ..Default::default()
    });
    let r = s1bridge_sync::run(&client, env.store.clone(), &opts, Default::default())
        .await
        .unwrap();
    let d = r.devices.unwrap();
    assert_eq!(d.rechecked_present, 0);
    assert_eq!(d.summary.newly_removed as usize, ch.deleted.len());
}

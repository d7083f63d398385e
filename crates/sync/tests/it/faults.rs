use s1bridge_api::features::Capability;
use s1bridge_sim::{Faults, TenantChanges};
use s1bridge_store::{FeatureStatus, RunStatus};
use s1bridge_sync::SyncOptions;

use crate::{Env, small};

fn full() -> SyncOptions {
    let mut o = crate::devices_opts("c");
    o.devices.full = true;
    o
}

#[tokio::test]
async fn a_sync_killed_half_way_keeps_the_inventory_and_resumes_from_its_checkpoint() {
    let env = Env::new(small(900)).await;
    let client = env.client_with(|o| o.retry.max_retries = 1);
    // A first complete sync: the "last good inventory".
    s1bridge_sync::run(&client, env.store.clone(), &full(), Default::default())
        .await
        .unwrap();
    let before = env.stored_ids("c").await;
    let ch = env.sim.sim.apply_changes(&TenantChanges {
        delete: 20,
        add: 10,
        seed: 5,
        ..Default::default()
    });

    // The console starts failing part-way through the next full pass.
    env.sim.sim.reset_stats();
    env.sim.sim.set_faults(Faults {
        fail_after_requests: Some(env.sim.sim.stats().requests + 8),
        ..Default::default()
    });
    let mut opts = full();
    opts.devices.page_size = 50;
    opts.devices.concurrency = 2;
    let r = s1bridge_sync::run(&client, env.store.clone(), &opts, Default::default())
        .await
        .unwrap();
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(r.features[0].status, FeatureStatus::Failed);
    assert!(
        r.features[0].reason.as_ref().unwrap().contains("500"),
        "{:?}",
        r.features[0].reason
    );
    // Nothing was removed by the failed pass: every device from before is still present.
    let during = env.stored_ids("c").await;
    for id in &before {
        assert!(during.contains(id), "{id} was lost by a failed sync");
    }
    let cps = env.store.load_checkpoints("c", "devices").await.unwrap();
    let committed: u64 = cps.iter().map(|c| c.records).sum();
    let streams = cps.iter().filter(|c| c.stream != "plan").count() as u64;
    assert!(
        committed >= 50,
        "progress was checkpointed ({committed} records)"
    );

    // The console recovers; the next run resumes (not --full: a forced full would restart).
    env.sim.sim.set_faults(Faults::default());
    let agent_requests = |env: &Env| {
        env.sim
            .sim
            .stats()
            .by_path
            .iter()
            .filter(|(p, _)| p.ends_with("/agents"))
            .map(|(_, n)| *n)
            .sum::<u64>()
    };
    let pages_before_resume = agent_requests(&env);
    let mut resume = crate::devices_opts("c");
    resume.devices.page_size = 50;
    let r = s1bridge_sync::run(&client, env.store.clone(), &resume, Default::default())
        .await
        .unwrap();
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.features);
    let d = r.devices.unwrap();
    assert!(d.resumed, "the run resumed the interrupted pass");
    // The resumed run did not re-read what was already committed: it needs the remaining
    // records' pages, at most one partial page per stream, and one count request.
    let resumed_requests = agent_requests(&env) - pages_before_resume;
    let remaining = env.truth().len() as u64 - committed;
    let allowed = remaining.div_ceil(50) + streams + 1;
    assert!(
        resumed_requests <= allowed,
        "the resume made {resumed_requests} agent requests, {allowed} suffice for {remaining} records"
    );
    assert_eq!(
        d.records as usize,
        env.truth().len(),
        "records count the whole pass once"
    );
    assert_eq!(d.summary.newly_removed as usize, ch.deleted.len());
    assert_eq!(env.stored_ids("c").await, env.truth());
    assert!(
        env.store
            .load_checkpoints("c", "devices")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_rejected_token_fails_the_run_with_an_explanation_and_changes_nothing() {
    let env = Env::new(small(120)).await;
    let client = env.client();
    s1bridge_sync::run(&client, env.store.clone(), &full(), Default::default())
        .await
        .unwrap();
    let before = env.stored_ids("c").await;
    env.sim.sim.set_faults(Faults {
        unauthorized: true,
        ..Default::default()
    });
    let r = s1bridge_sync::run(&client, env.store.clone(), &full(), Default::default())
        .await
        .unwrap();
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(r.exit_code(), 1);
    let reason = r.features[0].reason.clone().unwrap();
    assert!(
        reason.contains("4010010") && reason.contains("Service Users"),
        "{reason}"
    );
    assert!(!reason.contains(&env.token));
    assert_eq!(env.stored_ids("c").await, before);
}

#[tokio::test]
async fn a_forbidden_feature_is_unavailable_not_failed() {
    let env = Env::new(small(50)).await;
    env.sim.sim.set_faults(Faults {
        forbidden: vec![Capability::Devices],
        ..Default::default()
    });
    let r = s1bridge_sync::run(
        &env.client(),
        env.store.clone(),
        &full(),
        Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(r.features[0].status, FeatureStatus::Unavailable);
    assert_eq!(r.status, RunStatus::Degraded);
    assert_eq!(r.exit_code(), 3);
    let reason = r.features[0].reason.clone().unwrap();
    assert!(
        reason.contains("Endpoints"),
        "names the permission: {reason}"
    );
}

#[tokio::test]
async fn a_429_storm_is_ridden_out_with_retry_after() {
    let mut cfg = small(300);
    cfg.rate_limits = true;
    cfg.rate_limit_scale = 2.0; // /agents: 50 rps, burst 25
    let env = Env::new(cfg).await;
    // The client does not pace itself here, so the simulator has to push back with 429.
    let client = env.client_with(|o| o.retry.max_retries = 8);
    let mut o = full();
    o.devices.page_size = 5;
    let r = s1bridge_sync::run(&client, env.store.clone(), &o, Default::default())
        .await
        .unwrap();
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.features);
    assert!(client.stats().rate_limited > 0, "the storm happened");
    assert!(env.sim.sim.stats().rate_limited > 0);
    assert_eq!(env.stored_ids("c").await, env.truth());
}

#[tokio::test]
async fn truncated_and_reset_responses_are_retried_without_loss() {
    let env = Env::new(small(400)).await;
    env.sim.sim.set_faults(Faults {
        fault_seed: 11,
        truncate_rate: 0.2,
        reset_rate: 0.1,
        error_5xx_rate: 0.1,
        ..Default::default()
    });
    let client = env.client_with(|o| o.retry.max_retries = 10);
    let mut o = full();
    o.devices.page_size = 37;
    let r = s1bridge_sync::run(&client, env.store.clone(), &o, Default::default())
        .await
        .unwrap();
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.features);
    assert!(client.stats().retries > 0);
    assert_eq!(env.stored_ids("c").await, env.truth());
}

#[tokio::test]
async fn persistently_malformed_pages_fail_the_run_and_store_nothing_half_done() {
    let env = Env::new(small(200)).await;
    let client = env.client_with(|o| o.retry.max_retries = 2);
    s1bridge_sync::run(&client, env.store.clone(), &full(), Default::default())
        .await
        .unwrap();
    let before = env.stored_ids("c").await;
    env.sim.sim.set_faults(Faults {
        truncate_rate: 1.0,
        ..Default::default()
    });
    let r = s1bridge_sync::run(&client, env.store.clone(), &full(), Default::default())
        .await
        .unwrap();
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(
        env.stored_ids("c").await,
        before,
        "nothing lost, nothing removed"
    );
}

use std::time::{Duration, Instant};

use s1bridge_sim::{SimConfig, Simulator, TenantChanges};

use crate::{all_agent_ids, b64, get, start, urlencode};

#[tokio::test]
async fn same_config_gives_identical_bodies() {
    let cfg = SimConfig {
        agents: 600,
        seed: 77,
        now: Some("2026-03-01T12:00:00Z".into()),
        ..SimConfig::default()
    };
    let a = start(cfg.clone()).await;
    let b = start(cfg.clone()).await;
    for path in [
        "/agents?limit=1000",
        "/agents?limit=50&sortBy=updatedAt&sortOrder=desc",
        "/sites",
        "/groups",
        "/users?limit=100",
        "/service-users",
        "/accounts",
        "/rbac/roles",
    ] {
        let (x, y) = (get(&a, path).await, get(&b, path).await);
        assert_eq!(x.status, 200);
        assert!(x.body == y.body, "{path} differs");
    }
    let ra = a.sim.apply_changes(&TenantChanges {
        add: 3,
        update: 5,
        decommission: 2,
        delete: 1,
        seed: 4,
    });
    let rb = b.sim.apply_changes(&TenantChanges {
        add: 3,
        update: 5,
        decommission: 2,
        delete: 1,
        seed: 4,
    });
    assert_eq!(ra, rb);
    assert_eq!(
        get(&a, "/agents?limit=1000").await.body,
        get(&b, "/agents?limit=1000").await.body
    );

    let other = start(SimConfig { seed: 78, ..cfg }).await;
    assert_ne!(
        get(&a, "/agents?limit=5").await.body,
        get(&other, "/agents?limit=5").await.body
    );
}

#[tokio::test]
async fn a_hundred_thousand_agents_are_not_materialised() {
    // Construction does not depend on the agent count.
    let t = Instant::now();
    let huge = Simulator::new(SimConfig {
        agents: 2_000_000_000,
        ..SimConfig::default()
    });
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(
        huge.sites()
            .iter()
            .map(|s| s.active_licenses.unwrap())
            .sum::<i64>(),
        2_000_000_000
    );

    let cfg = SimConfig {
        agents: 100_000,
        accounts: 2,
        sites_per_account: 5,
        groups_per_site: 3,
        ..SimConfig::default()
    };
    let sim = start(cfg).await;
    let truth = sim.sim.present_agent_ids();
    assert_eq!(truth.len(), 100_000);

    let t = Instant::now();
    let first = get(&sim, "/agents?limit=1000").await.json();
    let mid_cursor = b64(&format!("agent_id:{}", truth[49_999]));
    let middle = get(
        &sim,
        &format!("/agents?limit=1000&cursor={}", urlencode(&mid_cursor)),
    )
    .await
    .json();
    let last = get(&sim, "/agents?limit=1000&sortOrder=desc").await.json();
    let elapsed = t.elapsed();
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert_eq!(first["data"][0]["id"], truth[0].as_str());
    assert_eq!(middle["data"][0]["id"], truth[50_000].as_str());
    assert_eq!(last["data"][0]["id"], truth[99_999].as_str());
    assert_eq!(first["pagination"]["totalItems"], 100_000);

    let ids = all_agent_ids(&sim, "limit=1000").await;
    assert_eq!(ids, truth);
    let set: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(set.len(), 100_000);

    // Paging one site by cursor touches only that site.
    let site = &sim.sim.sites()[7];
    let v = get(&sim, &format!("/agents?limit=1000&siteIds={}", site.id))
        .await
        .json();
    assert_eq!(v["pagination"]["totalItems"], 10_000);
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["siteId"] == site.id.as_str())
    );
}

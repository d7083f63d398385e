use std::collections::BTreeSet;

use s1bridge_sim::{SimConfig, TenantChanges};

use crate::{all_agent_ids, b64, get, start, urlencode};

#[tokio::test]
async fn every_page_size_covers_all_ids_once() {
    let sim = start(SimConfig::default()).await;
    let truth = sim.sim.present_agent_ids();
    assert_eq!(truth.len(), 250);
    for limit in [1, 2, 7, 10, 99, 249, 250, 251, 1000] {
        let ids = all_agent_ids(&sim, &format!("limit={limit}")).await;
        assert_eq!(ids, truth, "limit {limit}");
        let desc = all_agent_ids(&sim, &format!("limit={limit}&sortOrder=desc")).await;
        assert_eq!(
            desc,
            truth.iter().rev().cloned().collect::<Vec<_>>(),
            "desc limit {limit}"
        );
    }
    for sort in ["updatedAt", "createdAt"] {
        for order in ["asc", "desc"] {
            let ids =
                all_agent_ids(&sim, &format!("limit=33&sortBy={sort}&sortOrder={order}")).await;
            let set: BTreeSet<_> = ids.iter().cloned().collect();
            assert_eq!(ids.len(), 250, "{sort} {order}");
            assert_eq!(set, truth.iter().cloned().collect::<BTreeSet<_>>());
            let keys: Vec<String> = ids
                .iter()
                .map(|i| {
                    let a = sim.sim.agent(i).unwrap();
                    if sort == "updatedAt" {
                        a.updated_at.unwrap()
                    } else {
                        a.created_at.unwrap()
                    }
                })
                .collect();
            let mut sorted = keys.clone();
            sorted.sort();
            if order == "desc" {
                sorted.reverse();
            }
            assert_eq!(keys, sorted, "{sort} {order}");
        }
    }
    // skip
    let v = get(&sim, "/agents?limit=5&skip=3").await.json();
    let got: Vec<_> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, truth[3..8]);
}

#[tokio::test]
async fn scope_filters_touch_only_their_agents() {
    let sim = start(SimConfig {
        agents: 1000,
        ..SimConfig::default()
    })
    .await;
    let sites = sim.sim.sites();
    let site = &sites[1];
    let ids = all_agent_ids(&sim, &format!("limit=100&siteIds={}", site.id)).await;
    let expected: Vec<String> = sim
        .sim
        .present_agent_ids()
        .into_iter()
        .filter(|id| sim.sim.agent(id).unwrap().site_id.as_deref() == Some(site.id.as_str()))
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(ids.len() as i64, site.active_licenses.unwrap());
    let v = get(&sim, &format!("/agents?limit=1&siteIds={}", site.id))
        .await
        .json();
    assert_eq!(v["pagination"]["totalItems"], ids.len());

    let groups = get(&sim, &format!("/groups?siteIds={}", site.id))
        .await
        .json();
    let g = &groups["data"][1];
    let gids = all_agent_ids(
        &sim,
        &format!("limit=50&groupIds={}", g["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(gids.len() as i64, g["totalAgents"].as_i64().unwrap());
    assert!(
        gids.iter()
            .all(|id| sim.sim.agent(id).unwrap().group_id.as_deref() == g["id"].as_str())
    );

    let acc = get(&sim, "/accounts").await.json();
    let all = all_agent_ids(
        &sim,
        &format!(
            "limit=1000&accountIds={}",
            acc["data"][0]["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(all.len(), 1000);
    let none = get(&sim, "/agents?siteIds=1234567890123456789")
        .await
        .json();
    assert_eq!(none["pagination"]["totalItems"], 0);

    // ids, osTypes, isDecommissioned, computerName
    let truth = sim.sim.present_agent_ids();
    let pick = format!("{},{}", truth[5], truth[17]);
    let v = get(&sim, &format!("/agents?ids={pick}")).await.json();
    assert_eq!(v["pagination"]["totalItems"], 2);
    let linux = all_agent_ids(&sim, "limit=200&osTypes=linux").await;
    assert!(
        !linux.is_empty()
            && linux
                .iter()
                .all(|id| sim.sim.agent(id).unwrap().os_type.as_deref() == Some("linux"))
    );
    let decom = all_agent_ids(&sim, "limit=200&isDecommissioned=true").await;
    let active = all_agent_ids(&sim, "limit=200&isDecommissioned=false").await;
    let both = all_agent_ids(&sim, "limit=200&isDecommissioned=true,false").await;
    assert!(!decom.is_empty());
    assert_eq!(decom.len() + active.len(), 1000);
    assert_eq!(both.len(), 1000);
    assert!(
        decom
            .iter()
            .all(|id| sim.sim.agent(id).unwrap().is_decommissioned == Some(true))
    );
    let name = sim.sim.agent(&truth[42]).unwrap().computer_name.unwrap();
    let v = get(&sim, &format!("/agents?computerName={}", urlencode(&name)))
        .await
        .json();
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == truth[42].as_str())
    );
}

#[tokio::test]
async fn incremental_sync_by_updated_at_sees_only_changes() {
    let sim = start(SimConfig {
        agents: 2000,
        ..SimConfig::default()
    })
    .await;
    let before: BTreeSet<String> = all_agent_ids(&sim, "limit=1000")
        .await
        .into_iter()
        .collect();
    let high_water = before
        .iter()
        .map(|id| sim.sim.agent(id).unwrap().updated_at.unwrap())
        .max()
        .unwrap();

    let report = sim.sim.apply_changes(&TenantChanges {
        add: 5,
        update: 7,
        decommission: 3,
        delete: 2,
        seed: 9,
    });
    assert_eq!(
        (
            report.added.len(),
            report.updated.len(),
            report.decommissioned.len(),
            report.deleted.len()
        ),
        (5, 7, 3, 2)
    );

    let changed = all_agent_ids(
        &sim,
        &format!(
            "limit=4&sortBy=updatedAt&sortOrder=asc&updatedAt__gt={}",
            urlencode(&high_water)
        ),
    )
    .await;
    let expect: BTreeSet<String> = report
        .added
        .iter()
        .chain(&report.updated)
        .chain(&report.decommissioned)
        .cloned()
        .collect();
    assert_eq!(changed.iter().cloned().collect::<BTreeSet<_>>(), expect);
    assert_eq!(changed.len(), expect.len());
    let stamps: Vec<String> = changed
        .iter()
        .map(|id| sim.sim.agent(id).unwrap().updated_at.unwrap())
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
    assert!(stamps.iter().all(|s| *s > high_water));
    for id in &report.decommissioned {
        assert_eq!(sim.sim.agent(id).unwrap().is_decommissioned, Some(true));
    }
    for id in &report.deleted {
        assert!(sim.sim.agent(id).is_none());
    }

    let after: Vec<String> = all_agent_ids(&sim, "limit=1000").await;
    assert_eq!(after, sim.sim.present_agent_ids());
    assert_eq!(after.len(), 2000 + 5 - 2);
    for id in &report.deleted {
        assert!(!after.contains(id));
    }
    let v = get(
        &sim,
        &format!(
            "/agents?countOnly=true&updatedAt__gt={}",
            urlencode(&high_water)
        ),
    )
    .await
    .json();
    assert_eq!(v["pagination"]["totalItems"], expect.len());

    // A second batch: the clock moved on.
    let hw2 = stamps.last().unwrap().clone();
    let r2 = sim.sim.apply_changes(&TenantChanges {
        update: 4,
        seed: 10,
        ..TenantChanges::default()
    });
    let changed2 = all_agent_ids(
        &sim,
        &format!(
            "limit=100&sortBy=updatedAt&updatedAt__gt={}",
            urlencode(&hw2)
        ),
    )
    .await;
    assert_eq!(
        changed2.into_iter().collect::<BTreeSet<_>>(),
        r2.updated.into_iter().collect()
    );
}

#[tokio::test]
async fn count_only_skip_count_and_validation_errors() {
    let sim = start(SimConfig::default()).await;
    let r = get(&sim, "/agents?countOnly=true").await;
    assert_eq!(
        r.body,
        b"{\"data\":[],\"pagination\":{\"nextCursor\":null,\"totalItems\":250}}\n"
    );
    let v = get(&sim, "/agents?limit=3&skipCount=true").await.json();
    assert_eq!(v["pagination"]["totalItems"], 0);
    assert!(v["pagination"]["nextCursor"].is_string());
    let v = get(&sim, "/agents?limit=3").await.json();
    assert_eq!(v["pagination"]["totalItems"], 250);
    let v = get(&sim, "/agents").await.json();
    assert_eq!(v["data"].as_array().unwrap().len(), 10, "default limit");
    let v = get(&sim, "/agents/count?osTypes=windows,macos,linux")
        .await
        .json();
    assert_eq!(v["data"]["total"], 250);

    for bad in [
        "/agents?limit=0",
        "/agents?limit=1001",
        "/agents?limit=abc",
        "/agents?skip=1001",
        "/agents?cursor=%%%",
        "/agents?cursor=bm9wZQ==",
        &format!("/agents?cursor={}", urlencode(&b64("agent_id:12"))),
        "/agents?sortOrder=sideways",
        "/agents?sortBy=nope",
        "/agents?countOnly=maybe",
        "/agents?updatedAt__gt=yesterday",
        "/agents?isDecommissioned=perhaps",
        "/agents?osTypes=beos",
        "/groups?limit=301",
        "/sites?cursor=Zm9v",
    ] {
        let r = get(&sim, bad).await;
        assert_eq!(r.status, 400, "{bad}");
        let v = r.json();
        assert_eq!(v["errors"][0]["code"], 4000010, "{bad}");
        assert_eq!(v["errors"][0]["title"], "Validation Error", "{bad}");
        assert_eq!(*r.body.last().unwrap(), b'\n');
    }
    let ok = get(&sim, "/groups?limit=300").await;
    assert_eq!(ok.status, 200);
    // A cursor from another sort order is rejected.
    let v = get(&sim, "/agents?limit=2&sortBy=updatedAt").await.json();
    let c = v["pagination"]["nextCursor"].as_str().unwrap();
    assert_eq!(
        get(&sim, &format!("/agents?cursor={}", urlencode(c)))
            .await
            .status,
        400
    );
    // The documented example cursor format is what we emit for id order.
    let v = get(&sim, "/agents?limit=2").await.json();
    let c = v["pagination"]["nextCursor"].as_str().unwrap();
    assert_eq!(
        c,
        b64(&format!(
            "agent_id:{}",
            v["data"][1]["id"].as_str().unwrap()
        ))
    );
}

#[tokio::test]
async fn small_lists_paginate_by_cursor() {
    let sim = start(SimConfig {
        accounts: 3,
        sites_per_account: 4,
        groups_per_site: 3,
        users: 25,
        ..SimConfig::default()
    })
    .await;
    for (path, n) in [("/users", 25usize), ("/groups", 36), ("/accounts", 3)] {
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let v = get(&sim, &format!("{path}?limit=4{cursor}")).await.json();
            assert_eq!(v["pagination"]["totalItems"], n, "{path}");
            seen.extend(
                v["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x["id"].as_str().unwrap().to_string()),
            );
            match v["pagination"]["nextCursor"].as_str() {
                Some(c) => cursor = format!("&cursor={}", urlencode(c)),
                None => break,
            }
        }
        let set: BTreeSet<_> = seen.iter().collect();
        assert_eq!((seen.len(), set.len()), (n, n), "{path}");
    }
    let mut sites = Vec::new();
    let mut cursor = String::new();
    loop {
        let v = get(&sim, &format!("/sites?limit=5{cursor}")).await.json();
        assert!(v["data"]["allSites"]["totalLicenses"].is_i64());
        sites.extend(
            v["data"]["sites"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["id"].as_str().unwrap().to_string()),
        );
        match v["pagination"]["nextCursor"].as_str() {
            Some(c) => cursor = format!("&cursor={}", urlencode(c)),
            None => break,
        }
    }
    assert_eq!(sites.len(), 12);
    let acc = get(&sim, "/accounts?limit=1").await.json();
    let a = acc["data"][0]["id"].as_str().unwrap();
    let v = get(&sim, &format!("/sites?accountIds={a}")).await.json();
    assert_eq!(v["data"]["sites"].as_array().unwrap().len(), 4);
}

use std::io::Read as _;

use s1bridge_api::features::Capability;
use s1bridge_sim::{Faults, SimConfig};

use crate::{TOKEN, client, get, start};

#[tokio::test]
async fn server_errors_and_fail_after() {
    let sim = start(SimConfig {
        faults: Faults {
            error_5xx_rate: 1.0,
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await;
    assert_eq!(get(&sim, "/agents").await.status, 500);

    // Half the requests fail, deterministically from the fault seed.
    let f = Faults {
        error_5xx_rate: 0.5,
        fault_seed: 3,
        ..Faults::default()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let sim = start(SimConfig {
            faults: f.clone(),
            ..SimConfig::default()
        })
        .await;
        let mut statuses = Vec::new();
        for _ in 0..40 {
            statuses.push(get(&sim, "/agents?limit=1").await.status);
        }
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    let fails = runs[0].iter().filter(|s| **s == 500).count();
    assert!((8..=32).contains(&fails), "{fails}");

    let sim = start(SimConfig {
        faults: Faults {
            fail_after_requests: Some(3),
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(get(&sim, "/agents?limit=1").await.status);
    }
    assert_eq!(statuses, [200, 200, 200, 500, 500, 500]);
}

#[tokio::test]
async fn connection_reset_and_truncated_body() {
    let sim = start(SimConfig {
        agents: 300,
        faults: Faults {
            reset_rate: 1.0,
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await;
    let c = client();
    let res = c
        .get(format!("{}/web/api/v2.1/agents?limit=300", sim.url))
        .header("Authorization", format!("ApiToken {TOKEN}"))
        .send()
        .await;
    let failed = match res {
        Err(_) => true,
        Ok(r) => r.bytes().await.is_err(),
    };
    assert!(failed, "a reset must surface as a transport error");

    sim.sim.set_faults(Faults {
        truncate_rate: 1.0,
        ..Faults::default()
    });
    let full_len = {
        sim.sim.set_faults(Faults::default());
        get(&sim, "/agents?limit=300").await.body.len()
    };
    sim.sim.set_faults(Faults {
        truncate_rate: 1.0,
        ..Faults::default()
    });
    let r = get(&sim, "/agents?limit=300").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), full_len / 2);
    assert_eq!(
        r.headers.get("content-length").unwrap().to_str().unwrap(),
        (full_len / 2).to_string()
    );
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
    // Errors are never truncated.
    let e = c
        .get(format!("{}/web/api/v2.1/agents", sim.url))
        .send()
        .await
        .unwrap();
    assert_eq!(e.status(), 401);
    assert_eq!(e.bytes().await.unwrap().len(), 76);
}

#[tokio::test]
async fn auth_permission_and_licence_faults() {
    let sim = start(SimConfig::default()).await;
    sim.sim.set_faults(Faults {
        unauthorized: true,
        ..Faults::default()
    });
    assert_eq!(get(&sim, "/agents").await.status, 401);
    assert_eq!(
        get(&sim, "/system/status").await.status,
        200,
        "no auth on status"
    );

    sim.sim.set_faults(Faults {
        forbidden: vec![Capability::DeepVisibility],
        not_licensed: vec![Capability::Vulnerabilities],
        ..Faults::default()
    });
    let dv = get(&sim, "/dv/query-status?queryId=q1").await;
    assert_eq!(dv.status, 403);
    assert_eq!(
        dv.json()["errors"][0]["detail"],
        "User does not have required permissions"
    );
    let risks = get(&sim, "/application-management/risks?limit=1").await;
    assert_eq!(risks.status, 403);
    let v = risks.json();
    assert_eq!(v["errors"][0]["code"], 4030010);
    assert_eq!(v["errors"][0]["title"], "Insufficient permissions");
    assert_eq!(
        v["errors"][0]["detail"],
        format!(
            "Your license does not include this feature ({})",
            Capability::Vulnerabilities.label()
        )
    );
    assert_eq!(get(&sim, "/installed-applications").await.status, 403);
    assert_eq!(get(&sim, "/agents?limit=1").await.status, 200);

    sim.sim.set_faults(Faults {
        site_scoped_token: true,
        ..Faults::default()
    });
    assert_eq!(get(&sim, "/accounts").await.status, 403);
    let sites = get(&sim, "/sites").await.json();
    assert_eq!(sites["data"]["sites"].as_array().unwrap().len(), 1);
    let site0 = sites["data"]["sites"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let v = get(&sim, "/agents?limit=1000").await.json();
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["siteId"] == site0.as_str())
    );
    assert_eq!(v["pagination"]["totalItems"], 84);
    let other = &sim.sim.sites()[2].id;
    assert_eq!(
        get(&sim, &format!("/agents?siteIds={other}")).await.status,
        403
    );
    let groups = get(&sim, "/groups").await.json();
    assert!(
        groups["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["siteId"] == site0.as_str())
    );
    let me = get(&sim, "/user").await.json();
    assert_eq!(me["data"]["scope"], "site");
    assert_eq!(me["data"]["scopeRoles"][0]["id"], site0.as_str());
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let sim = start(SimConfig {
        rate_limits: true,
        rate_limit_scale: 0.01,
        ..SimConfig::default()
    })
    .await;
    // /agents: burst 25.
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let r = get(&sim, "/agents?limit=1").await;
        if r.status == 429 {
            let ra: u64 = r
                .headers
                .get("retry-after")
                .unwrap()
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(ra >= 1);
            assert_eq!(r.json()["errors"][0]["code"], 4290010);
        }
        statuses.push(r.status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 25);
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 5);
    // Another prefix has its own bucket.
    assert_eq!(get(&sim, "/sites").await.status, 200);
    let st = sim.sim.stats();
    assert_eq!(st.rate_limited, 5);
    assert_eq!(st.by_path["/web/api/v2.1/agents"], 30);
    assert_eq!(st.by_status[&429], 5);
    assert_eq!(st.requests, 31);
    let log = sim.sim.request_log();
    assert_eq!(log.len(), 31);
    assert_eq!(log[0].query, "limit=1");
    assert_eq!(log[0].method, "GET");
    sim.sim.reset_stats();
    assert_eq!(sim.sim.stats().requests, 0);
}

#[tokio::test]
async fn gzip_when_asked() {
    let sim = start(SimConfig::default()).await;
    let c = client();
    let r = c
        .get(format!("{}/web/api/v2.1/agents?limit=100", sim.url))
        .header("Authorization", format!("ApiToken {TOKEN}"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let gz = r.bytes().await.unwrap();
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain, get(&sim, "/agents?limit=100").await.body);
    assert!(gz.len() * 4 < plain.len());

    let off = start(SimConfig {
        gzip: false,
        ..SimConfig::default()
    })
    .await;
    let r = c
        .get(format!("{}/web/api/v2.1/agents", off.url))
        .header("Authorization", format!("ApiToken {TOKEN}"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("content-encoding").is_none());

    // Latency is added to every response.
    let slow = start(SimConfig {
        latency_ms: 150,
        ..SimConfig::default()
    })
    .await;
    let t = std::time::Instant::now();
    get(&slow, "/system/status").await;
    assert!(t.elapsed() >= std::time::Duration::from_millis(150));
}

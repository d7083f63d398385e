//! The control plane drives a running simulator from outside the process.

use serde_json::json;

use crate::{TOKEN, client, get, start};
use s1bridge_sim::SimConfig;

#[tokio::test]
async fn changes_and_faults_through_the_control_plane() {
    let sim = start(SimConfig {
        agents: 40,
        ..SimConfig::default()
    })
    .await;
    let c = client();
    let before = sim.sim.present_agent_ids().len();

    // Without the token: refused.
    let r = c
        .post(format!("{}/_sim/changes", sim.url))
        .json(&json!({"add": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(sim.sim.present_agent_ids().len(), before);

    let r = c
        .post(format!("{}/_sim/changes", sim.url))
        .header("Authorization", format!("ApiToken {TOKEN}"))
        .json(&json!({"add": 3, "delete": 2, "seed": 4}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let report: serde_json::Value = r.json().await.unwrap();
    assert_eq!(report["added"].as_array().unwrap().len(), 3);
    assert_eq!(report["deleted"].as_array().unwrap().len(), 2);
    assert_eq!(sim.sim.present_agent_ids().len(), before + 1);

    let r = c
        .put(format!("{}/_sim/faults", sim.url))
        .header("Authorization", format!("ApiToken {TOKEN}"))
        .json(&json!({"forbidden": ["devices"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(get(&sim, "/agents?limit=1").await.status, 403);

    let r = c
        .get(format!("{}/_sim/stats", sim.url))
        .header("Authorization", format!("ApiToken {TOKEN}"))
        .send()
        .await
        .unwrap();
    let stats: serde_json::Value = r.json().await.unwrap();
    assert!(stats["requests"].as_u64().unwrap() >= 1);
}

//! Deep Visibility and PowerQuery: shapes against the real captures, the state machine, the
//! parse error, limits and the licence switches.

use std::collections::BTreeSet;

use s1bridge_api::features::Capability;
use s1bridge_sim::{Faults, SimConfig};
use serde_json::{Value, json};

use crate::{API, TOKEN, client, get, sample, sample_bytes, start};

async fn post(sim: &s1bridge_sim::RunningSim, path: &str, body: Value) -> (u16, Vec<u8>) {
    let r = client()
        .post(format!("{}{API}{path}", sim.url))
        .header("Authorization", format!("ApiToken {TOKEN}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.bytes().await.unwrap().to_vec())
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn window() -> (String, String) {
    let now = chrono::Utc::now();
    let f = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    (f(now - chrono::Duration::days(7)), f(now))
}

const QUERY: &str = r#"EventType = "Process Creation" AND (TgtProcImagePath In Contains AnyCase (".local/share/claude/versions","programs\cursor","caskroom/copilot-cli") OR TgtProcCmdLine In Contains AnyCase ("node_modules/@anthropic-ai/claude-code"))"#;

#[tokio::test]
async fn a_dv_query_walks_its_states_and_pages_real_shaped_events() {
    let sim = start(SimConfig {
        agents: 120,
        ..SimConfig::default()
    })
    .await;
    let (from, to) = window();
    let (status, body) = post(
        &sim,
        "/dv/init-query",
        json!({"query": QUERY, "fromDate": from, "toDate": to, "limit": 20000, "queryType": ["events"], "isVerbose": false}),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let created: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        keys(&created["data"]),
        keys(&sample("dv-init-query.swimlane.json")["data"])
    );
    let id = created["data"]["queryId"].as_str().unwrap().to_string();
    assert!(id.starts_with('q') && id.len() == 33, "{id}");

    // Events before FINISHED: 409.
    assert_eq!(
        get(&sim, &format!("/dv/events?queryId={id}")).await.status,
        409
    );
    let mut states = Vec::new();
    loop {
        let r = get(&sim, &format!("/dv/query-status?queryId={id}"))
            .await
            .json();
        let state = r["data"]["responseState"].as_str().unwrap().to_string();
        let real = sample("dv-query-status-finished.rapid7.json");
        for k in keys(&r["data"]) {
            assert!(keys(&real["data"]).contains(&k), "{k}");
        }
        states.push(state.clone());
        if state == "FINISHED" {
            break;
        }
        assert!(states.len() < 10, "{states:?}");
    }
    assert_eq!(states, ["RUNNING", "FINISHED"]);
    // The 409 right after FINISHED, then the events.
    let r = get(&sim, &format!("/dv/events?queryId={id}&limit=3")).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["errors"][0]["title"], "Conflict");
    let r = get(&sim, &format!("/dv/events?queryId={id}&limit=3")).await;
    assert_eq!(r.status, 200);
    let page = r.json();
    let events = page["data"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert!(page["pagination"]["nextCursor"].is_string());
    let mut real_keys = keys(&sample("dv-events.rapid7.json")["data"][0]);
    real_keys.extend(keys(
        &sample("threats-explore-events.swimlane.json")["data"][0],
    ));
    for e in events {
        for k in keys(e) {
            assert!(
                real_keys.contains(&k),
                "{k} is not a key of the real DV events"
            );
        }
        assert_eq!(e["eventType"], "Process Creation");
    }
}

#[tokio::test]
async fn bad_queries_limits_and_terminal_states() {
    let sim = start(SimConfig {
        agents: 60,
        ..SimConfig::default()
    })
    .await;
    let (from, to) = window();
    let (status, body) = post(
        &sim,
        "/dv/init-query",
        json!({"query": "TgtProcName Like \"x\"", "fromDate": from, "toDate": to}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body, sample_bytes("error-400-bad-request-dv-parse.json"));
    let (status, _) = post(
        &sim,
        "/dv/init-query",
        json!({"query": QUERY, "fromDate": to, "toDate": from}),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = post(
        &sim,
        "/dv/init-query",
        json!({"query": QUERY, "fromDate": from, "toDate": to, "limit": 0}),
    )
    .await;
    assert_eq!(status, 400);

    for state in ["FAILED_CLIENT", "TIMED_OUT", "QUERY_EXPIRED"] {
        sim.sim.set_faults(Faults {
            dv_terminal_state: Some(state.into()),
            ..Faults::default()
        });
        let (_, body) = post(
            &sim,
            "/dv/init-query",
            json!({"query": QUERY, "fromDate": from, "toDate": to}),
        )
        .await;
        let id = serde_json::from_slice::<Value>(&body).unwrap()["data"]["queryId"]
            .as_str()
            .unwrap()
            .to_string();
        get(&sim, &format!("/dv/query-status?queryId={id}")).await;
        let r = get(&sim, &format!("/dv/query-status?queryId={id}"))
            .await
            .json();
        assert_eq!(r["data"]["responseState"], state);
        assert_eq!(
            r["data"]["responseError"].is_string(),
            state == "FAILED_CLIENT"
        );
    }

    // Licence switches: PowerQuery alone, or all of Deep Visibility.
    sim.sim.set_faults(Faults {
        powerquery_not_licensed: true,
        ..Faults::default()
    });
    let (status, _) = post(
        &sim,
        "/dv/events/pq",
        json!({"query": "x", "fromDate": from, "toDate": to}),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = post(
        &sim,
        "/dv/init-query",
        json!({"query": QUERY, "fromDate": from, "toDate": to}),
    )
    .await;
    assert_eq!(status, 200);
    sim.sim.set_faults(Faults {
        not_licensed: vec![Capability::DeepVisibility],
        ..Faults::default()
    });
    let (status, _) = post(
        &sim,
        "/dv/init-query",
        json!({"query": QUERY, "fromDate": from, "toDate": to}),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn powerquery_runs_then_finishes_with_columns_and_rows() {
    let sim = start(SimConfig {
        agents: 120,
        ..SimConfig::default()
    })
    .await;
    let (from, to) = window();
    let q = "event.type = \"Process Creation\" and tgt.process.image.path contains:anycase (\"programs\\\\cursor\", \".local/share/claude/versions\")\n| columns eventTime = event.time, agentUuid = agent.uuid, tgtProcImagePath = tgt.process.image.path";
    let (status, body) = post(
        &sim,
        "/dv/events/pq",
        json!({"query": q, "fromDate": from, "toDate": to, "limit": 1000}),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let started: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        keys(&started["data"]),
        keys(&sample("dv-powerquery-running.swimlane.json")["data"])
    );
    assert_eq!(started["data"]["status"], "RUNNING");
    let id = started["data"]["queryId"].as_str().unwrap();
    assert!(id.starts_with("pq") && id.len() == 34, "{id}");
    let done = get(&sim, &format!("/dv/events/pq-ping?queryId={id}"))
        .await
        .json();
    assert_eq!(done["data"]["status"], "FINISHED");
    let real = sample("dv-powerquery-finished.demisto.json");
    for k in keys(&done["data"]) {
        assert!(keys(&real["data"]).contains(&k), "{k}");
    }
    assert_eq!(
        done["data"]["columns"][0],
        json!({"name": "eventTime", "type": "INTEGER"})
    );
    let rows = done["data"]["data"].as_array().unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        assert!(
            row[0].is_i64(),
            "eventTime is epoch ms like the capture: {row}"
        );
        let path = row[2].as_str().unwrap().to_lowercase();
        assert!(
            path.contains("programs\\cursor") || path.contains(".local/share/claude/versions"),
            "{path}"
        );
    }
    assert!(
        done["data"]["recommendations"][0]
            .as_str()
            .unwrap()
            .contains("1000 rows")
    );
}

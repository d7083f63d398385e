//! Shapes compared with the real captures in shared/s1-samples.

use std::collections::BTreeSet;

use s1bridge_api::features::Capability;
use s1bridge_sim::{Faults, SimConfig};
use serde_json::Value;

use crate::{TOKEN, client, get, sample, sample_bytes, start};

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key of `real` must be in `ours` with the same JSON type where both are non-null,
/// recursively through objects and the first element of arrays. Returns the mismatches.
pub fn compare(real: &Value, ours: &Value, path: &str, exact_keys: bool, out: &mut Vec<String>) {
    match (real, ours) {
        // A free-form map (`{}` or `{"ESXI": {}}` depending on the host): only the type matters.
        (Value::Object(_), Value::Object(_)) if path.ends_with(".cloudProviders") => {}
        (Value::Object(r), Value::Object(o)) => {
            for (k, rv) in r {
                match o.get(k) {
                    None => out.push(format!("{path}.{k}: missing")),
                    Some(ov) => compare(rv, ov, &format!("{path}.{k}"), exact_keys, out),
                }
            }
            if exact_keys {
                for k in o.keys().filter(|k| !r.contains_key(*k)) {
                    out.push(format!("{path}.{k}: not in the real sample"));
                }
            }
        }
        (Value::Array(r), Value::Array(o)) => {
            if let (Some(r0), Some(o0)) = (r.first(), o.first()) {
                compare(r0, o0, &format!("{path}[0]"), exact_keys, out);
            }
        }
        (Value::Null, _) | (_, Value::Null) => {}
        (r, o) if kind(r) != kind(o) => {
            out.push(format!("{path}: real {} vs ours {}", kind(r), kind(o)))
        }
        _ => {}
    }
}

#[tokio::test]
async fn agents_have_every_field_of_the_real_agent_with_the_real_types() {
    let sim = start(SimConfig {
        agents: 400,
        ..SimConfig::default()
    })
    .await;
    let real = sample("agents-list.swimlane.json");
    let real_agent = &real["data"][0];
    let v = get(&sim, "/agents?limit=400").await.json();
    let agents = v["data"].as_array().unwrap();
    assert_eq!(agents.len(), 400);
    let mut problems = Vec::new();
    for a in agents {
        compare(
            real_agent,
            a,
            &format!("agent {}", a["id"]),
            true,
            &mut problems,
        );
    }
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "{problems:#?}");

    // The sample's non-null values are non-null in most of ours (no field silently always null),
    // and a few specific conventions hold.
    for (k, rv) in real_agent.as_object().unwrap() {
        // osUsername is only known from a Linux capture ("root"); it is null on Windows/macOS.
        if !rv.is_null() && k != "osUsername" {
            let non_null = agents.iter().filter(|a| !a[k].is_null()).count();
            assert!(non_null * 2 > agents.len(), "{k} is mostly null");
        }
    }
    let ids: Vec<u128> = agents
        .iter()
        .map(|a| a["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    assert!(
        agents
            .iter()
            .all(|a| (18..=19).contains(&a["id"].as_str().unwrap().len()))
    );
    assert!(
        agents
            .iter()
            .all(|a| a["tags"]["sentinelone"].is_array() && a["locations"].is_null())
    );
    let micro = |s: &str| s.len() == 27 && s.ends_with('Z') && s.as_bytes()[19] == b'.';
    for a in agents {
        for k in ["createdAt", "updatedAt", "lastActiveDate", "registeredAt"] {
            assert!(micro(a[k].as_str().unwrap()), "{k} {}", a[k]);
        }
        let uuid = a["uuid"].as_str().unwrap();
        match a["osType"].as_str().unwrap() {
            "linux" => assert!(uuid.len() == 36 && uuid.matches('-').count() == 4, "{uuid}"),
            _ => assert!(
                uuid.len() == 32 && uuid.bytes().all(|b| b.is_ascii_hexdigit()),
                "{uuid}"
            ),
        }
        let nic = &a["networkInterfaces"][0];
        assert!(nic["inet6"][0].as_str().unwrap().starts_with("fe80::"));
    }
    let os: BTreeSet<&str> = agents
        .iter()
        .map(|a| a["osType"].as_str().unwrap())
        .collect();
    assert_eq!(os, BTreeSet::from(["linux", "macos", "windows"]));
    let decom = agents
        .iter()
        .filter(|a| a["isDecommissioned"] == true)
        .count();
    assert!((1..40).contains(&decom), "decommissioned {decom}");
    assert!(agents.iter().any(|a| a["serialNumber"].is_null()));
    assert!(agents.iter().any(|a| a["lastLoggedInUserName"] == ""));
}

#[tokio::test]
async fn planted_duplicates_and_stale_agents_exist() {
    let sim = start(SimConfig {
        agents: 5000,
        ..SimConfig::default()
    })
    .await;
    let mut agents = Vec::new();
    for a in crate::all_agent_ids(&sim, "limit=1000").await {
        agents.push(sim.sim.agent(&a).unwrap());
    }
    let mut by_machine = std::collections::HashMap::new();
    for a in &agents {
        let key = (
            a.computer_name.clone().unwrap(),
            a.network_interfaces[0].physical.clone().unwrap(),
        );
        by_machine.entry(key).or_insert_with(Vec::new).push(a);
    }
    let dups: Vec<_> = by_machine.values().filter(|v| v.len() > 1).collect();
    assert!(
        (20..=90).contains(&dups.len()),
        "{} duplicate machines",
        dups.len()
    );
    for d in dups {
        assert_eq!(d.len(), 2);
        let (older, newer) = if d[0].last_active_date < d[1].last_active_date {
            (d[0], d[1])
        } else {
            (d[1], d[0])
        };
        assert_ne!(older.uuid, newer.uuid);
        assert_eq!(older.serial_number, newer.serial_number);
        assert!(
            older.last_active_date < newer.created_at,
            "the old record stopped before the new one"
        );
        assert!(older.id < newer.id);
    }
    // Stale: inactive for more than 30 days before the newest lastActiveDate.
    let newest = agents
        .iter()
        .map(|a| a.last_active_date.clone().unwrap())
        .max()
        .unwrap();
    let newest = chrono::DateTime::parse_from_rfc3339(&newest).unwrap();
    let stale = agents
        .iter()
        .filter(|a| {
            let t = chrono::DateTime::parse_from_rfc3339(a.last_active_date.as_deref().unwrap())
                .unwrap();
            newest - t > chrono::Duration::days(30)
        })
        .count();
    assert!((150..=600).contains(&stale), "stale {stale}");
}

#[tokio::test]
async fn sites_groups_service_users_match_the_real_shapes() {
    let sim = start(SimConfig::default()).await;
    let mut problems = Vec::new();

    let real = sample("sites-list.swimlane.json");
    let ours = get(&sim, "/sites?limit=100").await.json();
    compare(
        &real["data"]["allSites"],
        &ours["data"]["allSites"],
        "allSites",
        true,
        &mut problems,
    );
    assert_eq!(ours["data"]["sites"].as_array().unwrap().len(), 3);
    for s in ours["data"]["sites"].as_array().unwrap() {
        compare(&real["data"]["sites"][0], s, "site", true, &mut problems);
    }
    assert_eq!(ours["pagination"]["totalItems"], 3);
    let active: i64 = ours["data"]["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["activeLicenses"].as_i64().unwrap())
        .sum();
    assert_eq!(active, 250);

    let real = sample("groups-list.swimlane.json");
    let ours = get(&sim, "/groups?limit=100").await.json();
    assert_eq!(ours["data"].as_array().unwrap().len(), 6);
    for g in ours["data"].as_array().unwrap() {
        // `description` is an extra field of the wire type (it is in the Swagger schema).
        compare(&real["data"][0], g, "group", false, &mut problems);
    }
    let total: i64 = ours["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["totalAgents"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 250);

    let real = sample("service-users-list.demisto.json");
    let ours = get(&sim, "/service-users").await.json();
    assert_eq!(ours["data"].as_array().unwrap().len(), 3);
    for u in ours["data"].as_array().unwrap() {
        compare(&real["data"][0], u, "service user", true, &mut problems);
    }
    // The site-scoped ones carry a scope role like the sample's.
    compare(
        &real["data"][0]["scopeRoles"][0],
        &ours["data"][1]["scopeRoles"][0],
        "scopeRole",
        true,
        &mut problems,
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

#[tokio::test]
async fn error_bodies_are_byte_identical_to_the_real_ones() {
    let sim = start(SimConfig::default()).await;
    let c = client();
    let url = format!("{}/web/api/v2.1/agents", sim.url);

    let no_auth = c.get(&url).send().await.unwrap();
    assert_eq!(no_auth.status(), 401);
    assert_eq!(
        no_auth.bytes().await.unwrap().to_vec(),
        sample_bytes("error-401-authentication-failed.json")
    );
    let wrong = c
        .get(&url)
        .header("Authorization", "ApiToken nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(
        wrong.bytes().await.unwrap().to_vec(),
        sample_bytes("error-401-authentication-failed.json")
    );
    let bearer = c
        .get(&url)
        .header("Authorization", format!("Bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 401);
    // The scheme is case-insensitive (SentinelOne's own connector sends "APIToken").
    let upper = c
        .get(&url)
        .header("Authorization", format!("APITOKEN {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(upper.status(), 200);

    sim.sim.set_faults(Faults {
        forbidden: vec![Capability::Devices],
        ..Faults::default()
    });
    let r = get(&sim, "/agents").await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.body,
        sample_bytes("error-403-insufficient-permissions-2.json")
    );

    sim.sim.set_faults(Faults {
        fail_after_requests: Some(0),
        ..Faults::default()
    });
    let r = get(&sim, "/agents").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.body, sample_bytes("error-500-internal.json"));
}

#[tokio::test]
async fn headers_look_like_the_real_console() {
    let sim = start(SimConfig::default()).await;
    let r = get(&sim, "/agents?limit=1").await;
    let real = sample("response-headers-200.swimlane.json");
    for k in [
        "Server",
        "Content-Type",
        "X-Frame-Options",
        "X-Content-Type-Options",
        "Cache-Control",
        "Pragma",
        "Expires",
        "Strict-Transport-Security",
    ] {
        assert_eq!(
            r.headers.get(k).and_then(|v| v.to_str().ok()),
            real[k].as_str(),
            "{k}"
        );
    }
    let rqid = r.headers.get("X-RQID").unwrap().to_str().unwrap();
    assert_eq!(rqid.len(), 36);
    assert!(r.headers.get("Date").is_some());
    assert_eq!(*r.body.last().unwrap(), b'\n');
    assert!(
        !r.body.contains(&b' ') || r.json()["data"][0]["cpuId"].as_str().unwrap().contains(' ')
    );
}

#[tokio::test]
async fn identity_endpoints() {
    let sim = start(SimConfig {
        token_expires_in_days: 3,
        ..SimConfig::default()
    })
    .await;
    let c = client();
    let status = c
        .get(format!("{}/web/api/v2.1/system/status", sim.url))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
    assert_eq!(
        status.bytes().await.unwrap().as_ref(),
        b"{\"data\":{\"health\":\"ok\"}}\n"
    );

    let info = get(&sim, "/system/info").await.json();
    assert!(info["data"]["latestAgentVersion"].is_string());

    let me = get(&sim, "/user").await.json();
    assert_eq!(me["data"]["email"], "svc-s1bridge@example.com");
    assert_eq!(me["data"]["scope"], "tenant");
    let exp =
        chrono::DateTime::parse_from_rfc3339(me["data"]["apiToken"]["expiresAt"].as_str().unwrap())
            .unwrap();
    let left = exp.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(
        left > chrono::Duration::days(2) && left <= chrono::Duration::days(3),
        "{left}"
    );

    let url = format!("{}/web/api/v2.1/users/api-token-details", sim.url);
    let auth = format!("ApiToken {TOKEN}");
    let ok = c
        .post(&url)
        .header("Authorization", &auth)
        .json(&serde_json::json!({"data":{"apiToken": TOKEN}}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let v: Value = ok.json().await.unwrap();
    assert_eq!(v["data"]["expiresAt"], me["data"]["apiToken"]["expiresAt"]);
    assert!(v["data"]["createdAt"].is_string());
    let missing = c
        .post(&url)
        .header("Authorization", &auth)
        .json(&serde_json::json!({"data":{}}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
    let v: Value = missing.json().await.unwrap();
    assert_eq!(v["errors"][0]["code"], 4000010);
    assert_eq!(v["errors"][0]["title"], "Validation Error");
    let bad_header = c
        .post(&url)
        .header("Authorization", "ApiToken x")
        .json(&serde_json::json!({"data":{"apiToken": TOKEN}}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_header.status(), 401);

    let roles = get(&sim, "/rbac/roles").await.json();
    let names: Vec<_> = roles["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Admin", "IR Team", "SOC", "Viewer"]);
    let users = get(&sim, "/users?limit=100").await.json();
    assert_eq!(users["pagination"]["totalItems"], 12);
    let accounts = get(&sim, "/accounts").await.json();
    assert_eq!(accounts["data"][0]["activeAgents"], 250);

    // (The vulnerability endpoints serve derived findings: see risks.rs.)
    for probe in [
        "/firewall-control?limit=1&statuses=Enabled,Disabled",
        "/restrictions?limit=1",
        "/threat-intelligence/iocs?limit=1",
    ] {
        let r = get(&sim, probe).await;
        assert_eq!(r.status, 200, "{probe}");
        assert_eq!(
            r.body, b"{\"data\":[],\"pagination\":{\"nextCursor\":null,\"totalItems\":0}}\n",
            "{probe}"
        );
    }
    let dv = get(
        &sim,
        "/dv/query-status?queryId=q00000000000000000000000000000000",
    )
    .await;
    assert_eq!(dv.status, 400);
    assert_eq!(dv.json()["errors"][0]["code"], 4000010);
    let nf = get(&sim, "/no/such/thing").await;
    assert_eq!(nf.status, 404);
    assert!(nf.json()["errors"][0]["code"].is_i64());
}

//! Blocklist, firewall-control and TI IOC endpoints: stored objects read back, the console's
//! validation (400 listing every problem), "Already Exists", the licence switch and 403.

use s1bridge_api::features::Capability;
use s1bridge_sim::{Faults, SimConfig};
use serde_json::{Value, json};

use crate::{API, Resp, TOKEN, client, get, sample, start};

async fn send(sim: &s1bridge_sim::RunningSim, method: &str, path: &str, body: &Value) -> Resp {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let r = client()
        .request(m, format!("{}{API}{path}", sim.url))
        .header("Authorization", format!("ApiToken {TOKEN}"))
        .json(body)
        .send()
        .await
        .unwrap();
    Resp::read(r).await
}

#[tokio::test]
async fn blocklist_create_read_duplicate_delete() {
    let sim = start(SimConfig::default()).await;
    // The integrations' own request bodies are accepted.
    let body = sample("restrictions-create-request-global.demisto.json");
    let r = send(&sim, "POST", "/restrictions", &body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let created = r.json()["data"][0].clone();
    assert_eq!(created["osType"], "windows");
    assert_eq!(created["type"], "black_hash");
    // Same hash, same OS: the console's "Already Exists Error".
    let r = send(&sim, "POST", "/restrictions", &body).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["errors"][0]["code"], 4000030);
    assert_eq!(r.json()["errors"][0]["title"], "Already Exists Error");
    // Another OS is a separate entry; the site-scoped sample ("tenant": "true") is accepted.
    let mut mac = sample("restrictions-create-request-site.splunk-soar.json");
    mac["data"]["osType"] = json!("macos");
    assert_eq!(send(&sim, "POST", "/restrictions", &mac).await.status, 200);
    let listed = get(&sim, "/restrictions?tenant=true&limit=10").await.json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    let id = created["id"].as_str().unwrap();
    let del = json!({"data": {"ids": [id], "type": "black_hash"}});
    let r = send(&sim, "DELETE", "/restrictions", &del).await;
    assert_eq!(r.json()["data"]["affected"], 1);
    let listed = get(&sim, "/restrictions?tenant=true").await.json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["data"][0]["osType"], "macos");
}

#[tokio::test]
async fn blocklist_validation_lists_every_problem() {
    let sim = start(SimConfig::default()).await;
    let body =
        json!({"data": {"type": "black_hash", "value": "nothex", "osType": "plan9"}, "filter": {}});
    let r = send(&sim, "POST", "/restrictions", &body).await;
    assert_eq!(r.status, 400);
    let errors = r.json()["errors"].as_array().unwrap().clone();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors.iter().all(|e| e["code"] == 4000010));
}

#[tokio::test]
async fn firewall_rules_read_back_and_respect_the_licence_switch() {
    let sim = start(SimConfig::default()).await;
    let body = sample("firewall-control-create-block-request.splunk-soar.json");
    let r = send(&sim, "POST", "/firewall-control", &body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let rule = r.json()["data"].clone();
    assert_eq!(rule["direction"], "any");
    assert_eq!(rule["remoteHosts"][0]["values"][0], "evil.example.com");
    // The list needs a filter.
    assert_eq!(get(&sim, "/firewall-control").await.status, 400);
    let listed = get(&sim, "/firewall-control?tenant=true").await.json();
    assert_eq!(listed["data"][0]["id"], rule["id"]);
    assert_eq!(
        send(&sim, "POST", "/firewall-control", &body).await.status,
        400
    );
    let mut bad = body.clone();
    bad["data"]["action"] = json!("Drop");
    bad["data"]["remoteHosts"] = json!([{"type": "fqdn", "values": []}]);
    let r = send(&sim, "POST", "/firewall-control", &bad).await;
    assert_eq!(r.json()["errors"].as_array().unwrap().len(), 2);

    sim.sim.set_faults(Faults {
        not_licensed: vec![Capability::FirewallControl],
        ..Faults::default()
    });
    let r = get(&sim, "/firewall-control?tenant=true").await;
    assert_eq!(r.status, 403);
    // The blocklist is unaffected.
    assert_eq!(get(&sim, "/restrictions?tenant=true").await.status, 200);
    sim.sim.set_faults(Faults {
        forbidden: vec![Capability::Blocklist],
        ..Faults::default()
    });
    assert_eq!(get(&sim, "/restrictions?tenant=true").await.status, 403);
}

#[tokio::test]
async fn iocs_are_stored_with_capped_validity_and_deleted_by_uuid() {
    let sim = start(SimConfig::default()).await;
    let mut body = sample("threat-intelligence-iocs-create-request.demisto.json");
    body["data"][0]["validUntil"] = json!("2099-01-01T00:00:00Z");
    let r = send(&sim, "POST", "/threat-intelligence/iocs", &body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let ioc = r.json()["data"][0].clone();
    assert_eq!(ioc["uuid"].as_str().unwrap().len(), 32);
    assert!(
        ioc["validUntil"].as_str().unwrap() < "2099",
        "capped: {ioc}"
    );
    let listed = get(
        &sim,
        "/threat-intelligence/iocs?accountIds=2163822725049635476",
    )
    .await
    .json();
    assert_eq!(listed["data"][0]["uuid"], ioc["uuid"]);
    let bad = json!({"filter": {}, "data": [{"type": "IP", "value": "", "source": "x", "method": "LIKE"}]});
    let r = send(&sim, "POST", "/threat-intelligence/iocs", &bad).await;
    assert_eq!(r.json()["errors"].as_array().unwrap().len(), 3);
    let del = json!({"filter": {"uuids": [ioc["uuid"]]}});
    let r = send(&sim, "DELETE", "/threat-intelligence/iocs", &del).await;
    assert_eq!(r.json()["data"]["affected"], 1);
}

/// A rule is answered with every key of the console's rule schema (the Swagger example sample),
/// `remoteHosts[].values` takes several values (up to 5,000), and the update changes the hosts.
#[tokio::test]
async fn firewall_rules_have_the_sample_shape_and_take_many_values() {
    let sim = start(SimConfig::default()).await;
    let example = sample("firewall-control-create-response.swagger-example.json");
    let mut body = sample("firewall-control-create-block-request.splunk-soar.json");
    body["data"]["remoteHosts"] =
        json!([{"type": "fqdn", "values": ["a.example", "b.example", "c.example"]}]);
    let r = send(&sim, "POST", "/firewall-control", &body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let rule = r.json()["data"].clone();
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&rule), keys(&example["data"]));
    assert_eq!(
        rule["remoteHosts"][0]["values"].as_array().unwrap().len(),
        3
    );
    let listed = get(&sim, "/firewall-control?tenant=true").await.json();
    assert_eq!(keys(&listed["data"][0]), keys(&example["data"]));

    // The update replaces the hosts; more than 5,000 values are refused.
    let id = rule["id"].as_str().unwrap();
    let r = send(
        &sim,
        "PUT",
        &format!("/firewall-control/{id}"),
        &json!({"data": {"remoteHosts": [{"type": "fqdn", "values": ["a.example"]}]}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json()["data"]["remoteHosts"][0]["values"],
        json!(["a.example"])
    );
    let many: Vec<String> = (0..5001).map(|n| format!("h{n}.example")).collect();
    let mut big = body.clone();
    big["data"]["name"] = json!("big");
    big["data"]["remoteHosts"] = json!([{"type": "fqdn", "values": many}]);
    let r = send(&sim, "POST", "/firewall-control", &big).await;
    assert_eq!(r.status, 400);
    assert!(
        String::from_utf8_lossy(&r.body).contains("5000"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
}

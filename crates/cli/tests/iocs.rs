//! `s1bridge iocs push` through the built binary against the simulator: the second push creates
//! nothing and only reads, a dry run writes nothing, prune never touches foreign objects, and
//! Firewall Control unlicensed names the prerequisite while hashes are still blocked.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};

use s1bridge_api::features::Capability;
use s1bridge_api::indicators::{FirewallRuleCreate, FirewallRuleData, HostSpec, ScopeFilter};
use s1bridge_api::url::ConsoleUrl;
use s1bridge_api::{ApiToken, Client, ClientOptions};
use s1bridge_sim::{Faults, RunningSim, SimConfig, Simulator};

const TOKEN: &str = "tok-iocs-LEAKCANARY-0123456789abcdef0123456789abcdef";
const SHA1: &str = "3395856ce81f2b7382dee72602f798b642f14140";

async fn sim() -> RunningSim {
    Simulator::new(SimConfig {
        agents: 10,
        token: TOKEN.into(),
        ..SimConfig::default()
    })
    .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
    .await
    .expect("simulator")
}

fn push(s: &RunningSim, db: &Path, file: &Path, extra: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_s1bridge"));
    c.args(["iocs", "push", "--url", s.url.as_str(), "--console", "sim"])
        .arg(file)
        .args(extra)
        .env("S1BRIDGE_DB", db)
        .env("S1_API_TOKEN", TOKEN);
    c.output().expect("binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn writes(s: &RunningSim, from: usize) -> Vec<String> {
    s.sim.request_log()[from..]
        .iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn push_twice_dry_run_and_prune() {
    let s = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let file = dir.path().join("iocs.csv");
    std::fs::write(
        &file,
        format!("type,value,description\nsha1,{SHA1},dropper\nipv4,203.0.113.7\ndomain,Evil.Example.\nsha1,nothex\n"),
    )
    .unwrap();

    // Dry run: the plan is printed, nothing is written.
    let before = s.sim.request_log().len();
    let o = push(&s, &db, &file, &["--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("iocs.csv:5: rejected"), "{out}");
    let planned = |what: &str| {
        out.lines()
            .any(|l| l.starts_with("create") && l.contains(what))
    };
    assert!(
        planned("sha1 3395856ce81f2b7382dee72602f798b642f14140 (macos)"),
        "{out}"
    );
    assert!(planned("domain evil.example"), "{out}");
    assert!(writes(&s, before).is_empty(), "{:?}", writes(&s, before));

    // --strict refuses the file because of line 5.
    let o = push(&s, &db, &file, &["--strict"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    let o = push(&s, &db, &file, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("blocklist: 3 created"), "{}", text(&o));
    assert!(text(&o).contains("firewall: 2 created"), "{}", text(&o));

    // Second push: nothing created, only reads.
    let before = s.sim.request_log().len();
    let o = push(&s, &db, &file, &["--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(writes(&s, before).is_empty(), "{:?}", writes(&s, before));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["report"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["op"] == "skip")
    );

    // Verify: all deployed (exit 0); after someone changes a rule, drifted (exit 1).
    let verify_out = |s: &RunningSim| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_s1bridge"));
        c.args([
            "iocs",
            "verify",
            "--url",
            s.url.as_str(),
            "--console",
            "sim",
        ])
        .arg(&file)
        .env("S1BRIDGE_DB", &db)
        .env("S1_API_TOKEN", TOKEN);
        c.output().expect("binary runs")
    };
    let o = verify_out(&s);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("5 checked, 0 missing or drifted"),
        "{}",
        text(&o)
    );
    // A foreign rule for an IP we never pushed, then prune with an input without the hash.
    let (url, _) = ConsoleUrl::parse(&s.url).unwrap();
    let c = Client::new(ClientOptions::new(
        url,
        ApiToken::new(TOKEN.to_string()).unwrap(),
    ))
    .unwrap();
    c.create_firewall_rule(&FirewallRuleCreate {
        data: FirewallRuleData {
            name: "analyst rule".into(),
            action: "Block".into(),
            status: "Enabled".into(),
            os_types: vec!["windows".into()],
            remote_hosts: vec![HostSpec {
                kind: "addresses".into(),
                values: vec!["198.51.100.9".into()],
            }],
            ..Default::default()
        },
        filter: ScopeFilter::global(),
    })
    .await
    .unwrap();
    let ours = c
        .list_firewall_rules(&ScopeFilter::global())
        .await
        .unwrap()
        .into_iter()
        .find(|r| {
            r.name.starts_with("s1bridge: ")
                && r.remote_hosts
                    .iter()
                    .any(|h| h.values.iter().any(|v| v == "evil.example"))
        })
        .unwrap();
    let _: s1bridge_api::wire::Envelope<serde_json::Value> = c
        .put(
            &format!("/firewall-control/{}", ours.id),
            &[],
            &serde_json::json!({"data": {"action": "Allow"}}),
        )
        .await
        .unwrap();
    let o = verify_out(&s);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("drifted"), "{}", text(&o));
    std::fs::write(&file, "ipv4,203.0.113.7\n").unwrap();
    let o = push(&s, &db, &file, &["--prune"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("blocklist: 0 created, 0 skipped, 3 deleted"),
        "{out}"
    );
    assert!(
        out.contains("firewall: 0 created, 1 skipped, 1 deleted"),
        "{out}"
    );
    let rules = c.list_firewall_rules(&ScopeFilter::global()).await.unwrap();
    let names: Vec<String> = rules.into_iter().map(|r| r.name).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"analyst rule".to_string()));

    // Every write is in the audit log; the token is nowhere.
    let o = Command::new(env!("CARGO_BIN_EXE_s1bridge"))
        .args(["audit", "--json"])
        .env("S1BRIDGE_DB", &db)
        .output()
        .unwrap();
    let audit = text(&o);
    assert_eq!(audit.matches("\"indicators.create\"").count(), 5, "{audit}");
    assert_eq!(audit.matches("\"indicators.delete\"").count(), 4, "{audit}");
    assert!(!audit.contains(TOKEN));
    assert!(
        !std::fs::read(&db)
            .unwrap()
            .windows(TOKEN.len())
            .any(|w| w == TOKEN.as_bytes())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn firewall_unlicensed_is_explained_and_hashes_still_go_through() {
    let s = sim().await;
    s.sim.set_faults(Faults {
        not_licensed: vec![Capability::FirewallControl],
        ..Faults::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let file = dir.path().join("iocs.jsonl");
    std::fs::write(
        &file,
        format!("{{\"type\":\"sha1\",\"value\":\"{SHA1}\"}}\n{{\"type\":\"ipv4\",\"value\":\"203.0.113.7\"}}\n"),
    )
    .unwrap();
    let o = push(&s, &db, &file, &[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("Control SKU"), "{out}");
    assert!(out.contains("blocklist: 3 created"), "{out}");
}

fn run(s: &RunningSim, db: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_s1bridge"));
    c.arg("iocs")
        .args(args)
        .args(["--url", s.url.as_str(), "--console", "sim"])
        .env("S1BRIDGE_DB", db)
        .env("S1_API_TOKEN", TOKEN);
    c.output().expect("binary runs")
}

fn list(db: &Path, args: &[&str]) -> (Output, Vec<serde_json::Value>) {
    let o = Command::new(env!("CARGO_BIN_EXE_s1bridge"))
        .args(["iocs", "list", "--json"])
        .args(args)
        .env("S1BRIDGE_DB", db)
        .output()
        .expect("binary runs");
    let v: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", text(&o));
    });
    (o, v)
}

#[tokio::test(flavor = "multi_thread")]
async fn backfill_then_list_with_filters() {
    let s = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let (url, _) = ConsoleUrl::parse(&s.url).unwrap();
    let c = Client::new(ClientOptions::new(
        url,
        ApiToken::new(TOKEN.to_string()).unwrap(),
    ))
    .unwrap();
    // Someone else's rule blocks two domains.
    c.create_firewall_rule(&FirewallRuleCreate {
        data: FirewallRuleData {
            name: "analyst rule".into(),
            action: "Block".into(),
            status: "Enabled".into(),
            os_types: vec!["windows".into()],
            remote_hosts: vec![HostSpec {
                kind: "fqdn".into(),
                values: vec!["bad.example".into(), "worse.example".into()],
            }],
            ..Default::default()
        },
        filter: ScopeFilter::global(),
    })
    .await
    .unwrap();
    // Empty store: nothing listed, with a hint.
    let o = Command::new(env!("CARGO_BIN_EXE_s1bridge"))
        .args(["iocs", "list"])
        .env("S1BRIDGE_DB", &db)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("iocs backfill"), "{}", text(&o));

    // Push a hash and an address: recorded as ours without any list call.
    let file = dir.path().join("iocs.csv");
    std::fs::write(&file, format!("sha1,{SHA1}\nipv4,203.0.113.7\n")).unwrap();
    let o = push(&s, &db, &file, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let before = s.sim.request_log().len();
    let (o, rows) = list(&db, &["--console", "sim"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        s.sim.request_log().len(),
        before,
        "list reads the store only"
    );
    assert_eq!(rows.len(), 4, "{rows:#?}");
    assert!(
        rows.iter()
            .all(|r| r["ours"] == true && r["state"] == "created")
    );
    for key in [
        "console",
        "target",
        "object_id",
        "type",
        "value",
        "os_type",
        "direction",
        "description",
        "ours",
        "expires_at",
        "first_seen_at",
        "last_seen_at",
        "state",
        "state_at",
    ] {
        assert!(rows[0].get(key).is_some(), "{key} missing: {}", rows[0]);
    }

    // Backfill: the foreign rule's two domains come in as not ours; exit 0; table output.
    let o = run(&s, &db, &["backfill"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("FOREIGN"), "{}", text(&o));
    let (_, foreign) = list(&db, &["--foreign"]);
    let values: Vec<&str> = foreign
        .iter()
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["bad.example", "worse.example"]);
    assert!(foreign.iter().all(|r| r["state"] == "imported"));
    let (_, ours) = list(&db, &["--ours"]);
    assert_eq!(ours.len(), 4);
    let (_, sha) = list(&db, &["--type", "sha1", "--target", "blocklist"]);
    assert_eq!(sha.len(), 3);
    let (_, fw) = list(&db, &["--target", "firewall"]);
    assert_eq!(fw.len(), 3);
    let o = Command::new(env!("CARGO_BIN_EXE_s1bridge"))
        .args(["iocs", "list", "--type", "nope"])
        .env("S1BRIDGE_DB", &db)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = Command::new(env!("CARGO_BIN_EXE_s1bridge"))
        .args(["iocs", "list", "--console", "sim"])
        .env("S1BRIDGE_DB", &db)
        .output()
        .unwrap();
    let table = text(&o);
    assert!(
        table.contains("VALUE") && table.contains("LAST SEEN"),
        "{table}"
    );
    assert!(table.contains("worse.example"), "{table}");
    assert!(
        table.contains("6 indicator object value(s): 4 ours, 2 foreign"),
        "{table}"
    );

    // A second backfill adds nothing; it reads only; it is in the audit log.
    let before = s.sim.request_log().len();
    let o = run(&s, &db, &["backfill", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(writes(&s, before).is_empty());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["imported"] == 0),
        "{v}"
    );
    let (_, all) = list(&db, &[]);
    assert_eq!(all.len(), 6);
    let o = Command::new(env!("CARGO_BIN_EXE_s1bridge"))
        .args(["audit", "--json"])
        .env("S1BRIDGE_DB", &db)
        .output()
        .unwrap();
    assert_eq!(text(&o).matches("\"indicators.backfill\"").count(), 2);

    // Firewall Control unlicensed: explained, exit 3, the blocklist still imports.
    s.sim.set_faults(Faults {
        not_licensed: vec![Capability::FirewallControl],
        ..Faults::default()
    });
    let o = run(&s, &db, &["backfill", "--target", "firewall,blocklist"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("Control SKU"), "{}", text(&o));
    assert!(text(&o).contains("blocklist"), "{}", text(&o));
    assert!(!text(&o).contains(TOKEN));
}

/// `bench --indicators`: the second identical push only reads, and the output says so.
#[test]
fn bench_indicators_second_push_only_reads() {
    let o = Command::new(env!("CARGO_BIN_EXE_s1bridge"))
        .args([
            "bench",
            "--indicators",
            "500",
            "--rate-limits",
            "--rate-limit-scale",
            "50",
            "--json",
        ])
        .output()
        .expect("binary runs");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["indicators"], 500);
    // 200 hashes x 3 OS entries + 300 firewall values in 3 rules (one per host type).
    assert_eq!(v["objects_created"], 900);
    // One list + 600 creates, one list + 3 creates (a 429 on a loaded machine adds a retry).
    let retries = v["retries"].as_u64().unwrap();
    let by = |p: &str| v["requests_by_endpoint"][p].as_u64().unwrap();
    assert!(by("/web/api/v2.1/restrictions") >= 601, "{v}");
    assert!(by("/web/api/v2.1/firewall-control") >= 4, "{v}");
    assert_eq!(
        by("/web/api/v2.1/restrictions") + by("/web/api/v2.1/firewall-control"),
        605 + retries,
        "{v}"
    );
    assert_eq!(v["second_push_writes"], 0);
    assert_eq!(v["second_push_creates"], 0);
    let second = v["second_push_requests_by_endpoint"].as_object().unwrap();
    assert!(!second.is_empty());
    assert!(second.keys().all(|k| k.starts_with("GET ")), "{second:?}");
    assert!(v["rate_limit_bound_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(v["stored_rows"], 900);
}

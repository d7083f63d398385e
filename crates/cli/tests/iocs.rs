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

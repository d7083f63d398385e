//! The built binary, end to end, against the simulator: exit statuses, messages, and the rule
//! that the API token appears in no output, log line or database file.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};

use s1bridge_api::features::Capability;
use s1bridge_sim::{Faults, RunningSim, SimConfig, Simulator};

#[path = "cli/access.rs"]
mod access;

const TOKEN: &str = "tok-Zq8LEAKCANARY-4f9a7e21b3c5d6e7f8091a2b3c4d5e6f";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_s1bridge"))
}

async fn sim(agents: u32, faults: Faults) -> RunningSim {
    Simulator::new(SimConfig {
        agents,
        token: TOKEN.into(),
        faults,
        ..SimConfig::default()
    })
    .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
    .await
    .expect("simulator")
}

fn run(args: &[&str], token: Option<&str>, db: &Path) -> Output {
    let mut c = bin();
    c.args(args)
        .env("S1BRIDGE_DB", db)
        .env_remove("S1_API_TOKEN");
    if let Some(t) = token {
        c.env("S1_API_TOKEN", t);
    }
    c.output().expect("binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_appears_in_no_output_log_or_database_file() {
    let s = sim(300, Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let mut everything = String::new();
    for args in [
        vec!["-vvv", "verify", "--url", s.url.as_str()],
        vec!["-vvv", "verify", "--json", "--url", s.url.as_str()],
        vec!["-vvv", "sync", "--url", s.url.as_str(), "--console", "sim"],
        vec!["-vvv", "sync", "--console", "sim", "--json"],
        vec!["devices", "--json"],
        vec!["runs", "--json"],
    ] {
        let o = run(&args, Some(TOKEN), &db);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        everything.push_str(&text(&o));
    }
    // A wrong token: the error must not echo either token.
    s.sim.set_faults(Faults {
        unauthorized: true,
        ..Faults::default()
    });
    let o = run(&["-vvv", "sync", "--console", "sim"], Some(TOKEN), &db);
    assert_eq!(o.status.code(), Some(1));
    everything.push_str(&text(&o));
    assert!(text(&o).contains("Service Users"), "{}", text(&o));

    assert!(
        everything.contains("devices"),
        "the commands did print something"
    );
    assert!(!everything.contains(TOKEN), "the token leaked into output");
    assert!(
        !everything.contains("Zq8LEAKCANARY"),
        "part of the token leaked into output"
    );
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let hay = String::from_utf8_lossy(&bytes);
        assert!(
            !hay.contains("Zq8LEAKCANARY"),
            "the token is in a database file"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_statuses_follow_the_contract() {
    let s = sim(40, Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");

    let o = run(&["sync", "--url", s.url.as_str()], Some(TOKEN), &db);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // Usage errors: 2, with a message that says what to do.
    let o = run(&["sync", "--url", s.url.as_str()], None, &db);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("S1_API_TOKEN"), "{}", text(&o));
    let o = run(
        &["sync", "--url", s.url.as_str(), "--only", "indicators"],
        Some(TOKEN),
        &db,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("not in this build"), "{}", text(&o));
    let o = run(
        &["verify", "--url", "usea1-partners.sentinelone.net"],
        Some(TOKEN),
        &db,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("https://usea1-partners.sentinelone.net"),
        "suggests the https URL: {}",
        text(&o)
    );
    let o = run(
        &["verify", "--url", "http://console.example.com"],
        Some(TOKEN),
        &db,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    // A path on the URL is removed and the user is told.
    let with_path = format!("{}/dashboard?x=1#frag", s.url);
    let o = run(&["verify", "--url", with_path.as_str()], Some(TOKEN), &db);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("/dashboard"), "{}", text(&o));

    // A feature the token may not use: finished, but degraded (3).
    s.sim.set_faults(Faults {
        forbidden: vec![Capability::Devices],
        ..Faults::default()
    });
    let o = run(&["sync", "--url", s.url.as_str()], Some(TOKEN), &db);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));

    // A rejected token: 1.
    s.sim.set_faults(Faults {
        unauthorized: true,
        ..Faults::default()
    });
    let o = run(&["verify", "--url", s.url.as_str()], Some(TOKEN), &db);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn devices_filters_and_json_fields() {
    let s = sim(500, Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let o = run(
        &["sync", "--url", s.url.as_str(), "--console", "x"],
        Some(TOKEN),
        &db,
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["devices", "--json"], None, &db);
    let all: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(all.len(), s.sim.present_agent_ids().len());
    for key in [
        "agent_id",
        "uuid",
        "computer_name",
        "os_name",
        "os_type",
        "os_revision",
        "agent_version",
        "ips",
        "external_ip",
        "last_logged_in_user",
        "account_id",
        "account_name",
        "site_id",
        "site_name",
        "group_id",
        "group_name",
        "machine_type",
        "last_active_at",
        "is_active",
        "is_decommissioned",
        "first_seen_at",
        "last_seen_at",
        "removed_at",
        "stale",
        "duplicate_of",
    ] {
        assert!(all[0].get(key).is_some(), "device JSON lacks {key}");
    }
    for (flag, field) in [
        ("--stale", "stale"),
        ("--decommissioned", "is_decommissioned"),
    ] {
        let o = run(&["devices", "--json", flag], None, &db);
        let v: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
        assert!(!v.is_empty(), "{flag} finds planted devices");
        assert!(v.iter().all(|d| d[field] == true), "{flag}");
    }
    let o = run(&["devices", "--json", "--duplicates"], None, &db);
    let v: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(!v.is_empty() && v.iter().all(|d| d["duplicate_of"].is_string()));
    let o = run(&["devices"], None, &db);
    assert!(String::from_utf8_lossy(&o.stdout).contains("COMPUTER"));
}

/// `kill -9` in the middle of a full pass: the next sync recognises the dead run at once,
/// resumes from the checkpoints, and ends with exactly the console's agents.
#[tokio::test(flavor = "multi_thread")]
async fn a_sync_killed_with_sigkill_resumes_on_the_next_run() {
    use s1bridge_store::Store;
    let s = Simulator::new(SimConfig {
        agents: 20_000,
        token: TOKEN.into(),
        latency_ms: 200,
        ..SimConfig::default()
    })
    .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
    .await
    .expect("simulator");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let mut child = bin()
        .args([
            "sync",
            "--url",
            s.url.as_str(),
            "--console",
            "k",
            "--only",
            "devices",
        ])
        .env("S1BRIDGE_DB", &db)
        .env("S1_API_TOKEN", TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    // Wait until some pages are committed but the pass is not finished, then kill -9.
    let mut committed = 0;
    for _ in 0..400 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        if !db.exists() {
            continue;
        }
        let Ok(store) = s1bridge_store_sqlite::SqliteStore::open(&db) else {
            continue;
        };
        let cps = store
            .load_checkpoints("k", "devices")
            .await
            .unwrap_or_default();
        committed = cps.iter().map(|c| c.records).sum::<u64>();
        if committed > 0 {
            break;
        }
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(
        committed > 0 && committed < 20_000,
        "killed mid-pass ({committed} committed)"
    );

    let o = run(
        &["sync", "--console", "k", "--only", "devices"],
        Some(TOKEN),
        &db,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("resumed from checkpoint"), "{}", text(&o));
    let store = s1bridge_store_sqlite::SqliteStore::open(&db).unwrap();
    let runs = store.list_runs(Some("k"), 0).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(
        runs[1].status,
        s1bridge_store::RunStatus::Abandoned,
        "{:?}",
        runs[1]
    );
    assert_eq!(runs[0].status, s1bridge_store::RunStatus::Ok);
    let mut stored: Vec<String> = store
        .list_devices(&s1bridge_store::DeviceFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.agent_id)
        .collect();
    stored.sort();
    let mut truth = s.sim.present_agent_ids();
    truth.sort();
    assert_eq!(stored, truth, "nothing lost, nothing duplicated");
}

/// `s1bridge sim` as its own process: flags shape the tenant and faults, a scenario file is read,
/// and a bad scenario is a usage error naming the file.
#[test]
fn the_sim_command_serves_a_console_from_flags_and_scenarios() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let scenario = dir.path().join("expiring.toml");
    std::fs::write(
        &scenario,
        "seed = 9\nagents = 30\ntoken_expires_in_days = 3\ntoken = \"tok-scenario-0123456789\"\n",
    )
    .unwrap();
    let mut child = bin()
        .args(["sim", "--listen", "127.0.0.1:0", "--scenario"])
        .arg(&scenario)
        .args(["--forbid", "access"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn sim");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_string();
    let o = run(
        &["verify", "--json", "--url", url.as_str()],
        Some("tok-scenario-0123456789"),
        &db,
    );
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["expiry_warning"].is_string(), "3 days left warns: {v}");
    let access = v["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["feature"] == "access")
        .unwrap();
    assert_eq!(access["status"], "missing permission");

    std::fs::write(&scenario, "agents = \"many\"\n").unwrap();
    let o = bin()
        .args(["sim", "--listen", "127.0.0.1:0", "--scenario"])
        .arg(&scenario)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("expiring.toml"),
        "names the file: {}",
        text(&o)
    );
}

/// `sync` in scan mode fills the vulnerability queue; `vulns` lists, filters, explains and shows
/// history with the PRODUCT.md field names; asset-sync mode skips vulnerabilities.
#[tokio::test(flavor = "multi_thread")]
async fn the_vulnerability_queue_explain_and_history() {
    let s = sim(40, Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    // A KEV catalog naming a CVE the simulator plants (libwebp, in Chrome).
    let kev = dir.path().join("kev.json");
    std::fs::write(
        &kev,
        r#"{"title":"CISA Catalog of Known Exploited Vulnerabilities","catalogVersion":"2026.11.20","dateReleased":"2026-11-20T00:00:00.000Z","count":2,"vulnerabilities":[
        {"cveID":"CVE-2023-4863","vendorProject":"Google","product":"Chromium WebP","vulnerabilityName":"Heap overflow","dateAdded":"2023-09-13","shortDescription":"x","requiredAction":"Apply updates","dueDate":"2023-10-04","knownRansomwareCampaignUse":"Unknown","notes":"","cwes":["CWE-787"]},
        {"cveID":"CVE-2021-44228","vendorProject":"Apache","product":"Log4j2","vulnerabilityName":"Log4Shell","dateAdded":"2021-12-10","shortDescription":"x","requiredAction":"Apply updates","dueDate":"2021-12-24","knownRansomwareCampaignUse":"Known","notes":"","cwes":["CWE-20"]}]}"#,
    )
    .unwrap();
    let kev_arg = kev.to_str().unwrap();
    let o = run(
        &[
            "sync",
            "--url",
            s.url.as_str(),
            "--console",
            "v",
            "--kev",
            kev_arg,
        ],
        Some(TOKEN),
        &db,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let o = run(&["vulns", "--json"], None, &db);
    let all: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(!all.is_empty());
    for key in [
        "finding_id",
        "agent_id",
        "computer_name",
        "cve_id",
        "application",
        "application_version",
        "vendor_severity",
        "cvss_score",
        "published_at",
        "detected_at",
        "status",
        "first_seen_at",
        "last_seen_at",
        "fixed_at",
        "priority",
        "factors",
    ] {
        assert!(all[0].get(key).is_some(), "finding JSON lacks {key}");
    }
    assert!(all[0]["cvss_score"].is_number());
    let f0 = &all[0]["factors"][0];
    assert!(f0["name"].is_string() && f0["effect"].is_number() && f0["detail"].is_string());

    let o = run(&["vulns", "--json", "--kev"], None, &db);
    let kev_only: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(!kev_only.is_empty(), "the planted KEV CVEs are flagged");
    assert!(
        kev_only.iter().all(|f| {
            ["CVE-2023-4863", "CVE-2021-44228"].contains(&f["cve_id"].as_str().unwrap())
        })
    );
    let o = run(&["vulns", "--json", "--min-priority", "high"], None, &db);
    let high: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        high.iter()
            .all(|f| ["high", "critical"].contains(&f["priority"].as_str().unwrap()))
    );

    let id = kev_only[0]["finding_id"].as_str().unwrap();
    let o = run(&["vulns", "--explain", id], None, &db);
    let t = text(&o);
    assert!(
        t.contains("vendor severity") && t.contains("kev") && t.contains("result:"),
        "{t}"
    );
    let o = run(&["vulns", "--history", id, "--json"], None, &db);
    let h: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(h[0]["to"], "new");
    assert!(h[0]["run_id"].is_number());
    let o = run(&["vulns", "--explain", "f0000000000000000"], None, &db);
    assert_eq!(o.status.code(), Some(2));

    // Asset-sync mode: the run records vulnerabilities as skipped.
    let o = run(
        &["sync", "--console", "v", "--mode", "asset-sync", "--json"],
        Some(TOKEN),
        &db,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let run_json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let v = run_json["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feature"] == "vulnerabilities")
        .unwrap()
        .clone();
    assert_eq!(v["status"], "skipped");
    assert_eq!(v["reason"], "asset-sync mode");
    assert_eq!(v["requests"], 0);
}

/// A console keeps the scope it was registered with; later syncs without scope flags use it,
/// and `--mode` overrides one run without changing the console.
#[tokio::test(flavor = "multi_thread")]
async fn a_registered_scope_is_reused_and_mode_overrides_one_run() {
    let s = sim(60, Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sc.db");
    let site = s.sim.sites()[1].id.clone();
    let o = run(
        &[
            "sync",
            "--url",
            s.url.as_str(),
            "--console",
            "sc",
            "--site",
            site.as_str(),
        ],
        Some(TOKEN),
        &db,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    s.sim.reset_stats();
    let o = run(
        &["sync", "--console", "sc", "--mode", "asset-sync", "--full"],
        Some(TOKEN),
        &db,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let log = s.sim.request_log();
    let agent_queries: Vec<&str> = log
        .iter()
        .filter(|l| l.path.ends_with("/agents"))
        .map(|l| l.query.as_str())
        .collect();
    assert!(!agent_queries.is_empty());
    assert!(
        agent_queries
            .iter()
            .all(|q| q.contains(&format!("siteIds={site}"))),
        "every agents request stays in the registered site: {agent_queries:?}"
    );
    assert!(
        log.iter()
            .all(|l| !l.path.contains("application-management"))
    );
    // The next run without --mode is back to the registered scan mode.
    s.sim.reset_stats();
    let o = run(&["sync", "--console", "sc"], Some(TOKEN), &db);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        s.sim
            .request_log()
            .iter()
            .any(|l| l.path.contains("application-management"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ai_agents_are_listed_with_the_json_contract_and_degrade_to_exit_3() {
    let s = sim(120, Faults::default()).await;
    let truth = s.sim.ai_agent_truth();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let url = s.url.as_str();

    let o = run(
        &["sync", "--url", url, "--console", "sim"],
        Some(TOKEN),
        &db,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("ai-agents: "), "{}", text(&o));

    let o = run(&["ai-agents", "--json"], None, &db);
    assert!(o.status.success(), "{}", text(&o));
    let found: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("JSON list");
    assert_eq!(found.len(), truth.planted.len());
    for d in &found {
        for key in [
            "agent_name",
            "display_name",
            "agent_id",
            "computer_name",
            "user",
            "version",
            "first_seen_at",
            "last_seen_at",
            "event_count",
            "evidence",
        ] {
            assert!(d.get(key).is_some(), "{key} missing in {d}");
        }
        let e = &d["evidence"][0];
        for key in ["image_path", "command_line", "parent"] {
            assert!(e.get(key).is_some(), "{key} missing in {e}");
        }
    }
    let p = &truth.planted[0];
    for args in [
        vec!["ai-agents", "--json", "--agent", p.agent.as_str()],
        vec!["ai-agents", "--json", "--device", p.agent_id.as_str()],
        vec!["ai-agents", "--json", "--user", p.user.as_str()],
    ] {
        let o = run(&args, None, &db);
        let some: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("JSON");
        assert!(!some.is_empty() && some.len() < found.len(), "{args:?}");
        assert!(
            some.iter().any(|d| d["agent_id"] == p.agent_id.as_str()),
            "{args:?}"
        );
    }
    let o = run(&["ai-agents"], None, &db);
    assert!(text(&o).contains("LAST SEEN"), "{}", text(&o));

    // Deep Visibility forced, with the init-query limit raised for the test.
    let db2 = dir.path().join("dv.db");
    let o = run(
        &[
            "sync",
            "--url",
            url,
            "--only",
            "devices,ai-agents",
            "--ai-query",
            "dv",
            "--rate-limit",
            "/dv/init-query=100",
            "--rate-limit",
            "/dv/query-status=100",
        ],
        Some(TOKEN),
        &db2,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("via deep-visibility"), "{}", text(&o));

    // Usage errors.
    let o = run(
        &["sync", "--url", url, "--ai-query", "sql"],
        Some(TOKEN),
        &db,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "format = 1\n[[agent]]\nid = \"x\"\n").unwrap();
    let o = run(
        &["sync", "--url", url, "--ai-catalog", bad.to_str().unwrap()],
        Some(TOKEN),
        &db,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("bad.toml line 2"), "{}", text(&o));

    // Without Deep Visibility: everything else syncs, ai-agents is unavailable, exit 3; the
    // detections of the last good run are still there.
    s.sim.set_faults(Faults {
        not_licensed: vec![Capability::DeepVisibility],
        ..Faults::default()
    });
    let o = run(&["sync", "--console", "sim"], Some(TOKEN), &db);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("ai-agents") && out.contains("unavailable"),
        "{out}"
    );
    assert!(out.contains("devices    ok"), "{out}");
    let o = run(&["ai-agents", "--json"], None, &db);
    let kept: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(kept.len(), found.len());
}

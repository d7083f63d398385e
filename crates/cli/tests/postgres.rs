//! The built binary on PostgreSQL (`--db postgres://…` / `S1BRIDGE_DB`): a sync against the
//! simulator, then `devices` and `vulns` read back from the same database, agreeing with a SQLite
//! run against the same simulator. Skips with a message when the test server is unreachable
//! outside CI; fails in CI (see `TestDb::create`).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::{Command, Output};

use s1bridge_sim::{SimConfig, Simulator};
use s1bridge_store_postgres::testdb::TestDb;

const TOKEN: &str = "tok-Pg7LEAKCANARY-0a1b2c3d4e5f60718293a4b5c6d7e8f9";

fn run(args: &[&str], token: Option<&str>, db: &str) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_s1bridge"));
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

fn json_list(o: &Output) -> Vec<serde_json::Value> {
    assert!(o.status.success(), "{}", text(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

fn field_set(rows: &[serde_json::Value], field: &str) -> BTreeSet<String> {
    rows.iter()
        .map(|r| r[field].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_devices_and_vulns_on_postgres_agree_with_sqlite() {
    let Some(pg) = TestDb::create().await else {
        return;
    };
    let s = Simulator::new(SimConfig {
        agents: 60,
        token: TOKEN.into(),
        ..SimConfig::default()
    })
    .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
    .await
    .expect("simulator");
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("s.db");
    let sqlite = sqlite.to_str().unwrap();
    let pg_url = pg.url();

    let mut everything = String::new();
    let mut results = Vec::new();
    for db in [pg_url.as_str(), sqlite] {
        let o = run(
            &["sync", "--url", s.url.as_str(), "--console", "sim"],
            Some(TOKEN),
            db,
        );
        assert_eq!(o.status.code(), Some(0), "sync into {db}: {}", text(&o));
        everything.push_str(&text(&o));
        let devices = json_list(&run(&["devices", "--json"], None, db));
        let vulns = json_list(&run(&["vulns", "--json"], None, db));
        let table = run(&["vulns"], None, db);
        assert!(table.status.success(), "{}", text(&table));
        everything.push_str(&text(&table));
        results.push((devices, vulns));
    }
    let (pg_devices, pg_vulns) = &results[0];
    let (lite_devices, lite_vulns) = &results[1];
    assert_eq!(pg_devices.len(), s.sim.present_agent_ids().len());
    assert_eq!(
        field_set(pg_devices, "agent_id"),
        field_set(lite_devices, "agent_id")
    );
    assert!(!pg_vulns.is_empty(), "scan mode fills the queue");
    assert_eq!(
        field_set(pg_vulns, "finding_id"),
        field_set(lite_vulns, "finding_id"),
        "both backends store the same findings under the same ids"
    );
    // Same queue order on both backends.
    let order = |v: &[serde_json::Value]| -> Vec<String> {
        v.iter()
            .map(|r| r["finding_id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(order(pg_vulns), order(lite_vulns));

    // The PostgreSQL runs are listed like SQLite's.
    let runs = json_list(&run(&["runs", "--json"], None, &pg_url));
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(
        !everything.contains(TOKEN),
        "the API token leaked: {everything}"
    );
}

#[test]
fn a_postgres_password_never_appears_in_errors() {
    let url = "postgres://bob:s3cretPW@127.0.0.1:1/nowhere?sslmode=disable&connect_timeout=2";
    let o = run(&["devices", "--json"], None, url);
    assert!(!o.status.success());
    let t = text(&o);
    assert!(!t.contains("s3cretPW"), "{t}");
    assert!(t.contains("127.0.0.1:1"), "{t}");
}

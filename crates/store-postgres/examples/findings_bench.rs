//! Findings upsert throughput on PostgreSQL (a benchmark, not a test).
//!
//! ```text
//! S1BRIDGE_TEST_PG=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//!   cargo run --release -p s1bridge-store-postgres --features testkit --example findings_bench \
//!   [-- AGENTS [PER_AGENT [PAGE]]]
//! ```
//!
//! The same work as the SQLite example (`s1bridge_store::testkit::FindingsBench`: a million
//! synthetic findings by default, three passes, then the queue) into a fresh throw-away schema
//! of the test server (`S1BRIDGE_TEST_PG`, see `TestDb`), dropped at the end. The server's
//! settings are left as they are (`synchronous_commit` included). The target for the upserts on
//! a 2-core machine is at least 100,000 rows/s.

use s1bridge_store::testkit::FindingsBench;
use s1bridge_store_postgres::testdb::TestDb;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bench = FindingsBench::from_args();
    let Some(db) = TestDb::create().await else {
        eprintln!("no PostgreSQL server: nothing measured");
        std::process::exit(2);
    };
    let store = db.store().await;
    let sync: String = store
        .pool()
        .get()
        .await
        .expect("a connection")
        .query_one("SHOW synchronous_commit", &[])
        .await
        .expect("synchronous_commit")
        .get(0);
    bench
        .run(
            &store,
            &format!(
                "PostgreSQL schema {} (synchronous_commit = {sync})",
                db.schema()
            ),
        )
        .await;
    let size: i64 = store
        .pool()
        .get()
        .await
        .expect("a connection")
        .query_one(
            "SELECT sum(pg_total_relation_size(c.oid))::int8 FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relkind = 'r'",
            &[&db.schema()],
        )
        .await
        .expect("size")
        .get(0);
    println!("schema size: {:.1} MB", size as f64 / 1e6);
    // The server's CPU time for this schema's connections (when the server runs on this
    // machine): on a loaded machine wall time says little, CPU time says what the work costs.
    let pids: Vec<i32> = store
        .pool()
        .get()
        .await
        .expect("a connection")
        .query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
            &[&db.schema()],
        )
        .await
        .expect("backends")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let ticks: u64 = pids.iter().filter_map(|pid| backend_ticks(*pid)).sum();
    println!(
        "server CPU (user + system, {} backends): {:.1} s",
        pids.len(),
        ticks as f64 / 100.0
    );
    drop(store);
}

/// utime + stime of a local process, in clock ticks (100 per second on Linux).
fn backend_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

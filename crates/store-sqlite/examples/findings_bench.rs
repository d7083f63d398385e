//! Findings upsert throughput (a benchmark, not a test).
//!
//! ```text
//! cargo run --release -p s1bridge-store-sqlite --example findings_bench [-- AGENTS [PER_AGENT [PAGE]]]
//! ```
//!
//! Writes AGENTS × PER_AGENT (default 25,000 × 40 = 1,000,000) synthetic vulnerability findings,
//! grouped by endpoint as the console sends them, in pages of PAGE (default 1,000) rows into a
//! fresh temporary SQLite file through the `Store` trait and completes that pass (pass 1),
//! re-upserts them all (pass 2, every row re-stamped), completes pass 2 (every finding `new` →
//! `open`), repeats that for pass 3 (the steady state: no status changes) and reads the queue.
//! Observations are built before the clock starts. The generator and the passes are
//! `s1bridge_store::testkit::FindingsBench`, shared with the PostgreSQL example. The target for
//! the upserts on a 2-core machine is at least 200,000 rows/s.

use s1bridge_store::testkit::FindingsBench;
use s1bridge_store_sqlite::SqliteStore;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bench = FindingsBench::from_args();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.db");
    let store = SqliteStore::open(&path).expect("open store");
    bench
        .run(&store, &format!("SQLite file {}", path.display()))
        .await;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!("database file: {:.1} MB", size as f64 / 1e6);
}

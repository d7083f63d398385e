//! Upsert throughput sanity check (a benchmark, not a test).
//!
//! ```text
//! cargo run --release -p s1bridge-store-sqlite --example upsert_bench [-- DEVICES [PAGE]]
//! ```
//!
//! Writes DEVICES (default 100,000) synthetic devices in pages of PAGE (default 1,000) rows into
//! a fresh temporary SQLite file through the `Store` trait, then re-upserts them (every row
//! changed: new last_seen_at and last_active_at), then completes the full pass and lists them.
//! The target on a 2-core machine is at least 100,000 rows/s.

use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use s1bridge_store::{Device, DeviceFilter, Scope, Store};
use s1bridge_store_sqlite::SqliteStore;

fn synthetic(i: usize, seen: chrono::DateTime<Utc>) -> Device {
    let base = Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date");
    // Scatter the ids like the console's (not monotonic).
    let id = 1_290_000_000_000_000_000u64 + (i as u64).wrapping_mul(2_654_435_761) % 1_000_000_007;
    let site = i % 40;
    Device {
        console: "bench".to_string(),
        agent_id: id.to_string(),
        uuid: Some(format!("{:040x}", id as u128 * 7919)),
        computer_name: format!("WS-{:06}", i % 95_000),
        os_name: Some("Windows 11 Enterprise".to_string()),
        os_type: Some("windows".to_string()),
        os_revision: Some("22631".to_string()),
        os_arch: Some("64 bit".to_string()),
        agent_version: Some("24.1.4.257".to_string()),
        ips: vec![
            format!("10.{}.{}.{}", site, (i / 250) % 250, i % 250),
            format!("fe80::{:x}", i),
        ],
        macs: vec![format!(
            "00:50:56:{:02X}:{:02X}:{:02X}",
            (i >> 16) & 0xff,
            (i >> 8) & 0xff,
            i & 0xff
        )],
        tags: if i.is_multiple_of(20) {
            vec!["env=prod".to_string()]
        } else {
            Vec::new()
        },
        external_ip: Some("203.0.113.7".to_string()),
        last_logged_in_user: Some(format!("CORP\\user{}", i % 5000)),
        account_id: Some("433241117337583618".to_string()),
        account_name: Some("Acme".to_string()),
        site_id: Some(format!("4332411173543608{site:02}")),
        site_name: Some(format!("Site {site}")),
        group_id: Some(format!("4332411173627494{site:02}")),
        group_name: Some("Default Group".to_string()),
        machine_type: Some("laptop".to_string()),
        serial_number: Some(format!("5CG{:07}", i % 95_000)),
        domain: Some("corp.example".to_string()),
        model_name: Some("HP EliteBook 840 G8".to_string()),
        network_status: Some("connected".to_string()),
        infected: i.is_multiple_of(97),
        active_threats: i64::from(i.is_multiple_of(97)),
        last_active_at: Some(seen - Duration::minutes((i % 10_000) as i64)),
        registered_at: Some(base + Duration::seconds(i as i64)),
        console_updated_at: Some("2025-03-01T11:59:58.123456Z".to_string()),
        is_active: true,
        is_decommissioned: false,
        is_uninstalled: false,
        first_seen_at: seen,
        last_seen_at: seen,
        removed_at: None,
        stale: false,
        duplicate_of: None,
    }
}

/// CPU seconds used by this process so far (all threads), from /proc/self/stat on Linux.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn report(label: &str, total: usize, secs: f64, cpu: Option<f64>, extra: &str) {
    let cpu = cpu
        .map(|c| format!("  cpu {c:6.3} s = {:>7.0} rows per cpu-s", total as f64 / c))
        .unwrap_or_default();
    println!(
        "{label:<20} {secs:7.3} s  {:>7.0} rows/s{cpu}  {extra}",
        total as f64 / secs
    );
}

async fn upsert_all(
    store: &SqliteStore,
    pass_id: i64,
    pages: &[Vec<Device>],
) -> (f64, Option<f64>, u64, u64) {
    let cpu_start = cpu_seconds();
    let start = Instant::now();
    let (mut inserted, mut updated) = (0, 0);
    for page in pages {
        let stats = store
            .apply_device_page("bench", pass_id, page, None)
            .await
            .expect("apply_device_page");
        inserted += stats.inserted;
        updated += stats.updated;
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(cpu_start).map(|(end, begin)| end - begin);
    (secs, cpu, inserted, updated)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let total: usize = args
        .next()
        .map(|a| a.parse().expect("DEVICES must be a number"))
        .unwrap_or(100_000);
    let page_size: usize = args
        .next()
        .map(|a| a.parse().expect("PAGE must be a number"))
        .unwrap_or(1_000);

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.db");
    let store = SqliteStore::open(&path).expect("open store");

    let t1 = Utc
        .with_ymd_and_hms(2025, 3, 1, 12, 0, 0)
        .single()
        .expect("valid date");
    let t2 = t1 + Duration::hours(1);
    let build = |seen| -> Vec<Vec<Device>> {
        (0..total)
            .map(|i| synthetic(i, seen))
            .collect::<Vec<_>>()
            .chunks(page_size)
            .map(<[Device]>::to_vec)
            .collect()
    };
    let first = build(t1);
    let second = build(t2);

    println!(
        "{total} devices in pages of {page_size}, SQLite file {}",
        path.display()
    );
    let (secs, cpu, ins, upd) = upsert_all(&store, 1, &first).await;
    report(
        "fresh insert",
        total,
        secs,
        cpu,
        &format!("({ins} inserted, {upd} updated)"),
    );
    let (secs, cpu, ins, upd) = upsert_all(&store, 2, &second).await;
    report(
        "re-upsert (changed)",
        total,
        secs,
        cpu,
        &format!("({ins} inserted, {upd} updated)"),
    );
    let (secs, cpu, ins, upd) = upsert_all(&store, 3, &second).await;
    report(
        "re-upsert (same)",
        total,
        secs,
        cpu,
        &format!("({ins} inserted, {upd} updated)"),
    );

    let start = Instant::now();
    let summary = store
        .complete_full_pass("bench", 3, &Scope::default(), t2, Some("w"))
        .await
        .expect("complete_full_pass");
    println!(
        "complete_full_pass:  {:7.3} s  (seen {}, duplicates {})",
        start.elapsed().as_secs_f64(),
        summary.seen,
        summary.duplicates
    );
    let start = Instant::now();
    let listed = store
        .list_devices(&DeviceFilter {
            console: Some("bench".to_string()),
            stale_days: 30,
            ..DeviceFilter::default()
        })
        .await
        .expect("list_devices");
    println!(
        "list_devices:        {:7.3} s  ({} devices)",
        start.elapsed().as_secs_f64(),
        listed.len()
    );
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(path.with_extension("db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    println!("database + WAL size:  {:.1} MB", size as f64 / 1e6);
}

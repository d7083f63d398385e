//! The shared conformance suite against a fresh temp-file SQLite database per test, plus the
//! SQLite-specific behaviour (migrations, PRAGMAs, file permissions, read isolation).

use std::path::PathBuf;

use s1bridge_store::testkit::{Fixture, at, sample_device};
use s1bridge_store::{DeviceFilter, Scope, Store, StoreError};
use s1bridge_store_sqlite::{SCHEMA_VERSION, SqliteStore};

async fn fresh_store() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("s1bridge.db")).expect("open a fresh store");
    Fixture::with_guard(store, dir)
}

s1bridge_store::store_conformance_tests!(fresh_store());

mod in_memory {
    async fn in_memory_store() -> s1bridge_store::testkit::Fixture {
        let store = s1bridge_store_sqlite::SqliteStore::open_in_memory().expect("in-memory store");
        s1bridge_store::testkit::Fixture::new(store)
    }
    s1bridge_store::store_conformance_tests!(in_memory_store());
}

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("nested").join("deeper").join("s1bridge.db")
}

fn raw(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("raw connection")
}

#[tokio::test]
async fn migrates_an_empty_file_and_reopens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = db_path(&dir);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::File::create(&path).expect("empty file");

    let store = SqliteStore::open(&path).expect("open migrates an empty file");
    store
        .apply_device_page("prod", 1, &[sample_device("prod", "1", "one")], None)
        .await
        .expect("write");
    drop(store);

    let conn = raw(&path);
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("user_version");
    assert_eq!(version, SCHEMA_VERSION);
    let mut tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    tables.sort();
    assert_eq!(
        tables,
        vec![
            "access_changes",
            "access_grants",
            "access_principals",
            "access_roles",
            "access_scopes",
            "access_state",
            "ai_coverage",
            "ai_detections",
            "api_keys",
            "audit_log",
            "checkpoints",
            "consoles",
            "devices",
            "finding_factor_sets",
            "finding_factor_sets_gc",
            "finding_ids",
            "finding_ids_pending",
            "finding_transitions",
            "findings",
            "indicators",
            "run_features",
            "sealed_credentials",
            "sync_runs",
            "watermarks"
        ]
    );
    drop(conn);

    let store = SqliteStore::open(&path).expect("reopening an up-to-date file");
    assert_eq!(store.count_devices("prod").await.expect("count").present, 1);
}

#[tokio::test]
async fn creates_missing_directories() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = db_path(&dir);
    let store = SqliteStore::open(&path).expect("open creates parents");
    assert_eq!(store.path(), Some(path.as_path()));
    assert!(path.exists());
}

#[tokio::test]
async fn refuses_a_newer_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s1bridge.db");
    drop(SqliteStore::open(&path).expect("create"));
    raw(&path)
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .expect("bump version");
    match SqliteStore::open(&path) {
        Err(StoreError::SchemaTooNew { found, supported }) => {
            assert_eq!(found, SCHEMA_VERSION + 1);
            assert_eq!(supported, SCHEMA_VERSION);
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[tokio::test]
async fn refuses_a_foreign_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("other.db");
    raw(&path)
        .execute_batch("CREATE TABLE devices (x INTEGER);")
        .expect("foreign schema");
    match SqliteStore::open(&path) {
        Err(StoreError::Migration(msg)) => {
            assert!(msg.contains("not an s1bridge database"), "{msg}")
        }
        other => panic!("expected a migration error, got {other:?}"),
    }
}

#[tokio::test]
async fn uses_wal_and_the_expected_pragmas() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s1bridge.db");
    let store = SqliteStore::open(&path).expect("open");
    store
        .apply_device_page("prod", 1, &[sample_device("prod", "1", "one")], None)
        .await
        .expect("write");
    // journal_mode=WAL is persistent in the file, so a new connection sees it.
    let mode: String = raw(&path)
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(mode, "wal");
    assert!(
        dir.path().join("s1bridge.db-wal").exists(),
        "a WAL file exists while the store is open"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = db_path(&dir);
    let store = SqliteStore::open(&path).expect("open");
    store
        .apply_device_page("prod", 1, &[sample_device("prod", "1", "one")], None)
        .await
        .expect("write");
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&path), 0o600, "database file");
    assert_eq!(mode(&path.with_extension("db-wal")), 0o600, "WAL file");
    assert_eq!(
        mode(path.parent().expect("parent")),
        0o700,
        "created directory"
    );
    drop(store);

    // An existing file with looser permissions is tightened on open.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let _store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(mode(&path), 0o600);
}

#[tokio::test]
async fn no_column_can_hold_a_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s1bridge.db");
    drop(SqliteStore::open(&path).expect("open"));
    let conn = raw(&path);
    let columns: Vec<String> = conn
        .prepare(
            "SELECT m.name || '.' || p.name FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table'",
        )
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(columns.len() > 40, "read the schema: {columns:?}");
    for c in &columns {
        let lower = c.to_lowercase();
        assert!(
            !lower.contains("token") && !lower.contains("secret") && !lower.contains("password"),
            "column {c} looks like it stores a credential"
        );
    }
}

/// Two stores on the same file behave like two processes: begin_run is exclusive across them.
#[tokio::test]
async fn begin_run_is_exclusive_across_connections() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s1bridge.db");
    let one = SqliteStore::open(&path).expect("open one");
    let two = SqliteStore::open(&path).expect("open two");
    let features = vec!["devices".to_string()];
    let stale = chrono::Duration::minutes(10);
    let (a, b) = tokio::join!(
        one.begin_run("prod", &features, at(0), stale),
        two.begin_run("prod", &features, at(0), stale)
    );
    assert_eq!(
        [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "{a:?} {b:?}"
    );
}

/// A reader running while a page is being written sees the data before or after the page, never
/// part of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_see_whole_pages_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s1bridge.db");
    let store = SqliteStore::open(&path).expect("open");
    const PAGE: usize = 2000;
    let pages = 10;
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for p in 0..pages {
                let devices: Vec<_> = (0..PAGE)
                    .map(|i| {
                        let id = format!("{}", p * PAGE + i);
                        sample_device("prod", &id, &format!("host-{id}"))
                    })
                    .collect();
                store
                    .apply_device_page("prod", 1, &devices, None)
                    .await
                    .expect("page");
            }
        })
    };
    let filter = DeviceFilter {
        console: Some("prod".to_string()),
        ..DeviceFilter::default()
    };
    let mut observed = Vec::new();
    while !writer.is_finished() {
        let n = store.list_devices(&filter).await.expect("list").len();
        let counted = store.count_devices("prod").await.expect("count").present as usize;
        assert_eq!(n % PAGE, 0, "a reader saw {n} devices: part of a page");
        assert_eq!(
            counted % PAGE,
            0,
            "count saw {counted} devices: part of a page"
        );
        observed.push(n);
    }
    writer.await.expect("writer task");
    assert_eq!(
        store.list_devices(&filter).await.expect("list").len(),
        PAGE * pages
    );
    assert!(!observed.is_empty());
    // The pass over all of them completes cleanly afterwards.
    let summary = store
        .complete_full_pass("prod", 1, &Scope::default(), at(1), None)
        .await
        .expect("pass");
    assert_eq!(summary.seen as usize, PAGE * pages);
}

/// Insert-vs-update detection relies on rowids; rows inserted into other tables on the same
/// connection in between (sync runs) must not confuse it, whatever their rowids.
#[tokio::test]
async fn page_counts_are_right_after_inserts_into_other_tables() {
    use s1bridge_store::DevicePageStats;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("s1bridge.db")).expect("open");
    let features = vec!["devices".to_string()];
    let stale = chrono::Duration::minutes(10);
    let dev = |id: &str| sample_device("prod", id, &format!("host-{id}"));

    // devices max rowid 1, last inserted rowid (run 2) = max + 1.
    let stats = store
        .apply_device_page("prod", 1, &[dev("a")], None)
        .await
        .expect("page");
    assert_eq!(
        stats,
        DevicePageStats {
            inserted: 1,
            updated: 0
        }
    );
    store
        .begin_run("c1", &features, at(0), stale)
        .await
        .expect("run");
    store
        .begin_run("c2", &features, at(0), stale)
        .await
        .expect("run");
    let stats = store
        .apply_device_page("prod", 2, &[dev("a"), dev("b"), dev("a")], None)
        .await
        .expect("page");
    assert_eq!(
        stats,
        DevicePageStats {
            inserted: 1,
            updated: 2
        }
    );

    // Last inserted rowid (run 9) far above the devices' max rowid (2).
    for i in 0..7 {
        store
            .begin_run(&format!("x{i}"), &features, at(0), stale)
            .await
            .expect("run");
    }
    let stats = store
        .apply_device_page("prod", 3, &[dev("b"), dev("c"), dev("a"), dev("d")], None)
        .await
        .expect("page");
    assert_eq!(
        stats,
        DevicePageStats {
            inserted: 2,
            updated: 2
        }
    );
    assert_eq!(store.count_devices("prod").await.expect("count").present, 4);
}

/// A database written by the first schema version is upgraded in place, keeping its data.
#[tokio::test]
async fn a_version_1_database_is_upgraded_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(include_str!("../migrations/0001_init.sql"))
            .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO sync_runs (console, status, started_at, planned)
             VALUES ('old', 'ok', '2026-01-01T00:00:00.000000000Z', '[]')",
            [],
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).expect("upgrade succeeds");
    let runs = s1bridge_store::Store::list_runs(&store, Some("old"), 0)
        .await
        .unwrap();
    assert_eq!(runs.len(), 1, "the old run survived the upgrade");
    assert_eq!(runs[0].owner, None);
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
}

/// A version-3 database (which stored a "first seen" transition per finding and repeated the
/// finding id in every transition) keeps each finding's whole history through the upgrade.
#[tokio::test]
async fn a_version_3_database_keeps_finding_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    let obs = s1bridge_store::testkit::sample_finding("1", "CVE-2024-0001");
    let id = obs.key.finding_id("prod");
    let fid = i64::from_ne_bytes(u64::from_str_radix(&id[1..], 16).unwrap().to_ne_bytes());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in [
            include_str!("../migrations/0001_init.sql"),
            include_str!("../migrations/0002_run_owner.sql"),
            include_str!("../migrations/0003_findings.sql"),
        ] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        conn.execute(
            "INSERT INTO findings (fid, console, agent_id, application, application_version,
                 cve_id, extra, priority, priority_rank, kev, factors, status, status_pass_id,
                 last_pass_id, first_seen_at, last_seen_at)
             VALUES (?1, 'prod', ?2, ?3, ?4, ?5, '{}', 'high', 3, 0, '[]', 'open', 11, 11,
                 '2025-03-01T12:01:00.000000000Z', '2025-03-01T12:03:00.000000000Z')",
            rusqlite::params![
                fid,
                obs.key.agent_id,
                obs.key.application,
                obs.key.application_version,
                obs.key.cve_id.to_ascii_uppercase()
            ],
        )
        .unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO finding_transitions VALUES
                 (1, '{id}', NULL, 'new', '2025-03-01T12:01:00.000000000Z', 100, 'first seen'),
                 (1, '{id}', 'new', 'open', '2025-03-01T12:04:00.000000000Z', 101, 'seen again');"
        ))
        .unwrap();
    }
    let store = SqliteStore::open(&path).expect("upgrade succeeds");
    let history = store.finding_history(&id).await.unwrap();
    let got: Vec<_> = history
        .iter()
        .map(|t| {
            (
                t.finding_id.as_str(),
                t.from,
                t.to,
                t.at,
                t.run_id,
                t.reason.as_str(),
            )
        })
        .collect();
    use s1bridge_store::FindingStatus::{New, Open};
    assert_eq!(
        got,
        vec![
            (id.as_str(), None, New, at(1), 100, "first seen"),
            (id.as_str(), Some(New), Open, at(4), 101, "seen again"),
        ]
    );
}

/// Commits are copied from the WAL into the database file in the background, not by the writer
/// (whose own threshold is 1 GiB): a few MB of devices reach the main file while the store is
/// still open.
#[tokio::test]
async fn the_wal_is_checkpointed_in_the_background() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s1bridge.db");
    let store = SqliteStore::open(&path).expect("open");
    let initial = std::fs::metadata(&path).expect("db file").len();
    for p in 0..20 {
        let page: Vec<_> = (0..500)
            .map(|i| {
                let id = (p * 500 + i).to_string();
                let mut d = sample_device("prod", &id, &format!("host-{id}"));
                d.os_revision = Some("x".repeat(200));
                d
            })
            .collect();
        store
            .apply_device_page("prod", 1, &page, None)
            .await
            .expect("write");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let now = std::fs::metadata(&path).expect("db file").len();
        if now > initial + 2 * 1024 * 1024 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the database file stayed at {now} bytes: nothing was checkpointed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        store.count_devices("prod").await.expect("count").present,
        10_000
    );
}

/// Priority factors are stored once per distinct set. Sets no finding uses any more are deleted
/// once they pile up, and a writer that remembered one of them stores it again when a later
/// page needs it.
#[tokio::test]
async fn unused_factor_sets_are_collected_and_stored_again_when_needed() {
    use s1bridge_store::PriorityFactor;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sets.db");
    let store = SqliteStore::open(&path).unwrap();
    const N: usize = 5_000;
    let with_factors = |pass: &str| -> Vec<_> {
        (0..N)
            .map(|i| {
                let mut f = s1bridge_store::testkit::sample_finding(
                    &format!("{}", i % 50),
                    &format!("CVE-2024-{i:05}"),
                );
                f.factors = vec![PriorityFactor {
                    name: "criticality".to_string(),
                    effect: 1,
                    detail: format!("{pass} {i}"),
                }]
                .into();
                f
            })
            .collect()
    };
    let sets = |path: &PathBuf| -> (i64, i64) {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.query_row(
            "SELECT (SELECT count(*) FROM finding_factor_sets),
                    (SELECT generation FROM finding_factor_sets_gc)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    let pass = |id: i64, findings: Vec<_>| {
        let store = &store;
        async move {
            for page in findings.chunks(1_000) {
                store
                    .apply_finding_page("prod", id, id, at(id), page, None)
                    .await
                    .unwrap();
            }
            store
                .complete_finding_pass("prod", id, id, &Scope::default(), at(id))
                .await
                .unwrap()
        }
    };
    let a = with_factors("a");
    let b = with_factors("b");
    pass(1, a.clone()).await;
    assert_eq!(
        sets(&path),
        (N as i64, 1),
        "every set is in use: none deleted"
    );
    pass(2, b.clone()).await;
    assert_eq!(sets(&path), (2 * N as i64, 1), "not piled up enough yet");
    pass(3, with_factors("c")).await;
    assert_eq!(
        sets(&path),
        (N as i64, 2),
        "the sets of passes 1 and 2 are no longer used: deleted"
    );
    // Pass 2's sets were remembered by this writer, and deleted since.
    let summary = pass(4, b.clone()).await;
    assert_eq!(summary.seen, N as u64);
    for f in [&b[0], &b[N - 1]] {
        let stored = store
            .get_finding(&f.key.finding_id("prod"))
            .await
            .unwrap()
            .expect("stored");
        assert_eq!(stored.factors, *f.factors);
    }
    let listed = store
        .list_findings(&s1bridge_store::FindingFilter::default())
        .await
        .unwrap();
    assert_eq!(listed.len(), N);
    let expected: std::collections::HashMap<_, _> = b
        .iter()
        .map(|f| (f.key.cve_id.clone(), f.factors.clone()))
        .collect();
    for f in &listed {
        assert_eq!(f.factors, *expected[&f.cve_id], "{}", f.cve_id);
    }
}

/// Stores `page` as one page and reads every finding back with exactly its own factors.
async fn stores_each_finding_with_its_factors(page: &[s1bridge_store::FindingObservation]) {
    let store = SqliteStore::open_in_memory().unwrap();
    store
        .apply_finding_page("prod", 1, 1, at(1), page, None)
        .await
        .unwrap();
    for f in page {
        let stored = store
            .get_finding(&f.key.finding_id("prod"))
            .await
            .unwrap()
            .expect("stored");
        assert_eq!(stored.factors, *f.factors, "{}", f.key.cve_id);
    }
}

/// Findings that share one factor list (as the sync engine hands them out) and findings with
/// an equal list of their own, interleaved, are each stored with their own factors.
#[tokio::test]
async fn shared_and_equal_factor_lists_of_a_page_stay_with_their_findings() {
    use s1bridge_store::PriorityFactor;
    use std::sync::Arc;
    let list = |k: i32| -> Vec<PriorityFactor> {
        (0..=k)
            .map(|n| PriorityFactor {
                name: format!("factor {n}"),
                effect: n - 1,
                detail: format!("list {k}"),
            })
            .collect()
    };
    let shared: Vec<Arc<[PriorityFactor]>> = (0..4).map(|k| list(k).into()).collect();
    let page: Vec<_> = (0..40)
        .map(|i| {
            let mut f = s1bridge_store::testkit::sample_finding("9", &format!("CVE-2024-{i:05}"));
            let k = i * 7 % 4;
            f.factors = if i % 3 == 0 {
                list(k).into()
            } else {
                shared[k as usize].clone()
            };
            f
        })
        .collect();
    stores_each_finding_with_its_factors(&page).await;
}

/// A page whose findings interleave a few factor sets stores each finding with its own set.
#[tokio::test]
async fn interleaved_factor_sets_of_a_page_stay_with_their_findings() {
    use s1bridge_store::PriorityFactor;
    let page: Vec<_> = (0..30)
        .map(|i| {
            let mut f = s1bridge_store::testkit::sample_finding("7", &format!("CVE-2024-{i:05}"));
            f.factors = (0..i % 3)
                .map(|n| PriorityFactor {
                    name: format!("factor {n}"),
                    effect: n,
                    detail: format!("set {}", i % 3),
                })
                .collect();
            f
        })
        .collect();
    stores_each_finding_with_its_factors(&page).await;
}

/// A version-8 database (factors stored in each findings row, ids merged up to a watermark)
/// keeps every finding's factors and id lookup through the upgrade, including the findings
/// stored after the last merge.
#[tokio::test]
async fn a_version_8_database_keeps_factors_and_ids() {
    use s1bridge_store::PriorityFactor;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v8.db");
    let old = [
        include_str!("../migrations/0001_init.sql"),
        include_str!("../migrations/0002_run_owner.sql"),
        include_str!("../migrations/0003_findings.sql"),
        include_str!("../migrations/0004_history_and_tags.sql"),
        include_str!("../migrations/0005_access.sql"),
        include_str!("../migrations/0006_ai_agents.sql"),
        include_str!("../migrations/0007_service.sql"),
        include_str!("../migrations/0008_indicators.sql"),
    ];
    let obs: Vec<_> = (1..=3)
        .map(|i| {
            let mut f = s1bridge_store::testkit::sample_finding("1", &format!("CVE-2024-000{i}"));
            f.factors = vec![PriorityFactor {
                name: "exposed".to_string(),
                effect: i % 2,
                detail: format!("detail {}", i % 2),
            }]
            .into();
            f
        })
        .collect();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in old {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 8).unwrap();
        for (n, f) in obs.iter().enumerate() {
            let id = f.key.finding_id("prod");
            let fid = i64::from_ne_bytes(u64::from_str_radix(&id[1..], 16).unwrap().to_ne_bytes());
            conn.execute(
                "INSERT INTO findings (rowid, fid, console, agent_id, application,
                     application_version, cve_id, extra, priority, priority_rank, kev, factors,
                     status, status_pass_id, last_pass_id, first_seen_at, last_seen_at,
                     first_run_id)
                 VALUES (?1, ?2, 'prod', ?3, ?4, ?5, ?6, '{}', 'medium', 2, 0, ?7, 'open', 11,
                     11, '2025-03-01T12:01:00.000000000Z', '2025-03-01T12:03:00.000000000Z', 11)",
                rusqlite::params![
                    n as i64 + 1,
                    fid,
                    f.key.agent_id,
                    f.key.application,
                    f.key.application_version,
                    f.key.cve_id,
                    serde_json::to_string(&f.factors).unwrap()
                ],
            )
            .unwrap();
        }
        // The first finding was merged into finding_ids; the other two were not yet.
        let fid: i64 = conn
            .query_row("SELECT fid FROM findings WHERE rowid = 1", [], |r| r.get(0))
            .unwrap();
        conn.execute(
            "INSERT INTO finding_ids (fid, finding_ref) VALUES (?1, 1)",
            [fid],
        )
        .unwrap();
        conn.execute("UPDATE finding_ids_upto SET upto = 1", [])
            .unwrap();
    }
    let store = SqliteStore::open(&path).expect("upgrade succeeds");
    for f in &obs {
        let stored = store
            .get_finding(&f.key.finding_id("prod"))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{} is found by id", f.key.cve_id));
        assert_eq!(stored.factors, *f.factors);
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (sets, pending): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM finding_factor_sets),
                    (SELECT count(*) FROM finding_ids_pending)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (sets, pending),
        (2, 2),
        "two distinct sets; two ids not merged yet"
    );
    drop(conn);
    // The next completed pass merges them.
    store
        .complete_finding_pass("prod", 12, 12, &Scope::default(), at(20))
        .await
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let merged: i64 = conn
        .query_row("SELECT count(*) FROM finding_ids", [], |r| r.get(0))
        .unwrap();
    assert_eq!(merged, 3);
    for f in &obs {
        assert!(
            store
                .get_finding(&f.key.finding_id("prod"))
                .await
                .unwrap()
                .is_some()
        );
    }
}

//! The conformance suite every [`Store`] backend must pass (feature `testkit`).
//!
//! Each `check_*` function takes a fresh, empty store and panics on the first deviation from the
//! behaviour documented on [`Store`]. A backend runs the whole suite with one macro call in an
//! integration test (the backend crate needs `tokio` with the `macros` and `rt` features):
//!
//! ```ignore
//! async fn fresh_store() -> s1bridge_store::testkit::Fixture {
//!     let dir = tempfile::tempdir().unwrap();
//!     let store = MyStore::open(&dir.path().join("s1bridge.db")).unwrap();
//!     s1bridge_store::testkit::Fixture::with_guard(store, dir)
//! }
//! s1bridge_store::store_conformance_tests!(fresh_store());
//! ```
//!
//! The expression is evaluated (and awaited) once per test, so every check gets its own store.
//! Timestamps used by the suite have at most microsecond precision, which every backend keeps.

use std::any::Any;

pub use crate::testkit_ai_agents::*;

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::{
    Checkpoint, ConsoleRecord, Device, DeviceCounts, DeviceFacts, DeviceFilter, DevicePageStats,
    ExtraJson, FeatureOutcome, FeatureStatus, Finding, FindingFilter, FindingKey,
    FindingObservation, FindingPageStats, FindingPassSummary, FindingStatus, PassKind,
    PriorityFactor, RunStatus, Scope, Store, StoreError, SyncRun,
};

pub use crate::testkit_access::*;
pub use crate::testkit_bench::{FindingsBench, report, synthetic_finding};
pub use crate::testkit_indicators::*;
pub use crate::testkit_service::*;

/// A store under test, plus whatever must live as long as it (e.g. a temporary directory).
pub struct Fixture {
    /// `None` for a skipped test ([`Fixture::skip`]).
    store: Option<Box<dyn Store>>,
    _guard: Option<Box<dyn Any + Send + Sync>>,
}

impl Fixture {
    pub fn new(store: impl Store + 'static) -> Self {
        Fixture {
            store: Some(Box::new(store)),
            _guard: None,
        }
    }

    /// `guard` is dropped after the store (e.g. a `tempfile::TempDir` holding the database).
    pub fn with_guard(store: impl Store + 'static, guard: impl Any + Send + Sync) -> Self {
        Fixture {
            store: Some(Box::new(store)),
            _guard: Some(Box::new(guard)),
        }
    }

    /// No store: the test is skipped (it passes without checking anything), after printing
    /// `reason`. For backends whose server may be absent on a developer's machine; a backend
    /// decides itself when skipping is not acceptable (e.g. in CI) and fails instead.
    pub fn skip(reason: impl std::fmt::Display) -> Self {
        eprintln!("skipping a conformance check: {reason}");
        Fixture {
            store: None,
            _guard: None,
        }
    }

    /// The store under test.
    ///
    /// # Panics
    /// When the fixture was made with [`Fixture::skip`] (the macro never calls it then).
    pub fn store(&self) -> &dyn Store {
        self.try_store()
            .expect("a skipped fixture has no store; use try_store")
    }

    /// The store under test, or `None` when the test is skipped.
    pub fn try_store(&self) -> Option<&dyn Store> {
        self.store.as_deref()
    }
}

/// Expands to one `#[tokio::test]` per conformance check. `$make` is an expression of type
/// `impl Future<Output = Fixture>`, evaluated once per test.
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::__store_conformance_tests!(
            $make;
            check_consoles,
            check_begin_run_refuses_a_busy_console,
            check_begin_run_abandons_a_stale_run,
            check_run_owner_and_abandon,
            check_concurrent_begin_run_starts_one,
            check_heartbeat_requires_a_running_run,
            check_run_lifecycle,
            check_list_runs_order_filter_limit,
            check_unknown_runs,
            check_device_insert_then_update,
            check_device_round_trip,
            check_same_agent_twice_in_one_page,
            check_checkpoints_saved_with_page,
            check_failed_page_changes_nothing,
            check_checkpoint_for_other_console_is_refused,
            check_full_pass_removes_unseen_devices,
            check_full_pass_restores_returning_device,
            check_full_pass_respects_scope,
            check_full_pass_watermark,
            check_incremental_pass_never_removes,
            check_duplicates_rules,
            check_duplicates_newest_wins,
            check_duplicates_ignore_removed_devices,
            check_stale_computation,
            check_device_filters,
            check_count_devices,
            check_device_page_walks_the_inventory,
            check_finding_lifecycle,
            check_finding_page_stats_and_refusals,
            check_finding_first_pass_pages_repeating_earlier_keys,
            check_finding_device_removed_is_not_fixed,
            check_finding_unfinished_pass_decides_nothing,
            check_finding_pass_respects_scope,
            check_finding_queue_and_filters,
            check_finding_round_trip,
            check_devices_gone_by_id_make_findings_device_removed,
            check_access_baseline_then_changes,
            check_access_partial_snapshot_removes_nothing,
            check_access_token_expiry_is_warned_once,
            check_access_refuses_another_consoles_principal,
            check_replace_principal_grants,
            check_audit_round_trip_and_filters,
            check_ai_chunks_merge_per_device_user_agent,
            check_ai_coverage_refuses_overlaps_and_gaps,
            check_ai_eviction_and_filters,
            check_api_keys_lifecycle,
            check_sealed_tokens,
            check_indicator_upsert_keeps_first_seen_and_state,
            check_indicator_states_deletes_and_filters,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_tests {
    ($make:expr; $($check:ident),+ $(,)?) => {
        $(
            #[::tokio::test]
            async fn $check() {
                let fixture: $crate::testkit::Fixture = $make.await;
                // A skipped fixture (`Fixture::skip`) already said why.
                if let Some(store) = fixture.try_store() {
                    $crate::testkit::$check(store).await;
                }
            }
        )+
    };
}

// ---------------------------------------------------------------------------------------------
// Helpers (public so backends and the sync engine can reuse them in their own tests)

/// The suite's reference instant: 2025-03-01T12:00:00Z.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0)
        .single()
        .expect("a valid constant date")
}

/// `t0()` plus `minutes`.
pub fn at(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

/// `t0()` minus `days`.
pub fn days_ago(days: i64) -> DateTime<Utc> {
    t0() - Duration::days(days)
}

/// A present, active device with every optional field empty, seen at `t0()`, active a day
/// before.
pub fn sample_device(console: &str, agent_id: &str, computer_name: &str) -> Device {
    Device {
        console: console.to_string(),
        agent_id: agent_id.to_string(),
        uuid: None,
        computer_name: computer_name.to_string(),
        os_name: None,
        os_type: None,
        os_revision: None,
        os_arch: None,
        agent_version: None,
        ips: Vec::new(),
        macs: Vec::new(),
        tags: Vec::new(),
        external_ip: None,
        last_logged_in_user: None,
        account_id: None,
        account_name: None,
        site_id: None,
        site_name: None,
        group_id: None,
        group_name: None,
        machine_type: None,
        serial_number: None,
        domain: None,
        model_name: None,
        network_status: None,
        infected: false,
        active_threats: 0,
        last_active_at: Some(days_ago(1)),
        registered_at: Some(days_ago(100)),
        console_updated_at: None,
        is_active: true,
        is_decommissioned: false,
        is_uninstalled: false,
        first_seen_at: t0(),
        last_seen_at: t0(),
        removed_at: None,
        stale: false,
        duplicate_of: None,
    }
}

fn console_record(name: &str) -> ConsoleRecord {
    ConsoleRecord {
        name: name.to_string(),
        description: None,
        url: format!("https://{name}.example.invalid"),
        mode: "asset-sync".to_string(),
        scope: Scope::default(),
    }
}

fn checkpoint(
    console: &str,
    pass_id: i64,
    stream: &str,
    cursor: Option<&str>,
    records: u64,
) -> Checkpoint {
    Checkpoint {
        console: console.to_string(),
        feature: "devices".to_string(),
        pass_id,
        kind: PassKind::Full,
        stream: stream.to_string(),
        cursor: cursor.map(str::to_string),
        done: false,
        records,
        max_updated_at: Some("2025-03-01T11:00:00.000000Z".to_string()),
        since: None,
    }
}

fn outcome(feature: &str, status: FeatureStatus, records: u64) -> FeatureOutcome {
    FeatureOutcome {
        feature: feature.to_string(),
        status,
        reason: (status != FeatureStatus::Ok && status != FeatureStatus::Running)
            .then(|| format!("{feature} is {}", status.as_str())),
        records,
        requests: records / 10 + 1,
        retries: 1,
        errors: 0,
        started_at: Some(at(1)),
        finished_at: (status != FeatureStatus::Running).then(|| at(2)),
    }
}

/// Every device of a console, present and removed, ordered like `list_devices`.
async fn all_devices(store: &dyn Store, console: &str) -> Vec<Device> {
    store
        .list_devices(&DeviceFilter {
            console: Some(console.to_string()),
            include_removed: true,
            now: Some(t0()),
            ..DeviceFilter::default()
        })
        .await
        .expect("list_devices")
}

async fn get_device(store: &dyn Store, console: &str, agent_id: &str) -> Device {
    all_devices(store, console)
        .await
        .into_iter()
        .find(|d| d.agent_id == agent_id)
        .unwrap_or_else(|| panic!("device {agent_id} of {console} is not stored"))
}

async fn page(
    store: &dyn Store,
    console: &str,
    pass_id: i64,
    devices: &[Device],
) -> DevicePageStats {
    store
        .apply_device_page(console, pass_id, devices, None)
        .await
        .expect("apply_device_page")
}

fn ids(devices: &[Device]) -> Vec<&str> {
    devices.iter().map(|d| d.agent_id.as_str()).collect()
}

fn dup_of<'a>(devices: &'a [Device], agent_id: &str) -> Option<&'a str> {
    devices
        .iter()
        .find(|d| d.agent_id == agent_id)
        .unwrap_or_else(|| panic!("device {agent_id} missing from {:?}", ids(devices)))
        .duplicate_of
        .as_deref()
}

// ---------------------------------------------------------------------------------------------
// Consoles

pub async fn check_consoles(store: &dyn Store) {
    assert_eq!(store.get_console("prod").await.expect("get_console"), None);
    assert!(
        store
            .list_consoles()
            .await
            .expect("list_consoles")
            .is_empty()
    );

    let mut prod = console_record("prod");
    let lab = console_record("lab");
    store.upsert_console(&prod).await.expect("upsert prod");
    store.upsert_console(&lab).await.expect("upsert lab");
    assert_eq!(
        store.get_console("prod").await.expect("get"),
        Some(prod.clone())
    );

    prod.description = Some("production tenant".to_string());
    prod.url = "https://usea1.example.invalid".to_string();
    prod.mode = "scan".to_string();
    prod.scope = Scope {
        account_ids: vec!["111".to_string()],
        site_ids: vec!["222".to_string(), "223".to_string()],
        group_ids: vec![],
    };
    store.upsert_console(&prod).await.expect("update prod");
    assert_eq!(
        store.get_console("prod").await.expect("get"),
        Some(prod.clone()),
        "upsert_console must overwrite every field of an existing console"
    );
    assert_eq!(
        store.list_consoles().await.expect("list_consoles"),
        vec![lab, prod],
        "list_consoles returns every console once, ordered by name"
    );
}

// ---------------------------------------------------------------------------------------------
// Runs

pub async fn check_begin_run_refuses_a_busy_console(store: &dyn Store) {
    let features = vec!["devices".to_string()];
    let stale = Duration::minutes(10);
    let first = store
        .begin_run("prod", &features, at(0), stale)
        .await
        .expect("first run starts");
    match store.begin_run("prod", &features, at(1), stale).await {
        Err(StoreError::ConsoleBusy {
            console,
            run_id,
            started_at,
            ..
        }) => {
            assert_eq!(console, "prod");
            assert_eq!(run_id, first);
            assert_eq!(started_at, at(0));
        }
        other => panic!("a second run of a busy console must fail with ConsoleBusy, got {other:?}"),
    }
    // A heartbeat keeps the run alive past stale_after counted from its start.
    store.heartbeat_run(first, at(8)).await.expect("heartbeat");
    assert!(
        matches!(
            store.begin_run("prod", &features, at(15), stale).await,
            Err(StoreError::ConsoleBusy { .. })
        ),
        "a run whose heartbeat is 7 minutes old is alive with stale_after = 10 minutes"
    );
    assert!(
        matches!(
            store
                .begin_run("prod", &features, at(100_000), Duration::MAX)
                .await,
            Err(StoreError::ConsoleBusy { .. })
        ),
        "with an unbounded stale_after a running run is never stale"
    );
    // Another console is independent.
    store
        .begin_run("lab", &features, at(1), stale)
        .await
        .expect("a run of another console starts");
    // Once finished, the console is free again.
    store
        .finish_run(first, RunStatus::Ok, at(16))
        .await
        .expect("finish");
    let second = store
        .begin_run("prod", &features, at(17), stale)
        .await
        .expect("a run starts once the previous one finished");
    assert!(second > first, "run ids increase");
    let first_run = store
        .get_run(first)
        .await
        .expect("get_run")
        .expect("first run exists");
    assert_eq!(
        first_run.status,
        RunStatus::Ok,
        "a finished run keeps its status"
    );
}

pub async fn check_begin_run_abandons_a_stale_run(store: &dyn Store) {
    let features = vec!["devices".to_string(), "vulnerabilities".to_string()];
    let stale = Duration::minutes(10);
    let dead = store
        .begin_run("prod", &features, at(0), stale)
        .await
        .expect("first run");
    store.heartbeat_run(dead, at(5)).await.expect("heartbeat");
    store
        .record_feature(dead, &outcome("devices", FeatureStatus::Ok, 10))
        .await
        .expect("record devices");
    store
        .record_feature(dead, &outcome("vulnerabilities", FeatureStatus::Running, 0))
        .await
        .expect("record vulnerabilities");

    let next = store
        .begin_run("prod", &features, at(16), stale)
        .await
        .expect("a run whose heartbeat is 11 minutes old is abandoned and a new run starts");
    let dead_run = store
        .get_run(dead)
        .await
        .expect("get_run")
        .expect("old run still listed");
    assert_eq!(dead_run.status, RunStatus::Abandoned);
    assert_eq!(
        dead_run.finished_at,
        Some(at(16)),
        "abandoned at the new run's start"
    );
    let devices = dead_run
        .features
        .iter()
        .find(|f| f.feature == "devices")
        .expect("devices outcome kept");
    assert_eq!(
        devices.status,
        FeatureStatus::Ok,
        "finished features keep their outcome"
    );
    let vulns = dead_run
        .features
        .iter()
        .find(|f| f.feature == "vulnerabilities")
        .expect("vulnerabilities outcome kept");
    assert_eq!(
        vulns.status,
        FeatureStatus::Failed,
        "a feature still running in an abandoned run is failed"
    );
    assert!(
        vulns
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("abandoned"))
    );

    let new_run = store
        .get_run(next)
        .await
        .expect("get_run")
        .expect("new run");
    assert_eq!(new_run.status, RunStatus::Running);
    assert_eq!(new_run.started_at, at(16));
    assert_eq!(new_run.finished_at, None);
    assert!(
        new_run.features.is_empty(),
        "no outcome is recorded before record_feature"
    );

    // A run that never sent a heartbeat is judged by its start time.
    store
        .finish_run(next, RunStatus::Ok, at(20))
        .await
        .expect("finish");
    let silent = store
        .begin_run("prod", &features, at(30), stale)
        .await
        .expect("run without heartbeat");
    assert!(matches!(
        store.begin_run("prod", &features, at(39), stale).await,
        Err(StoreError::ConsoleBusy { run_id, .. }) if run_id == silent
    ));
    store
        .begin_run("prod", &features, at(41), stale)
        .await
        .expect("a run without heartbeat older than stale_after is abandoned");
    let silent = store
        .get_run(silent)
        .await
        .expect("get_run")
        .expect("exists");
    assert_eq!(silent.status, RunStatus::Abandoned);
}

/// The owner of a running run is reported by `ConsoleBusy` and listed; `abandon_run` frees the
/// console at once and fails the run's unfinished features with the reason.
pub async fn check_run_owner_and_abandon(store: &dyn Store) {
    let features = vec!["devices".to_string()];
    let stale = Duration::minutes(10);
    let run = store
        .begin_run("prod", &features, at(0), stale)
        .await
        .expect("run starts");
    store
        .set_run_owner(run, "host-a:4242")
        .await
        .expect("owner");
    store
        .record_feature(run, &outcome("devices", FeatureStatus::Running, 0))
        .await
        .expect("feature");
    match store.begin_run("prod", &features, at(1), stale).await {
        Err(StoreError::ConsoleBusy { run_id, owner, .. }) => {
            assert_eq!(run_id, run);
            assert_eq!(owner.as_deref(), Some("host-a:4242"));
        }
        other => panic!("expected ConsoleBusy with the owner, got {other:?}"),
    }
    store
        .abandon_run(run, at(2), "its process (pid 4242) is gone")
        .await
        .expect("abandon");
    let r = store.get_run(run).await.expect("get").expect("exists");
    assert_eq!(r.status, RunStatus::Abandoned);
    assert_eq!(r.owner.as_deref(), Some("host-a:4242"));
    assert_eq!(r.features[0].status, FeatureStatus::Failed);
    assert!(
        r.features[0]
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("pid 4242"),
        "{:?}",
        r.features[0].reason
    );
    // The console is free again, well inside stale_after.
    let next = store
        .begin_run("prod", &features, at(3), stale)
        .await
        .expect("console free after abandon");
    assert_ne!(next, run);
    // Abandoning a run that finished changes nothing.
    store
        .finish_run(next, RunStatus::Ok, at(4))
        .await
        .expect("finish");
    store.abandon_run(next, at(5), "late").await.expect("no-op");
    assert_eq!(
        store
            .get_run(next)
            .await
            .expect("get")
            .expect("exists")
            .status,
        RunStatus::Ok
    );
    assert!(matches!(
        store.set_run_owner(999_999, "x:1").await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn check_concurrent_begin_run_starts_one(store: &dyn Store) {
    let features = vec!["devices".to_string()];
    let stale = Duration::minutes(10);
    let (a, b) = tokio::join!(
        store.begin_run("prod", &features, at(0), stale),
        store.begin_run("prod", &features, at(0), stale)
    );
    let started = [&a, &b].iter().filter(|r| r.is_ok()).count();
    let busy = [&a, &b]
        .iter()
        .filter(|r| matches!(r, Err(StoreError::ConsoleBusy { .. })))
        .count();
    assert_eq!(
        (started, busy),
        (1, 1),
        "two simultaneous begin_run calls must start exactly one run: {a:?} {b:?}"
    );
}

pub async fn check_heartbeat_requires_a_running_run(store: &dyn Store) {
    let run = store
        .begin_run(
            "prod",
            &["devices".to_string()],
            at(0),
            Duration::minutes(10),
        )
        .await
        .expect("begin_run");
    store.heartbeat_run(run, at(3)).await.expect("heartbeat");
    let stored = store.get_run(run).await.expect("get_run").expect("exists");
    assert_eq!(stored.heartbeat_at, Some(at(3)));
    store
        .finish_run(run, RunStatus::Failed, at(4))
        .await
        .expect("finish");
    assert!(
        matches!(
            store.heartbeat_run(run, at(5)).await,
            Err(StoreError::NotFound(_))
        ),
        "a heartbeat for a run that is no longer running must fail so the process stops"
    );
    assert!(matches!(
        store.heartbeat_run(run + 1000, at(5)).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn check_run_lifecycle(store: &dyn Store) {
    let features = vec!["devices".to_string(), "vulnerabilities".to_string()];
    let run = store
        .begin_run("prod", &features, at(0), Duration::minutes(10))
        .await
        .expect("begin_run");
    let started = store.get_run(run).await.expect("get_run").expect("exists");
    assert_eq!(
        started,
        SyncRun {
            run_id: run,
            console: "prod".to_string(),
            status: RunStatus::Running,
            started_at: at(0),
            finished_at: None,
            heartbeat_at: None,
            owner: None,
            features: vec![],
        }
    );

    let devices_running = outcome("devices", FeatureStatus::Running, 0);
    let devices_done = outcome("devices", FeatureStatus::Ok, 1200);
    let vulns = outcome("vulnerabilities", FeatureStatus::Unavailable, 0);
    store
        .record_feature(run, &devices_running)
        .await
        .expect("record");
    store.record_feature(run, &vulns).await.expect("record");
    store
        .record_feature(run, &devices_done)
        .await
        .expect("overwrite");
    store
        .finish_run(run, RunStatus::Degraded, at(9))
        .await
        .expect("finish_run");

    let finished = store.get_run(run).await.expect("get_run").expect("exists");
    assert_eq!(finished.status, RunStatus::Degraded);
    assert_eq!(finished.finished_at, Some(at(9)));
    let mut got = finished.features.clone();
    got.sort_by(|a, b| a.feature.cmp(&b.feature));
    assert_eq!(
        got,
        vec![devices_done, vulns],
        "one outcome per feature, the last recorded one wins"
    );
    let listed = store.list_runs(Some("prod"), 10).await.expect("list_runs");
    assert_eq!(listed, vec![finished], "list_runs includes the features");
}

pub async fn check_list_runs_order_filter_limit(store: &dyn Store) {
    let features = vec!["devices".to_string()];
    let stale = Duration::minutes(10);
    let mut prod = Vec::new();
    for i in 0..3 {
        let run = store
            .begin_run("prod", &features, at(i * 10), stale)
            .await
            .expect("begin");
        store
            .finish_run(run, RunStatus::Ok, at(i * 10 + 5))
            .await
            .expect("finish");
        prod.push(run);
    }
    let lab = store
        .begin_run("lab", &features, at(2), stale)
        .await
        .expect("begin lab");

    let runs = store.list_runs(Some("prod"), 10).await.expect("list_runs");
    let got: Vec<i64> = runs.iter().map(|r| r.run_id).collect();
    assert_eq!(
        got,
        vec![prod[2], prod[1], prod[0]],
        "most recent first, one console"
    );
    let runs = store.list_runs(Some("prod"), 2).await.expect("list_runs");
    let got: Vec<i64> = runs.iter().map(|r| r.run_id).collect();
    assert_eq!(got, vec![prod[2], prod[1]], "limit keeps the most recent");
    let all = store.list_runs(None, 10).await.expect("list_runs");
    let got: Vec<i64> = all.iter().map(|r| r.run_id).collect();
    assert_eq!(
        got,
        vec![prod[2], prod[1], lab, prod[0]],
        "all consoles, by start time"
    );
    assert!(
        store
            .list_runs(Some("nope"), 10)
            .await
            .expect("list_runs")
            .is_empty()
    );
}

pub async fn check_unknown_runs(store: &dyn Store) {
    assert_eq!(store.get_run(4242).await.expect("get_run"), None);
    assert!(matches!(
        store
            .record_feature(4242, &outcome("devices", FeatureStatus::Ok, 1))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.finish_run(4242, RunStatus::Ok, at(1)).await,
        Err(StoreError::NotFound(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// Device pages

pub async fn check_device_insert_then_update(store: &dyn Store) {
    let a = sample_device("prod", "1001", "alpha");
    let b = sample_device("prod", "1002", "bravo");
    let c = sample_device("prod", "1003", "charlie");
    let stats = page(store, "prod", 1, &[a.clone(), b.clone(), c.clone()]).await;
    assert_eq!(
        stats,
        DevicePageStats {
            inserted: 3,
            updated: 0
        }
    );

    let mut a2 = a.clone();
    a2.computer_name = "alpha-renamed".to_string();
    a2.agent_version = Some("24.1.2.6".to_string());
    a2.last_seen_at = at(60);
    a2.first_seen_at = at(60); // ignored on input
    let mut b2 = b.clone();
    b2.last_seen_at = at(60);
    let d = sample_device("prod", "1004", "delta");
    let stats = page(store, "prod", 2, &[a2.clone(), d, b2]).await;
    assert_eq!(
        stats,
        DevicePageStats {
            inserted: 1,
            updated: 2
        }
    );

    let stored = get_device(store, "prod", "1001").await;
    assert_eq!(
        stored.computer_name, "alpha-renamed",
        "updates overwrite the fields"
    );
    assert_eq!(stored.agent_version.as_deref(), Some("24.1.2.6"));
    assert_eq!(
        stored.first_seen_at,
        t0(),
        "first_seen_at is kept from the first insert"
    );
    assert_eq!(
        stored.last_seen_at,
        at(60),
        "last_seen_at follows the latest page"
    );
    let stored = get_device(store, "prod", "1003").await;
    assert_eq!(
        stored.last_seen_at,
        t0(),
        "devices not in the page are untouched"
    );
    assert_eq!(all_devices(store, "prod").await.len(), 4);

    // The same agent id in another console is another device.
    let stats = page(store, "lab", 1, &[sample_device("lab", "1001", "alpha")]).await;
    assert_eq!(
        stats,
        DevicePageStats {
            inserted: 1,
            updated: 0
        }
    );
    // A device whose console field is empty takes the page's console.
    let stats = page(store, "lab", 1, &[sample_device("", "1002", "bravo")]).await;
    assert_eq!(
        stats,
        DevicePageStats {
            inserted: 1,
            updated: 0
        }
    );
    assert_eq!(get_device(store, "lab", "1002").await.console, "lab");
    // An empty page is fine.
    assert_eq!(
        page(store, "prod", 3, &[]).await,
        DevicePageStats::default()
    );
}

pub async fn check_device_round_trip(store: &dyn Store) {
    let mut d = sample_device("prod", "1290148291040012345", "WS-Finance-01");
    d.uuid = Some("ff819e70af13be381993075eb0ce5f2f6de05be2".to_string());
    d.os_name = Some("Windows 11 Pro".to_string());
    d.os_type = Some("windows".to_string());
    d.os_revision = Some("22631".to_string());
    d.os_arch = Some("64 bit".to_string());
    d.agent_version = Some("23.4.2.14".to_string());
    d.ips = vec!["10.0.0.5".to_string(), "fe80::1c2d:3e4f".to_string()];
    d.macs = vec![
        "00:50:56:A1:B2:C3".to_string(),
        "00:50:56:A1:B2:C4".to_string(),
    ];
    d.tags = vec!["env=prod".to_string(), "pci".to_string()];
    d.external_ip = Some("203.0.113.9".to_string());
    d.last_logged_in_user = Some("CORP\\jdoe".to_string());
    d.account_id = Some("433241117337583618".to_string());
    d.account_name = Some("Acme".to_string());
    d.site_id = Some("433241117354360835".to_string());
    d.site_name = Some("HQ".to_string());
    d.group_id = Some("433241117362749444".to_string());
    d.group_name = Some("Default Group".to_string());
    d.machine_type = Some("laptop".to_string());
    d.serial_number = Some("5CG1234XYZ".to_string());
    d.domain = Some("corp.example".to_string());
    d.model_name = Some("HP EliteBook 840 G8".to_string());
    d.network_status = Some("connected".to_string());
    d.infected = true;
    d.active_threats = 3;
    d.last_active_at = Some(t0() - Duration::microseconds(1_234_567));
    d.registered_at = Some(
        Utc.with_ymd_and_hms(2021, 6, 7, 8, 9, 10)
            .single()
            .expect("date"),
    );
    d.console_updated_at = Some("2025-03-01T11:59:58.123456Z".to_string());
    d.is_active = false;
    d.is_decommissioned = false;
    d.is_uninstalled = true;
    d.last_seen_at = t0() + Duration::microseconds(17);
    d.first_seen_at = d.last_seen_at;

    let bare = sample_device("prod", "7", "bare");
    let mut bare_expected = bare.clone();
    bare_expected.last_active_at = None;
    bare_expected.registered_at = None;
    let mut bare_input = bare;
    bare_input.last_active_at = None;
    bare_input.registered_at = None;

    page(store, "prod", 1, &[d.clone(), bare_input]).await;
    let stored = all_devices(store, "prod").await;
    assert_eq!(
        stored,
        vec![d, bare_expected],
        "every field survives the round trip; ordered by computer_name"
    );
}

pub async fn check_same_agent_twice_in_one_page(store: &dyn Store) {
    let first = sample_device("prod", "1", "one");
    let mut second = first.clone();
    second.computer_name = "one-later".to_string();
    let stats = page(store, "prod", 1, &[first, second]).await;
    assert_eq!(
        stats,
        DevicePageStats {
            inserted: 1,
            updated: 1
        }
    );
    let stored = all_devices(store, "prod").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].computer_name, "one-later",
        "the later record wins"
    );
}

pub async fn check_checkpoints_saved_with_page(store: &dyn Store) {
    assert!(
        store
            .load_checkpoints("prod", "devices")
            .await
            .expect("load")
            .is_empty()
    );
    let cp1 = checkpoint("prod", 7, "site:1", Some("cursor-1"), 1);
    store
        .apply_device_page("prod", 7, &[sample_device("prod", "1", "one")], Some(&cp1))
        .await
        .expect("page 1");
    assert_eq!(
        store
            .load_checkpoints("prod", "devices")
            .await
            .expect("load"),
        vec![cp1]
    );

    let mut cp1b = checkpoint("prod", 7, "site:1", None, 2);
    cp1b.done = true;
    cp1b.max_updated_at = Some("2025-03-01T11:30:00.000000Z".to_string());
    let mut cp2 = checkpoint("prod", 7, "site:2", Some("cursor-9"), 1);
    cp2.kind = PassKind::Incremental;
    cp2.since = Some("2025-02-28T00:00:00.000000Z".to_string());
    store
        .apply_device_page("prod", 7, &[sample_device("prod", "2", "two")], Some(&cp1b))
        .await
        .expect("page 2");
    store
        .apply_device_page(
            "prod",
            7,
            &[sample_device("prod", "3", "three")],
            Some(&cp2),
        )
        .await
        .expect("page 3");
    let mut other = checkpoint("prod", 7, "all", Some("x"), 5);
    other.feature = "vulnerabilities".to_string();
    store
        .apply_device_page("prod", 7, &[], Some(&other))
        .await
        .expect("checkpoint of another feature");
    store
        .apply_device_page(
            "lab",
            7,
            &[],
            Some(&checkpoint("lab", 7, "site:1", Some("c"), 0)),
        )
        .await
        .expect("checkpoint of another console");

    let mut loaded = store
        .load_checkpoints("prod", "devices")
        .await
        .expect("load");
    loaded.sort_by(|a, b| a.stream.cmp(&b.stream));
    assert_eq!(
        loaded,
        vec![cp1b, cp2],
        "one checkpoint per stream, the latest wins"
    );

    store
        .clear_checkpoints("prod", "devices")
        .await
        .expect("clear");
    assert!(
        store
            .load_checkpoints("prod", "devices")
            .await
            .expect("load")
            .is_empty()
    );
    assert_eq!(
        store
            .load_checkpoints("prod", "vulnerabilities")
            .await
            .expect("load"),
        vec![other],
        "clearing one feature keeps the others"
    );
    assert_eq!(
        store
            .load_checkpoints("lab", "devices")
            .await
            .expect("load")
            .len(),
        1,
        "clearing one console keeps the others"
    );
}

pub async fn check_failed_page_changes_nothing(store: &dyn Store) {
    let a = sample_device("prod", "1", "alpha");
    let cp = checkpoint("prod", 1, "all", Some("after-page-1"), 1);
    store
        .apply_device_page("prod", 1, std::slice::from_ref(&a), Some(&cp))
        .await
        .expect("page 1");
    let before = all_devices(store, "prod").await;

    let mut a2 = a.clone();
    a2.computer_name = "alpha-changed".to_string();
    a2.last_seen_at = at(5);
    let b = sample_device("prod", "2", "bravo");
    // An empty agent_id is invalid; it comes after valid rows so a backend that writes row by
    // row has already written them when it fails.
    let broken = sample_device("prod", "", "broken");
    let cp2 = checkpoint("prod", 1, "all", Some("after-page-2"), 3);
    let result = store
        .apply_device_page("prod", 1, &[a2, b, broken], Some(&cp2))
        .await;
    assert!(
        result.is_err(),
        "a device with an empty agent_id must be rejected"
    );
    assert_eq!(
        all_devices(store, "prod").await,
        before,
        "a failed page must leave the previous data untouched"
    );
    assert_eq!(
        store
            .load_checkpoints("prod", "devices")
            .await
            .expect("load"),
        vec![cp],
        "a failed page must not advance the checkpoint"
    );
}

pub async fn check_checkpoint_for_other_console_is_refused(store: &dyn Store) {
    let wrong = checkpoint("lab", 1, "all", Some("c"), 1);
    let result = store
        .apply_device_page(
            "prod",
            1,
            &[sample_device("prod", "1", "one")],
            Some(&wrong),
        )
        .await;
    assert!(
        result.is_err(),
        "a checkpoint for another console must be refused"
    );
    assert!(
        all_devices(store, "prod").await.is_empty(),
        "and the page not stored"
    );
    assert!(
        store
            .load_checkpoints("lab", "devices")
            .await
            .expect("load")
            .is_empty()
    );

    let result = store
        .apply_device_page("prod", 1, &[sample_device("lab", "1", "one")], None)
        .await;
    assert!(
        result.is_err(),
        "a device of another console must be refused"
    );
    assert!(all_devices(store, "prod").await.is_empty());
    assert!(all_devices(store, "lab").await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Passes

fn devices(console: &str, ids: &[&str]) -> Vec<Device> {
    ids.iter()
        .map(|id| sample_device(console, id, &format!("host-{id}")))
        .collect()
}

pub async fn check_full_pass_removes_unseen_devices(store: &dyn Store) {
    page(store, "prod", 1, &devices("prod", &["1", "2", "3", "4"])).await;
    page(store, "lab", 1, &devices("lab", &["9"])).await;
    let summary = store
        .complete_full_pass("prod", 1, &Scope::default(), at(10), Some("w1"))
        .await
        .expect("pass 1");
    assert_eq!(
        (summary.seen, summary.newly_removed, summary.restored),
        (4, 0, 0)
    );

    // Pass 2 sees 1 and 2 (in two pages) but not 3 and 4.
    page(store, "prod", 2, &devices("prod", &["1"])).await;
    page(store, "prod", 2, &devices("prod", &["2"])).await;
    let mid = all_devices(store, "prod").await;
    assert!(
        mid.iter().all(|d| d.removed_at.is_none()),
        "nothing is removed before the pass completes"
    );
    let summary = store
        .complete_full_pass("prod", 2, &Scope::default(), at(20), Some("w2"))
        .await
        .expect("pass 2");
    assert_eq!(
        (summary.seen, summary.newly_removed, summary.restored),
        (2, 2, 0)
    );

    let all = all_devices(store, "prod").await;
    for d in &all {
        let expect = match d.agent_id.as_str() {
            "3" | "4" => Some(at(20)),
            _ => None,
        };
        assert_eq!(d.removed_at, expect, "removed_at of device {}", d.agent_id);
    }
    assert_eq!(
        get_device(store, "lab", "9").await.removed_at,
        None,
        "another console is never touched"
    );

    // A later pass does not move the removal time of a device already removed.
    page(store, "prod", 3, &devices("prod", &["1", "2"])).await;
    let summary = store
        .complete_full_pass("prod", 3, &Scope::default(), at(30), None)
        .await
        .expect("pass 3");
    assert_eq!((summary.seen, summary.newly_removed), (2, 0));
    assert_eq!(
        get_device(store, "prod", "3").await.removed_at,
        Some(at(20))
    );
}

pub async fn check_device_page_walks_the_inventory(store: &dyn Store) {
    // Ids chosen so that byte order differs from numeric order and from name order.
    let ids = ["10", "2", "33", "4", "5", "a1"];
    let mut inventory = devices("prod", &ids);
    // Every field of the facts differs from the defaults on some device.
    inventory[0].ips = vec!["10.0.0.1".into(), "203.0.113.9".into()];
    inventory[0].tags = vec!["env=prod".into(), "pci".into()];
    inventory[0].machine_type = Some("server".into());
    inventory[1].account_id = Some("acc-1".into());
    inventory[1].site_id = Some("site-1".into());
    inventory[1].site_name = Some("Site One".into());
    inventory[1].group_id = Some("grp-1".into());
    inventory[1].group_name = Some("Group One".into());
    inventory[2].is_decommissioned = true;
    inventory[2].last_active_at = None;
    page(store, "prod", 1, &inventory).await;
    page(store, "lab", 1, &devices("lab", &["3", "40"])).await;
    store
        .complete_full_pass("prod", 1, &Scope::default(), at(10), None)
        .await
        .expect("pass 1");
    // Pass 2 does not see "4": it is removed, and the walk still returns it.
    let seen: Vec<Device> = inventory
        .iter()
        .filter(|d| d.agent_id != "4")
        .cloned()
        .collect();
    page(store, "prod", 2, &seen).await;
    store
        .complete_full_pass("prod", 2, &Scope::default(), at(20), None)
        .await
        .expect("pass 2");

    let mut walked = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let got = store
            .device_page("prod", after.as_deref(), 2)
            .await
            .expect("device_page");
        pages += 1;
        assert!(got.len() <= 2, "a page never exceeds the limit");
        let short = got.len() < 2;
        if let Some(last) = got.last() {
            after = Some(last.agent_id.clone());
        }
        walked.extend(got);
        if short {
            break;
        }
        assert!(pages < 10, "the walk must end");
    }
    let order: Vec<&str> = walked.iter().map(|d| d.agent_id.as_str()).collect();
    assert_eq!(
        order,
        ["10", "2", "33", "4", "5", "a1"],
        "agent_id byte order"
    );
    assert!(
        walked.iter().all(|d| d.console == "prod"),
        "only the console's devices"
    );
    // The facts walk is the same walk, narrowed.
    let mut facts = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let got = store
            .device_facts_page("prod", after.as_deref(), 4)
            .await
            .expect("device_facts_page");
        let short = got.len() < 4;
        after = got.last().map(|d| d.agent_id.clone());
        facts.extend(got);
        if short {
            break;
        }
    }
    let narrowed: Vec<DeviceFacts> = walked.iter().cloned().map(DeviceFacts::from).collect();
    assert_eq!(facts, narrowed);
    assert_eq!(
        facts.iter().filter(|f| f.removed).count(),
        1,
        "the removed device is marked"
    );
    let removed = walked.iter().find(|d| d.agent_id == "4").unwrap();
    assert_eq!(
        removed.removed_at,
        Some(at(20)),
        "removed devices are included"
    );
    let listed = get_device(store, "prod", "33").await;
    let paged = walked.iter().find(|d| d.agent_id == "33").unwrap();
    assert_eq!(
        Device {
            stale: false,
            ..listed
        },
        paged.clone(),
        "a paged device is the stored device"
    );

    let all = store.device_page("prod", None, 0).await.expect("no limit");
    assert_eq!(all.len(), 6, "limit 0 means no limit");
    let tail = store.device_page("prod", Some("5"), 0).await.expect("tail");
    assert_eq!(
        tail.iter().map(|d| d.agent_id.as_str()).collect::<Vec<_>>(),
        ["a1"]
    );
    assert!(
        store
            .device_page("nowhere", None, 10)
            .await
            .expect("unknown console")
            .is_empty()
    );
}

pub async fn check_full_pass_restores_returning_device(store: &dyn Store) {
    page(store, "prod", 1, &devices("prod", &["1", "2"])).await;
    store
        .complete_full_pass("prod", 1, &Scope::default(), at(10), None)
        .await
        .expect("pass 1");
    page(store, "prod", 2, &devices("prod", &["1"])).await;
    store
        .complete_full_pass("prod", 2, &Scope::default(), at(20), None)
        .await
        .expect("pass 2");
    assert_eq!(
        get_device(store, "prod", "2").await.removed_at,
        Some(at(20))
    );

    let mut back = devices("prod", &["1", "2"]);
    back[1].last_seen_at = at(25);
    let stats = page(store, "prod", 3, &back).await;
    assert_eq!(
        stats,
        DevicePageStats {
            inserted: 0,
            updated: 2
        }
    );
    let returned = get_device(store, "prod", "2").await;
    assert_eq!(
        returned.removed_at, None,
        "a device seen again is present again"
    );
    assert_eq!(returned.first_seen_at, t0(), "and keeps its first_seen_at");
    let summary = store
        .complete_full_pass("prod", 3, &Scope::default(), at(30), None)
        .await
        .expect("pass 3");
    assert_eq!(
        (summary.seen, summary.newly_removed, summary.restored),
        (2, 0, 1),
        "the returning device counts as restored"
    );
    // It is not counted as restored again by the next pass.
    page(store, "prod", 4, &devices("prod", &["1", "2"])).await;
    let summary = store
        .complete_full_pass("prod", 4, &Scope::default(), at(40), None)
        .await
        .expect("pass 4");
    assert_eq!((summary.seen, summary.restored), (2, 0));
}

pub async fn check_full_pass_respects_scope(store: &dyn Store) {
    let mut all = Vec::new();
    for (id, account, site, group) in [
        ("1", "acc-1", "site-1", "grp-1"),
        ("2", "acc-1", "site-1", "grp-2"),
        ("3", "acc-1", "site-2", "grp-3"),
        ("4", "acc-2", "site-3", "grp-4"),
        ("5", "acc-2", "site-3", "grp-5"),
    ] {
        let mut d = sample_device("prod", id, &format!("host-{id}"));
        d.account_id = Some(account.to_string());
        d.site_id = Some(site.to_string());
        d.group_id = Some(group.to_string());
        all.push(d);
    }
    let mut no_ids = sample_device("prod", "6", "host-6");
    no_ids.account_id = None;
    all.push(no_ids);
    page(store, "prod", 1, &all).await;

    // A pass restricted to site-1 that saw nothing removes only site-1's devices — exactly the
    // candidates it announces beforehand.
    let site_scope = Scope {
        site_ids: vec!["site-1".to_string()],
        ..Scope::default()
    };
    assert_eq!(
        store
            .removal_candidates("prod", 2, &site_scope, 100)
            .await
            .expect("candidates"),
        vec!["1", "2"]
    );
    assert_eq!(
        store
            .removal_candidates("prod", 2, &site_scope, 1)
            .await
            .expect("limited"),
        vec!["1"]
    );
    assert_eq!(
        store
            .removal_candidates("prod", 1, &site_scope, 100)
            .await
            .expect("seen"),
        Vec::<String>::new(),
        "devices the pass saw are never candidates"
    );
    let summary = store
        .complete_full_pass("prod", 2, &site_scope, at(10), None)
        .await
        .expect("site pass");
    assert_eq!(summary.newly_removed, 2);
    let removed: Vec<String> = all_devices(store, "prod")
        .await
        .into_iter()
        .filter(|d| d.removed_at.is_some())
        .map(|d| d.agent_id)
        .collect();
    assert_eq!(removed, vec!["1", "2"]);

    // Any listed id matches: group grp-3 or account acc-2 (device 4 is seen).
    page(store, "prod", 3, &all[3..4]).await;
    let mixed = Scope {
        account_ids: vec!["acc-2".to_string()],
        site_ids: vec![],
        group_ids: vec!["grp-3".to_string()],
    };
    assert_eq!(
        store
            .removal_candidates("prod", 3, &mixed, 100)
            .await
            .expect("candidates"),
        vec!["3", "5"]
    );
    let summary = store
        .complete_full_pass("prod", 3, &mixed, at(20), None)
        .await
        .expect("mixed pass");
    assert_eq!(
        summary.newly_removed, 2,
        "devices 3 (group) and 5 (account)"
    );
    let present: Vec<String> = all_devices(store, "prod")
        .await
        .into_iter()
        .filter(|d| d.removed_at.is_none())
        .map(|d| d.agent_id)
        .collect();
    assert_eq!(
        present,
        vec!["4", "6"],
        "out-of-scope and seen devices stay"
    );

    // An empty scope is the whole console.
    let summary = store
        .complete_full_pass("prod", 4, &Scope::default(), at(30), None)
        .await
        .expect("whole pass");
    assert_eq!(summary.newly_removed, 2);
    assert_eq!(store.count_devices("prod").await.expect("count").present, 0);
}

pub async fn check_full_pass_watermark(store: &dyn Store) {
    assert_eq!(
        store.get_watermark("prod", "devices").await.expect("get"),
        None
    );
    let cp = checkpoint("prod", 1, "all", Some("c1"), 2);
    store
        .apply_device_page("prod", 1, &devices("prod", &["1", "2"]), Some(&cp))
        .await
        .expect("page");
    store
        .complete_full_pass(
            "prod",
            1,
            &Scope::default(),
            at(10),
            Some("2025-03-01T11:00:00Z"),
        )
        .await
        .expect("pass 1");
    let wm = store
        .get_watermark("prod", "devices")
        .await
        .expect("get")
        .expect("watermark set");
    assert_eq!(wm.value, "2025-03-01T11:00:00Z");
    assert_eq!(wm.last_full_at, Some(at(10)));
    assert!(
        store
            .load_checkpoints("prod", "devices")
            .await
            .expect("load")
            .is_empty(),
        "a completed pass clears its checkpoints"
    );

    // Without a new watermark the old value stays; last_full_at still moves.
    page(store, "prod", 2, &devices("prod", &["1", "2"])).await;
    store
        .complete_full_pass("prod", 2, &Scope::default(), at(20), None)
        .await
        .expect("pass 2");
    let wm = store
        .get_watermark("prod", "devices")
        .await
        .expect("get")
        .expect("watermark kept");
    assert_eq!(wm.value, "2025-03-01T11:00:00Z");
    assert_eq!(wm.last_full_at, Some(at(20)));
    assert_eq!(
        store.get_watermark("lab", "devices").await.expect("get"),
        None
    );
}

pub async fn check_incremental_pass_never_removes(store: &dyn Store) {
    page(store, "prod", 1, &devices("prod", &["1", "2", "3"])).await;
    store
        .complete_full_pass("prod", 1, &Scope::default(), at(10), Some("w-full"))
        .await
        .expect("full pass");

    let mut cp = checkpoint("prod", 2, "all", None, 1);
    cp.kind = PassKind::Incremental;
    cp.since = Some("w-full".to_string());
    cp.done = true;
    store
        .apply_device_page("prod", 2, &devices("prod", &["2"]), Some(&cp))
        .await
        .expect("incremental page");
    let summary = store
        .complete_incremental_pass("prod", "devices", Some("w-incr"))
        .await
        .expect("incremental pass");
    assert_eq!(summary.newly_removed, 0);
    assert_eq!(
        summary.seen, 1,
        "seen counts the devices written by the pass"
    );
    let counts = store.count_devices("prod").await.expect("count");
    assert_eq!(
        (counts.present, counts.removed),
        (3, 0),
        "an incremental pass never removes"
    );
    let wm = store
        .get_watermark("prod", "devices")
        .await
        .expect("get")
        .expect("watermark");
    assert_eq!(wm.value, "w-incr", "the watermark advances");
    assert_eq!(wm.last_full_at, Some(at(10)), "last_full_at is left alone");
    assert!(
        store
            .load_checkpoints("prod", "devices")
            .await
            .expect("load")
            .is_empty()
    );

    // Without a new watermark it stays.
    store
        .complete_incremental_pass("prod", "devices", None)
        .await
        .expect("incremental pass");
    let wm = store
        .get_watermark("prod", "devices")
        .await
        .expect("get")
        .expect("watermark");
    assert_eq!(wm.value, "w-incr");

    // An incremental pass of another feature keeps its own watermark and checkpoints.
    let mut vcp = checkpoint("prod", 3, "all", Some("v"), 40);
    vcp.feature = "vulnerabilities".to_string();
    store
        .apply_device_page("prod", 3, &[], Some(&vcp))
        .await
        .expect("checkpoint");
    store
        .complete_incremental_pass("prod", "vulnerabilities", Some("v-w"))
        .await
        .expect("vulnerabilities pass");
    assert_eq!(
        store
            .get_watermark("prod", "vulnerabilities")
            .await
            .expect("get")
            .map(|w| w.value),
        Some("v-w".to_string())
    );
    assert!(
        store
            .load_checkpoints("prod", "vulnerabilities")
            .await
            .expect("load")
            .is_empty()
    );
    assert_eq!(
        store
            .get_watermark("prod", "devices")
            .await
            .expect("get")
            .map(|w| w.value),
        Some("w-incr".to_string())
    );
}

// ---------------------------------------------------------------------------------------------
// Duplicates

fn machine(
    id: &str,
    name: &str,
    serial: Option<&str>,
    macs: &[&str],
    active_days_ago: i64,
) -> Device {
    let mut d = sample_device("prod", id, name);
    d.serial_number = serial.map(str::to_string);
    d.macs = macs.iter().map(|m| m.to_string()).collect();
    d.last_active_at = Some(days_ago(active_days_ago));
    d
}

pub async fn check_duplicates_rules(store: &dyn Store) {
    let page_devices = vec![
        // Same name, same serial: one machine, 11 is newer.
        machine("10", "ws-serial", Some("SN-1"), &[], 5),
        machine("11", "WS-Serial ", Some("SN-1"), &[], 1),
        // Same name, different serials, no shared MAC: two machines.
        machine("20", "ws-diff", Some("SN-A"), &["AA:00:00:00:00:01"], 5),
        machine("21", "ws-diff", Some("SN-B"), &["AA:00:00:00:00:02"], 1),
        // Same name, different serials but a shared MAC: one machine.
        machine(
            "30",
            "ws-mac",
            Some("SN-X"),
            &["BB:00:00:00:00:01", "BB:00:00:00:00:09"],
            1,
        ),
        machine(
            "31",
            "ws-mac",
            Some("SN-Y"),
            &["BB:00:00:00:00:02", "BB:00:00:00:00:09"],
            3,
        ),
        // Same name, no serial on either: one machine (three records).
        machine("40", "ws-noserial", None, &[], 9),
        machine("41", "ws-noserial", Some(""), &[], 2),
        machine("42", "WS-NOSERIAL", None, &[], 4),
        // Different names, same serial: not duplicates (grouping is by name).
        machine("50", "ws-one", Some("SN-9"), &[], 1),
        machine("51", "ws-two", Some("SN-9"), &[], 2),
        // Same name, one with a serial and one without, nothing shared: not duplicates.
        machine("60", "ws-mixed", Some("SN-M"), &[], 1),
        machine("61", "ws-mixed", None, &[], 2),
        // A singleton.
        machine("70", "ws-alone", Some("SN-Z"), &[], 1),
    ];
    page(store, "prod", 1, &page_devices).await;
    let summary = store
        .complete_full_pass("prod", 1, &Scope::default(), at(10), None)
        .await
        .expect("pass");
    let all = all_devices(store, "prod").await;

    assert_eq!(
        dup_of(&all, "10"),
        Some("11"),
        "same serial, older points to newer"
    );
    assert_eq!(dup_of(&all, "11"), None, "the newest is the original");
    assert_eq!(
        dup_of(&all, "20"),
        None,
        "different serials are different machines"
    );
    assert_eq!(dup_of(&all, "21"), None);
    assert_eq!(dup_of(&all, "30"), None, "shared MAC: 30 is newest");
    assert_eq!(
        dup_of(&all, "31"),
        Some("30"),
        "shared MAC means same machine"
    );
    assert_eq!(
        dup_of(&all, "40"),
        Some("41"),
        "no serial: same name is same machine"
    );
    assert_eq!(dup_of(&all, "41"), None);
    assert_eq!(dup_of(&all, "42"), Some("41"));
    assert_eq!(
        dup_of(&all, "50"),
        None,
        "different names are never duplicates"
    );
    assert_eq!(dup_of(&all, "51"), None);
    assert_eq!(dup_of(&all, "60"), None);
    assert_eq!(dup_of(&all, "61"), None);
    assert_eq!(dup_of(&all, "70"), None);
    assert_eq!(summary.duplicates, 4);
    assert_eq!(
        store.count_devices("prod").await.expect("count").duplicates,
        4
    );

    let only = store
        .list_devices(&DeviceFilter {
            console: Some("prod".to_string()),
            only_duplicates: true,
            ..DeviceFilter::default()
        })
        .await
        .expect("list");
    let mut got = ids(&only);
    got.sort_unstable();
    assert_eq!(got, vec!["10", "31", "40", "42"]);
}

pub async fn check_duplicates_newest_wins(store: &dyn Store) {
    let t = days_ago(2);
    let mut a = machine("100", "tie", Some("SN"), &[], 2);
    let mut b = machine("200", "tie", Some("SN"), &[], 2);
    let mut c = machine("300", "tie", Some("SN"), &[], 2);
    // Same last activity: the latest registration wins.
    a.last_active_at = Some(t);
    b.last_active_at = Some(t);
    c.last_active_at = Some(t);
    a.registered_at = Some(days_ago(10));
    b.registered_at = Some(days_ago(5));
    c.registered_at = Some(days_ago(20));
    // No last activity at all is older than any activity.
    let mut never = machine("400", "tie", Some("SN"), &[], 2);
    never.last_active_at = None;
    never.registered_at = Some(days_ago(1));
    page(store, "prod", 1, &[a.clone(), b.clone(), c.clone(), never]).await;
    store
        .complete_incremental_pass("prod", "devices", None)
        .await
        .expect("pass");
    let all = all_devices(store, "prod").await;
    assert_eq!(
        dup_of(&all, "200"),
        None,
        "latest registered_at wins a last_active_at tie"
    );
    for id in ["100", "300", "400"] {
        assert_eq!(dup_of(&all, id), Some("200"), "device {id}");
    }

    // Full tie: the greatest agent_id wins.
    let mut x = machine("1290000000000000009", "full-tie", None, &[], 3);
    let mut y = machine("1290000000000000010", "full-tie", None, &[], 3);
    x.registered_at = Some(days_ago(50));
    y.registered_at = Some(days_ago(50));
    page(store, "prod", 2, &[y, x]).await;
    // A newer activity moves the original.
    c.last_active_at = Some(t0());
    page(store, "prod", 2, &[c]).await;
    let summary = store
        .complete_incremental_pass("prod", "devices", None)
        .await
        .expect("pass");
    let all = all_devices(store, "prod").await;
    assert_eq!(
        dup_of(&all, "1290000000000000009"),
        Some("1290000000000000010")
    );
    assert_eq!(dup_of(&all, "1290000000000000010"), None);
    assert_eq!(
        dup_of(&all, "300"),
        None,
        "the most recently active record is the original"
    );
    for id in ["100", "200", "400"] {
        assert_eq!(dup_of(&all, id), Some("300"), "device {id}");
    }
    assert_eq!(summary.duplicates, 4);
}

pub async fn check_duplicates_ignore_removed_devices(store: &dyn Store) {
    let old = machine("1", "laptop", Some("SN"), &[], 30);
    let new = machine("2", "laptop", Some("SN"), &[], 1);
    page(store, "prod", 1, &[old.clone(), new]).await;
    store
        .complete_full_pass("prod", 1, &Scope::default(), at(10), None)
        .await
        .expect("pass 1");
    assert_eq!(dup_of(&all_devices(store, "prod").await, "1"), Some("2"));

    // The newer record disappears from the console: the old one is no longer a duplicate.
    page(store, "prod", 2, &[old]).await;
    let summary = store
        .complete_full_pass("prod", 2, &Scope::default(), at(20), None)
        .await
        .expect("pass 2");
    assert_eq!(summary.duplicates, 0);
    let all = all_devices(store, "prod").await;
    assert_eq!(dup_of(&all, "1"), None, "only present devices are compared");
    assert_eq!(
        dup_of(&all, "2"),
        None,
        "removed devices carry no duplicate link"
    );
    assert_eq!(
        store.count_devices("prod").await.expect("count").duplicates,
        0
    );
}

// ---------------------------------------------------------------------------------------------
// Listing

pub async fn check_stale_computation(store: &dyn Store) {
    let fresh = machine("1", "fresh", None, &[], 10);
    let old = machine("2", "old", None, &[], 40);
    let mut old_decom = machine("3", "old-decom", None, &[], 40);
    old_decom.is_decommissioned = true;
    let mut never = machine("4", "never", None, &[], 1);
    never.last_active_at = None;
    let old_removed = machine("5", "old-removed", None, &[], 40);
    let mut batch = vec![fresh, old, old_decom, never, old_removed];
    page(store, "prod", 1, &batch).await;
    batch.pop();
    page(store, "prod", 2, &batch).await;
    store
        .complete_full_pass("prod", 2, &Scope::default(), at(1), None)
        .await
        .expect("pass");
    assert_eq!(get_device(store, "prod", "5").await.removed_at, Some(at(1)));

    let list = |stale_days: u32, only_stale: bool, now: DateTime<Utc>| DeviceFilter {
        console: Some("prod".to_string()),
        now: Some(now),
        stale_days,
        only_stale,
        include_removed: true,
        ..DeviceFilter::default()
    };
    let all = store
        .list_devices(&list(30, false, t0()))
        .await
        .expect("list");
    let stale: Vec<&str> = all
        .iter()
        .filter(|d| d.stale)
        .map(|d| d.agent_id.as_str())
        .collect();
    assert_eq!(
        stale,
        vec!["2"],
        "stale: inactive for more than stale_days; never decommissioned, removed, or never active"
    );
    let only = store
        .list_devices(&list(30, true, t0()))
        .await
        .expect("list");
    assert_eq!(ids(&only), vec!["2"]);
    // stale is relative to `now` and `stale_days`.
    let later = store
        .list_devices(&list(30, true, t0() + Duration::days(25)))
        .await
        .expect("list");
    assert_eq!(ids(&later), vec!["1", "2"]);
    let strict = store
        .list_devices(&list(50, true, t0()))
        .await
        .expect("list");
    assert!(strict.is_empty());
    let off = store
        .list_devices(&list(0, false, t0()))
        .await
        .expect("list");
    assert!(
        off.iter().all(|d| !d.stale),
        "stale_days = 0 disables staleness"
    );
    let huge = store
        .list_devices(&list(u32::MAX, true, t0()))
        .await
        .expect("a huge stale_days is valid");
    assert!(huge.is_empty(), "nothing is inactive for u32::MAX days");
}

pub async fn check_device_filters(store: &dyn Store) {
    let mut batch = Vec::new();
    for (id, name) in [
        ("3", "bravo"),
        ("1", "charlie"),
        ("2", "alpha"),
        ("4", "bravo"),
    ] {
        batch.push(machine(id, name, Some(&format!("SN-{id}")), &[], 1));
    }
    let mut decom = machine("5", "delta", Some("SN-5"), &[], 1);
    decom.is_decommissioned = true;
    batch.push(decom);
    let dupe_old = machine("6", "echo", Some("SN-E"), &[], 9);
    let dupe_new = machine("7", "echo", Some("SN-E"), &[], 1);
    batch.push(dupe_old);
    batch.push(dupe_new);
    let gone = machine("8", "foxtrot", None, &[], 1);
    batch.push(gone);
    page(store, "prod", 1, &batch).await;
    page(store, "lab", 1, &[sample_device("lab", "1", "alpha")]).await;
    let seen: Vec<Device> = batch
        .iter()
        .filter(|d| d.agent_id != "8")
        .cloned()
        .collect();
    page(store, "prod", 2, &seen).await;
    store
        .complete_full_pass("prod", 2, &Scope::default(), at(1), None)
        .await
        .expect("pass");

    let base = DeviceFilter {
        console: Some("prod".to_string()),
        now: Some(t0()),
        stale_days: 30,
        ..DeviceFilter::default()
    };
    let present = store.list_devices(&base).await.expect("list");
    assert_eq!(
        ids(&present),
        vec!["2", "3", "4", "1", "5", "6", "7"],
        "present devices ordered by computer_name then agent_id"
    );
    let removed = store
        .list_devices(&DeviceFilter {
            removed: true,
            ..base.clone()
        })
        .await
        .expect("list");
    assert_eq!(ids(&removed), vec!["8"]);
    assert_eq!(removed[0].removed_at, Some(at(1)));
    let everything = store
        .list_devices(&DeviceFilter {
            include_removed: true,
            removed: true,
            ..base.clone()
        })
        .await
        .expect("list");
    assert_eq!(
        everything.len(),
        8,
        "include_removed lists present and removed"
    );
    let decommissioned = store
        .list_devices(&DeviceFilter {
            only_decommissioned: true,
            ..base.clone()
        })
        .await
        .expect("list");
    assert_eq!(ids(&decommissioned), vec!["5"]);
    let dupes = store
        .list_devices(&DeviceFilter {
            only_duplicates: true,
            ..base.clone()
        })
        .await
        .expect("list");
    assert_eq!(ids(&dupes), vec!["6"]);
    assert_eq!(dupes[0].duplicate_of.as_deref(), Some("7"));
    let limited = store
        .list_devices(&DeviceFilter {
            limit: Some(2),
            ..base.clone()
        })
        .await
        .expect("list");
    assert_eq!(ids(&limited), vec!["2", "3"]);
    let every_console = store
        .list_devices(&DeviceFilter {
            console: None,
            ..base.clone()
        })
        .await
        .expect("list");
    assert_eq!(
        every_console.len(),
        8,
        "no console filter lists every console"
    );
    assert!(every_console.iter().any(|d| d.console == "lab"));
    let none_match = store
        .list_devices(&DeviceFilter {
            only_decommissioned: true,
            only_duplicates: true,
            ..base.clone()
        })
        .await
        .expect("list");
    assert!(none_match.is_empty(), "filters combine with AND");
}

pub async fn check_count_devices(store: &dyn Store) {
    assert_eq!(
        store.count_devices("prod").await.expect("count"),
        DeviceCounts::default()
    );
    let mut batch = vec![
        machine("1", "a", Some("S1"), &[], 1),
        machine("2", "b", Some("S2"), &[], 1),
        machine("3", "dup", Some("SD"), &[], 5),
        machine("4", "dup", Some("SD"), &[], 1),
    ];
    let mut decom = machine("5", "decom", None, &[], 1);
    decom.is_decommissioned = true;
    batch.push(decom);
    let mut decom_gone = machine("6", "decom-gone", None, &[], 1);
    decom_gone.is_decommissioned = true;
    batch.push(decom_gone);
    page(store, "prod", 1, &batch).await;
    page(store, "lab", 1, &[sample_device("lab", "1", "a")]).await;
    page(store, "prod", 2, &batch[..5]).await;
    store
        .complete_full_pass("prod", 2, &Scope::default(), at(1), None)
        .await
        .expect("pass");
    assert_eq!(
        store.count_devices("prod").await.expect("count"),
        DeviceCounts {
            present: 5,
            removed: 1,
            decommissioned: 1,
            duplicates: 1,
        }
    );
    assert_eq!(store.count_devices("lab").await.expect("count").present, 1);
}

// ---------------------------------------------------------------------------------------------
// Vulnerability findings

/// An observation of `cve_id` in "Acme Viewer 1.0" on `agent_id`, `medium` priority, CVSS 5.0,
/// every optional field empty.
pub fn sample_finding(agent_id: &str, cve_id: &str) -> FindingObservation {
    FindingObservation {
        key: FindingKey {
            agent_id: agent_id.to_string(),
            application: "Acme Viewer".to_string(),
            application_version: "1.0".to_string(),
            cve_id: cve_id.to_string(),
        },
        computer_name: Some(format!("host-{agent_id}")),
        application_vendor: None,
        console_row_id: None,
        vendor_severity: None,
        cvss_score: Some(5.0),
        cvss_version: None,
        published_at: None,
        detected_at: None,
        days_detected: None,
        console_status: None,
        mark_type: None,
        marked_by: None,
        marked_at: None,
        mark_reason: None,
        extra: ExtraJson::default(),
        priority: "medium".to_string(),
        factors: Vec::new().into(),
        kev: false,
    }
}

fn finding_checkpoint(console: &str, pass_id: i64, cursor: &str) -> Checkpoint {
    Checkpoint {
        feature: "vulnerabilities".to_string(),
        ..checkpoint(console, pass_id, "main", Some(cursor), 1)
    }
}

async fn finding_page(
    store: &dyn Store,
    pass_id: i64,
    run_id: i64,
    minute: i64,
    findings: &[FindingObservation],
) -> FindingPageStats {
    store
        .apply_finding_page("prod", pass_id, run_id, at(minute), findings, None)
        .await
        .expect("apply_finding_page")
}

async fn finding_pass(
    store: &dyn Store,
    pass_id: i64,
    run_id: i64,
    scope: &Scope,
    minute: i64,
) -> FindingPassSummary {
    store
        .complete_finding_pass("prod", pass_id, run_id, scope, at(minute))
        .await
        .expect("complete_finding_pass")
}

async fn finding(store: &dyn Store, obs: &FindingObservation) -> Finding {
    let id = obs.key.finding_id("prod");
    store
        .get_finding(&id)
        .await
        .expect("get_finding")
        .unwrap_or_else(|| panic!("finding {id} ({:?}) is not stored", obs.key))
}

async fn status_of(store: &dyn Store, obs: &FindingObservation) -> FindingStatus {
    finding(store, obs).await.status
}

/// (from, to, run_id, reason) of every transition of a finding, oldest first.
async fn history(
    store: &dyn Store,
    obs: &FindingObservation,
) -> Vec<(Option<FindingStatus>, FindingStatus, i64, String)> {
    let id = obs.key.finding_id("prod");
    let transitions = store.finding_history(&id).await.expect("finding_history");
    for t in &transitions {
        assert_eq!(t.finding_id, id, "a transition names its finding");
    }
    transitions
        .into_iter()
        .map(|t| (t.from, t.to, t.run_id, t.reason))
        .collect()
}

pub async fn check_finding_lifecycle(store: &dyn Store) {
    use FindingStatus::*;
    page(store, "prod", 1, &devices("prod", &["1"])).await;
    let all = Scope::default();
    let obs = sample_finding("1", "CVE-2024-0001");
    let id = obs.key.finding_id("prod");

    // First observation: new, with a "first seen" transition.
    let cp = finding_checkpoint("prod", 10, "c1");
    let stats = store
        .apply_finding_page(
            "prod",
            10,
            100,
            at(1),
            std::slice::from_ref(&obs),
            Some(&cp),
        )
        .await
        .expect("first page");
    assert_eq!(
        stats,
        FindingPageStats {
            new: 1,
            reopened: 0,
            updated: 0
        }
    );
    let f = finding(store, &obs).await;
    assert_eq!(f.finding_id, id);
    assert_eq!(f.console, "prod");
    assert_eq!(f.status, New);
    assert_eq!(
        (f.first_seen_at, f.last_seen_at, f.fixed_at),
        (at(1), at(1), None)
    );
    assert_eq!(
        store
            .load_checkpoints("prod", "vulnerabilities")
            .await
            .expect("checkpoints"),
        vec![cp],
        "the checkpoint is saved with the page"
    );
    // Completing the pass that first saw it keeps it new and clears the checkpoints.
    let summary = finding_pass(store, 10, 100, &all, 2).await;
    assert_eq!(
        summary,
        FindingPassSummary {
            seen: 1,
            opened: 0,
            fixed: 0,
            device_removed: 0,
            active: 1
        }
    );
    assert_eq!(status_of(store, &obs).await, New);
    assert!(
        store
            .load_checkpoints("prod", "vulnerabilities")
            .await
            .expect("checkpoints")
            .is_empty(),
        "completing the pass clears its checkpoints"
    );

    // A later complete pass sees it again: open.
    let stats = finding_page(store, 11, 101, 3, std::slice::from_ref(&obs)).await;
    assert_eq!((stats.new, stats.reopened, stats.updated), (0, 0, 1));
    assert_eq!(status_of(store, &obs).await, New, "pages never decide");
    let summary = finding_pass(store, 11, 101, &all, 4).await;
    assert_eq!((summary.seen, summary.opened, summary.active), (1, 1, 1));
    let f = finding(store, &obs).await;
    assert_eq!(f.status, Open);
    assert_eq!((f.first_seen_at, f.last_seen_at), (at(1), at(3)));

    // Absent from a complete pass while its device is present: fixed.
    finding_page(store, 12, 102, 5, &[]).await;
    let summary = finding_pass(store, 12, 102, &all, 6).await;
    assert_eq!(
        summary,
        FindingPassSummary {
            seen: 0,
            opened: 0,
            fixed: 1,
            device_removed: 0,
            active: 0
        }
    );
    let f = finding(store, &obs).await;
    assert_eq!((f.status, f.fixed_at), (Fixed, Some(at(6))));

    // Seen again, under a new console row id: reopened, same finding id.
    let mut again = obs.clone();
    again.console_row_id = Some("row-2".to_string());
    let stats = finding_page(store, 13, 103, 7, std::slice::from_ref(&again)).await;
    assert_eq!((stats.new, stats.reopened, stats.updated), (0, 1, 0));
    let f = finding(store, &again).await;
    assert_eq!(f.finding_id, id);
    assert_eq!((f.status, f.fixed_at), (Reopened, None));
    assert_eq!(f.console_row_id.as_deref(), Some("row-2"));
    let summary = finding_pass(store, 13, 103, &all, 8).await;
    assert_eq!((summary.opened, summary.active), (0, 1));
    assert_eq!(
        status_of(store, &obs).await,
        Reopened,
        "the pass that reopened it does not open it"
    );

    // The next complete pass that sees it: open.
    finding_page(store, 14, 104, 9, std::slice::from_ref(&again)).await;
    let summary = finding_pass(store, 14, 104, &all, 10).await;
    assert_eq!(summary.opened, 1);
    assert_eq!(status_of(store, &obs).await, Open);

    assert_eq!(
        history(store, &obs).await,
        vec![
            (None, New, 100, "first seen".to_string()),
            (Some(New), Open, 101, "seen again".to_string()),
            (
                Some(Open),
                Fixed,
                102,
                "absent from a complete pass; device present".to_string()
            ),
            (
                Some(Fixed),
                Reopened,
                103,
                "seen again after being fixed".to_string()
            ),
            (Some(Reopened), Open, 104, "seen again".to_string()),
        ]
    );
    let times: Vec<_> = store
        .finding_history(&id)
        .await
        .expect("history")
        .iter()
        .map(|t| t.at)
        .collect();
    assert_eq!(times, vec![at(1), at(4), at(6), at(7), at(10)]);

    // Unknown ids.
    assert_eq!(
        store.get_finding("f0000000000000000").await.expect("get"),
        None
    );
    assert_eq!(store.get_finding("not-an-id").await.expect("get"), None);
    assert!(
        store
            .finding_history("not-an-id")
            .await
            .expect("history")
            .is_empty()
    );
}

pub async fn check_finding_page_stats_and_refusals(store: &dyn Store) {
    let a = sample_finding("1", "CVE-2024-0001");
    let b = sample_finding("1", "CVE-2024-0002");
    // A key repeated within a page is one new finding, then an update.
    let stats = finding_page(store, 1, 1, 1, &[a.clone(), b.clone(), a.clone()]).await;
    assert_eq!(
        stats,
        FindingPageStats {
            new: 2,
            reopened: 0,
            updated: 1
        }
    );
    assert_eq!(
        history(store, &a).await.len(),
        1,
        "one first-seen transition"
    );

    // The CVE id is case-insensitive: a lower-case id is the same finding.
    let mut lower = a.clone();
    lower.key.cve_id = "cve-2024-0001".to_string();
    assert_eq!(lower.key.finding_id("prod"), a.key.finding_id("prod"));
    let stats = finding_page(store, 1, 1, 2, &[lower]).await;
    assert_eq!((stats.new, stats.updated), (0, 1));

    // A bad observation or a checkpoint of another console fails the whole page.
    let mut bad = sample_finding("1", "CVE-2024-0003");
    bad.priority = "urgent".to_string();
    let c = sample_finding("1", "CVE-2024-0004");
    let failed = store
        .apply_finding_page("prod", 2, 2, at(3), &[c.clone(), bad], None)
        .await;
    assert!(
        failed.is_err(),
        "an unknown priority is refused: {failed:?}"
    );
    // Its priority factors are a set no stored finding has: a backend that stores sets once
    // must not keep (or remember) the one the refused page added.
    let mut c = c;
    c.factors = vec![PriorityFactor {
        name: "criticality".to_string(),
        effect: 1,
        detail: "only on the refused page".to_string(),
    }]
    .into();
    let mut empty_agent = sample_finding("", "CVE-2024-0005");
    empty_agent.computer_name = None;
    let failed = store
        .apply_finding_page("prod", 2, 2, at(3), &[c.clone(), empty_agent], None)
        .await;
    assert!(failed.is_err(), "an empty agent id is refused: {failed:?}");
    let other = finding_checkpoint("lab", 2, "x");
    let failed = store
        .apply_finding_page("prod", 2, 2, at(3), std::slice::from_ref(&c), Some(&other))
        .await;
    assert!(failed.is_err(), "another console's checkpoint is refused");
    assert_eq!(
        store
            .get_finding(&c.key.finding_id("prod"))
            .await
            .expect("get"),
        None,
        "nothing of a refused page is stored"
    );
    assert!(
        store
            .load_checkpoints("lab", "vulnerabilities")
            .await
            .expect("checkpoints")
            .is_empty()
    );
    assert_eq!(
        finding(store, &a).await.last_seen_at,
        at(2),
        "a refused page changes nothing"
    );
    // The same observation on a good page is stored with its factors.
    finding_page(store, 2, 2, 4, std::slice::from_ref(&c)).await;
    assert_eq!(finding(store, &c).await.factors, *c.factors);
}

/// A console's first pass, whose pages a backend may store as plain inserts: a page that repeats
/// a finding of an earlier page of the same pass (the console paginates over a changing list)
/// still counts it as an update and stores its newer observation; later pages and a refused
/// page behave as in any pass; the completion sees every finding once.
pub async fn check_finding_first_pass_pages_repeating_earlier_keys(store: &dyn Store) {
    let a = sample_finding("1", "CVE-2024-1001");
    let b = sample_finding("1", "CVE-2024-1002");
    let c = sample_finding("2", "CVE-2024-1003");
    let d = sample_finding("3", "CVE-2024-1004");
    let e = sample_finding("3", "CVE-2024-1005");
    let stats = finding_page(store, 1, 1, 1, &[a.clone(), b.clone()]).await;
    assert_eq!((stats.new, stats.reopened, stats.updated), (2, 0, 0));
    let stats = finding_page(store, 1, 1, 2, std::slice::from_ref(&c)).await;
    assert_eq!((stats.new, stats.reopened, stats.updated), (1, 0, 0));
    // `a` again, with a newer score, next to a new finding.
    let mut a2 = a.clone();
    a2.cvss_score = Some(9.9);
    let stats = finding_page(store, 1, 1, 3, &[d.clone(), a2.clone()]).await;
    assert_eq!((stats.new, stats.reopened, stats.updated), (1, 0, 1));
    assert_eq!(finding(store, &a).await.cvss_score, Some(9.9));
    assert_eq!(finding(store, &a).await.last_seen_at, at(3));
    assert_eq!(finding(store, &d).await.first_seen_at, at(3));
    // A refused page (another console's checkpoint) stores nothing of it.
    let failed = store
        .apply_finding_page(
            "prod",
            1,
            1,
            at(4),
            std::slice::from_ref(&e),
            Some(&finding_checkpoint("lab", 1, "x")),
        )
        .await;
    assert!(failed.is_err(), "another console's checkpoint is refused");
    assert_eq!(
        store
            .get_finding(&e.key.finding_id("prod"))
            .await
            .expect("get"),
        None
    );
    let stats = finding_page(store, 1, 1, 5, std::slice::from_ref(&e)).await;
    assert_eq!((stats.new, stats.reopened, stats.updated), (1, 0, 0));
    let summary = store
        .complete_finding_pass("prod", 1, 1, &Scope::default(), at(6))
        .await
        .expect("complete_finding_pass");
    assert_eq!((summary.seen, summary.active), (5, 5));
    for obs in [&a, &b, &c, &d, &e] {
        assert_eq!(finding(store, obs).await.status, FindingStatus::New);
        assert_eq!(
            history(store, obs).await.len(),
            1,
            "one first-seen transition"
        );
    }
}

/// `agents_with_active_findings` lists exactly the agents with a new/open/reopened finding;
/// `mark_devices_removed` (the console said by id that they are gone) removes only the named
/// present devices, and their findings then become `device_removed`, not `fixed`.
pub async fn check_devices_gone_by_id_make_findings_device_removed(store: &dyn Store) {
    page(store, "prod", 1, &devices("prod", &["1", "2", "3"])).await;
    let a = sample_finding("1", "CVE-2024-0001");
    let b = sample_finding("2", "CVE-2024-0002");
    finding_page(store, 1, 1, 1, &[a.clone(), b.clone()]).await;
    let agents = store
        .agents_with_active_findings("prod")
        .await
        .expect("agents");
    assert_eq!(agents, vec!["1", "2"]);
    assert!(
        store
            .agents_with_active_findings("other")
            .await
            .expect("other console")
            .is_empty()
    );
    let n = store
        .mark_devices_removed("prod", &["2".to_string(), "999".to_string()], at(2))
        .await
        .expect("mark");
    assert_eq!(n, 1, "only the known, present device changes");
    assert_eq!(
        store
            .mark_devices_removed("prod", &["2".to_string()], at(3))
            .await
            .expect("again"),
        0,
        "already removed: unchanged"
    );
    let removed: Vec<String> = store
        .list_devices(&DeviceFilter {
            console: Some("prod".to_string()),
            removed: true,
            ..DeviceFilter::default()
        })
        .await
        .expect("list")
        .into_iter()
        .map(|d| d.agent_id)
        .collect();
    assert_eq!(removed, vec!["2"]);
    // A pass that sees only agent 1's finding: agent 2's is device_removed.
    finding_page(store, 2, 2, 4, std::slice::from_ref(&a)).await;
    finding_pass(store, 2, 2, &Scope::default(), 5).await;
    assert_eq!(
        finding(store, &b).await.status,
        FindingStatus::DeviceRemoved
    );
    assert_eq!(finding(store, &a).await.status, FindingStatus::Open);
    assert_eq!(
        store
            .agents_with_active_findings("prod")
            .await
            .expect("after"),
        vec!["1"]
    );
}

pub async fn check_finding_device_removed_is_not_fixed(store: &dyn Store) {
    use FindingStatus::*;
    let all = Scope::default();
    page(store, "prod", 1, &devices("prod", &["1", "2"])).await;
    store
        .complete_full_pass("prod", 1, &all, at(0), None)
        .await
        .expect("device pass");
    let on1 = sample_finding("1", "CVE-2024-0001");
    let on2 = sample_finding("2", "CVE-2024-0002");
    // Device 3 was never stored.
    let on3 = sample_finding("3", "CVE-2024-0003");
    finding_page(store, 10, 100, 1, &[on1.clone(), on2.clone(), on3.clone()]).await;
    finding_pass(store, 10, 100, &all, 2).await;

    // Device 2 leaves the console.
    page(store, "prod", 2, &devices("prod", &["1"])).await;
    store
        .complete_full_pass("prod", 2, &all, at(3), None)
        .await
        .expect("device pass");

    finding_page(store, 11, 101, 4, std::slice::from_ref(&on1)).await;
    let summary = finding_pass(store, 11, 101, &all, 5).await;
    assert_eq!(
        summary,
        FindingPassSummary {
            seen: 1,
            opened: 1,
            fixed: 0,
            device_removed: 2,
            active: 1
        }
    );
    for obs in [&on2, &on3] {
        let f = finding(store, obs).await;
        assert_eq!(
            (f.status, f.fixed_at),
            (DeviceRemoved, None),
            "{}",
            f.agent_id
        );
        assert_eq!(
            history(store, obs).await.last(),
            Some(&(
                Some(New),
                DeviceRemoved,
                101,
                "absent; its device was removed from the console".to_string()
            ))
        );
    }
    assert_eq!(status_of(store, &on1).await, Open);

    // A pass that still does not see them leaves them alone.
    finding_page(store, 12, 102, 6, std::slice::from_ref(&on1)).await;
    let summary = finding_pass(store, 12, 102, &all, 7).await;
    assert_eq!((summary.fixed, summary.device_removed), (0, 0));

    // The device comes back with its finding: reopened.
    page(store, "prod", 3, &devices("prod", &["1", "2"])).await;
    let stats = finding_page(store, 13, 103, 8, &[on1.clone(), on2.clone()]).await;
    assert_eq!((stats.reopened, stats.updated), (1, 1));
    assert_eq!(
        history(store, &on2).await.last(),
        Some(&(
            Some(DeviceRemoved),
            Reopened,
            103,
            "device back".to_string()
        ))
    );
    assert_eq!(status_of(store, &on2).await, Reopened);
}

pub async fn check_finding_unfinished_pass_decides_nothing(store: &dyn Store) {
    use FindingStatus::*;
    let all = Scope::default();
    page(store, "prod", 1, &devices("prod", &["1"])).await;
    let x = sample_finding("1", "CVE-2024-0001");
    let y = sample_finding("1", "CVE-2024-0002");
    finding_page(store, 10, 100, 1, &[x.clone(), y.clone()]).await;
    finding_pass(store, 10, 100, &all, 2).await;

    // Pass 11 fails in the middle: it stored a page with x only and never completed.
    let cp = finding_checkpoint("prod", 11, "after-page-1");
    store
        .apply_finding_page("prod", 11, 101, at(3), std::slice::from_ref(&x), Some(&cp))
        .await
        .expect("partial page");
    assert_eq!(status_of(store, &x).await, New);
    assert_eq!(
        status_of(store, &y).await,
        New,
        "an unfinished pass fixes nothing"
    );
    assert_eq!(history(store, &y).await.len(), 1);
    assert_eq!(
        store
            .load_checkpoints("prod", "vulnerabilities")
            .await
            .expect("checkpoints"),
        vec![cp]
    );

    // A later complete pass decides: it sees x only.
    finding_page(store, 12, 102, 4, std::slice::from_ref(&x)).await;
    let summary = finding_pass(store, 12, 102, &all, 5).await;
    assert_eq!((summary.seen, summary.opened, summary.fixed), (1, 1, 1));
    assert_eq!(status_of(store, &x).await, Open);
    let fy = finding(store, &y).await;
    assert_eq!((fy.status, fy.fixed_at), (Fixed, Some(at(5))));
    assert_eq!(history(store, &y).await.last().map(|t| t.2), Some(102));
}

pub async fn check_finding_pass_respects_scope(store: &dyn Store) {
    use FindingStatus::*;
    let mut devs = Vec::new();
    for (id, account, site, group) in [
        ("1", "acc-1", "site-1", "grp-1"),
        ("2", "acc-1", "site-2", "grp-2"),
        ("3", "acc-2", "site-3", "grp-3"),
    ] {
        let mut d = sample_device("prod", id, &format!("host-{id}"));
        d.account_id = Some(account.to_string());
        d.site_id = Some(site.to_string());
        d.group_id = Some(group.to_string());
        devs.push(d);
    }
    page(store, "prod", 1, &devs).await;
    let obs: Vec<_> = ["1", "2", "3", "4"]
        .iter()
        .map(|a| sample_finding(a, "CVE-2024-0001"))
        .collect();
    finding_page(store, 10, 100, 1, &obs).await;
    finding_pass(store, 10, 100, &Scope::default(), 2).await;

    // Each scope, seeing nothing, fixes exactly the findings of the devices inside it; the
    // finding of the never-stored device 4 is inside no scope but the empty one.
    let cases: [(Scope, &[&str]); 4] = [
        (
            Scope {
                site_ids: vec!["site-1".to_string()],
                ..Scope::default()
            },
            &["1"],
        ),
        (
            Scope {
                group_ids: vec!["grp-2".to_string()],
                ..Scope::default()
            },
            &["2"],
        ),
        (
            Scope {
                account_ids: vec!["acc-2".to_string()],
                site_ids: vec!["site-9".to_string()],
                ..Scope::default()
            },
            &["3"],
        ),
        (Scope::default(), &["4"]),
    ];
    let mut gone: Vec<&str> = Vec::new();
    for (n, (scope, fixed)) in cases.iter().enumerate() {
        let pass = 20 + n as i64;
        let summary = finding_pass(store, pass, pass, scope, 10 + n as i64).await;
        assert_eq!(
            summary.fixed + summary.device_removed,
            fixed.len() as u64,
            "{scope:?}"
        );
        gone.extend_from_slice(fixed);
        for o in &obs {
            let want = if !gone.contains(&o.key.agent_id.as_str()) {
                New
            } else if o.key.agent_id == "4" {
                DeviceRemoved
            } else {
                Fixed
            };
            assert_eq!(
                status_of(store, o).await,
                want,
                "agent {} after the pass scoped to {scope:?}",
                o.key.agent_id
            );
        }
    }
}

pub async fn check_finding_queue_and_filters(store: &dyn Store) {
    use FindingStatus::*;
    page(store, "prod", 1, &devices("prod", &["1", "2"])).await;
    let mk = |agent: &str, cve: &str, priority: &str, cvss: Option<f64>, kev: bool| {
        let mut o = sample_finding(agent, cve);
        o.priority = priority.to_string();
        o.cvss_score = cvss;
        o.kev = kev;
        // The flag, not a factor's name, decides `kev_only`: an informative "not in KEV"
        // factor must not count.
        let mut factors = o.factors.to_vec();
        factors.push(PriorityFactor {
            name: "kev".to_string(),
            effect: if kev { 2 } else { 0 },
            detail: if kev {
                "listed in CISA KEV"
            } else {
                "not in CISA KEV"
            }
            .to_string(),
        });
        factors.push(PriorityFactor {
            name: "epss".to_string(),
            effect: 1,
            detail: "EPSS 0.9".to_string(),
        });
        o.factors = factors.into();
        o
    };
    let a = mk("1", "CVE-2024-0001", "high", Some(7.5), false);
    let b = mk("1", "CVE-2024-0002", "critical", Some(9.8), true);
    let c = mk("2", "CVE-2024-0003", "high", Some(8.1), false);
    let d = mk("2", "CVE-2024-0004", "high", None, true);
    let e = mk("2", "CVE-2024-0005", "low", Some(3.0), false);
    let f = mk("1", "CVE-2024-0006", "info", Some(0.0), false);
    // Same priority and score: finding_id decides.
    let g = mk("2", "CVE-2024-0007", "medium", Some(5.0), false);
    let h = mk("1", "CVE-2024-0007", "medium", Some(5.0), false);
    let all = [&a, &b, &c, &d, &e, &f, &g, &h];
    let owned: Vec<FindingObservation> = all.iter().map(|o| (*o).clone()).collect();
    finding_page(store, 10, 100, 1, &owned).await;
    finding_pass(store, 10, 100, &Scope::default(), 2).await;
    // e is fixed by the next pass; the others are seen again and open.
    let seen: Vec<FindingObservation> = owned.iter().filter(|o| o.key != e.key).cloned().collect();
    finding_page(store, 11, 101, 3, &seen).await;
    finding_pass(store, 11, 101, &Scope::default(), 4).await;
    assert_eq!(status_of(store, &e).await, Fixed);
    // Another console's finding never leaks into a console filter.
    store
        .apply_finding_page(
            "lab",
            1,
            1,
            at(1),
            &[mk("1", "CVE-2024-0001", "critical", Some(10.0), true)],
            None,
        )
        .await
        .expect("lab page");

    let (gh_first, gh_second) = if g.key.finding_id("prod") < h.key.finding_id("prod") {
        (&g, &h)
    } else {
        (&h, &g)
    };
    let base = FindingFilter {
        console: Some("prod".to_string()),
        ..FindingFilter::default()
    };
    let cases: Vec<(&str, FindingFilter, Vec<&FindingObservation>)> = vec![
        (
            "everything, in queue order",
            base.clone(),
            vec![&b, &c, &a, &d, gh_first, gh_second, &e, &f],
        ),
        (
            "statuses",
            FindingFilter {
                statuses: vec![Fixed],
                ..base.clone()
            },
            vec![&e],
        ),
        (
            "active statuses",
            FindingFilter {
                statuses: vec![New, Open, Reopened],
                ..base.clone()
            },
            vec![&b, &c, &a, &d, gh_first, gh_second, &f],
        ),
        (
            "min priority high",
            FindingFilter {
                min_priority: Some("high".to_string()),
                ..base.clone()
            },
            vec![&b, &c, &a, &d],
        ),
        (
            "min priority low",
            FindingFilter {
                min_priority: Some("low".to_string()),
                ..base.clone()
            },
            vec![&b, &c, &a, &d, gh_first, gh_second, &e],
        ),
        (
            "cve id, any case",
            FindingFilter {
                cve_id: Some("cve-2024-0007".to_string()),
                ..base.clone()
            },
            vec![gh_first, gh_second],
        ),
        (
            "device by agent id",
            FindingFilter {
                device: Some("2".to_string()),
                ..base.clone()
            },
            vec![&c, &d, &g, &e],
        ),
        (
            "device by computer name, any case",
            FindingFilter {
                device: Some("HOST-1".to_string()),
                ..base.clone()
            },
            vec![&b, &a, &h, &f],
        ),
        (
            "kev only",
            FindingFilter {
                kev_only: true,
                ..base.clone()
            },
            vec![&b, &d],
        ),
        (
            "limit",
            FindingFilter {
                limit: Some(2),
                ..base.clone()
            },
            vec![&b, &c],
        ),
        (
            "filters combine",
            FindingFilter {
                kev_only: true,
                device: Some("host-2".to_string()),
                statuses: vec![Open],
                min_priority: Some("high".to_string()),
                ..base.clone()
            },
            vec![&d],
        ),
    ];
    for (what, filter, want) in cases {
        let got: Vec<String> = store
            .list_findings(&filter)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"))
            .into_iter()
            .map(|f| {
                assert_eq!(f.console, "prod", "{what}");
                f.finding_id
            })
            .collect();
        let want: Vec<String> = want.iter().map(|o| o.key.finding_id("prod")).collect();
        assert_eq!(got, want, "{what}");
    }
    let every = store
        .list_findings(&FindingFilter::default())
        .await
        .expect("no filter");
    assert_eq!(every.len(), 9, "no console filter lists every console");
    assert_eq!(every[0].console, "lab", "critical 10.0 first");
    assert!(
        store
            .list_findings(&FindingFilter {
                min_priority: Some("urgent".to_string()),
                ..base
            })
            .await
            .is_err(),
        "an unknown priority is an error, not an empty list"
    );
}

pub async fn check_finding_round_trip(store: &dyn Store) {
    let micros = |m: i64, us: i64| at(m) + Duration::microseconds(us);
    let full = FindingObservation {
        key: FindingKey {
            agent_id: "1290000000000000001".to_string(),
            application: "Google Chrome".to_string(),
            application_version: "120.0.6099.110".to_string(),
            cve_id: "CVE-2023-7024".to_string(),
        },
        computer_name: Some("WS-001".to_string()),
        application_vendor: Some("Google LLC".to_string()),
        console_row_id: Some("1850000000000000001".to_string()),
        vendor_severity: Some("HIGH".to_string()),
        cvss_score: Some(8.8),
        cvss_version: Some("3.1".to_string()),
        published_at: Some(micros(-5000, 123_456)),
        detected_at: Some(micros(-100, 1)),
        days_detected: Some(42),
        console_status: Some("Detected".to_string()),
        mark_type: Some("risk_accepted".to_string()),
        marked_by: Some("analyst@example.com".to_string()),
        marked_at: Some(micros(-10, 999_999)),
        mark_reason: Some("compensating control: \"isolated\" ünïcode".to_string()),
        extra: ExtraJson::from_value(&serde_json::json!({
            "exploitCodeMaturity": "high",
            "riskScore": 97.5,
            "nvdBaseScore": 8.8,
            "kev": {"dateAdded": "2023-12-21", "ransomware": null},
            "tags": ["a", "b"]
        })),
        priority: "critical".to_string(),
        factors: vec![
            PriorityFactor {
                name: "kev".to_string(),
                effect: 2,
                detail: "listed in CISA KEV since 2023-12-21".to_string(),
            },
            PriorityFactor {
                name: "lifecycle".to_string(),
                effect: -1,
                detail: "device is a test machine".to_string(),
            },
        ]
        .into(),
        kev: true,
    };
    let bare = sample_finding("2", "CVE-2024-0001");
    let mut bare = FindingObservation {
        computer_name: None,
        cvss_score: None,
        extra: ExtraJson::from_value(&serde_json::Value::Null),
        priority: "info".to_string(),
        ..bare.clone()
    };
    bare.key.application_version = String::new();
    finding_page(store, 1, 1, 1, &[full.clone(), bare.clone()]).await;
    for obs in [&full, &bare] {
        let f = finding(store, obs).await;
        let want = Finding {
            finding_id: obs.key.finding_id("prod"),
            console: "prod".to_string(),
            agent_id: obs.key.agent_id.clone(),
            computer_name: obs.computer_name.clone(),
            cve_id: obs.key.cve_id.clone(),
            application: obs.key.application.clone(),
            application_vendor: obs.application_vendor.clone(),
            application_version: obs.key.application_version.clone(),
            vendor_severity: obs.vendor_severity.clone(),
            cvss_score: obs.cvss_score,
            cvss_version: obs.cvss_version.clone(),
            published_at: obs.published_at,
            detected_at: obs.detected_at,
            days_detected: obs.days_detected,
            status: FindingStatus::New,
            first_seen_at: at(1),
            last_seen_at: at(1),
            fixed_at: None,
            priority: obs.priority.clone(),
            factors: obs.factors.to_vec(),
            console_row_id: obs.console_row_id.clone(),
            console_status: obs.console_status.clone(),
            mark_type: obs.mark_type.clone(),
            marked_by: obs.marked_by.clone(),
            marked_at: obs.marked_at,
            mark_reason: obs.mark_reason.clone(),
            extra: obs.extra.to_value(),
            kev: obs.kev,
        };
        assert_eq!(f, want);
    }
    // The latest observation replaces the stored one, field by field.
    let mut changed = full.clone();
    changed.cvss_score = Some(9.1);
    changed.marked_at = None;
    changed.mark_type = None;
    changed.extra = ExtraJson::from_value(&serde_json::json!({"riskScore": 12}));
    changed.factors = changed.factors[..1].into();
    changed.priority = "high".to_string();
    finding_page(store, 2, 2, 2, std::slice::from_ref(&changed)).await;
    let f = finding(store, &changed).await;
    assert_eq!(
        (
            f.cvss_score,
            f.marked_at,
            f.mark_type,
            f.extra,
            f.factors,
            f.priority
        ),
        (
            changed.cvss_score,
            None,
            None,
            changed.extra.to_value(),
            changed.factors.to_vec(),
            "high".to_string()
        )
    );
    assert_eq!((f.first_seen_at, f.last_seen_at), (at(1), at(2)));
}

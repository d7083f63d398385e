//! The scheduler with tokio's paused clock: ticks, jitter, skip-on-overlap, one run per console.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use s1bridge_config::Schedule;
use s1bridge_server::metrics::Metrics;
use s1bridge_server::runner::{
    ConsoleBackend, RunSummary, Runner, StartError, SyncFailure, Trigger,
};
use s1bridge_server::scheduler::{self, Clock, ConsolePlan};
use s1bridge_store::RunStatus;
use s1bridge_store_sqlite::SqliteStore;
use s1bridge_sync::verify::VerifyReport;
use s1bridge_sync::{Feature, ProgressSink};

/// (console, features, start) of one sync.
type Call = (String, Vec<Feature>, DateTime<Utc>);

/// A backend whose syncs take `run_for` (of tokio time) and are recorded with their start time.
struct Fake {
    clock: Clock,
    run_for: Duration,
    calls: Mutex<Vec<Call>>,
    running: Mutex<u32>,
    max_running: Mutex<u32>,
}

impl Fake {
    fn new(clock: Clock, run_for: Duration) -> Arc<Fake> {
        Arc::new(Fake {
            clock,
            run_for,
            calls: Mutex::new(Vec::new()),
            running: Mutex::new(0),
            max_running: Mutex::new(0),
        })
    }
    fn starts(&self) -> Vec<DateTime<Utc>> {
        self.calls.lock().unwrap().iter().map(|c| c.2).collect()
    }
}

#[async_trait::async_trait]
impl ConsoleBackend for Fake {
    async fn sync(
        &self,
        console: &str,
        features: &[Feature],
        _progress: ProgressSink,
    ) -> Result<RunSummary, SyncFailure> {
        let n = {
            let mut calls = self.calls.lock().unwrap();
            calls.push((console.to_string(), features.to_vec(), self.clock.now()));
            calls.len()
        };
        {
            let mut r = self.running.lock().unwrap();
            *r += 1;
            let mut m = self.max_running.lock().unwrap();
            *m = (*m).max(*r);
        }
        tokio::time::sleep(self.run_for).await;
        *self.running.lock().unwrap() -= 1;
        Ok(RunSummary {
            run_id: n as i64,
            status: RunStatus::Ok,
            features: Vec::new(),
        })
    }
    async fn verify(&self, _console: &str) -> Result<VerifyReport, String> {
        Err("not used".into())
    }
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 30).unwrap()
}

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, h, m, 0).unwrap()
}

fn setup(run_for: Duration) -> (Clock, Arc<Fake>, Arc<Runner>) {
    let clock = Clock::tokio_from(start());
    let fake = Fake::new(clock, run_for);
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let runner = Runner::new(fake.clone(), store, Arc::new(Metrics::default()));
    (clock, fake, runner)
}

fn plan(jitter: Duration, schedules: &[(Feature, &str)]) -> ConsolePlan {
    ConsolePlan {
        console: "prod".into(),
        jitter,
        schedules: schedules
            .iter()
            .map(|(f, e)| (*f, Schedule::parse(e).unwrap()))
            .collect(),
    }
}

async fn run_for(
    clock: Clock,
    runner: &Arc<Runner>,
    plans: Vec<ConsolePlan>,
    seed: u64,
    how_long: Duration,
) {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(scheduler::run(plans, runner.clone(), clock, seed, rx));
    tokio::time::sleep(how_long).await;
    tx.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn fires_on_every_tick() {
    let (clock, fake, runner) = setup(Duration::from_secs(60));
    run_for(
        clock,
        &runner,
        vec![plan(Duration::ZERO, &[(Feature::Devices, "0 * * * *")])],
        1,
        Duration::from_secs(3 * 3600 + 60),
    )
    .await;
    assert_eq!(fake.starts(), vec![at(1, 0), at(2, 0), at(3, 0)]);
    assert_eq!(runner.metrics().skipped("prod"), 0);
}

#[tokio::test(start_paused = true)]
async fn jitter_delays_each_tick_within_its_bound() {
    let (clock, fake, runner) = setup(Duration::from_secs(1));
    run_for(
        clock,
        &runner,
        vec![plan(
            Duration::from_secs(600),
            &[(Feature::Devices, "0 * * * *")],
        )],
        7,
        Duration::from_secs(6 * 3600),
    )
    .await;
    let starts = fake.starts();
    assert_eq!(starts.len(), 5, "{starts:?}");
    let offsets: Vec<i64> = starts
        .iter()
        .enumerate()
        .map(|(i, s)| (*s - at(i as u32 + 1, 0)).num_seconds())
        .collect();
    assert!(offsets.iter().all(|o| (0..=600).contains(o)), "{offsets:?}");
    assert!(
        offsets.iter().any(|o| *o != offsets[0]),
        "jitter varies between ticks: {offsets:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_tick_during_a_run_is_skipped_not_queued() {
    let (clock, fake, runner) = setup(Duration::from_secs(90 * 60));
    run_for(
        clock,
        &runner,
        vec![plan(Duration::ZERO, &[(Feature::Devices, "0 * * * *")])],
        1,
        Duration::from_secs(5 * 3600 + 60),
    )
    .await;
    assert_eq!(fake.starts(), vec![at(1, 0), at(3, 0), at(5, 0)]);
    assert_eq!(runner.metrics().skipped("prod"), 2, "02:00 and 04:00");
    assert_eq!(
        *fake.max_running.lock().unwrap(),
        1,
        "never two runs at once"
    );
}

#[tokio::test(start_paused = true)]
async fn features_due_together_share_one_run_and_manual_syncs_wait_their_turn() {
    let (clock, fake, runner) = setup(Duration::from_secs(600));
    let (tx, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(scheduler::run(
        vec![plan(
            Duration::ZERO,
            &[
                (Feature::Vulnerabilities, "0 */2 * * *"),
                (Feature::Devices, "0 * * * *"),
            ],
        )],
        runner.clone(),
        clock,
        1,
        rx,
    ));
    tokio::time::sleep(Duration::from_secs(3600 - 30 + 5)).await; // 01:00:05, inside the run
    assert!(runner.is_running("prod"));
    assert!(matches!(
        runner.try_start("prod", vec![Feature::Devices], Trigger::Manual),
        Err(StartError::Busy(_))
    ));
    tokio::time::sleep(Duration::from_secs(3600)).await; // 02:00:05
    tx.send(true).unwrap();
    task.await.unwrap();
    let calls = fake.calls.lock().unwrap().clone();
    let features: Vec<Vec<Feature>> = calls.iter().map(|c| c.1.clone()).collect();
    assert_eq!(
        features,
        vec![
            vec![Feature::Devices],
            vec![Feature::Devices, Feature::Vulnerabilities]
        ],
        "02:00 is one run of both features, devices first"
    );
    // Once the run finished, a manual sync starts.
    tokio::time::sleep(Duration::from_secs(700)).await;
    assert!(
        runner
            .try_start("prod", vec![Feature::Devices], Trigger::Manual)
            .is_ok()
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_the_grace_period_then_stops_runs() {
    let (_clock, fake, runner) = setup(Duration::from_secs(3600));
    runner
        .try_start("prod", vec![Feature::Devices], Trigger::Manual)
        .unwrap();
    tokio::task::yield_now().await;
    let before = tokio::time::Instant::now();
    runner.shutdown(Duration::from_secs(10)).await;
    assert_eq!(before.elapsed(), Duration::from_secs(10));
    assert!(!runner.is_running("prod"));
    assert_eq!(fake.calls.lock().unwrap().len(), 1);
    assert!(matches!(
        runner.try_start("prod", vec![Feature::Devices], Trigger::Manual),
        Err(StartError::ShuttingDown)
    ));
}

#[test]
fn ticks_between_merges_features_due_together_and_jitter_is_stable() {
    let at = |m: u32, s: u32| Utc.with_ymd_and_hms(2026, 1, 1, 0, m, s).unwrap();
    let plan = ConsolePlan {
        console: "lab".into(),
        jitter: Duration::from_secs(30),
        schedules: vec![
            (
                Feature::Vulnerabilities,
                Schedule::parse("*/2 * * * *").unwrap(),
            ),
            (Feature::Devices, Schedule::parse("* * * * *").unwrap()),
        ],
    };
    let ticks = scheduler::ticks_between(&plan, at(0, 0), at(3, 0));
    assert_eq!(
        ticks,
        vec![
            (at(1, 0), vec![Feature::Devices]),
            (at(2, 0), vec![Feature::Devices, Feature::Vulnerabilities]),
            (at(3, 0), vec![Feature::Devices]),
        ]
    );
    // (after, until]: the start is excluded, the end included.
    assert_eq!(
        scheduler::ticks_between(&plan, at(1, 0), at(1, 59)).len(),
        0
    );
    assert_eq!(
        scheduler::next_tick(std::slice::from_ref(&plan), at(1, 0)),
        Some(at(2, 0))
    );
    // The same console and tick give the same jitter in every process; within its bound; other
    // ticks or consoles spread out.
    let j = scheduler::stable_jitter("lab", at(2, 0), plan.jitter);
    assert_eq!(j, scheduler::stable_jitter("lab", at(2, 0), plan.jitter));
    assert!(j <= plan.jitter);
    let spread: std::collections::BTreeSet<Duration> = (0..20)
        .map(|m| scheduler::stable_jitter(&format!("c{m}"), at(m, 0), plan.jitter))
        .collect();
    assert!(spread.len() > 10, "{spread:?}");
    assert_eq!(
        scheduler::stable_jitter("lab", at(2, 0), Duration::ZERO),
        Duration::ZERO
    );
}

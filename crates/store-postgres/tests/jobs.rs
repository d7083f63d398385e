//! The job queue against the test server: enqueue idempotence, claim exclusivity under
//! concurrent claimers (one job per claim, one running job per console), lease expiry and
//! re-claim, the single scheduler lock, and NOTIFY waking an idle worker. Skips outside CI when
//! PostgreSQL is unreachable; fails in CI.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use s1bridge_store::{
    Cancelled, Enqueued, JobFilter, JobOutcome, JobQueue, JobState, NewJob, WorkerInfo,
};
use s1bridge_store_postgres::{PgJobQueue, testdb::TestDb};

fn tick(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, minute, 0).unwrap()
}

fn job(console: &str, at: DateTime<Utc>, skip_if_busy: bool) -> NewJob {
    NewJob {
        console: console.to_string(),
        features: vec!["devices".to_string()],
        scheduled_for: at,
        not_before: at,
        trigger: "schedule".to_string(),
        skip_if_busy,
    }
}

const LONG: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
async fn a_tick_is_enqueued_once_and_a_busy_console_skips_the_next() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let q = PgJobQueue::open(&db.url()).await.unwrap();
    let first = q.enqueue(&job("a", tick(0), true)).await.unwrap();
    let Enqueued::Queued(id) = first else {
        panic!("expected a queued job, got {first:?}");
    };
    // Two schedulers (or one restarted) enqueue the same tick: one row.
    assert_eq!(
        q.enqueue(&job("a", tick(0), true)).await.unwrap(),
        Enqueued::Exists(id)
    );
    // The next tick while the first is still queued: recorded as skipped, not queued behind.
    let Enqueued::Skipped(skipped) = q.enqueue(&job("a", tick(1), true)).await.unwrap() else {
        panic!("expected a skipped tick");
    };
    let s = q.get_job(skipped).await.unwrap().unwrap();
    assert_eq!(s.state, JobState::Skipped);
    assert!(s.last_error.unwrap().contains("still queued or running"));
    // An operator's request queues behind.
    assert!(matches!(
        q.enqueue(&job("a", tick(2), false)).await.unwrap(),
        Enqueued::Queued(_)
    ));
    // Another console is independent.
    assert!(matches!(
        q.enqueue(&job("b", tick(0), true)).await.unwrap(),
        Enqueued::Queued(_)
    ));
    let all = q.list_jobs(&JobFilter::default()).await.unwrap();
    assert_eq!(all.len(), 4);
    let a = q
        .list_jobs(&JobFilter {
            console: Some("a".into()),
            state: Some(JobState::Queued),
            ..JobFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(a.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_claimers_get_each_job_once_and_never_two_of_one_console() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let setup = PgJobQueue::open(&db.url()).await.unwrap();
    // 6 consoles × 4 ticks each, all due.
    for c in 0..6 {
        for t in 0..4 {
            setup
                .enqueue(&job(&format!("c{c}"), tick(t), false))
                .await
                .unwrap();
        }
    }
    // 12 claimers in 3 "processes" (separate pools) race for them all at once.
    let mut queues = Vec::new();
    for _ in 0..3 {
        queues.push(Arc::new(PgJobQueue::open(&db.url()).await.unwrap()));
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(12));
    let mut tasks = Vec::new();
    for i in 0..12 {
        let q = queues[i % 3].clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            q.claim(&format!("w{i}"), "host:1", LONG, 3).await.unwrap()
        }));
    }
    let mut claimed = Vec::new();
    for t in tasks {
        if let Some(c) = t.await.unwrap() {
            claimed.push(c);
        }
    }
    // Exactly one job per console is running: six claims, six distinct consoles.
    let consoles: BTreeSet<String> = claimed.iter().map(|c| c.job.console.clone()).collect();
    assert_eq!(claimed.len(), 6, "{claimed:#?}");
    assert_eq!(consoles.len(), 6);
    // The oldest tick of each console first.
    assert!(claimed.iter().all(|c| c.job.scheduled_for == tick(0)));
    assert!(claimed.iter().all(|c| c.job.attempts == 1));

    // Drain: claim → finish, many claimers at once; every job is done exactly once.
    for c in &claimed {
        assert!(
            setup
                .finish(
                    &c.lease,
                    &JobOutcome::Done {
                        run_id: c.job.job_id,
                        run_status: "ok".into()
                    }
                )
                .await
                .unwrap()
        );
    }
    let done = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let q = queues[i % 3].clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let worker = format!("d{i}");
            let mut idle = 0;
            while idle < 3 {
                match q.claim(&worker, "host:1", LONG, 3).await.unwrap() {
                    Some(c) => {
                        idle = 0;
                        let running = q
                            .list_jobs(&JobFilter {
                                console: Some(c.job.console.clone()),
                                state: Some(JobState::Running),
                                ..JobFilter::default()
                            })
                            .await
                            .unwrap();
                        assert_eq!(running.len(), 1, "two running jobs of {}", c.job.console);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        assert!(
                            q.finish(
                                &c.lease,
                                &JobOutcome::Done {
                                    run_id: c.job.job_id,
                                    run_status: "ok".into()
                                }
                            )
                            .await
                            .unwrap()
                        );
                        done.lock().unwrap().push(c.job.job_id);
                    }
                    None => {
                        idle += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut done = done.lock().unwrap().clone();
    done.sort();
    let before = done.len();
    done.dedup();
    assert_eq!(before, done.len(), "a job was claimed twice");
    assert_eq!(done.len(), 18);
    let all = setup.list_jobs(&JobFilter::default()).await.unwrap();
    assert_eq!(all.len(), 24);
    assert!(all.iter().all(|j| j.state == JobState::Done));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_lease_is_reclaimed_and_the_old_holder_is_refused() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let q = PgJobQueue::open(&db.url()).await.unwrap();
    q.enqueue(&job("a", tick(0), true)).await.unwrap();
    let short = Duration::from_millis(1500);
    let first = q.claim("w1", "hostA:11", short, 3).await.unwrap().unwrap();
    assert_eq!(first.took_over_from, None);
    assert!(q.set_run(&first.lease, 42).await.unwrap());
    // While the lease is live nobody else gets the job, and renewals keep it live.
    assert!(q.claim("w2", "hostB:22", short, 3).await.unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(q.renew(&first.lease, short).await.unwrap());
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(q.claim("w2", "hostB:22", short, 3).await.unwrap().is_none());
    // w1 stops renewing (killed): after the lease the job goes to w2, with w1's identity.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let second = q.claim("w2", "hostB:22", LONG, 3).await.unwrap().unwrap();
    assert_eq!(second.job.job_id, first.job.job_id);
    assert_eq!(second.job.attempts, 2);
    assert_eq!(
        second.job.run_id,
        Some(42),
        "the dead attempt's run is kept"
    );
    assert_eq!(
        second.took_over_from,
        Some(("w1".to_string(), Some("hostA:11".to_string())))
    );
    assert_eq!(second.job.worker.as_deref(), Some("w2"));
    // The old holder comes back: refused everywhere.
    assert!(!q.renew(&first.lease, short).await.unwrap());
    assert!(!q.set_run(&first.lease, 43).await.unwrap());
    let done = JobOutcome::Done {
        run_id: 43,
        run_status: "ok".into(),
    };
    assert!(!q.finish(&first.lease, &done).await.unwrap());
    assert_eq!(
        q.get_job(first.job.job_id).await.unwrap().unwrap().state,
        JobState::Running
    );
    // The new holder finishes.
    let done = JobOutcome::Done {
        run_id: 44,
        run_status: "ok".into(),
    };
    assert!(q.finish(&second.lease, &done).await.unwrap());
    let j = q.get_job(first.job.job_id).await.unwrap().unwrap();
    assert_eq!(j.state, JobState::Done);
    assert_eq!(j.run_id, Some(44));
    assert!(j.finished_at.is_some());
    // Finished jobs are not claimable.
    assert!(q.claim("w3", "h:3", LONG, 3).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_that_keeps_losing_its_worker_fails_and_a_released_one_requeues() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let q = PgJobQueue::open(&db.url()).await.unwrap();
    let Enqueued::Queued(id) = q.enqueue(&job("a", tick(0), true)).await.unwrap() else {
        panic!()
    };
    let tiny = Duration::from_millis(200);
    for attempt in 1..=2 {
        let c = q.claim("w", "h:1", tiny, 2).await.unwrap().unwrap();
        assert_eq!(c.job.attempts, attempt);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    // Two attempts used: not claimable again, and failed by the sweep.
    assert!(q.claim("w", "h:1", tiny, 2).await.unwrap().is_none());
    assert_eq!(q.fail_exhausted(2).await.unwrap(), 1);
    let j = q.get_job(id).await.unwrap().unwrap();
    assert_eq!(j.state, JobState::Failed);
    assert!(j.last_error.unwrap().contains("2 attempts"), "why is told");

    // A worker shutting down releases its job: queued again, the attempt not counted.
    let Enqueued::Queued(id) = q.enqueue(&job("b", tick(0), true)).await.unwrap() else {
        panic!()
    };
    let c = q.claim("w", "h:1", LONG, 3).await.unwrap().unwrap();
    assert_eq!(c.job.job_id, id);
    let released = JobOutcome::Released {
        why: "worker w stopped".into(),
    };
    assert!(q.finish(&c.lease, &released).await.unwrap());
    let j = q.get_job(id).await.unwrap().unwrap();
    assert_eq!((j.state, j.attempts), (JobState::Queued, 0));
    // A failure with a retry: queued again later, attempt counted.
    let c = q.claim("w2", "h:2", LONG, 3).await.unwrap().unwrap();
    let failed = JobOutcome::Failed {
        error: "token missing".into(),
        retry_after: Some(Duration::from_secs(3600)),
    };
    assert!(q.finish(&c.lease, &failed).await.unwrap());
    let j = q.get_job(id).await.unwrap().unwrap();
    assert_eq!((j.state, j.attempts), (JobState::Queued, 1));
    assert!(j.not_before > Utc::now() + chrono::Duration::minutes(50));
    assert!(q.claim("w2", "h:2", LONG, 3).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn exactly_one_scheduler_under_contention_and_a_dead_one_is_replaced() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let mut queues = Vec::new();
    for _ in 0..5 {
        queues.push(Arc::new(PgJobQueue::open(&db.url()).await.unwrap()));
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(5));
    let tasks: Vec<_> = queues
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, q)| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                (i, q.try_lead().await.unwrap())
            })
        })
        .collect();
    let mut leaders = Vec::new();
    for t in tasks {
        let (i, l) = t.await.unwrap();
        if let Some(l) = l {
            leaders.push((i, l));
        }
    }
    assert_eq!(leaders.len(), 1, "exactly one scheduler");
    let (holder, lead) = leaders.pop().unwrap();
    assert!(lead.still_held().await);
    // Nobody else, not even the same process's pool, gets it while held.
    for q in &queues {
        assert!(q.try_lead().await.unwrap().is_none());
    }
    // The holder dies (its connection closes without unlocking): another takes over.
    drop(lead);
    let mut next = None;
    for _ in 0..50 {
        for (i, q) in queues.iter().enumerate() {
            if i != holder
                && let Some(l) = q.try_lead().await.unwrap()
            {
                next = Some(l);
                break;
            }
        }
        if next.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let next = next.expect("a new scheduler after the holder died");
    assert!(queues[holder].try_lead().await.unwrap().is_none());
    // Resigning hands it over at once.
    next.resign().await;
    assert!(queues[holder].try_lead().await.unwrap().is_some());

    // Another schema (another deployment) has its own scheduler.
    let Some(other) = TestDb::create().await else {
        return;
    };
    let oq = PgJobQueue::open(&other.url()).await.unwrap();
    assert!(oq.try_lead().await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn notify_wakes_an_idle_worker_and_silence_times_out() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let worker = PgJobQueue::open(&db.url()).await.unwrap();
    let scheduler = PgJobQueue::open(&db.url()).await.unwrap();
    // Nothing announced: the wait times out.
    let mut signal = worker.work_signal().await.unwrap();
    assert!(!signal.wait(Duration::from_millis(300)).await);
    // Another deployment's announcements (another schema) do not wake us.
    let Some(other) = TestDb::create().await else {
        return;
    };
    let oq = PgJobQueue::open(&other.url()).await.unwrap();
    oq.enqueue(&job("x", tick(0), true)).await.unwrap();
    assert!(!signal.wait(Duration::from_millis(500)).await);
    // An enqueue in another process wakes the waiter long before its 30 s poll.
    let waiting = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let woken = signal.wait(Duration::from_secs(30)).await;
        (woken, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    scheduler.enqueue(&job("a", tick(0), true)).await.unwrap();
    let (woken, waited) = waiting.await.unwrap();
    assert!(woken, "the notification woke the worker");
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    // An announcement between creating the signal and waiting is not lost.
    let mut signal = worker.work_signal().await.unwrap();
    scheduler.notify().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(signal.wait(Duration::from_secs(10)).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn workers_are_listed_with_what_they_run() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let q = PgJobQueue::open(&db.url()).await.unwrap();
    // w3 promises a heartbeat every 100 ms and sends none: after three periods it is silent.
    for (w, owner, every) in [
        ("w1", "hostA:1", Duration::from_secs(20)),
        ("w2", "hostB:2", Duration::from_secs(20)),
        ("w3", "hostC:3", Duration::from_millis(100)),
    ] {
        q.register_worker(&WorkerInfo {
            worker: w.into(),
            owner: owner.into(),
            concurrency: 2,
            version: "test".into(),
            heartbeat_every: every,
        })
        .await
        .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    q.worker_heartbeat("w1", true).await.unwrap();
    assert!(q.worker_heartbeat("nobody", false).await.is_err());
    q.enqueue(&job("a", tick(0), true)).await.unwrap();
    q.enqueue(&job("b", tick(0), true)).await.unwrap();
    let c1 = q.claim("w1", "hostA:1", LONG, 3).await.unwrap().unwrap();
    let c2 = q.claim("w1", "hostA:1", LONG, 3).await.unwrap().unwrap();
    q.worker_stopped("w2").await.unwrap();
    let workers = q.list_workers(Duration::from_secs(60)).await.unwrap();
    let by: BTreeMap<_, _> = workers.iter().map(|w| (w.worker.as_str(), w)).collect();
    assert_eq!(by.len(), 3);
    let w1 = by["w1"];
    assert!(w1.scheduler);
    assert!(!w1.silent, "w1's heartbeat is fresh");
    assert!(!by["w2"].silent, "w2 stopped cleanly: stopped, not silent");
    assert!(by["w3"].silent, "w3 missed three heartbeats");
    q.worker_heartbeat("w3", false).await.unwrap();
    let workers = q.list_workers(Duration::from_secs(60)).await.unwrap();
    assert!(
        workers.iter().all(|w| !w.silent),
        "a heartbeat ends the silence: {workers:?}"
    );
    assert_eq!(w1.owner, "hostA:1");
    let mut running: Vec<&str> = w1.running.iter().map(|j| j.console.as_str()).collect();
    running.sort();
    assert_eq!(running, ["a", "b"]);
    assert!(by["w2"].stopped_at.is_some());
    assert!(by["w2"].running.is_empty());
    assert_eq!(
        c1.lease.worker, c2.lease.worker,
        "one worker may run several consoles"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn old_finished_jobs_are_pruned_but_not_live_ones_nor_a_consoles_newest() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let q = PgJobQueue::open(&db.url()).await.unwrap();
    // "a": an old done job and a newer old done one (its newest); "b": an old queued one.
    for t in [0, 1] {
        q.enqueue(&job("a", tick(t), false)).await.unwrap();
        let c = q.claim("w", "h:1", LONG, 3).await.unwrap().unwrap();
        let done = JobOutcome::Done {
            run_id: 1,
            run_status: "ok".into(),
        };
        assert!(q.finish(&c.lease, &done).await.unwrap());
    }
    let Enqueued::Queued(b) = q.enqueue(&job("b", tick(0), true)).await.unwrap() else {
        panic!()
    };
    // Nothing is old enough within a century.
    assert_eq!(
        q.prune_finished(Duration::from_secs(100 * 365 * 86400))
            .await
            .unwrap(),
        0
    );
    assert_eq!(q.prune_finished(Duration::from_secs(60)).await.unwrap(), 1);
    let left = q.list_jobs(&JobFilter::default()).await.unwrap();
    let mut ids: Vec<(String, DateTime<Utc>)> = left
        .iter()
        .map(|j| (j.console.clone(), j.scheduled_for))
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [("a".to_string(), tick(1)), ("b".to_string(), tick(0))]
    );
    assert!(q.get_job(b).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_job_fails_and_its_worker_loses_the_lease() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let q = PgJobQueue::open(&db.url()).await.unwrap();
    assert_eq!(q.cancel(4242, "test").await.unwrap(), Cancelled::NotFound);
    // Running: cancelled; the holder's renewals and finish are refused.
    q.enqueue(&job("a", tick(0), true)).await.unwrap();
    let running = q.claim("w1", "h:1", LONG, 3).await.unwrap().unwrap();
    assert_eq!(
        q.cancel(running.job.job_id, "alice").await.unwrap(),
        Cancelled::Was(JobState::Running)
    );
    assert!(!q.renew(&running.lease, LONG).await.unwrap());
    let done = JobOutcome::Done {
        run_id: 1,
        run_status: "ok".into(),
    };
    assert!(!q.finish(&running.lease, &done).await.unwrap());
    let job_a = q.get_job(running.job.job_id).await.unwrap().unwrap();
    assert_eq!(job_a.state, JobState::Failed);
    assert_eq!(job_a.last_error.as_deref(), Some("cancelled by alice"));
    assert_eq!(
        q.cancel(running.job.job_id, "alice").await.unwrap(),
        Cancelled::Finished(JobState::Failed)
    );
    // Queued: cancelled, and never claimed.
    let Enqueued::Queued(b) = q.enqueue(&job("b", tick(0), true)).await.unwrap() else {
        panic!()
    };
    assert_eq!(
        q.cancel(b, "bob").await.unwrap(),
        Cancelled::Was(JobState::Queued)
    );
    assert!(q.claim("w1", "h:1", LONG, 3).await.unwrap().is_none());
}

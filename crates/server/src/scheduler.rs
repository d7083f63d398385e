//! The scheduler: one task per console. Each of the console's features has a cron schedule; a
//! tick fires at the cron time plus a random jitter (up to the console's `jitter_seconds`), and
//! every feature due at a wake-up goes into one run. When the console's previous sync is still
//! running, the tick is skipped (counted and logged), never queued: runs do not pile up.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use s1bridge_config::Schedule;
use s1bridge_sync::Feature;

use crate::runner::{Runner, StartError, Trigger};

/// What to schedule for one console.
#[derive(Debug, Clone)]
pub struct ConsolePlan {
    pub console: String,
    pub jitter: Duration,
    pub schedules: Vec<(Feature, Schedule)>,
}

/// The scheduler's notion of now. `Wall` in production; `Tokio` follows tokio's clock from a
/// fixed start, so tests with paused time control it.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    Wall,
    Tokio {
        wall_at_start: DateTime<Utc>,
        start: tokio::time::Instant,
    },
}

impl Clock {
    /// A clock that reads `wall_at_start` now and advances with tokio's (pausable) time.
    pub fn tokio_from(wall_at_start: DateTime<Utc>) -> Clock {
        Clock::Tokio {
            wall_at_start,
            start: tokio::time::Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::Wall => Utc::now(),
            Clock::Tokio {
                wall_at_start,
                start,
            } => {
                *wall_at_start
                    + chrono::Duration::from_std(start.elapsed()).unwrap_or(chrono::Duration::MAX)
            }
        }
    }

    async fn sleep_until(&self, at: DateTime<Utc>) {
        let wait = (at - self.now()).to_std().unwrap_or(Duration::ZERO);
        tokio::time::sleep(wait).await;
    }
}

/// Run every plan until `stop` turns true. `seed` drives the jitter.
pub async fn run(
    plans: Vec<ConsolePlan>,
    runner: Arc<Runner>,
    clock: Clock,
    seed: u64,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, plan) in plans.into_iter().enumerate() {
        if plan.schedules.is_empty() {
            continue;
        }
        let runner = Arc::clone(&runner);
        let stop = stop.clone();
        let rng = fastrand::Rng::with_seed(seed.wrapping_add(i as u64));
        tasks.spawn(console_loop(plan, runner, clock, rng, stop));
    }
    while tasks.join_next().await.is_some() {}
}

struct Next {
    feature: Feature,
    schedule: Schedule,
    /// When it fires: the cron tick plus its jitter.
    at: Option<DateTime<Utc>>,
}

fn jittered(
    tick: Option<DateTime<Utc>>,
    jitter: Duration,
    rng: &mut fastrand::Rng,
) -> Option<DateTime<Utc>> {
    let max_ms = u64::try_from(jitter.as_millis()).unwrap_or(u64::MAX);
    let j = if max_ms == 0 { 0 } else { rng.u64(0..=max_ms) };
    tick.map(|t| t + chrono::Duration::milliseconds(i64::try_from(j).unwrap_or(i64::MAX)))
}

async fn console_loop(
    plan: ConsolePlan,
    runner: Arc<Runner>,
    clock: Clock,
    mut rng: fastrand::Rng,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let now = clock.now();
    let mut next: Vec<Next> = plan
        .schedules
        .iter()
        .map(|(feature, schedule)| Next {
            feature: *feature,
            schedule: schedule.clone(),
            at: jittered(schedule.next_after(now), plan.jitter, &mut rng),
        })
        .collect();
    loop {
        let Some(wake) = next.iter().filter_map(|n| n.at).min() else {
            tracing::info!(console = %plan.console, "No future schedule tick; the scheduler of this console stops.");
            return;
        };
        tokio::select! {
            _ = clock.sleep_until(wake) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        let now = clock.now();
        let mut due = Vec::new();
        for n in next.iter_mut().filter(|n| n.at.is_some_and(|at| at <= now)) {
            due.push(n.feature);
            n.at = jittered(n.schedule.next_after(now), plan.jitter, &mut rng);
        }
        if due.is_empty() {
            continue;
        }
        // Run the features in the engine's order (vulnerabilities use the device inventory).
        due.sort_by_key(|f| Feature::AVAILABLE.iter().position(|a| a == f));
        match runner.try_start(&plan.console, due.clone(), Trigger::Schedule) {
            Ok(_) => {
                tracing::info!(console = %plan.console, features = ?due, "Scheduled sync started.")
            }
            Err(StartError::Busy(_)) => {
                runner.metrics().record_skip(&plan.console, "busy");
                tracing::warn!(
                    console = %plan.console,
                    features = ?due,
                    "Skipped a scheduled sync: the previous sync of this console is still running."
                );
            }
            Err(StartError::ShuttingDown) => return,
        }
    }
}

/// The schedule ticks of `plan` in `(after, until]`, features due at the same cron time merged
/// and in the engine's order, oldest tick first. Pure: the service's scheduler and the job
/// queue's (`s1bridge worker`) compute the same ticks from the same config.
pub fn ticks_between(
    plan: &ConsolePlan,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, Vec<Feature>)> {
    let mut by_tick: std::collections::BTreeMap<DateTime<Utc>, Vec<Feature>> =
        std::collections::BTreeMap::new();
    for (feature, schedule) in &plan.schedules {
        let mut t = after;
        while let Some(next) = schedule.next_after(t) {
            if next > until {
                break;
            }
            by_tick.entry(next).or_default().push(*feature);
            t = next;
        }
    }
    by_tick
        .into_iter()
        .map(|(tick, mut features)| {
            features.sort_by_key(|f| Feature::AVAILABLE.iter().position(|a| a == f));
            features.dedup();
            (tick, features)
        })
        .collect()
}

/// A jitter for one tick of one console that every process computes alike (so a scheduler that
/// takes over enqueues the same job): uniform in `[0, jitter]`, from a hash of both.
pub fn stable_jitter(console: &str, tick: DateTime<Utc>, jitter: Duration) -> Duration {
    let max_ms = u64::try_from(jitter.as_millis()).unwrap_or(u64::MAX);
    if max_ms == 0 {
        return Duration::ZERO;
    }
    // FNV-1a: stable across builds and platforms (std's hasher is not).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in console
        .as_bytes()
        .iter()
        .chain(&tick.timestamp_millis().to_le_bytes())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut rng = fastrand::Rng::with_seed(h);
    Duration::from_millis(rng.u64(0..=max_ms))
}

/// The next cron time of any of `plans` after `after`.
pub fn next_tick(plans: &[ConsolePlan], after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    plans
        .iter()
        .flat_map(|p| p.schedules.iter())
        .filter_map(|(_, s)| s.next_after(after))
        .min()
}

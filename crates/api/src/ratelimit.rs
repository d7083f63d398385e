//! The client's own pacing: one GCRA bucket per path prefix of the [`LimitTable`], shared by
//! every clone of a `Client` (and so by every feature talking to one console).
//!
//! Acquiring a slot *reserves* it under a short lock and then sleeps until the slot's time, so
//! concurrent callers are served in the order they asked (first come, first served) and nobody
//! spins. A 429 from the console pushes the bucket's next slot past the wait it asked for, so
//! other tasks hold back too.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::limits::{Limit, LimitTable};

#[derive(Debug)]
struct Bucket {
    /// Theoretical arrival time of the next request (GCRA).
    tat: Instant,
}

/// Per-prefix GCRA limiter.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    table: LimitTable,
    buckets: Mutex<HashMap<String, Bucket>>,
}

fn interval(limit: Limit) -> Option<Duration> {
    if !limit.per_second.is_finite() || limit.per_second <= 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(1.0 / limit.per_second).ok()
}

/// The burst the client allows itself: one token less than the console's (at least 1). The
/// console meters requests when they *arrive*; a request that travels faster than the first one
/// of the burst did (which paid for connection set-up) would otherwise arrive a little early and
/// draw a 429 — and a 429 holds back every caller of that path. One interval of slack absorbs
/// that jitter for the price of one request's worth of burst.
fn usable_burst(limit: Limit) -> u32 {
    limit.burst.saturating_sub(1).max(1)
}

impl RateLimiter {
    pub(crate) fn new(table: LimitTable) -> Self {
        RateLimiter {
            table,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Reserve the next slot for `path` and return how long to wait for it (zero if now).
    fn reserve(&self, path: &str) -> Duration {
        let (key, limit) = self.table.lookup(path);
        let Some(t) = interval(limit) else {
            return Duration::ZERO;
        };
        let tau = t.saturating_mul(usable_burst(limit) - 1);
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = buckets
            .entry(key.to_string())
            .or_insert(Bucket { tat: now });
        let tat = bucket.tat.max(now);
        // The slot may be used once `tat - tau` has passed.
        let allowed = tat.checked_sub(tau).unwrap_or(now);
        bucket.tat = tat + t;
        allowed.saturating_duration_since(now)
    }

    /// Wait for a slot for `path`; returns the time waited.
    pub(crate) async fn acquire(&self, path: &str) -> Duration {
        let wait = self.reserve(path);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        wait
    }

    /// The console said to wait `delay` before calling `path`'s bucket again.
    pub(crate) fn hold_off(&self, path: &str, delay: Duration) {
        let (key, limit) = self.table.lookup(path);
        let Some(t) = interval(limit) else {
            return;
        };
        let tau = t.saturating_mul(usable_burst(limit) - 1);
        let until = Instant::now() + delay + tau;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = buckets
            .entry(key.to_string())
            .or_insert(Bucket { tat: until });
        bucket.tat = bucket.tat.max(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(prefix: &str, limit: Limit) -> LimitTable {
        let mut t = LimitTable::published();
        t.set(prefix, limit);
        t
    }

    #[tokio::test(start_paused = true)]
    async fn burst_then_paced() {
        let rl = RateLimiter::new(table("/agents", Limit::new(10.0, 3)));
        let start = Instant::now();
        let mut waits = Vec::new();
        for _ in 0..6 {
            waits.push(rl.acquire("/agents?limit=5").await);
        }
        // Burst 3 less the one token of slack: two at once, then one every 100 ms.
        assert_eq!(&waits[..2], &[Duration::ZERO; 2]);
        assert!(waits[2..].iter().all(|w| *w > Duration::ZERO));
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(399), "{elapsed:?}");
        assert!(elapsed <= Duration::from_millis(401), "{elapsed:?}");
        // Other prefixes have their own bucket.
        assert_eq!(rl.acquire("/sites").await, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_are_served_in_order_and_all_paced() {
        let rl = std::sync::Arc::new(RateLimiter::new(table("/x", Limit::new(20.0, 1))));
        let start = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..10 {
            let rl = rl.clone();
            handles.push(tokio::spawn(async move {
                rl.acquire("/x").await;
                Instant::now()
            }));
        }
        let mut done = Vec::new();
        for h in handles {
            done.push(h.await.unwrap());
        }
        done.sort();
        for pair in done.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_millis(49), "{done:?}");
        }
        assert!(start.elapsed() >= Duration::from_millis(450));
    }

    #[tokio::test(start_paused = true)]
    async fn hold_off_delays_everyone() {
        let rl = RateLimiter::new(table("/threats", Limit::new(100.0, 10)));
        rl.hold_off("/threats", Duration::from_secs(2));
        let w = rl.acquire("/threats").await;
        assert!(w >= Duration::from_millis(1999), "{w:?}");
        // Unlimited (zero rate) means no pacing.
        let rl = RateLimiter::new(table("/free", Limit::new(0.0, 1)));
        assert_eq!(rl.acquire("/free").await, Duration::ZERO);
        assert_eq!(rl.acquire("/free").await, Duration::ZERO);
    }
}

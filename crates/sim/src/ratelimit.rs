//! Token buckets per (token, path prefix), fed from the shared `LimitTable`.

use std::collections::HashMap;
use std::time::Instant;

use s1bridge_api::limits::Limit;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

#[derive(Debug, Default)]
pub(crate) struct Limiter {
    buckets: HashMap<(String, String), Bucket>,
}

impl Limiter {
    /// Take one token, or answer how many whole seconds until one is available.
    pub(crate) fn take(
        &mut self,
        who: &str,
        prefix: &str,
        limit: Limit,
        now: Instant,
    ) -> Result<(), u64> {
        let burst = f64::from(limit.burst.max(1));
        let b = self
            .buckets
            .entry((who.to_string(), prefix.to_string()))
            .or_insert(Bucket {
                tokens: burst,
                last: now,
            });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * limit.per_second).min(burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = if limit.per_second > 0.0 {
                (1.0 - b.tokens) / limit.per_second
            } else {
                60.0
            };
            Err((wait.ceil() as u64).max(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let mut l = Limiter::default();
        let t0 = Instant::now();
        let lim = Limit::new(2.0, 3);
        for _ in 0..3 {
            assert!(l.take("t", "/agents", lim, t0).is_ok());
        }
        assert_eq!(l.take("t", "/agents", lim, t0), Err(1));
        assert!(l.take("t", "/sites", lim, t0).is_ok());
        assert!(
            l.take("t", "/agents", lim, t0 + Duration::from_millis(600))
                .is_ok()
        );
    }
}

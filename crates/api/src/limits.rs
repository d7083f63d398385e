//! The published per-path rate limits of the Management API, as data (research/s1-api.md §7,
//! from the s1buildpartners Go SDK's table of "the official SentinelOne MGMT API rate-limit
//! table"; not verified against a console). Both the client (to pace itself) and the simulator
//! (to answer 429) read this one table, so they cannot disagree.
//!
//! Limits are per API token. Paths are relative to `/web/api/v2.1` and matched longest prefix
//! first; a path no entry matches gets [`DEFAULT_LIMIT`].

use serde::{Deserialize, Serialize};

/// A sustained rate and a burst, as a token bucket: `per_second` tokens are added per second up
/// to `burst`; each request takes one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limit {
    pub per_second: f64,
    pub burst: u32,
}

impl Limit {
    pub const fn new(per_second: f64, burst: u32) -> Self {
        Limit { per_second, burst }
    }
    /// The least time `n` requests can take under this limit starting with a full bucket.
    pub fn min_duration_secs(&self, n: u64) -> f64 {
        let beyond_burst = n.saturating_sub(u64::from(self.burst));
        beyond_burst as f64 / self.per_second
    }
}

/// Applied to paths not in the table. Conservative: 10 rps, burst 10.
pub const DEFAULT_LIMIT: Limit = Limit::new(10.0, 10);

/// `(path prefix, limit)`. Burst "–" in the source table is taken as 1 × rate (rounded up).
pub const PUBLISHED_LIMITS: &[(&str, Limit)] = &[
    ("/accounts", Limit::new(100.0, 10)),
    ("/sites", Limit::new(100.0, 10)),
    ("/licenses", Limit::new(10.0, 5)),
    ("/activities", Limit::new(10.0, 30)),
    ("/agents", Limit::new(25.0, 25)),
    ("/application-management/inventory", Limit::new(3.0, 3)),
    (
        "/application-management/scan",
        Limit::new(1.0 / 28_800.0, 1),
    ),
    ("/application-management", Limit::new(3.0, 3)),
    ("/cloud-detection/rules", Limit::new(0.5, 1)),
    ("/cloud-funnel", Limit::new(2.0, 10)),
    ("/dv/events/pq-ping", Limit::new(4.0, 4)),
    ("/dv/events/pq", Limit::new(4.0, 4)),
    ("/dv/init-query", Limit::new(1.0 / 60.0, 1)),
    ("/dv/query-status", Limit::new(1.0, 1)),
    ("/exclusions", Limit::new(25.0, 25)),
    ("/export", Limit::new(1.0, 30)),
    ("/hyper-automate/api", Limit::new(60.0, 60)),
    ("/identity", Limit::new(50.0, 100)),
    ("/rbac", Limit::new(50.0, 100)),
    ("/remote-ops", Limit::new(1.0, 5)),
    ("/remote-scripts", Limit::new(1.0, 30)),
    ("/service-users", Limit::new(5.0, 10)),
    ("/singularity-marketplace", Limit::new(5.0, 20)),
    ("/system/status", Limit::new(2.0, 2)),
    ("/tag-manager", Limit::new(1.0, 1)),
    ("/threat-intelligence", Limit::new(0.5, 1)),
    ("/threats", Limit::new(10.0, 50)),
    ("/update/agent/download", Limit::new(2.0 / 60.0, 1)),
    ("/upgrade-policy", Limit::new(1.0, 50)),
    ("/upload", Limit::new(1.0, 5)),
    ("/user-groups", Limit::new(15.0, 50)),
    ("/users/login", Limit::new(1.0, 1)),
    ("/users", Limit::new(40.0, 80)),
    ("/user", Limit::new(2.0, 5)),
    ("/xdr", Limit::new(25.0, 25)),
];

/// A rate-limit table: the published one, possibly with overrides from configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitTable {
    /// Sorted longest prefix first.
    entries: Vec<(String, Limit)>,
    default: Limit,
}

impl Default for LimitTable {
    fn default() -> Self {
        Self::published()
    }
}

impl LimitTable {
    pub fn published() -> Self {
        let mut t = LimitTable {
            entries: Vec::new(),
            default: DEFAULT_LIMIT,
        };
        for (p, l) in PUBLISHED_LIMITS {
            t.set(p, *l);
        }
        t
    }

    /// Override (or add) the limit of a path prefix.
    pub fn set(&mut self, prefix: &str, limit: Limit) {
        let prefix = normalise(prefix);
        if let Some(e) = self.entries.iter_mut().find(|(p, _)| *p == prefix) {
            e.1 = limit;
        } else {
            self.entries.push((prefix, limit));
        }
        self.entries
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
    }

    /// Multiply every rate (not burst) by `factor`: used by tests and benchmarks to model a
    /// faster or slower console.
    pub fn scaled(&self, factor: f64) -> Self {
        let mut t = self.clone();
        for e in &mut t.entries {
            e.1.per_second *= factor;
        }
        t.default.per_second *= factor;
        t
    }

    /// The bucket key and limit for a request path. The path may carry the `/web/api/v2.1`
    /// prefix and a query string; both are ignored.
    pub fn lookup(&self, path: &str) -> (&str, Limit) {
        let p = strip_api_prefix(path);
        for (prefix, limit) in &self.entries {
            if p == prefix
                || (p.starts_with(prefix.as_str()) && p.as_bytes().get(prefix.len()) == Some(&b'/'))
            {
                return (prefix, *limit);
            }
        }
        ("*", self.default)
    }

    pub fn entries(&self) -> impl Iterator<Item = (&str, Limit)> {
        self.entries.iter().map(|(p, l)| (p.as_str(), *l))
    }
}

/// Remove `/web/api/v2.1`, the query string and a trailing slash.
pub fn strip_api_prefix(path: &str) -> &str {
    let p = path.split('?').next().unwrap_or(path);
    let p = p.strip_prefix(crate::API_PREFIX).unwrap_or(p);
    let p = p.strip_suffix('/').unwrap_or(p);
    if p.is_empty() { "/" } else { p }
}

fn normalise(prefix: &str) -> String {
    let p = strip_api_prefix(prefix);
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_and_segments_are_respected() {
        let t = LimitTable::published();
        assert_eq!(t.lookup("/web/api/v2.1/agents?limit=1000").0, "/agents");
        assert_eq!(t.lookup("/users/login").0, "/users/login");
        assert_eq!(t.lookup("/users/api-token-details").0, "/users");
        assert_eq!(t.lookup("/user").0, "/user");
        // "/user" must not capture "/user-groups" nor "/users".
        assert_eq!(t.lookup("/user-groups").0, "/user-groups");
        assert_eq!(
            t.lookup("/application-management/inventory/endpoints").0,
            "/application-management/inventory"
        );
        assert_eq!(
            t.lookup("/application-management/risks").0,
            "/application-management"
        );
        assert_eq!(t.lookup("/system/info").0, "*");
        assert_eq!(t.lookup("/dv/events/pq-ping").0, "/dv/events/pq-ping");
    }

    #[test]
    fn overrides_replace_and_scale() {
        let mut t = LimitTable::published();
        t.set("agents", Limit::new(5.0, 1));
        assert_eq!(t.lookup("/agents").1, Limit::new(5.0, 1));
        let s = t.scaled(2.0);
        assert_eq!(s.lookup("/agents").1.per_second, 10.0);
        assert_eq!(Limit::new(25.0, 25).min_duration_secs(125), 4.0);
    }
}

//! `/metrics` in the Prometheus text format (version 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use s1bridge_api::ClientStats;

/// Counters kept by the service itself; client counters and gauges are read when rendering.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// (console, feature, outcome) → (runs, seconds)
    features: BTreeMap<(String, String, String), (u64, f64)>,
    /// (console, feature) → records
    records: BTreeMap<(String, String), u64>,
    /// (console, reason) → skipped scheduled ticks
    skipped: BTreeMap<(String, String), u64>,
    /// console → syncs that could not run at all
    failures: BTreeMap<String, u64>,
}

/// Gauges read at render time.
#[derive(Default)]
pub struct Gauges {
    /// (console, days left of its API token)
    pub token_days_left: Vec<(String, i64)>,
    /// (console, 1 when a sync runs now)
    pub running: Vec<(String, bool)>,
    /// With a job queue: its jobs per console and state.
    pub jobs: Vec<s1bridge_store::JobCount>,
    /// With a job queue: (worker, status: alive, silent or stopped, jobs it runs now).
    pub workers: Vec<(String, &'static str, usize)>,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record_feature(
        &self,
        console: &str,
        feature: &str,
        outcome: &str,
        secs: f64,
        records: u64,
    ) {
        let mut m = self.lock();
        let e = m
            .features
            .entry((console.into(), feature.into(), outcome.into()))
            .or_default();
        e.0 += 1;
        e.1 += secs;
        *m.records
            .entry((console.into(), feature.into()))
            .or_default() += records;
    }

    pub fn record_skip(&self, console: &str, reason: &str) {
        *self
            .lock()
            .skipped
            .entry((console.into(), reason.into()))
            .or_default() += 1;
    }

    pub fn record_failure(&self, console: &str) {
        *self.lock().failures.entry(console.into()).or_default() += 1;
    }

    /// Skipped ticks of a console (all reasons).
    pub fn skipped(&self, console: &str) -> u64 {
        self.lock()
            .skipped
            .iter()
            .filter(|((c, _), _)| c == console)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn render(&self, clients: &[(String, ClientStats)], gauges: &Gauges) -> String {
        let m = self.lock();
        let mut out = String::new();
        let outcome =
            |c: &str, f: &str, o: &str| labels(&[("console", c), ("feature", f), ("outcome", o)]);
        section(
            &mut out,
            "s1bridge_sync_feature_runs_total",
            "counter",
            "Feature runs by console, feature and outcome.",
            m.features
                .iter()
                .map(|((c, f, o), (runs, _))| ("", outcome(c, f, o), runs.to_string())),
        );
        section(
            &mut out,
            "s1bridge_sync_feature_duration_seconds",
            "summary",
            "Time feature runs took.",
            m.features.iter().flat_map(|((c, f, o), (runs, secs))| {
                let l = outcome(c, f, o);
                [
                    ("_sum", l.clone(), secs.to_string()),
                    ("_count", l, runs.to_string()),
                ]
            }),
        );
        section(
            &mut out,
            "s1bridge_sync_records_total",
            "counter",
            "Records synced by console and feature.",
            m.records
                .iter()
                .map(|((c, f), r)| ("", labels(&[("console", c), ("feature", f)]), r.to_string())),
        );
        section(
            &mut out,
            "s1bridge_sync_skipped_total",
            "counter",
            "Scheduled syncs skipped because the console was busy.",
            m.skipped
                .iter()
                .map(|((c, r), k)| ("", labels(&[("console", c), ("reason", r)]), k.to_string())),
        );
        section(
            &mut out,
            "s1bridge_sync_errors_total",
            "counter",
            "Syncs that could not run (token, URL or database problems).",
            m.failures
                .iter()
                .map(|(c, k)| ("", labels(&[("console", c)]), k.to_string())),
        );
        drop(m);
        section(
            &mut out,
            "s1bridge_s1_requests_total",
            "counter",
            "SentinelOne API answers by console, endpoint and HTTP status.",
            clients.iter().flat_map(|(c, st)| {
                st.by_endpoint.iter().flat_map(move |(endpoint, statuses)| {
                    statuses.iter().map(move |(status, k)| {
                        let s = status.to_string();
                        (
                            "",
                            labels(&[("console", c), ("endpoint", endpoint), ("status", &s)]),
                            k.to_string(),
                        )
                    })
                })
            }),
        );
        let per_console = |f: fn(&ClientStats) -> String| {
            clients
                .iter()
                .map(move |(c, st)| ("", labels(&[("console", c)]), f(st)))
        };
        section(
            &mut out,
            "s1bridge_s1_retries_total",
            "counter",
            "SentinelOne requests that were retries.",
            per_console(|st| st.retries.to_string()),
        );
        section(
            &mut out,
            "s1bridge_s1_rate_limited_total",
            "counter",
            "429 answers from SentinelOne.",
            per_console(|st| st.rate_limited.to_string()),
        );
        section(
            &mut out,
            "s1bridge_s1_rate_limit_wait_seconds_total",
            "counter",
            "Time spent waiting for the per-path rate limits.",
            per_console(|st| (st.throttle_wait_ms as f64 / 1000.0).to_string()),
        );
        section(
            &mut out,
            "s1bridge_token_days_left",
            "gauge",
            "Days until the console's API token expires.",
            gauges
                .token_days_left
                .iter()
                .map(|(c, d)| ("", labels(&[("console", c)]), d.to_string())),
        );
        section(
            &mut out,
            "s1bridge_sync_running",
            "gauge",
            "1 while a sync of the console runs.",
            gauges
                .running
                .iter()
                .map(|(c, r)| ("", labels(&[("console", c)]), u8::from(*r).to_string())),
        );
        if !gauges.jobs.is_empty() || !gauges.workers.is_empty() {
            section(
                &mut out,
                "s1bridge_queue_jobs",
                "gauge",
                "Jobs of the queue by console and state (serve --queue).",
                gauges.jobs.iter().map(|j| {
                    (
                        "",
                        labels(&[("console", &j.console), ("state", j.state.as_str())]),
                        j.jobs.to_string(),
                    )
                }),
            );
            section(
                &mut out,
                "s1bridge_queue_oldest_due_seconds",
                "gauge",
                "How long the console's oldest due job has waited for a worker.",
                gauges
                    .jobs
                    .iter()
                    .filter(|j| j.state == s1bridge_store::JobState::Queued)
                    .map(|j| {
                        (
                            "",
                            labels(&[("console", &j.console)]),
                            j.oldest_due_secs.to_string(),
                        )
                    }),
            );
            let mut by_status: BTreeMap<&str, usize> = ["alive", "silent", "stopped"]
                .into_iter()
                .map(|s| (s, 0))
                .collect();
            for (_, status, _) in &gauges.workers {
                *by_status.entry(status).or_default() += 1;
            }
            section(
                &mut out,
                "s1bridge_workers",
                "gauge",
                "Workers seen within the hour by status: alive, silent (no heartbeat for three \
                 periods) or stopped.",
                by_status
                    .iter()
                    .map(|(s, n)| ("", labels(&[("status", s)]), n.to_string())),
            );
            section(
                &mut out,
                "s1bridge_worker_running_jobs",
                "gauge",
                "Jobs each worker runs now.",
                gauges
                    .workers
                    .iter()
                    .map(|(w, _, n)| ("", labels(&[("worker", w)]), n.to_string())),
            );
        }
        out
    }
}

/// One metric family: its HELP and TYPE lines, then each sample as (name suffix such as `_sum`,
/// labels, value).
fn section(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    samples: impl IntoIterator<Item = (&'static str, String, String)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (suffix, labels, value) in samples {
        let _ = writeln!(out, "{name}{suffix}{labels} {value}");
    }
}

/// `{a="x",b="y"}` with label values escaped.
fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.record_feature("prod", "devices", "ok", 1.5, 100);
        m.record_feature("prod", "devices", "ok", 0.5, 20);
        m.record_skip("prod", "busy");
        let mut st = ClientStats::default();
        st.by_endpoint
            .entry("/agents".into())
            .or_default()
            .insert(200, 7);
        st.retries = 2;
        let text = m.render(
            &[("prod".into(), st)],
            &Gauges {
                token_days_left: vec![("prod".into(), 12)],
                running: vec![("prod".into(), false)],
                ..Gauges::default()
            },
        );
        for want in [
            "s1bridge_sync_feature_runs_total{console=\"prod\",feature=\"devices\",outcome=\"ok\"} 2",
            "s1bridge_sync_feature_duration_seconds_sum{console=\"prod\",feature=\"devices\",outcome=\"ok\"} 2",
            "s1bridge_sync_records_total{console=\"prod\",feature=\"devices\"} 120",
            "s1bridge_sync_skipped_total{console=\"prod\",reason=\"busy\"} 1",
            "s1bridge_s1_requests_total{console=\"prod\",endpoint=\"/agents\",status=\"200\"} 7",
            "s1bridge_s1_retries_total{console=\"prod\"} 2",
            "s1bridge_token_days_left{console=\"prod\"} 12",
            "# TYPE s1bridge_sync_running gauge",
        ] {
            assert!(text.contains(want), "missing {want} in\n{text}");
        }
        assert_eq!(labels(&[("a", "x\"y")]), "{a=\"x\\\"y\"}");
    }
}

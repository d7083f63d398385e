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
        let mut lines: Vec<String> = Vec::new();

        let n = family(
            &mut out,
            "s1bridge_sync_feature_runs_total",
            "counter",
            "Feature runs by console, feature and outcome.",
        );
        for ((c, f, o), (runs, _)) in &m.features {
            lines.push(format!(
                "{n}{} {runs}",
                labels(&[("console", c), ("feature", f), ("outcome", o)])
            ));
        }
        flush(&mut out, &mut lines);
        let n = family(
            &mut out,
            "s1bridge_sync_feature_duration_seconds",
            "summary",
            "Time feature runs took.",
        );
        for ((c, f, o), (runs, secs)) in &m.features {
            let l = labels(&[("console", c), ("feature", f), ("outcome", o)]);
            lines.push(format!("{n}_sum{l} {secs}"));
            lines.push(format!("{n}_count{l} {runs}"));
        }
        flush(&mut out, &mut lines);
        let n = family(
            &mut out,
            "s1bridge_sync_records_total",
            "counter",
            "Records synced by console and feature.",
        );
        for ((c, f), r) in &m.records {
            lines.push(format!(
                "{n}{} {r}",
                labels(&[("console", c), ("feature", f)])
            ));
        }
        flush(&mut out, &mut lines);
        let n = family(
            &mut out,
            "s1bridge_sync_skipped_total",
            "counter",
            "Scheduled syncs skipped because the console was busy.",
        );
        for ((c, r), k) in &m.skipped {
            lines.push(format!(
                "{n}{} {k}",
                labels(&[("console", c), ("reason", r)])
            ));
        }
        flush(&mut out, &mut lines);
        let n = family(
            &mut out,
            "s1bridge_sync_errors_total",
            "counter",
            "Syncs that could not run (token, URL or database problems).",
        );
        for (c, k) in &m.failures {
            lines.push(format!("{n}{} {k}", labels(&[("console", c)])));
        }
        flush(&mut out, &mut lines);
        drop(m);

        let n = family(
            &mut out,
            "s1bridge_s1_requests_total",
            "counter",
            "SentinelOne API answers by console, endpoint and HTTP status.",
        );
        for (c, st) in clients {
            for (endpoint, statuses) in &st.by_endpoint {
                for (status, k) in statuses {
                    let s = status.to_string();
                    lines.push(format!(
                        "{n}{} {k}",
                        labels(&[("console", c), ("endpoint", endpoint), ("status", &s)])
                    ));
                }
            }
        }
        flush(&mut out, &mut lines);
        let n = family(
            &mut out,
            "s1bridge_s1_retries_total",
            "counter",
            "SentinelOne requests that were retries.",
        );
        for (c, st) in clients {
            lines.push(format!("{n}{} {}", labels(&[("console", c)]), st.retries));
        }
        flush(&mut out, &mut lines);
        let n = family(
            &mut out,
            "s1bridge_s1_rate_limited_total",
            "counter",
            "429 answers from SentinelOne.",
        );
        for (c, st) in clients {
            lines.push(format!(
                "{n}{} {}",
                labels(&[("console", c)]),
                st.rate_limited
            ));
        }
        flush(&mut out, &mut lines);
        let n = family(
            &mut out,
            "s1bridge_s1_rate_limit_wait_seconds_total",
            "counter",
            "Time spent waiting for the per-path rate limits.",
        );
        for (c, st) in clients {
            lines.push(format!(
                "{n}{} {}",
                labels(&[("console", c)]),
                st.throttle_wait_ms as f64 / 1000.0
            ));
        }
        flush(&mut out, &mut lines);
        let n = family(
            &mut out,
            "s1bridge_token_days_left",
            "gauge",
            "Days until the console's API token expires.",
        );
        for (c, d) in &gauges.token_days_left {
            lines.push(format!("{n}{} {d}", labels(&[("console", c)])));
        }
        flush(&mut out, &mut lines);
        let n = family(
            &mut out,
            "s1bridge_sync_running",
            "gauge",
            "1 while a sync of the console runs.",
        );
        for (c, r) in &gauges.running {
            lines.push(format!("{n}{} {}", labels(&[("console", c)]), u8::from(*r)));
        }
        flush(&mut out, &mut lines);
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) -> String {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    name.to_string()
}

fn flush(out: &mut String, lines: &mut Vec<String>) {
    for l in lines.drain(..) {
        out.push_str(&l);
        out.push('\n');
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

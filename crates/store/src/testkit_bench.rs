//! The synthetic vulnerability findings benchmark shared by the backends' `findings_bench`
//! examples (so that both measure exactly the same work through the `Store` trait).

use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::{
    ExtraJson, FindingFilter, FindingKey, FindingObservation, FindingPassSummary, FindingStatus,
    PriorityFactor, Scope, Store,
};

const APPS: [(&str, &str); 8] = [
    ("Google Chrome", "Google"),
    ("Mozilla Firefox", "Mozilla"),
    ("Microsoft Edge", "Microsoft"),
    ("7-Zip", "Igor Pavlov"),
    ("Adobe Acrobat Reader", "Adobe"),
    ("OpenSSL", "OpenSSL Project"),
    ("Zoom", "Zoom Video Communications"),
    ("Notepad++", "Notepad++ Team"),
];
const PRIORITIES: [&str; 5] = ["critical", "high", "medium", "low", "info"];

/// Finding `n` of endpoint `agent` (deterministic; agent ids scattered like the console's).
pub fn synthetic_finding(agent: usize, n: usize, base: DateTime<Utc>) -> FindingObservation {
    // Scatter the agent ids like the console's (not monotonic).
    let agent_id =
        1_290_000_000_000_000_000u64 + (agent as u64).wrapping_mul(2_654_435_761) % 1_000_000_007;
    let (app, vendor) = APPS[n % APPS.len()];
    let i = agent * 1000 + n;
    let kev = i.is_multiple_of(17);
    let mut factors = vec![PriorityFactor {
        name: "epss".to_string(),
        effect: 1,
        detail: format!("EPSS percentile 0.{:03}", i % 1000),
    }];
    if kev {
        factors.push(PriorityFactor {
            name: "kev".to_string(),
            effect: 2,
            detail: "listed in CISA KEV".to_string(),
        });
    }
    FindingObservation {
        key: FindingKey {
            agent_id: agent_id.to_string(),
            application: app.to_string(),
            application_version: format!("{}.{}.{}", 100 + n % 7, n % 3, agent % 5),
            cve_id: format!("CVE-20{}-{:05}", 18 + n % 7, (i * 7919) % 99_999),
        },
        computer_name: Some(format!("WS-{agent:06}")),
        application_vendor: Some(vendor.to_string()),
        console_row_id: Some(format!("{}", 1_800_000_000_000_000_000u64 + i as u64)),
        vendor_severity: Some(["CRITICAL", "HIGH", "MEDIUM", "LOW"][i % 4].to_string()),
        cvss_score: Some((i % 100) as f64 / 10.0),
        cvss_version: Some("3.1".to_string()),
        published_at: Some(base - Duration::days((i % 900) as i64)),
        detected_at: Some(base - Duration::days((i % 90) as i64)),
        days_detected: Some((i % 90) as i64),
        console_status: Some("Detected".to_string()),
        mark_type: None,
        marked_by: None,
        marked_at: None,
        mark_reason: None,
        extra: ExtraJson::from_value(&serde_json::json!({
            "exploitCodeMaturity": "functional",
            "remediationLevel": "official_fix",
            "riskScore": (i % 1000) as f64 / 10.0,
            "nvdBaseScore": (i % 100) as f64 / 10.0,
        })),
        priority: PRIORITIES[i % PRIORITIES.len()].to_string(),
        kev: i.is_multiple_of(13),
        factors: factors.into(),
    }
}

/// One result line: `label`, seconds, rows/s, and `extra`.
pub fn report(label: &str, rows: usize, secs: f64, extra: &str) {
    println!(
        "{label:<28} {secs:7.3} s  {:>8.0} rows/s  {extra}",
        rows as f64 / secs
    );
}

async fn upsert_all(
    store: &dyn Store,
    console: &str,
    pass_id: i64,
    at: DateTime<Utc>,
    pages: &[Vec<FindingObservation>],
) -> [u64; 3] {
    let (mut new, mut reopened, mut updated) = (0, 0, 0);
    for page in pages {
        let stats = store
            .apply_finding_page(console, pass_id, pass_id, at, page, None)
            .await
            .expect("apply_finding_page");
        new += stats.new;
        reopened += stats.reopened;
        updated += stats.updated;
    }
    [new, reopened, updated]
}

/// The benchmark's size: `agents × per_agent` findings in pages of `page_size`, the agents
/// split over `writers` consoles written at the same time (as that many workers would).
#[derive(Debug, Clone, Copy)]
pub struct FindingsBench {
    pub agents: usize,
    pub per_agent: usize,
    pub page_size: usize,
    pub writers: usize,
}

/// One console of the benchmark and its pages.
struct Stream {
    console: String,
    pages: Vec<Vec<FindingObservation>>,
}

impl FindingsBench {
    /// `[AGENTS [PER_AGENT [PAGE [WRITERS]]]]` from the command line (default 25,000 × 40 in
    /// pages of 1,000: a million findings, one writer).
    pub fn from_args() -> Self {
        let mut args = std::env::args().skip(1);
        let mut arg = |name: &str, default: usize| -> usize {
            args.next()
                .map(|a| {
                    a.parse()
                        .unwrap_or_else(|e| panic!("{name} must be a number: {e}"))
                })
                .unwrap_or(default)
        };
        FindingsBench {
            agents: arg("AGENTS", 25_000),
            per_agent: arg("PER_AGENT", 40),
            page_size: arg("PAGE", 1_000),
            writers: arg("WRITERS", 1).max(1),
        }
    }

    /// Every stream's pages upserted (streams concurrently, each page after the other within
    /// its stream): seconds and the summed page stats.
    async fn upsert(
        store: &dyn Store,
        streams: &[Stream],
        pass_id: i64,
        at: DateTime<Utc>,
    ) -> (f64, String) {
        let start = Instant::now();
        let all = futures::future::join_all(
            streams
                .iter()
                .map(|s| upsert_all(store, &s.console, pass_id, at, &s.pages)),
        )
        .await;
        let [new, reopened, updated] = all.iter().fold([0; 3], |acc, c| {
            [acc[0] + c[0], acc[1] + c[1], acc[2] + c[2]]
        });
        (
            start.elapsed().as_secs_f64(),
            format!("({new} new, {reopened} reopened, {updated} updated)"),
        )
    }

    /// Every stream's pass completed (concurrently): seconds and the summed summary.
    async fn complete(
        store: &dyn Store,
        streams: &[Stream],
        pass_id: i64,
        at: DateTime<Utc>,
    ) -> (f64, FindingPassSummary) {
        let start = Instant::now();
        let scope = Scope::default();
        let all = futures::future::join_all(
            streams
                .iter()
                .map(|s| store.complete_finding_pass(&s.console, pass_id, pass_id, &scope, at)),
        )
        .await;
        let mut sum = FindingPassSummary::default();
        for summary in all {
            let summary = summary.expect("complete_finding_pass");
            sum.seen += summary.seen;
            sum.opened += summary.opened;
            sum.fixed += summary.fixed;
            sum.device_removed += summary.device_removed;
            sum.active += summary.active;
        }
        (start.elapsed().as_secs_f64(), sum)
    }

    /// Write the findings grouped by endpoint as the console sends them into the empty
    /// console(s) `bench` (`bench-1`… with several writers, each its own stream of pages, all
    /// at once) of `store` and complete that pass (pass 1), re-upsert them all (pass 2, every
    /// row re-stamped) and complete it (every finding `new` → `open`), repeat that for pass 3
    /// (the steady state: no status changes), and read the queue of the first console, printing
    /// a line per step. Observations are built before the clock starts. `target` names the
    /// store in the header.
    pub async fn run(&self, store: &dyn Store, target: &str) {
        let FindingsBench {
            agents,
            per_agent,
            page_size,
            writers,
        } = *self;
        let total = agents * per_agent;
        let t1 = Utc
            .with_ymd_and_hms(2025, 3, 1, 12, 0, 0)
            .single()
            .expect("valid date");
        let t2 = t1 + Duration::hours(24);
        let per_writer = agents.div_ceil(writers);
        let streams: Vec<Stream> = (0..writers)
            .map(|w| Stream {
                console: if writers == 1 {
                    "bench".to_string()
                } else {
                    format!("bench-{}", w + 1)
                },
                pages: (w * per_writer..((w + 1) * per_writer).min(agents))
                    .flat_map(|a| (0..per_agent).map(move |n| (a, n)))
                    .map(|(a, n)| synthetic_finding(a, n, t1))
                    .collect::<Vec<_>>()
                    .chunks(page_size)
                    .map(<[FindingObservation]>::to_vec)
                    .collect(),
            })
            .collect();

        println!(
            "{total} findings ({agents} agents × {per_agent}) in pages of {page_size}, {} at \
             once, {target}",
            if writers == 1 {
                "one console".to_string()
            } else {
                format!("{writers} consoles")
            }
        );
        let (first, stats) = Self::upsert(store, &streams, 1, t1).await;
        report("pass 1: insert", total, first, &stats);
        let (complete, summary) = Self::complete(store, &streams, 1, t1).await;
        report(
            "pass 1: complete",
            total,
            complete,
            &format!("(seen {}, active {})", summary.seen, summary.active),
        );
        report(
            "pass 1 end to end",
            total,
            first + complete,
            "(insert + complete)",
        );
        let (second, stats) = Self::upsert(store, &streams, 2, t2).await;
        report("pass 2: re-upsert", total, second, &stats);
        let (complete, summary) = Self::complete(store, &streams, 2, t2).await;
        report(
            "pass 2: complete",
            total,
            complete,
            &format!(
                "(seen {}, opened {}, fixed {}, device_removed {}, active {})",
                summary.seen, summary.opened, summary.fixed, summary.device_removed, summary.active
            ),
        );
        report(
            "pass 2 end to end",
            total,
            second + complete,
            "(re-upsert + complete)",
        );

        // Steady state: a pass that changes no status.
        let t3 = t2 + Duration::hours(24);
        let (third, stats) = Self::upsert(store, &streams, 3, t3).await;
        report("pass 3: re-upsert", total, third, &stats);
        let (complete, summary) = Self::complete(store, &streams, 3, t3).await;
        report(
            "pass 3: complete",
            total,
            complete,
            &format!("(seen {}, opened {})", summary.seen, summary.opened),
        );
        report(
            "pass 3 end to end",
            total,
            third + complete,
            "(re-upsert + complete)",
        );

        let first_console = Some(streams[0].console.clone());
        let start = Instant::now();
        let queue = store
            .list_findings(&FindingFilter {
                console: first_console.clone(),
                statuses: vec![FindingStatus::Open],
                limit: Some(100),
                ..FindingFilter::default()
            })
            .await
            .expect("list_findings");
        println!(
            "list_findings (top 100):     {:7.3} s  ({} findings)",
            start.elapsed().as_secs_f64(),
            queue.len()
        );
        let start = Instant::now();
        let kev = store
            .list_findings(&FindingFilter {
                console: first_console,
                kev_only: true,
                ..FindingFilter::default()
            })
            .await
            .expect("list_findings");
        println!(
            "list_findings (kev, all):    {:7.3} s  ({} findings)",
            start.elapsed().as_secs_f64(),
            kev.len()
        );
    }
}

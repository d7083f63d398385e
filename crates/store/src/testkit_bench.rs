//! The synthetic vulnerability findings benchmark shared by the backends' `findings_bench`
//! examples (so that both measure exactly the same work through the `Store` trait).

use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::{
    FindingFilter, FindingKey, FindingObservation, FindingStatus, PriorityFactor, Scope, Store,
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
        extra: serde_json::json!({
            "exploitCodeMaturity": "functional",
            "remediationLevel": "official_fix",
            "riskScore": (i % 1000) as f64 / 10.0,
            "nvdBaseScore": (i % 100) as f64 / 10.0,
        }),
        priority: PRIORITIES[i % PRIORITIES.len()].to_string(),
        kev: i.is_multiple_of(13),
        factors,
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
    pass_id: i64,
    at: DateTime<Utc>,
    pages: &[Vec<FindingObservation>],
) -> (f64, String) {
    let start = Instant::now();
    let (mut new, mut reopened, mut updated) = (0, 0, 0);
    for page in pages {
        let stats = store
            .apply_finding_page("bench", pass_id, pass_id, at, page, None)
            .await
            .expect("apply_finding_page");
        new += stats.new;
        reopened += stats.reopened;
        updated += stats.updated;
    }
    (
        start.elapsed().as_secs_f64(),
        format!("({new} new, {reopened} reopened, {updated} updated)"),
    )
}

/// The benchmark's size: `agents × per_agent` findings in pages of `page_size`.
#[derive(Debug, Clone, Copy)]
pub struct FindingsBench {
    pub agents: usize,
    pub per_agent: usize,
    pub page_size: usize,
}

impl FindingsBench {
    /// `[AGENTS [PER_AGENT [PAGE]]]` from the command line (default 25,000 × 40 in pages of
    /// 1,000: a million findings).
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
        }
    }

    /// Write the findings grouped by endpoint as the console sends them into console `bench`
    /// of an empty `store` and complete that pass (pass 1), re-upsert them all (pass 2, every
    /// row re-stamped) and complete it (every finding `new` → `open`), repeat that for pass 3
    /// (the steady state: no status changes), and read the queue, printing a line per step.
    /// Observations are built before the clock starts. `target` names the store in the header.
    pub async fn run(&self, store: &dyn Store, target: &str) {
        let FindingsBench {
            agents,
            per_agent,
            page_size,
        } = *self;
        let total = agents * per_agent;
        let t1 = Utc
            .with_ymd_and_hms(2025, 3, 1, 12, 0, 0)
            .single()
            .expect("valid date");
        let t2 = t1 + Duration::hours(24);
        let pages: Vec<Vec<FindingObservation>> = (0..agents)
            .flat_map(|a| (0..per_agent).map(move |n| (a, n)))
            .map(|(a, n)| synthetic_finding(a, n, t1))
            .collect::<Vec<_>>()
            .chunks(page_size)
            .map(<[FindingObservation]>::to_vec)
            .collect();

        println!(
            "{total} findings ({agents} agents × {per_agent}) in pages of {page_size}, {target}"
        );
        let (first, stats) = upsert_all(store, 1, t1, &pages).await;
        report("pass 1: insert", total, first, &stats);
        let start = Instant::now();
        let summary = store
            .complete_finding_pass("bench", 1, 1, &Scope::default(), t1)
            .await
            .expect("complete_finding_pass");
        let complete = start.elapsed().as_secs_f64();
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
        let (second, stats) = upsert_all(store, 2, t2, &pages).await;
        report("pass 2: re-upsert", total, second, &stats);

        let start = Instant::now();
        let summary = store
            .complete_finding_pass("bench", 2, 2, &Scope::default(), t2)
            .await
            .expect("complete_finding_pass");
        let complete = start.elapsed().as_secs_f64();
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
        let (third, stats) = upsert_all(store, 3, t3, &pages).await;
        report("pass 3: re-upsert", total, third, &stats);
        let start = Instant::now();
        let summary = store
            .complete_finding_pass("bench", 3, 3, &Scope::default(), t3)
            .await
            .expect("complete_finding_pass");
        let complete = start.elapsed().as_secs_f64();
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

        let start = Instant::now();
        let queue = store
            .list_findings(&FindingFilter {
                console: Some("bench".to_string()),
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
                console: Some("bench".to_string()),
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

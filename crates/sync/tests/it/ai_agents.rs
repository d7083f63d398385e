//! The AI agents pass against the simulator's labelled telemetry: precision and recall, both query
//! APIs, chunking and splitting, incremental coverage, and every degradation path.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration as StdDuration;

use s1bridge_api::features::Capability;
use s1bridge_sim::{DvConfig, Faults, SimConfig};
use s1bridge_store::{AiDetection, AiDetectionFilter, FeatureStatus, RunStatus, UserSource};
use s1bridge_sync::{AiQueryMethod, Feature, RunReport, SyncOptions};

use crate::{Env, small};

/// Devices + AI agents, with fast polling (the simulator answers at once).
fn opts(method: AiQueryMethod) -> SyncOptions {
    let mut o = SyncOptions::new("prod");
    o.features = vec![Feature::Devices, Feature::AiAgents];
    o.ai.method = method;
    o.ai.poll_interval = StdDuration::from_millis(1);
    o
}

async fn sync(env: &Env, o: &SyncOptions) -> RunReport {
    s1bridge_sync::run(&env.client(), env.store.clone(), o, Default::default())
        .await
        .expect("the run is recorded")
}

fn ai_outcome(r: &RunReport) -> &s1bridge_store::FeatureOutcome {
    r.features
        .iter()
        .find(|f| f.feature == "ai-agents")
        .expect("ai-agents outcome")
}

async fn detections(env: &Env) -> Vec<AiDetection> {
    env.store
        .list_ai_detections(&AiDetectionFilter {
            console: Some("prod".into()),
            ..Default::default()
        })
        .await
        .expect("list")
}

/// (precision, recall) of the stored detections against the simulator's labels, keyed by
/// (device, user, agent); a detection with the wrong version is a false positive of that key.
fn precision_recall(env: &Env, found: &[AiDetection]) -> (f64, f64) {
    let truth = env.sim.sim.ai_agent_truth();
    let expected: BTreeMap<(String, String, String), Option<String>> = truth
        .planted
        .iter()
        .map(|p| {
            (
                (p.agent_id.clone(), p.user.clone(), p.agent.clone()),
                p.version.clone(),
            )
        })
        .collect();
    let got: BTreeMap<(String, String, String), Option<String>> = found
        .iter()
        .map(|d| {
            (
                (d.agent_id.clone(), d.user.clone(), d.agent_name.clone()),
                d.version.clone(),
            )
        })
        .collect();
    let tp = got
        .iter()
        .filter(|(k, v)| expected.get(*k) == Some(*v))
        .count() as f64;
    let precision = if got.is_empty() {
        0.0
    } else {
        tp / got.len() as f64
    };
    let recall = tp / expected.len() as f64;
    for (k, v) in &got {
        if expected.get(k) != Some(v) {
            eprintln!("false positive: {k:?} version {v:?}");
        }
    }
    for (k, v) in &expected {
        if got.get(k) != Some(v) {
            eprintln!("missed: {k:?} version {v:?}");
        }
    }
    (precision, recall)
}

fn assert_perfect(env: &Env, found: &[AiDetection], label: &str) {
    let truth = env.sim.sim.ai_agent_truth();
    let (p, r) = precision_recall(env, found);
    eprintln!(
        "{label}: {} planted (device, user, agent) keys, {} decoy events, {} detections: precision {p:.3}, recall {r:.3}",
        truth.planted.len(),
        truth.decoys.len(),
        found.len()
    );
    assert_eq!((p, r), (1.0, 1.0), "{label}");
    // No decoy endpoint has any detection.
    let planted_devices: BTreeSet<&str> =
        truth.planted.iter().map(|p| p.agent_id.as_str()).collect();
    for d in &truth.decoys {
        if !planted_devices.contains(d.agent_id.as_str()) {
            assert!(
                found.iter().all(|f| f.agent_id != d.agent_id),
                "{label}: decoy '{}' on {} reported",
                d.reason,
                d.agent_id
            );
        }
    }
}

#[tokio::test]
async fn planted_agents_are_found_with_precision_and_recall_one_over_powerquery() {
    let env = Env::new(small(120)).await;
    let truth = env.sim.sim.ai_agent_truth();
    assert!(
        truth.planted.len() >= 12 && truth.decoys.len() >= 8,
        "{truth:?}"
    );
    let oses: BTreeSet<&str> = truth
        .planted
        .iter()
        .filter_map(|p| env.sim.sim.agent(&p.agent_id)?.os_type)
        .map(|o| match o.as_str() {
            "windows" => "w",
            "macos" => "m",
            _ => "l",
        })
        .collect();
    assert!(oses.len() >= 2, "planted agents on several OSes: {oses:?}");

    let r = sync(&env, &opts(AiQueryMethod::Auto)).await;
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.features);
    let ai = r.ai_agents.as_ref().expect("report");
    assert_eq!(ai.method, Some("powerquery"));
    assert_eq!(ai.chunks, 1, "one PowerQuery covers the 7 days");
    assert!(ai.notes.is_empty(), "{:?}", ai.notes);
    let found = detections(&env).await;
    assert_perfect(&env, &found, "PowerQuery");

    // Attribution: event counts, service accounts, evidence, names from the device inventory.
    for p in &truth.planted {
        let d = found
            .iter()
            .find(|d| d.agent_id == p.agent_id && d.agent_name == p.agent)
            .expect("found");
        assert_eq!(d.event_count, u64::from(p.events), "{p:?}");
        assert_eq!(d.computer_name, p.computer_name);
        assert!(!d.evidence.is_empty() && d.evidence.len() <= 3);
        assert!(d.first_seen_at <= d.last_seen_at);
        if p.service_account {
            assert_eq!(d.user_source, UserSource::DeviceLastLoggedIn, "{d:?}");
            assert_eq!(d.process_user.as_deref(), Some("ollama"));
        } else {
            assert_eq!(d.user_source, UserSource::Process);
        }
        for e in &d.evidence {
            assert!(
                !e.command_line.contains("review the diff"),
                "prompts are removed: {e:?}"
            );
        }
    }
    let reqs = env.sim.sim.stats().by_path;
    assert!(
        !reqs.contains_key("/web/api/v2.1/dv/init-query"),
        "{reqs:?}"
    );
}

#[tokio::test]
async fn deep_visibility_walks_the_state_machine_in_day_chunks_with_the_same_result() {
    let env = Env::new(small(120)).await;
    let r = sync(&env, &opts(AiQueryMethod::DeepVisibility)).await;
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.features);
    let ai = r.ai_agents.as_ref().expect("report");
    assert_eq!(ai.method, Some("deep-visibility"));
    assert!(
        (7..=8).contains(&ai.chunks),
        "UTC-day chunks: {}",
        ai.chunks
    );
    assert_eq!(ai.queries, ai.chunks);
    let stats = env.sim.sim.stats();
    let path = |p: &str| {
        stats
            .by_path
            .get(&format!("/web/api/v2.1{p}"))
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(path("/dv/init-query"), ai.chunks);
    assert!(
        path("/dv/query-status") >= 2 * ai.chunks,
        "polled until FINISHED"
    );
    assert!(
        stats.by_status.get(&409).copied().unwrap_or(0) >= ai.chunks,
        "the 409 right after FINISHED was asked again: {stats:?}"
    );
    assert_eq!(path("/dv/events/pq"), 0);
    assert_perfect(&env, &detections(&env).await, "Deep Visibility");
}

#[tokio::test]
async fn windows_that_hit_the_result_cap_are_split_and_events_deduplicated() {
    let env = Env::new(SimConfig {
        dv: DvConfig {
            result_cap: 4,
            ..DvConfig::default()
        },
        ..small(120)
    })
    .await;
    let mut o = opts(AiQueryMethod::PowerQuery);
    o.ai.result_cap = 4;
    let r = sync(&env, &o).await;
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.features);
    let ai = r.ai_agents.as_ref().expect("report");
    assert!(ai.splits >= 5, "{ai:?}");
    assert!(ai.queries > ai.splits, "{ai:?}");
    assert_eq!(ai.duplicate_events, 0);
    assert_perfect(&env, &detections(&env).await, "split PowerQuery");
}

#[tokio::test]
async fn a_later_run_queries_only_the_uncovered_time() {
    let env = Env::new(small(120)).await;
    let mut o = opts(AiQueryMethod::PowerQuery);
    let now = chrono::Utc::now();
    o.ai.now = Some(now);
    sync(&env, &o).await;
    let first = detections(&env).await;
    let cov = env
        .store
        .ai_coverage("prod")
        .await
        .expect("cov")
        .expect("set");
    assert_eq!(cov.covered_to, now - o.ai.ingest_lag);

    o.ai.now = Some(now + chrono::Duration::hours(2));
    let r = sync(&env, &o).await;
    let ai = r.ai_agents.as_ref().expect("report");
    assert_eq!(
        ai.window_from,
        Some(cov.covered_to),
        "starts where the coverage ends"
    );
    assert_eq!(ai.detections, 0, "nothing new in the last two hours");
    assert_eq!(detections(&env).await, first, "no event counted twice");
    let cov2 = env
        .store
        .ai_coverage("prod")
        .await
        .expect("cov")
        .expect("set");
    assert_eq!(cov2.covered_from, cov.covered_from);
    assert_eq!(
        cov2.covered_to,
        now + chrono::Duration::hours(2) - o.ai.ingest_lag
    );
}

#[tokio::test]
async fn dv_init_queries_are_paced_by_the_shared_limiter() {
    // 1 init-query per minute, scaled ×600 (10 per second) at the console and ×300 at the client
    // (slack for the jitter of a loaded test machine on a burst-1 limit): the client waits instead of
    // collecting 429s.
    let env = Env::new(SimConfig {
        rate_limits: true,
        rate_limit_scale: 600.0,
        ..small(60)
    })
    .await;
    let client = env.client_with(|o| {
        o.limits = s1bridge_api::limits::LimitTable::published().scaled(300.0);
    });
    let started = std::time::Instant::now();
    let r = s1bridge_sync::run(
        &client,
        env.store.clone(),
        &opts(AiQueryMethod::DeepVisibility),
        Default::default(),
    )
    .await
    .expect("run");
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.features);
    let n = r.ai_agents.as_ref().expect("report").queries;
    let limited: Vec<_> = env
        .sim
        .sim
        .request_log()
        .into_iter()
        .filter(|l| l.status == 429)
        .map(|l| l.path)
        .collect();
    assert!(limited.is_empty(), "{limited:?}");
    assert!(client.stats().throttle_wait_ms > 0);
    assert!(
        started.elapsed() >= StdDuration::from_millis((n - 1) * 200),
        "{n} init-queries at 5/s took {:?}",
        started.elapsed()
    );
}

async fn degraded(faults: Faults, method: AiQueryMethod) -> (Env, RunReport) {
    let env = Env::new(SimConfig {
        faults,
        ..small(60)
    })
    .await;
    let mut o = opts(method);
    o.ai.query_timeout = StdDuration::from_millis(300);
    let r = sync(&env, &o).await;
    (env, r)
}

#[tokio::test]
async fn without_deep_visibility_the_run_completes_and_ai_agents_is_unavailable() {
    let (env, r) = degraded(
        Faults {
            not_licensed: vec![Capability::DeepVisibility],
            ..Faults::default()
        },
        AiQueryMethod::Auto,
    )
    .await;
    assert_eq!(r.status, RunStatus::Degraded);
    assert_eq!(r.exit_code(), 3);
    assert_eq!(
        r.features[0].status,
        FeatureStatus::Ok,
        "devices still synced"
    );
    let ai = ai_outcome(&r);
    assert_eq!(ai.status, FeatureStatus::Unavailable);
    let reason = ai.reason.as_deref().unwrap_or("");
    assert!(reason.contains("Deep Visibility"), "{reason}");
    assert!(reason.contains("licen"), "{reason}");
    assert_eq!(env.stored_ids("prod").await, env.truth());
    let stored = env
        .store
        .get_run(r.run_id)
        .await
        .expect("get")
        .expect("run");
    assert!(
        stored
            .features
            .iter()
            .any(|f| f.feature == "ai-agents" && f.status == FeatureStatus::Unavailable)
    );
}

#[tokio::test]
async fn without_powerquery_auto_falls_back_to_deep_visibility_and_forced_pq_is_unavailable() {
    let pq_off = Faults {
        powerquery_not_licensed: true,
        ..Faults::default()
    };
    let (env, r) = degraded(pq_off.clone(), AiQueryMethod::Auto).await;
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.features);
    let ai = r.ai_agents.as_ref().expect("report");
    assert_eq!(ai.method, Some("deep-visibility"));
    assert!(
        ai.notes
            .iter()
            .any(|n| n.contains("PowerQuery is not usable")),
        "{:?}",
        ai.notes
    );
    assert!(
        ai_outcome(&r)
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("Deep Visibility instead")
    );
    assert_perfect(&env, &detections(&env).await, "fallback to Deep Visibility");

    let (_, r) = degraded(pq_off, AiQueryMethod::PowerQuery).await;
    assert_eq!(r.exit_code(), 3);
    assert_eq!(ai_outcome(&r).status, FeatureStatus::Unavailable);
}

#[tokio::test]
async fn every_terminal_state_of_a_dv_query_is_handled() {
    for state in [
        "FAILED",
        "FAILED_CLIENT",
        "ERROR",
        "TIMED_OUT",
        "QUERY_CANCELLED",
        "QUERY_EXPIRED",
        "QUERY_NOT_FOUND",
    ] {
        let (env, r) = degraded(
            Faults {
                dv_terminal_state: Some(state.into()),
                ..Faults::default()
            },
            AiQueryMethod::DeepVisibility,
        )
        .await;
        assert_eq!(r.exit_code(), 3, "{state}");
        let ai = ai_outcome(&r);
        assert_eq!(ai.status, FeatureStatus::Unavailable, "{state}");
        assert!(
            ai.reason.as_deref().unwrap_or("").contains(state),
            "{state}: {:?}",
            ai.reason
        );
        assert!(detections(&env).await.is_empty());
        assert_eq!(
            env.store.ai_coverage("prod").await.expect("cov"),
            None,
            "{state}"
        );
    }
    // EMPTY_RESULTS is a successful, empty answer.
    let (env, r) = degraded(
        Faults {
            dv_terminal_state: Some("EMPTY_RESULTS".into()),
            ..Faults::default()
        },
        AiQueryMethod::DeepVisibility,
    )
    .await;
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.features);
    assert!(detections(&env).await.is_empty());
    assert!(env.store.ai_coverage("prod").await.expect("cov").is_some());
    // A query that never finishes is cancelled after the timeout.
    let (env, r) = degraded(
        Faults {
            dv_terminal_state: Some("RUNNING".into()),
            ..Faults::default()
        },
        AiQueryMethod::DeepVisibility,
    )
    .await;
    let ai = ai_outcome(&r);
    assert_eq!(ai.status, FeatureStatus::Unavailable);
    assert!(
        ai.reason.as_deref().unwrap_or("").contains("cancelled"),
        "{:?}",
        ai.reason
    );
    assert!(
        env.sim
            .sim
            .stats()
            .by_path
            .contains_key("/web/api/v2.1/dv/cancel-query")
    );
}

#[tokio::test]
async fn a_failing_later_run_leaves_the_stored_detections_and_coverage_intact() {
    let env = Env::new(small(120)).await;
    let mut o = opts(AiQueryMethod::Auto);
    let now = chrono::Utc::now();
    o.ai.now = Some(now);
    sync(&env, &o).await;
    let before = detections(&env).await;
    let cov = env.store.ai_coverage("prod").await.expect("cov");
    assert!(!before.is_empty());

    env.sim.sim.set_faults(Faults {
        dv_terminal_state: Some("FAILED".into()),
        ..Faults::default()
    });
    o.ai.now = Some(now + chrono::Duration::days(1));
    let r = sync(&env, &o).await;
    assert_eq!(ai_outcome(&r).status, FeatureStatus::Unavailable);
    assert_eq!(detections(&env).await, before);
    assert_eq!(env.store.ai_coverage("prod").await.expect("cov"), cov);
}

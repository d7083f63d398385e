//! Conformance checks of the AI agent detections (re-exported by `testkit`).

use chrono::{DateTime, Duration, Utc};

use crate::testkit::{at, t0};
use crate::{AiChunk, AiDetection, AiDetectionFilter, AiEvidence, Store, StoreError, UserSource};

fn evidence(image: &str, cmd: &str) -> AiEvidence {
    AiEvidence {
        image_path: image.into(),
        command_line: cmd.into(),
        parent: Some("bash".into()),
    }
}

/// A detection seen at `first`..`last` with `n` events.
pub fn sample_detection(
    agent_id: &str,
    user: &str,
    agent: &str,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    n: u64,
) -> AiDetection {
    AiDetection {
        console: String::new(),
        agent_name: agent.into(),
        display_name: format!("{agent} (display)"),
        agent_id: agent_id.into(),
        computer_name: format!("host-{agent_id}"),
        user: user.into(),
        user_source: UserSource::Process,
        process_user: None,
        version: None,
        first_seen_at: first,
        last_seen_at: last,
        event_count: n,
        evidence: vec![evidence(
            &format!("/opt/{agent}/bin"),
            &format!("{agent} run"),
        )],
    }
}

fn chunk(from: i64, to: i64, detections: Vec<AiDetection>) -> AiChunk {
    AiChunk {
        from: at(from),
        to: at(to),
        detections,
        evict_before: at(from) - Duration::days(7),
    }
}

async fn all(store: &dyn Store, console: &str) -> Vec<AiDetection> {
    store
        .list_ai_detections(&AiDetectionFilter {
            console: Some(console.into()),
            ..Default::default()
        })
        .await
        .expect("list detections")
}

pub async fn check_ai_chunks_merge_per_device_user_agent(store: &dyn Store) {
    assert_eq!(store.ai_coverage("c").await.expect("coverage"), None);
    let mut a = sample_detection("1", "ann", "claude-code", at(10), at(20), 2);
    a.version = Some("2.1.0".into());
    let b = sample_detection("1", "bob", "claude-code", at(15), at(16), 1);
    let stats = store
        .apply_ai_chunk("c", &chunk(0, 60, vec![a.clone(), b.clone()]))
        .await
        .expect("first chunk");
    assert_eq!((stats.inserted, stats.updated), (2, 0));
    let cov = store
        .ai_coverage("c")
        .await
        .expect("coverage")
        .expect("set");
    assert_eq!((cov.covered_from, cov.covered_to), (at(0), at(60)));

    // The same key in the next chunk: merged, not duplicated.
    let mut a2 = sample_detection("1", "ann", "claude-code", at(70), at(90), 3);
    a2.version = Some("2.2.0".into());
    a2.evidence = vec![
        evidence("/opt/claude-code/bin", "claude-code run"),
        evidence("/x/2", "claude 2"),
        evidence("/x/3", "claude 3"),
    ];
    let mut a3 = a2.clone();
    a3.version = None;
    let stats = store
        .apply_ai_chunk("c", &chunk(60, 120, vec![a2]))
        .await
        .expect("second chunk");
    assert_eq!((stats.inserted, stats.updated), (0, 1));
    let got = all(store, "c").await;
    assert_eq!(got.len(), 2, "{got:?}");
    let ann = got.iter().find(|d| d.user == "ann").expect("ann");
    assert_eq!(ann.console, "c");
    assert_eq!(ann.first_seen_at, at(10));
    assert_eq!(ann.last_seen_at, at(90));
    assert_eq!(ann.event_count, 5);
    assert_eq!(ann.version.as_deref(), Some("2.2.0"));
    assert_eq!(ann.evidence.len(), crate::MAX_EVIDENCE);
    assert_eq!(
        ann.evidence[0], a.evidence[0],
        "stored samples first, no duplicates"
    );
    assert_eq!(ann.evidence[1].image_path, "/x/2");
    // A later sighting without a version keeps the stored one.
    store
        .apply_ai_chunk("c", &chunk(120, 180, vec![a3]))
        .await
        .expect("third chunk");
    let got = all(store, "c").await;
    let ann = got.iter().find(|d| d.user == "ann").expect("ann");
    assert_eq!(ann.version.as_deref(), Some("2.2.0"));
    assert_eq!(ann.event_count, 8);
    let bob = got.iter().find(|d| d.user == "bob").expect("bob");
    assert_eq!(
        bob,
        &AiDetection {
            console: "c".into(),
            ..b
        }
    );
    // Another console is separate.
    assert!(all(store, "other").await.is_empty());
    assert_eq!(store.ai_coverage("other").await.expect("coverage"), None);
}

pub async fn check_ai_coverage_refuses_overlaps_and_gaps(store: &dyn Store) {
    let d = || sample_detection("1", "ann", "codex", at(5), at(6), 1);
    store
        .apply_ai_chunk("c", &chunk(0, 60, vec![d()]))
        .await
        .expect("first");
    for (bad, why) in [
        (chunk(30, 90, vec![d()]), "overlap"),
        (chunk(61, 90, vec![d()]), "gap"),
        (chunk(60, 60, vec![d()]), "empty window"),
        (
            chunk(
                60,
                90,
                vec![sample_detection("", "ann", "codex", at(61), at(62), 1)],
            ),
            "empty agent id",
        ),
        (
            chunk(
                60,
                90,
                vec![AiDetection {
                    console: "elsewhere".into(),
                    ..d()
                }],
            ),
            "other console",
        ),
    ] {
        let e = store
            .apply_ai_chunk("c", &bad)
            .await
            .expect_err(&format!("{why} must be refused"));
        assert!(matches!(e, StoreError::Backend(_)), "{why}: {e}");
    }
    // Nothing changed.
    let cov = store.ai_coverage("c").await.expect("cov").expect("set");
    assert_eq!(cov.covered_to, at(60));
    assert_eq!(all(store, "c").await[0].event_count, 1);
    // Coverage that fell out of the window restarts where the new window starts.
    let far = t0() + Duration::days(30);
    let restart = AiChunk {
        from: far - Duration::days(7),
        to: far,
        detections: vec![],
        evict_before: far - Duration::days(7),
    };
    store.apply_ai_chunk("c", &restart).await.expect("restart");
    let cov = store.ai_coverage("c").await.expect("cov").expect("set");
    assert_eq!((cov.covered_from, cov.covered_to), (restart.from, far));
}

pub async fn check_ai_eviction_and_filters(store: &dyn Store) {
    let old = sample_detection("1", "ann", "aider", at(0), at(1), 1);
    let mut win = sample_detection("2", r"CORP\Bob", "cursor", at(2), at(3), 4);
    win.computer_name = "WS-Bob".into();
    win.user_source = UserSource::DeviceLastLoggedIn;
    win.process_user = Some(r"NT AUTHORITY\SYSTEM".into());
    let keep = sample_detection("1", "ann", "claude-code", at(4), at(50), 1);
    store
        .apply_ai_chunk("c", &chunk(0, 60, vec![old, win.clone(), keep]))
        .await
        .expect("chunk");
    let f = |agent: Option<&str>, device: Option<&str>, user: Option<&str>| AiDetectionFilter {
        console: Some("c".into()),
        agent: agent.map(str::to_string),
        device: device.map(str::to_string),
        user: user.map(str::to_string),
    };
    let names = |v: Vec<AiDetection>| v.into_iter().map(|d| d.agent_name).collect::<Vec<_>>();
    assert_eq!(
        names(
            store
                .list_ai_detections(&f(None, None, None))
                .await
                .expect("all")
        ),
        vec!["aider", "claude-code", "cursor"]
    );
    assert_eq!(
        names(
            store
                .list_ai_detections(&f(Some("CURSOR"), None, None))
                .await
                .expect("agent")
        ),
        vec!["cursor"]
    );
    assert_eq!(
        names(
            store
                .list_ai_detections(&f(None, Some("ws-bob"), None))
                .await
                .expect("name")
        ),
        vec!["cursor"]
    );
    assert_eq!(
        names(
            store
                .list_ai_detections(&f(None, Some("1"), None))
                .await
                .expect("id")
        ),
        vec!["aider", "claude-code"]
    );
    assert_eq!(
        names(
            store
                .list_ai_detections(&f(None, None, Some(r"corp\bob")))
                .await
                .expect("user")
        ),
        vec!["cursor"]
    );
    let got = store
        .list_ai_detections(&f(Some("cursor"), None, None))
        .await
        .expect("one");
    assert_eq!(
        got[0],
        AiDetection {
            console: "c".into(),
            ..win
        }
    );

    // The next chunk's window no longer holds detections last seen before evict_before.
    let stats = store
        .apply_ai_chunk(
            "c",
            &AiChunk {
                from: at(60),
                to: at(120),
                detections: vec![],
                evict_before: at(4),
            },
        )
        .await
        .expect("evicting chunk");
    assert_eq!(stats.evicted, 2);
    assert_eq!(names(all(store, "c").await), vec!["claude-code"]);
}

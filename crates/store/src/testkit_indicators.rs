//! Conformance checks of the stored indicators (re-exported by `testkit`).

use crate::testkit::at;
use crate::{IndicatorFilter, IndicatorRef, IndicatorState, IndicatorUpsert, Store};

/// One object value as a push or backfill would record it.
pub fn sample_indicator(
    target: &str,
    object_id: &str,
    kind: &str,
    value: &str,
    ours: bool,
) -> IndicatorUpsert {
    IndicatorUpsert {
        target: target.into(),
        object_id: object_id.into(),
        kind: kind.into(),
        value: value.into(),
        os_type: None,
        direction: None,
        description: Some(if ours {
            "Created by s1bridge [s1bridge]".into()
        } else {
            "analyst".into()
        }),
        ours,
        expires_at: None,
        state: None,
    }
}

async fn all(store: &dyn Store, console: &str) -> Vec<crate::StoredIndicator> {
    store
        .list_indicators(&IndicatorFilter {
            console: Some(console.into()),
            ..Default::default()
        })
        .await
        .expect("list indicators")
}

/// Insert vs update, first/last seen, state kept when none is given, one row per value of a
/// batched firewall rule, and the listing order.
pub async fn check_indicator_upsert_keeps_first_seen_and_state(store: &dyn Store) {
    let mut blocked = sample_indicator("blocklist", "11", "sha1", &"a".repeat(40), true);
    blocked.os_type = Some("windows".into());
    blocked.state = Some(IndicatorState::Created);
    blocked.expires_at = Some(at(500));
    let mut rule_a = sample_indicator("firewall", "22", "ipv4", "203.0.113.7", false);
    rule_a.direction = Some("any".into());
    let rule_b = sample_indicator("firewall", "22", "ipv4", "198.51.100.1", false);
    let stats = store
        .upsert_indicators(
            "prod",
            &[blocked.clone(), rule_a.clone(), rule_b.clone()],
            at(0),
        )
        .await
        .expect("first upsert");
    assert_eq!((stats.inserted, stats.updated), (3, 0));
    let rows = all(store, "prod").await;
    assert_eq!(rows.len(), 3);
    // Ordered by target, kind, value.
    let order: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.target.as_str(), r.value.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            ("blocklist", "a".repeat(40).as_str()),
            ("firewall", "198.51.100.1"),
            ("firewall", "203.0.113.7")
        ]
    );
    let b = &rows[0];
    assert_eq!(b.console, "prod");
    assert_eq!(b.os_type.as_deref(), Some("windows"));
    assert_eq!(b.state, IndicatorState::Created);
    assert!(b.ours);
    assert_eq!(b.expires_at, Some(at(500)));
    assert_eq!(
        (b.first_seen_at, b.last_seen_at, b.state_at),
        (at(0), at(0), at(0))
    );
    let r = &rows[2];
    assert_eq!(
        r.state,
        IndicatorState::Imported,
        "a new row without a state"
    );
    assert_eq!(r.direction.as_deref(), Some("any"));
    assert!(!r.ours);

    // Seen again without a state: last seen moves, first seen and state stay; fields update.
    let mut again = blocked.clone();
    again.state = None;
    again.description = Some("changed [s1bridge]".into());
    let stats = store
        .upsert_indicators("prod", &[again, rule_a.clone()], at(10))
        .await
        .expect("second upsert");
    assert_eq!((stats.inserted, stats.updated), (0, 2));
    let rows = all(store, "prod").await;
    assert_eq!(rows.len(), 3);
    let b = &rows[0];
    assert_eq!((b.first_seen_at, b.last_seen_at), (at(0), at(10)));
    assert_eq!((b.state, b.state_at), (IndicatorState::Created, at(0)));
    assert_eq!(b.description.as_deref(), Some("changed [s1bridge]"));
    assert_eq!(rows[1].last_seen_at, at(0), "rule_b was not seen again");

    // A given state replaces the stored one; a record repeated in one call is one row.
    let mut skipped = rule_a.clone();
    skipped.state = Some(IndicatorState::Skipped);
    let stats = store
        .upsert_indicators("prod", &[skipped.clone(), skipped], at(20))
        .await
        .expect("repeat");
    assert_eq!((stats.inserted, stats.updated), (0, 2));
    let rows = all(store, "prod").await;
    assert_eq!(
        (rows[2].state, rows[2].state_at),
        (IndicatorState::Skipped, at(20))
    );

    // Other consoles are separate; empty keys are refused and nothing is stored.
    assert!(all(store, "other").await.is_empty());
    let bad = sample_indicator("firewall", "", "ipv4", "192.0.2.1", true);
    let ok = sample_indicator("firewall", "33", "ipv4", "192.0.2.2", true);
    assert!(
        store
            .upsert_indicators("prod", &[ok, bad], at(30))
            .await
            .is_err()
    );
    assert_eq!(all(store, "prod").await.len(), 3);
}

/// States and deletions by object or by value, and the list filters.
pub async fn check_indicator_states_deletes_and_filters(store: &dyn Store) {
    let sha = "b".repeat(64);
    let mut recs = Vec::new();
    for (id, os) in [("1", "windows"), ("2", "macos"), ("3", "linux")] {
        let mut r = sample_indicator("blocklist", id, "sha256", &sha, true);
        r.os_type = Some(os.into());
        recs.push(r);
    }
    recs.push(sample_indicator(
        "firewall",
        "9",
        "domain",
        "evil.example",
        true,
    ));
    recs.push(sample_indicator(
        "firewall",
        "9",
        "domain",
        "bad.example",
        true,
    ));
    recs.push(sample_indicator(
        "firewall",
        "8",
        "domain",
        "evil.example",
        false,
    ));
    recs.push(sample_indicator(
        "ti",
        "u1",
        "domain",
        "evil.example",
        false,
    ));
    store
        .upsert_indicators("prod", &recs, at(0))
        .await
        .expect("upsert");
    store
        .upsert_indicators(
            "lab",
            &[sample_indicator("ti", "u2", "sha256", &sha, true)],
            at(0),
        )
        .await
        .expect("upsert lab");

    let list = |f: IndicatorFilter| async move { store.list_indicators(&f).await.expect("list") };
    assert_eq!(list(IndicatorFilter::default()).await.len(), 8);
    let prod = |f: IndicatorFilter| IndicatorFilter {
        console: Some("prod".into()),
        ..f
    };
    assert_eq!(
        list(prod(IndicatorFilter {
            ours: Some(true),
            ..Default::default()
        }))
        .await
        .len(),
        5
    );
    let foreign = list(prod(IndicatorFilter {
        ours: Some(false),
        ..Default::default()
    }))
    .await;
    assert_eq!(foreign.len(), 2);
    assert!(foreign.iter().all(|r| !r.ours));
    assert_eq!(
        list(prod(IndicatorFilter {
            target: Some("firewall".into()),
            kind: Some("domain".into()),
            value: Some("evil.example".into()),
            ..Default::default()
        }))
        .await
        .len(),
        2
    );
    assert_eq!(
        list(IndicatorFilter {
            kind: Some("sha256".into()),
            ..Default::default()
        })
        .await
        .len(),
        4
    );

    // A state by value (every object, one OS type) and by object.
    let by_value = IndicatorRef {
        target: "blocklist".into(),
        object_id: None,
        kind: "sha256".into(),
        value: sha.clone(),
        os_type: Some("macos".into()),
    };
    let by_object = IndicatorRef {
        target: "firewall".into(),
        object_id: Some("9".into()),
        kind: "domain".into(),
        value: "evil.example".into(),
        os_type: None,
    };
    let changed = store
        .set_indicator_states(
            "prod",
            &[
                (by_value.clone(), IndicatorState::Drifted),
                (by_object.clone(), IndicatorState::Missing),
            ],
            at(5),
        )
        .await
        .expect("states");
    assert_eq!(changed, 2);
    let drifted = list(prod(IndicatorFilter {
        state: Some(IndicatorState::Drifted),
        ..Default::default()
    }))
    .await;
    assert_eq!(drifted.len(), 1);
    assert_eq!(drifted[0].os_type.as_deref(), Some("macos"));
    assert_eq!(drifted[0].state_at, at(5));
    assert_eq!(drifted[0].last_seen_at, at(0));
    let missing = list(prod(IndicatorFilter {
        state: Some(IndicatorState::Missing),
        ..Default::default()
    }))
    .await;
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].object_id, "9");
    // `os_type: None` by value matches every OS type.
    let any_os = IndicatorRef {
        os_type: None,
        ..by_value.clone()
    };
    assert_eq!(
        store
            .set_indicator_states("prod", &[(any_os.clone(), IndicatorState::Deployed)], at(6))
            .await
            .expect("states"),
        3
    );

    // Deleting our value from rule 9 leaves its other value, the foreign rule and other consoles.
    assert_eq!(
        store
            .delete_indicators("prod", &[by_object])
            .await
            .expect("delete"),
        1
    );
    let fw = list(prod(IndicatorFilter {
        target: Some("firewall".into()),
        ..Default::default()
    }))
    .await;
    let left: Vec<(&str, &str)> = fw
        .iter()
        .map(|r| (r.object_id.as_str(), r.value.as_str()))
        .collect();
    assert_eq!(left, [("9", "bad.example"), ("8", "evil.example")]);
    assert_eq!(
        store
            .delete_indicators("prod", &[any_os])
            .await
            .expect("delete"),
        3
    );
    assert_eq!(list(prod(IndicatorFilter::default())).await.len(), 3);
    assert_eq!(
        list(IndicatorFilter {
            console: Some("lab".into()),
            ..Default::default()
        })
        .await
        .len(),
        1
    );
}

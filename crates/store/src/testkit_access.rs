//! Conformance checks of the access methods and the audit log (re-exported by `testkit`).

use chrono::Duration;
use serde_json::json;

use crate::testkit::at;
use crate::{
    AccessChangeFilter, AccessChangeKind, AccessRole, AccessScope, AccessSnapshot, AuditEntry,
    AuditFilter, Grant, Principal, PrincipalKind, ScopeType, Store, StoreError,
};

/// A principal of console `console` seen at minute `m`.
pub fn sample_principal(console: &str, id: &str, kind: PrincipalKind, m: i64) -> Principal {
    Principal {
        console: console.to_string(),
        principal_id: id.to_string(),
        principal_kind: kind,
        email: (kind == PrincipalKind::User).then(|| format!("{id}@example.com")),
        name: Some(format!("Principal {id}")),
        scope: Some("site".to_string()),
        api_token_expires_at: None,
        last_login_at: Some(at(m - 60)),
        first_seen_at: at(m),
        last_seen_at: at(m),
    }
}

/// A grant of `principal` (a user) of `role` on `scope`.
pub fn sample_grant(principal: &str, role: &str, ty: ScopeType, scope: Option<&str>) -> Grant {
    Grant {
        principal_id: principal.to_string(),
        principal_kind: PrincipalKind::User,
        email: Some(format!("{principal}@example.com")),
        principal_name: Some(format!("Principal {principal}")),
        role_id: role.to_string(),
        role_name: Some(format!("Role {role}")),
        scope_type: ty,
        scope_id: scope.map(str::to_string),
        scope_name: scope.map(|s| format!("Scope {s}")),
    }
}

fn snapshot(principals: Vec<Principal>, grants: Vec<Grant>, complete: bool) -> AccessSnapshot {
    AccessSnapshot {
        principals,
        roles: vec![AccessRole {
            role_id: "r1".into(),
            name: "Admin".into(),
            predefined: true,
            description: None,
            scope: Some("tenant".into()),
            scope_id: None,
        }],
        scopes: vec![AccessScope {
            scope_type: ScopeType::Site,
            scope_id: "s1".into(),
            name: Some("HQ".into()),
            parent_id: Some("a1".into()),
        }],
        grants,
        complete,
        synced_at: None,
    }
}

async fn changes(store: &dyn Store) -> Vec<(AccessChangeKind, String, Option<String>)> {
    store
        .list_access_changes(&AccessChangeFilter::default())
        .await
        .expect("list changes")
        .into_iter()
        .map(|c| (c.kind, c.principal_id, c.scope_id))
        .collect()
}

pub async fn check_access_baseline_then_changes(store: &dyn Store) {
    let empty = store.load_access("prod").await.expect("load");
    assert_eq!(empty.synced_at, None);
    assert!(empty.principals.is_empty() && empty.grants.is_empty());

    let u = |id: &str, m| sample_principal("prod", id, PrincipalKind::User, m);
    let first = snapshot(
        vec![u("1", 0), u("2", 0), u("3", 0)],
        vec![
            sample_grant("1", "r1", ScopeType::Site, Some("s1")),
            sample_grant("2", "r1", ScopeType::Site, Some("s1")),
            sample_grant("2", "r2", ScopeType::Site, Some("s2")),
            sample_grant("3", "r1", ScopeType::Tenant, None),
        ],
        true,
    );
    let s = store
        .apply_access_snapshot("prod", 1, at(0), &first, Duration::zero())
        .await
        .expect("first snapshot");
    assert_eq!((s.principals, s.grants, s.changes), (3, 4, 0));
    let loaded = store.load_access("prod").await.expect("load");
    assert_eq!(loaded.synced_at, Some(at(0)));
    assert!(loaded.complete);
    assert_eq!(loaded.principals, first.principals);
    assert_eq!(loaded.roles, first.roles);
    assert_eq!(loaded.scopes, first.scopes);
    let mut want = first.grants.clone();
    want.sort_by(|a, b| a.place().cmp(&b.place()));
    assert_eq!(
        loaded.grants, want,
        "grants by (principal, scope type, scope id)"
    );
    assert!(
        changes(store).await.is_empty(),
        "the first sync is the baseline"
    );

    // 1's role on s1 changes, 2 loses s2, 3 goes, 4 arrives with a grant.
    let second = snapshot(
        vec![u("1", 10), u("2", 10), u("4", 10)],
        vec![
            sample_grant("1", "r9", ScopeType::Site, Some("s1")),
            sample_grant("2", "r1", ScopeType::Site, Some("s1")),
            sample_grant("4", "r1", ScopeType::Account, Some("a1")),
        ],
        true,
    );
    let s = store
        .apply_access_snapshot("prod", 2, at(10), &second, Duration::zero())
        .await
        .expect("second snapshot");
    assert_eq!(s.changes, 5);
    let mut got = changes(store).await;
    got.sort();
    let mut want = vec![
        (AccessChangeKind::RoleChanged, "1".into(), Some("s1".into())),
        (
            AccessChangeKind::GrantRemoved,
            "2".into(),
            Some("s2".into()),
        ),
        (AccessChangeKind::PrincipalRemoved, "3".into(), None),
        (AccessChangeKind::PrincipalAdded, "4".into(), None),
        (AccessChangeKind::GrantAdded, "4".into(), Some("a1".into())),
    ];
    want.sort();
    assert_eq!(got, want);
    let all = store
        .list_access_changes(&AccessChangeFilter::default())
        .await
        .expect("list");
    let role_changed = all
        .iter()
        .find(|c| c.kind == AccessChangeKind::RoleChanged)
        .expect("role change");
    assert_eq!(role_changed.detail.as_deref(), Some("Role r1 → Role r9"));
    assert!(all.iter().all(|c| c.run_id == Some(2) && c.at == at(10)));
    assert!(all.windows(2).all(|w| w[0].change_id < w[1].change_id));

    let loaded = store.load_access("prod").await.expect("load");
    let ids: Vec<_> = loaded
        .principals
        .iter()
        .map(|p| p.principal_id.as_str())
        .collect();
    assert_eq!(ids, ["1", "2", "4"]);
    assert_eq!(
        loaded.principals[0].first_seen_at,
        at(0),
        "first_seen_at is kept"
    );
    assert_eq!(loaded.principals[0].last_seen_at, at(10));
    assert_eq!(loaded.grants.len(), 3);

    // Filters: console and since.
    let later = store
        .list_access_changes(&AccessChangeFilter {
            console: Some("prod".into()),
            since: Some(at(11)),
            limit: 0,
        })
        .await
        .expect("list");
    assert!(later.is_empty());
    let other = store
        .list_access_changes(&AccessChangeFilter {
            console: Some("lab".into()),
            ..Default::default()
        })
        .await
        .expect("list");
    assert!(other.is_empty());
    assert!(
        store
            .load_access("lab")
            .await
            .expect("load")
            .principals
            .is_empty()
    );
}

pub async fn check_access_partial_snapshot_removes_nothing(store: &dyn Store) {
    let u = |id: &str| sample_principal("prod", id, PrincipalKind::User, 0);
    let full = snapshot(
        vec![u("1"), u("2")],
        vec![
            sample_grant("1", "r1", ScopeType::Site, Some("s1")),
            sample_grant("2", "r1", ScopeType::Site, Some("s2")),
        ],
        true,
    );
    store
        .apply_access_snapshot("prod", 1, at(0), &full, Duration::zero())
        .await
        .expect("full");
    // A Site-scoped token sees only principal 1, with a new grant.
    let partial = snapshot(
        vec![u("1")],
        vec![sample_grant("1", "r1", ScopeType::Site, Some("s3"))],
        false,
    );
    store
        .apply_access_snapshot("prod", 2, at(5), &partial, Duration::zero())
        .await
        .expect("partial");
    let loaded = store.load_access("prod").await.expect("load");
    assert!(!loaded.complete);
    assert_eq!(loaded.principals.len(), 2, "nothing removed");
    assert_eq!(loaded.grants.len(), 3, "grants only added");
    assert_eq!(
        changes(store).await,
        vec![(AccessChangeKind::GrantAdded, "1".into(), Some("s3".into()))]
    );
}

pub async fn check_access_token_expiry_is_warned_once(store: &dyn Store) {
    let mut svc = sample_principal("prod", "9", PrincipalKind::ServiceUser, 0);
    svc.api_token_expires_at = Some(at(0) + Duration::days(10));
    let mut far = sample_principal("prod", "8", PrincipalKind::ServiceUser, 0);
    far.api_token_expires_at = Some(at(0) + Duration::days(90));
    let snap = snapshot(vec![svc.clone(), far], vec![], true);
    for run in 1..=2 {
        store
            .apply_access_snapshot("prod", run, at(run), &snap, Duration::days(30))
            .await
            .expect("snapshot");
    }
    let all = store
        .list_access_changes(&AccessChangeFilter::default())
        .await
        .expect("list");
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].kind, AccessChangeKind::TokenExpiring);
    assert_eq!(all[0].principal_id, "9");
    assert_eq!(all[0].detail.as_deref(), Some("2025-03-11T12:00:00Z"));
    // A renewed token that again expires soon is a new warning.
    svc.api_token_expires_at = Some(at(0) + Duration::days(20));
    let snap = snapshot(vec![svc], vec![], true);
    store
        .apply_access_snapshot("prod", 3, at(3), &snap, Duration::days(30))
        .await
        .expect("snapshot");
    let n = store
        .list_access_changes(&AccessChangeFilter::default())
        .await
        .expect("list")
        .iter()
        .filter(|c| c.kind == AccessChangeKind::TokenExpiring)
        .count();
    assert_eq!(n, 2);
}

pub async fn check_access_refuses_another_consoles_principal(store: &dyn Store) {
    let snap = snapshot(
        vec![sample_principal("lab", "1", PrincipalKind::User, 0)],
        vec![],
        true,
    );
    assert!(
        store
            .apply_access_snapshot("prod", 1, at(0), &snap, Duration::zero())
            .await
            .is_err()
    );
    assert_eq!(
        store.load_access("prod").await.expect("load").synced_at,
        None
    );
}

pub async fn check_replace_principal_grants(store: &dyn Store) {
    let p1 = sample_principal("prod", "1", PrincipalKind::User, 0);
    let snap = snapshot(
        vec![
            p1.clone(),
            sample_principal("prod", "2", PrincipalKind::User, 0),
        ],
        vec![
            sample_grant("1", "r1", ScopeType::Site, Some("s1")),
            sample_grant("2", "r1", ScopeType::Site, Some("s1")),
        ],
        true,
    );
    store
        .apply_access_snapshot("prod", 1, at(0), &snap, Duration::zero())
        .await
        .expect("snapshot");
    let mut p1b = p1.clone();
    p1b.last_seen_at = at(7);
    let recorded = store
        .replace_principal_grants(
            "prod",
            &p1b,
            &[
                sample_grant("1", "r1", ScopeType::Site, Some("s1")),
                sample_grant("1", "r2", ScopeType::Site, Some("s2")),
            ],
            at(7),
        )
        .await
        .expect("replace");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].kind, AccessChangeKind::GrantAdded);
    assert_eq!(recorded[0].run_id, None);
    assert!(recorded[0].change_id > 0);
    let loaded = store.load_access("prod").await.expect("load");
    assert_eq!(loaded.grants_of("1").len(), 2);
    assert_eq!(loaded.grants_of("2").len(), 1, "others untouched");
    assert_eq!(loaded.synced_at, Some(at(0)), "not a sync");
    assert_eq!(loaded.principals[0].first_seen_at, at(0));

    let unknown = sample_principal("prod", "77", PrincipalKind::User, 0);
    assert!(matches!(
        store
            .replace_principal_grants("prod", &unknown, &[], at(8))
            .await,
        Err(StoreError::NotFound(_))
    ));
    // Grants of another principal are refused.
    assert!(
        store
            .replace_principal_grants(
                "prod",
                &p1,
                &[sample_grant("2", "r1", ScopeType::Tenant, None)],
                at(8)
            )
            .await
            .is_err()
    );
    assert_eq!(
        store
            .load_access("prod")
            .await
            .expect("load")
            .grants_of("1")
            .len(),
        2
    );
}

fn audit(console: &str, m: i64, action: &str, result: &str) -> AuditEntry {
    AuditEntry {
        id: 0,
        console: console.to_string(),
        at: at(m),
        actor: "alice@host".into(),
        action: action.to_string(),
        target: "user 1: Admin on site:s1".into(),
        dry_run: false,
        request: json!({"method": "PUT", "path": "/web/api/v2.1/users/1", "body": {"data": {"scope": "site"}}}),
        before: json!({"grants": []}),
        after: json!({"grants": [{"role_id": "r1"}]}),
        result: result.to_string(),
        run_id: None,
    }
}

pub async fn check_audit_round_trip_and_filters(store: &dyn Store) {
    assert!(
        store
            .list_audit(&AuditFilter::default())
            .await
            .expect("list")
            .is_empty()
    );
    let a = audit("prod", 0, "access.grant", "ok");
    let id_a = store.record_audit(&a).await.expect("record");
    let id_b = store
        .record_audit(&audit("prod", 5, "access.revoke", "failed: 403"))
        .await
        .expect("record");
    let id_c = store
        .record_audit(&audit("lab", 9, "indicators.push", "noop"))
        .await
        .expect("record");
    assert!(id_a < id_b && id_b < id_c);
    let all = store
        .list_audit(&AuditFilter::default())
        .await
        .expect("list");
    let ids: Vec<_> = all.iter().map(|e| e.id).collect();
    assert_eq!(ids, [id_c, id_b, id_a], "newest first");
    let mut want = a.clone();
    want.id = id_a;
    assert_eq!(all[2], want, "round trip");

    let f = |console: Option<&str>, since: Option<i64>, action: Option<&str>, limit| AuditFilter {
        console: console.map(str::to_string),
        since: since.map(at),
        action: action.map(str::to_string),
        limit,
    };
    let count = |v: Vec<AuditEntry>| v.len();
    assert_eq!(
        count(
            store
                .list_audit(&f(Some("prod"), None, None, 0))
                .await
                .expect("list")
        ),
        2
    );
    assert_eq!(
        count(
            store
                .list_audit(&f(None, Some(5), None, 0))
                .await
                .expect("list")
        ),
        2
    );
    assert_eq!(
        count(
            store
                .list_audit(&f(None, None, Some("access"), 0))
                .await
                .expect("list")
        ),
        2
    );
    assert_eq!(
        count(
            store
                .list_audit(&f(None, None, Some("access.grant"), 0))
                .await
                .expect("list")
        ),
        1
    );
    assert_eq!(
        count(
            store
                .list_audit(&f(None, None, Some("acc"), 0))
                .await
                .expect("list")
        ),
        0
    );
    let limited = store
        .list_audit(&f(None, None, None, 1))
        .await
        .expect("list");
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0].id, id_c);
    // An entry without console or action is refused.
    assert!(
        store
            .record_audit(&audit("", 0, "access.grant", "ok"))
            .await
            .is_err()
    );
}

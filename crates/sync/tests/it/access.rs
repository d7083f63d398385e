//! The access pass: scope-exact grants, one record per principal, the Site-scoped token
//! fallback, change events between syncs, failures that store nothing, and grant/revoke.

use std::collections::HashSet;
use std::sync::Arc;

use s1bridge_api::access::{PrincipalKind as ApiKind, PrincipalUpdate, ScopeRoleUpdate};
use s1bridge_api::wire::{Envelope, ServiceUser};
use s1bridge_sim::{Faults, SimConfig};
use s1bridge_store::{
    AccessChangeFilter, AccessChangeKind, AuditFilter, FeatureStatus, RunStatus, ScopeType,
};
use s1bridge_sync::provision::{Action, ProvisionError, ProvisionRequest, provision};
use s1bridge_sync::{Feature, SyncOptions};

use crate::Env;

fn cfg(faults: Faults) -> SimConfig {
    SimConfig {
        accounts: 2,
        sites_per_account: 2,
        agents: 20,
        users: 40,
        service_users: 4,
        faults,
        ..SimConfig::default()
    }
}

fn access_only() -> SyncOptions {
    let mut o = SyncOptions::new("c");
    o.features = vec![Feature::Access];
    o
}

async fn sync(env: &Env) -> s1bridge_sync::RunReport {
    s1bridge_sync::run(
        &env.client(),
        env.store.clone(),
        &access_only(),
        Default::default(),
    )
    .await
    .expect("the run is recorded")
}

async fn all_changes(env: &Env) -> Vec<s1bridge_store::AccessChange> {
    env.store
        .list_access_changes(&AccessChangeFilter::default())
        .await
        .expect("list changes")
}

#[test]
fn the_service_user_sample_gives_a_scope_exact_grant() {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/s1-samples/service-users-list.demisto.json");
    let env: Envelope<Vec<ServiceUser>> =
        serde_json::from_slice(&std::fs::read(&p).expect("sample")).expect("parses");
    let dir = s1bridge_store::AccessSnapshot::default();
    let (p, grants) =
        s1bridge_sync::access::service_user_record("c", &env.data[0], chrono::Utc::now(), &dir);
    assert_eq!(p.principal_id, "123456");
    assert_eq!(
        p.api_token_expires_at.map(|t| t.to_rfc3339()),
        Some("2025-03-01T10:12:08+00:00".to_string())
    );
    assert_eq!(grants.len(), 1);
    let g = &grants[0];
    assert_eq!(
        (
            g.role_id.as_str(),
            g.role_name.as_deref(),
            g.scope_type,
            g.scope_id.as_deref(),
            g.scope_name.as_deref()
        ),
        (
            "999999999",
            Some("Admin"),
            ScopeType::Site,
            Some("0101010101010"),
            Some("Default site")
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn grants_are_scope_exact_and_principals_are_not_duplicated() {
    let env = Env::new(cfg(Faults::default())).await;
    let r = sync(&env).await;
    assert_eq!(r.status, RunStatus::Ok, "{:?}", r.features);
    let snap = env.store.load_access("c").await.unwrap();
    let users = env.sim.sim.users();
    let svcs = env.sim.sim.service_users();
    assert_eq!(snap.principals.len(), users.len() + svcs.len());
    let ids: HashSet<_> = snap.principals.iter().map(|p| &p.principal_id).collect();
    assert_eq!(ids.len(), snap.principals.len(), "a principal stored twice");
    // Every scopeRoles entry of the console is one grant with its exact scope id.
    let expected: usize = users.iter().map(|u| u.scope_roles.len()).sum::<usize>()
        + svcs.iter().map(|u| u.scope_roles.len()).sum::<usize>();
    assert_eq!(snap.grants.len(), expected);
    for u in &users {
        for sr in &u.scope_roles {
            let g = snap
                .grants
                .iter()
                .find(|g| g.principal_id == u.id && g.scope_id == sr.id)
                .unwrap_or_else(|| panic!("no grant for {} on {:?}", u.id, sr.id));
            assert_eq!(Some(&g.role_id), sr.role_id.as_ref());
            let want = match u.scope.as_deref() {
                Some("site") => ScopeType::Site,
                Some("account") => ScopeType::Account,
                _ => ScopeType::Tenant,
            };
            assert_eq!(g.scope_type, want);
        }
    }
    assert_eq!(snap.roles.len(), 4);
    assert_eq!(
        snap.scopes
            .iter()
            .filter(|s| s.scope_type == ScopeType::Site)
            .count(),
        4
    );
    // The first sync is the baseline: no added/removed events.
    let changes = all_changes(&env).await;
    assert!(
        changes
            .iter()
            .all(|c| c.kind == AccessChangeKind::TokenExpiring),
        "{changes:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_site_scoped_token_falls_back_is_partial_and_removes_nothing() {
    let env = Env::new(cfg(Faults::default())).await;
    assert_eq!(sync(&env).await.status, RunStatus::Ok);
    let before = env.store.load_access("c").await.unwrap();

    env.sim.sim.set_faults(Faults {
        site_scoped_token: true,
        ..Faults::default()
    });
    let r = sync(&env).await;
    assert_eq!(r.status, RunStatus::Degraded);
    assert_eq!(r.exit_code(), 3);
    let f = &r.features[0];
    assert_eq!(f.status, FeatureStatus::Partial, "{f:?}");
    assert!(
        f.reason
            .as_deref()
            .unwrap_or("")
            .contains("cannot list accounts"),
        "{f:?}"
    );
    let a = r.access.as_ref().unwrap();
    assert_eq!(a.accounts, 0);
    assert_eq!(a.sites, 1);
    // Only principals holding a role on the token's site were listed…
    let site = env.sim.sim.sites()[0].id.clone();
    assert!(a.users < 40);
    // …and nothing seen before was dropped or reported removed.
    let after = env.store.load_access("c").await.unwrap();
    assert_eq!(after.principals.len(), before.principals.len());
    assert_eq!(after.grants, before.grants);
    assert!(!after.complete);
    let changes = all_changes(&env).await;
    assert!(
        !changes.iter().any(|c| matches!(
            c.kind,
            AccessChangeKind::PrincipalRemoved | AccessChangeKind::GrantRemoved
        )),
        "{changes:?}"
    );
    assert!(
        after
            .grants
            .iter()
            .any(|g| g.scope_id.as_deref() == Some(&*site))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_pass_stores_nothing() {
    let env = Env::new(cfg(Faults::default())).await;
    assert_eq!(sync(&env).await.status, RunStatus::Ok);
    let before = env.store.load_access("c").await.unwrap();
    // The users listing (after accounts, sites, groups and roles: one page each) breaks.
    let served = env.sim.sim.stats().requests;
    env.sim.sim.set_faults(Faults {
        fail_after_requests: Some(served + 4),
        ..Faults::default()
    });
    let r = sync(&env).await;
    assert_eq!(r.status, RunStatus::Failed);
    let after = env.store.load_access("c").await.unwrap();
    assert_eq!(after, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_between_syncs_are_recorded() {
    let env = Env::new(cfg(Faults::default())).await;
    assert_eq!(sync(&env).await.status, RunStatus::Ok);
    let users = env.sim.sim.users();
    let roles = env.sim.sim.roles();
    let sites = env.sim.sim.sites();
    // A site user gets another role on its site, and another site user a second site.
    let site_users: Vec<_> = users
        .iter()
        .filter(|u| u.scope.as_deref() == Some("site"))
        .collect();
    let (a, b) = (site_users[0], site_users[1]);
    let a_site = a.scope_roles[0].id.clone().unwrap();
    let a_old = a.scope_roles[0].role_id.clone().unwrap();
    let new_role = roles.iter().find(|r| r.id != a_old).unwrap().id.clone();
    let client = env.client();
    client
        .update_principal_roles(
            ApiKind::User,
            &a.id,
            &PrincipalUpdate {
                scope: "site".into(),
                scope_roles: vec![ScopeRoleUpdate {
                    id: Some(a_site.clone()),
                    role_id: new_role.clone(),
                }],
            },
        )
        .await
        .unwrap();
    let b_site = b.scope_roles[0].id.clone().unwrap();
    let other_site = sites.iter().find(|s| s.id != b_site).unwrap().id.clone();
    client
        .update_principal_roles(
            ApiKind::User,
            &b.id,
            &PrincipalUpdate {
                scope: "site".into(),
                scope_roles: vec![
                    ScopeRoleUpdate {
                        id: Some(b_site.clone()),
                        role_id: b.scope_roles[0].role_id.clone().unwrap(),
                    },
                    ScopeRoleUpdate {
                        id: Some(other_site.clone()),
                        role_id: new_role.clone(),
                    },
                ],
            },
        )
        .await
        .unwrap();
    let r = sync(&env).await;
    assert_eq!(r.status, RunStatus::Ok);
    assert_eq!(r.access.as_ref().unwrap().changes, 2);
    let changes: Vec<_> = all_changes(&env)
        .await
        .into_iter()
        .filter(|c| c.kind != AccessChangeKind::TokenExpiring)
        .collect();
    assert_eq!(changes.len(), 2, "{changes:?}");
    let changed = changes
        .iter()
        .find(|c| c.kind == AccessChangeKind::RoleChanged)
        .unwrap();
    assert_eq!(changed.principal_id, a.id);
    assert_eq!(changed.scope_id.as_deref(), Some(&*a_site));
    assert_eq!(changed.role_id.as_deref(), Some(&*new_role));
    let added = changes
        .iter()
        .find(|c| c.kind == AccessChangeKind::GrantAdded)
        .unwrap();
    assert_eq!(
        (added.principal_id.as_str(), added.scope_id.as_deref()),
        (b.id.as_str(), Some(&*other_site))
    );
    assert!(added.run_id.is_some());
    // Token warnings are raised once per expiry, not at every sync.
    let warnings = |all: &[s1bridge_store::AccessChange]| {
        all.iter()
            .filter(|c| c.kind == AccessChangeKind::TokenExpiring)
            .count()
    };
    let all = all_changes(&env).await;
    let n = warnings(&all);
    assert!(n > 0, "the sim's service user tokens expire within 30 days");
    sync(&env).await;
    let all = all_changes(&env).await;
    assert_eq!(warnings(&all), n);
}

#[tokio::test(flavor = "multi_thread")]
async fn grant_and_revoke_verify_audit_and_refuse_what_they_should() {
    let env = Env::new(cfg(Faults::default())).await;
    assert_eq!(sync(&env).await.status, RunStatus::Ok);
    let users = env.sim.sim.users();
    let u = users
        .iter()
        .find(|u| u.scope.as_deref() == Some("site"))
        .unwrap();
    let held = u.scope_roles[0].id.clone().unwrap();
    let other = env
        .sim
        .sim
        .sites()
        .into_iter()
        .find(|s| s.id != held)
        .unwrap()
        .id;
    let store = env.store.clone();
    let client = env.client();
    let req = |action, role: &str, scope: String, dry_run| ProvisionRequest {
        console: "c".into(),
        action,
        principal: u.email.clone().unwrap(),
        role: role.into(),
        scope,
        dry_run,
        force: false,
        actor: "tester@host".into(),
    };
    let go = |r: ProvisionRequest| {
        let (client, store): (_, Arc<dyn s1bridge_store::Store>) = (client.clone(), store.clone());
        async move { provision(&client, &store, &r).await }
    };
    let puts = |env: &Env| {
        env.sim
            .sim
            .request_log()
            .iter()
            .filter(|r| r.method == "PUT")
            .count()
    };

    let dry = go(req(Action::Grant, "viewer", format!("site:{other}"), true))
        .await
        .unwrap();
    assert_eq!(dry.result, "dry_run");
    assert_eq!(puts(&env), 0);
    let body = &dry.request.as_ref().unwrap()["body"]["data"];
    assert_eq!(body["scope"], "site");
    assert_eq!(body["scopeRoles"].as_array().unwrap().len(), 2);
    assert!(
        store
            .list_audit(&AuditFilter::default())
            .await
            .unwrap()
            .is_empty(),
        "a dry run is not audited"
    );

    let ok = go(req(Action::Grant, "Viewer", format!("site:{other}"), false))
        .await
        .unwrap();
    assert_eq!(ok.result, "ok", "{}", ok.message);
    assert_eq!(puts(&env), 1);
    let live = env
        .sim
        .sim
        .users()
        .into_iter()
        .find(|x| x.id == u.id)
        .unwrap();
    assert!(
        live.scope_roles
            .iter()
            .any(|r| r.id.as_deref() == Some(&*other))
    );
    let stored = store.load_access("c").await.unwrap();
    assert!(
        stored
            .grants_of(&u.id)
            .iter()
            .any(|g| g.scope_id.as_deref() == Some(&*other))
    );

    let again = go(req(Action::Grant, "Viewer", format!("site:{other}"), false))
        .await
        .unwrap();
    assert_eq!(again.result, "noop");
    assert_eq!(puts(&env), 1, "a no-op sends nothing");

    let revoked = go(req(
        Action::Revoke,
        "Viewer",
        format!("site:{other}"),
        false,
    ))
    .await
    .unwrap();
    assert_eq!(revoked.result, "ok");
    let audit = store.list_audit(&AuditFilter::default()).await.unwrap();
    let results: Vec<_> = audit
        .iter()
        .map(|e| (e.action.as_str(), e.result.as_str()))
        .collect();
    assert_eq!(
        results,
        [
            ("access.revoke", "ok"),
            ("access.grant", "noop"),
            ("access.grant", "ok")
        ]
    );
    assert!(audit.iter().all(|e| e.actor == "tester@host" && !e.dry_run));
    assert_eq!(audit[2].request["method"], "PUT");

    // The last role needs force; a group scope is refused.
    let role = u.scope_roles[0].role_id.clone().unwrap();
    match go(req(Action::Revoke, &role, format!("site:{held}"), false)).await {
        Err(ProvisionError::Refused(m)) => assert!(m.contains("--force"), "{m}"),
        other => panic!("{other:?}"),
    }
    match go(req(Action::Grant, "Viewer", "group:1".into(), false)).await {
        Err(ProvisionError::Refused(m)) => assert!(m.contains("never on a group"), "{m}"),
        other => panic!("{other:?}"),
    }

    // Permission denied: explained, audited as failed.
    env.sim.sim.set_faults(Faults {
        access_read_only: true,
        ..Faults::default()
    });
    match go(req(Action::Grant, "Viewer", format!("site:{other}"), false)).await {
        Err(ProvisionError::Failed(m)) => assert!(m.contains("Users → Edit"), "{m}"),
        other => panic!("{other:?}"),
    }
    let audit = store.list_audit(&AuditFilter::default()).await.unwrap();
    assert!(audit[0].result.starts_with("failed: "), "{:?}", audit[0]);
    let audited = audit.len();

    // A token that may not even read users: refused before any write, nothing audited.
    env.sim.sim.set_faults(Faults {
        forbidden: vec![s1bridge_api::features::Capability::Access],
        ..Faults::default()
    });
    match go(req(Action::Grant, "Viewer", format!("site:{other}"), false)).await {
        Err(ProvisionError::Failed(m)) => assert!(m.contains("Users → View"), "{m}"),
        other => panic!("{other:?}"),
    }
    let audit = store.list_audit(&AuditFilter::default()).await.unwrap();
    assert_eq!(audit.len(), audited);
}

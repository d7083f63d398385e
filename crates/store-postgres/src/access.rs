//! Access (principals, roles, scopes, grants, change events) and the audit log.
//!
//! A console's access state is small (thousands of principals at most), so a sync loads it,
//! lets [`reconcile`] decide the new state and the events, and rewrites it — all in one
//! transaction, under an advisory lock per console so that two syncs of one console do not
//! interleave. Each table is written with one `INSERT … SELECT FROM UNNEST(…)`.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use s1bridge_store::{
    AccessChange, AccessChangeFilter, AccessChangeKind, AccessRole, AccessScope, AccessSnapshot,
    AccessSyncSummary, AuditEntry, AuditFilter, ChangeOrigin, Grant, Principal, PrincipalKind,
    Result, ScopeType, StoreError, reconcile,
};
use tokio_postgres::types::Json;

use crate::PgStore;
use crate::store::{bad_value, col, db, json_col, lock_console, snapshot};

fn kind(s: &str) -> Result<PrincipalKind> {
    PrincipalKind::parse(s).ok_or_else(|| bad_value("principal kind", s))
}

fn scope_type(s: &str) -> Result<ScopeType> {
    ScopeType::parse(s).ok_or_else(|| bad_value("scope type", s))
}

/// The stored access of a console (read through `c`, inside the caller's transaction).
async fn load(c: &tokio_postgres::Transaction<'_>, console: &str) -> Result<AccessSnapshot> {
    const DOING: &str = "reading the stored access";
    let state = c
        .query_opt(
            "SELECT synced_at, complete FROM access_state WHERE console = $1",
            &[&console],
        )
        .await
        .map_err(db(DOING))?;
    let (synced_at, complete) = match &state {
        Some(r) => (Some(col::<DateTime<Utc>>(r, 0)?), col::<bool>(r, 1)?),
        None => (None, false),
    };
    let mut principals = Vec::new();
    for r in c
        .query(
            "SELECT console, principal_id, principal_kind, email, name, scope, api_key_expires_at,
                    last_login_at, first_seen_at, last_seen_at
             FROM access_principals WHERE console = $1 ORDER BY principal_id",
            &[&console],
        )
        .await
        .map_err(db(DOING))?
    {
        principals.push(Principal {
            console: col(&r, 0)?,
            principal_id: col(&r, 1)?,
            principal_kind: kind(col(&r, 2)?)?,
            email: col(&r, 3)?,
            name: col(&r, 4)?,
            scope: col(&r, 5)?,
            api_token_expires_at: col(&r, 6)?,
            last_login_at: col(&r, 7)?,
            first_seen_at: col(&r, 8)?,
            last_seen_at: col(&r, 9)?,
        });
    }
    let mut roles = Vec::new();
    for r in c
        .query(
            "SELECT role_id, name, predefined, description, scope, scope_id
             FROM access_roles WHERE console = $1 ORDER BY role_id",
            &[&console],
        )
        .await
        .map_err(db(DOING))?
    {
        roles.push(AccessRole {
            role_id: col(&r, 0)?,
            name: col(&r, 1)?,
            predefined: col(&r, 2)?,
            description: col(&r, 3)?,
            scope: col(&r, 4)?,
            scope_id: col(&r, 5)?,
        });
    }
    let mut scopes = Vec::new();
    for r in c
        .query(
            "SELECT scope_type, scope_id, name, parent_id
             FROM access_scopes WHERE console = $1 ORDER BY scope_type, scope_id",
            &[&console],
        )
        .await
        .map_err(db(DOING))?
    {
        scopes.push(AccessScope {
            scope_type: scope_type(col(&r, 0)?)?,
            scope_id: col(&r, 1)?,
            name: col(&r, 2)?,
            parent_id: col(&r, 3)?,
        });
    }
    let mut grants = Vec::new();
    for r in c
        .query(
            "SELECT principal_id, principal_kind, email, principal_name, role_id, role_name,
                    scope_type, scope_id, scope_name
             FROM access_grants WHERE console = $1",
            &[&console],
        )
        .await
        .map_err(db(DOING))?
    {
        let scope_id: String = col(&r, 7)?;
        grants.push(Grant {
            principal_id: col(&r, 0)?,
            principal_kind: kind(col(&r, 1)?)?,
            email: col(&r, 2)?,
            principal_name: col(&r, 3)?,
            role_id: col(&r, 4)?,
            role_name: col(&r, 5)?,
            scope_type: scope_type(col(&r, 6)?)?,
            scope_id: (!scope_id.is_empty()).then_some(scope_id),
            scope_name: col(&r, 8)?,
        });
    }
    grants.sort_by(|a, b| a.place().cmp(&b.place()));
    Ok(AccessSnapshot {
        principals,
        roles,
        scopes,
        grants,
        complete,
        synced_at,
    })
}

/// `(principal_id, detail)` of the console's `token_expiring` events.
async fn warned(tx: &Transaction<'_>, console: &str) -> Result<HashSet<(String, String)>> {
    const DOING: &str = "reading the token warnings";
    tx.query(
        "SELECT principal_id, coalesce(detail, '') FROM access_changes
         WHERE console = $1 AND kind = 'token_expiring'",
        &[&console],
    )
    .await
    .map_err(db(DOING))?
    .iter()
    .map(|r| Ok((col(r, 0)?, col(r, 1)?)))
    .collect()
}

/// Replace the console's stored state with `s` and append `changes` (their ids assigned).
async fn write_state(
    tx: &Transaction<'_>,
    console: &str,
    s: &AccessSnapshot,
    changes: &[AccessChange],
) -> Result<Vec<AccessChange>> {
    const DOING: &str = "storing the access state";
    for table in [
        "access_principals",
        "access_roles",
        "access_scopes",
        "access_grants",
    ] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE console = $1"),
            &[&console],
        )
        .await
        .map_err(db(DOING))?;
    }
    if let Some(synced_at) = s.synced_at {
        tx.execute(
            "INSERT INTO access_state (console, synced_at, complete) VALUES ($1, $2, $3)
             ON CONFLICT (console) DO UPDATE SET synced_at = excluded.synced_at,
                                                 complete = excluded.complete",
            &[&console, &synced_at, &s.complete],
        )
        .await
        .map_err(db(DOING))?;
    }

    let p = &s.principals;
    if !p.is_empty() {
        let ids: Vec<&str> = p.iter().map(|p| p.principal_id.as_str()).collect();
        let kinds: Vec<&str> = p.iter().map(|p| p.principal_kind.as_str()).collect();
        let emails: Vec<Option<&str>> = p.iter().map(|p| p.email.as_deref()).collect();
        let names: Vec<Option<&str>> = p.iter().map(|p| p.name.as_deref()).collect();
        let scopes: Vec<Option<&str>> = p.iter().map(|p| p.scope.as_deref()).collect();
        let expires: Vec<Option<DateTime<Utc>>> =
            p.iter().map(|p| p.api_token_expires_at).collect();
        let logins: Vec<Option<DateTime<Utc>>> = p.iter().map(|p| p.last_login_at).collect();
        let first: Vec<DateTime<Utc>> = p.iter().map(|p| p.first_seen_at).collect();
        let last: Vec<DateTime<Utc>> = p.iter().map(|p| p.last_seen_at).collect();
        tx.execute(
            "INSERT INTO access_principals (console, principal_id, principal_kind, email, name,
                 scope, api_key_expires_at, last_login_at, first_seen_at, last_seen_at)
             SELECT $1, u.* FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[],
                 $6::text[], $7::timestamptz[], $8::timestamptz[], $9::timestamptz[],
                 $10::timestamptz[]) AS u",
            &[
                &console, &ids, &kinds, &emails, &names, &scopes, &expires, &logins, &first, &last,
            ],
        )
        .await
        .map_err(db(DOING))?;
    }

    let r = &s.roles;
    if !r.is_empty() {
        let ids: Vec<&str> = r.iter().map(|r| r.role_id.as_str()).collect();
        let names: Vec<&str> = r.iter().map(|r| r.name.as_str()).collect();
        let predefined: Vec<bool> = r.iter().map(|r| r.predefined).collect();
        let descriptions: Vec<Option<&str>> = r.iter().map(|r| r.description.as_deref()).collect();
        let scopes: Vec<Option<&str>> = r.iter().map(|r| r.scope.as_deref()).collect();
        let scope_ids: Vec<Option<&str>> = r.iter().map(|r| r.scope_id.as_deref()).collect();
        tx.execute(
            "INSERT INTO access_roles (console, role_id, name, predefined, description, scope,
                 scope_id)
             SELECT $1, u.* FROM UNNEST($2::text[], $3::text[], $4::bool[], $5::text[],
                 $6::text[], $7::text[]) AS u",
            &[
                &console,
                &ids,
                &names,
                &predefined,
                &descriptions,
                &scopes,
                &scope_ids,
            ],
        )
        .await
        .map_err(db(DOING))?;
    }

    let sc = &s.scopes;
    if !sc.is_empty() {
        let types: Vec<&str> = sc.iter().map(|s| s.scope_type.as_str()).collect();
        let ids: Vec<&str> = sc.iter().map(|s| s.scope_id.as_str()).collect();
        let names: Vec<Option<&str>> = sc.iter().map(|s| s.name.as_deref()).collect();
        let parents: Vec<Option<&str>> = sc.iter().map(|s| s.parent_id.as_deref()).collect();
        tx.execute(
            "INSERT INTO access_scopes (console, scope_type, scope_id, name, parent_id)
             SELECT $1, u.* FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[]) AS u",
            &[&console, &types, &ids, &names, &parents],
        )
        .await
        .map_err(db(DOING))?;
    }

    let g = &s.grants;
    if !g.is_empty() {
        let principals: Vec<&str> = g.iter().map(|g| g.principal_id.as_str()).collect();
        let types: Vec<&str> = g.iter().map(|g| g.scope_type.as_str()).collect();
        let scope_ids: Vec<&str> = g
            .iter()
            .map(|g| g.scope_id.as_deref().unwrap_or(""))
            .collect();
        let roles: Vec<&str> = g.iter().map(|g| g.role_id.as_str()).collect();
        let role_names: Vec<Option<&str>> = g.iter().map(|g| g.role_name.as_deref()).collect();
        let scope_names: Vec<Option<&str>> = g.iter().map(|g| g.scope_name.as_deref()).collect();
        let kinds: Vec<&str> = g.iter().map(|g| g.principal_kind.as_str()).collect();
        let emails: Vec<Option<&str>> = g.iter().map(|g| g.email.as_deref()).collect();
        let names: Vec<Option<&str>> = g.iter().map(|g| g.principal_name.as_deref()).collect();
        tx.execute(
            "INSERT INTO access_grants (console, principal_id, scope_type, scope_id, role_id,
                 role_name, scope_name, principal_kind, email, principal_name)
             SELECT $1, u.* FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[],
                 $6::text[], $7::text[], $8::text[], $9::text[], $10::text[]) AS u",
            &[
                &console,
                &principals,
                &types,
                &scope_ids,
                &roles,
                &role_names,
                &scope_names,
                &kinds,
                &emails,
                &names,
            ],
        )
        .await
        .map_err(db(DOING))?;
    }

    if changes.is_empty() {
        return Ok(Vec::new());
    }
    // Ids first (ascending, in the events' order), then every event in one statement.
    let n = changes.len() as i64;
    let ids: Vec<i64> = tx
        .query(
            "SELECT nextval(pg_get_serial_sequence('access_changes', 'change_id'))
             FROM generate_series(1, $1::int8) ORDER BY 1",
            &[&n],
        )
        .await
        .map_err(db(DOING))?
        .iter()
        .map(|r| col(r, 0))
        .collect::<Result<_>>()?;
    let c = changes;
    let run_ids: Vec<Option<i64>> = c.iter().map(|c| c.run_id).collect();
    let ats: Vec<DateTime<Utc>> = c.iter().map(|c| c.at).collect();
    let kinds: Vec<&str> = c.iter().map(|c| c.kind.as_str()).collect();
    let principal_ids: Vec<&str> = c.iter().map(|c| c.principal_id.as_str()).collect();
    let principal_kinds: Vec<&str> = c.iter().map(|c| c.principal_kind.as_str()).collect();
    let principals: Vec<&str> = c.iter().map(|c| c.principal.as_str()).collect();
    let role_ids: Vec<Option<&str>> = c.iter().map(|c| c.role_id.as_deref()).collect();
    let role_names: Vec<Option<&str>> = c.iter().map(|c| c.role_name.as_deref()).collect();
    let scope_types: Vec<Option<&str>> = c
        .iter()
        .map(|c| c.scope_type.map(ScopeType::as_str))
        .collect();
    let scope_ids: Vec<Option<&str>> = c.iter().map(|c| c.scope_id.as_deref()).collect();
    let scope_names: Vec<Option<&str>> = c.iter().map(|c| c.scope_name.as_deref()).collect();
    let details: Vec<Option<&str>> = c.iter().map(|c| c.detail.as_deref()).collect();
    tx.execute(
        "INSERT INTO access_changes (change_id, console, run_id, at, kind, principal_id,
             principal_kind, principal, role_id, role_name, scope_type, scope_id, scope_name,
             detail)
         OVERRIDING SYSTEM VALUE
         SELECT u.change_id, $1, u.run_id, u.at, u.kind, u.principal_id, u.principal_kind,
                u.principal, u.role_id, u.role_name, u.scope_type, u.scope_id, u.scope_name,
                u.detail
         FROM UNNEST($2::int8[], $3::int8[], $4::timestamptz[], $5::text[], $6::text[],
                     $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
                     $13::text[], $14::text[])
              AS u(change_id, run_id, at, kind, principal_id, principal_kind, principal,
                   role_id, role_name, scope_type, scope_id, scope_name, detail)",
        &[
            &console,
            &ids,
            &run_ids,
            &ats,
            &kinds,
            &principal_ids,
            &principal_kinds,
            &principals,
            &role_ids,
            &role_names,
            &scope_types,
            &scope_ids,
            &scope_names,
            &details,
        ],
    )
    .await
    .map_err(db(DOING))?;
    Ok(changes
        .iter()
        .zip(ids)
        .map(|(c, id)| AccessChange {
            change_id: id,
            ..c.clone()
        })
        .collect())
}

/// Every record of a snapshot must be of `console`.
fn check_console(console: &str, s: &AccessSnapshot) -> Result<()> {
    if console.trim().is_empty() {
        return Err(StoreError::Backend(
            "access data needs a console name".into(),
        ));
    }
    if let Some(p) = s.principals.iter().find(|p| p.console != console) {
        return Err(StoreError::Backend(format!(
            "principal {} belongs to console '{}', not '{console}'; nothing was stored",
            p.principal_id, p.console
        )));
    }
    Ok(())
}

pub(crate) async fn apply_snapshot(
    store: &PgStore,
    console: &str,
    run_id: i64,
    at: DateTime<Utc>,
    snapshot: &AccessSnapshot,
    token_warning: chrono::Duration,
) -> Result<AccessSyncSummary> {
    const DOING: &str = "storing an access sync";
    check_console(console, snapshot)?;
    let origin = ChangeOrigin {
        run_id: Some(run_id),
        at,
        token_warning,
    };
    let mut client = store.client().await?;
    let tx = client.transaction().await.map_err(db(DOING))?;
    lock_console(&tx, "access", console, DOING).await?;
    let old = load(&tx, console).await?;
    let warned = warned(&tx, console).await?;
    let (state, changes) = reconcile(console, &old, snapshot, origin, &warned);
    let recorded = write_state(&tx, console, &state, &changes).await?;
    tx.commit().await.map_err(db(DOING))?;
    Ok(AccessSyncSummary {
        principals: state.principals.len() as u64,
        roles: state.roles.len() as u64,
        scopes: state.scopes.len() as u64,
        grants: state.grants.len() as u64,
        changes: recorded.len() as u64,
    })
}

pub(crate) async fn load_access(store: &PgStore, console: &str) -> Result<AccessSnapshot> {
    const DOING: &str = "reading the stored access";
    let mut client = store.client().await?;
    let tx = snapshot(&mut client, DOING).await?;
    let s = load(&tx, console).await?;
    tx.commit().await.map_err(db(DOING))?;
    Ok(s)
}

pub(crate) async fn replace_principal_grants(
    store: &PgStore,
    console: &str,
    principal: &Principal,
    grants: &[Grant],
    at: DateTime<Utc>,
) -> Result<Vec<AccessChange>> {
    const DOING: &str = "storing a principal's grants";
    if principal.console != console
        || grants
            .iter()
            .any(|g| g.principal_id != principal.principal_id)
    {
        return Err(StoreError::Backend(format!(
            "the grants given are not all of principal {} of console '{console}'; nothing was stored",
            principal.principal_id
        )));
    }
    let mut client = store.client().await?;
    let tx = client.transaction().await.map_err(db(DOING))?;
    lock_console(&tx, "access", console, DOING).await?;
    let old = load(&tx, console).await?;
    if !old
        .principals
        .iter()
        .any(|p| p.principal_id == principal.principal_id)
    {
        return Err(StoreError::NotFound(format!(
            "principal {} of console '{console}' (run an access sync first)",
            principal.principal_id
        )));
    }
    // The stored state with this principal's record and grants replaced, as a complete
    // snapshot: only this principal's differences become events.
    let mut new = old.clone();
    for p in &mut new.principals {
        if p.principal_id == principal.principal_id {
            let first = p.first_seen_at;
            *p = principal.clone();
            p.first_seen_at = first;
        }
    }
    new.grants
        .retain(|g| g.principal_id != principal.principal_id);
    new.grants.extend(grants.iter().cloned());
    new.complete = true;
    let origin = ChangeOrigin {
        run_id: None,
        at,
        token_warning: chrono::Duration::zero(),
    };
    let (mut state, changes) = reconcile(console, &old, &new, origin, &HashSet::new());
    // A grant or revoke is not a sync: keep the last sync's time and completeness.
    state.synced_at = old.synced_at;
    state.complete = old.complete;
    let recorded = write_state(&tx, console, &state, &changes).await?;
    tx.commit().await.map_err(db(DOING))?;
    Ok(recorded)
}

pub(crate) async fn list_changes(
    store: &PgStore,
    filter: &AccessChangeFilter,
) -> Result<Vec<AccessChange>> {
    const DOING: &str = "listing access changes";
    let limit = (filter.limit > 0).then(|| i64::from(filter.limit));
    store
        .client()
        .await?
        .query(
            "SELECT change_id, console, run_id, at, kind, principal_id, principal_kind, principal,
                    role_id, role_name, scope_type, scope_id, scope_name, detail
             FROM access_changes
             WHERE ($1::text IS NULL OR console = $1) AND ($2::timestamptz IS NULL OR at >= $2)
             ORDER BY at, change_id LIMIT $3",
            &[&filter.console, &filter.since, &limit],
        )
        .await
        .map_err(db(DOING))?
        .iter()
        .map(|r| {
            let k: String = col(r, 4)?;
            let st: Option<String> = col(r, 10)?;
            Ok(AccessChange {
                change_id: col(r, 0)?,
                console: col(r, 1)?,
                run_id: col(r, 2)?,
                at: col(r, 3)?,
                kind: AccessChangeKind::parse(&k).ok_or_else(|| bad_value("change kind", &k))?,
                principal_id: col(r, 5)?,
                principal_kind: kind(col(r, 6)?)?,
                principal: col(r, 7)?,
                role_id: col(r, 8)?,
                role_name: col(r, 9)?,
                scope_type: st.as_deref().map(scope_type).transpose()?,
                scope_id: col(r, 11)?,
                scope_name: col(r, 12)?,
                detail: col(r, 13)?,
            })
        })
        .collect()
}

pub(crate) async fn record_audit(store: &PgStore, e: &AuditEntry) -> Result<i64> {
    const DOING: &str = "recording an audit entry";
    if e.console.trim().is_empty() || e.action.trim().is_empty() {
        return Err(StoreError::Backend(
            "an audit entry needs a console and an action".into(),
        ));
    }
    let row = store
        .client()
        .await?
        .query_one(
            "INSERT INTO audit_log (console, at, actor, action, target, dry_run, request, before,
                 after, result, run_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            &[
                &e.console,
                &e.at,
                &e.actor,
                &e.action,
                &e.target,
                &e.dry_run,
                &Json(&e.request),
                &Json(&e.before),
                &Json(&e.after),
                &e.result,
                &e.run_id,
            ],
        )
        .await
        .map_err(db(DOING))?;
    col(&row, 0)
}

pub(crate) async fn list_audit(store: &PgStore, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
    const DOING: &str = "listing the audit log";
    let rows = store
        .client()
        .await?
        .query(
            "SELECT id, console, at, actor, action, target, dry_run, request, before, after,
                    result, run_id
             FROM audit_log
             WHERE ($1::text IS NULL OR console = $1) AND ($2::timestamptz IS NULL OR at >= $2)
             ORDER BY at DESC, id DESC",
            &[&filter.console, &filter.since],
        )
        .await
        .map_err(db(DOING))?;
    // The action filter is a prefix rule shared by every backend (AuditFilter::action_matches).
    let limit = if filter.limit == 0 {
        usize::MAX
    } else {
        filter.limit as usize
    };
    let mut out = Vec::new();
    for r in &rows {
        if out.len() >= limit {
            break;
        }
        let action: String = col(r, 4)?;
        if !filter.action_matches(&action) {
            continue;
        }
        out.push(AuditEntry {
            id: col(r, 0)?,
            console: col(r, 1)?,
            at: col(r, 2)?,
            actor: col(r, 3)?,
            action,
            target: col(r, 5)?,
            dry_run: col(r, 6)?,
            request: json_col(r, 7)?,
            before: json_col(r, 8)?,
            after: json_col(r, 9)?,
            result: col(r, 10)?,
            run_id: col(r, 11)?,
        });
    }
    Ok(out)
}

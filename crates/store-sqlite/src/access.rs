//! Access (principals, roles, scopes, grants, change events) and the audit log.
//!
//! A console's access state is small (thousands of principals at most), so a sync loads it,
//! lets [`reconcile`] decide the new state and the events, and rewrites it — all in one
//! immediate transaction.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
use s1bridge_store::{
    AccessChange, AccessChangeFilter, AccessChangeKind, AccessRole, AccessScope, AccessSnapshot,
    AccessSyncSummary, AuditEntry, AuditFilter, ChangeOrigin, Grant, Principal, PrincipalKind,
    Result, ScopeType, StoreError, reconcile,
};

use super::{Ctx, get_opt_ts, get_ts, json, opt_ts, ts};

fn bad_text(idx: usize, what: &str, v: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        idx,
        rusqlite::types::Type::Text,
        format!("unknown {what} {v:?}").into(),
    )
}

fn get_kind(row: &Row<'_>, idx: usize) -> rusqlite::Result<PrincipalKind> {
    let s: String = row.get(idx)?;
    PrincipalKind::parse(&s).ok_or_else(|| bad_text(idx, "principal kind", &s))
}

fn get_scope_type(row: &Row<'_>, idx: usize) -> rusqlite::Result<ScopeType> {
    let s: String = row.get(idx)?;
    ScopeType::parse(&s).ok_or_else(|| bad_text(idx, "scope type", &s))
}

fn get_opt_scope_type(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<ScopeType>> {
    let s: Option<String> = row.get(idx)?;
    s.map(|s| ScopeType::parse(&s).ok_or_else(|| bad_text(idx, "scope type", &s)))
        .transpose()
}

/// Every row of `sql` (whose only parameter is the console), mapped.
fn rows<T>(
    conn: &Connection,
    doing: &str,
    sql: &str,
    console: &str,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    conn.prepare(sql)
        .ctx(doing)?
        .query_map([console], map)
        .ctx(doing)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .ctx(doing)
}

/// Run the insert `sql` once per item.
fn insert_all<T>(
    tx: &Transaction<'_>,
    doing: &str,
    sql: &str,
    items: &[T],
    mut exec: impl FnMut(&mut rusqlite::Statement<'_>, &T) -> rusqlite::Result<usize>,
) -> Result<()> {
    let mut st = tx.prepare(sql).ctx(doing)?;
    for item in items {
        exec(&mut st, item).ctx(doing)?;
    }
    Ok(())
}

/// The stored access of a console.
pub(crate) fn load(conn: &Connection, console: &str) -> Result<AccessSnapshot> {
    const DOING: &str = "reading the stored access";
    let state: Option<(String, bool)> = conn
        .query_row(
            "SELECT synced_at, complete FROM access_state WHERE console = ?1",
            [console],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .ctx(DOING)?;
    let synced_at = match &state {
        Some((s, _)) => Some(
            DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                .map_err(|e| StoreError::Backend(format!("{DOING}: bad timestamp {s:?}: {e}")))?,
        ),
        None => None,
    };
    let principals = rows(
        conn,
        DOING,
        "SELECT console, principal_id, principal_kind, email, name, scope, api_key_expires_at,
                    last_login_at, first_seen_at, last_seen_at
             FROM access_principals WHERE console = ?1 ORDER BY principal_id",
        console,
        |r| {
            Ok(Principal {
                console: r.get(0)?,
                principal_id: r.get(1)?,
                principal_kind: get_kind(r, 2)?,
                email: r.get(3)?,
                name: r.get(4)?,
                scope: r.get(5)?,
                api_token_expires_at: get_opt_ts(r, 6)?,
                last_login_at: get_opt_ts(r, 7)?,
                first_seen_at: get_ts(r, 8)?,
                last_seen_at: get_ts(r, 9)?,
            })
        },
    )?;
    let roles = rows(
        conn,
        DOING,
        "SELECT role_id, name, predefined, description, scope, scope_id
             FROM access_roles WHERE console = ?1 ORDER BY role_id",
        console,
        |r| {
            Ok(AccessRole {
                role_id: r.get(0)?,
                name: r.get(1)?,
                predefined: r.get(2)?,
                description: r.get(3)?,
                scope: r.get(4)?,
                scope_id: r.get(5)?,
            })
        },
    )?;
    let scopes = rows(
        conn,
        DOING,
        "SELECT scope_type, scope_id, name, parent_id
             FROM access_scopes WHERE console = ?1 ORDER BY scope_type, scope_id",
        console,
        |r| {
            Ok(AccessScope {
                scope_type: get_scope_type(r, 0)?,
                scope_id: r.get(1)?,
                name: r.get(2)?,
                parent_id: r.get(3)?,
            })
        },
    )?;
    let mut grants = rows(
        conn,
        DOING,
        "SELECT principal_id, principal_kind, email, principal_name, role_id, role_name,
                    scope_type, scope_id, scope_name
             FROM access_grants WHERE console = ?1",
        console,
        |r| {
            let scope_id: String = r.get(7)?;
            Ok(Grant {
                principal_id: r.get(0)?,
                principal_kind: get_kind(r, 1)?,
                email: r.get(2)?,
                principal_name: r.get(3)?,
                role_id: r.get(4)?,
                role_name: r.get(5)?,
                scope_type: get_scope_type(r, 6)?,
                scope_id: (!scope_id.is_empty()).then_some(scope_id),
                scope_name: r.get(8)?,
            })
        },
    )?;
    // The contract's order (SQL would sort the tenant's '' first anyway; keep it explicit).
    grants.sort_by(|a, b| a.place().cmp(&b.place()));
    Ok(AccessSnapshot {
        principals,
        roles,
        scopes,
        grants,
        complete: state.as_ref().is_some_and(|(_, c)| *c),
        synced_at,
    })
}

/// `(principal_id, detail)` of the console's `token_expiring` events.
fn warned(tx: &Transaction<'_>, console: &str) -> Result<HashSet<(String, String)>> {
    const DOING: &str = "reading the token warnings";
    tx.prepare(
        "SELECT principal_id, coalesce(detail, '') FROM access_changes
         WHERE console = ?1 AND kind = 'token_expiring'",
    )
    .ctx(DOING)?
    .query_map([console], |r| Ok((r.get(0)?, r.get(1)?)))
    .ctx(DOING)?
    .collect::<rusqlite::Result<HashSet<_>>>()
    .ctx(DOING)
}

/// Replace the console's stored state with `s` and append `changes`.
fn write_state(
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
            &format!("DELETE FROM {table} WHERE console = ?1"),
            [console],
        )
        .ctx(DOING)?;
    }
    tx.execute(
        "INSERT INTO access_state (console, synced_at, complete) VALUES (?1, ?2, ?3)
         ON CONFLICT (console) DO UPDATE SET synced_at = excluded.synced_at,
                                             complete = excluded.complete",
        params![console, opt_ts(&s.synced_at), s.complete],
    )
    .ctx(DOING)?;
    insert_all(
        tx,
        DOING,
        "INSERT INTO access_principals (console, principal_id, principal_kind, email, name,
                 scope, api_key_expires_at, last_login_at, first_seen_at, last_seen_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        &s.principals,
        |st, p| {
            st.execute(params![
                console,
                p.principal_id,
                p.principal_kind.as_str(),
                p.email,
                p.name,
                p.scope,
                opt_ts(&p.api_token_expires_at),
                opt_ts(&p.last_login_at),
                ts(&p.first_seen_at),
                ts(&p.last_seen_at),
            ])
        },
    )?;
    insert_all(
        tx,
        DOING,
        "INSERT INTO access_roles (console, role_id, name, predefined, description, scope,
                 scope_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &s.roles,
        |st, r| {
            st.execute(params![
                console,
                r.role_id,
                r.name,
                r.predefined,
                r.description,
                r.scope,
                r.scope_id
            ])
        },
    )?;
    insert_all(
        tx,
        DOING,
        "INSERT INTO access_scopes (console, scope_type, scope_id, name, parent_id)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        &s.scopes,
        |st, sc| {
            st.execute(params![
                console,
                sc.scope_type.as_str(),
                sc.scope_id,
                sc.name,
                sc.parent_id
            ])
        },
    )?;
    insert_all(
        tx,
        DOING,
        "INSERT INTO access_grants (console, principal_id, scope_type, scope_id, role_id,
                 role_name, scope_name, principal_kind, email, principal_name)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        &s.grants,
        |st, g| {
            st.execute(params![
                console,
                g.principal_id,
                g.scope_type.as_str(),
                g.scope_id.as_deref().unwrap_or(""),
                g.role_id,
                g.role_name,
                g.scope_name,
                g.principal_kind.as_str(),
                g.email,
                g.principal_name,
            ])
        },
    )?;
    let mut st = tx
        .prepare(
            "INSERT INTO access_changes (console, run_id, at, kind, principal_id, principal_kind,
                 principal, role_id, role_name, scope_type, scope_id, scope_name, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )
        .ctx(DOING)?;
    let mut recorded = Vec::with_capacity(changes.len());
    for c in changes {
        st.execute(params![
            console,
            c.run_id,
            ts(&c.at),
            c.kind.as_str(),
            c.principal_id,
            c.principal_kind.as_str(),
            c.principal,
            c.role_id,
            c.role_name,
            c.scope_type.map(ScopeType::as_str),
            c.scope_id,
            c.scope_name,
            c.detail,
        ])
        .ctx(DOING)?;
        let mut c = c.clone();
        c.change_id = tx.last_insert_rowid();
        recorded.push(c);
    }
    Ok(recorded)
}

/// Every record of a snapshot must be of `console` (principals name it; the others are bound
/// to it when written).
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

pub(crate) fn apply_snapshot(
    conn: &mut Connection,
    console: &str,
    snapshot: &AccessSnapshot,
    origin: ChangeOrigin,
) -> Result<AccessSyncSummary> {
    const DOING: &str = "storing an access sync";
    check_console(console, snapshot)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx(DOING)?;
    let old = load(&tx, console)?;
    let warned = warned(&tx, console)?;
    let (state, changes) = reconcile(console, &old, snapshot, origin, &warned);
    let recorded = write_state(&tx, console, &state, &changes)?;
    tx.commit().ctx(DOING)?;
    Ok(AccessSyncSummary {
        principals: state.principals.len() as u64,
        roles: state.roles.len() as u64,
        scopes: state.scopes.len() as u64,
        grants: state.grants.len() as u64,
        changes: recorded.len() as u64,
    })
}

pub(crate) fn replace_principal_grants(
    conn: &mut Connection,
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
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx(DOING)?;
    let old = load(&tx, console)?;
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
    let recorded = write_state(&tx, console, &state, &changes)?;
    tx.commit().ctx(DOING)?;
    Ok(recorded)
}

pub(crate) fn list_changes(
    conn: &Connection,
    filter: &AccessChangeFilter,
) -> Result<Vec<AccessChange>> {
    const DOING: &str = "listing access changes";
    let limit = if filter.limit == 0 {
        -1
    } else {
        i64::from(filter.limit)
    };
    conn.prepare(
        "SELECT change_id, console, run_id, at, kind, principal_id, principal_kind, principal,
                role_id, role_name, scope_type, scope_id, scope_name, detail
         FROM access_changes
         WHERE (?1 IS NULL OR console = ?1) AND (?2 IS NULL OR at >= ?2)
         ORDER BY at, change_id LIMIT ?3",
    )
    .ctx(DOING)?
    .query_map(params![filter.console, opt_ts(&filter.since), limit], |r| {
        let kind: String = r.get(4)?;
        Ok(AccessChange {
            change_id: r.get(0)?,
            console: r.get(1)?,
            run_id: r.get(2)?,
            at: get_ts(r, 3)?,
            kind: AccessChangeKind::parse(&kind)
                .ok_or_else(|| bad_text(4, "change kind", &kind))?,
            principal_id: r.get(5)?,
            principal_kind: get_kind(r, 6)?,
            principal: r.get(7)?,
            role_id: r.get(8)?,
            role_name: r.get(9)?,
            scope_type: get_opt_scope_type(r, 10)?,
            scope_id: r.get(11)?,
            scope_name: r.get(12)?,
            detail: r.get(13)?,
        })
    })
    .ctx(DOING)?
    .collect::<rusqlite::Result<Vec<_>>>()
    .ctx(DOING)
}

pub(crate) fn record_audit(conn: &mut Connection, e: &AuditEntry) -> Result<i64> {
    const DOING: &str = "recording an audit entry";
    if e.console.trim().is_empty() || e.action.trim().is_empty() {
        return Err(StoreError::Backend(
            "an audit entry needs a console and an action".into(),
        ));
    }
    let enc = |v: &serde_json::Value, what: &str| json(serde_json::to_string(v), what);
    let (request, before, after) = (
        enc(&e.request, "the audit request")?,
        enc(&e.before, "the audit before-state")?,
        enc(&e.after, "the audit after-state")?,
    );
    conn.execute(
        "INSERT INTO audit_log (console, at, actor, action, target, dry_run, request, before,
             after, result, run_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            e.console,
            ts(&e.at),
            e.actor,
            e.action,
            e.target,
            e.dry_run,
            request,
            before,
            after,
            e.result,
            e.run_id
        ],
    )
    .ctx(DOING)?;
    Ok(conn.last_insert_rowid())
}

pub(crate) fn list_audit(conn: &Connection, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
    const DOING: &str = "listing the audit log";
    let parse = |r: &Row<'_>, idx: usize| {
        super::get_json(r, idx, |s| serde_json::from_str::<serde_json::Value>(s))
    };
    let rows = conn
        .prepare(
            "SELECT id, console, at, actor, action, target, dry_run, request, before, after,
                    result, run_id
             FROM audit_log
             WHERE (?1 IS NULL OR console = ?1) AND (?2 IS NULL OR at >= ?2)
             ORDER BY at DESC, id DESC",
        )
        .ctx(DOING)?
        .query_map(params![filter.console, opt_ts(&filter.since)], |r| {
            Ok(AuditEntry {
                id: r.get(0)?,
                console: r.get(1)?,
                at: get_ts(r, 2)?,
                actor: r.get(3)?,
                action: r.get(4)?,
                target: r.get(5)?,
                dry_run: r.get(6)?,
                request: parse(r, 7)?,
                before: parse(r, 8)?,
                after: parse(r, 9)?,
                result: r.get(10)?,
                run_id: r.get(11)?,
            })
        })
        .ctx(DOING)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .ctx(DOING)?;
    // The action filter is a prefix rule shared by every backend (AuditFilter::action_matches).
    let limit = if filter.limit == 0 {
        usize::MAX
    } else {
        filter.limit as usize
    };
    Ok(rows
        .into_iter()
        .filter(|e| filter.action_matches(&e.action))
        .take(limit)
        .collect::<Vec<_>>())
}

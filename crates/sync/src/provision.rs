//! Granting and revoking roles (`s1bridge access grant|revoke`), for any front end.
//!
//! 1. Names are resolved against the last access sync; an unknown or ambiguous name is refused
//!    with the candidates. A group scope is refused (SentinelOne holds roles on the tenant, an
//!    account or a site).
//! 2. The principal is read live from the console; the change is planned against that: granting
//!    what is held, or revoking what is not, is a no-op that says so. A revoke of the last role,
//!    or a grant that replaces the role held on that scope, needs `force`.
//! 3. A dry run stops here: it returns the exact request (no token) and changes nothing, not
//!    even the audit log.
//! 4. A real run sends the update, reads the principal back to verify, updates the store
//!    (change events without a run) and records an audit entry — also when it failed.

use std::sync::Arc;

use chrono::Utc;
use s1bridge_api::access::{PrincipalUpdate, ScopeRoleUpdate, UpdateRequest};
use s1bridge_api::wire::ScopeRole;
use s1bridge_api::{API_PREFIX, ApiError, Client};
use s1bridge_store::{
    AccessRole, AccessSnapshot, AuditEntry, Grant, Principal, PrincipalKind, ScopeType, Store,
    StoreError,
};
use serde_json::json;

use crate::access::{grants_of, service_user_record, user_record};

/// Grant or revoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Grant,
    Revoke,
}

impl Action {
    pub fn audit_action(self) -> &'static str {
        match self {
            Action::Grant => "access.grant",
            Action::Revoke => "access.revoke",
        }
    }
}

/// What to change.
#[derive(Debug, Clone)]
pub struct ProvisionRequest {
    pub console: String,
    pub action: Action,
    /// Principal id, email, or (service user) name.
    pub principal: String,
    /// Role id or name.
    pub role: String,
    /// `tenant`, `account:ID`, `site:ID` (an id or a name after the colon).
    pub scope: String,
    pub dry_run: bool,
    pub force: bool,
    /// Who runs it, `user@host` (for the audit log).
    pub actor: String,
}

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// Refused before anything was sent: unknown or ambiguous names, a group scope, a change
    /// that needs `--force` (a usage error: exit status 2).
    #[error("{0}")]
    Refused(String),
    /// The console refused or failed the request (explained), or verification failed.
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What happened.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProvisionOutcome {
    pub action: Action,
    /// `ok`, `noop` or `dry_run`.
    pub result: String,
    pub message: String,
    pub principal_id: String,
    pub principal: String,
    pub role_id: String,
    pub role_name: String,
    pub scope_type: ScopeType,
    pub scope_id: Option<String>,
    /// The request that was (or, for a dry run, would be) sent, without headers; `None` for a
    /// no-op.
    pub request: Option<serde_json::Value>,
    pub before: Vec<Grant>,
    pub after: Vec<Grant>,
    pub audit_id: Option<i64>,
}

/// The place a role is to be held on.
#[derive(Debug, Clone)]
struct Target {
    scope_type: ScopeType,
    scope_id: Option<String>,
    scope_name: Option<String>,
}

/// A principal as the console holds it now.
struct Live {
    principal: Principal,
    scope_roles: Vec<ScopeRole>,
    grants: Vec<Grant>,
}

fn candidates<'a>(items: impl Iterator<Item = String> + 'a) -> String {
    let mut v: Vec<String> = items.take(10).collect();
    if v.is_empty() {
        return "none".to_string();
    }
    v.sort();
    v.join("; ")
}

/// Resolve a principal by id, email (users) or name, case-insensitively.
fn resolve_principal<'a>(
    dir: &'a AccessSnapshot,
    want: &str,
) -> Result<&'a Principal, ProvisionError> {
    let w = want.trim();
    if let Some(p) = dir.principals.iter().find(|p| p.principal_id == w) {
        return Ok(p);
    }
    let eq = |s: &Option<String>| s.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(w));
    let hits: Vec<&Principal> = dir
        .principals
        .iter()
        .filter(|p| eq(&p.email) || eq(&p.name))
        .collect();
    let show = |p: &Principal| {
        format!(
            "{} ({} {})",
            p.label(),
            p.principal_kind.as_str(),
            p.principal_id
        )
    };
    match hits.as_slice() {
        [one] => Ok(one),
        [] => {
            let lw = w.to_ascii_lowercase();
            let near = dir.principals.iter().filter(|p| {
                let has = |s: &Option<String>| {
                    s.as_deref()
                        .is_some_and(|s| s.to_ascii_lowercase().contains(&lw))
                };
                has(&p.email) || has(&p.name)
            });
            Err(ProvisionError::Refused(format!(
                "no user or service user '{w}' in the last access sync of this console; similar: {}. \
                 Use an id, an exact email, or run `s1bridge sync --only access` if it is new",
                candidates(near.map(show))
            )))
        }
        many => Err(ProvisionError::Refused(format!(
            "'{w}' is ambiguous: it names {} principals: {}. Use the id",
            many.len(),
            candidates(many.iter().map(|p| show(p)))
        ))),
    }
}

/// Resolve a role by id or name, case-insensitively.
fn resolve_role<'a>(dir: &'a AccessSnapshot, want: &str) -> Result<&'a AccessRole, ProvisionError> {
    let w = want.trim();
    if let Some(r) = dir.roles.iter().find(|r| r.role_id == w) {
        return Ok(r);
    }
    let hits: Vec<&AccessRole> = dir
        .roles
        .iter()
        .filter(|r| r.name.eq_ignore_ascii_case(w))
        .collect();
    let show = |r: &AccessRole| {
        let place = match (&r.scope, &r.scope_id) {
            (Some(s), Some(id)) => format!(", {s} {id}"),
            _ => String::new(),
        };
        format!("{} (id {}{place})", r.name, r.role_id)
    };
    match hits.as_slice() {
        [one] => Ok(one),
        [] => Err(ProvisionError::Refused(format!(
            "no role '{w}' in the last access sync of this console; roles: {}",
            candidates(dir.roles.iter().map(show))
        ))),
        many => Err(ProvisionError::Refused(format!(
            "the role name '{w}' is ambiguous ({} roles): {}. Use the role id",
            many.len(),
            candidates(many.iter().map(|r| show(r)))
        ))),
    }
}

/// Parse `tenant`, `account:ID|NAME`, `site:ID|NAME` against the synced scopes.
fn resolve_scope(dir: &AccessSnapshot, want: &str) -> Result<Target, ProvisionError> {
    let w = want.trim();
    let (ty, rest) = match w.split_once(':') {
        Some((t, r)) => (ScopeType::parse(t), r.trim()),
        None => (ScopeType::parse(w), ""),
    };
    let usage = || {
        ProvisionError::Refused(format!(
            "'{w}' is not a scope: use tenant, account:ID or site:ID"
        ))
    };
    match ty {
        None => Err(usage()),
        Some(ScopeType::Tenant) if rest.is_empty() => Ok(Target {
            scope_type: ScopeType::Tenant,
            scope_id: None,
            scope_name: Some("Global".to_string()),
        }),
        Some(ScopeType::Tenant) => Err(usage()),
        Some(ScopeType::Group) => {
            let site = dir
                .scopes
                .iter()
                .find(|s| s.scope_type == ScopeType::Group && s.scope_id == rest)
                .and_then(|g| g.parent_id.clone());
            Err(ProvisionError::Refused(format!(
                "SentinelOne holds roles on the tenant, an account or a site, never on a group; \
                 grant the role on the group's site instead{}",
                site.map(|s| format!(" (--scope site:{s})"))
                    .unwrap_or_default()
            )))
        }
        Some(t) if rest.is_empty() => Err(ProvisionError::Refused(format!(
            "say which {}: --scope {}:ID",
            t.as_str(),
            t.as_str()
        ))),
        Some(t) => {
            let of_type = || dir.scopes.iter().filter(move |s| s.scope_type == t);
            if let Some(s) = of_type().find(|s| s.scope_id == rest) {
                return Ok(Target {
                    scope_type: t,
                    scope_id: Some(s.scope_id.clone()),
                    scope_name: s.name.clone(),
                });
            }
            let hits: Vec<_> = of_type()
                .filter(|s| {
                    s.name
                        .as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(rest))
                })
                .collect();
            let show = |s: &&s1bridge_store::AccessScope| {
                format!(
                    "{} ({}:{})",
                    s.name.as_deref().unwrap_or("?"),
                    t.as_str(),
                    s.scope_id
                )
            };
            match hits.as_slice() {
                [one] => Ok(Target {
                    scope_type: t,
                    scope_id: Some(one.scope_id.clone()),
                    scope_name: one.name.clone(),
                }),
                [] => Err(ProvisionError::Refused(format!(
                    "no {} '{rest}' in the last access sync of this console; {}s: {}",
                    t.as_str(),
                    t.as_str(),
                    candidates(of_type().map(|s| show(&s)))
                ))),
                many => Err(ProvisionError::Refused(format!(
                    "the {} name '{rest}' is ambiguous: {}. Use the id",
                    t.as_str(),
                    candidates(many.iter().map(show))
                ))),
            }
        }
    }
}

/// The message of a console error on an access call, naming the permission a 403 lacks:
/// reading the principal (`writing` false) needs View, changing its roles needs Edit.
fn explain(e: &ApiError, kind: PrincipalKind, target: &Target, writing: bool) -> String {
    let ApiError::Forbidden { detail, .. } = e else {
        return e.to_string();
    };
    let on = match &target.scope_id {
        Some(id) => format!("{} {id}", target.scope_type.as_str()),
        None => "the tenant".to_string(),
    };
    let edit = api_kind(kind).edit_permission();
    let (what, permission) = if writing {
        ("the change", edit.to_string())
    } else {
        ("reading the principal", edit.replace("Edit", "View"))
    };
    format!(
        "the console refused {what} (403 Insufficient permissions{}): the token's role lacks \
         {permission} on {on}, or the token's scope does not cover that scope or principal. Use \
         a token of a user or service user whose role has {permission} at that level (a \
         Site-scoped token can only change roles on its own site)",
        detail
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default(),
    )
}

fn api_kind(kind: PrincipalKind) -> s1bridge_api::access::PrincipalKind {
    match kind {
        PrincipalKind::User => s1bridge_api::access::PrincipalKind::User,
        PrincipalKind::ServiceUser => s1bridge_api::access::PrincipalKind::ServiceUser,
    }
}

async fn read_live(
    client: &Client,
    console: &str,
    p: &Principal,
    dir: &AccessSnapshot,
) -> Result<Live, ApiError> {
    let now = Utc::now();
    let (principal, scope_roles) = match p.principal_kind {
        PrincipalKind::User => {
            let u = client.user(&p.principal_id).await?;
            (user_record(console, &u, now, dir).0, u.scope_roles)
        }
        PrincipalKind::ServiceUser => {
            let u = client.service_user(&p.principal_id).await?;
            (service_user_record(console, &u, now, dir).0, u.scope_roles)
        }
    };
    let grants = grants_of(&principal, &scope_roles, dir);
    Ok(Live {
        principal,
        scope_roles,
        grants,
    })
}

fn holds<'a>(grants: &'a [Grant], t: &Target) -> Option<&'a Grant> {
    grants
        .iter()
        .find(|g| g.scope_type == t.scope_type && g.scope_id == t.scope_id)
}

fn place(t: &Target) -> String {
    match &t.scope_id {
        Some(id) => format!(
            "{}:{id}{}",
            t.scope_type.as_str(),
            t.scope_name
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        ),
        None => "tenant".to_string(),
    }
}

/// The update to send, or `Ok(None)` for a no-op (with its message).
fn plan(
    req: &ProvisionRequest,
    live: &Live,
    role: &AccessRole,
    t: &Target,
) -> Result<Result<PrincipalUpdate, String>, ProvisionError> {
    let who = live.principal.label().to_string();
    let held = holds(&live.grants, t);
    let level = live
        .principal
        .scope
        .clone()
        .unwrap_or_else(|| t.scope_type.as_str().to_string());
    let tenant_level = ScopeType::parse(&level) == Some(ScopeType::Tenant);
    // The update carries the whole list: start from the console's own entries, so that nothing
    // s1bridge does not understand is dropped.
    let mut entries = Vec::with_capacity(live.scope_roles.len() + 1);
    for sr in &live.scope_roles {
        let role_id = sr.role_id.clone().filter(|r| !r.is_empty()).or_else(|| {
            let g = live.grants.iter().find(|g| g.scope_id == sr.id)?;
            Some(g.role_id.clone())
        });
        let Some(role_id) = role_id else {
            return Err(ProvisionError::Refused(format!(
                "{who} holds a role on {} that the console names without a role id ({});                  s1bridge cannot rewrite its roles safely. Change it in the console",
                sr.id.as_deref().unwrap_or("the tenant"),
                sr.role_name.as_deref().unwrap_or("unnamed")
            )));
        };
        entries.push(ScopeRoleUpdate {
            id: if tenant_level { None } else { sr.id.clone() },
            role_id,
        });
    }
    match req.action {
        Action::Grant => {
            if let Some(g) = held {
                if g.role_id == role.role_id {
                    return Ok(Err(format!(
                        "{who} already holds {} on {}: nothing to do",
                        role.name,
                        place(t)
                    )));
                }
                if !req.force {
                    return Err(ProvisionError::Refused(format!(
                        "{who} holds {} on {}; SentinelOne keeps one role per scope, so granting \
                         {} replaces it. Add --force to replace it",
                        g.role_name.as_deref().unwrap_or(&g.role_id),
                        place(t),
                        role.name
                    )));
                }
                for e in &mut entries {
                    if e.id == t.scope_id {
                        e.role_id = role.role_id.clone();
                    }
                }
                return Ok(Ok(PrincipalUpdate {
                    scope: level,
                    scope_roles: entries,
                }));
            }
            if !live.grants.is_empty() && ScopeType::parse(&level) != Some(t.scope_type) {
                return Err(ProvisionError::Refused(format!(
                    "{who} holds its roles at {level} level ({}); SentinelOne keeps all of a \
                     principal's roles on one level, so a role on {} level cannot be added. Revoke \
                     those first, or grant at {level} level",
                    live.grants
                        .iter()
                        .map(|g| format!(
                            "{} on {}",
                            g.role_name.as_deref().unwrap_or(&g.role_id),
                            g.scope_id.as_deref().unwrap_or("tenant")
                        ))
                        .collect::<Vec<_>>()
                        .join(", "),
                    t.scope_type.as_str()
                )));
            }
            if t.scope_type == ScopeType::Tenant {
                entries.clear();
            }
            entries.push(ScopeRoleUpdate {
                id: t.scope_id.clone(),
                role_id: role.role_id.clone(),
            });
            Ok(Ok(PrincipalUpdate {
                scope: t.scope_type.as_str().to_string(),
                scope_roles: entries,
            }))
        }
        Action::Revoke => {
            let Some(g) = held.filter(|g| g.role_id == role.role_id) else {
                let other = held
                    .map(|g| {
                        format!(
                            " (it holds {} there)",
                            g.role_name.as_deref().unwrap_or(&g.role_id)
                        )
                    })
                    .unwrap_or_default();
                return Ok(Err(format!(
                    "{who} does not hold {} on {}{other}: nothing to do",
                    role.name,
                    place(t)
                )));
            };
            if live.grants.len() == 1 && !req.force {
                return Err(ProvisionError::Refused(format!(
                    "{} is the last role of {who}: revoking it leaves {who} without any access to \
                     the console. Add --force to revoke it anyway",
                    g.role_name.as_deref().unwrap_or(&g.role_id)
                )));
            }
            entries.retain(|e| e.id != t.scope_id);
            Ok(Ok(PrincipalUpdate {
                scope: level,
                scope_roles: entries,
            }))
        }
    }
}

/// Carry out (or, with `dry_run`, describe) a grant or revoke.
pub async fn provision(
    client: &Client,
    store: &Arc<dyn Store>,
    req: &ProvisionRequest,
) -> Result<ProvisionOutcome, ProvisionError> {
    let dir = store.load_access(&req.console).await?;
    if dir.synced_at.is_none() {
        return Err(ProvisionError::Refused(format!(
            "no access data for console '{c}' yet: run `s1bridge sync --console {c} --only access` first \
             (names are resolved against the last access sync)",
            c = req.console
        )));
    }
    let target = resolve_scope(&dir, &req.scope)?;
    let stored = resolve_principal(&dir, &req.principal)?.clone();
    let role = resolve_role(&dir, &req.role)?.clone();
    let kind = stored.principal_kind;
    let live = read_live(client, &req.console, &stored, &dir)
        .await
        .map_err(|e| ProvisionError::Failed(explain(&e, kind, &target, false)))?;
    let planned = plan(req, &live, &role, &target)?;
    let path = api_kind(kind).update_path(&stored.principal_id);
    let mut outcome = ProvisionOutcome {
        action: req.action,
        result: String::new(),
        message: String::new(),
        principal_id: stored.principal_id.clone(),
        principal: stored.label().to_string(),
        role_id: role.role_id.clone(),
        role_name: role.name.clone(),
        scope_type: target.scope_type,
        scope_id: target.scope_id.clone(),
        request: None,
        before: live.grants.clone(),
        after: live.grants.clone(),
        audit_id: None,
    };
    let target_text = format!(
        "{} {} ({}): {} on {}",
        kind.as_str(),
        stored.principal_id,
        stored.label(),
        role.name,
        place(&target)
    );
    let mut audit = AuditEntry {
        id: 0,
        console: req.console.clone(),
        at: Utc::now(),
        actor: req.actor.clone(),
        action: req.action.audit_action().to_string(),
        target: target_text,
        dry_run: req.dry_run,
        request: serde_json::Value::Null,
        before: json!({ "scope": live.principal.scope, "grants": live.grants }),
        after: serde_json::Value::Null,
        result: String::new(),
        run_id: None,
    };
    let update = match planned {
        Err(noop) => {
            outcome.result = "noop".into();
            outcome.message = noop;
            if !req.dry_run {
                audit.after = audit.before.clone();
                audit.result = "noop".into();
                outcome.audit_id = Some(store.record_audit(&audit).await?);
            }
            return Ok(outcome);
        }
        Ok(u) => u,
    };
    let request = json!({
        "method": "PUT",
        "path": format!("{API_PREFIX}{path}"),
        "body": UpdateRequest { data: &update },
    });
    outcome.request = Some(request.clone());
    if req.dry_run {
        outcome.result = "dry_run".into();
        outcome.message = format!(
            "dry run: would {} — nothing was sent",
            match req.action {
                Action::Grant => "grant",
                Action::Revoke => "revoke",
            }
        );
        return Ok(outcome);
    }
    audit.request = request;
    let sent = client
        .update_principal_roles(api_kind(kind), &stored.principal_id, &update)
        .await;
    if let Err(e) = sent {
        let why = explain(&e, kind, &target, true);
        audit.result = format!("failed: {why}");
        audit.after = audit.before.clone();
        store.record_audit(&audit).await?;
        return Err(ProvisionError::Failed(why));
    }
    // Verify by reading the principal back.
    let after = match read_live(client, &req.console, &stored, &dir).await {
        Ok(a) => a,
        Err(e) => {
            let why = format!(
                "the change was sent but could not be verified: {}",
                explain(&e, kind, &target, false)
            );
            audit.result = format!("failed: {why}");
            store.record_audit(&audit).await?;
            return Err(ProvisionError::Failed(why));
        }
    };
    audit.after = json!({ "scope": after.principal.scope, "grants": after.grants });
    let now_holds = holds(&after.grants, &target).is_some_and(|g| g.role_id == role.role_id);
    let verified = match req.action {
        Action::Grant => now_holds,
        Action::Revoke => !now_holds,
    };
    if !verified {
        let why = format!(
            "the console accepted the change but reading {} back shows it {} {} on {}",
            stored.label(),
            if now_holds {
                "still holds"
            } else {
                "does not hold"
            },
            role.name,
            place(&target)
        );
        audit.result = format!("failed: verification: {why}");
        store.record_audit(&audit).await?;
        return Err(ProvisionError::Failed(why));
    }
    store
        .replace_principal_grants(&req.console, &after.principal, &after.grants, Utc::now())
        .await?;
    audit.result = "ok".into();
    outcome.audit_id = Some(store.record_audit(&audit).await?);
    outcome.result = "ok".into();
    outcome.after = after.grants;
    outcome.message = format!(
        "{} {} on {} for {} (verified by reading it back)",
        match req.action {
            Action::Grant => "granted",
            Action::Revoke => "revoked",
        },
        role.name,
        place(&target),
        stored.label()
    );
    Ok(outcome)
}

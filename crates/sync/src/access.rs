//! The access pass (feature `access`): accounts, sites, groups, RBAC roles, users and service
//! users of a console, turned into principals and scope-exact grants and handed to the store,
//! which records what changed since the previous sync.
//!
//! * One listing of `/users` and one of `/service-users` for the whole console (never one per
//!   account): a principal is stored once however many accounts it holds roles in.
//! * A grant is one `scopeRoles[]` entry: (principal, role id, scope type, scope id).
//! * A Site-scoped token cannot list accounts (403, 4030010): the pass goes on with what the
//!   token sees (its sites, their groups, the principals holding roles there) and is `partial`;
//!   a partial snapshot adds and updates, never removes.
//! * Everything is read before anything is stored: a failing pass stores nothing, so no
//!   principal is ever recorded as removed because a listing broke off.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use s1bridge_api::access::RbacRole;
use s1bridge_api::wire::{Account, ApiTokenInfo, Group, ScopeRole, ServiceUser, Site, User};
use s1bridge_api::{ApiError, Client};
use s1bridge_store::{
    AccessRole, AccessScope, AccessSnapshot, Grant, Principal, PrincipalKind, ScopeType, Store,
};
use serde::de::DeserializeOwned;

use crate::convert::parse_timestamp;
use crate::{Progress, ProgressSink, SyncError};

const FEATURE: &str = "access";

/// Options of the access pass.
#[derive(Debug, Clone)]
pub struct AccessOptions {
    /// A token (of a service user or user) expiring within this many days raises a
    /// `token_expiring` change event.
    pub token_warning_days: i64,
}

impl Default for AccessOptions {
    fn default() -> Self {
        AccessOptions {
            token_warning_days: 30,
        }
    }
}

/// What an access pass saw and stored.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AccessReport {
    pub accounts: u64,
    pub sites: u64,
    pub groups: u64,
    pub roles: u64,
    pub users: u64,
    pub service_users: u64,
    pub grants: u64,
    /// Change events recorded by this pass.
    pub changes: u64,
    /// Why the pass saw only part of the console (a Site-scoped token), if it did.
    pub partial: Option<String>,
}

impl AccessReport {
    pub fn records(&self) -> u64 {
        self.users + self.service_users
    }
}

/// Every item of a list endpoint, following the cursor.
async fn collect<T: DeserializeOwned + Send + 'static>(
    client: &Client,
    path: &'static str,
    query: Vec<(String, String)>,
    limit: u32,
) -> Result<Vec<T>, ApiError> {
    let mut pages = Box::pin(client.pages::<T>(path, query, limit, None));
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        out.extend(page?.items);
    }
    Ok(out)
}

/// Run one access pass for a console.
pub async fn run_pass(
    client: &Client,
    store: &Arc<dyn Store>,
    console: &str,
    run_id: i64,
    opts: &AccessOptions,
    progress: &ProgressSink,
) -> Result<AccessReport, SyncError> {
    progress.emit(Progress::Started {
        feature: FEATURE,
        total: None,
        already: 0,
    });
    let mut report = AccessReport::default();
    let accounts = match collect::<Account>(client, "/accounts", Vec::new(), 1000).await {
        Ok(a) => a,
        Err(e @ ApiError::Forbidden { .. }) => {
            report.partial = Some(format!(
                "the token cannot list accounts, so it is scoped to sites (or an account): only \
                 what it can see was synced, and nothing was marked removed. Use an Account- or \
                 Global-scoped token for the whole console ({e})"
            ));
            Vec::new()
        }
        Err(e) => return Err(e.into()),
    };
    let sites = collect::<Site>(client, "/sites", Vec::new(), 1000).await?;
    let groups = collect::<Group>(client, "/groups", Vec::new(), 300).await?;
    let roles = collect::<RbacRole>(client, "/rbac/roles", Vec::new(), 1000).await?;
    // A Site-scoped token lists the principals of its own sites.
    let principal_query = if report.partial.is_some() && !sites.is_empty() {
        let ids: Vec<&str> = sites.iter().map(|s| s.id.as_str()).collect();
        vec![("siteIds".to_string(), ids.join(","))]
    } else {
        Vec::new()
    };
    let users = collect::<User>(client, "/users", principal_query.clone(), 1000).await?;
    progress.emit(Progress::Page {
        feature: FEATURE,
        records: users.len() as u64,
        total: None,
    });
    let service_users =
        collect::<ServiceUser>(client, "/service-users", principal_query, 1000).await?;

    let at = Utc::now();
    let mut snapshot = directory(&accounts, &sites, &groups, &roles);
    snapshot.complete = report.partial.is_none();
    let mut principals: BTreeMap<String, (Principal, Vec<Grant>)> = BTreeMap::new();
    for u in &users {
        let (p, g) = user_record(console, u, at, &snapshot);
        principals.entry(p.principal_id.clone()).or_insert((p, g));
    }
    for u in &service_users {
        let (p, g) = service_user_record(console, u, at, &snapshot);
        principals.entry(p.principal_id.clone()).or_insert((p, g));
    }
    principals.remove("");
    for (p, g) in principals.into_values() {
        snapshot.principals.push(p);
        snapshot.grants.extend(g);
    }

    let summary = store
        .apply_access_snapshot(
            console,
            run_id,
            at,
            &snapshot,
            chrono::Duration::days(opts.token_warning_days.max(0)),
        )
        .await?;
    report.accounts = accounts.len() as u64;
    report.sites = sites.len() as u64;
    report.groups = groups.len() as u64;
    report.roles = roles.len() as u64;
    report.users = users.len() as u64;
    report.service_users = service_users.len() as u64;
    report.grants = snapshot.grants.len() as u64;
    report.changes = summary.changes;
    progress.emit(Progress::Finished {
        feature: FEATURE,
        records: report.records(),
    });
    Ok(report)
}

/// The roles and scopes of a console as a snapshot without principals: the directory grants
/// are resolved against.
pub fn directory(
    accounts: &[Account],
    sites: &[Site],
    groups: &[Group],
    roles: &[RbacRole],
) -> AccessSnapshot {
    let mut scopes = Vec::new();
    for a in accounts.iter().filter(|a| !a.id.is_empty()) {
        scopes.push(AccessScope {
            scope_type: ScopeType::Account,
            scope_id: a.id.clone(),
            name: a.name.clone(),
            parent_id: None,
        });
    }
    for s in sites.iter().filter(|s| !s.id.is_empty()) {
        scopes.push(AccessScope {
            scope_type: ScopeType::Site,
            scope_id: s.id.clone(),
            name: s.name.clone(),
            parent_id: s.account_id.clone(),
        });
    }
    for g in groups.iter().filter(|g| !g.id.is_empty()) {
        scopes.push(AccessScope {
            scope_type: ScopeType::Group,
            scope_id: g.id.clone(),
            name: g.name.clone(),
            parent_id: g.site_id.clone(),
        });
    }
    let roles = roles
        .iter()
        .filter(|r| !r.id.is_empty())
        .map(|r| AccessRole {
            role_id: r.id.clone(),
            name: r.name.clone().unwrap_or_else(|| r.id.clone()),
            predefined: r.predefined_role.unwrap_or(false),
            description: r.description.clone(),
            scope: r.scope.as_ref().map(|s| s.to_ascii_lowercase()),
            scope_id: r.scope_id.clone(),
        })
        .collect();
    AccessSnapshot {
        roles,
        scopes,
        ..AccessSnapshot::default()
    }
}

/// The fields users and service users share.
fn principal(
    console: &str,
    kind: PrincipalKind,
    id: &str,
    scope: &Option<String>,
    token: &Option<ApiTokenInfo>,
    at: DateTime<Utc>,
) -> Principal {
    Principal {
        console: console.to_string(),
        principal_id: id.to_string(),
        principal_kind: kind,
        email: None,
        name: None,
        scope: scope.clone(),
        api_token_expires_at: token
            .as_ref()
            .and_then(|t| t.expires_at.as_deref())
            .and_then(parse_timestamp),
        last_login_at: None,
        first_seen_at: at,
        last_seen_at: at,
    }
}

/// The principal record and grants of a user.
pub fn user_record(
    console: &str,
    u: &User,
    at: DateTime<Utc>,
    dir: &AccessSnapshot,
) -> (Principal, Vec<Grant>) {
    let mut p = principal(
        console,
        PrincipalKind::User,
        &u.id,
        &u.scope,
        &u.api_token,
        at,
    );
    p.email = u.email.clone();
    p.name = u.full_name.clone();
    p.last_login_at = u.last_login.as_deref().and_then(parse_timestamp);
    let g = grants_of(&p, &u.scope_roles, dir);
    (p, g)
}

/// The principal record and grants of a service user (its last activation as last login).
pub fn service_user_record(
    console: &str,
    u: &ServiceUser,
    at: DateTime<Utc>,
    dir: &AccessSnapshot,
) -> (Principal, Vec<Grant>) {
    let kind = PrincipalKind::ServiceUser;
    let mut p = principal(console, kind, &u.id, &u.scope, &u.api_token, at);
    p.name = u.name.clone();
    p.last_login_at = u.last_activation.as_deref().and_then(parse_timestamp);
    let g = grants_of(&p, &u.scope_roles, dir);
    (p, g)
}

/// The scope type of a `scopeRoles[]` entry: a known site or account id decides; otherwise the
/// principal's scope level; an entry without id is the tenant.
fn scope_type_of(id: Option<&str>, level: Option<&str>, dir: &AccessSnapshot) -> ScopeType {
    let Some(id) = id.filter(|i| !i.is_empty()) else {
        return ScopeType::Tenant;
    };
    let known = dir
        .scopes
        .iter()
        .find(|s| s.scope_id == id && s.scope_type != ScopeType::Group);
    match (known, level.and_then(ScopeType::parse)) {
        (Some(s), _) => s.scope_type,
        (None, Some(ScopeType::Group) | None) => ScopeType::Account,
        (None, Some(t)) => t,
    }
}

/// One grant per `scopeRoles[]` entry (one role per scope: a repeated scope keeps its first).
/// The role is the entry's `roleId`, else its (deprecated) role name resolved among the roles.
pub fn grants_of(p: &Principal, scope_roles: &[ScopeRole], dir: &AccessSnapshot) -> Vec<Grant> {
    let mut out: Vec<Grant> = Vec::new();
    for sr in scope_roles {
        let name = sr.role_name.clone().or_else(|| sr.roles.first().cloned());
        let role = sr.role_id.clone().filter(|r| !r.is_empty()).or_else(|| {
            let n = name.as_deref()?;
            dir.roles
                .iter()
                .find(|r| r.name.eq_ignore_ascii_case(n))
                .map(|r| r.role_id.clone())
        });
        let Some(role_id) = role else {
            continue;
        };
        let level = p.scope.as_deref();
        let scope_type = if level.and_then(ScopeType::parse) == Some(ScopeType::Tenant) {
            ScopeType::Tenant
        } else {
            scope_type_of(sr.id.as_deref(), level, dir)
        };
        let scope_id = (scope_type != ScopeType::Tenant)
            .then(|| sr.id.clone())
            .flatten();
        if out
            .iter()
            .any(|g| g.scope_type == scope_type && g.scope_id == scope_id)
        {
            continue;
        }
        let role_name = dir
            .roles
            .iter()
            .find(|r| r.role_id == role_id)
            .map(|r| r.name.clone())
            .or(name);
        let scope_name = match scope_type {
            ScopeType::Tenant => Some("Global".to_string()),
            _ => sr.name.clone().or_else(|| {
                dir.scopes
                    .iter()
                    .find(|s| Some(&s.scope_id) == scope_id.as_ref())
                    .and_then(|s| s.name.clone())
            }),
        };
        out.push(Grant {
            principal_id: p.principal_id.clone(),
            principal_kind: p.principal_kind,
            email: p.email.clone(),
            principal_name: p.name.clone(),
            role_id,
            role_name,
            scope_type,
            scope_id,
            scope_name,
        });
    }
    out
}

//! Users and service users as a console keeps them: listed by `GET /users` and `GET
//! /service-users`, read by `GET /users/{id}`, and changed by `PUT /users/{id}` and `PUT
//! /service-users/{id}` (the role grant/revoke call), with the console's validation (400 listing
//! every problem), permission (403) and Site-scoped token rules.
//!
//! Validation follows the Swagger update schema (research/s1-api.md §6.4): `scope` is one of
//! `tenant|account|site`; each `scopeRoles[]` entry names an existing role (`roleId`) and, below
//! the tenant, an existing scope id of that level (`id`), at most once. An empty `scopeRoles`
//! is accepted (the principal then holds no role): whether a real console accepts it is
//! unverified.

use s1bridge_api::access::{PrincipalUpdate, UpdateRequest};
use s1bridge_api::wire::{ScopeRole, ServiceUser, User};

use crate::query::{ApiError, Params, data};
use crate::tenant::{Tenant, scope_role, tenant_role};
use crate::{Faults, Inner, read, write};

/// The mutable principals of the simulated console (seeded from the tenant).
pub(crate) struct Principals {
    pub users: Vec<User>,
    pub service_users: Vec<ServiceUser>,
}

impl Principals {
    pub(crate) fn new(t: &Tenant) -> Principals {
        Principals {
            users: t.users.clone(),
            service_users: t.service_users.clone(),
        }
    }
}

/// Which principal list an update targets.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    User,
    ServiceUser,
}

/// A Site-scoped token sees only principals holding a role on its site.
fn visible(roles: &[ScopeRole], site: Option<&str>) -> bool {
    site.is_none_or(|s| roles.iter().any(|r| r.id.as_deref() == Some(s)))
}

impl Inner {
    fn scoped_site(&self, scoped: Option<u64>) -> Option<String> {
        scoped.map(|s| self.tenant.sites[s as usize].id.clone())
    }

    pub(crate) fn list_users(&self, p: &Params, scoped: Option<u64>) -> Result<Vec<u8>, ApiError> {
        let site = self.scoped_site(scoped);
        let users: Vec<User> = read(&self.access)
            .users
            .iter()
            .filter(|u| visible(&u.scope_roles, site.as_deref()))
            .cloned()
            .collect();
        crate::http::list_principals(p, &users, |u| (&u.id, &u.scope_roles))
    }

    pub(crate) fn list_service_users(
        &self,
        p: &Params,
        scoped: Option<u64>,
    ) -> Result<Vec<u8>, ApiError> {
        let site = self.scoped_site(scoped);
        let users: Vec<ServiceUser> = read(&self.access)
            .service_users
            .iter()
            .filter(|u| visible(&u.scope_roles, site.as_deref()))
            .cloned()
            .collect();
        crate::http::list_principals(p, &users, |u| (&u.id, &u.scope_roles))
    }

    /// `GET /users/{id}`.
    pub(crate) fn get_user(&self, id: &str, scoped: Option<u64>) -> Result<Vec<u8>, ApiError> {
        let site = self.scoped_site(scoped);
        let access = read(&self.access);
        match access.users.iter().find(|u| u.id == id) {
            Some(u) if visible(&u.scope_roles, site.as_deref()) => Ok(data(u)),
            Some(_) => Err(ApiError::Forbidden),
            None => Err(ApiError::NotFound),
        }
    }

    /// `PUT /users/{id}` and `PUT /service-users/{id}`: replace the principal's scope and roles.
    pub(crate) fn update_principal(
        &self,
        kind: Kind,
        id: &str,
        body: &[u8],
        scoped: Option<u64>,
        faults: &Faults,
    ) -> Result<Vec<u8>, ApiError> {
        if faults.access_read_only {
            return Err(ApiError::Forbidden);
        }
        let site = self.scoped_site(scoped);
        let update = parse_update(body)?;
        let roles = self.validate(&update)?;
        // A Site-scoped token may only give roles on its own site.
        if let Some(s) = &site
            && (update.scope != "site"
                || update
                    .scope_roles
                    .iter()
                    .any(|r| r.id.as_deref() != Some(s)))
        {
            return Err(ApiError::Forbidden);
        }
        let mut access = write(&self.access);
        let site = site.as_deref();
        match kind {
            Kind::User => replace_roles(&mut access.users, id, site, &update.scope, roles, |u| {
                (&u.id, &mut u.scope, &mut u.scope_roles)
            }),
            Kind::ServiceUser => replace_roles(
                &mut access.service_users,
                id,
                site,
                &update.scope,
                roles,
                |u| (&u.id, &mut u.scope, &mut u.scope_roles),
            ),
        }
    }

    /// The console's checks of an update, every problem listed; the resulting `scopeRoles`
    /// (with scope and role names filled in, as the console answers them).
    fn validate(&self, u: &PrincipalUpdate) -> Result<Vec<ScopeRole>, ApiError> {
        let t = &self.tenant;
        let mut problems = Vec::new();
        let mut out = Vec::new();
        if !matches!(u.scope.as_str(), "tenant" | "account" | "site") {
            problems.push(format!(
                "data.scope: Must be one of: tenant, account, site (got {:?}).",
                u.scope
            ));
        }
        if u.scope == "tenant" && u.scope_roles.len() > 1 {
            problems.push("data.scopeRoles: A tenant user holds one role.".to_string());
        }
        let mut seen = std::collections::HashSet::new();
        for (n, r) in u.scope_roles.iter().enumerate() {
            let Some(role) = t.roles.iter().find(|x| x.id == r.role_id) else {
                problems.push(format!("data.scopeRoles.{n}.roleId: Role not found."));
                continue;
            };
            if u.scope == "tenant" {
                out.push(tenant_role(role));
                continue;
            }
            let Some(id) = r.id.as_deref() else {
                problems.push(format!(
                    "data.scopeRoles.{n}.id: Missing data for required field."
                ));
                continue;
            };
            if !seen.insert(id.to_string()) {
                problems.push(format!("data.scopeRoles.{n}.id: Duplicate scope id {id}."));
                continue;
            }
            let found = match u.scope.as_str() {
                "account" => t.accounts.iter().find(|a| a.id == id).map(|a| {
                    let name = a.name.as_deref();
                    scope_role(id, name.unwrap_or(""), name, role)
                }),
                "site" => t.sites.iter().find(|s| s.id == id).map(|s| {
                    scope_role(
                        id,
                        s.name.as_deref().unwrap_or(""),
                        s.account_name.as_deref(),
                        role,
                    )
                }),
                _ => None,
            };
            match found {
                Some(sr) => out.push(sr),
                None if matches!(u.scope.as_str(), "account" | "site") => problems.push(format!(
                    "data.scopeRoles.{n}.id: {} {id} not found.",
                    if u.scope == "account" {
                        "Account"
                    } else {
                        "Site"
                    }
                )),
                None => {}
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(ApiError::ValidationMany(problems))
        }
    }
}

/// Give principal `id` of `list` its new scope and roles; its updated record as the answer.
fn replace_roles<T: serde::Serialize>(
    list: &mut [T],
    id: &str,
    site: Option<&str>,
    scope: &str,
    roles: Vec<ScopeRole>,
    parts: impl Fn(&mut T) -> (&String, &mut Option<String>, &mut Vec<ScopeRole>),
) -> Result<Vec<u8>, ApiError> {
    for p in list.iter_mut() {
        let (pid, p_scope, p_roles) = parts(p);
        if pid != id {
            continue;
        }
        if !visible(p_roles, site) {
            return Err(ApiError::Forbidden);
        }
        *p_scope = Some(scope.to_string());
        *p_roles = roles;
        return Ok(data(&*p));
    }
    Err(ApiError::NotFound)
}

fn parse_update(body: &[u8]) -> Result<PrincipalUpdate, ApiError> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::Validation("data: Missing data for required field.".into()))?;
    if !v.get("data").is_some_and(serde_json::Value::is_object) {
        return Err(ApiError::Validation(
            "data: Missing data for required field.".into(),
        ));
    }
    serde_json::from_value::<UpdateRequest<PrincipalUpdate>>(v)
        .map(|r| r.data)
        .map_err(|e| ApiError::Validation(format!("data: {e}")))
}

impl crate::Simulator {
    /// Ground truth: the users as the console currently holds them (after role updates).
    pub fn users(&self) -> Vec<User> {
        read(&self.inner.access).users.clone()
    }

    /// Ground truth: the service users as the console currently holds them.
    pub fn service_users(&self) -> Vec<ServiceUser> {
        read(&self.inner.access).service_users.clone()
    }

    /// The RBAC roles `/rbac/roles` serves.
    pub fn roles(&self) -> Vec<crate::Role> {
        self.inner.tenant.roles.clone()
    }

    /// The accounts `/accounts` serves (license counters aside).
    pub fn accounts(&self) -> Vec<s1bridge_api::wire::Account> {
        self.inner.tenant.accounts.clone()
    }
}

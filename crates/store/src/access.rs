//! Access (feature "access"): principals (users and service users), RBAC roles, scopes
//! (accounts, sites, groups) and scope-exact grants, plus the change events between syncs.
//!
//! A grant is (principal, role, scope type, scope id), taken from the principal's `scopeRoles`:
//! "who holds role R on site S" has an exact answer. A principal is stored once per console,
//! whatever the number of accounts it holds roles in.
//!
//! The change rules are [`reconcile`], a pure function every backend applies inside the
//! transaction of [`crate::Store::apply_access_snapshot`] and
//! [`crate::Store::replace_principal_grants`], so that all backends decide alike.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `user` or `service_user`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    User,
    ServiceUser,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::ServiceUser => "service_user",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(PrincipalKind::User),
            "service_user" => Some(PrincipalKind::ServiceUser),
            _ => None,
        }
    }
}

/// Where a role is held (`group` exists as a scope of objects, never of a role grant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeType {
    Tenant,
    Account,
    Site,
    Group,
}

impl ScopeType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeType::Tenant => "tenant",
            ScopeType::Account => "account",
            ScopeType::Site => "site",
            ScopeType::Group => "group",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tenant" | "global" => Some(ScopeType::Tenant),
            "account" => Some(ScopeType::Account),
            "site" => Some(ScopeType::Site),
            "group" => Some(ScopeType::Group),
            _ => None,
        }
    }
}

/// A user or service user of a console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub console: String,
    pub principal_id: String,
    pub principal_kind: PrincipalKind,
    /// Users only.
    pub email: Option<String>,
    /// Full name (users) or name (service users).
    pub name: Option<String>,
    /// The level its roles are held on: `tenant|account|site` (one level per principal).
    pub scope: Option<String>,
    /// When its API token expires, if it has one.
    pub api_token_expires_at: Option<DateTime<Utc>>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

impl Principal {
    /// The email, else the name, else the id: how the principal is shown.
    pub fn label(&self) -> &str {
        self.email
            .as_deref()
            .or(self.name.as_deref())
            .unwrap_or(&self.principal_id)
    }
}

/// An RBAC role (predefined or custom).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRole {
    pub role_id: String,
    pub name: String,
    pub predefined: bool,
    pub description: Option<String>,
    /// Where a custom role was created (`tenant|account|site`) and its id.
    pub scope: Option<String>,
    pub scope_id: Option<String>,
}

/// An account, site or group of the console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessScope {
    pub scope_type: ScopeType,
    pub scope_id: String,
    pub name: Option<String>,
    /// The account of a site, the site of a group.
    pub parent_id: Option<String>,
}

/// One role held by one principal on one scope. Field names are PRODUCT.md's `--json` contract
/// (plus `principal_name`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub principal_id: String,
    pub principal_kind: PrincipalKind,
    pub email: Option<String>,
    pub principal_name: Option<String>,
    pub role_id: String,
    pub role_name: Option<String>,
    pub scope_type: ScopeType,
    /// `None` for the tenant.
    pub scope_id: Option<String>,
    pub scope_name: Option<String>,
}

impl Grant {
    /// The grant's place: a principal holds one role per scope.
    pub fn place(&self) -> (&str, ScopeType, Option<&str>) {
        (
            &self.principal_id,
            self.scope_type,
            self.scope_id.as_deref(),
        )
    }
}

/// Everything stored about a console's access, or a sync's view of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessSnapshot {
    pub principals: Vec<Principal>,
    pub roles: Vec<AccessRole>,
    pub scopes: Vec<AccessScope>,
    pub grants: Vec<Grant>,
    /// A sync's snapshot: false when the token saw only part of the console (a Site-scoped
    /// token); such a snapshot adds and updates, never removes. Stored: whether the last sync
    /// was complete.
    pub complete: bool,
    /// Stored: when the console's access was last synced (`None`: never).
    pub synced_at: Option<DateTime<Utc>>,
}

/// What changed between two syncs (or through a grant/revoke of s1bridge).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessChangeKind {
    PrincipalAdded,
    PrincipalRemoved,
    GrantAdded,
    GrantRemoved,
    /// The role held on a scope changed (`detail`: `old → new`).
    RoleChanged,
    /// An API token expires within the warning window (`detail`: its expiry).
    TokenExpiring,
}

impl AccessChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessChangeKind::PrincipalAdded => "principal_added",
            AccessChangeKind::PrincipalRemoved => "principal_removed",
            AccessChangeKind::GrantAdded => "grant_added",
            AccessChangeKind::GrantRemoved => "grant_removed",
            AccessChangeKind::RoleChanged => "role_changed",
            AccessChangeKind::TokenExpiring => "token_expiring",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            AccessChangeKind::PrincipalAdded,
            AccessChangeKind::PrincipalRemoved,
            AccessChangeKind::GrantAdded,
            AccessChangeKind::GrantRemoved,
            AccessChangeKind::RoleChanged,
            AccessChangeKind::TokenExpiring,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One change event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessChange {
    /// Assigned by the store (0 before).
    pub change_id: i64,
    pub console: String,
    /// The sync run that saw it; `None` for a change made by `s1bridge access grant|revoke`.
    pub run_id: Option<i64>,
    pub at: DateTime<Utc>,
    pub kind: AccessChangeKind,
    pub principal_id: String,
    pub principal_kind: PrincipalKind,
    pub principal: String,
    pub role_id: Option<String>,
    pub role_name: Option<String>,
    pub scope_type: Option<ScopeType>,
    pub scope_id: Option<String>,
    pub scope_name: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessChangeFilter {
    pub console: Option<String>,
    /// Changes at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// 0 = no limit.
    pub limit: u32,
}

/// What an access sync stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessSyncSummary {
    pub principals: u64,
    pub roles: u64,
    pub scopes: u64,
    pub grants: u64,
    /// Change events recorded.
    pub changes: u64,
}

/// Where a reconciliation's changes come from.
#[derive(Debug, Clone, Copy)]
pub struct ChangeOrigin {
    pub run_id: Option<i64>,
    pub at: DateTime<Utc>,
    /// Tokens expiring before `at + token_warning` raise a `token_expiring` event (zero: none).
    pub token_warning: chrono::Duration,
}

/// The new stored state of a console and the change events, from the stored state `old` and a
/// sync's snapshot `new`. The rules:
///
/// * The first snapshot of a console (`old.synced_at` is `None`) is the baseline: no
///   added/removed/changed events (token warnings still apply).
/// * A principal not stored before: `principal_added`, and `grant_added` for each of its grants.
/// * A stored principal the snapshot lacks: `principal_removed` (its grants go with it, without
///   events of their own) — only when `new.complete`.
/// * Per (principal, scope type, scope id): a different role is `role_changed`; a new place is
///   `grant_added`; a stored place the snapshot lacks is `grant_removed` — the latter only when
///   `new.complete`.
/// * An incomplete snapshot (a Site-scoped token) adds and updates principals, roles, scopes
///   and grants and removes nothing.
/// * A principal's API token expiring within `origin.token_warning` of `origin.at` raises
///   `token_expiring` with the expiry as detail, once per (principal, expiry): `warned` holds
///   the (principal id, detail) pairs already raised.
/// * A principal keeps its stored `first_seen_at`.
pub fn reconcile(
    console: &str,
    old: &AccessSnapshot,
    new: &AccessSnapshot,
    origin: ChangeOrigin,
    warned: &HashSet<(String, String)>,
) -> (AccessSnapshot, Vec<AccessChange>) {
    let baseline = old.synced_at.is_none();
    let mut changes = Vec::new();
    let old_p: BTreeMap<&str, &Principal> = old
        .principals
        .iter()
        .map(|p| (p.principal_id.as_str(), p))
        .collect();
    let new_p: BTreeMap<&str, &Principal> = new
        .principals
        .iter()
        .map(|p| (p.principal_id.as_str(), p))
        .collect();
    let event =
        |kind: AccessChangeKind, p: &Principal, g: Option<&Grant>, detail: Option<String>| {
            AccessChange {
                change_id: 0,
                console: console.to_string(),
                run_id: origin.run_id,
                at: origin.at,
                kind,
                principal_id: p.principal_id.clone(),
                principal_kind: p.principal_kind,
                principal: p.label().to_string(),
                role_id: g.map(|g| g.role_id.clone()),
                role_name: g.and_then(|g| g.role_name.clone()),
                scope_type: g.map(|g| g.scope_type),
                scope_id: g.and_then(|g| g.scope_id.clone()),
                scope_name: g.and_then(|g| g.scope_name.clone()),
                detail,
            }
        };

    // Principals.
    let mut principals: BTreeMap<String, Principal> = BTreeMap::new();
    if !new.complete {
        for p in &old.principals {
            principals.insert(p.principal_id.clone(), p.clone());
        }
    }
    for p in &new.principals {
        let mut p = p.clone();
        if let Some(o) = old_p.get(p.principal_id.as_str()) {
            p.first_seen_at = o.first_seen_at;
        } else if !baseline {
            changes.push(event(AccessChangeKind::PrincipalAdded, &p, None, None));
        }
        principals.insert(p.principal_id.clone(), p);
    }
    if new.complete && !baseline {
        for p in &old.principals {
            if !new_p.contains_key(p.principal_id.as_str()) {
                changes.push(event(AccessChangeKind::PrincipalRemoved, p, None, None));
            }
        }
    }

    // Grants, by place.
    type Place = (String, ScopeType, Option<String>);
    let place = |g: &Grant| -> Place { (g.principal_id.clone(), g.scope_type, g.scope_id.clone()) };
    let old_g: BTreeMap<Place, &Grant> = old.grants.iter().map(|g| (place(g), g)).collect();
    let new_g: BTreeMap<Place, &Grant> = new.grants.iter().map(|g| (place(g), g)).collect();
    let mut grants: BTreeMap<Place, Grant> = BTreeMap::new();
    if !new.complete {
        for g in &old.grants {
            grants.insert(place(g), g.clone());
        }
    }
    for (k, g) in &new_g {
        let owner = principals.get(&g.principal_id);
        if !baseline && let Some(p) = owner {
            match old_g.get(k) {
                None => changes.push(event(AccessChangeKind::GrantAdded, p, Some(g), None)),
                Some(o) if o.role_id != g.role_id => {
                    let name = |g: &Grant| g.role_name.clone().unwrap_or_else(|| g.role_id.clone());
                    changes.push(event(
                        AccessChangeKind::RoleChanged,
                        p,
                        Some(g),
                        Some(format!("{} → {}", name(o), name(g))),
                    ));
                }
                Some(_) => {}
            }
        }
        grants.insert(k.clone(), (*g).clone());
    }
    if new.complete && !baseline {
        for (k, g) in &old_g {
            // Grants of a removed principal go with it (its principal_removed says so).
            if !new_g.contains_key(k)
                && let Some(p) = new_p.get(g.principal_id.as_str())
            {
                changes.push(event(AccessChangeKind::GrantRemoved, p, Some(g), None));
            }
        }
    }

    // Token expiry warnings.
    if origin.token_warning > chrono::Duration::zero() {
        let horizon = origin.at + origin.token_warning;
        for p in new_p.values() {
            if let Some(exp) = p.api_token_expires_at
                && exp <= horizon
            {
                let detail = exp.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                if !warned.contains(&(p.principal_id.clone(), detail.clone())) {
                    changes.push(event(
                        AccessChangeKind::TokenExpiring,
                        p,
                        None,
                        Some(detail),
                    ));
                }
            }
        }
    }

    let mut roles: BTreeMap<String, AccessRole> = BTreeMap::new();
    let mut scopes: BTreeMap<(ScopeType, String), AccessScope> = BTreeMap::new();
    if !new.complete {
        for r in &old.roles {
            roles.insert(r.role_id.clone(), r.clone());
        }
        for s in &old.scopes {
            scopes.insert((s.scope_type, s.scope_id.clone()), s.clone());
        }
    }
    for r in &new.roles {
        roles.insert(r.role_id.clone(), r.clone());
    }
    for s in &new.scopes {
        scopes.insert((s.scope_type, s.scope_id.clone()), s.clone());
    }

    let state = AccessSnapshot {
        principals: principals.into_values().collect(),
        roles: roles.into_values().collect(),
        scopes: scopes.into_values().collect(),
        grants: grants.into_values().collect(),
        complete: new.complete,
        synced_at: Some(origin.at),
    };
    (state, changes)
}

/// Filters of `s1bridge access`: ids match exactly, names and emails case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantFilter {
    /// A role id or name (`--who-has`).
    pub role: Option<String>,
    /// `tenant`, `account:ID`, `site:ID`, or a scope id or name (`--on`).
    pub scope: Option<String>,
    /// A principal id, email or name (`--principal`).
    pub principal: Option<String>,
}

fn same(a: Option<&str>, b: &str) -> bool {
    a.is_some_and(|a| a.trim().eq_ignore_ascii_case(b.trim()))
}

impl GrantFilter {
    pub fn matches(&self, g: &Grant) -> bool {
        let role = self
            .role
            .as_deref()
            .is_none_or(|r| g.role_id == r || same(g.role_name.as_deref(), r));
        let principal = self.principal.as_deref().is_none_or(|p| {
            g.principal_id == p
                || same(g.email.as_deref(), p)
                || same(g.principal_name.as_deref(), p)
        });
        let scope = self.scope.as_deref().is_none_or(|s| {
            let (ty, rest) = match s.split_once(':') {
                Some((t, r)) => (ScopeType::parse(t), r),
                None if ScopeType::parse(s) == Some(ScopeType::Tenant) => {
                    (Some(ScopeType::Tenant), "")
                }
                None => (None, s),
            };
            ty.is_none_or(|t| t == g.scope_type)
                && (rest.is_empty()
                    || g.scope_id.as_deref() == Some(rest)
                    || same(g.scope_name.as_deref(), rest))
        });
        role && principal && scope
    }

    /// Whether no filter is set.
    pub fn is_empty(&self) -> bool {
        self.role.is_none() && self.scope.is_none() && self.principal.is_none()
    }

    /// Whether the principal filter names `p` (by id, email or name).
    pub fn names_principal(&self, p: &Principal) -> bool {
        self.principal.as_deref().is_some_and(|w| {
            p.principal_id == w || same(p.email.as_deref(), w) || same(p.name.as_deref(), w)
        })
    }
}

/// A `--since`/`since=` value: `YYYY-MM-DD` (midnight UTC) or an RFC 3339 instant.
pub fn parse_since(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

impl AccessSnapshot {
    /// Grants matching `f`, in stored order (principal, scope type, scope id).
    pub fn grants_matching(&self, f: &GrantFilter) -> Vec<&Grant> {
        self.grants.iter().filter(|g| f.matches(g)).collect()
    }

    /// The principals a listing filtered by `f` shows: without filters all of them; else those
    /// holding a matching grant, and (with only a principal filter) the principal it names even
    /// when it holds no grant.
    pub fn principals_matching(&self, f: &GrantFilter) -> Vec<&Principal> {
        if f.is_empty() {
            return self.principals.iter().collect();
        }
        let grants = self.grants_matching(f);
        self.principals
            .iter()
            .filter(|p| {
                grants.iter().any(|g| g.principal_id == p.principal_id)
                    || (f.role.is_none() && f.scope.is_none() && f.names_principal(p))
            })
            .collect()
    }

    /// Principals whose API token expires before `now + within` (already expired included),
    /// soonest first.
    pub fn expiring_tokens(&self, now: DateTime<Utc>, within: chrono::Duration) -> Vec<&Principal> {
        let mut out: Vec<&Principal> = self
            .principals
            .iter()
            .filter(|p| p.api_token_expires_at.is_some_and(|e| e <= now + within))
            .collect();
        out.sort_by_key(|p| p.api_token_expires_at);
        out
    }

    /// The grants of one principal.
    pub fn grants_of(&self, principal_id: &str) -> Vec<&Grant> {
        self.grants
            .iter()
            .filter(|g| g.principal_id == principal_id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(p: &str, role: &str, ty: ScopeType, id: Option<&str>, name: Option<&str>) -> Grant {
        Grant {
            principal_id: p.into(),
            principal_kind: PrincipalKind::User,
            email: Some(format!("{p}@example.com")),
            principal_name: Some(format!("P {p}")),
            role_id: format!("r-{role}"),
            role_name: Some(role.into()),
            scope_type: ty,
            scope_id: id.map(str::to_string),
            scope_name: name.map(str::to_string),
        }
    }

    #[test]
    fn grant_filters_match_ids_and_names() {
        let snap = AccessSnapshot {
            grants: vec![
                grant("1", "Admin", ScopeType::Tenant, None, Some("Global")),
                grant("2", "Viewer", ScopeType::Site, Some("55"), Some("HQ")),
                grant("3", "Admin", ScopeType::Account, Some("55"), Some("Corp")),
            ],
            ..AccessSnapshot::default()
        };
        let ids = |f: GrantFilter| -> Vec<String> {
            snap.grants_matching(&f)
                .iter()
                .map(|g| g.principal_id.clone())
                .collect()
        };
        let f = |role: Option<&str>, scope: Option<&str>, principal: Option<&str>| GrantFilter {
            role: role.map(str::to_string),
            scope: scope.map(str::to_string),
            principal: principal.map(str::to_string),
        };
        assert_eq!(ids(f(Some("admin"), None, None)), ["1", "3"]);
        assert_eq!(ids(f(Some("r-Viewer"), None, None)), ["2"]);
        assert_eq!(ids(f(None, Some("tenant"), None)), ["1"]);
        assert_eq!(ids(f(None, Some("site:55"), None)), ["2"]);
        assert_eq!(ids(f(None, Some("55"), None)), ["2", "3"]);
        assert_eq!(ids(f(None, Some("account:corp"), None)), ["3"]);
        assert_eq!(ids(f(None, None, Some("2@EXAMPLE.com"))), ["2"]);
        assert_eq!(
            ids(f(Some("Admin"), Some("site:55"), None)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn expiring_tokens_are_listed_soonest_first() {
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let p = |id: &str, days: Option<i64>| Principal {
            console: "c".into(),
            principal_id: id.into(),
            principal_kind: PrincipalKind::ServiceUser,
            email: None,
            name: None,
            scope: None,
            api_token_expires_at: days.map(|d| t0 + chrono::Duration::days(d)),
            last_login_at: None,
            first_seen_at: t0,
            last_seen_at: t0,
        };
        let snap = AccessSnapshot {
            principals: vec![
                p("a", Some(20)),
                p("b", Some(-1)),
                p("c", None),
                p("d", Some(40)),
            ],
            ..AccessSnapshot::default()
        };
        let ids: Vec<_> = snap
            .expiring_tokens(t0, chrono::Duration::days(30))
            .iter()
            .map(|p| p.principal_id.as_str())
            .collect();
        assert_eq!(ids, ["b", "a"]);
    }

    #[test]
    fn principals_matching_follows_the_grant_filter() {
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let p = |id: &str| Principal {
            console: "c".into(),
            principal_id: id.into(),
            principal_kind: PrincipalKind::User,
            email: Some(format!("{id}@example.com")),
            name: None,
            scope: None,
            api_token_expires_at: None,
            last_login_at: None,
            first_seen_at: t0,
            last_seen_at: t0,
        };
        let snap = AccessSnapshot {
            principals: vec![p("1"), p("2"), p("9")],
            grants: vec![
                grant("1", "Admin", ScopeType::Tenant, None, None),
                grant("2", "Viewer", ScopeType::Site, Some("55"), Some("Lab")),
            ],
            ..AccessSnapshot::default()
        };
        let ids = |f: GrantFilter| -> Vec<String> {
            snap.principals_matching(&f)
                .iter()
                .map(|p| p.principal_id.clone())
                .collect()
        };
        assert_eq!(ids(GrantFilter::default()), ["1", "2", "9"]);
        let role = GrantFilter {
            role: Some("viewer".into()),
            ..GrantFilter::default()
        };
        assert_eq!(ids(role), ["2"]);
        // A principal without grants is still found by name, but not with a role filter too.
        let named = GrantFilter {
            principal: Some("9@EXAMPLE.com".into()),
            ..GrantFilter::default()
        };
        assert_eq!(ids(named.clone()), ["9"]);
        let both = GrantFilter {
            role: Some("Admin".into()),
            ..named
        };
        assert!(ids(both).is_empty());
    }

    #[test]
    fn since_takes_a_date_or_an_instant() {
        assert_eq!(
            parse_since("2026-03-01").map(|t| t.to_rfc3339()),
            Some("2026-03-01T00:00:00+00:00".to_string())
        );
        assert_eq!(
            parse_since(" 2026-03-01T12:30:00+02:00 ").map(|t| t.to_rfc3339()),
            Some("2026-03-01T10:30:00+00:00".to_string())
        );
        assert_eq!(parse_since("yesterday"), None);
    }
}

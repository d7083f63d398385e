//! The simulated tenant: accounts, sites, groups, users, service users and roles are small and
//! materialised; agents are derived on demand from `(seed, index)` plus a small overlay of
//! changes, so 100,000 (or 10 million) agents cost no memory until a page is asked for.
//!
//! Agent `i` lives in site `i % S` and, within that site, in group `(i / S) % G`; agent ids grow
//! strictly with `i`, so keyset pagination by id and filtering by site or group are arithmetic.

use std::collections::{BTreeMap, BTreeSet};

use s1bridge_api::wire::{
    Account, ActiveDirectory, Agent, AgentTag, AgentTags, AllSites, ApiTokenInfo, Group, Licenses,
    NamedRef, NetworkInterface, ScopeRole, ServiceUser, Site, Sku, User,
};
use serde_json::json;

use crate::SimConfig;
use crate::derive::{
    FIRST_NAMES, LAST_NAMES, MICROS_PER_DAY, MICROS_PER_SEC, capitalise, hash3, hex32, scramble28,
    splitmix64, ts_micros, ts_secs, unit, uuid_dashed,
};

/// `GET /rbac/roles` items: the api crate's wire type.
pub use s1bridge_api::access::RbacRole as Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Os {
    Windows,
    Macos,
    Linux,
}

impl Os {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Os::Windows => "windows",
            Os::Macos => "macos",
            Os::Linux => "linux",
        }
    }
    pub(crate) fn parse(s: &str) -> Option<Os> {
        match s.trim().to_ascii_lowercase().as_str() {
            "windows" => Some(Os::Windows),
            "macos" => Some(Os::Macos),
            "linux" => Some(Os::Linux),
            _ => None,
        }
    }
    fn versions(self) -> &'static [&'static str] {
        match self {
            Os::Windows => &["24.1.5.277", "23.4.6.347", "23.3.3.264", "22.3.5.887"],
            Os::Macos => &["24.1.2.6", "23.4.2.7", "23.3.2.12"],
            Os::Linux => &["24.1.2.6", "23.4.2.14", "22.4.1.2", "21.10.1.6"],
        }
    }
}

// Hash salts (one per derived attribute).
const S_OS: u64 = 1;
const S_KIND: u64 = 2;
const S_NAME: u64 = 3;
const S_DECOM: u64 = 4;
const S_STALE: u64 = 5;
const S_DUP: u64 = 6;
const S_AGO: u64 = 7;
const S_CREATED: u64 = 8;
const S_ID: u64 = 9;
const S_UUID: u64 = 10;
const S_UUID2: u64 = 11;
const S_VER: u64 = 12;
const S_MISC: u64 = 13;
const S_NET: u64 = 14;
const S_USER: u64 = 15;
const S_SCAN: u64 = 16;
const S_MODEL: u64 = 17;
const S_SERIAL: u64 = 18;
const S_UPD: u64 = 19;

/// Per-agent changes made by [`crate::Simulator::apply_changes`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Override {
    pub updated_us: Option<i64>,
    pub last_active_us: Option<i64>,
    pub created_us: Option<i64>,
    pub decommissioned: bool,
    pub version_bump: bool,
    pub ip_bump: u8,
}

/// The mutable part of the tenant.
#[derive(Debug, Clone)]
pub(crate) struct Overlay {
    /// Agents ever created (base + added); indices `0..n_total`.
    pub n_total: u64,
    pub overrides: BTreeMap<u64, Override>,
    pub deleted: BTreeSet<u64>,
    /// The simulated "now" of changes; starts at the epoch and advances on every change batch.
    pub clock_us: i64,
    /// Bumped on every change batch (invalidates cached counts).
    pub generation: u64,
}

/// The cheap facts of one agent needed for filtering and sorting.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Facts {
    pub os: Os,
    pub machine: u64,
    pub decommissioned: bool,
    pub stale: bool,
    pub last_active_us: i64,
    pub updated_us: i64,
    pub created_us: i64,
}

pub(crate) struct Tenant {
    pub mix: u64,
    /// The fixed "now" of the generated tenant (derived from the seed, not the wall clock).
    pub epoch_us: i64,
    pub n_base: u64,
    pub n_sites: u64,
    pub groups_per_site: u64,
    agent_base: u64,
    pub accounts: Vec<Account>,
    pub sites: Vec<Site>,
    /// Index of each site's account.
    pub site_account: Vec<usize>,
    /// `groups[s * G + g]`.
    pub groups: Vec<Group>,
    pub users: Vec<User>,
    pub service_users: Vec<ServiceUser>,
    pub roles: Vec<Role>,
    site_nat: Vec<[u8; 4]>,
    site_subnet: Vec<[u8; 3]>,
    site_gw_mac: Vec<String>,
}

/// An id of a small entity kind: 19 digits, increasing with `k`.
fn entity_id(mix: u64, kind: u64, k: u64) -> String {
    let base = 1_170_000_000_000_000_000
        + kind * 40_000_000_000_000_000
        + (mix % 1_000_000_000) * 1_000_000;
    (base + k * 16_777_216 + hash3(mix, k, 100 + kind) % 16_777_216).to_string()
}

const K_ACCOUNT: u64 = 1;
const K_SITE: u64 = 2;
const K_GROUP: u64 = 3;
const K_USER: u64 = 4;
const K_SVC: u64 = 5;
const K_ROLE: u64 = 6;

const ROLE_NAMES: [(&str, &str); 4] = [
    ("Admin", "Full management permissions"),
    ("IR Team", "Incident response: view and respond to threats"),
    ("SOC", "Security operations: view, triage and mitigate"),
    ("Viewer", "Read-only access"),
];

/// `now` (RFC 3339) in microseconds, or the current hour when absent or unparsable.
fn simulated_now_us(now: Option<&str>) -> i64 {
    if let Some(t) = now.and_then(|s| chrono::DateTime::parse_from_rfc3339(s.trim()).ok()) {
        return t.timestamp_micros();
    }
    let secs = chrono::Utc::now().timestamp();
    (secs - secs.rem_euclid(3600)) * MICROS_PER_SEC
}

impl Tenant {
    pub(crate) fn new(cfg: &SimConfig) -> Tenant {
        let mix = splitmix64(cfg.seed ^ 0x5131_B41D_6E00_0001);
        // The simulated present: configured, or the wall clock truncated to the hour.
        let epoch_us = simulated_now_us(cfg.now.as_deref());
        let n_accounts = u64::from(cfg.accounts.max(1));
        let spa = u64::from(cfg.sites_per_account.max(1));
        let n_sites = n_accounts * spa;
        let gps = u64::from(cfg.groups_per_site.max(1));
        let agent_base = 1_500_000_000_000_000_000 + (mix % 100_000_000_000_000) * 1000;
        let ago =
            |days: f64, h: u64| epoch_us - (days * MICROS_PER_DAY as f64 * (0.5 + unit(h))) as i64;
        let admin_name = "Jordan Reyes".to_string();
        let admin_id = entity_id(mix, K_USER, 0);

        let mut accounts = Vec::new();
        for a in 0..n_accounts {
            let h = hash3(mix, a, 200);
            let name = if a == 0 {
                "Example Corp".to_string()
            } else {
                format!("Example Subsidiary {a}")
            };
            accounts.push(Account {
                id: entity_id(mix, K_ACCOUNT, a),
                name: Some(name),
                account_type: Some("Paid".into()),
                state: Some("active".into()),
                created_at: Some(ts_micros(ago(1400.0, h))),
                updated_at: Some(ts_micros(ago(60.0, h >> 7))),
                expiration: None,
                is_default: Some(a == 0),
                external_id: Some(String::new()),
                number_of_sites: Some(spa as i64),
                active_agents: Some(0),
                total_licenses: Some(0),
                usage_type: Some("customer".into()),
                billing_mode: Some("subscription".into()),
                skus: vec![Sku {
                    kind: Some("Complete".into()),
                    total_licenses: Some(0),
                    unlimited: Some(true),
                    agents_in_sku: Some(0),
                }],
                licenses: Some(licenses(true)),
            });
        }

        let mut sites = Vec::new();
        let mut site_account = Vec::new();
        let mut site_nat = Vec::new();
        let mut site_subnet = Vec::new();
        let mut site_gw_mac = Vec::new();
        const SITE_NAMES: [&str; 8] = [
            "HQ",
            "Branch Offices",
            "Datacenter",
            "Cloud",
            "Remote Workers",
            "Lab",
            "Retail",
            "Factory",
        ];
        for s in 0..n_sites {
            let a = (s / spa) as usize;
            let h = hash3(mix, s, 300);
            let local = s % spa;
            let name = if local == 0 {
                "Default site".to_string()
            } else {
                let base = SITE_NAMES[(local as usize - 1) % SITE_NAMES.len()];
                if local as usize > SITE_NAMES.len() {
                    format!("{base} {local}")
                } else {
                    base.to_string()
                }
            };
            let total = 500 + (h % 20) as i64 * 250;
            sites.push(Site {
                id: entity_id(mix, K_SITE, s),
                name: Some(name),
                account_id: Some(accounts[a].id.clone()),
                account_name: accounts[a].name.clone(),
                active_licenses: Some(0),
                created_at: Some(ts_micros(ago(1300.0, h))),
                creator: Some(admin_name.clone()),
                creator_id: Some(admin_id.clone()),
                description: if local == 0 {
                    None
                } else {
                    Some(format!(
                        "Endpoints of {}",
                        SITE_NAMES[(local as usize - 1) % 8]
                    ))
                },
                expiration: None,
                external_id: Some(uuid_dashed(h, splitmix64(h))),
                health_status: Some(true),
                is_default: Some(local == 0),
                licenses: Some(licenses(!h.is_multiple_of(3))),
                registration_token: Some(format!(
                    "eyJ1cmwiOiAiaHR0cHM6Ly9zaW0uc2VudGluZWxvbmUubmV0IiwgInNpdGVfa2V5IjogIn{:016x}",
                    h
                )),
                site_type: Some("Paid".into()),
                sku: Some(
                    if !h.is_multiple_of(3) {
                        "Complete"
                    } else {
                        "Core"
                    }
                    .into(),
                ),
                state: Some("active".into()),
                suite: Some(
                    if !h.is_multiple_of(3) {
                        "Complete"
                    } else {
                        "Core"
                    }
                    .into(),
                ),
                total_licenses: Some(total),
                unlimited_expiration: Some(true),
                unlimited_licenses: Some(false),
                updated_at: Some(ts_micros(ago(90.0, h >> 9))),
            });
            site_account.push(a);
            let first = [52u8, 34, 20, 96, 73, 81, 185, 64][(h % 8) as usize];
            site_nat.push([
                first,
                (h >> 8) as u8 % 250 + 2,
                (h >> 16) as u8,
                (h >> 24) as u8 % 250 + 2,
            ]);
            let subnet = match h % 3 {
                0 => [10, (s % 250) as u8, ((h >> 32) % 250) as u8],
                1 => [172, 16 + (s % 16) as u8, ((h >> 32) % 250) as u8],
                _ => [192, 168, (s % 250) as u8],
            };
            site_subnet.push(subnet);
            let g = splitmix64(h);
            site_gw_mac.push(format!(
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                0x24,
                0x6e,
                (g >> 8) as u8,
                (g >> 16) as u8,
                (g >> 24) as u8,
                (g >> 32) as u8
            ));
        }

        let mut groups = Vec::new();
        const GROUP_NAMES: [&str; 6] = [
            "Workstations",
            "Servers",
            "Laptops",
            "Executives",
            "Developers",
            "Kiosks",
        ];
        for s in 0..n_sites {
            for g in 0..gps {
                let k = s * gps + g;
                let h = hash3(mix, k, 400);
                let name = if g == 0 {
                    "Default Group".to_string()
                } else {
                    let b = GROUP_NAMES[(g as usize - 1) % GROUP_NAMES.len()];
                    if g as usize > GROUP_NAMES.len() {
                        format!("{b} {g}")
                    } else {
                        b.to_string()
                    }
                };
                groups.push(Group {
                    id: entity_id(mix, K_GROUP, k),
                    name: Some(name),
                    site_id: Some(sites[s as usize].id.clone()),
                    kind: Some("static".into()),
                    is_default: Some(g == 0),
                    inherits: Some(true),
                    rank: None,
                    total_agents: Some(0),
                    creator: Some(admin_name.clone()),
                    creator_id: Some(admin_id.clone()),
                    filter_id: None,
                    filter_name: None,
                    registration_token: Some(format!(
                        "eyJ1cmwiOiAiaHR0cHM6Ly9zaW0uc2VudGluZWxvbmUubmV0IiwgImdyb3VwIjogIn{:016x}",
                        h
                    )),
                    description: None,
                    created_at: Some(ts_micros(ago(1200.0, h))),
                    updated_at: Some(ts_micros(ago(200.0, h >> 5))),
                });
            }
        }

        let roles: Vec<Role> = ROLE_NAMES
            .iter()
            .enumerate()
            .map(|(k, (name, desc))| {
                let h = hash3(mix, k as u64, 500);
                Role {
                    account_name: None,
                    created_at: Some(ts_micros(ago(2000.0, h))),
                    creator: Some("SentinelOne".into()),
                    creator_id: Some(entity_id(mix, K_USER, 9_999)),
                    description: Some((*desc).into()),
                    id: entity_id(mix, K_ROLE, k as u64),
                    name: Some((*name).into()),
                    predefined_role: Some(true),
                    scope: Some("tenant".into()),
                    scope_id: None,
                    site_name: None,
                    updated_at: Some(ts_micros(ago(2000.0, h >> 3))),
                    updated_by: Some("SentinelOne".into()),
                    updated_by_id: Some(entity_id(mix, K_USER, 9_999)),
                    users_in_roles: Some(0),
                }
            })
            .collect();

        let mut users = Vec::new();
        for u in 0..u64::from(cfg.users) {
            let h = hash3(mix, u, 600);
            let (first, last) = if u == 0 {
                ("jordan", "reyes")
            } else {
                (
                    FIRST_NAMES[(h % 32) as usize],
                    LAST_NAMES[((h >> 5) % 32) as usize],
                )
            };
            let email = if u == 0 {
                "jordan.reyes@example.com".to_string()
            } else {
                format!("{first}.{last}{u}@example.com")
            };
            let (scope, scope_roles) = match h % 4 {
                0 | 1 if u != 0 => {
                    let s = ((h >> 12) % n_sites) as usize;
                    let r = ((h >> 20) % 4) as usize;
                    (
                        "site",
                        vec![scope_role(
                            &sites[s].id,
                            sites[s].name.as_deref().unwrap_or(""),
                            accounts[site_account[s]].name.as_deref(),
                            &roles[r],
                        )],
                    )
                }
                2 if u != 0 => {
                    let a = ((h >> 12) % n_accounts) as usize;
                    let r = ((h >> 20) % 4) as usize;
                    (
                        "account",
                        vec![scope_role(
                            &accounts[a].id,
                            accounts[a].name.as_deref().unwrap_or(""),
                            accounts[a].name.as_deref(),
                            &roles[r],
                        )],
                    )
                }
                _ => ("tenant", vec![tenant_role(&roles[0])]),
            };
            let joined = ago(700.0, h);
            users.push(User {
                id: entity_id(mix, K_USER, u),
                email: Some(email),
                full_name: Some(format!("{} {}", capitalise(first), capitalise(last))),
                scope: Some(scope.into()),
                scope_roles,
                api_token: if h.is_multiple_of(3) {
                    Some(ApiTokenInfo {
                        created_at: Some(ts_micros(ago(20.0, h >> 3))),
                        expires_at: Some(ts_secs(ago(20.0, h >> 3) + 180 * MICROS_PER_DAY)),
                    })
                } else {
                    None
                },
                can_generate_api_token: Some(true),
                source: Some("mgmt".into()),
                date_joined: Some(ts_micros(joined)),
                last_login: Some(ts_micros(ago(5.0, h >> 9))),
                two_fa_enabled: Some(!h.is_multiple_of(5)),
                two_fa_status: Some(if !h.is_multiple_of(5) { "on" } else { "off" }.into()),
                email_verified: Some(true),
                is_system: Some(false),
                lowest_role: Some(if scope == "tenant" { "Admin" } else { "Viewer" }.into()),
            });
        }

        let mut service_users = Vec::new();
        for k in 0..u64::from(cfg.service_users) {
            let h = hash3(mix, k, 700);
            let created = ago(60.0, h);
            let site = (k % n_sites) as usize;
            let (scope, scope_roles, name) = if k == 0 {
                (
                    "tenant".to_string(),
                    vec![tenant_role(&roles[3])],
                    "s1bridge inventory sync".to_string(),
                )
            } else {
                (
                    "site".to_string(),
                    vec![scope_role(
                        &sites[site].id,
                        sites[site].name.as_deref().unwrap_or(""),
                        accounts[site_account[site]].name.as_deref(),
                        &roles[3],
                    )],
                    format!(
                        "Service user for SIEM ingestion for {} site id",
                        sites[site].id
                    ),
                )
            };
            service_users.push(ServiceUser {
                id: entity_id(mix, K_SVC, k),
                name: Some(name),
                description: None,
                scope: Some(scope),
                scope_roles,
                api_token: Some(ApiTokenInfo {
                    created_at: Some(ts_micros(created + 51_000)),
                    expires_at: Some(ts_secs(created + 30 * MICROS_PER_DAY)),
                }),
                created_at: Some(ts_micros(created)),
                created_by: Some(NamedRef {
                    id: Some(admin_id.clone()),
                    name: Some(admin_name.clone()),
                }),
                updated_at: Some(ts_micros(created - 2_175)),
                updated_by: Some(NamedRef {
                    id: Some(admin_id.clone()),
                    name: Some(admin_name.clone()),
                }),
                last_activation: Some(ts_micros(ago(2.0, h >> 4))),
            });
        }

        let mut roles = roles;
        for r in &mut roles {
            r.users_in_roles = Some(
                users
                    .iter()
                    .flat_map(|u| u.scope_roles.iter())
                    .filter(|sr| sr.role_id.as_deref() == Some(r.id.as_str()))
                    .count() as i64,
            );
        }

        Tenant {
            mix,
            epoch_us,
            n_base: u64::from(cfg.agents),
            n_sites,
            groups_per_site: gps,
            agent_base,
            accounts,
            sites,
            site_account,
            groups,
            users,
            service_users,
            roles,
            site_nat,
            site_subnet,
            site_gw_mac,
        }
    }

    #[inline]
    fn h(&self, i: u64, salt: u64) -> u64 {
        hash3(self.mix, i, salt)
    }

    /// The id of the user the API token belongs to.
    pub(crate) fn token_user_id(&self) -> String {
        entity_id(self.mix, K_USER, 8_888)
    }

    pub(crate) fn agent_id_num(&self, i: u64) -> u64 {
        self.agent_base + i * 8192 + self.h(i, S_ID) % 8192
    }

    pub(crate) fn agent_id(&self, i: u64) -> String {
        self.agent_id_num(i).to_string()
    }

    /// The index of an agent id, if it is one of ours (any index, present or not).
    pub(crate) fn index_of(&self, id: &str) -> Option<u64> {
        let n: u64 = id.trim().parse().ok()?;
        let i = n.checked_sub(self.agent_base)? / 8192;
        (self.agent_id_num(i) == n).then_some(i)
    }

    pub(crate) fn site_of(&self, i: u64) -> u64 {
        i % self.n_sites
    }

    pub(crate) fn group_of(&self, i: u64) -> u64 {
        (i / self.n_sites) % self.groups_per_site
    }

    fn is_dup_raw(&self, i: u64) -> bool {
        i + self.n_sites < self.n_base && self.h(i, S_DUP).is_multiple_of(100)
    }

    /// ~1% of base agents are an older record of the machine of agent `i + S` (same site).
    fn dup_of(&self, i: u64) -> Option<u64> {
        (self.is_dup_raw(i) && !self.is_dup_raw(i + self.n_sites)).then(|| i + self.n_sites)
    }

    fn os_of_machine(&self, m: u64) -> Os {
        match self.h(m, S_OS) % 100 {
            0..62 => Os::Windows,
            62..80 => Os::Macos,
            _ => Os::Linux,
        }
    }

    /// Facts of a non-duplicate record (base values, no overlay).
    fn base_times(&self, i: u64) -> (i64, i64, bool, bool) {
        let decom = self.h(i, S_DECOM).is_multiple_of(50);
        let stale = self.h(i, S_STALE).is_multiple_of(20);
        let ha = self.h(i, S_AGO);
        let ago_us = if decom {
            40 * MICROS_PER_DAY + (ha % (260 * MICROS_PER_DAY as u64)) as i64
        } else if stale {
            31 * MICROS_PER_DAY + (ha % (370 * MICROS_PER_DAY as u64)) as i64
        } else {
            MICROS_PER_SEC + (ha % (72 * 3600 * MICROS_PER_SEC as u64)) as i64
        };
        let last_active = self.epoch_us - ago_us;
        let created = last_active
            - MICROS_PER_DAY
            - (self.h(i, S_CREATED) % (900 * MICROS_PER_DAY as u64)) as i64;
        (last_active, created, decom, stale)
    }

    pub(crate) fn base_facts(&self, i: u64) -> Facts {
        let (machine, dup) = match self.dup_of(i) {
            Some(m) => (m, true),
            None => (i, false),
        };
        let (last_active, created, decom, stale) = if dup {
            let (_, orig_created, _, _) = self.base_times(machine);
            let la = orig_created
                - MICROS_PER_DAY
                - (self.h(i, S_AGO) % (60 * MICROS_PER_DAY as u64)) as i64;
            let cr = la
                - 30 * MICROS_PER_DAY
                - (self.h(i, S_CREATED) % (600 * MICROS_PER_DAY as u64)) as i64;
            (la, cr, false, true)
        } else {
            self.base_times(i)
        };
        // updatedAt follows lastActiveDate by up to 6 hours, never past the epoch.
        let span = (6 * 3600 * MICROS_PER_SEC)
            .min(self.epoch_us - 1 - last_active)
            .max(1);
        let updated = last_active + (self.h(i, S_UPD) % span as u64) as i64;
        Facts {
            os: self.os_of_machine(machine),
            machine,
            decommissioned: decom,
            stale,

            last_active_us: last_active,
            updated_us: updated,
            created_us: created,
        }
    }

    pub(crate) fn facts(&self, ov: &Overlay, i: u64) -> Facts {
        let mut f = self.base_facts(i);
        if let Some(o) = ov.overrides.get(&i) {
            apply_override(&mut f, o);
        }
        f
    }

    /// The full agent record of index `i` (present or not — callers check presence).
    pub(crate) fn agent(&self, ov: &Overlay, i: u64) -> Agent {
        let o = ov.overrides.get(&i);
        let mut f = self.base_facts(i);
        if let Some(o) = o {
            apply_override(&mut f, o);
        }
        self.build_agent(i, &f, o)
    }

    fn build_agent(&self, i: u64, f: &Facts, o: Option<&Override>) -> Agent {
        let m = f.machine;
        let s = self.site_of(i) as usize;
        let g = self.group_of(i) as usize;
        let site = &self.sites[s];
        let group = &self.groups[s * self.groups_per_site as usize + g];
        let account = &self.accounts[self.site_account[s]];
        let hk = self.h(m, S_KIND);
        let hn = self.h(m, S_NAME);
        let hm = self.h(m, S_MODEL);
        let hu = self.h(m, S_USER);
        let hnet = self.h(m, S_NET);
        let hr = self.h(i, S_MISC);
        let hs = self.h(i, S_SCAN);
        let u = scramble28(m, self.mix);
        let first = FIRST_NAMES[(hu % 32) as usize];
        let last = LAST_NAMES[((hu >> 5) % 32) as usize];

        // Machine type, model, cpu, memory, names.
        let (machine_type, model, cpu, cores, mem, vm): (&str, &str, &str, i64, i64, bool) =
            match f.os {
                Os::Windows => match hk % 100 {
                    0..45 => {
                        let t = [
                            (
                                "Dell Inc. OptiPlex 7090",
                                "Intel(R) Core(TM) i7-10700 CPU @ 2.90GHz",
                            ),
                            (
                                "HP HP EliteDesk 800 G6 Desktop Mini PC",
                                "Intel(R) Core(TM) i5-10500T CPU @ 2.30GHz",
                            ),
                            (
                                "LENOVO 11DT0040US",
                                "Intel(R) Core(TM) i5-10400 CPU @ 2.90GHz",
                            ),
                        ][(hm % 3) as usize];
                        (
                            "desktop",
                            t.0,
                            t.1,
                            [4, 6, 8][(hm >> 4) as usize % 3],
                            [8066, 16108, 32530][(hm >> 8) as usize % 3],
                            false,
                        )
                    }
                    45..85 => {
                        let t = [
                            (
                                "LENOVO 20XW0026US",
                                "11th Gen Intel(R) Core(TM) i5-1145G7 @ 2.60GHz",
                            ),
                            (
                                "Dell Inc. Latitude 5420",
                                "11th Gen Intel(R) Core(TM) i7-1185G7 @ 3.00GHz",
                            ),
                            (
                                "HP HP EliteBook 840 G8 Notebook PC",
                                "AMD Ryzen 7 PRO 5850U with Radeon Graphics",
                            ),
                        ][(hm % 3) as usize];
                        (
                            "laptop",
                            t.0,
                            t.1,
                            [4, 8][(hm >> 4) as usize % 2],
                            [7907, 16108, 32530][(hm >> 8) as usize % 3],
                            false,
                        )
                    }
                    _ => {
                        let t = [
                            (
                                "VMware, Inc. VMware Virtual Platform",
                                "Intel(R) Xeon(R) CPU E5-2699 v3 @ 2.30GHz",
                                true,
                            ),
                            (
                                "Microsoft Corporation Virtual Machine",
                                "Intel(R) Xeon(R) Platinum 8272CL CPU @ 2.60GHz",
                                true,
                            ),
                            (
                                "Dell Inc. PowerEdge R640",
                                "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz",
                                false,
                            ),
                        ][(hm % 3) as usize];
                        (
                            "server",
                            t.0,
                            t.1,
                            [2, 4, 8, 16][(hm >> 4) as usize % 4],
                            [3951, 8191, 16383, 65535][(hm >> 8) as usize % 4],
                            t.2,
                        )
                    }
                },
                Os::Macos => {
                    let t = [
                        ("MacBookPro18,3", "Apple M1 Pro", "laptop"),
                        ("MacBookAir10,1", "Apple M1", "laptop"),
                        ("Mac14,2", "Apple M2", "laptop"),
                        (
                            "MacBookPro16,1",
                            "Intel(R) Core(TM) i7-9750H CPU @ 2.60GHz",
                            "laptop",
                        ),
                        ("iMac21,1", "Apple M1", "desktop"),
                        ("Macmini9,1", "Apple M1", "desktop"),
                    ][(hm % 6) as usize];
                    (
                        t.2,
                        t.0,
                        t.1,
                        [8, 10][(hm >> 4) as usize % 2],
                        [8192, 16384, 32768][(hm >> 8) as usize % 3],
                        false,
                    )
                }
                Os::Linux => match hk % 100 {
                    0..5 => (
                        "desktop",
                        "Dell Inc. Precision 3660",
                        "12th Gen Intel(R) Core(TM) i7-12700 @ 2.10GHz",
                        12,
                        31862,
                        false,
                    ),
                    5..15 => (
                        "kubernetes node",
                        "Amazon EC2 m5.xlarge",
                        "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz",
                        4,
                        15884,
                        true,
                    ),
                    _ => {
                        let t = [
                            (
                                "VMware, Inc. VMware Virtual Platform",
                                "Intel(R) Xeon(R) CPU E5-2699 v3 @ 2.30GHz",
                            ),
                            (
                                "Amazon EC2 t3.medium",
                                "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz",
                            ),
                            (
                                "Google Google Compute Engine",
                                "Intel(R) Xeon(R) CPU @ 2.20GHz",
                            ),
                            (
                                "Dell Inc. PowerEdge R640",
                                "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz",
                            ),
                        ][(hm % 4) as usize];
                        (
                            "server",
                            t.0,
                            t.1,
                            [2, 4, 8][(hm >> 4) as usize % 3],
                            [3951, 7953, 15884, 32012][(hm >> 8) as usize % 4],
                            !t.0.starts_with("Dell"),
                        )
                    }
                },
            };
        let cloud = model.starts_with("Amazon") || model.starts_with("Google");
        let esxi = model.starts_with("VMware");

        let subnet = self.site_subnet[s];
        let host3 = ((hnet >> 8) % 250) as u8;
        let host4 = ((hnet >> 16) % 250 + 2) as u8 + o.map_or(0, |o| o.ip_bump);
        let ip = match subnet[0] {
            10 => format!("10.{}.{}.{}", subnet[1], host3 % 16, host4),
            172 => format!("172.{}.{}.{}", subnet[1], host3, host4),
            _ => format!("192.168.{}.{}", subnet[2], host4),
        };
        let gw = match subnet[0] {
            10 => format!("10.{}.{}.1", subnet[1], host3 % 16),
            172 => format!("172.{}.{}.1", subnet[1], host3),
            _ => format!("192.168.{}.1", subnet[2]),
        };

        let computer_name = match f.os {
            Os::Windows => match machine_type {
                "server" => {
                    let role = ["APP", "SQL", "DC", "FS", "WEB", "RDS"][(hn % 6) as usize];
                    format!("SRV-{role}-{u:07X}")
                }
                _ => {
                    if hn.is_multiple_of(3) {
                        format!("DESKTOP-{u:07X}")
                    } else {
                        format!("WIN-{u:07X}")
                    }
                }
            },
            Os::Macos => {
                let kind = if model.starts_with("MacBookPro") {
                    "mbp"
                } else if model.starts_with("MacBookAir") || model.starts_with("Mac14") {
                    "mba"
                } else if model.starts_with("iMac") {
                    "imac"
                } else {
                    "macmini"
                };
                format!("{kind}-{first}-{}", u % 100_000)
            }
            Os::Linux => {
                if cloud {
                    format!("ip-{}", ip.replace('.', "-"))
                } else {
                    let role = ["web-prod", "db", "build", "k8s-worker", "ubuntu", "app"]
                        [(hn % 6) as usize];
                    format!("{role}-{u:x}")
                }
            }
        };

        let (os_name, os_revision, installer) = match f.os {
            Os::Windows => {
                let (n, r) = if machine_type == "server" {
                    [
                        ("Windows Server 2019 Standard", "17763"),
                        ("Windows Server 2022 Standard", "20348"),
                        ("Windows Server 2016 Standard", "14393"),
                    ][(hk >> 8) as usize % 3]
                } else {
                    [
                        ("Windows 10 Pro", "19045"),
                        ("Windows 11 Pro", "22631"),
                        ("Windows 11 Enterprise", "22621"),
                        ("Windows 10 Enterprise", "19044"),
                    ][(hk >> 8) as usize % 4]
                };
                (
                    n.to_string(),
                    r.to_string(),
                    if hk % 5 < 3 { ".msi" } else { ".exe" },
                )
            }
            Os::Macos => {
                let r = [
                    "14.5 (23F79)",
                    "13.6.7 (22G720)",
                    "15.1 (24B83)",
                    "14.6.1 (23G93)",
                ][(hk >> 8) as usize % 4];
                ("macOS".to_string(), r.to_string(), ".pkg")
            }
            Os::Linux => {
                let (r, inst) = [
                    ("Ubuntu 22.04.4 LTS 5.15.0-105-generic", ".deb"),
                    (
                        "Red Hat Enterprise Linux release 8.9 (Ootpa) 4.18.0-513.24.1.el8_9.x86_64",
                        ".rpm",
                    ),
                    (
                        "Amazon Linux release 2 (Karoo) 5.10.215-203.850.amzn2.x86_64",
                        ".rpm",
                    ),
                    ("Debian GNU/Linux 12 (bookworm) 6.1.0-21-amd64", ".deb"),
                    ("Ubuntu 14.04.6 LTS 4.4.0-142-generic", ".deb"),
                ][(hk >> 8) as usize % 5];
                ("Linux".to_string(), r.to_string(), inst)
            }
        };

        let versions = f.os.versions();
        let vi = if o.is_some_and(|o| o.version_bump) {
            0
        } else {
            (self.h(i, S_VER) % versions.len() as u64) as usize
        };
        let agent_version = versions[vi];

        let serial = match f.os {
            _ if cloud && model.starts_with("Amazon") => Some(format!(
                "ec2{}",
                &uuid_dashed(self.h(m, S_SERIAL), splitmix64(hm))[3..]
            )),
            _ if vm && self.h(m, S_SERIAL) % 10 < 7 => None,
            _ if esxi => Some(format!(
                "VMware-42 {:02x} {:02x} {:02x} {:02x} {:02x} {:02x} {:02x}-{:02x} {:02x} {:02x} {:02x} {:02x} {:02x} {:02x} {:02x}",
                (hm >> 8) as u8,
                (hm >> 16) as u8,
                (hm >> 24) as u8,
                (hm >> 32) as u8,
                (hm >> 40) as u8,
                (hm >> 48) as u8,
                (hm >> 56) as u8,
                u as u8,
                (u >> 8) as u8,
                (u >> 16) as u8,
                (hu >> 8) as u8,
                (hu >> 16) as u8,
                (hu >> 24) as u8,
                (hu >> 32) as u8,
                (hu >> 40) as u8
            )),
            Os::Macos => Some(format!("C02{:07X}{:02X}", u, (hm >> 8) as u8)),
            _ => Some(format!("PF{:07X}", u)),
        };

        // MAC: vendor OUI + 24 bits unique per machine.
        let (oui, upper) = if esxi {
            ([0x00, 0x50, 0x56], true)
        } else if model.starts_with("Microsoft") {
            ([0x00, 0x15, 0x5d], false)
        } else if cloud {
            (
                [0x06, (hm >> 8) as u8 & 0xfc | 0x02, (hm >> 16) as u8],
                false,
            )
        } else if f.os == Os::Macos {
            ([0xa4, 0x83, 0xe7], false)
        } else {
            ([0x3c, 0x52, 0x82], false)
        };
        let mac_bytes = [
            oui[0],
            oui[1],
            oui[2],
            (u >> 16) as u8,
            (u >> 8) as u8,
            u as u8,
        ];
        let mac = mac_string(&mac_bytes, upper);
        let link_local = eui64_link_local(&mac_bytes);

        let nic_name = match f.os {
            Os::Windows if machine_type == "laptop" => "Wi-Fi",
            Os::Windows => "Ethernet0",
            Os::Macos => "en0",
            Os::Linux if cloud => "ens5",
            Os::Linux if esxi => "ens160",
            Os::Linux => "eth0",
        };
        let id_num = self.agent_id_num(i);
        let mut inet = vec![ip.clone()];
        if cloud && hnet.is_multiple_of(10) {
            inet.push(format!(
                "52.{}.{}.{}",
                (hnet >> 24) as u8 % 250 + 2,
                (hnet >> 32) as u8,
                (hnet >> 40) as u8 % 250 + 2
            ));
        }
        let mut inet6 = vec![link_local];
        if hnet.is_multiple_of(7) {
            inet6.push(format!(
                "2001:db8:{:x}:{:x}::{:x}",
                s + 1,
                host3,
                (hnet >> 40) as u16
            ));
        }
        let mut nics = vec![NetworkInterface {
            id: Some((id_num + 8_388_609).to_string()),
            name: Some(nic_name.into()),
            inet,
            inet6,
            physical: Some(mac),
            gateway_ip: Some(gw),
            gateway_mac_address: Some(self.site_gw_mac[s].clone()),
        }];
        if hnet % 4 == 1 {
            let (name, inet, phys) = match f.os {
                Os::Linux => (
                    "docker0".to_string(),
                    vec!["172.17.0.1".to_string()],
                    mac_string(
                        &[
                            0x02,
                            0x42,
                            (hnet >> 8) as u8,
                            (hnet >> 16) as u8,
                            (hnet >> 24) as u8,
                            (hnet >> 32) as u8,
                        ],
                        false,
                    ),
                ),
                Os::Windows => (
                    "Ethernet".to_string(),
                    vec![format!(
                        "169.254.{}.{}",
                        (hnet >> 8) as u8,
                        (hnet >> 16) as u8 % 250 + 2
                    )],
                    mac_string(
                        &[
                            oui[0],
                            oui[1],
                            oui[2],
                            (u >> 16) as u8,
                            (u >> 8) as u8,
                            (u as u8).wrapping_add(1),
                        ],
                        upper,
                    ),
                ),
                Os::Macos => (
                    "en1".to_string(),
                    vec![],
                    mac_string(
                        &[
                            oui[0],
                            oui[1],
                            oui[2],
                            (u >> 16) as u8,
                            (u >> 8) as u8,
                            (u as u8).wrapping_add(1),
                        ],
                        false,
                    ),
                ),
            };
            nics.push(NetworkInterface {
                id: Some((id_num + 8_388_610).to_string()),
                name: Some(name),
                inet,
                inet6: vec![],
                physical: Some(phys),
                gateway_ip: None,
                gateway_mac_address: None,
            });
        }

        let nat = self.site_nat[s];
        let external_ip = format!("{}.{}.{}.{}", nat[0], nat[1], nat[2], nat[3]);
        let group_ip = format!("{}.{}.{}.x", nat[0], nat[1], nat[2]);

        let user_name = match (f.os, machine_type) {
            (Os::Windows, "server") => {
                if hu.is_multiple_of(3) {
                    "Administrator".to_string()
                } else {
                    String::new()
                }
            }
            (Os::Windows, _) => format!("{first}.{last}"),
            (Os::Macos, _) => first.to_string(),
            (Os::Linux, "desktop") => first.to_string(),
            (Os::Linux, _) => {
                if hu.is_multiple_of(4) {
                    ["ubuntu", "ec2-user", "admin"][(hu >> 8) as usize % 3].to_string()
                } else {
                    String::new()
                }
            }
        };
        let corp = f.os == Os::Windows && hu % 10 < 7;
        let active_directory = if corp {
            let ou = if machine_type == "server" {
                "Servers"
            } else {
                "Workstations"
            };
            ActiveDirectory {
                computer_distinguished_name: Some(format!(
                    "CN={computer_name},OU={ou},DC=corp,DC=example,DC=com"
                )),
                computer_member_of: vec![format!("CN={ou},OU=Groups,DC=corp,DC=example,DC=com")],
                last_user_distinguished_name: (!user_name.is_empty()).then(|| {
                    format!(
                        "CN={} {},OU=Users,DC=corp,DC=example,DC=com",
                        capitalise(first),
                        capitalise(last)
                    )
                }),
                last_user_member_of: if user_name.is_empty() {
                    vec![]
                } else {
                    vec!["CN=Domain Users,CN=Users,DC=corp,DC=example,DC=com".to_string()]
                },
            }
        } else {
            ActiveDirectory::default()
        };

        let infected = !f.decommissioned && hr.is_multiple_of(100);
        let is_active = !f.decommissioned
            && !f.stale
            && f.last_active_us
                > self.epoch_us.max(ov_clock(o, self.epoch_us)) - 24 * 3600 * MICROS_PER_SEC;
        let (scan_status, scan_started, scan_finished, scan_aborted) = match hs % 20 {
            0..16 => {
                let st = f.created_us
                    + 300 * MICROS_PER_SEC
                    + (hs >> 8) as i64 % (3600 * MICROS_PER_SEC);
                (
                    "finished",
                    Some(st),
                    Some(st + 1800 * MICROS_PER_SEC + (hs >> 20) as i64 % (5400 * MICROS_PER_SEC)),
                    None,
                )
            }
            16..18 => (
                "started",
                Some(f.created_us + 57 * MICROS_PER_SEC + (hs >> 8) as i64 % MICROS_PER_SEC),
                None,
                None,
            ),
            18 => {
                let st = f.created_us + 120 * MICROS_PER_SEC + (hs >> 8) as i64 % MICROS_PER_SEC;
                ("aborted", Some(st), None, Some(st + 600 * MICROS_PER_SEC))
            }
            _ => ("none", None, None, None),
        };
        let ranger = match hr >> 8 & 7 {
            0 => ("Enabled", Some("23.2.1.155".to_string())),
            1 => ("Disabled", None),
            _ => ("NotApplicable", None),
        };
        let tags = if (hr >> 12).is_multiple_of(20) {
            vec![AgentTag {
                id: Some((id_num + 16_777_216).to_string()),
                key: Some("env".into()),
                value: Some(["prod", "staging", "dev"][(hr >> 20) as usize % 3].into()),
                assigned_at: Some(ts_micros(f.created_us + 3 * MICROS_PER_DAY)),
                assigned_by: Some("Jordan Reyes".into()),
                assigned_by_id: Some(
                    self.users
                        .first()
                        .map_or_else(|| entity_id(self.mix, K_USER, 0), |u| u.id.clone()),
                ),
            }]
        } else {
            vec![]
        };
        let apps_vuln = match f.os {
            Os::Linux => "not_applicable",
            _ => ["patch_required", "up_to_date", "up_to_date"][(hr >> 24) as usize % 3],
        };
        let location_enabled = f.os != Os::Linux && (hr >> 28).is_multiple_of(3);
        let registered = f.created_us - 4_160 - (hr >> 32) as i64 % 1000;
        let os_start =
            f.last_active_us - 3600 * MICROS_PER_SEC - (hs >> 32) as i64 % (20 * MICROS_PER_DAY);
        let cloud_providers = if esxi { json!({"ESXI": {}}) } else { json!({}) };
        let (ua, ub) = (self.h(i, S_UUID), self.h(i, S_UUID2));

        Agent {
            account_id: Some(account.id.clone()),
            account_name: account.name.clone(),
            active_directory: Some(active_directory),
            active_threats: Some(if infected {
                1 + (hr >> 40) as i64 % 3
            } else {
                0
            }),
            agent_version: Some(agent_version.into()),
            allow_remote_shell: Some((hr >> 44).is_multiple_of(10)),
            apps_vulnerability_status: Some(apps_vuln.into()),
            cloud_providers: Some(cloud_providers),
            computer_name: Some(computer_name),
            console_migration_status: Some("N/A".into()),
            core_count: Some(cores),
            cpu_count: Some(if machine_type == "server" { cores } else { 1 }),
            cpu_id: Some(cpu.into()),
            created_at: Some(ts_micros(f.created_us)),
            detection_state: None,
            domain: Some(
                if corp {
                    "CORP"
                } else if f.os == Os::Windows {
                    "WORKGROUP"
                } else {
                    "unknown"
                }
                .into(),
            ),
            encrypted_applications: Some(f.os == Os::Macos && (hr >> 46).is_multiple_of(3)),
            external_id: Some(String::new()),
            external_ip: Some(external_ip),
            firewall_enabled: Some(f.os != Os::Linux || (hr >> 48).is_multiple_of(2)),
            first_full_mode_time: None,
            group_id: Some(group.id.clone()),
            group_ip: Some(group_ip),
            group_name: group.name.clone(),
            id: id_num.to_string(),
            in_remote_shell_session: Some(false),
            infected: Some(infected),
            installer_type: Some(installer.into()),
            is_active: Some(is_active),
            is_decommissioned: Some(f.decommissioned),
            is_pending_uninstall: Some(false),
            is_uninstalled: Some(false),
            is_up_to_date: Some(vi == 0),
            last_active_date: Some(ts_micros(f.last_active_us)),
            last_ip_to_mgmt: Some(ip),
            last_logged_in_user_name: Some(user_name),
            license_key: Some(String::new()),
            location_enabled: Some(location_enabled),
            location_type: Some(
                if location_enabled {
                    "fallback"
                } else {
                    "not_applicable"
                }
                .into(),
            ),
            locations: None,
            machine_type: Some(machine_type.into()),
            mitigation_mode: Some(
                if (hr >> 50).is_multiple_of(10) {
                    "detect"
                } else {
                    "protect"
                }
                .into(),
            ),
            mitigation_mode_suspicious: Some(
                if (hr >> 52) % 10 < 7 {
                    "detect"
                } else {
                    "protect"
                }
                .into(),
            ),
            model_name: Some(model.into()),
            network_interfaces: nics,
            network_quarantine_enabled: Some(false),
            network_status: Some(
                if f.decommissioned || f.stale {
                    "disconnected"
                } else if (hr >> 54).is_multiple_of(33) {
                    "disconnecting"
                } else {
                    "connected"
                }
                .into(),
            ),
            operational_state: Some("na".into()),
            operational_state_expiration: None,
            os_arch: Some(
                if cpu.starts_with("Apple") {
                    "ARM64"
                } else {
                    "64 bit"
                }
                .into(),
            ),
            os_name: Some(os_name),
            os_revision: Some(os_revision),
            os_start_time: Some(ts_secs(os_start)),
            os_type: Some(f.os.as_str().into()),
            os_username: if f.os == Os::Linux {
                Some("root".into())
            } else {
                None
            },
            ranger_status: Some(ranger.0.into()),
            ranger_version: ranger.1,
            registered_at: Some(ts_micros(registered)),
            remote_profiling_state: Some("disabled".into()),
            remote_profiling_state_expiration: None,
            scan_aborted_at: scan_aborted.map(ts_micros),
            scan_finished_at: scan_finished.map(ts_micros),
            scan_started_at: scan_started.map(ts_micros),
            scan_status: Some(scan_status.into()),
            serial_number: serial,
            site_id: Some(site.id.clone()),
            site_name: site.name.clone(),
            storage_name: None,
            storage_type: None,
            tags: Some(AgentTags { sentinelone: tags }),
            threat_reboot_required: Some(false),
            total_memory: Some(mem),
            updated_at: Some(ts_micros(f.updated_us)),
            user_actions_needed: if (hr >> 58).is_multiple_of(33) {
                vec!["reboot_needed".into()]
            } else {
                vec![]
            },
            uuid: Some(match f.os {
                Os::Linux => uuid_dashed(ua, ub),
                _ => hex32(ua, ub),
            }),
        }
    }
}

fn ov_clock(o: Option<&Override>, epoch: i64) -> i64 {
    o.and_then(|o| o.last_active_us).unwrap_or(epoch)
}

fn apply_override(f: &mut Facts, o: &Override) {
    if let Some(v) = o.updated_us {
        f.updated_us = v;
    }
    if let Some(v) = o.last_active_us {
        f.last_active_us = v;
        f.stale = false;
    }
    if let Some(v) = o.created_us {
        f.created_us = v;
    }
    if o.decommissioned {
        f.decommissioned = true;
    }
}

fn mac_string(b: &[u8; 6], upper: bool) -> String {
    if upper {
        format!(
            "{:02X}:{:02X}:{:02X}:{:02X}:{:02X}:{:02X}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    } else {
        format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// `fe80::` + modified EUI-64 of the MAC (`00:50:56:90:80:E0` → `fe80::250:56ff:fe90:80e0`).
fn eui64_link_local(b: &[u8; 6]) -> String {
    let w = [
        u16::from_be_bytes([b[0] ^ 0x02, b[1]]),
        u16::from_be_bytes([b[2], 0xff]),
        u16::from_be_bytes([0xfe, b[3]]),
        u16::from_be_bytes([b[4], b[5]]),
    ];
    format!("fe80::{:x}:{:x}:{:x}:{:x}", w[0], w[1], w[2], w[3])
}

pub(crate) fn scope_role(
    id: &str,
    name: &str,
    account_name: Option<&str>,
    role: &Role,
) -> ScopeRole {
    ScopeRole {
        id: Some(id.to_string()),
        name: Some(name.to_string()),
        account_name: account_name.map(str::to_string),
        role_id: Some(role.id.clone()),
        role_name: role.name.clone(),
        roles: role.name.iter().cloned().collect(),
    }
}

/// The role a tenant-level (Global) principal holds. ASSUMPTION: no capture of a tenant user's
/// `scopeRoles` is known; the update schema says a tenant role needs no scope id, so the entry
/// has no `id` and the scope name the console shows for the tenant, "Global".
pub(crate) fn tenant_role(role: &Role) -> ScopeRole {
    ScopeRole {
        id: None,
        name: Some("Global".to_string()),
        account_name: None,
        role_id: Some(role.id.clone()),
        role_name: role.name.clone(),
        roles: role.name.iter().cloned().collect(),
    }
}

/// A site's `licenses{bundles, modules, settings}` shaped like the real capture.
fn licenses(complete: bool) -> Licenses {
    let (bundle, display) = if complete {
        ("complete", "Complete")
    } else {
        ("core", "Core")
    };
    Licenses {
        bundles: vec![json!({
            "displayName": display, "majorVersion": 1, "minorVersion": 4, "name": bundle,
            "surfaces": [{"count": 1000, "name": "Total Agents"}], "totalSurfaces": 1000
        })],
        modules: vec![json!({"displayName": "Ranger", "majorVersion": 1, "name": "ranger"})],
        settings: vec![
            json!({"displayName": "365 Days", "groupName": "malicious_data_retention", "setting": "365 Days", "settingGroup": "malicious_data_retention", "settingGroupDisplayName": "Malicious Data Retention"}),
            json!({"displayName": "14 Days", "groupName": "dv_retention", "setting": "14 Days", "settingGroup": "dv_retention", "settingGroupDisplayName": "Deep Visibility Data Retention"}),
            json!({"displayName": "Available", "groupName": "marketplace_access_status", "setting": "Available", "settingGroup": "marketplace_access_status", "settingGroupDisplayName": "Marketplace Access"}),
        ],
    }
}

/// Allowed index classes: `i % m` must be one of `residues` (sorted).
#[derive(Debug, Clone)]
pub(crate) struct Classes {
    pub m: u64,
    pub residues: Vec<u64>,
}

impl Classes {
    pub(crate) fn all() -> Classes {
        Classes {
            m: 1,
            residues: vec![0],
        }
    }
    pub(crate) fn contains(&self, i: u64) -> bool {
        self.residues.binary_search(&(i % self.m)).is_ok()
    }
    /// How many indices in `0..n` are in the classes.
    pub(crate) fn count_below(&self, n: u64) -> u64 {
        self.residues
            .iter()
            .filter(|&&r| r < n)
            .map(|&r| (n - 1 - r) / self.m + 1)
            .sum()
    }
    /// Visit indices `>= start` and `< n` in ascending order until `f` returns false.
    pub(crate) fn for_each_asc(&self, start: u64, n: u64, mut f: impl FnMut(u64) -> bool) {
        if start >= n || self.residues.is_empty() {
            return;
        }
        let mut b = start / self.m;
        loop {
            let base = b * self.m;
            if base >= n {
                return;
            }
            for &r in &self.residues {
                let i = base + r;
                if i < start {
                    continue;
                }
                if i >= n || !f(i) {
                    return;
                }
            }
            b += 1;
        }
    }
    /// Visit indices `<= start` and `< n` in descending order until `f` returns false.
    pub(crate) fn for_each_desc(&self, start: u64, n: u64, mut f: impl FnMut(u64) -> bool) {
        if n == 0 || self.residues.is_empty() {
            return;
        }
        let start = start.min(n - 1);
        let mut b = start / self.m;
        loop {
            let base = b * self.m;
            for &r in self.residues.iter().rev() {
                let i = base + r;
                if i > start {
                    continue;
                }
                if !f(i) {
                    return;
                }
            }
            if b == 0 {
                return;
            }
            b -= 1;
        }
    }
}

/// Sum of `site totalLicenses` etc. for `/sites`' `allSites`.
pub(crate) fn all_sites(sites: &[Site]) -> AllSites {
    AllSites {
        active_licenses: Some(sites.iter().filter_map(|s| s.active_licenses).sum()),
        total_licenses: Some(sites.iter().filter_map(|s| s.total_licenses).sum()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eui64_matches_the_real_sample() {
        assert_eq!(
            eui64_link_local(&[0x00, 0x50, 0x56, 0x90, 0x80, 0xE0]),
            "fe80::250:56ff:fe90:80e0"
        );
    }

    #[test]
    fn classes_iterate_and_count() {
        let c = Classes {
            m: 6,
            residues: vec![1, 4],
        };
        let mut v = vec![];
        c.for_each_asc(3, 20, |i| {
            v.push(i);
            true
        });
        assert_eq!(v, vec![4, 7, 10, 13, 16, 19]);
        let mut d = vec![];
        c.for_each_desc(13, 20, |i| {
            d.push(i);
            true
        });
        assert_eq!(d, vec![13, 10, 7, 4, 1]);
        assert_eq!(c.count_below(20), 7);
        assert_eq!(c.count_below(1), 0);
        assert_eq!(c.count_below(2), 1);
    }
}

//! A deterministic, fault-injecting simulator of the SentinelOne Management API v2.1: a fake
//! console for tests, benchmarks and demos.
//!
//! * The tenant is derived from a seed: the same [`SimConfig`] gives byte-identical bodies.
//! * Agents are never materialised: agent `i` is computed from `(seed, i)` when a page needs it,
//!   plus a small overlay of the changes made by [`Simulator::apply_changes`]. 100,000 agents
//!   cost nothing at construction; a page of 1,000 is generated and serialised in milliseconds.
//! * Payloads are the `s1bridge_api::wire` types the client deserialises, shaped like the real
//!   captures in `shared/s1-samples` (see the fidelity and Swagger tests).
//! * Faults (5xx, connection resets, truncated bodies, 401, 403, unlicensed features, rate
//!   limits, a hard failure after N requests) are deterministic functions of a fault seed and the
//!   request sequence number.

mod access;
mod derive;
mod dv;
mod http;
mod indicators;
mod query;
mod ratelimit;
mod tenant;
mod vuln;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};

use s1bridge_api::features::Capability;
use s1bridge_api::limits::LimitTable;
use s1bridge_api::wire::{Agent, Site};
use serde::{Deserialize, Serialize};

pub use dv::{AiAgentTruth, DecoyEvent, DvConfig, PlantedAgent};
pub use tenant::Role;
pub use vuln::{FindingKey, RiskApi};

use crate::derive::{MICROS_PER_DAY, MICROS_PER_SEC, hash3, ts_micros, ts_secs};
use crate::tenant::{Overlay, Override, Tenant};

/// Everything that defines a simulated console. Parsed from a TOML scenario by `s1bridge sim`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default)]
pub struct SimConfig {
    /// Same seed + sizes => byte-identical tenant.
    pub seed: u64,
    pub accounts: u32,
    pub sites_per_account: u32,
    pub groups_per_site: u32,
    pub agents: u32,
    pub users: u32,
    pub service_users: u32,
    /// The one valid API token (`Authorization: ApiToken <token>`, scheme case-insensitive).
    pub token: String,
    /// Drives `/user` `apiToken.expiresAt` and `/users/api-token-details`. Measured from the
    /// wall clock at construction (the only wall-clock-dependent values the simulator emits), so
    /// that a client's "token expires in N days" warning is meaningful.
    pub token_expires_in_days: i64,
    /// The simulated present, RFC 3339 (e.g. `2026-03-01T00:00:00Z`). Agents' activity and
    /// update times lie before it. Default (None): the wall clock when the simulator is created,
    /// truncated to the hour, so that "stale" and "last active" read like a live console. Set it
    /// for byte-identical output across runs.
    pub now: Option<String>,
    /// Added to every response.
    pub latency_ms: u64,
    /// Enforce `LimitTable::published()` (scaled by `rate_limit_scale`) with 429.
    pub rate_limits: bool,
    /// 1.0 = published limits.
    pub rate_limit_scale: f64,
    /// Honour `Accept-Encoding: gzip` (fast compression level).
    pub gzip: bool,
    /// Vulnerability findings (`/application-management/risks` rows) of every agent, derived on
    /// demand. Capped at the smallest per-OS catalogue pool (21); 0 = no findings.
    pub findings_per_agent: u32,
    /// Which vulnerability API the console offers (current Application Management, or only the
    /// deprecated Application Risk API of older consoles).
    pub risk_api: RiskApi,
    pub faults: Faults,
    /// Deep Visibility / PowerQuery process telemetry with labelled AI agents and decoys.
    pub dv: DvConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            accounts: 1,
            sites_per_account: 3,
            groups_per_site: 2,
            agents: 250,
            users: 12,
            service_users: 3,
            token: "sim-token-0123456789abcdef".into(),
            token_expires_in_days: 180,
            now: None,
            latency_ms: 0,
            rate_limits: false,
            rate_limit_scale: 1.0,
            gzip: true,
            findings_per_agent: 8,
            risk_api: RiskApi::Current,
            faults: Faults::default(),
            dv: DvConfig::default(),
        }
    }
}

/// Injected failures. Probabilities are per request, decided deterministically from
/// `fault_seed` and the request's sequence number.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Faults {
    pub fault_seed: u64,
    /// 500 with the real internal-error body.
    pub error_5xx_rate: f64,
    /// The connection is aborted after part of the body was sent.
    pub reset_rate: f64,
    /// A 200 whose JSON is cut in half (Content-Length matches the cut body).
    pub truncate_rate: f64,
    /// Every authenticated request answers 401 with the exact real body.
    pub unauthorized: bool,
    /// 403 4030010 "Insufficient permissions" on that feature's paths.
    pub forbidden: Vec<Capability>,
    /// 403 with a licence detail on that feature's paths (invented body, see `http.rs`).
    pub not_licensed: Vec<Capability>,
    /// The token is scoped to the first site: `/accounts` → 403, lists limited to that site,
    /// `/user` scope "site"; users and service users are listed (and readable) only when they
    /// hold a role on that site, and role updates may only give roles on that site (else 403).
    pub site_scoped_token: bool,
    /// Every request after the Nth → 500.
    pub fail_after_requests: Option<u64>,
    /// The token's role may view users and service users but not change them: their update
    /// calls answer 403 4030010.
    pub access_read_only: bool,
    /// PowerQuery (`/dv/events/pq*`) answers 403 "not licensed" while the rest of Deep
    /// Visibility works (`not_licensed = ["deep-visibility"]` switches off both).
    pub powerquery_not_licensed: bool,
    /// Every Deep Visibility query ends in this `responseState` (`FAILED`, `FAILED_CLIENT`,
    /// `ERROR`, `TIMED_OUT`, `QUERY_CANCELLED`, `QUERY_EXPIRED`, `EMPTY_RESULTS` …) instead of
    /// FINISHED, and every PowerQuery in FAILED; `RUNNING` means never finishing.
    pub dv_terminal_state: Option<String>,
}

/// Request counters.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SimStats {
    pub requests: u64,
    /// Path without query → count.
    pub by_path: BTreeMap<String, u64>,
    pub by_status: BTreeMap<u16, u64>,
    /// 429s answered.
    pub rate_limited: u64,
}

/// One served request.
#[derive(Clone, Debug, Serialize)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string ("" when none).
    pub query: String,
    pub status: u16,
}

/// Tenant changes between syncs. Deterministic from `seed` and the tenant's current state.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct TenantChanges {
    pub add: u32,
    pub update: u32,
    pub decommission: u32,
    pub delete: u32,
    pub seed: u64,
}

/// Vulnerability-finding changes between syncs, applied by
/// [`Simulator::apply_finding_changes`]. Deterministic from `seed` and the current state.
///
/// Kept apart from [`TenantChanges`] (which other crates build with exhaustive struct literals);
/// the control plane `POST /_sim/changes` accepts both sets of fields in one body.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct FindingChanges {
    /// Present findings that disappear (patched): gone from the list, `Removed` with
    /// `includeRemovals=true`.
    pub fix_findings: u32,
    /// Findings that appear on an agent that did not have them.
    pub new_findings: u32,
    /// Previously fixed findings that come back with a NEW console row id.
    pub reopen_findings: u32,
    pub seed: u64,
}

/// The agent ids each change touched, and the findings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ChangeReport {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub decommissioned: Vec<String>,
    pub deleted: Vec<String>,
    pub fixed_findings: Vec<FindingKey>,
    pub new_findings: Vec<FindingKey>,
    pub reopened_findings: Vec<FindingKey>,
}

pub(crate) const LOG_CAPACITY: usize = 10_000;

pub(crate) struct Inner {
    pub(crate) cfg: SimConfig,
    pub(crate) faults: RwLock<Faults>,
    pub(crate) tenant: Tenant,
    pub(crate) overlay: RwLock<Overlay>,
    pub(crate) seq: AtomicU64,
    pub(crate) stats: Mutex<SimStats>,
    pub(crate) log: Mutex<VecDeque<LoggedRequest>>,
    pub(crate) limiter: Mutex<ratelimit::Limiter>,
    pub(crate) limits: LimitTable,
    /// Cached `totalItems` of filtered agent queries, keyed by canonical filter + generation.
    pub(crate) count_cache: Mutex<HashMap<String, u64>>,
    pub(crate) token_created_us: i64,
    pub(crate) token_expires_us: i64,
    pub(crate) vulns: vuln::Vulns,
    /// Users and service users, changed by the role update calls.
    pub(crate) access: RwLock<access::Principals>,
    pub(crate) dv: dv::Telemetry,
    /// Blocklist entries, firewall rules and TI IOCs created through the API.
    pub(crate) indicators: Mutex<indicators::Indicators>,
}

/// The simulator. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Simulator {
    pub(crate) inner: Arc<Inner>,
}

/// A simulator serving on a socket. Shuts down on drop or via [`RunningSim::shutdown`].
pub struct RunningSim {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    pub addr: SocketAddr,
    pub sim: Simulator,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl RunningSim {
    /// Stop accepting connections; in-flight requests finish.
    pub fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Simulator {
    /// Build the tenant: O(accounts + sites + groups + users), independent of the agent count.
    pub fn new(cfg: SimConfig) -> Simulator {
        let tenant = Tenant::new(&cfg);
        let principals = access::Principals::new(&tenant);
        let cfg_findings = cfg.findings_per_agent;
        let overlay = Overlay {
            n_total: tenant.n_base,
            overrides: Default::default(),
            deleted: Default::default(),
            clock_us: tenant.epoch_us,
            generation: 0,
        };
        let now_us = chrono::Utc::now().timestamp_micros();
        let token_expires_us = now_us + cfg.token_expires_in_days * MICROS_PER_DAY;
        // Console tokens are issued for a fixed term; pretend this one is 30 days old unless it
        // expires sooner than that from now (then it was issued 30 days before expiry).
        let token_created_us =
            (now_us - 30 * MICROS_PER_DAY).min(token_expires_us - 30 * MICROS_PER_DAY);
        let limits = LimitTable::published().scaled(if cfg.rate_limit_scale > 0.0 {
            cfg.rate_limit_scale
        } else {
            1.0
        });
        let dv = dv::Telemetry::new(&tenant, &overlay, &cfg.dv);
        Simulator {
            inner: Arc::new(Inner {
                dv,
                faults: RwLock::new(cfg.faults.clone()),
                cfg,
                tenant,
                overlay: RwLock::new(overlay),
                seq: AtomicU64::new(0),
                stats: Mutex::new(SimStats::default()),
                log: Mutex::new(VecDeque::with_capacity(1024)),
                limiter: Mutex::new(ratelimit::Limiter::default()),
                limits,
                count_cache: Mutex::new(HashMap::new()),
                token_created_us,
                token_expires_us,
                vulns: vuln::Vulns::new(cfg_findings),
                access: RwLock::new(principals),
                indicators: Mutex::new(indicators::Indicators::default()),
            }),
        }
    }

    /// An axum router serving the API (for in-process use).
    pub fn router(&self) -> axum::Router {
        http::router(self.clone())
    }

    /// Bind `addr` (use `127.0.0.1:0` for a free port) and serve in a spawned task.
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<RunningSim> {
        use axum::serve::ListenerExt;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = self.router();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(RunningSim {
            url: format!("http://{local}"),
            addr: local,
            sim: self.clone(),
            shutdown: Some(tx),
        })
    }

    /// The configuration, with the current faults.
    pub fn config(&self) -> SimConfig {
        let mut c = self.inner.cfg.clone();
        c.faults = read(&self.inner.faults).clone();
        c
    }

    pub fn set_faults(&self, f: Faults) {
        *write(&self.inner.faults) = f;
    }

    pub fn stats(&self) -> SimStats {
        lock(&self.inner.stats).clone()
    }

    pub fn reset_stats(&self) {
        *lock(&self.inner.stats) = SimStats::default();
        lock(&self.inner.log).clear();
    }

    /// The last 10,000 requests, oldest first.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        lock(&self.inner.log).iter().cloned().collect()
    }

    /// Apply tenant changes: add new agents, update (bump `updatedAt` to the simulated clock,
    /// new `lastActiveDate`, newest agent version, changed IP), decommission, delete (gone from
    /// every list). The simulated clock advances one hour per call, so every changed agent's
    /// `updatedAt` is later than any value served before the call.
    pub fn apply_changes(&self, c: &TenantChanges) -> ChangeReport {
        let t = &self.inner.tenant;
        let mut ov = write(&self.inner.overlay);
        ov.generation += 1;
        ov.clock_us += 3600 * MICROS_PER_SEC;
        let clock = ov.clock_us;
        let mix = hash3(t.mix, c.seed, ov.generation);
        let mut report = ChangeReport::default();
        let mut tick = 0i64;
        let mut next_ts = || {
            tick += 1;
            clock + tick * 1_013
        };

        // Pick distinct present, not-yet-touched-in-this-batch agents.
        let mut touched = std::collections::BTreeSet::new();
        let mut pick = |ov: &Overlay, salt: u64, k: u64, need_active: bool| -> Option<u64> {
            let n = ov.n_total;
            if n == 0 {
                return None;
            }
            for attempt in 0..64u64 {
                let i = hash3(mix, k * 64 + attempt, salt) % n;
                if ov.deleted.contains(&i) || touched.contains(&i) {
                    continue;
                }
                if need_active && t.facts(ov, i).decommissioned {
                    continue;
                }
                touched.insert(i);
                return Some(i);
            }
            None
        };

        for k in 0..u64::from(c.update) {
            if let Some(i) = pick(&ov, 1, k, false) {
                let ts = next_ts();
                let o = ov.overrides.entry(i).or_default();
                o.updated_us = Some(ts);
                o.last_active_us = Some(ts - 2_500_000);
                o.version_bump = true;
                o.ip_bump = o.ip_bump.wrapping_add(1) % 3;
                report.updated.push(t.agent_id(i));
            }
        }
        for k in 0..u64::from(c.decommission) {
            if let Some(i) = pick(&ov, 2, k, true) {
                let ts = next_ts();
                let o = ov.overrides.entry(i).or_default();
                o.updated_us = Some(ts);
                o.decommissioned = true;
                report.decommissioned.push(t.agent_id(i));
            }
        }
        for k in 0..u64::from(c.delete) {
            if let Some(i) = pick(&ov, 3, k, false) {
                ov.deleted.insert(i);
                ov.overrides.remove(&i);
                report.deleted.push(t.agent_id(i));
            }
        }
        for _ in 0..c.add {
            let i = ov.n_total;
            ov.n_total += 1;
            let ts = next_ts();
            ov.overrides.insert(
                i,
                Override {
                    updated_us: Some(ts),
                    last_active_us: Some(ts - 1_000_000),
                    created_us: Some(ts - 60 * MICROS_PER_SEC),
                    ..Override::default()
                },
            );
            report.added.push(t.agent_id(i));
        }
        drop(ov);
        lock(&self.inner.count_cache).clear();
        report
    }

    /// Ground truth: the ids a full sync must end with (not deleted; includes decommissioned).
    pub fn present_agent_ids(&self) -> Vec<String> {
        let ov = read(&self.inner.overlay);
        (0..ov.n_total)
            .filter(|i| !ov.deleted.contains(i))
            .map(|i| self.inner.tenant.agent_id(i))
            .collect()
    }

    /// Fix, add and reopen vulnerability findings (see [`FindingChanges`]); the report lists the
    /// affected findings. Deleted agents have no findings; decommissioned agents keep theirs.
    pub fn apply_finding_changes(&self, c: &FindingChanges) -> ChangeReport {
        self.inner.apply_finding_changes(c)
    }

    /// Ground truth: every finding `/application-management/risks` currently lists (without
    /// `includeRemovals`), in row order. O(agents) — for tests, not for a million agents.
    pub fn present_findings(&self) -> Vec<FindingKey> {
        self.inner.present_findings()
    }

    /// The current record of an agent, if present.
    pub fn agent(&self, id: &str) -> Option<Agent> {
        let t = &self.inner.tenant;
        let ov = read(&self.inner.overlay);
        let i = t.index_of(id)?;
        (i < ov.n_total && !ov.deleted.contains(&i)).then(|| t.agent(&ov, i))
    }

    /// Ground truth of the Deep Visibility telemetry: the planted AI agents per (device, user,
    /// agent) and the decoy events that must not be reported.
    pub fn ai_agent_truth(&self) -> AiAgentTruth {
        self.inner.dv.truth()
    }

    /// All sites, as `/sites` serves them (with current license counts).
    pub fn sites(&self) -> Vec<Site> {
        self.inner.sites_now()
    }
}

impl Inner {
    /// Sites with `activeLicenses` = present agents in the site (arithmetic, O(sites + deleted)).
    pub(crate) fn sites_now(&self) -> Vec<Site> {
        let t = &self.tenant;
        let ov = read(&self.overlay);
        let s_n = t.n_sites;
        let mut counts = vec![0i64; s_n as usize];
        for (s, c) in counts.iter_mut().enumerate() {
            let s = s as u64;
            if s < ov.n_total {
                *c = ((ov.n_total - 1 - s) / s_n + 1) as i64;
            }
        }
        for &d in &ov.deleted {
            counts[(d % s_n) as usize] -= 1;
        }
        t.sites
            .iter()
            .zip(counts)
            .map(|(s, c)| {
                let mut s = s.clone();
                s.active_licenses = Some(c);
                s
            })
            .collect()
    }

    pub(crate) fn token_created(&self) -> String {
        ts_micros(self.token_created_us)
    }
    pub(crate) fn token_expires(&self) -> String {
        ts_secs(self.token_expires_us)
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
pub(crate) fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}
pub(crate) fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

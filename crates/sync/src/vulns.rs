//! The vulnerabilities feature: application CVE findings per endpoint.
//!
//! Reads `GET /application-management/risks` (one scope id per request, so a scope of several
//! ids is several streams; an unscoped pass is split per site like the device pass). A console
//! that answers 404 there only offers the older Application Risk API; the pass then reads
//! `/installed-applications` and, per vulnerable application, `/installed-applications/cves`,
//! and says so. Each observation gets its explained priority before it is stored; statuses
//! (`fixed`, `device_removed`, `open`) are decided by the store only after a complete pass.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use s1bridge_api::wire::{InstalledApplication, InstalledApplicationCve, Risk};
use s1bridge_api::{ApiError, Client};
use s1bridge_priority::{DeviceInput, Factor, FindingFacts, Prioritizer, PriorityConfig};
use s1bridge_store::{
    Checkpoint, ExtraJson, FindingKey, FindingObservation, FindingPassSummary, PassKind,
    PriorityFactor, Scope, Store,
};

use crate::convert::parse_timestamp;
use crate::{Progress, ProgressSink, SyncError};

pub const FEATURE: &str = "vulnerabilities";
const RISKS: &str = "/application-management/risks";
const APPS: &str = "/installed-applications";
const APP_CVES: &str = "/installed-applications/cves";
const PLAN_STREAM: &str = "plan";
/// Marks a plan made against the deprecated API (stored as the plan marker's `since`).
const DEPRECATED_MARK: &str = "api:installed-applications";

/// Which API generation a console offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RiskApi {
    ApplicationManagement,
    /// The deprecated Application Risk API (`/installed-applications`).
    InstalledApplications,
}

#[derive(Debug, Clone)]
pub struct VulnOptions {
    pub scope: Scope,
    /// Streams paged at once; front ends cap what they are given with
    /// [`VulnOptions::streams_for`].
    pub concurrency: usize,
    pub page_size: u32,
    pub priority: PriorityConfig,
}

impl VulnOptions {
    /// The most streams a findings pass pages at once. More only compete for the same cores
    /// and memory: with the published 3 requests/s on `/application-management` four streams
    /// already keep the limiter busy under latency, and at zero latency on two cores eight
    /// streams measured 125k findings/s against 143k for four and 151k for two.
    pub const MAX_CONCURRENCY: usize = 4;

    /// The streams a findings pass uses when a run asks for `requested` in parallel (the
    /// device pass's `--concurrency`).
    pub fn streams_for(requested: usize) -> usize {
        requested.clamp(1, Self::MAX_CONCURRENCY)
    }
}

impl Default for VulnOptions {
    fn default() -> Self {
        VulnOptions {
            scope: Scope::default(),
            concurrency: Self::MAX_CONCURRENCY,
            page_size: 1000,
            priority: PriorityConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VulnReport {
    pub api: Option<RiskApi>,
    pub resumed: bool,
    pub streams: usize,
    pub records: u64,
    pub new: u64,
    pub reopened: u64,
    /// Devices that had active findings, showed none in this pass, and that the console, asked
    /// by id, no longer has: marked removed, so their findings are `device_removed`, not fixed.
    pub devices_gone: u64,
    /// KEV/EPSS files that could not be used, and similar notes (the sync completed without
    /// those factors).
    pub warnings: Vec<String>,
    pub summary: FindingPassSummary,
}

#[derive(Debug, Clone)]
struct Stream {
    key: String,
    filter: Option<(String, String)>,
    cursor: Option<String>,
    records: u64,
    done: bool,
}

/// A finished stream: its final state and its new and reopened counts.
type StreamResult = (Stream, u64, u64);

/// Everything a page needs to turn rows into prioritised observations.
struct Context {
    console: String,
    /// Every device of the console (removed ones too), by agent id.
    devices: DeviceMap,
    /// The distinct lists of endpoint factors, indexed by [`DeviceEntry::factors`].
    device_factors: Vec<Arc<[Factor]>>,
    prioritizer: Prioritizer,
    /// The reference time of the endpoint factors (inactivity): the start of the pass.
    now: DateTime<Utc>,
}

/// What the findings pass keeps per device: its verdicts, not its facts. The endpoint's
/// factors (exposure, criticality rules, decommissioned or inactive) are evaluated once when
/// the pass starts, and endpoints with the same factors share one list; whether the endpoint
/// may be re-checked (present, inside the pass's scope) is decided then too. At 125k
/// endpoints the table is ~7 MB instead of ~90 MB for every endpoint's names, tags and
/// addresses, and no finding parses addresses or matches rules.
struct DeviceEntry {
    /// Index into [`Context::device_factors`].
    factors: u32,
    /// Present (not removed) when the pass started, and inside the pass's scope: if all its
    /// findings vanish, the re-check asks the console whether it still exists.
    recheckable: bool,
    /// A page of this pass held a finding of this device (set by the stream writers).
    seen: AtomicBool,
}

/// The devices of the console by agent id (looked up once per finding: a fast hash).
type DeviceMap = HashMap<Box<str>, DeviceEntry, foldhash::fast::RandomState>;

/// The distinct lists of endpoint factors, each with its index.
#[derive(Default)]
struct FactorSets {
    index: HashMap<Arc<[Factor]>, u32, foldhash::fast::RandomState>,
    lists: Vec<Arc<[Factor]>>,
}

impl FactorSets {
    fn get(&mut self, factors: Vec<Factor>) -> u32 {
        if let Some(&i) = self.index.get(factors.as_slice()) {
            return i;
        }
        let i = u32::try_from(self.lists.len()).expect("fewer than 2^32 factor lists");
        let a: Arc<[Factor]> = factors.into();
        self.lists.push(a.clone());
        self.index.insert(a, i);
        i
    }
}

/// Whether a device is inside the scope of the pass (an empty scope is the whole console).
fn in_scope(scope: &Scope, d: &s1bridge_store::DeviceFacts) -> bool {
    if scope.is_empty() {
        return true;
    }
    let listed = |ids: &[String], v: &Option<String>| {
        v.as_deref().is_some_and(|v| ids.iter().any(|i| i == v))
    };
    listed(&scope.account_ids, &d.account_id)
        || listed(&scope.site_ids, &d.site_id)
        || listed(&scope.group_ids, &d.group_id)
}

fn device_entry(
    d: s1bridge_store::DeviceFacts,
    prioritizer: &Prioritizer,
    scope: &Scope,
    now: DateTime<Utc>,
    sets: &mut FactorSets,
) -> DeviceEntry {
    let recheckable = !d.removed && in_scope(scope, &d);
    let input = DeviceInput {
        agent_id: d.agent_id,
        computer_name: d.computer_name,
        site_id: d.site_id.map(Arc::from),
        site_name: d.site_name.map(Arc::from),
        group_id: d.group_id.map(Arc::from),
        group_name: d.group_name.map(Arc::from),
        tags: d.tags,
        machine_type: d.machine_type.map(Arc::from),
        ips: d.ips,
        is_decommissioned: d.is_decommissioned,
        last_active_at: d.last_active_at,
    };
    DeviceEntry {
        factors: sets.get(prioritizer.assess_device(&input, now)),
        recheckable,
        seen: AtomicBool::new(false),
    }
}

/// Devices read per store call while building the context: the whole inventory is never held
/// as full rows at once.
const DEVICE_PAGE: u32 = 2_000;

/// Every device of the console with its verdicts, and the distinct factor lists.
async fn load_devices(
    store: &Arc<dyn Store>,
    console: &str,
    prioritizer: &Prioritizer,
    scope: &Scope,
    now: DateTime<Utc>,
) -> Result<(DeviceMap, Vec<Arc<[Factor]>>), SyncError> {
    // Collected first, so that the table is allocated once at its final size (growing it
    // doubles, and holds the old and new bucket arrays at once).
    let mut entries: Vec<(Box<str>, DeviceEntry)> = Vec::new();
    let mut sets = FactorSets::default();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .device_facts_page(console, after.as_deref(), DEVICE_PAGE)
            .await?;
        let short = page.len() < DEVICE_PAGE as usize;
        after = page.last().map(|d| d.agent_id.clone());
        for d in page {
            let key: Box<str> = d.agent_id.as_str().into();
            entries.push((key, device_entry(d, prioritizer, scope, now, &mut sets)));
        }
        if short {
            break;
        }
    }
    let mut devices =
        DeviceMap::with_capacity_and_hasher(entries.len(), foldhash::fast::RandomState::default());
    devices.extend(entries);
    Ok((devices, sets.lists))
}

/// The assessments one stream has made, by endpoint factor list and the finding's own facts
/// (CVE, vendor severity, CVSS score, fix availability): that is all an assessment depends on,
/// so findings that agree on them share one result and one factor list (a million findings
/// have a few thousand distinct ones). Per stream, so no lock; bounded, it starts over when
/// full.
struct Assessments {
    /// The key being looked up (reused: a hit allocates nothing).
    key: Vec<u8>,
    known: HashMap<Box<[u8]>, Assessed, foldhash::fast::RandomState>,
    capacity: usize,
    hits: u64,
    misses: u64,
}

#[derive(Clone)]
struct Assessed {
    priority: &'static str,
    kev: bool,
    factors: Arc<[PriorityFactor]>,
}

/// Assessments one stream keeps (each ~1 KB with its factor list). On the simulated million
/// findings 1,024 reuse 92 % (4,096: 93 %, at 3x the memory across eight streams).
const ASSESSMENTS_KEPT: usize = 1_024;

impl Assessments {
    fn new(capacity: usize) -> Self {
        Assessments {
            key: Vec::with_capacity(64),
            known: HashMap::default(),
            capacity,
            hits: 0,
            misses: 0,
        }
    }
}

impl Drop for Assessments {
    fn drop(&mut self) {
        tracing::debug!(
            hits = self.hits,
            misses = self.misses,
            "assessments reused by a findings stream"
        );
    }
}

fn assessed(a: s1bridge_priority::Assessment) -> Assessed {
    Assessed {
        priority: a.priority.as_str(),
        kev: a.in_kev == Some(true),
        factors: a
            .factors
            .into_iter()
            .map(|f| PriorityFactor {
                name: f.name,
                effect: f.effect,
                detail: f.detail,
            })
            .collect(),
    }
}

impl Context {
    /// The assessment of a finding: from the stream's earlier ones when it agrees with one of
    /// them on everything the prioritiser reads.
    fn assess(
        &self,
        known: &mut Assessments,
        facts: &FindingFacts<'_>,
        computer_name: Option<&str>,
        agent_id: &str,
    ) -> Assessed {
        let Some(device) = self.devices.get(agent_id) else {
            // Not in the inventory (yet): judged by what the finding row says of it.
            let device_factors = self.prioritizer.assess_device(
                &DeviceInput {
                    agent_id: agent_id.to_string(),
                    computer_name: computer_name.unwrap_or_default().to_string(),
                    ..DeviceInput::default()
                },
                self.now,
            );
            return assessed(self.prioritizer.assess_facts(facts, &device_factors));
        };
        // 0xFF never occurs in UTF-8, so it separates the strings unambiguously.
        let k = &mut known.key;
        k.clear();
        k.extend_from_slice(&device.factors.to_le_bytes());
        k.extend_from_slice(facts.cve_id.as_bytes());
        k.push(0xFF);
        if let Some(v) = facts.vendor_severity {
            k.push(b's');
            k.extend_from_slice(v.as_bytes());
        }
        k.push(0xFF);
        if let Some(v) = facts.cvss_score {
            k.push(b'c');
            k.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        k.push(match facts.fixed_version_available {
            None => 0,
            Some(false) => 1,
            Some(true) => 2,
        });
        if let Some(a) = known.known.get(k.as_slice()) {
            known.hits += 1;
            return a.clone();
        }
        known.misses += 1;
        let a = assessed(
            self.prioritizer
                .assess_facts(facts, &self.device_factors[device.factors as usize]),
        );
        if known.known.len() >= known.capacity {
            known.known.clear();
        }
        known.known.insert(k.as_slice().into(), a.clone());
        a
    }

    #[allow(clippy::too_many_arguments)]
    fn observe(
        &self,
        known: &mut Assessments,
        key: FindingKey,
        computer_name: Option<String>,
        vendor: Option<String>,
        row_id: Option<String>,
        severity: Option<String>,
        cvss: Option<f64>,
        extra: ExtraJson,
        fixed_version_available: Option<bool>,
    ) -> FindingObservation {
        let a = self.assess(
            known,
            &FindingFacts {
                cve_id: &key.cve_id,
                vendor_severity: severity.as_deref(),
                cvss_score: cvss,
                fixed_version_available,
            },
            computer_name.as_deref(),
            &key.agent_id,
        );
        FindingObservation {
            key,
            computer_name,
            application_vendor: vendor,
            console_row_id: row_id,
            vendor_severity: severity,
            cvss_score: cvss,
            cvss_version: None,
            published_at: None,
            detected_at: None,
            days_detected: None,
            console_status: None,
            mark_type: None,
            marked_by: None,
            marked_at: None,
            mark_reason: None,
            extra,
            priority: a.priority.to_string(),
            kev: a.kev,
            factors: a.factors,
        }
    }

    /// The observation of one risk row, its strings moved rather than copied (a page's rows
    /// are consumed: a million findings are tens of millions of string copies otherwise).
    fn observe_risk(&self, known: &mut Assessments, mut r: Risk) -> Option<FindingObservation> {
        let agent_id = r.endpoint_id.take().filter(|s| !s.is_empty())?;
        let cve_id = r.cve_id.take().filter(|s| !s.is_empty())?;
        let application = r
            .application_name
            .take()
            .or_else(|| r.application.take())
            .unwrap_or_default();
        let key = FindingKey {
            agent_id,
            application,
            application_version: r.application_version.take().unwrap_or_default(),
            cve_id,
        };
        let cvss = r.base_score_f64();
        // Exploit / risk / remediation fields the response carries, kept verbatim.
        let mut extra = ExtraJson::builder();
        for (name, value) in [
            ("exploitCodeMaturity", r.exploit_code_maturity.as_deref()),
            ("lastScanDate", r.last_scan_date.as_deref()),
            ("lastScanResult", r.last_scan_result.as_deref()),
            ("mitigationStatus", r.mitigation_status.as_deref()),
            ("nvdBaseScore", r.nvd_base_score.as_deref()),
            ("nvdCvssVersion", r.nvd_cvss_version.as_deref()),
            ("remediationLevel", r.remediation_level.as_deref()),
            ("reportConfidence", r.report_confidence.as_deref()),
            ("riskScore", r.risk_score.as_deref()),
        ] {
            if let Some(v) = value {
                extra.string(name, v);
            }
        }
        if let Some(v) = &r.exploited_in_the_wild {
            extra.value("exploitedInTheWild", v);
        }
        // What the prioritiser reads of them.
        let fixed_version_available = r
            .remediation_level
            .as_deref()
            .map(|l| l.eq_ignore_ascii_case("Official Fix"));
        let mut o = self.observe(
            known,
            key,
            r.endpoint_name.take(),
            r.application_vendor.take(),
            r.id.take(),
            r.severity.take(),
            cvss,
            extra.finish(),
            fixed_version_available,
        );
        o.cvss_version = r.cvss_version.take();
        o.published_at = r.published_date.as_deref().and_then(parse_timestamp);
        o.detected_at = r.detection_date.as_deref().and_then(parse_timestamp);
        o.days_detected = r.days_detected;
        o.console_status = r.status.take();
        o.mark_type = r.mark_type.take().and_then(|v| match v {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) if s.is_empty() => None,
            serde_json::Value::String(s) => Some(s),
            other => Some(other.to_string()),
        });
        o.marked_by = r.marked_by.take();
        o.marked_at = r.marked_date.as_deref().and_then(parse_timestamp);
        o.mark_reason = r.reason.take();
        Some(o)
    }

    fn observe_app_cve(
        &self,
        known: &mut Assessments,
        app: &InstalledApplication,
        cve: &InstalledApplicationCve,
    ) -> Option<FindingObservation> {
        let agent_id = app.agent_id.clone().filter(|s| !s.is_empty())?;
        let cve_id = cve.cve_id.clone().filter(|s| !s.is_empty())?;
        let key = FindingKey {
            agent_id,
            application: app.name.clone().unwrap_or_default(),
            application_version: app.version.clone().unwrap_or_default(),
            cve_id,
        };
        let mut extra = ExtraJson::builder();
        if let Some(l) = &cve.link {
            extra.string("link", l);
        }
        let mut o = self.observe(
            known,
            key,
            app.agent_computer_name.clone(),
            app.publisher.clone(),
            cve.id.clone(),
            cve.risk_level.as_ref().map(|r| r.to_ascii_uppercase()),
            cve.score,
            extra.finish(),
            None,
        );
        o.published_at = cve.published_at.as_deref().and_then(parse_timestamp);
        o.detected_at = cve.created_at.as_deref().and_then(parse_timestamp);
        Some(o)
    }
}

/// At most this many vanished agents are re-checked by id (100 per request).
const RECHECK_LIMIT: usize = 2000;

/// An agent that had active findings and shows none in a complete pass was either patched
/// completely or deleted from the console — and an incremental device pass cannot see deletions.
/// Ask the console for those agents by id; the ones it no longer has are marked removed, so that
/// their findings become `device_removed` rather than `fixed`.
async fn recheck_vanished_agents(
    client: &Client,
    store: &Arc<dyn Store>,
    console: &str,
    devices: &DeviceMap,
) -> Result<u64, SyncError> {
    // Present devices inside the scope that have active findings but none in this pass.
    let vanished: Vec<String> = store
        .agents_with_active_findings(console)
        .await?
        .into_iter()
        .filter(|a| {
            devices
                .get(a.as_str())
                .is_some_and(|e| e.recheckable && !e.seen.load(Ordering::Relaxed))
        })
        .take(RECHECK_LIMIT)
        .collect();
    let mut gone_total = 0;
    for chunk in vanished.chunks(100) {
        let page = client
            .get_page::<s1bridge_api::wire::AgentRecord>(
                "/agents",
                &[
                    ("ids", chunk.join(",")),
                    ("isDecommissioned", "true,false".to_string()),
                ],
                1000,
                None,
            )
            .await?;
        let present: HashSet<&str> = page.items.iter().map(|a| a.id.as_str()).collect();
        let gone: Vec<String> = chunk
            .iter()
            .filter(|id| !present.contains(id.as_str()))
            .cloned()
            .collect();
        if !gone.is_empty() {
            tracing::info!(
                count = gone.len(),
                "Agents whose findings all vanished are no longer in the console; marking them removed."
            );
            gone_total += store
                .mark_devices_removed(console, &gone, Utc::now())
                .await?;
        }
    }
    Ok(gone_total)
}

/// Which API the console offers, by one cheap request.
async fn detect_api(client: &Client) -> Result<RiskApi, ApiError> {
    match client
        .get_page::<Risk>(RISKS, &[("skipCount", "true".to_string())], 1, None)
        .await
    {
        Ok(_) => Ok(RiskApi::ApplicationManagement),
        Err(ApiError::NotFound { .. }) => {
            // Confirm the older API is there before relying on it.
            client
                .get_page::<InstalledApplication>(APPS, &[], 1, None)
                .await?;
            Ok(RiskApi::InstalledApplications)
        }
        Err(e) => Err(e),
    }
}

/// One stream per scope id (the endpoints take one id per request); an unscoped pass is split
/// per site when the console has several.
async fn plan(client: &Client, scope: &Scope) -> Vec<Stream> {
    let mut filters: Vec<(String, Option<(String, String)>)> = Vec::new();
    for a in &scope.account_ids {
        filters.push((
            format!("account:{a}"),
            Some(("accountIds".into(), a.clone())),
        ));
    }
    for s in &scope.site_ids {
        filters.push((format!("site:{s}"), Some(("siteIds".into(), s.clone()))));
    }
    for g in &scope.group_ids {
        filters.push((format!("group:{g}"), Some(("groupIds".into(), g.clone()))));
    }
    if filters.is_empty() {
        match crate::devices::list_site_ids(client, &[]).await {
            Ok(ids) if ids.len() > 1 => {
                for id in ids {
                    filters.push((format!("site:{id}"), Some(("siteIds".into(), id))));
                }
            }
            _ => filters.push(("all".into(), None)),
        }
    }
    filters
        .into_iter()
        .map(|(key, filter)| Stream {
            key,
            filter,
            cursor: None,
            records: 0,
            done: false,
        })
        .collect()
}

fn filter_of(key: &str) -> Option<(String, String)> {
    let (kind, id) = key.split_once(':')?;
    let name = match kind {
        "account" => "accountIds",
        "site" => "siteIds",
        "group" => "groupIds",
        _ => return None,
    };
    Some((name.to_string(), id.to_string()))
}

fn checkpoint(console: &str, pass_id: i64, api: RiskApi, s: &Stream) -> Checkpoint {
    Checkpoint {
        console: console.to_string(),
        feature: FEATURE.to_string(),
        pass_id,
        kind: PassKind::Full,
        stream: s.key.clone(),
        cursor: s.cursor.clone(),
        done: s.done,
        records: s.records,
        max_updated_at: None,
        since: (api == RiskApi::InstalledApplications).then(|| DEPRECATED_MARK.to_string()),
    }
}

/// Run (or resume) one findings pass.
pub async fn run_pass(
    client: &Client,
    store: &Arc<dyn Store>,
    console: &str,
    run_id: i64,
    opts: &VulnOptions,
    progress: &ProgressSink,
) -> Result<VulnReport, SyncError> {
    let mut report = VulnReport::default();
    let prioritizer = Prioritizer::load(opts.priority.clone());
    report.warnings.extend(prioritizer.warnings.iter().cloned());
    let started = std::time::Instant::now();
    let now = Utc::now();
    let (devices, device_factors) =
        load_devices(store, console, &prioritizer, &opts.scope, now).await?;
    tracing::debug!(
        devices = devices.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "loaded the device facts the findings are prioritised with"
    );
    let ctx = Arc::new(Context {
        console: console.to_string(),
        devices,
        device_factors,
        prioritizer,
        now,
    });

    let checkpoints = store.load_checkpoints(console, FEATURE).await?;
    let marker = checkpoints
        .iter()
        .find(|c| c.stream == PLAN_STREAM && c.done)
        .cloned();
    let (pass_id, api, mut streams) = match marker {
        Some(m) => {
            report.resumed = true;
            let api = if m.since.as_deref() == Some(DEPRECATED_MARK) {
                RiskApi::InstalledApplications
            } else {
                RiskApi::ApplicationManagement
            };
            let streams = checkpoints
                .iter()
                .filter(|c| c.stream != PLAN_STREAM)
                .map(|c| Stream {
                    key: c.stream.clone(),
                    filter: filter_of(&c.stream),
                    cursor: c.cursor.clone(),
                    records: c.records,
                    done: c.done,
                })
                .collect();
            (m.pass_id, api, streams)
        }
        None => {
            if !checkpoints.is_empty() {
                store.clear_checkpoints(console, FEATURE).await?;
            }
            let api = detect_api(client).await?;
            if api == RiskApi::InstalledApplications {
                report.warnings.push(
                    "this console only offers the deprecated Application Risk API \
                     (/application-management/risks answered 404); findings were read from \
                     /installed-applications and /installed-applications/cves"
                        .to_string(),
                );
            }
            let streams = plan(client, &opts.scope).await;
            let pass_id = run_id;
            for s in &streams {
                store
                    .apply_finding_page(
                        console,
                        pass_id,
                        run_id,
                        Utc::now(),
                        &[],
                        Some(&checkpoint(console, pass_id, api, s)),
                    )
                    .await?;
            }
            let plan_marker = Stream {
                key: PLAN_STREAM.into(),
                filter: None,
                cursor: None,
                records: 0,
                done: true,
            };
            store
                .apply_finding_page(
                    console,
                    pass_id,
                    run_id,
                    Utc::now(),
                    &[],
                    Some(&checkpoint(console, pass_id, api, &plan_marker)),
                )
                .await?;
            (pass_id, api, streams)
        }
    };
    report.api = Some(api);
    report.streams = streams.len();
    let already: u64 = streams.iter().map(|s| s.records).sum();
    progress.emit(Progress::Started {
        feature: FEATURE,
        total: None,
        already,
    });

    let pending: Vec<Stream> = streams.iter().filter(|s| !s.done).cloned().collect();
    let results: Vec<Result<StreamResult, SyncError>> =
        futures::stream::iter(pending.into_iter().map(|s| {
            let ctx = ctx.clone();
            let store = store.clone();
            async move {
                match api {
                    RiskApi::ApplicationManagement => {
                        risk_stream(
                            client,
                            &store,
                            &ctx,
                            pass_id,
                            run_id,
                            s,
                            opts.page_size,
                            progress,
                        )
                        .await
                    }
                    RiskApi::InstalledApplications => {
                        app_stream(
                            client,
                            &store,
                            &ctx,
                            pass_id,
                            run_id,
                            s,
                            opts.page_size,
                            progress,
                        )
                        .await
                    }
                }
            }
        }))
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    for r in results {
        let (s, new, reopened) = r?;
        report.new += new;
        report.reopened += reopened;
        if let Some(slot) = streams.iter_mut().find(|x| x.key == s.key) {
            *slot = s;
        }
    }
    report.records = streams.iter().map(|s| s.records).sum();
    if !report.resumed {
        // (A resumed pass does not know which agents earlier runs saw; it skips the re-check.)
        report.devices_gone = recheck_vanished_agents(client, store, console, &ctx.devices).await?;
    }
    report.summary = store
        .complete_finding_pass(console, pass_id, run_id, &opts.scope, Utc::now())
        .await?;
    progress.emit(Progress::Finished {
        feature: FEATURE,
        records: report.records,
    });
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn risk_stream(
    client: &Client,
    store: &Arc<dyn Store>,
    ctx: &Arc<Context>,
    pass_id: i64,
    run_id: i64,
    mut s: Stream,
    page_size: u32,
    progress: &ProgressSink,
) -> Result<StreamResult, SyncError> {
    let query: Vec<(String, String)> = s.filter.iter().cloned().collect();
    // Decoding and prioritising the next page happen in the producer task while this one
    // writes the previous page.
    let producer_ctx = ctx.clone();
    let mut known = Assessments::new(ASSESSMENTS_KEPT);
    let (mut rx, _producer) = crate::spawn_pages::<Risk, (Vec<FindingObservation>, Option<String>)>(
        client,
        RISKS,
        query,
        page_size,
        s.cursor.clone(),
        move |page| {
            let obs = page
                .items
                .into_iter()
                .filter_map(|r| producer_ctx.observe_risk(&mut known, r))
                .collect();
            (obs, page.next_cursor)
        },
    );
    let mut w = StreamWriter::new(
        store,
        ctx,
        pass_id,
        run_id,
        RiskApi::ApplicationManagement,
        progress,
    );
    while let Some(page) = rx.recv().await {
        let (obs, next_cursor) = page?;
        w.commit(&mut s, &obs, next_cursor).await?;
    }
    w.finish(s).await
}

/// Commits a stream's pages (each with its checkpoint, in one store transaction), counts what
/// they did, and closes the stream. Shared by both API generations.
struct StreamWriter<'a> {
    store: &'a Arc<dyn Store>,
    ctx: &'a Context,
    pass_id: i64,
    run_id: i64,
    api: RiskApi,
    progress: &'a ProgressSink,
    new: u64,
    reopened: u64,
}

impl<'a> StreamWriter<'a> {
    fn new(
        store: &'a Arc<dyn Store>,
        ctx: &'a Context,
        pass_id: i64,
        run_id: i64,
        api: RiskApi,
        progress: &'a ProgressSink,
    ) -> Self {
        StreamWriter {
            store,
            ctx,
            pass_id,
            run_id,
            api,
            progress,
            new: 0,
            reopened: 0,
        }
    }

    async fn commit(
        &mut self,
        s: &mut Stream,
        obs: &[FindingObservation],
        next_cursor: Option<String>,
    ) -> Result<(), SyncError> {
        for o in obs {
            if let Some(e) = self.ctx.devices.get(o.key.agent_id.as_str()) {
                e.seen.store(true, Ordering::Relaxed);
            }
        }
        s.done = next_cursor.is_none();
        s.cursor = next_cursor;
        s.records += obs.len() as u64;
        let cp = checkpoint(&self.ctx.console, self.pass_id, self.api, s);
        let st = self
            .store
            .apply_finding_page(
                &self.ctx.console,
                self.pass_id,
                self.run_id,
                Utc::now(),
                obs,
                Some(&cp),
            )
            .await?;
        self.new += st.new;
        self.reopened += st.reopened;
        self.progress.emit(Progress::Page {
            feature: FEATURE,
            records: s.records,
            total: None,
        });
        Ok(())
    }

    /// Mark the stream done (also when it ended without a page) and return its result.
    async fn finish(self, mut s: Stream) -> Result<StreamResult, SyncError> {
        if !s.done {
            s.done = true;
            let cp = checkpoint(&self.ctx.console, self.pass_id, self.api, &s);
            self.store
                .apply_finding_page(
                    &self.ctx.console,
                    self.pass_id,
                    self.run_id,
                    Utc::now(),
                    &[],
                    Some(&cp),
                )
                .await?;
        }
        Ok((s, self.new, self.reopened))
    }
}

/// The deprecated API: applications page by page; for each vulnerable application its CVEs
/// (the CVE rows do not name their application, so one application per request). A page of
/// applications and all its findings commit together with the applications cursor.
#[allow(clippy::too_many_arguments)]
async fn app_stream(
    client: &Client,
    store: &Arc<dyn Store>,
    ctx: &Context,
    pass_id: i64,
    run_id: i64,
    mut s: Stream,
    page_size: u32,
    progress: &ProgressSink,
) -> Result<StreamResult, SyncError> {
    let query: Vec<(String, String)> = s.filter.iter().cloned().collect();
    let mut pages =
        Box::pin(client.pages::<InstalledApplication>(APPS, query, page_size, s.cursor.clone()));
    let mut known = Assessments::new(ASSESSMENTS_KEPT);
    let mut w = StreamWriter::new(
        store,
        ctx,
        pass_id,
        run_id,
        RiskApi::InstalledApplications,
        progress,
    );
    while let Some(page) = pages.next().await {
        let page = page?;
        let mut obs = Vec::new();
        for app in &page.items {
            let vulnerable = app
                .risk_level
                .as_deref()
                .is_some_and(|r| !r.eq_ignore_ascii_case("none"));
            let Some(app_id) = app.id.clone().filter(|_| vulnerable) else {
                continue;
            };
            let mut cves = Box::pin(client.pages::<InstalledApplicationCve>(
                APP_CVES,
                vec![("applicationIds".to_string(), app_id)],
                1000,
                None,
            ));
            while let Some(cpage) = cves.next().await {
                let cpage = cpage?;
                obs.extend(
                    cpage
                        .items
                        .iter()
                        .filter_map(|c| ctx.observe_app_cve(&mut known, app, c)),
                );
            }
        }
        w.commit(&mut s, &obs, page.next_cursor).await?;
    }
    w.finish(s).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use s1bridge_priority::{CriticalityRule, Epss, Kev};
    use std::path::Path;

    const KEV: &str = r#"{"catalogVersion": "2025.11.20", "vulnerabilities": [
        {"cveID": "CVE-2023-4863", "dateAdded": "2023-09-13", "knownRansomwareCampaignUse": "Known"}
    ]}"#;
    const EPSS: &str = "cve,epss,percentile\nCVE-2023-4863,0.94,0.99\nCVE-2024-0001,0.001,0.05\n";

    fn context() -> Context {
        let config = PriorityConfig {
            criticality_rules: vec![CriticalityRule {
                name: "servers".into(),
                site: None,
                group: None,
                tag: None,
                name_pattern: Some("srv-*".into()),
                effect: 1,
            }],
            ..PriorityConfig::default()
        };
        let kev = Kev::parse(KEV.as_bytes(), Path::new("kev.json")).expect("KEV fixture");
        let epss = Epss::parse(EPSS.as_bytes(), Path::new("epss.csv")).expect("EPSS fixture");
        let prioritizer = Prioritizer::with_data(config, Some(kev), Some(epss));
        let now = Utc::now();
        let inputs = [
            DeviceInput {
                computer_name: "laptop-1".into(),
                ips: vec!["10.0.0.1".into()],
                ..DeviceInput::default()
            },
            DeviceInput {
                computer_name: "srv-db".into(),
                ips: vec!["52.1.2.3".into()],
                ..DeviceInput::default()
            },
            DeviceInput {
                computer_name: "old".into(),
                is_decommissioned: true,
                ..DeviceInput::default()
            },
        ];
        let mut devices = DeviceMap::default();
        let mut device_factors = Vec::new();
        for (i, d) in inputs.iter().enumerate() {
            device_factors.push(prioritizer.assess_device(d, now).into());
            devices.insert(
                format!("agent-{i}").into(),
                DeviceEntry {
                    factors: i as u32,
                    recheckable: true,
                    seen: AtomicBool::new(false),
                },
            );
        }
        Context {
            console: "c".into(),
            devices,
            device_factors,
            prioritizer,
            now,
        }
    }

    /// Whatever a stream has assessed before, and however often its memory started over, each
    /// finding gets exactly the assessment of its own facts on its own endpoint: every input
    /// the prioritiser reads is part of the key.
    #[test]
    fn reused_assessments_equal_fresh_ones_for_every_input() {
        let ctx = context();
        let mut facts = Vec::new();
        for cve in ["CVE-2023-4863", "CVE-2024-0001", "CVE-2024-0002"] {
            for severity in [Some("HIGH"), Some("LOW"), Some("bogus"), None] {
                for cvss in [Some(9.8), Some(2.0), None] {
                    for fixed in [None, Some(true), Some(false)] {
                        facts.push(FindingFacts {
                            cve_id: cve,
                            vendor_severity: severity,
                            cvss_score: cvss,
                            fixed_version_available: fixed,
                        });
                    }
                }
            }
        }
        let agents = ["agent-0", "agent-1", "agent-2", "not-in-inventory"];
        for capacity in [7, ASSESSMENTS_KEPT] {
            let mut known = Assessments::new(capacity);
            for round in 0..2 {
                for agent in agents {
                    for f in &facts {
                        let device = match ctx.devices.get(agent) {
                            Some(d) => ctx.device_factors[d.factors as usize].to_vec(),
                            None => ctx.prioritizer.assess_device(
                                &DeviceInput {
                                    agent_id: agent.into(),
                                    computer_name: "srv-new".into(),
                                    ..DeviceInput::default()
                                },
                                ctx.now,
                            ),
                        };
                        let want = ctx.prioritizer.assess_facts(f, &device);
                        let factors: Vec<(String, i32, String)> = want
                            .factors
                            .into_iter()
                            .map(|x| (x.name, x.effect, x.detail))
                            .collect();
                        // Twice in a row: the second one is reused even in a tiny memory.
                        for again in 0..2 {
                            let got = ctx.assess(&mut known, f, Some("srv-new"), agent);
                            let what =
                                format!("{agent} {f:?} round {round}.{again} capacity {capacity}");
                            assert_eq!(got.priority, want.priority.as_str(), "{what}");
                            assert_eq!(got.kev, want.in_kev == Some(true), "{what}");
                            let got: Vec<(String, i32, String)> = got
                                .factors
                                .iter()
                                .map(|x| (x.name.clone(), x.effect, x.detail.clone()))
                                .collect();
                            assert_eq!(got, factors, "{what}");
                        }
                    }
                }
            }
            assert!(known.known.len() <= capacity);
            assert!(known.hits > 0, "capacity {capacity}: nothing was reused");
        }
    }
}

//! The device feature: the endpoint inventory from `GET /agents`.
//!
//! A pass is either *full* (re-reads every agent in scope and, once complete, marks what it did
//! not see as removed) or *incremental* (reads only agents whose `updatedAt` is at or after the
//! persisted watermark; never removes anything). A full pass is split into streams — one per
//! site — that page in parallel, each with its own checkpoint committed atomically with its page,
//! so a killed pass resumes exactly where each stream stopped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use s1bridge_api::wire::{AgentRecord, SitesData};
use s1bridge_api::{ApiError, Client};
use s1bridge_store::{Checkpoint, PassKind, PassSummary, Scope, Store};

use crate::convert::{device_from_agent, max_timestamp};
use crate::{AbortOnDrop, Progress, ProgressSink, SyncError};

pub const FEATURE: &str = "devices";
const AGENTS: &str = "/agents";
/// The marker stream that proves the whole stream plan was saved before any page.
const PLAN_STREAM: &str = "plan";

/// Tuning of the device pass.
#[derive(Debug, Clone)]
pub struct DeviceOptions {
    pub scope: Scope,
    /// Force a full pass.
    pub full: bool,
    /// Do a full pass when the last one is older than this (incremental passes cannot see
    /// deletions).
    pub full_every: chrono::Duration,
    /// Streams paged concurrently.
    pub concurrency: usize,
    pub page_size: u32,
}

impl Default for DeviceOptions {
    fn default() -> Self {
        DeviceOptions {
            scope: Scope::default(),
            full: false,
            full_every: chrono::Duration::hours(24),
            concurrency: 8,
            page_size: 1000,
        }
    }
}

/// What a device pass did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DeviceReport {
    pub kind: Option<PassKind>,
    pub resumed: bool,
    pub streams: usize,
    pub records: u64,
    pub inserted: u64,
    pub updated: u64,
    pub rejected: u64,
    /// Devices the streams did not see but that the console still has when asked by id (moved
    /// between sites during the pass, for example): kept, not removed.
    pub rechecked_present: u64,
    pub summary: PassSummary,
    pub watermark: Option<String>,
}

#[derive(Debug, Clone)]
struct StreamPlan {
    key: String,
    filters: Vec<(String, String)>,
    cursor: Option<String>,
    records: u64,
    max_updated_at: Option<String>,
    done: bool,
}

fn scope_filters(scope: &Scope) -> Vec<(String, Vec<(String, String)>)> {
    if scope.is_empty() {
        return vec![("all".to_string(), Vec::new())];
    }
    let mut out = Vec::new();
    for a in &scope.account_ids {
        out.push((
            format!("account:{a}"),
            vec![("accountIds".to_string(), a.clone())],
        ));
    }
    for s in &scope.site_ids {
        out.push((
            format!("site:{s}"),
            vec![("siteIds".to_string(), s.clone())],
        ));
    }
    for g in &scope.group_ids {
        out.push((
            format!("group:{g}"),
            vec![("groupIds".to_string(), g.clone())],
        ));
    }
    out
}

/// Split a full pass into one stream per site, so that cursors can run in parallel (a cursor
/// is sequential). Falls back to the unsplit scope when sites cannot be listed.
async fn plan_full_streams(client: &Client, scope: &Scope) -> Vec<StreamPlan> {
    let mut plans = Vec::new();
    for (key, filters) in scope_filters(scope) {
        let splittable = filters.is_empty() || filters[0].0 == "accountIds";
        let mut split = Vec::new();
        if splittable {
            match list_site_ids(client, &filters).await {
                Ok(ids) if ids.len() > 1 => {
                    for id in ids {
                        split.push(StreamPlan {
                            key: format!("site:{id}"),
                            filters: vec![("siteIds".to_string(), id)],
                            cursor: None,
                            records: 0,
                            max_updated_at: None,
                            done: false,
                        });
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::info!(error = %e, "Sites could not be listed; paging agents in one stream.");
                }
            }
        }
        if split.is_empty() {
            plans.push(StreamPlan {
                key,
                filters,
                cursor: None,
                records: 0,
                max_updated_at: None,
                done: false,
            });
        } else {
            plans.extend(split);
        }
    }
    // Overlapping scopes (a site inside a listed account) would page twice: keep one.
    let mut seen = std::collections::HashSet::new();
    plans.retain(|p| seen.insert(p.key.clone()));
    plans
}

/// Every active site id visible to the token (within `filters`), following the cursor.
pub(crate) async fn list_site_ids(
    client: &Client,
    filters: &[(String, String)],
) -> Result<Vec<String>, ApiError> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    let mut used = std::collections::HashSet::new();
    loop {
        let q: Vec<(&str, String)> = filters
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .chain([("state", "active".to_string())])
            .collect();
        let mut query = q;
        query.push(("limit", "1000".to_string()));
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let env = client.get::<SitesData>("/sites", &query).await?;
        ids.extend(
            env.data
                .sites
                .into_iter()
                .map(|s| s.id)
                .filter(|i| !i.is_empty()),
        );
        match env.pagination.as_ref().and_then(|p| p.next()) {
            Some(next) if used.insert(next.to_string()) => cursor = Some(next.to_string()),
            _ => break,
        }
    }
    Ok(ids)
}

/// Run (or resume) one device pass for a console.
pub async fn run_pass(
    client: &Client,
    store: &Arc<dyn Store>,
    console: &str,
    run_id: i64,
    opts: &DeviceOptions,
    progress: &ProgressSink,
) -> Result<DeviceReport, SyncError> {
    let mut report = DeviceReport::default();
    let t_start = std::time::Instant::now();
    let checkpoints = store.load_checkpoints(console, FEATURE).await?;
    let plan_complete = checkpoints
        .iter()
        .any(|c| c.stream == PLAN_STREAM && c.done);

    let (pass_id, kind, since, mut streams) = if plan_complete && !opts.full {
        let first = &checkpoints[0];
        report.resumed = true;
        let streams: Vec<StreamPlan> = checkpoints
            .iter()
            .filter(|c| c.stream != PLAN_STREAM)
            .map(|c| StreamPlan {
                key: c.stream.clone(),
                filters: filters_for_stream(&c.stream, c.since.as_deref(), c.kind),
                cursor: c.cursor.clone(),
                records: c.records,
                max_updated_at: c.max_updated_at.clone(),
                done: c.done,
            })
            .collect();
        tracing::info!(
            pass_id = first.pass_id,
            streams = streams.len(),
            done = streams.iter().filter(|s| s.done).count(),
            "Resuming the interrupted device pass from its checkpoints."
        );
        (first.pass_id, first.kind, first.since.clone(), streams)
    } else {
        if !checkpoints.is_empty() {
            // A plan that was never fully saved (or --full): start over. Records already
            // stored stay; the new pass re-stamps what it sees.
            store.clear_checkpoints(console, FEATURE).await?;
        }
        let watermark = store.get_watermark(console, FEATURE).await?;
        let due_full = match &watermark {
            None => true,
            Some(w) => match w.last_full_at {
                None => true,
                Some(at) => Utc::now() - at >= opts.full_every,
            },
        };
        let kind = if opts.full || due_full {
            PassKind::Full
        } else {
            PassKind::Incremental
        };
        let since = match kind {
            PassKind::Full => None,
            PassKind::Incremental => watermark.map(|w| w.value),
        };
        let streams = match kind {
            PassKind::Full => plan_full_streams(client, &opts.scope).await,
            PassKind::Incremental => scope_filters(&opts.scope)
                .into_iter()
                .map(|(key, mut filters)| {
                    filters.extend(incremental_filters(since.as_deref()));
                    StreamPlan {
                        key,
                        filters,
                        cursor: None,
                        records: 0,
                        max_updated_at: None,
                        done: false,
                    }
                })
                .collect(),
        };
        let pass_id = run_id;
        // Save every stream's starting checkpoint, then the plan marker: a resume only trusts
        // a plan whose marker exists, so a crash here can never hide a stream (which would
        // make its devices look removed).
        for s in &streams {
            let cp = checkpoint(console, pass_id, kind, since.as_deref(), s);
            store
                .apply_device_page(console, pass_id, &[], Some(&cp))
                .await?;
        }
        let marker = Checkpoint {
            console: console.to_string(),
            feature: FEATURE.to_string(),
            pass_id,
            kind,
            stream: PLAN_STREAM.to_string(),
            cursor: None,
            done: true,
            records: 0,
            max_updated_at: None,
            since: since.clone(),
        };
        store
            .apply_device_page(console, pass_id, &[], Some(&marker))
            .await?;
        (pass_id, kind, since, streams)
    };
    report.kind = Some(kind);
    report.streams = streams.len();

    // The progress total comes from each stream's first page (`totalItems`): a separate count
    // request would cost a round trip before the first page.
    let already: u64 = streams.iter().map(|s| s.records).sum();
    let expected = Arc::new(AtomicU64::new(0));
    progress.emit(Progress::Started {
        feature: FEATURE,
        total: None,
        already,
    });

    let t_planned = std::time::Instant::now();
    let done_records = Arc::new(AtomicU64::new(already));
    let counters = Arc::new(PassCounters::default());
    let pending: Vec<StreamPlan> = streams.iter().filter(|s| !s.done).cloned().collect();
    let results: Vec<StreamPlan> = futures::stream::iter(pending.into_iter().map(|s| {
        let client = client.clone();
        let store = store.clone();
        let done_records = done_records.clone();
        let counters = counters.clone();
        let since = since.clone();
        let expected = expected.clone();
        async move {
            run_stream(
                &client,
                &store,
                console,
                pass_id,
                kind,
                since.as_deref(),
                s,
                opts.page_size,
                &done_records,
                &counters,
                progress,
                &expected,
            )
            .await
        }
    }))
    .buffer_unordered(opts.concurrency.max(1))
    .try_collect()
    .await?;

    for r in results {
        if let Some(s) = streams.iter_mut().find(|s| s.key == r.key) {
            *s = r;
        }
    }
    report.records = done_records.load(Ordering::Relaxed);
    report.inserted = counters.inserted.load(Ordering::Relaxed);
    report.updated = counters.updated.load(Ordering::Relaxed);
    report.rejected = counters.rejected.load(Ordering::Relaxed);

    let t_streamed = std::time::Instant::now();
    // Every stream is complete: decide removals (full) and advance the watermark.
    let mut watermark: Option<String> = since.clone();
    for s in &streams {
        watermark = max_timestamp(watermark, s.max_updated_at.as_deref());
    }
    report.watermark = watermark.clone();
    report.summary = match kind {
        PassKind::Full => {
            report.rechecked_present =
                recheck_removals(client, store, console, pass_id, &opts.scope).await?;
            store
                .complete_full_pass(
                    console,
                    pass_id,
                    &opts.scope,
                    Utc::now(),
                    watermark.as_deref(),
                )
                .await?
        }
        PassKind::Incremental => {
            store
                .complete_incremental_pass(console, FEATURE, watermark.as_deref())
                .await?
        }
    };
    tracing::info!(
        plan_ms = (t_planned - t_start).as_millis() as u64,
        pages_ms = (t_streamed - t_planned).as_millis() as u64,
        complete_ms = t_streamed.elapsed().as_millis() as u64,
        records = report.records,
        "Device pass finished."
    );
    progress.emit(Progress::Finished {
        feature: FEATURE,
        records: report.records,
    });
    Ok(report)
}

#[derive(Default)]
struct PassCounters {
    inserted: AtomicU64,
    updated: AtomicU64,
    rejected: AtomicU64,
}

/// At most this many removal candidates are re-checked by id (100 per request) before a full
/// pass decides removals; beyond it (a whole site deleted, say) the pass is trusted.
const RECHECK_LIMIT: u32 = 2000;
const RECHECK_BATCH: usize = 100;

/// Before removals are decided, ask the console by id about the devices the streams did not
/// see. An agent that moved to another site while the pass ran is missed by both site streams;
/// it is still in the console, so it is re-stamped with this pass (and its new site) instead of
/// being marked removed.
async fn recheck_removals(
    client: &Client,
    store: &Arc<dyn Store>,
    console: &str,
    pass_id: i64,
    scope: &Scope,
) -> Result<u64, SyncError> {
    let candidates = store
        .removal_candidates(console, pass_id, scope, RECHECK_LIMIT + 1)
        .await?;
    if candidates.len() > RECHECK_LIMIT as usize {
        tracing::info!(
            limit = RECHECK_LIMIT,
            "More devices than the re-check limit were not seen by this pass; re-checking the first ones only."
        );
    }
    let mut present = 0u64;
    for chunk in candidates
        .chunks(RECHECK_BATCH)
        .take(RECHECK_LIMIT as usize / RECHECK_BATCH)
    {
        let query = [
            ("ids", chunk.join(",")),
            ("isDecommissioned", "true,false".to_string()),
        ];
        let page = client
            .get_page::<AgentRecord>(AGENTS, &query, 1000, None)
            .await?;
        let now = Utc::now();
        let devices: Vec<_> = page
            .items
            .iter()
            .filter(|a| chunk.contains(&a.id))
            .filter_map(|a| device_from_agent(console, a, now))
            .collect();
        if !devices.is_empty() {
            present += devices.len() as u64;
            tracing::info!(
                count = devices.len(),
                "Devices missed by the site streams are still in the console; keeping them."
            );
            store
                .apply_device_page(console, pass_id, &devices, None)
                .await?;
        }
    }
    Ok(present)
}

fn incremental_filters(since: Option<&str>) -> Vec<(String, String)> {
    let mut f = vec![
        ("sortBy".to_string(), "updatedAt".to_string()),
        ("sortOrder".to_string(), "asc".to_string()),
    ];
    if let Some(s) = since {
        // `gte`, not `gt`: two agents can share the boundary instant; re-reading the boundary
        // record is harmless (upsert), missing its twin is not.
        f.push(("updatedAt__gte".to_string(), s.to_string()));
    }
    f
}

/// Rebuild a stream's filters from its key (checkpoints store the key, not the query).
fn filters_for_stream(key: &str, since: Option<&str>, kind: PassKind) -> Vec<(String, String)> {
    let mut f = Vec::new();
    if let Some((k, id)) = key.split_once(':') {
        let name = match k {
            "account" => "accountIds",
            "site" => "siteIds",
            "group" => "groupIds",
            _ => "",
        };
        if !name.is_empty() {
            f.push((name.to_string(), id.to_string()));
        }
    }
    if kind == PassKind::Incremental {
        f.extend(incremental_filters(since));
    }
    f
}

fn checkpoint(
    console: &str,
    pass_id: i64,
    kind: PassKind,
    since: Option<&str>,
    s: &StreamPlan,
) -> Checkpoint {
    Checkpoint {
        console: console.to_string(),
        feature: FEATURE.to_string(),
        pass_id,
        kind,
        stream: s.key.clone(),
        cursor: s.cursor.clone(),
        done: s.done,
        records: s.records,
        max_updated_at: s.max_updated_at.clone(),
        since: since.map(str::to_string),
    }
}

fn base_query(filters: &[(String, String)]) -> Vec<(String, String)> {
    let mut q: Vec<(String, String)> = filters.to_vec();
    // Decommissioned agents are part of the inventory (flagged, never dropped): ask for both
    // explicitly rather than relying on the console's default.
    q.push(("isDecommissioned".to_string(), "true,false".to_string()));
    q
}

/// One page, fetched and converted ahead of its write.
struct ReadyPage {
    devices: Vec<s1bridge_store::Device>,
    next_cursor: Option<String>,
    total_items: Option<u64>,
    rejected: u64,
}

/// Fetch and convert a stream's pages one ahead of the writer.
fn spawn_producer(
    client: &Client,
    console: &str,
    query: Vec<(String, String)>,
    page_size: u32,
    cursor: Option<String>,
) -> (
    tokio::sync::mpsc::Receiver<Result<ReadyPage, ApiError>>,
    AbortOnDrop,
) {
    let console = console.to_string();
    crate::spawn_pages::<AgentRecord, ReadyPage>(
        client,
        AGENTS,
        query,
        page_size,
        cursor,
        move |page| {
            let now: DateTime<Utc> = Utc::now();
            let mut devices = Vec::with_capacity(page.items.len());
            let mut rejected = 0;
            for a in &page.items {
                match device_from_agent(&console, a, now) {
                    Some(d) => devices.push(d),
                    None => rejected += 1,
                }
            }
            ReadyPage {
                devices,
                next_cursor: page.next_cursor,
                total_items: page.total_items,
                rejected,
            }
        },
    )
}

#[allow(clippy::too_many_arguments)]
async fn run_stream(
    client: &Client,
    store: &Arc<dyn Store>,
    console: &str,
    pass_id: i64,
    kind: PassKind,
    since: Option<&str>,
    mut s: StreamPlan,
    page_size: u32,
    done_records: &AtomicU64,
    counters: &PassCounters,
    progress: &ProgressSink,
    expected: &AtomicU64,
) -> Result<StreamPlan, SyncError> {
    let query = base_query(&s.filters);
    let mut restarted = false;
    loop {
        let (mut rx, _producer) =
            spawn_producer(client, console, query.clone(), page_size, s.cursor.clone());
        let mut first = true;
        let mut failed: Option<ApiError> = None;
        while let Some(page) = rx.recv().await {
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            };
            if first {
                expected.fetch_add(page.total_items.unwrap_or(0), Ordering::Relaxed);
            }
            first = false;
            if page.rejected > 0 {
                counters
                    .rejected
                    .fetch_add(page.rejected, Ordering::Relaxed);
                tracing::warn!(stream = %s.key, count = page.rejected, "Agents without an id were skipped.");
            }
            for d in &page.devices {
                s.max_updated_at =
                    max_timestamp(s.max_updated_at.take(), d.console_updated_at.as_deref());
            }
            s.cursor = page.next_cursor.clone();
            s.done = page.next_cursor.is_none();
            s.records += page.devices.len() as u64;
            let cp = checkpoint(console, pass_id, kind, since, &s);
            let stats = store
                .apply_device_page(console, pass_id, &page.devices, Some(&cp))
                .await?;
            counters
                .inserted
                .fetch_add(stats.inserted, Ordering::Relaxed);
            counters.updated.fetch_add(stats.updated, Ordering::Relaxed);
            let n = page.devices.len() as u64;
            let total = done_records.fetch_add(n, Ordering::Relaxed) + n;
            let hint = expected.load(Ordering::Relaxed);
            progress.emit(Progress::Page {
                feature: FEATURE,
                records: total,
                total: (hint > 0).then_some(hint),
            });
        }
        match failed {
            None => {
                if !s.done {
                    // The stream ended without a page (e.g. an empty first response).
                    s.done = true;
                    let cp = checkpoint(console, pass_id, kind, since, &s);
                    store
                        .apply_device_page(console, pass_id, &[], Some(&cp))
                        .await?;
                }
                return Ok(s);
            }
            // A saved cursor the console no longer accepts (expired): restart this stream from
            // its beginning once. Records are upserted, so re-reading loses and duplicates
            // nothing.
            Some(ApiError::Validation { .. }) if first && s.cursor.is_some() && !restarted => {
                tracing::warn!(stream = %s.key, "The saved cursor was refused; restarting this stream from the beginning.");
                restarted = true;
                s.cursor = None;
                continue;
            }
            Some(e) => return Err(SyncError::Api(e)),
        }
    }
}

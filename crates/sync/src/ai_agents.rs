//! The AI agents pass: which endpoints and users run AI coding agents, from Deep Visibility /
//! PowerQuery process events over a rolling window (7 days by default).
//!
//! * The window `[now − window − lag, now − lag)` is covered in chunks; a later run starts where
//!   the stored coverage ends. Each chunk's detections are stored together with the coverage, so
//!   an interrupted run keeps what it finished and the next run continues from there.
//! * PowerQuery (one POST and a few pings for a whole chunk) is used when available — `auto`
//!   falls back to Deep Visibility when it is not; either can be forced.
//! * Deep Visibility: `init-query` (1 per minute per token, paced by the shared limiter), poll
//!   `query-status` until a terminal state, then page `events` (a 409 right after FINISHED means
//!   "not ready yet": asked again). DV chunks are UTC days.
//! * A query that returns as many events as the cap is not trusted: its window is halved and
//!   both halves are queried again, down to `min_chunk`. Events are deduplicated by id.
//! * Every event is matched by the catalog; detections aggregate per (device, user, agent). A
//!   process run under a service or system account is attributed to the device's last logged-in
//!   user, and the detection says so.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, DurationRound, SecondsFormat, Utc};
use s1bridge_ai_agents::{Catalog, Os, Prefilter, ProcessEvent};
use s1bridge_api::dv::{DvEvent, DvInitQuery, DvState, PqRequest, PqResult};
use s1bridge_api::{ApiError, Client};
use s1bridge_store::{
    AiChunk, AiDetection, AiEvidence, DeviceFilter, MAX_EVIDENCE, Store, StoreError, UserSource,
};

use crate::{Progress, ProgressSink};

const FEATURE: &str = "ai-agents";

/// Which query API the pass uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AiQueryMethod {
    /// PowerQuery, falling back to Deep Visibility when PowerQuery is unavailable.
    #[default]
    Auto,
    PowerQuery,
    DeepVisibility,
}

impl AiQueryMethod {
    pub fn parse(s: &str) -> Result<AiQueryMethod, String> {
        match s.trim() {
            "auto" => Ok(AiQueryMethod::Auto),
            "pq" | "powerquery" => Ok(AiQueryMethod::PowerQuery),
            "dv" | "deep-visibility" => Ok(AiQueryMethod::DeepVisibility),
            other => Err(format!(
                "unknown AI query method '{other}'; use pq, dv or auto"
            )),
        }
    }
}

/// How the AI agents pass runs.
#[derive(Debug, Clone)]
pub struct AiOptions {
    pub method: AiQueryMethod,
    pub catalog: Arc<Catalog>,
    /// The rolling window (7 days).
    pub window: Duration,
    /// Deep Visibility chunk (1 day, UTC-aligned).
    pub dv_chunk: Duration,
    /// PowerQuery chunk (the whole window).
    pub pq_chunk: Duration,
    /// A window that still hits the cap at this size is taken as it is (and reported).
    pub min_chunk: Duration,
    /// Events younger than this may not be ingested yet; the window ends this long ago.
    pub ingest_lag: Duration,
    /// Longest wait between status polls (DV `query-status` allows 1 per second).
    pub poll_interval: StdDuration,
    /// A query not finished after this long is cancelled and the pass fails.
    pub query_timeout: StdDuration,
    /// Events one query may collect (DV's effective cap is 20,000).
    pub result_cap: u32,
    /// How often a "not ready" 409 is asked again before giving up.
    pub not_ready_retries: u32,
    /// The present (default: the wall clock).
    pub now: Option<DateTime<Utc>>,
}

impl Default for AiOptions {
    fn default() -> Self {
        AiOptions {
            method: AiQueryMethod::Auto,
            catalog: Arc::new(Catalog::builtin()),
            window: Duration::days(7),
            dv_chunk: Duration::days(1),
            pq_chunk: Duration::days(7),
            min_chunk: Duration::minutes(15),
            ingest_lag: Duration::minutes(10),
            poll_interval: StdDuration::from_secs(1),
            query_timeout: StdDuration::from_secs(300),
            result_cap: 20_000,
            not_ready_retries: 10,
            now: None,
        }
    }
}

/// What the pass did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AiReport {
    /// `powerquery` or `deep-visibility` (the last one used), None when nothing was queried.
    pub method: Option<&'static str>,
    pub window_from: Option<DateTime<Utc>>,
    pub window_to: Option<DateTime<Utc>>,
    pub chunks: u64,
    pub queries: u64,
    /// Windows halved because a query hit the result cap.
    pub splits: u64,
    pub events: u64,
    pub duplicate_events: u64,
    pub matched_events: u64,
    /// Detections written (new or updated) by this pass.
    pub detections: u64,
    pub notes: Vec<String>,
}

/// Why the pass stopped.
#[derive(Debug, thiserror::Error)]
pub enum AiError {
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A query ended in a failure state, timed out or could not be read.
    #[error("{0}")]
    Query(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A process event from either API, before matching.
#[derive(Debug, Clone)]
struct Sighting {
    id: Option<String>,
    time: Option<DateTime<Utc>>,
    agent_id: Option<String>,
    agent_uuid: Option<String>,
    computer_name: Option<String>,
    process: ProcessEvent,
    user: String,
}

#[derive(Debug, Clone)]
struct DeviceInfo {
    agent_id: String,
    computer_name: String,
    last_user: Option<String>,
}

fn fmt_date(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return DateTime::from_timestamp_millis(ms);
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn non_empty(s: Option<&String>) -> Option<String> {
    s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

impl Sighting {
    fn from_dv(e: &DvEvent) -> Sighting {
        let os = e
            .agent_os
            .as_deref()
            .or(e.endpoint_os.as_deref())
            .and_then(Os::from_console);
        Sighting {
            id: non_empty(e.id.as_ref()),
            time: e
                .event_time
                .as_deref()
                .or(e.created_at.as_deref())
                .and_then(parse_time),
            agent_id: non_empty(e.agent_id.as_ref()),
            agent_uuid: non_empty(e.agent_uuid.as_ref()),
            computer_name: non_empty(e.endpoint_name.as_ref().or(e.agent_name.as_ref())),
            process: ProcessEvent {
                os,
                name: e.process_name.clone().unwrap_or_default(),
                image_path: e.process_image_path.clone().unwrap_or_default(),
                cmdline: e.process_cmd.clone().unwrap_or_default(),
                parent_name: e.parent_process_name.clone().unwrap_or_default(),
            },
            user: non_empty(e.process_user_name.as_ref().or(e.user.as_ref())).unwrap_or_default(),
        }
    }

    fn from_pq(r: &PqResult) -> Vec<Sighting> {
        r.records()
            .into_iter()
            .map(|row| {
                let get = |k: &str| row.get(k).cloned().filter(|v| !v.trim().is_empty());
                Sighting {
                    id: get("eventId"),
                    time: get("eventTime").as_deref().and_then(parse_time),
                    agent_id: None,
                    agent_uuid: get("agentUuid"),
                    computer_name: get("endpointName"),
                    process: ProcessEvent {
                        os: get("endpointOs").as_deref().and_then(Os::from_console),
                        name: get("tgtProcName").unwrap_or_default(),
                        image_path: get("tgtProcImagePath").unwrap_or_default(),
                        cmdline: get("tgtProcCmdLine").unwrap_or_default(),
                        parent_name: get("srcProcName").unwrap_or_default(),
                    },
                    user: get("tgtProcUser").unwrap_or_default(),
                }
            })
            .collect()
    }

    /// The id, or the event's content when the console sent none.
    fn dedup_key(&self) -> String {
        match &self.id {
            Some(id) => id.clone(),
            None => format!(
                "{:?}\u{1f}{:?}\u{1f}{:?}\u{1f}{}\u{1f}{}",
                self.time,
                self.agent_id,
                self.agent_uuid,
                self.process.image_path,
                self.process.cmdline
            ),
        }
    }
}

/// Accounts that are not a person: the device's last logged-in user is reported instead.
pub fn is_service_account(user: &str) -> bool {
    let u = user.trim().to_lowercase();
    let base = u.rsplit(['\\', '/']).next().unwrap_or(&u);
    u.is_empty()
        || u.starts_with("nt authority\\")
        || base.starts_with('_')
        || base.ends_with('$')
        || matches!(
            base,
            "system"
                | "local service"
                | "network service"
                | "localservice"
                | "networkservice"
                | "root"
                | "daemon"
                | "nobody"
                | "ollama"
                | "www-data"
        )
}

/// Replace the text of a prompt argument (`-p "…"`, `--print "…"`, `--prompt "…"`): prompts
/// are the user's data, not evidence.
pub fn redact_prompt(cmd: &str) -> String {
    let mut out = cmd.to_string();
    for flag in [" -p \"", " --print \"", " --prompt \""] {
        let mut from = 0;
        while let Some(pos) = out[from..].find(flag) {
            let open = from + pos + flag.len();
            let Some(len) = out[open..].find('"') else {
                out.replace_range(open.., "<prompt removed>\"");
                break;
            };
            out.replace_range(open..open + len, "<prompt removed>");
            from = open + "<prompt removed>\"".len();
        }
    }
    out
}

struct Pass<'a> {
    client: &'a Client,
    opts: &'a AiOptions,
    prefilters: Vec<Prefilter>,
    report: AiReport,
    progress: &'a ProgressSink,
}

impl Pass<'_> {
    /// Sleep between polls: 200 ms, doubling up to `poll_interval`.
    fn poll_delay(&self, attempt: u32) -> StdDuration {
        let ms = 200u64.saturating_mul(1 << attempt.min(6));
        StdDuration::from_millis(ms).min(self.opts.poll_interval)
    }

    /// All matching events of `[from, to)` with one method, halving windows that hit the cap.
    async fn fetch(
        &mut self,
        method: AiQueryMethod,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Sighting>, AiError> {
        let mut out = Vec::new();
        let mut stack = vec![(from, to)];
        while let Some((f, t)) = stack.pop() {
            let mut events = Vec::new();
            let mut capped = false;
            for q in self.prefilters.clone() {
                let got = match method {
                    AiQueryMethod::DeepVisibility => self.dv_query(&q, f, t).await?,
                    _ => self.pq_query(&q, f, t).await?,
                };
                capped |= got.len() as u64 >= u64::from(self.opts.result_cap);
                events.extend(got);
            }
            if capped && t - f > self.opts.min_chunk {
                let mid = f + (t - f) / 2;
                self.report.splits += 1;
                // Earlier half first.
                stack.push((mid, t));
                stack.push((f, mid));
                continue;
            }
            if capped {
                self.report.notes.push(format!(
                    "{} .. {} still returned the result cap ({} events) at the smallest window; later events of that window may be missing",
                    fmt_date(f),
                    fmt_date(t),
                    self.opts.result_cap
                ));
            }
            out.extend(events);
        }
        Ok(out)
    }

    async fn dv_query(
        &mut self,
        q: &Prefilter,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Sighting>, AiError> {
        self.report.queries += 1;
        let created = self
            .client
            .dv_init_query(&DvInitQuery {
                query: q.dv(),
                from_date: fmt_date(from),
                to_date: fmt_date(to),
                limit: Some(self.opts.result_cap),
                query_type: vec!["events".into()],
                is_verbose: false,
                ..Default::default()
            })
            .await?;
        let id = created.query_id;
        let started = std::time::Instant::now();
        let mut attempt = 0;
        loop {
            let status = self.client.dv_query_status(&id).await?;
            match DvState::parse(status.response_state.as_deref()) {
                DvState::Finished => break,
                DvState::EmptyResults => return Ok(Vec::new()),
                DvState::Failed(state) => {
                    let detail = status
                        .response_error
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default();
                    return Err(AiError::Query(format!(
                        "the Deep Visibility query for {} .. {} ended {state}{detail}",
                        fmt_date(from),
                        fmt_date(to)
                    )));
                }
                DvState::Running(state) => {
                    if started.elapsed() >= self.opts.query_timeout {
                        // Best effort: free the console's resources.
                        let _ = self.client.dv_cancel_query(&id).await;
                        return Err(AiError::Query(format!(
                            "the Deep Visibility query was still {state} after {} s and was cancelled; try again later or with a smaller window",
                            self.opts.query_timeout.as_secs()
                        )));
                    }
                    tokio::time::sleep(self.poll_delay(attempt)).await;
                    attempt += 1;
                }
            }
        }
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        let mut seen = HashSet::new();
        let mut not_ready = 0;
        loop {
            let page = match self
                .client
                .dv_events_page(&id, 1000, cursor.as_deref())
                .await
            {
                Ok(p) => p,
                Err(e) if e.status() == Some(409) && not_ready < self.opts.not_ready_retries => {
                    tokio::time::sleep(self.poll_delay(not_ready)).await;
                    not_ready += 1;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            out.extend(page.items.iter().map(Sighting::from_dv));
            match page.next_cursor {
                None => break,
                Some(next) if !seen.insert(next.clone()) => {
                    return Err(ApiError::CursorLoop {
                        path: "/dv/events".into(),
                        cursor: next,
                    }
                    .into());
                }
                Some(next) => cursor = Some(next),
            }
        }
        Ok(out)
    }

    async fn pq_query(
        &mut self,
        q: &Prefilter,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Sighting>, AiError> {
        self.report.queries += 1;
        let mut r = self
            .client
            .pq_start(&PqRequest {
                query: q.pq(self.opts.result_cap),
                from_date: fmt_date(from),
                to_date: fmt_date(to),
                limit: Some(self.opts.result_cap),
                ..Default::default()
            })
            .await?;
        let id = r
            .query_id
            .clone()
            .ok_or_else(|| AiError::Query("the PowerQuery answer has no queryId".into()))?;
        let started = std::time::Instant::now();
        let mut attempt = 0;
        loop {
            match r.status.as_deref().map(str::trim) {
                Some("FINISHED") => return Ok(Sighting::from_pq(&r)),
                Some("RUNNING") | None => {
                    if started.elapsed() >= self.opts.query_timeout {
                        return Err(AiError::Query(format!(
                            "the PowerQuery was still running after {} s; try again later",
                            self.opts.query_timeout.as_secs()
                        )));
                    }
                    tokio::time::sleep(self.poll_delay(attempt)).await;
                    attempt += 1;
                    r = self.client.pq_ping(&id).await?;
                }
                Some(other) => {
                    return Err(AiError::Query(format!(
                        "the PowerQuery for {} .. {} ended {other}",
                        fmt_date(from),
                        fmt_date(to)
                    )));
                }
            }
        }
    }
}

/// `[from, to)` cut at multiples of `step` since the epoch (UTC days for a one-day step), or
/// every `step` from `from` when `align` is false.
fn chunks(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step: Duration,
    align: bool,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    let mut f = from;
    while f < to {
        let aligned = if align {
            f.duration_trunc(step).unwrap_or(f) + step
        } else {
            f + step
        };
        let t = aligned.min(to);
        out.push((f, t));
        f = t;
    }
    out
}

/// Run the AI agents pass for `console`.
pub async fn run_pass(
    client: &Client,
    store: &Arc<dyn Store>,
    console: &str,
    opts: &AiOptions,
    progress: &ProgressSink,
) -> Result<AiReport, AiError> {
    let now = opts.now.unwrap_or_else(Utc::now);
    let end = now - opts.ingest_lag;
    let window_start = end - opts.window;
    let start = match store.ai_coverage(console).await? {
        Some(c) if c.covered_to >= window_start => c.covered_to,
        _ => window_start,
    };
    let mut pass = Pass {
        client,
        opts,
        prefilters: opts.catalog.prefilters(),
        report: AiReport {
            window_from: Some(start),
            window_to: Some(end),
            ..AiReport::default()
        },
        progress,
    };
    if start >= end {
        return Ok(pass.report);
    }

    let devices = device_index(store, console).await?;
    let mut method = match opts.method {
        AiQueryMethod::Auto | AiQueryMethod::PowerQuery => AiQueryMethod::PowerQuery,
        AiQueryMethod::DeepVisibility => AiQueryMethod::DeepVisibility,
    };
    // DV in UTC days (research §7.1); PowerQuery in whole windows from the start.
    let split = |f, t, m: AiQueryMethod| match m {
        AiQueryMethod::DeepVisibility => chunks(f, t, opts.dv_chunk, true),
        _ => chunks(f, t, opts.pq_chunk, false),
    };
    let mut queue: std::collections::VecDeque<_> = split(start, end, method).into();
    pass.progress.emit(Progress::Started {
        feature: FEATURE,
        total: None,
        already: 0,
    });
    let mut seen_ids = HashSet::new();
    while let Some((from, to)) = queue.pop_front() {
        let events = match pass.fetch(method, from, to).await {
            Ok(e) => e,
            Err(e @ (AiError::Api(_) | AiError::Query(_)))
                if opts.method == AiQueryMethod::Auto
                    && method == AiQueryMethod::PowerQuery
                    && !matches!(e, AiError::Api(ApiError::Unauthorized { .. })) =>
            {
                pass.report.notes.push(format!(
                    "PowerQuery is not usable ({e}); used Deep Visibility instead"
                ));
                method = AiQueryMethod::DeepVisibility;
                let mut rest: Vec<_> = split(from, to, method);
                rest.extend(queue.drain(..).flat_map(|(f, t)| split(f, t, method)));
                queue = rest.into();
                continue;
            }
            Err(e) => return Err(e),
        };
        pass.report.method = Some(match method {
            AiQueryMethod::DeepVisibility => "deep-visibility",
            _ => "powerquery",
        });
        let detections = aggregate(
            &mut pass.report,
            &opts.catalog,
            &devices,
            &mut seen_ids,
            events,
        );
        let stats = store
            .apply_ai_chunk(
                console,
                &AiChunk {
                    from,
                    to,
                    detections,
                    evict_before: window_start,
                },
            )
            .await?;
        pass.report.chunks += 1;
        pass.report.detections += stats.inserted + stats.updated;
        pass.progress.emit(Progress::Page {
            feature: FEATURE,
            records: pass.report.detections,
            total: None,
        });
    }
    pass.progress.emit(Progress::Finished {
        feature: FEATURE,
        records: pass.report.detections,
    });
    Ok(pass.report)
}

/// The console's devices by agent id and by uuid.
async fn device_index(
    store: &Arc<dyn Store>,
    console: &str,
) -> Result<HashMap<String, DeviceInfo>, StoreError> {
    let all = store
        .list_devices(&DeviceFilter {
            console: Some(console.to_string()),
            include_removed: true,
            ..Default::default()
        })
        .await?;
    let mut map = HashMap::with_capacity(all.len() * 2);
    for d in all {
        let info = DeviceInfo {
            agent_id: d.agent_id.clone(),
            computer_name: d.computer_name.clone(),
            last_user: d
                .last_logged_in_user
                .clone()
                .filter(|u| !u.trim().is_empty()),
        };
        if let Some(u) = d.uuid.as_ref().filter(|u| !u.is_empty()) {
            map.insert(format!("uuid:{}", u.to_lowercase()), info.clone());
        }
        map.insert(format!("id:{}", d.agent_id), info);
    }
    Ok(map)
}

/// Match, deduplicate, attribute and aggregate one chunk's events.
fn aggregate(
    report: &mut AiReport,
    catalog: &Catalog,
    devices: &HashMap<String, DeviceInfo>,
    seen_ids: &mut HashSet<String>,
    events: Vec<Sighting>,
) -> Vec<AiDetection> {
    let mut by_key: HashMap<(String, String, String), AiDetection> = HashMap::new();
    let mut unattributed = 0u64;
    for s in events {
        report.events += 1;
        if !seen_ids.insert(s.dedup_key()) {
            report.duplicate_events += 1;
            continue;
        }
        let Some(m) = catalog.match_event(&s.process) else {
            continue;
        };
        report.matched_events += 1;
        let device = s
            .agent_id
            .as_ref()
            .and_then(|id| devices.get(&format!("id:{id}")))
            .or_else(|| {
                s.agent_uuid
                    .as_ref()
                    .and_then(|u| devices.get(&format!("uuid:{}", u.to_lowercase())))
            });
        let Some(agent_id) = device
            .map(|d| d.agent_id.clone())
            .or_else(|| s.agent_id.clone())
        else {
            unattributed += 1;
            continue;
        };
        let computer_name = device
            .map(|d| d.computer_name.clone())
            .or_else(|| s.computer_name.clone())
            .unwrap_or_default();
        let raw_user = s.user.trim().to_string();
        let (user, source, process_user) = match device.and_then(|d| d.last_user.clone()) {
            Some(last) if is_service_account(&raw_user) => (
                last,
                UserSource::DeviceLastLoggedIn,
                Some(raw_user).filter(|u| !u.is_empty()),
            ),
            _ if raw_user.is_empty() => ("unknown".to_string(), UserSource::Process, None),
            _ => (raw_user, UserSource::Process, None),
        };
        let time = s.time.unwrap_or_else(Utc::now);
        let evidence = AiEvidence {
            image_path: s.process.image_path.clone(),
            command_line: redact_prompt(&s.process.cmdline),
            parent: Some(s.process.parent_name.clone()).filter(|p| !p.is_empty()),
        };
        let key = (agent_id.clone(), user.clone(), m.agent.id().to_string());
        let d = by_key.entry(key).or_insert_with(|| AiDetection {
            console: String::new(),
            agent_name: m.agent.id().to_string(),
            display_name: m.agent.name.clone(),
            agent_id,
            computer_name,
            user,
            user_source: source,
            process_user: process_user.clone(),
            version: None,
            first_seen_at: time,
            last_seen_at: time,
            event_count: 0,
            evidence: Vec::new(),
        });
        d.event_count += 1;
        d.first_seen_at = d.first_seen_at.min(time);
        if time >= d.last_seen_at {
            d.last_seen_at = time;
            if m.version.is_some() {
                d.version = m.version.clone();
            }
        } else if d.version.is_none() {
            d.version = m.version.clone();
        }
        if d.evidence.len() < MAX_EVIDENCE
            && !d.evidence.iter().any(|e| {
                e.image_path == evidence.image_path && e.command_line == evidence.command_line
            })
        {
            d.evidence.push(evidence);
        }
    }
    if unattributed > 0 {
        report.notes.push(format!(
            "{unattributed} matching events named no device and were skipped"
        ));
    }
    let mut out: Vec<_> = by_key.into_values().collect();
    out.sort_by(|a, b| {
        (&a.agent_id, &a.user, &a.agent_name).cmp(&(&b.agent_id, &b.user, &b.agent_name))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_utc_days_and_contiguous() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let c = chunks(
            t("2026-01-01T10:00:00Z"),
            t("2026-01-03T05:00:00Z"),
            Duration::days(1),
            true,
        );
        assert_eq!(
            c,
            vec![
                (t("2026-01-01T10:00:00Z"), t("2026-01-02T00:00:00Z")),
                (t("2026-01-02T00:00:00Z"), t("2026-01-03T00:00:00Z")),
                (t("2026-01-03T00:00:00Z"), t("2026-01-03T05:00:00Z")),
            ]
        );
        let week = chunks(
            t("2026-01-01T10:00:00Z"),
            t("2026-01-08T10:00:00Z"),
            Duration::days(7),
            false,
        );
        assert_eq!(week.len(), 1);
    }

    #[test]
    fn service_accounts_and_prompts() {
        for u in [
            r"NT AUTHORITY\SYSTEM",
            "root",
            "_spotlight",
            "ollama",
            r"CORP\WS01$",
            "",
        ] {
            assert!(is_service_account(u), "{u}");
        }
        for u in [r"CORP\ann", "bob.smith", "rooter"] {
            assert!(!is_service_account(u), "{u}");
        }
        assert_eq!(
            redact_prompt(r#"claude -p "fix the secret thing" --resume"#),
            r#"claude -p "<prompt removed>" --resume"#
        );
        assert_eq!(redact_prompt("codex exec"), "codex exec");
    }
}

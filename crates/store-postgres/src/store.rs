//! `impl Store for PgStore`: consoles, sync runs, devices, checkpoints and watermarks here; the
//! findings, access, AI agent and service methods delegate to their modules.
//!
//! Every method is one transaction (single statements are their own). Readers that run several
//! statements use a read-only REPEATABLE READ transaction, so they see one snapshot. Page
//! upserts send each column as one array and insert `SELECT … FROM UNNEST(…)`: one round trip
//! per page, whatever its size.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Object, Transaction};
use s1bridge_store::{
    AccessChange, AccessChangeFilter, AccessSnapshot, AccessSyncSummary, AiChunk, AiChunkStats,
    AiCoverage, AiDetection, AiDetectionFilter, ApiKeyRecord, AuditEntry, AuditFilter, Checkpoint,
    ConsoleRecord, Device, DeviceCounts, DeviceFilter, DevicePageStats, DuplicateCandidate,
    FeatureOutcome, FeatureStatus, Finding, FindingFilter, FindingObservation, FindingPageStats,
    FindingPassSummary, FindingTransition, Grant, NewApiKey, PassKind, PassSummary, Principal,
    Result, RunStatus, Scope, SealedToken, Store, StoreError, SyncRun, Watermark, duplicate_links,
    duplicate_name, duplicate_serial,
};
use tokio_postgres::IsolationLevel;
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, Json};

use crate::{PgStore, pg_error};

/// The feature whose pass `complete_full_pass` finishes.
pub(crate) const DEVICES_FEATURE: &str = "devices";

/// Map a driver error, saying what was being done.
pub(crate) fn db(doing: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| StoreError::Backend(format!("{doing}: {}", pg_error(&e)))
}

/// Column `idx` of `row`, a type mismatch being a backend error rather than a panic.
pub(crate) fn col<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> Result<T> {
    row.try_get(idx).map_err(|e| {
        StoreError::Backend(format!(
            "reading column {idx} ({}): {e}",
            row.columns().get(idx).map_or("?", |c| c.name())
        ))
    })
}

/// A JSONB column decoded into `T`.
pub(crate) fn json_col<T: serde::de::DeserializeOwned>(row: &Row, idx: usize) -> Result<T> {
    let Json(v): Json<T> = col(row, idx)?;
    Ok(v)
}

/// Hold, until `tx` ends, the advisory lock of one `area` (`begin_run`, `findings`, `access`,
/// `ai`) of `console`, across every process sharing the database. The key is the hash of
/// `s1bridge.{area}:{console}`.
pub(crate) async fn lock_console(
    tx: &Transaction<'_>,
    area: &str,
    console: &str,
    doing: &'static str,
) -> Result<()> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('s1bridge.' || $1::text || ':' || $2::text, 0))",
        &[&area, &console],
    )
    .await
    .map_err(db(doing))?;
    Ok(())
}

/// A text column holding JSON that s1bridge wrote, decoded into `T`.
pub(crate) fn json_text_col<T: serde::de::DeserializeOwned>(row: &Row, idx: usize) -> Result<T> {
    let text: &str = col(row, idx)?;
    serde_json::from_str(text).map_err(|e| {
        StoreError::Backend(format!(
            "column {idx} ({}) does not hold the JSON s1bridge wrote: {e}",
            row.columns().get(idx).map_or("?", |c| c.name())
        ))
    })
}

pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(crate) fn bad_value(what: &str, v: &str) -> StoreError {
    StoreError::Backend(format!("the database holds an unknown {what} '{v}'"))
}

impl PgStore {
    /// A pooled connection.
    pub(crate) async fn client(&self) -> Result<Object> {
        self.pool.get().await.map_err(|e| {
            StoreError::Backend(format!(
                "no connection to PostgreSQL at {}: {e}",
                self.location
            ))
        })
    }
}

/// A read-only transaction over one snapshot (for reads made of several statements).
pub(crate) async fn snapshot<'a>(
    client: &'a mut Object,
    doing: &'static str,
) -> Result<Transaction<'a>> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(db(doing))
}

// ---------------------------------------------------------------------------------------------
// Rows

fn read_console(row: &Row) -> Result<ConsoleRecord> {
    Ok(ConsoleRecord {
        name: col(row, 0)?,
        description: col(row, 1)?,
        url: col(row, 2)?,
        mode: col(row, 3)?,
        scope: json_col(row, 4)?,
    })
}

const RUN_COLUMNS: &str = "run_id, console, status, started_at, finished_at, heartbeat_at, owner";

fn read_run(row: &Row) -> Result<SyncRun> {
    let status: String = col(row, 2)?;
    Ok(SyncRun {
        run_id: col(row, 0)?,
        console: col(row, 1)?,
        status: RunStatus::parse(&status).ok_or_else(|| bad_value("run status", &status))?,
        started_at: col(row, 3)?,
        finished_at: col(row, 4)?,
        heartbeat_at: col(row, 5)?,
        owner: col(row, 6)?,
        features: Vec::new(),
    })
}

fn read_feature(row: &Row) -> Result<FeatureOutcome> {
    let status: String = col(row, 2)?;
    Ok(FeatureOutcome {
        feature: col(row, 1)?,
        status: FeatureStatus::parse(&status)
            .ok_or_else(|| bad_value("feature status", &status))?,
        reason: col(row, 3)?,
        records: to_u64(col(row, 4)?),
        requests: to_u64(col(row, 5)?),
        retries: to_u64(col(row, 6)?),
        errors: to_u64(col(row, 7)?),
        started_at: col(row, 8)?,
        finished_at: col(row, 9)?,
    })
}

/// Attach the recorded feature outcomes to each run (in the order they were first recorded).
async fn load_features(tx: &Transaction<'_>, runs: &mut [SyncRun]) -> Result<()> {
    const DOING: &str = "reading the features of sync runs";
    if runs.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = runs.iter().map(|r| r.run_id).collect();
    let rows = tx
        .query(
            "SELECT run_id, feature, status, reason, records, requests, retries, errors,
                    started_at, finished_at
             FROM run_features WHERE run_id = ANY($1) ORDER BY run_id, seq",
            &[&ids],
        )
        .await
        .map_err(db(DOING))?;
    for row in &rows {
        let run_id: i64 = col(row, 0)?;
        if let Some(run) = runs.iter_mut().find(|r| r.run_id == run_id) {
            run.features.push(read_feature(row)?);
        }
    }
    Ok(())
}

/// The status of a run, locked for the rest of the transaction; `NotFound` when unknown.
async fn lock_run(tx: &Transaction<'_>, run_id: i64, doing: &'static str) -> Result<String> {
    tx.query_opt(
        "SELECT status FROM sync_runs WHERE run_id = $1 FOR UPDATE",
        &[&run_id],
    )
    .await
    .map_err(db(doing))?
    .map(|r| col::<String>(&r, 0))
    .transpose()?
    .ok_or_else(|| StoreError::NotFound(format!("sync run {run_id}")))
}

/// Mark a running run abandoned and its unfinished features failed, saying why.
async fn abandon(tx: &Transaction<'_>, run_id: i64, at: DateTime<Utc>, why: &str) -> Result<()> {
    const DOING: &str = "abandoning a sync run";
    tx.execute(
        "UPDATE sync_runs SET status = 'abandoned', finished_at = $2
         WHERE run_id = $1 AND status = 'running'",
        &[&run_id, &at],
    )
    .await
    .map_err(db(DOING))?;
    tx.execute(
        "UPDATE run_features SET status = 'failed', finished_at = $2,
             reason = 'the sync process stopped before this feature finished (run abandoned: '
                      || $3::text || ')'
         WHERE run_id = $1 AND status = 'running'",
        &[&run_id, &at, &why],
    )
    .await
    .map_err(db(DOING))?;
    Ok(())
}

fn pass_kind_str(kind: PassKind) -> &'static str {
    match kind {
        PassKind::Full => "full",
        PassKind::Incremental => "incremental",
    }
}

fn read_checkpoint(row: &Row) -> Result<Checkpoint> {
    let kind: String = col(row, 4)?;
    Ok(Checkpoint {
        console: col(row, 0)?,
        feature: col(row, 1)?,
        stream: col(row, 2)?,
        pass_id: col(row, 3)?,
        kind: match kind.as_str() {
            "full" => PassKind::Full,
            "incremental" => PassKind::Incremental,
            other => return Err(bad_value("pass kind", other)),
        },
        cursor: col(row, 5)?,
        done: col(row, 6)?,
        records: to_u64(col(row, 7)?),
        max_updated_at: col(row, 8)?,
        since: col(row, 9)?,
    })
}

/// Save the checkpoint of a page of `console` (if any) inside the page's transaction; one of
/// another console fails the page.
pub(crate) async fn store_checkpoint(
    tx: &Transaction<'_>,
    console: &str,
    checkpoint: Option<&Checkpoint>,
) -> Result<()> {
    const DOING: &str = "saving a checkpoint";
    let Some(cp) = checkpoint else {
        return Ok(());
    };
    if cp.console != console {
        return Err(StoreError::Backend(format!(
            "the checkpoint is for console '{}' but the page is for console '{console}'; \
             nothing from this page was stored",
            cp.console
        )));
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO checkpoints (console, feature, stream, pass_id, kind, cursor, done,
                                      records, max_updated_at, since)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (console, feature, stream) DO UPDATE SET
                 pass_id = excluded.pass_id, kind = excluded.kind, cursor = excluded.cursor,
                 done = excluded.done, records = excluded.records,
                 max_updated_at = excluded.max_updated_at, since = excluded.since",
        )
        .await
        .map_err(db(DOING))?;
    tx.execute(
        &stmt,
        &[
            &cp.console,
            &cp.feature,
            &cp.stream,
            &cp.pass_id,
            &pass_kind_str(cp.kind),
            &cp.cursor,
            &cp.done,
            &to_i64(cp.records),
            &cp.max_updated_at,
            &cp.since,
        ],
    )
    .await
    .map_err(db(DOING))?;
    Ok(())
}

async fn delete_checkpoints(
    tx: &Transaction<'_>,
    console: &str,
    feature: &str,
    doing: &'static str,
) -> Result<()> {
    tx.execute(
        "DELETE FROM checkpoints WHERE console = $1 AND feature = $2",
        &[&console, &feature],
    )
    .await
    .map_err(db(doing))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Devices

/// Device columns in [`read_device`] order; `stale` is appended by the query.
const DEVICE_COLUMNS: &str = "console, agent_id, uuid, computer_name, os_name, os_type, \
    os_revision, os_arch, agent_version, ips, macs, external_ip, last_logged_in_user, account_id, \
    account_name, site_id, site_name, group_id, group_name, machine_type, serial_number, domain, \
    model_name, network_status, infected, active_threats, last_active_at, registered_at, \
    console_updated_at, is_active, is_decommissioned, is_uninstalled, first_seen_at, \
    last_seen_at, removed_at, duplicate_of, tags";

/// `stale` for a row, given the cutoff as `$1` (NULL disables staleness).
const STALE_EXPR: &str = "(removed_at IS NULL AND NOT is_decommissioned \
    AND last_active_at IS NOT NULL AND $1::timestamptz IS NOT NULL AND last_active_at < $1)";

fn read_device(row: &Row) -> Result<Device> {
    Ok(Device {
        console: col(row, 0)?,
        agent_id: col(row, 1)?,
        uuid: col(row, 2)?,
        computer_name: col(row, 3)?,
        os_name: col(row, 4)?,
        os_type: col(row, 5)?,
        os_revision: col(row, 6)?,
        os_arch: col(row, 7)?,
        agent_version: col(row, 8)?,
        ips: json_col(row, 9)?,
        macs: json_col(row, 10)?,
        external_ip: col(row, 11)?,
        last_logged_in_user: col(row, 12)?,
        account_id: col(row, 13)?,
        account_name: col(row, 14)?,
        site_id: col(row, 15)?,
        site_name: col(row, 16)?,
        group_id: col(row, 17)?,
        group_name: col(row, 18)?,
        machine_type: col(row, 19)?,
        serial_number: col(row, 20)?,
        domain: col(row, 21)?,
        model_name: col(row, 22)?,
        network_status: col(row, 23)?,
        infected: col(row, 24)?,
        active_threats: col(row, 25)?,
        last_active_at: col(row, 26)?,
        registered_at: col(row, 27)?,
        console_updated_at: col(row, 28)?,
        is_active: col(row, 29)?,
        is_decommissioned: col(row, 30)?,
        is_uninstalled: col(row, 31)?,
        first_seen_at: col(row, 32)?,
        last_seen_at: col(row, 33)?,
        removed_at: col(row, 34)?,
        duplicate_of: col(row, 35)?,
        tags: json_col(row, 36)?,
        stale: col(row, 37)?,
    })
}

/// ?1 console, ?2 pass, then one array per column (see [`DeviceColumns`]).
const UPSERT_DEVICES: &str = "
WITH up AS (
INSERT INTO devices AS d (
    console, agent_id, uuid, computer_name, os_name, os_type, os_revision, os_arch,
    agent_version, ips, macs, tags, external_ip, last_logged_in_user, account_id, account_name,
    site_id, site_name, group_id, group_name, machine_type, serial_number, domain, model_name,
    network_status, infected, active_threats, last_active_at, registered_at, console_updated_at,
    is_active, is_decommissioned, is_uninstalled, first_seen_at, last_seen_at, last_pass_id
)
SELECT $1, u.agent_id, u.uuid, u.computer_name, u.os_name, u.os_type, u.os_revision, u.os_arch,
    u.agent_version, u.ips::jsonb, u.macs::jsonb, u.tags::jsonb, u.external_ip,
    u.last_logged_in_user, u.account_id, u.account_name, u.site_id, u.site_name, u.group_id,
    u.group_name, u.machine_type, u.serial_number, u.domain, u.model_name, u.network_status,
    u.infected, u.active_threats, u.last_active_at, u.registered_at, u.console_updated_at,
    u.is_active, u.is_decommissioned, u.is_uninstalled, u.first_seen_at, u.last_seen_at, $2
FROM UNNEST(
    $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
    $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[],
    $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[],
    $24::text[], $25::text[], $26::text[], $27::bool[], $28::int8[], $29::timestamptz[],
    $30::timestamptz[], $31::text[], $32::bool[], $33::bool[], $34::bool[], $35::timestamptz[],
    $36::timestamptz[]
) AS u(agent_id, uuid, computer_name, os_name, os_type, os_revision, os_arch, agent_version,
       ips, macs, tags, external_ip, last_logged_in_user, account_id, account_name, site_id,
       site_name, group_id, group_name, machine_type, serial_number, domain, model_name,
       network_status, infected, active_threats, last_active_at, registered_at,
       console_updated_at, is_active, is_decommissioned, is_uninstalled, first_seen_at,
       last_seen_at)
ON CONFLICT (console, agent_id) DO UPDATE SET
    uuid = excluded.uuid,
    computer_name = excluded.computer_name,
    os_name = excluded.os_name,
    os_type = excluded.os_type,
    os_revision = excluded.os_revision,
    os_arch = excluded.os_arch,
    agent_version = excluded.agent_version,
    ips = excluded.ips,
    macs = excluded.macs,
    tags = excluded.tags,
    external_ip = excluded.external_ip,
    last_logged_in_user = excluded.last_logged_in_user,
    account_id = excluded.account_id,
    account_name = excluded.account_name,
    site_id = excluded.site_id,
    site_name = excluded.site_name,
    group_id = excluded.group_id,
    group_name = excluded.group_name,
    machine_type = excluded.machine_type,
    serial_number = excluded.serial_number,
    domain = excluded.domain,
    model_name = excluded.model_name,
    network_status = excluded.network_status,
    infected = excluded.infected,
    active_threats = excluded.active_threats,
    last_active_at = excluded.last_active_at,
    registered_at = excluded.registered_at,
    console_updated_at = excluded.console_updated_at,
    is_active = excluded.is_active,
    is_decommissioned = excluded.is_decommissioned,
    is_uninstalled = excluded.is_uninstalled,
    last_seen_at = excluded.last_seen_at,
    restored_pass = CASE WHEN d.removed_at IS NOT NULL
                         THEN excluded.last_pass_id ELSE d.restored_pass END,
    removed_at = NULL,
    last_pass_id = excluded.last_pass_id
RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) FROM up";

fn json_text(list: &[String], what: &str) -> Result<String> {
    serde_json::to_string(list)
        .map_err(|e| StoreError::Backend(format!("cannot encode {what} as JSON: {e}")))
}

/// A page of devices as one array per column, a repeated agent folded into its last record
/// (keeping the first record's `last_seen_at` as `first_seen_at`, as a row inserted by the first
/// and updated by the later ones would).
struct DeviceColumns<'a> {
    text: [Vec<Option<&'a str>>; 21],
    json: [Vec<String>; 3],
    infected: Vec<bool>,
    active_threats: Vec<i64>,
    last_active_at: Vec<Option<DateTime<Utc>>>,
    registered_at: Vec<Option<DateTime<Utc>>>,
    console_updated_at: Vec<Option<&'a str>>,
    is_active: Vec<bool>,
    is_decommissioned: Vec<bool>,
    is_uninstalled: Vec<bool>,
    first_seen_at: Vec<DateTime<Utc>>,
    last_seen_at: Vec<DateTime<Utc>>,
    /// Records folded into a later one of the same agent (each an update).
    repeats: u64,
}

impl<'a> DeviceColumns<'a> {
    fn new(console: &str, devices: &'a [Device]) -> Result<Self> {
        let mut last_of: HashMap<&str, usize> = HashMap::with_capacity(devices.len());
        let mut first_of: HashMap<&str, DateTime<Utc>> = HashMap::with_capacity(devices.len());
        for (i, d) in devices.iter().enumerate() {
            if !d.console.is_empty() && d.console != console {
                return Err(StoreError::Backend(format!(
                    "device #{i} (agent {}) belongs to console '{}' but the page is for console \
                     '{console}'; nothing from this page was stored",
                    d.agent_id, d.console
                )));
            }
            if d.agent_id.is_empty() {
                return Err(StoreError::Backend(format!(
                    "device #{i} (computer '{}') of the page was rejected: an agent_id must not \
                     be empty; nothing from this page was stored",
                    d.computer_name
                )));
            }
            last_of.insert(&d.agent_id, i);
            first_of.entry(&d.agent_id).or_insert(d.last_seen_at);
        }
        let n = last_of.len();
        let mut c = DeviceColumns {
            text: std::array::from_fn(|_| Vec::with_capacity(n)),
            json: std::array::from_fn(|_| Vec::with_capacity(n)),
            infected: Vec::with_capacity(n),
            active_threats: Vec::with_capacity(n),
            last_active_at: Vec::with_capacity(n),
            registered_at: Vec::with_capacity(n),
            console_updated_at: Vec::with_capacity(n),
            is_active: Vec::with_capacity(n),
            is_decommissioned: Vec::with_capacity(n),
            is_uninstalled: Vec::with_capacity(n),
            first_seen_at: Vec::with_capacity(n),
            last_seen_at: Vec::with_capacity(n),
            repeats: (devices.len() - n) as u64,
        };
        for (i, d) in devices.iter().enumerate() {
            if last_of.get(d.agent_id.as_str()) != Some(&i) {
                continue;
            }
            let texts: [Option<&'a str>; 21] = [
                Some(d.agent_id.as_str()),
                d.uuid.as_deref(),
                Some(d.computer_name.as_str()),
                d.os_name.as_deref(),
                d.os_type.as_deref(),
                d.os_revision.as_deref(),
                d.os_arch.as_deref(),
                d.agent_version.as_deref(),
                d.external_ip.as_deref(),
                d.last_logged_in_user.as_deref(),
                d.account_id.as_deref(),
                d.account_name.as_deref(),
                d.site_id.as_deref(),
                d.site_name.as_deref(),
                d.group_id.as_deref(),
                d.group_name.as_deref(),
                d.machine_type.as_deref(),
                d.serial_number.as_deref(),
                d.domain.as_deref(),
                d.model_name.as_deref(),
                d.network_status.as_deref(),
            ];
            for (v, t) in c.text.iter_mut().zip(texts) {
                v.push(t);
            }
            c.json[0].push(json_text(&d.ips, "an address list")?);
            c.json[1].push(json_text(&d.macs, "a MAC address list")?);
            c.json[2].push(json_text(&d.tags, "a tag list")?);
            c.infected.push(d.infected);
            c.active_threats.push(d.active_threats);
            c.last_active_at.push(d.last_active_at);
            c.registered_at.push(d.registered_at);
            c.is_active.push(d.is_active);
            c.is_decommissioned.push(d.is_decommissioned);
            c.is_uninstalled.push(d.is_uninstalled);
            c.first_seen_at.push(
                first_of
                    .get(d.agent_id.as_str())
                    .copied()
                    .unwrap_or(d.last_seen_at),
            );
            c.last_seen_at.push(d.last_seen_at);
            c.console_updated_at.push(d.console_updated_at.as_deref());
        }
        Ok(c)
    }
}

/// Present devices of console $1 that pass $2 did not see, inside the scope ($3 = scope is
/// empty; $4/$5/$6 = account/site/group ids).
const UNSEEN_IN_SCOPE: &str = "console = $1 AND removed_at IS NULL AND last_pass_id <> $2
    AND ($3 OR account_id = ANY($4::text[]) OR site_id = ANY($5::text[])
            OR group_id = ANY($6::text[]))";

/// What [`recompute_duplicates`] learnt about the present devices while it had them loaded.
struct PresentSummary {
    duplicates: u64,
    /// Present devices last written by one of the given passes.
    seen: u64,
    /// Present devices that one of the given passes brought back from removed.
    restored: u64,
}

/// Recompute `duplicate_of` for the console's present devices with the shared rule
/// ([`duplicate_links`]) and write the links that changed in one statement.
async fn recompute_duplicates(
    tx: &Transaction<'_>,
    console: &str,
    passes: &[i64],
) -> Result<PresentSummary> {
    const DOING: &str = "recomputing duplicate devices";
    let rows = tx
        .query(
            "SELECT agent_id, computer_name, serial_number, macs, last_active_at, registered_at,
                    duplicate_of, last_pass_id, restored_pass
             FROM devices WHERE console = $1 AND removed_at IS NULL",
            &[&console],
        )
        .await
        .map_err(db(DOING))?;
    let mut summary = PresentSummary {
        duplicates: 0,
        seen: 0,
        restored: 0,
    };
    let mut candidates = Vec::with_capacity(rows.len());
    let mut stored_links: Vec<Option<String>> = Vec::with_capacity(rows.len());
    for r in &rows {
        let last_pass: i64 = col(r, 7)?;
        let restored_pass: Option<i64> = col(r, 8)?;
        if passes.contains(&last_pass) {
            summary.seen += 1;
        }
        if restored_pass.is_some_and(|p| passes.contains(&p)) {
            summary.restored += 1;
        }
        let name: String = col(r, 1)?;
        let serial: Option<String> = col(r, 2)?;
        let macs: Vec<String> = json_col(r, 3).unwrap_or_default();
        candidates.push(DuplicateCandidate::<DateTime<Utc>> {
            agent_id: col(r, 0)?,
            name: duplicate_name(&name),
            serial: duplicate_serial(serial.as_deref()),
            macs,
            last_active_at: col(r, 4)?,
            registered_at: col(r, 5)?,
        });
        stored_links.push(col(r, 6)?);
    }
    let links = duplicate_links(&candidates);
    let (mut ids, mut targets): (Vec<&str>, Vec<Option<&str>>) = (Vec::new(), Vec::new());
    for ((c, stored), link) in candidates.iter().zip(&stored_links).zip(&links) {
        let want = link.map(|i| candidates[i].agent_id.as_str());
        if want.is_some() {
            summary.duplicates += 1;
        }
        if want != stored.as_deref() {
            ids.push(&c.agent_id);
            targets.push(want);
        }
    }
    if !ids.is_empty() {
        tx.execute(
            "UPDATE devices d SET duplicate_of = u.target
             FROM UNNEST($2::text[], $3::text[]) AS u(agent_id, target)
             WHERE d.console = $1 AND d.agent_id = u.agent_id",
            &[&console, &ids, &targets],
        )
        .await
        .map_err(db(DOING))?;
    }
    Ok(summary)
}

// ---------------------------------------------------------------------------------------------
// The trait

#[async_trait]
impl Store for PgStore {
    async fn upsert_console(&self, console: &ConsoleRecord) -> Result<()> {
        if console.name.trim().is_empty() {
            return Err(StoreError::Backend(
                "a console needs a non-empty name; give it one with --console NAME".into(),
            ));
        }
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO consoles (name, description, url, mode, scope)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (name) DO UPDATE SET description = excluded.description,
                     url = excluded.url, mode = excluded.mode, scope = excluded.scope",
                &[
                    &console.name,
                    &console.description,
                    &console.url,
                    &console.mode,
                    &Json(&console.scope),
                ],
            )
            .await
            .map_err(db("saving a console"))?;
        Ok(())
    }

    async fn get_console(&self, name: &str) -> Result<Option<ConsoleRecord>> {
        let client = self.client().await?;
        client
            .query_opt(
                "SELECT name, description, url, mode, scope FROM consoles WHERE name = $1",
                &[&name],
            )
            .await
            .map_err(db("reading a console"))?
            .map(|r| read_console(&r))
            .transpose()
    }

    async fn list_consoles(&self) -> Result<Vec<ConsoleRecord>> {
        let client = self.client().await?;
        client
            .query(
                "SELECT name, description, url, mode, scope FROM consoles ORDER BY name",
                &[],
            )
            .await
            .map_err(db("listing consoles"))?
            .iter()
            .map(read_console)
            .collect()
    }

    async fn begin_run(
        &self,
        console: &str,
        features: &[String],
        started_at: DateTime<Utc>,
        stale_after: chrono::Duration,
    ) -> Result<i64> {
        const DOING: &str = "starting a sync run";
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db(DOING))?;
        // One begin_run per console at a time, across every process sharing the database: the
        // lock is held until this transaction ends, and the check below runs after it is taken
        // (under READ COMMITTED each statement sees what the previous holder committed).
        lock_console(&tx, "begin_run", console, DOING).await?;
        let running = tx
            .query(
                "SELECT run_id, started_at, heartbeat_at, owner FROM sync_runs
                 WHERE console = $1 AND status = 'running' ORDER BY run_id FOR UPDATE",
                &[&console],
            )
            .await
            .map_err(db(DOING))?;
        // An unrepresentable cutoff (absurd stale_after) means no run is ever stale.
        let cutoff = started_at.checked_sub_signed(stale_after);
        for row in &running {
            let run_id: i64 = col(row, 0)?;
            let run_started: DateTime<Utc> = col(row, 1)?;
            let heartbeat: Option<DateTime<Utc>> = col(row, 2)?;
            let alive_at = heartbeat.map_or(run_started, |h| h.max(run_started));
            if cutoff.is_none_or(|cutoff| alive_at > cutoff) {
                return Err(StoreError::ConsoleBusy {
                    console: console.to_string(),
                    run_id,
                    started_at: run_started,
                    owner: col(row, 3)?,
                });
            }
            tracing::warn!(
                console,
                run_id,
                last_alive = %alive_at,
                "marking a sync run abandoned: its process stopped sending heartbeats"
            );
            abandon(
                &tx,
                run_id,
                started_at,
                "its process stopped sending heartbeats",
            )
            .await?;
        }
        let run_id: i64 = col(
            &tx.query_one(
                "INSERT INTO sync_runs (console, status, started_at, planned)
                 VALUES ($1, 'running', $2, $3) RETURNING run_id",
                &[&console, &started_at, &Json(features)],
            )
            .await
            .map_err(db(DOING))?,
            0,
        )?;
        tx.commit().await.map_err(db(DOING))?;
        Ok(run_id)
    }

    async fn set_run_owner(&self, run_id: i64, owner: &str) -> Result<()> {
        const DOING: &str = "recording the owner of a sync run";
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE sync_runs SET owner = $2 WHERE run_id = $1",
                &[&run_id, &owner],
            )
            .await
            .map_err(db(DOING))?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("sync run {run_id}")));
        }
        Ok(())
    }

    async fn abandon_run(&self, run_id: i64, at: DateTime<Utc>, why: &str) -> Result<()> {
        const DOING: &str = "abandoning a sync run";
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db(DOING))?;
        lock_run(&tx, run_id, DOING).await?;
        abandon(&tx, run_id, at, why).await?;
        tx.commit().await.map_err(db(DOING))
    }

    async fn heartbeat_run(&self, run_id: i64, at: DateTime<Utc>) -> Result<()> {
        const DOING: &str = "recording a heartbeat";
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db(DOING))?;
        let status = lock_run(&tx, run_id, DOING).await?;
        if status != RunStatus::Running.as_str() {
            return Err(StoreError::NotFound(format!(
                "running sync run {run_id} (it is '{status}': it finished or another process \
                 declared it abandoned); stop this sync and start a new one"
            )));
        }
        tx.execute(
            "UPDATE sync_runs SET heartbeat_at = $2 WHERE run_id = $1",
            &[&run_id, &at],
        )
        .await
        .map_err(db(DOING))?;
        tx.commit().await.map_err(db(DOING))
    }

    async fn record_feature(&self, run_id: i64, outcome: &FeatureOutcome) -> Result<()> {
        const DOING: &str = "recording a feature outcome";
        let o = outcome;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db(DOING))?;
        lock_run(&tx, run_id, DOING).await?;
        tx.execute(
            "INSERT INTO run_features (run_id, feature, status, reason, records, requests,
                                       retries, errors, started_at, finished_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (run_id, feature) DO UPDATE SET status = excluded.status,
                 reason = excluded.reason, records = excluded.records,
                 requests = excluded.requests, retries = excluded.retries,
                 errors = excluded.errors, started_at = excluded.started_at,
                 finished_at = excluded.finished_at",
            &[
                &run_id,
                &o.feature,
                &o.status.as_str(),
                &o.reason,
                &to_i64(o.records),
                &to_i64(o.requests),
                &to_i64(o.retries),
                &to_i64(o.errors),
                &o.started_at,
                &o.finished_at,
            ],
        )
        .await
        .map_err(db(DOING))?;
        tx.commit().await.map_err(db(DOING))
    }

    async fn finish_run(
        &self,
        run_id: i64,
        status: RunStatus,
        finished_at: DateTime<Utc>,
    ) -> Result<()> {
        const DOING: &str = "finishing a sync run";
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE sync_runs SET status = $2, finished_at = $3 WHERE run_id = $1",
                &[&run_id, &status.as_str(), &finished_at],
            )
            .await
            .map_err(db(DOING))?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("sync run {run_id}")));
        }
        Ok(())
    }

    async fn get_run(&self, run_id: i64) -> Result<Option<SyncRun>> {
        const DOING: &str = "reading a sync run";
        let mut client = self.client().await?;
        let tx = snapshot(&mut client, DOING).await?;
        let mut runs = tx
            .query(
                &format!("SELECT {RUN_COLUMNS} FROM sync_runs WHERE run_id = $1"),
                &[&run_id],
            )
            .await
            .map_err(db(DOING))?
            .iter()
            .map(read_run)
            .collect::<Result<Vec<_>>>()?;
        load_features(&tx, &mut runs).await?;
        tx.commit().await.map_err(db(DOING))?;
        Ok(runs.pop())
    }

    async fn list_runs(&self, console: Option<&str>, limit: u32) -> Result<Vec<SyncRun>> {
        const DOING: &str = "listing sync runs";
        let limit = (limit > 0).then(|| i64::from(limit));
        let mut client = self.client().await?;
        let tx = snapshot(&mut client, DOING).await?;
        let mut runs = tx
            .query(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM sync_runs
                     WHERE $1::text IS NULL OR console = $1
                     ORDER BY started_at DESC, run_id DESC LIMIT $2"
                ),
                &[&console, &limit],
            )
            .await
            .map_err(db(DOING))?
            .iter()
            .map(read_run)
            .collect::<Result<Vec<_>>>()?;
        load_features(&tx, &mut runs).await?;
        tx.commit().await.map_err(db(DOING))?;
        Ok(runs)
    }

    async fn apply_device_page(
        &self,
        console: &str,
        pass_id: i64,
        devices: &[Device],
        checkpoint: Option<&Checkpoint>,
    ) -> Result<DevicePageStats> {
        const DOING: &str = "storing a page of devices";
        let cols = DeviceColumns::new(console, devices)?;
        // A checkpoint of another console is refused by `store_checkpoint`, inside the
        // transaction, which then stores nothing.
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db(DOING))?;
        let mut stats = DevicePageStats::default();
        if !devices.is_empty() {
            let stmt = tx.prepare_cached(UPSERT_DEVICES).await.map_err(db(DOING))?;
            let t = &cols.text;
            let row = tx
                .query_one(
                    &stmt,
                    &[
                        &console,
                        &pass_id,
                        &t[0],
                        &t[1],
                        &t[2],
                        &t[3],
                        &t[4],
                        &t[5],
                        &t[6],
                        &t[7],
                        &cols.json[0],
                        &cols.json[1],
                        &cols.json[2],
                        &t[8],
                        &t[9],
                        &t[10],
                        &t[11],
                        &t[12],
                        &t[13],
                        &t[14],
                        &t[15],
                        &t[16],
                        &t[17],
                        &t[18],
                        &t[19],
                        &t[20],
                        &cols.infected,
                        &cols.active_threats,
                        &cols.last_active_at,
                        &cols.registered_at,
                        &cols.console_updated_at,
                        &cols.is_active,
                        &cols.is_decommissioned,
                        &cols.is_uninstalled,
                        &cols.first_seen_at,
                        &cols.last_seen_at,
                    ],
                )
                .await
                .map_err(db(DOING))?;
            let inserted = to_u64(col(&row, 0)?);
            stats.inserted = inserted;
            stats.updated = devices.len() as u64 - inserted;
            debug_assert!(cols.repeats <= stats.updated);
        }
        store_checkpoint(&tx, console, checkpoint).await?;
        tx.commit().await.map_err(db(DOING))?;
        Ok(stats)
    }

    async fn complete_full_pass(
        &self,
        console: &str,
        pass_id: i64,
        scope: &Scope,
        at: DateTime<Utc>,
        watermark: Option<&str>,
    ) -> Result<PassSummary> {
        const DOING: &str = "completing a full pass";
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db(DOING))?;
        let newly_removed = tx
            .execute(
                &format!(
                    "UPDATE devices SET removed_at = $7, duplicate_of = NULL WHERE {UNSEEN_IN_SCOPE}"
                ),
                &[
                    &console,
                    &pass_id,
                    &scope.is_empty(),
                    &scope.account_ids,
                    &scope.site_ids,
                    &scope.group_ids,
                    &at,
                ],
            )
            .await
            .map_err(db(DOING))?;
        let present = recompute_duplicates(&tx, console, &[pass_id]).await?;
        delete_checkpoints(&tx, console, DEVICES_FEATURE, DOING).await?;
        tx.execute(
            "INSERT INTO watermarks (console, feature, value, last_full_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (console, feature) DO UPDATE SET
                 value = coalesce(excluded.value, watermarks.value),
                 last_full_at = excluded.last_full_at",
            &[&console, &DEVICES_FEATURE, &watermark, &at],
        )
        .await
        .map_err(db(DOING))?;
        tx.commit().await.map_err(db(DOING))?;
        Ok(PassSummary {
            seen: present.seen,
            newly_removed,
            restored: present.restored,
            duplicates: present.duplicates,
        })
    }

    async fn removal_candidates(
        &self,
        console: &str,
        pass_id: i64,
        scope: &Scope,
        limit: u32,
    ) -> Result<Vec<String>> {
        const DOING: &str = "listing devices a full pass did not see";
        let client = self.client().await?;
        client
            .query(
                &format!(
                    "SELECT agent_id FROM devices WHERE {UNSEEN_IN_SCOPE}
                     ORDER BY agent_id LIMIT $7"
                ),
                &[
                    &console,
                    &pass_id,
                    &scope.is_empty(),
                    &scope.account_ids,
                    &scope.site_ids,
                    &scope.group_ids,
                    &i64::from(limit),
                ],
            )
            .await
            .map_err(db(DOING))?
            .iter()
            .map(|r| col(r, 0))
            .collect()
    }

    async fn complete_incremental_pass(
        &self,
        console: &str,
        feature: &str,
        watermark: Option<&str>,
    ) -> Result<PassSummary> {
        const DOING: &str = "completing an incremental pass";
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db(DOING))?;
        let rows = tx
            .query(
                "SELECT pass_id, records FROM checkpoints WHERE console = $1 AND feature = $2",
                &[&console, &feature],
            )
            .await
            .map_err(db(DOING))?;
        let mut passes = Vec::with_capacity(rows.len());
        let mut records = 0u64;
        for r in &rows {
            passes.push(col::<i64>(r, 0)?);
            records += to_u64(col(r, 1)?);
        }
        passes.sort_unstable();
        passes.dedup();
        let present = recompute_duplicates(&tx, console, &passes).await?;
        // Device passes count the devices they wrote; other features their checkpointed records.
        let (seen, restored) = if feature == DEVICES_FEATURE {
            (present.seen, present.restored)
        } else {
            (records, 0)
        };
        delete_checkpoints(&tx, console, feature, DOING).await?;
        if let Some(value) = watermark {
            tx.execute(
                "INSERT INTO watermarks (console, feature, value) VALUES ($1, $2, $3)
                 ON CONFLICT (console, feature) DO UPDATE SET value = excluded.value",
                &[&console, &feature, &value],
            )
            .await
            .map_err(db(DOING))?;
        }
        tx.commit().await.map_err(db(DOING))?;
        Ok(PassSummary {
            seen,
            newly_removed: 0,
            restored,
            duplicates: present.duplicates,
        })
    }

    async fn load_checkpoints(&self, console: &str, feature: &str) -> Result<Vec<Checkpoint>> {
        let client = self.client().await?;
        client
            .query(
                "SELECT console, feature, stream, pass_id, kind, cursor, done, records,
                        max_updated_at, since
                 FROM checkpoints WHERE console = $1 AND feature = $2 ORDER BY stream",
                &[&console, &feature],
            )
            .await
            .map_err(db("loading checkpoints"))?
            .iter()
            .map(read_checkpoint)
            .collect()
    }

    async fn clear_checkpoints(&self, console: &str, feature: &str) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM checkpoints WHERE console = $1 AND feature = $2",
                &[&console, &feature],
            )
            .await
            .map_err(db("clearing checkpoints"))?;
        Ok(())
    }

    async fn get_watermark(&self, console: &str, feature: &str) -> Result<Option<Watermark>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT value, last_full_at FROM watermarks WHERE console = $1 AND feature = $2",
                &[&console, &feature],
            )
            .await
            .map_err(db("reading a watermark"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let value: Option<String> = col(&row, 0)?;
        let last_full_at: Option<DateTime<Utc>> = col(&row, 1)?;
        Ok(value.map(|value| Watermark {
            value,
            last_full_at,
        }))
    }

    async fn device_page(
        &self,
        console: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Device>> {
        const DOING: &str = "listing a page of devices";
        // The primary key (console, agent_id) is byte-ordered (COLLATE "C"): an index range scan.
        // Agent ids are never empty, so '' starts the walk (an `$2 IS NULL OR …` would make every
        // page scan the console from its start).
        let sql = format!(
            "SELECT {DEVICE_COLUMNS}, false AS stale FROM devices
             WHERE console = $1 AND agent_id > $2
             ORDER BY agent_id LIMIT $3"
        );
        let after = after.unwrap_or("");
        let limit: Option<i64> = (limit > 0).then_some(i64::from(limit));
        let client = self.client().await?;
        client
            .query(&sql, &[&console, &after, &limit])
            .await
            .map_err(db(DOING))?
            .iter()
            .map(read_device)
            .collect()
    }

    async fn list_devices(&self, filter: &DeviceFilter) -> Result<Vec<Device>> {
        const DOING: &str = "listing devices";
        // No cutoff (nothing stale) when disabled or before the earliest representable time.
        let cutoff: Option<DateTime<Utc>> = (filter.stale_days > 0)
            .then(|| {
                let now = filter.now.unwrap_or_else(Utc::now);
                now.checked_sub_signed(chrono::Duration::days(i64::from(filter.stale_days)))
            })
            .flatten();
        let mut sql = format!(
            "SELECT {DEVICE_COLUMNS}, {STALE_EXPR} AS stale FROM devices
             WHERE ($2::text IS NULL OR console = $2)"
        );
        if !filter.include_removed {
            sql.push_str(if filter.removed {
                " AND removed_at IS NOT NULL"
            } else {
                " AND removed_at IS NULL"
            });
        }
        if filter.only_stale {
            sql.push_str(" AND ");
            sql.push_str(STALE_EXPR);
        }
        if filter.only_duplicates {
            sql.push_str(" AND duplicate_of IS NOT NULL");
        }
        if filter.only_decommissioned {
            sql.push_str(" AND is_decommissioned");
        }
        sql.push_str(" ORDER BY computer_name, agent_id, console LIMIT $3");
        let limit = filter.limit.map(i64::from);
        let client = self.client().await?;
        client
            .query(&sql, &[&cutoff, &filter.console, &limit])
            .await
            .map_err(db(DOING))?
            .iter()
            .map(read_device)
            .collect()
    }

    async fn apply_finding_page(
        &self,
        console: &str,
        pass_id: i64,
        run_id: i64,
        at: DateTime<Utc>,
        findings: &[FindingObservation],
        checkpoint: Option<&Checkpoint>,
    ) -> Result<FindingPageStats> {
        crate::findings::apply_finding_page(
            self, console, pass_id, run_id, at, findings, checkpoint,
        )
        .await
    }

    async fn complete_finding_pass(
        &self,
        console: &str,
        pass_id: i64,
        run_id: i64,
        scope: &Scope,
        at: DateTime<Utc>,
    ) -> Result<FindingPassSummary> {
        crate::findings::complete_finding_pass(self, console, pass_id, run_id, scope, at).await
    }

    async fn agents_with_active_findings(&self, console: &str) -> Result<Vec<String>> {
        crate::findings::agents_with_active_findings(self, console).await
    }

    async fn mark_devices_removed(
        &self,
        console: &str,
        agent_ids: &[String],
        at: DateTime<Utc>,
    ) -> Result<u64> {
        const DOING: &str = "marking devices removed";
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db(DOING))?;
        let n = tx
            .execute(
                "UPDATE devices SET removed_at = $3, duplicate_of = NULL
                 WHERE console = $1 AND removed_at IS NULL AND agent_id = ANY($2::text[])",
                &[&console, &agent_ids, &at],
            )
            .await
            .map_err(db(DOING))?;
        // Links pointing at a device that is gone are stale too.
        tx.execute(
            "UPDATE devices SET duplicate_of = NULL
             WHERE console = $1 AND duplicate_of = ANY($2::text[])",
            &[&console, &agent_ids],
        )
        .await
        .map_err(db(DOING))?;
        tx.commit().await.map_err(db(DOING))?;
        Ok(n)
    }

    async fn list_findings(&self, filter: &FindingFilter) -> Result<Vec<Finding>> {
        crate::findings::list_findings(self, filter).await
    }

    async fn get_finding(&self, finding_id: &str) -> Result<Option<Finding>> {
        crate::findings::get_finding(self, finding_id).await
    }

    async fn finding_history(&self, finding_id: &str) -> Result<Vec<FindingTransition>> {
        crate::findings::finding_history(self, finding_id).await
    }

    async fn count_devices(&self, console: &str) -> Result<DeviceCounts> {
        let client = self.client().await?;
        let r = client
            .query_one(
                "SELECT count(*) FILTER (WHERE removed_at IS NULL),
                        count(*) FILTER (WHERE removed_at IS NOT NULL),
                        count(*) FILTER (WHERE removed_at IS NULL AND is_decommissioned),
                        count(*) FILTER (WHERE removed_at IS NULL AND duplicate_of IS NOT NULL)
                 FROM devices WHERE console = $1",
                &[&console],
            )
            .await
            .map_err(db("counting devices"))?;
        Ok(DeviceCounts {
            present: to_u64(col(&r, 0)?),
            removed: to_u64(col(&r, 1)?),
            decommissioned: to_u64(col(&r, 2)?),
            duplicates: to_u64(col(&r, 3)?),
        })
    }

    async fn apply_access_snapshot(
        &self,
        console: &str,
        run_id: i64,
        at: DateTime<Utc>,
        snapshot: &AccessSnapshot,
        token_warning: chrono::Duration,
    ) -> Result<AccessSyncSummary> {
        crate::access::apply_snapshot(self, console, run_id, at, snapshot, token_warning).await
    }

    async fn load_access(&self, console: &str) -> Result<AccessSnapshot> {
        crate::access::load_access(self, console).await
    }

    async fn replace_principal_grants(
        &self,
        console: &str,
        principal: &Principal,
        grants: &[Grant],
        at: DateTime<Utc>,
    ) -> Result<Vec<AccessChange>> {
        crate::access::replace_principal_grants(self, console, principal, grants, at).await
    }

    async fn list_access_changes(&self, filter: &AccessChangeFilter) -> Result<Vec<AccessChange>> {
        crate::access::list_changes(self, filter).await
    }

    async fn record_audit(&self, entry: &AuditEntry) -> Result<i64> {
        crate::access::record_audit(self, entry).await
    }

    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        crate::access::list_audit(self, filter).await
    }

    async fn apply_ai_chunk(&self, console: &str, chunk: &AiChunk) -> Result<AiChunkStats> {
        crate::ai_agents::apply_ai_chunk(self, console, chunk).await
    }

    async fn ai_coverage(&self, console: &str) -> Result<Option<AiCoverage>> {
        crate::ai_agents::ai_coverage(self, console).await
    }

    async fn list_ai_detections(&self, filter: &AiDetectionFilter) -> Result<Vec<AiDetection>> {
        crate::ai_agents::list_ai_detections(self, filter).await
    }

    async fn create_api_key(&self, key: &NewApiKey) -> Result<ApiKeyRecord> {
        crate::service::create_api_key(self, key).await
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>> {
        crate::service::api_key_by_hash(self, key_hash).await
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        crate::service::list_api_keys(self).await
    }

    async fn revoke_api_key(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        crate::service::revoke_api_key(self, id, at).await
    }

    async fn put_sealed_token(&self, token: &SealedToken) -> Result<()> {
        crate::service::put_sealed_token(self, token).await
    }

    async fn get_sealed_token(&self, console: &str) -> Result<Option<SealedToken>> {
        crate::service::get_sealed_token(self, console).await
    }

    async fn upsert_indicators(
        &self,
        console: &str,
        records: &[s1bridge_store::IndicatorUpsert],
        at: DateTime<Utc>,
    ) -> Result<s1bridge_store::IndicatorUpsertStats> {
        crate::indicators::upsert(self, console, records, at).await
    }

    async fn set_indicator_states(
        &self,
        console: &str,
        updates: &[(s1bridge_store::IndicatorRef, s1bridge_store::IndicatorState)],
        at: DateTime<Utc>,
    ) -> Result<u64> {
        crate::indicators::set_states(self, console, updates, at).await
    }

    async fn delete_indicators(
        &self,
        console: &str,
        refs: &[s1bridge_store::IndicatorRef],
    ) -> Result<u64> {
        crate::indicators::delete(self, console, refs).await
    }

    async fn list_indicators(
        &self,
        filter: &s1bridge_store::IndicatorFilter,
    ) -> Result<Vec<s1bridge_store::StoredIndicator>> {
        crate::indicators::list(self, filter).await
    }
}

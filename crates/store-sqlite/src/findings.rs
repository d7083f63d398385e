//! Vulnerability findings: page upserts, pass completion (the lifecycle decisions) and the queue.
//!
//! A finding's public id is stored as the signed 64-bit integer `fid` (the bits of
//! `FindingKey::finding_hash`); its text form is `'f' || printf('%016x', fid)`.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior};
use s1bridge_store::{
    Checkpoint, Finding, FindingFilter, FindingObservation, FindingPageStats, FindingPassSummary,
    FindingStatus, FindingTransition, PriorityFactor, Result, Scope, StoreError,
};

use super::{
    Ctx, EncodedPage, NULL_SPAN, Span, Ts, get_json, get_opt_ts, get_ts, scope_json,
    store_checkpoint,
};

/// The feature whose checkpoints findings pages write and `complete_finding_pass` clears.
pub(crate) const FINDINGS_FEATURE: &str = "vulnerabilities";

/// The findings rowid of the public id bound to ?1 (its `fid`), or NULL: indexed ids first, then
/// the findings added since the last merge (see the `finding_ids_pending` table; of two findings
/// whose ids collide, the older one keeps the id, as the merge does).
const FINDING_REF_SQL: &str = "coalesce(
    (SELECT finding_ref FROM finding_ids WHERE fid = ?1),
    (SELECT finding_ref FROM finding_ids_pending WHERE fid = ?1
     ORDER BY finding_ref LIMIT 1))";

/// Factor-set ids the writer remembers, by the sets' JSON (see `finding_factor_sets`): a page
/// looks up the few distinct sets its findings use instead of storing each finding's copy.
#[derive(Default)]
pub(crate) struct FactorSets {
    /// The `finding_factor_sets_gc` generation these ids belong to.
    generation: i64,
    ids: HashMap<Box<str>, i64, foldhash::fast::RandomState>,
}

/// Remembered sets beyond this are forgotten (all at once; they are re-read as pages need them).
const FACTOR_SETS_REMEMBERED: usize = 65_536;

impl FactorSets {
    /// The id of the stored set `json`, storing it first when no set has this JSON. `added`
    /// collects the sets this transaction looked up in the database: they are remembered only
    /// once it commits.
    fn id(
        &self,
        tx: &rusqlite::Transaction<'_>,
        json: &str,
        added: &mut HashMap<Box<str>, i64, foldhash::fast::RandomState>,
    ) -> rusqlite::Result<i64> {
        if let Some(id) = self.ids.get(json).or_else(|| added.get(json)) {
            return Ok(*id);
        }
        tx.prepare_cached(
            "INSERT INTO finding_factor_sets (factors) VALUES (?1) ON CONFLICT (factors) DO NOTHING",
        )?
        .execute([json])?;
        let id = tx
            .prepare_cached("SELECT id FROM finding_factor_sets WHERE factors = ?1")?
            .query_row([json], |r| r.get(0))?;
        added.insert(json.into(), id);
        Ok(id)
    }

    /// Forget every id when a collection ran since they were read.
    fn check_generation(&mut self, tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
        let generation: i64 = tx
            .prepare_cached("SELECT generation FROM finding_factor_sets_gc")?
            .query_row([], |r| r.get(0))?;
        if generation != self.generation {
            self.ids.clear();
            self.generation = generation;
        }
        Ok(())
    }

    fn remember(&mut self, added: HashMap<Box<str>, i64, foldhash::fast::RandomState>) {
        if self.ids.len() + added.len() > FACTOR_SETS_REMEMBERED {
            self.ids.clear();
        }
        self.ids.extend(added);
    }
}

pub(crate) use s1bridge_store::priority_rank;

fn fid_of(hash: u64) -> i64 {
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// The stored `fid` of a public finding id, or `None` when `id` is not one (`f` + 16 hex digits).
fn parse_finding_id(id: &str) -> Option<i64> {
    let hex = id.strip_prefix('f')?;
    if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok().map(fid_of)
}

/// The text columns of a finding observation, in the order they are stored in a row's spans.
mod fcol {
    pub const AGENT_ID: usize = 0;
    pub const APPLICATION: usize = 1;
    pub const APPLICATION_VERSION: usize = 2;
    pub const CVE_ID: usize = 3;
    pub const COMPUTER_NAME: usize = 4;
    pub const APPLICATION_VENDOR: usize = 5;
    pub const CONSOLE_ROW_ID: usize = 6;
    pub const VENDOR_SEVERITY: usize = 7;
    pub const CVSS_VERSION: usize = 8;
    pub const PUBLISHED_AT: usize = 9;
    pub const DETECTED_AT: usize = 10;
    pub const CONSOLE_STATUS: usize = 11;
    pub const MARK_TYPE: usize = 12;
    pub const MARKED_BY: usize = 13;
    pub const MARKED_AT: usize = 14;
    pub const MARK_REASON: usize = 15;
    pub const EXTRA: usize = 16;
    pub const PRIORITY: usize = 17;
    pub const COUNT: usize = 18;
}

struct EncodedFinding {
    text: [Span; fcol::COUNT],
    /// Index into the page's `factor_sets`.
    factor_set: usize,
    fid: i64,
    cvss_score: Option<f64>,
    days_detected: Option<i64>,
    priority_rank: i64,
    kev: bool,
}

/// A page of observations flattened into one text arena (see [`EncodedPage`]), with the JSON
/// columns, timestamps and ids already in their stored form, so that the blocking task only
/// binds and executes.
pub(crate) struct EncodedFindings {
    arena: EncodedPage,
    rows: Vec<EncodedFinding>,
    /// The JSON of each distinct factor set of the page, encoded once.
    factor_sets: Vec<Span>,
}

impl EncodedFindings {
    pub(crate) fn encode(console: &str, findings: &[FindingObservation]) -> Result<Self> {
        let mut page = EncodedFindings {
            arena: EncodedPage {
                text: String::with_capacity(findings.len() * 384),
                rows: Vec::new(),
            },
            rows: Vec::with_capacity(findings.len()),
            factor_sets: Vec::new(),
        };
        // Each distinct set once per page: recognised by identity first (findings that share
        // one list, as the sync engine hands them), else by content. The page borrows every
        // list for the whole encoding, so no address is reused while it is a key.
        let mut sets: HashMap<&[PriorityFactor], usize, foldhash::fast::RandomState> =
            HashMap::default();
        let mut by_address: HashMap<*const PriorityFactor, usize, foldhash::fast::RandomState> =
            HashMap::default();
        let mut scratch = Vec::with_capacity(256);
        for (i, f) in findings.iter().enumerate() {
            let refuse = |why: String| {
                StoreError::Backend(format!(
                    "finding #{i} (agent '{}', {} {} {}) of the page was refused: {why}; nothing \
                     from this page was stored",
                    f.key.agent_id, f.key.application, f.key.application_version, f.key.cve_id
                ))
            };
            if f.key.agent_id.is_empty() {
                return Err(refuse("its agent id is empty".to_string()));
            }
            if f.key.cve_id.is_empty() {
                return Err(refuse("its CVE id is empty".to_string()));
            }
            let priority_rank = priority_rank(&f.priority).ok_or_else(|| {
                refuse(format!(
                    "its priority '{}' is not one of critical, high, medium, low, info",
                    f.priority
                ))
            })?;
            let a = &mut page.arena;
            let mut text = [NULL_SPAN; fcol::COUNT];
            let opt = |a: &mut EncodedPage, v: &Option<String>| match v {
                Some(v) => a.push(v),
                None => Ok(NULL_SPAN),
            };
            let ts = |a: &mut EncodedPage, v: &Option<DateTime<Utc>>| match v {
                Some(t) => a.push(Ts::new(t).as_str()),
                None => Ok(NULL_SPAN),
            };
            text[fcol::AGENT_ID] = a.push(&f.key.agent_id)?;
            text[fcol::APPLICATION] = a.push(&f.key.application)?;
            text[fcol::APPLICATION_VERSION] = a.push(&f.key.application_version)?;
            text[fcol::CVE_ID] = if f.key.cve_id.bytes().any(|b| b.is_ascii_lowercase()) {
                a.push(&f.key.cve_id.to_ascii_uppercase())?
            } else {
                a.push(&f.key.cve_id)?
            };
            text[fcol::COMPUTER_NAME] = opt(a, &f.computer_name)?;
            text[fcol::APPLICATION_VENDOR] = opt(a, &f.application_vendor)?;
            text[fcol::CONSOLE_ROW_ID] = opt(a, &f.console_row_id)?;
            text[fcol::VENDOR_SEVERITY] = opt(a, &f.vendor_severity)?;
            text[fcol::CVSS_VERSION] = opt(a, &f.cvss_version)?;
            text[fcol::PUBLISHED_AT] = ts(a, &f.published_at)?;
            text[fcol::DETECTED_AT] = ts(a, &f.detected_at)?;
            text[fcol::CONSOLE_STATUS] = opt(a, &f.console_status)?;
            text[fcol::MARK_TYPE] = opt(a, &f.mark_type)?;
            text[fcol::MARKED_BY] = opt(a, &f.marked_by)?;
            text[fcol::MARKED_AT] = ts(a, &f.marked_at)?;
            text[fcol::MARK_REASON] = opt(a, &f.mark_reason)?;
            text[fcol::PRIORITY] = a.push(&f.priority)?;
            text[fcol::EXTRA] = a.push(f.extra.as_str())?;
            let address = f.factors.as_ptr();
            let factor_set = match by_address.get(&address).or_else(|| sets.get(&*f.factors)) {
                Some(&set) => {
                    by_address.insert(address, set);
                    set
                }
                None => {
                    scratch.clear();
                    serde_json::to_writer(&mut scratch, &f.factors).map_err(|e| {
                        refuse(format!(
                            "its priority factors cannot be encoded as JSON: {e}"
                        ))
                    })?;
                    let json = a.push_utf8(&scratch, "the priority factors of a finding")?;
                    page.factor_sets.push(json);
                    let set = page.factor_sets.len() - 1;
                    sets.insert(&f.factors, set);
                    by_address.insert(address, set);
                    set
                }
            };
            page.rows.push(EncodedFinding {
                text,
                factor_set,
                fid: fid_of(f.key.finding_hash(console)),
                cvss_score: f.cvss_score,
                days_detected: f.days_detected,
                priority_rank,
                kev: f.kev,
            });
        }
        Ok(page)
    }
}

/// ?1 console, ?2 fid, ?3..?6 key, ?7..?25 observation, ?26 pass, ?27 at, ?28 run.
const UPSERT_FINDING: &str = "
INSERT INTO findings (
    console, fid, agent_id, application, application_version, cve_id, computer_name,
    application_vendor, console_row_id, vendor_severity, cvss_score, cvss_version, published_at,
    detected_at, days_detected, console_status, mark_type, marked_by, marked_at, mark_reason,
    extra, priority, priority_rank, kev, factor_set, status, status_pass_id, last_pass_id,
    first_seen_at, last_seen_at, fixed_at, reopen_from, first_run_id
) VALUES (
    ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
    ?21, ?22, ?23, ?24, ?25, 'new', ?26, ?26, ?27, ?27, NULL, NULL, ?28
)
ON CONFLICT (console, agent_id, application, application_version, cve_id) DO UPDATE SET
    computer_name = excluded.computer_name,
    application_vendor = excluded.application_vendor,
    console_row_id = excluded.console_row_id,
    vendor_severity = excluded.vendor_severity,
    cvss_score = excluded.cvss_score,
    cvss_version = excluded.cvss_version,
    published_at = excluded.published_at,
    detected_at = excluded.detected_at,
    days_detected = excluded.days_detected,
    console_status = excluded.console_status,
    mark_type = excluded.mark_type,
    marked_by = excluded.marked_by,
    marked_at = excluded.marked_at,
    mark_reason = excluded.mark_reason,
    extra = excluded.extra,
    priority = excluded.priority,
    priority_rank = excluded.priority_rank,
    kev = excluded.kev,
    factor_set = excluded.factor_set,
    reopen_from = CASE WHEN status IN ('fixed', 'device_removed') THEN status
                       ELSE reopen_from END,
    last_pass_id = excluded.last_pass_id,
    last_seen_at = excluded.last_seen_at";

#[allow(clippy::too_many_arguments)]
pub(crate) fn apply_finding_page(
    conn: &mut Connection,
    console: &str,
    pass_id: i64,
    run_id: i64,
    at: &str,
    page: &EncodedFindings,
    checkpoint: Option<&Checkpoint>,
    factor_sets: &Mutex<FactorSets>,
) -> Result<FindingPageStats> {
    const DOING: &str = "storing a page of vulnerability findings";
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx(DOING)?;
    let mut stats = FindingPageStats::default();
    // Held for the whole transaction: only the writer uses it, and the writer is serial.
    let mut sets = factor_sets
        .lock()
        .map_err(|_| StoreError::Backend(format!("{DOING}: the factor-set cache is poisoned")))?;
    let mut added_sets = HashMap::default();
    if !page.rows.is_empty() {
        sets.check_generation(&tx).ctx(DOING)?;
        let set_ids = page
            .factor_sets
            .iter()
            .map(|json| sets.id(&tx, page.arena.get(*json).unwrap_or("[]"), &mut added_sets))
            .collect::<rusqlite::Result<Vec<i64>>>()
            .ctx(DOING)?;
        // Findings are never deleted and a new row gets rowid max(rowid) + 1, so the rows this
        // page inserted are exactly those above the maximum before it.
        let max_before: i64 = tx
            .query_row("SELECT coalesce(max(rowid), 0) FROM findings", [], |r| {
                r.get(0)
            })
            .ctx(DOING)?;
        {
            let mut stmt = tx.prepare_cached(UPSERT_FINDING).ctx(DOING)?;
            for (i, row) in page.rows.iter().enumerate() {
                let t = |c: usize| page.arena.get(row.text[c]);
                let factor_set = set_ids[row.factor_set];
                stmt.execute(rusqlite::params![
                    console,
                    row.fid,
                    t(fcol::AGENT_ID),
                    t(fcol::APPLICATION),
                    t(fcol::APPLICATION_VERSION),
                    t(fcol::CVE_ID),
                    t(fcol::COMPUTER_NAME),
                    t(fcol::APPLICATION_VENDOR),
                    t(fcol::CONSOLE_ROW_ID),
                    t(fcol::VENDOR_SEVERITY),
                    row.cvss_score,
                    t(fcol::CVSS_VERSION),
                    t(fcol::PUBLISHED_AT),
                    t(fcol::DETECTED_AT),
                    row.days_detected,
                    t(fcol::CONSOLE_STATUS),
                    t(fcol::MARK_TYPE),
                    t(fcol::MARKED_BY),
                    t(fcol::MARKED_AT),
                    t(fcol::MARK_REASON),
                    t(fcol::EXTRA),
                    t(fcol::PRIORITY),
                    row.priority_rank,
                    row.kev,
                    factor_set,
                    pass_id,
                    at,
                    run_id,
                ])
                .map_err(|e| match e.sqlite_error_code() {
                    Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Backend(format!(
                        "finding #{i} (agent '{}', CVE '{}') of the page was rejected ({e}); \
                             nothing from this page was stored",
                        t(fcol::AGENT_ID).unwrap_or_default(),
                        t(fcol::CVE_ID).unwrap_or_default()
                    )),
                    _ => super::db_err(DOING, e),
                })?;
            }
        }
        // New rows got the rowids above the maximum before the page, one each; their "first
        // seen" transition is implied by the row (see `finding_history`).
        let max_after: i64 = tx
            .query_row("SELECT coalesce(max(rowid), 0) FROM findings", [], |r| {
                r.get(0)
            })
            .ctx(DOING)?;
        let new = usize::try_from(max_after - max_before).unwrap_or(0);
        if new > 0 {
            // Their ids wait in `finding_ids_pending` (read back while the rows are in cache)
            // until the pass's completion merges them into `finding_ids` in id order.
            tx.prepare_cached(
                "INSERT INTO finding_ids_pending (fid, finding_ref)
                 SELECT fid, rowid FROM findings WHERE rowid > ?1 ORDER BY rowid",
            )
            .and_then(|mut s| s.execute([max_before]))
            .ctx(DOING)?;
        }
        let reopened = tx
            .prepare_cached(
                "INSERT INTO finding_transitions
                     (finding_ref, from_status, to_status, at, run_id, reason)
                 SELECT rowid, reopen_from, 'reopened', ?1, ?2,
                        CASE reopen_from WHEN 'fixed' THEN 'seen again after being fixed'
                                         ELSE 'device back' END
                 FROM findings INDEXED BY findings_reopen WHERE reopen_from IS NOT NULL",
            )
            .and_then(|mut s| s.execute(rusqlite::params![at, run_id]))
            .ctx(DOING)?;
        if reopened > 0 {
            tx.prepare_cached(
                "UPDATE findings INDEXED BY findings_reopen
                 SET status = 'reopened', status_pass_id = ?1, fixed_at = NULL, reopen_from = NULL
                 WHERE reopen_from IS NOT NULL",
            )
            .and_then(|mut s| s.execute([pass_id]))
            .ctx(DOING)?;
        }
        stats.new = new as u64;
        stats.reopened = reopened as u64;
        stats.updated = page.rows.len().saturating_sub(new + reopened) as u64;
    }
    store_checkpoint(&tx, console, checkpoint)?;
    tx.commit().ctx(DOING)?;
    sets.remember(added_sets);
    Ok(stats)
}

/// Findings of console ?1 inside the scope (?3 = scope is empty; ?4/?5/?6 = JSON arrays of
/// account/site/group ids), through their device. A finding without a device row is inside only
/// an empty scope.
const FINDING_IN_SCOPE: &str = "(?3 OR EXISTS (
    SELECT 1 FROM devices d WHERE d.console = f.console AND d.agent_id = f.agent_id
      AND (d.account_id IN (SELECT value FROM json_each(?4))
           OR d.site_id IN (SELECT value FROM json_each(?5))
           OR d.group_id IN (SELECT value FROM json_each(?6)))))";

/// Its device is present (stored and not removed).
const DEVICE_PRESENT: &str = "EXISTS (SELECT 1 FROM devices d
    WHERE d.console = f.console AND d.agent_id = f.agent_id AND d.removed_at IS NULL)";

pub(crate) fn complete_finding_pass(
    conn: &mut Connection,
    console: &str,
    pass_id: i64,
    run_id: i64,
    scope: &Scope,
    at: &str,
) -> Result<FindingPassSummary> {
    const DOING: &str = "completing a vulnerability findings pass";
    let [accounts, sites, groups] = scope_json(scope)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx(DOING)?;
    // One scan of the console's active findings decides every change and counts what the
    // summary reports (every finding this pass saw is active: a page that sees a fixed one
    // reopens it); the transitions and the status updates then go by rowid, only when there are
    // changes. Scope limits only the absence decisions: a finding the pass saw is evidence enough
    // for `open` wherever its device is.
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS finding_changes (
             finding_ref INTEGER PRIMARY KEY,
             from_status TEXT NOT NULL,
             to_status   TEXT NOT NULL
         );
         DELETE FROM temp.finding_changes;",
    )
    .ctx(DOING)?;
    let (mut seen, mut active_before) = (0u64, 0u64);
    // open, fixed, device_removed
    let mut changed = [0u64; 3];
    {
        let mut scan = tx
            .prepare_cached(&format!(
                "SELECT f.rowid, f.status, f.last_pass_id = ?2,
                        CASE WHEN f.last_pass_id = ?2
                             THEN CASE WHEN f.status IN ('new', 'reopened')
                                            AND f.status_pass_id <> ?2 THEN 'open' END
                             WHEN NOT {FINDING_IN_SCOPE} THEN NULL
                             WHEN {DEVICE_PRESENT} THEN 'fixed'
                             ELSE 'device_removed' END
                 FROM findings f
                 WHERE f.console = ?1 AND f.status IN ('new', 'open', 'reopened')"
            ))
            .ctx(DOING)?;
        let mut record = tx
            .prepare_cached(
                "INSERT INTO temp.finding_changes (finding_ref, from_status, to_status)
                 VALUES (?1, ?2, ?3)",
            )
            .ctx(DOING)?;
        let mut rows = scan
            .query(rusqlite::params![
                console,
                pass_id,
                scope.is_empty(),
                accounts,
                sites,
                groups
            ])
            .ctx(DOING)?;
        while let Some(row) = rows.next().ctx(DOING)? {
            active_before += 1;
            if row.get::<_, bool>(2).ctx(DOING)? {
                seen += 1;
            }
            let to = row.get_ref(3).ctx(DOING)?;
            let rusqlite::types::ValueRef::Text(to) = to else {
                continue;
            };
            let (slot, to) = match to {
                b"open" => (0, "open"),
                b"fixed" => (1, "fixed"),
                _ => (2, "device_removed"),
            };
            changed[slot] += 1;
            let rowid: i64 = row.get(0).ctx(DOING)?;
            let from = row.get_ref(1).ctx(DOING)?;
            let from = from
                .as_str()
                .map_err(|e| StoreError::Backend(format!("{DOING}: a status is not text: {e}")))?;
            record
                .execute(rusqlite::params![rowid, from, to])
                .ctx(DOING)?;
        }
    }
    let expected: u64 = changed.iter().sum();
    if expected > 0 {
        let written = tx
            .prepare_cached(
                "INSERT INTO finding_transitions
                     (finding_ref, from_status, to_status, at, run_id, reason)
                 SELECT c.finding_ref, c.from_status, c.to_status, ?1, ?2,
                        CASE c.to_status
                            WHEN 'open' THEN 'seen again'
                            WHEN 'fixed' THEN 'absent from a complete pass; device present'
                            ELSE 'absent; its device was removed from the console' END
                 FROM temp.finding_changes c
                 ORDER BY c.finding_ref",
            )
            .and_then(|mut s| s.execute(rusqlite::params![at, run_id]))
            .ctx(DOING)?;
        let updated = tx
            .prepare_cached(
                "UPDATE findings SET status = c.to_status, status_pass_id = ?1,
                     fixed_at = CASE WHEN c.to_status = 'fixed' THEN ?2 END
                 FROM temp.finding_changes c WHERE findings.rowid = c.finding_ref",
            )
            .and_then(|mut s| s.execute(rusqlite::params![pass_id, at]))
            .ctx(DOING)?;
        let as_u64 = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        if as_u64(written) != expected || as_u64(updated) != expected {
            return Err(StoreError::Backend(format!(
                "{DOING}: {expected} status changes were decided but {written} transitions were \
                 written and {updated} findings changed; nothing was stored"
            )));
        }
        tx.execute("DELETE FROM temp.finding_changes", [])
            .ctx(DOING)?;
    }
    let active = active_before - changed[1] - changed[2];
    tx.execute(
        "DELETE FROM checkpoints WHERE console = ?1 AND feature = ?2",
        rusqlite::params![console, FINDINGS_FEATURE],
    )
    .ctx(DOING)?;
    index_new_finding_ids(&tx)?;
    collect_factor_sets(&tx)?;
    tx.commit().ctx(DOING)?;
    Ok(FindingPassSummary {
        seen,
        opened: changed[0],
        fixed: changed[1],
        device_removed: changed[2],
        active,
    })
}

/// Add the findings stored since the last merge (`finding_ids_pending`) to `finding_ids`, in id
/// order: one sorted bulk insert instead of random inserts page by page.
fn index_new_finding_ids(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    const DOING: &str = "indexing the ids of new vulnerability findings";
    let pending: i64 = tx
        .query_row("SELECT count(*) FROM finding_ids_pending", [], |r| r.get(0))
        .ctx(DOING)?;
    if pending == 0 {
        return Ok(());
    }
    // Of two findings whose 64-bit ids collide (about 1 in 10^7 for a million findings), the
    // older one keeps the id.
    let added = tx
        .execute(
            "INSERT OR IGNORE INTO finding_ids (fid, finding_ref)
             SELECT fid, finding_ref FROM finding_ids_pending ORDER BY fid, finding_ref",
            [],
        )
        .ctx(DOING)?;
    let added = i64::try_from(added).unwrap_or(i64::MAX);
    if added != pending {
        tracing::warn!(
            colliding = pending - added,
            "vulnerability findings whose finding id collides with another finding's; \
             only the first one can be looked up by id"
        );
    }
    tx.execute("DELETE FROM finding_ids_pending", [])
        .ctx(DOING)?;
    Ok(())
}

/// Delete the factor sets no finding uses any more, once the table holds more than twice the
/// sets in use after the last collection (and a few thousand more): one scan of the findings,
/// rarely. Writers that remember set ids forget them when they see the new generation.
fn collect_factor_sets(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    const DOING: &str = "deleting priority factor sets no finding uses";
    let (stored, in_use): (i64, i64) = tx
        .query_row(
            "SELECT (SELECT count(*) FROM finding_factor_sets),
                    (SELECT in_use FROM finding_factor_sets_gc)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ctx(DOING)?;
    if stored <= 2 * in_use + FACTOR_SETS_SLACK {
        return Ok(());
    }
    tx.execute(
        "DELETE FROM finding_factor_sets
         WHERE id NOT IN (SELECT factor_set FROM findings WHERE factor_set IS NOT NULL)",
        [],
    )
    .ctx(DOING)?;
    tx.execute(
        "UPDATE finding_factor_sets_gc SET generation = generation + 1,
             in_use = (SELECT count(*) FROM finding_factor_sets)",
        [],
    )
    .ctx(DOING)?;
    Ok(())
}

/// See [`collect_factor_sets`].
const FACTOR_SETS_SLACK: i64 = 4_096;

/// Finding columns in [`read_finding`] order.
const FINDING_COLUMNS: &str = "fid, console, agent_id, computer_name, cve_id, application, \
    application_vendor, application_version, vendor_severity, cvss_score, cvss_version, \
    published_at, detected_at, days_detected, status, first_seen_at, last_seen_at, fixed_at, \
    priority, (SELECT s.factors FROM finding_factor_sets s WHERE s.id = findings.factor_set), \
    console_row_id, console_status, mark_type, marked_by, marked_at, \
    mark_reason, extra, kev";

fn finding_id_text(fid: i64) -> String {
    format!("f{:016x}", u64::from_ne_bytes(fid.to_ne_bytes()))
}

fn get_status(row: &Row<'_>, idx: usize) -> rusqlite::Result<FindingStatus> {
    let s: String = row.get(idx)?;
    FindingStatus::parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            Type::Text,
            format!("unknown finding status '{s}'").into(),
        )
    })
}

fn read_finding(row: &Row<'_>) -> rusqlite::Result<Finding> {
    Ok(Finding {
        finding_id: finding_id_text(row.get(0)?),
        console: row.get(1)?,
        agent_id: row.get(2)?,
        computer_name: row.get(3)?,
        cve_id: row.get(4)?,
        application: row.get(5)?,
        application_vendor: row.get(6)?,
        application_version: row.get(7)?,
        vendor_severity: row.get(8)?,
        cvss_score: row.get(9)?,
        cvss_version: row.get(10)?,
        published_at: get_opt_ts(row, 11)?,
        detected_at: get_opt_ts(row, 12)?,
        days_detected: row.get(13)?,
        status: get_status(row, 14)?,
        first_seen_at: get_ts(row, 15)?,
        last_seen_at: get_ts(row, 16)?,
        fixed_at: get_opt_ts(row, 17)?,
        priority: row.get(18)?,
        factors: get_json(row, 19, |s| serde_json::from_str(s))?,
        console_row_id: row.get(20)?,
        console_status: row.get(21)?,
        mark_type: row.get(22)?,
        marked_by: row.get(23)?,
        marked_at: get_opt_ts(row, 24)?,
        mark_reason: row.get(25)?,
        extra: get_json(row, 26, |s| serde_json::from_str(s))?,
        kev: row.get(27)?,
    })
}

pub(crate) fn list_findings(conn: &mut Connection, filter: &FindingFilter) -> Result<Vec<Finding>> {
    const DOING: &str = "listing vulnerability findings";
    let min_rank = filter
        .min_priority
        .as_deref()
        .map(|p| {
            priority_rank(p).ok_or_else(|| {
                StoreError::Backend(format!(
                    "{DOING}: the minimum priority '{p}' is not one of critical, high, medium, \
                     low, info"
                ))
            })
        })
        .transpose()?;
    let statuses = if filter.statuses.is_empty() {
        None
    } else {
        let names: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        Some(super::json(
            serde_json::to_string(&names),
            "the status filter",
        )?)
    };
    let limit = filter.limit.map_or(-1, i64::from);
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {FINDING_COLUMNS} FROM findings
             WHERE (?1 IS NULL OR console = ?1)
               AND (?2 IS NULL OR status IN (SELECT value FROM json_each(?2)))
               AND (?3 IS NULL OR priority_rank >= ?3)
               AND (?4 IS NULL OR cve_id = upper(?4))
               AND (?5 IS NULL OR agent_id = ?5 COLLATE NOCASE
                    OR computer_name = ?5 COLLATE NOCASE)
               AND (NOT ?6 OR kev = 1)
             ORDER BY priority_rank DESC, cvss_score IS NULL, cvss_score DESC, fid < 0, fid
             LIMIT ?7"
        ))
        .ctx(DOING)?;
    stmt.query_map(
        rusqlite::params![
            filter.console,
            statuses,
            min_rank,
            filter.cve_id,
            filter.device,
            filter.kev_only,
            limit
        ],
        read_finding,
    )
    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
    .ctx(DOING)
}

pub(crate) fn get_finding(conn: &mut Connection, finding_id: &str) -> Result<Option<Finding>> {
    let Some(fid) = parse_finding_id(finding_id) else {
        return Ok(None);
    };
    conn.prepare_cached(&format!(
        "SELECT {FINDING_COLUMNS} FROM findings WHERE rowid = {FINDING_REF_SQL}"
    ))
    .and_then(|mut s| s.query_row([fid], read_finding).optional())
    .ctx("reading a vulnerability finding")
}

pub(crate) fn finding_history(
    conn: &mut Connection,
    finding_id: &str,
) -> Result<Vec<FindingTransition>> {
    const DOING: &str = "reading the history of a vulnerability finding";
    let Some(fid) = parse_finding_id(finding_id) else {
        return Ok(Vec::new());
    };
    // The "first seen" transition is the findings row itself (first_seen_at, first_run_id);
    // every later one is a stored transition.
    let mut stmt = conn
        .prepare_cached(&format!(
            "WITH r(ref) AS (SELECT {FINDING_REF_SQL})
             SELECT NULL, 'new', f.first_seen_at, coalesce(f.first_run_id, f.status_pass_id),
                    'first seen', 0 AS ord, 0 AS seq
             FROM findings f, r WHERE f.rowid = r.ref
             UNION ALL
             SELECT t.from_status, t.to_status, t.at, t.run_id, t.reason, 1, t.rowid
             FROM finding_transitions t, r WHERE t.finding_ref = r.ref
             ORDER BY ord, 3, seq"
        ))
        .ctx(DOING)?;
    let canonical = finding_id_text(fid);
    stmt.query_map([fid], |r| {
        let from: Option<String> = r.get(0)?;
        let from = match from {
            Some(s) => Some(FindingStatus::parse(&s).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(
                    0,
                    Type::Text,
                    format!("unknown finding status '{s}'").into(),
                )
            })?),
            None => None,
        };
        Ok(FindingTransition {
            finding_id: canonical.clone(),
            from,
            to: get_status(r, 1)?,
            at: get_ts(r, 2)?,
            run_id: r.get(3)?,
            reason: r.get(4)?,
        })
    })
    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
    .ctx(DOING)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_ids_round_trip_through_the_stored_integer() {
        for hash in [
            0u64,
            1,
            0x7fff_ffff_ffff_ffff,
            0x8000_0000_0000_0000,
            u64::MAX,
        ] {
            let text = format!("f{hash:016x}");
            let fid = parse_finding_id(&text).expect("a valid id");
            assert_eq!(finding_id_text(fid), text);
        }
        assert_eq!(parse_finding_id("f123"), None);
        assert_eq!(parse_finding_id("g0000000000000000"), None);
        assert_eq!(parse_finding_id("f000000000000000z"), None);
    }

    #[test]
    fn priorities_rank_in_order() {
        let ranks: Vec<_> = ["info", "low", "medium", "high", "CRITICAL"]
            .iter()
            .map(|p| priority_rank(p))
            .collect();
        assert_eq!(ranks, vec![Some(0), Some(1), Some(2), Some(3), Some(4)]);
        assert_eq!(priority_rank("urgent"), None);
    }
}

//! Vulnerability findings: page upserts (with the reopen transitions in the same statement),
//! pass completion (the lifecycle decisions, one statement) and the queue.
//!
//! A finding's public id is stored as the signed 64-bit integer `fid` (the bits of
//! `FindingKey::finding_hash`); its text form is `'f'` + its 16 hex digits.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use s1bridge_store::{
    Checkpoint, Finding, FindingFilter, FindingObservation, FindingPageStats, FindingPassSummary,
    FindingStatus, FindingTransition, Result, Scope, StoreError, priority_rank,
};
use tokio_postgres::Row;

use crate::PgStore;
use crate::store::{bad_value, col, db, json_text_col, lock_console, store_checkpoint, to_u64};

/// The feature whose checkpoints findings pages write and `complete_finding_pass` clears.
pub(crate) const FINDINGS_FEATURE: &str = "vulnerabilities";

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

fn finding_id_text(fid: i64) -> String {
    format!("f{:016x}", u64::from_ne_bytes(fid.to_ne_bytes()))
}

/// The insert of a page's findings: $1 console, $2 pass, $3 at, $4 run, then one array per
/// column (see [`FindingColumns`]). Alone ([`INSERT_NEW_FINDINGS`]) or as the start of the upsert
/// ([`UPSERT_FINDINGS`]).
macro_rules! insert_findings {
    () => {
        "
INSERT INTO findings AS f (
    fid, console, agent_id, application, application_version, cve_id, computer_name,
    application_vendor, console_row_id, vendor_severity, cvss_score, cvss_version, published_at,
    detected_at, days_detected, console_status, mark_type, marked_by, marked_at, mark_reason,
    extra, priority, priority_rank, kev, factors, status, status_pass_id, last_pass_id,
    first_seen_at, last_seen_at, first_run_id
)
SELECT u.fid, $1, u.agent_id, u.application, u.application_version, u.cve_id, u.computer_name,
    u.application_vendor, u.console_row_id, u.vendor_severity, u.cvss_score, u.cvss_version,
    u.published_at, u.detected_at, u.days_detected, u.console_status, u.mark_type, u.marked_by,
    u.marked_at, u.mark_reason, u.extra, u.priority, u.priority_rank, u.kev,
    u.factors, 'new', $2, $2, $3, $3, $4
FROM UNNEST(
    $5::int8[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
    $12::text[], $13::text[], $14::float8[], $15::text[], $16::timestamptz[],
    $17::timestamptz[], $18::int8[], $19::text[], $20::text[], $21::text[],
    $22::timestamptz[], $23::text[], $24::text[], $25::text[], $26::int2[], $27::bool[],
    $28::text[]
) AS u(fid, agent_id, application, application_version, cve_id, computer_name,
       application_vendor, console_row_id, vendor_severity, cvss_score, cvss_version,
       published_at, detected_at, days_detected, console_status, mark_type, marked_by,
       marked_at, mark_reason, extra, priority, priority_rank, kev, factors)"
    };
}

/// A page of findings none of which is stored yet (the console's first pass): a plain insert.
/// Without `ON CONFLICT` the server checks the unique key once, while inserting, instead of
/// probing it first and then inserting (a third less server work per row, measured); a row that
/// is stored after all fails the whole statement with a unique violation, and the page is then
/// stored again with [`UPSERT_FINDINGS`].
const INSERT_NEW_FINDINGS: &str = insert_findings!();

/// The upsert of a page. Returns (inserted, reopened); reopened findings get their transition in
/// the same statement.
const UPSERT_FINDINGS: &str = concat!(
    "WITH up AS (",
    insert_findings!(),
    "
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
    factors = excluded.factors,
    status = CASE WHEN f.status IN ('fixed', 'device_removed') THEN 'reopened' ELSE f.status END,
    status_pass_id = CASE WHEN f.status IN ('fixed', 'device_removed')
                          THEN excluded.last_pass_id ELSE f.status_pass_id END,
    fixed_at = CASE WHEN f.status IN ('fixed', 'device_removed') THEN NULL ELSE f.fixed_at END,
    reopen_from = CASE WHEN f.status IN ('fixed', 'device_removed') THEN f.status END,
    last_pass_id = excluded.last_pass_id,
    last_seen_at = excluded.last_seen_at
RETURNING f.id, (f.xmax = 0) AS inserted, f.reopen_from
), reopened AS (
INSERT INTO finding_transitions (finding_ref, from_status, to_status, at, run_id, reason)
SELECT id, reopen_from, 'reopened', $3, $4,
       CASE reopen_from WHEN 'fixed' THEN 'seen again after being fixed' ELSE 'device back' END
FROM up WHERE reopen_from IS NOT NULL
ORDER BY id
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE reopen_from IS NOT NULL) FROM up"
);

/// A page of observations as one array per column, a repeated key folded into its last
/// observation (each repeat counts as an update, as a row upserted twice would).
struct FindingColumns<'a> {
    fid: Vec<i64>,
    /// agent_id, application, application_version, cve_id (upper case) then the optional text
    /// columns, in the statement's order.
    key: [Vec<&'a str>; 3],
    cve_id: Vec<String>,
    text: [Vec<Option<&'a str>>; 9],
    cvss_score: Vec<Option<f64>>,
    published_at: Vec<Option<DateTime<Utc>>>,
    detected_at: Vec<Option<DateTime<Utc>>>,
    days_detected: Vec<Option<i64>>,
    marked_at: Vec<Option<DateTime<Utc>>>,
    extra: Vec<String>,
    priority: Vec<&'a str>,
    priority_rank: Vec<i16>,
    kev: Vec<bool>,
    factors: Vec<String>,
}

impl<'a> FindingColumns<'a> {
    fn new(console: &str, findings: &'a [FindingObservation]) -> Result<Self> {
        let mut last_of: HashMap<(&str, &str, &str, String), usize> =
            HashMap::with_capacity(findings.len());
        let mut ranks = Vec::with_capacity(findings.len());
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
            let rank = priority_rank(&f.priority).ok_or_else(|| {
                refuse(format!(
                    "its priority '{}' is not one of critical, high, medium, low, info",
                    f.priority
                ))
            })?;
            ranks.push(rank as i16);
            last_of.insert(
                (
                    f.key.agent_id.as_str(),
                    f.key.application.as_str(),
                    f.key.application_version.as_str(),
                    f.key.cve_id.to_ascii_uppercase(),
                ),
                i,
            );
        }
        let n = last_of.len();
        let mut keep: Vec<usize> = last_of.into_values().collect();
        // Page order (the order rows are inserted, hence their ids).
        keep.sort_unstable();
        let mut c = FindingColumns {
            fid: Vec::with_capacity(n),
            key: std::array::from_fn(|_| Vec::with_capacity(n)),
            cve_id: Vec::with_capacity(n),
            text: std::array::from_fn(|_| Vec::with_capacity(n)),
            cvss_score: Vec::with_capacity(n),
            published_at: Vec::with_capacity(n),
            detected_at: Vec::with_capacity(n),
            days_detected: Vec::with_capacity(n),
            marked_at: Vec::with_capacity(n),
            extra: Vec::with_capacity(n),
            priority: Vec::with_capacity(n),
            priority_rank: Vec::with_capacity(n),
            kev: Vec::with_capacity(n),
            factors: Vec::with_capacity(n),
        };
        for i in keep {
            let f = &findings[i];
            let encode = |v: serde_json::Result<String>, what: &str| {
                v.map_err(|e| {
                    StoreError::Backend(format!(
                        "finding #{i}: its {what} cannot be encoded as JSON: {e}; nothing from \
                         this page was stored"
                    ))
                })
            };
            c.fid.push(fid_of(f.key.finding_hash(console)));
            c.key[0].push(&f.key.agent_id);
            c.key[1].push(&f.key.application);
            c.key[2].push(&f.key.application_version);
            c.cve_id.push(f.key.cve_id.to_ascii_uppercase());
            let texts = [
                f.computer_name.as_deref(),
                f.application_vendor.as_deref(),
                f.console_row_id.as_deref(),
                f.vendor_severity.as_deref(),
                f.cvss_version.as_deref(),
                f.console_status.as_deref(),
                f.mark_type.as_deref(),
                f.marked_by.as_deref(),
                f.mark_reason.as_deref(),
            ];
            for (v, t) in c.text.iter_mut().zip(texts) {
                v.push(t);
            }
            c.cvss_score.push(f.cvss_score);
            c.published_at.push(f.published_at);
            c.detected_at.push(f.detected_at);
            c.days_detected.push(f.days_detected);
            c.marked_at.push(f.marked_at);
            c.extra.push(f.extra.as_str().to_string());
            c.priority.push(&f.priority);
            c.priority_rank.push(ranks[i]);
            c.kev.push(f.kev);
            c.factors.push(encode(
                serde_json::to_string(&f.factors),
                "priority factors",
            )?);
        }
        Ok(c)
    }
}

pub(crate) async fn apply_finding_page(
    store: &PgStore,
    console: &str,
    pass_id: i64,
    run_id: i64,
    at: DateTime<Utc>,
    findings: &[FindingObservation],
    checkpoint: Option<&Checkpoint>,
) -> Result<FindingPageStats> {
    let cols = FindingColumns::new(console, findings)?;
    let fresh = store.fresh_finding_pass(console, pass_id);
    let outcome = match store_finding_page(
        store, console, pass_id, run_id, at, &cols, checkpoint, fresh,
    )
    .await
    {
        Ok(outcome) => outcome,
        // A row of the page was stored after all (the page repeats a key of an earlier
        // page, or another process stored this console's findings meanwhile): the
        // transaction was rolled back; store the page again as an upsert and stop
        // inserting plainly in this pass.
        Err(PageError::AlreadyStored) => {
            store.note_finding_pass(console, pass_id, false);
            store_finding_page(
                store,
                console,
                pass_id,
                run_id,
                at,
                &cols,
                checkpoint,
                Some(false),
            )
            .await
            .map_err(PageError::into_store)?
        }
        Err(PageError::Store(e)) => return Err(e),
    };
    if fresh.is_none() {
        store.note_finding_pass(console, pass_id, outcome.checked_fresh);
    }
    Ok(outcome.page(findings.len()))
}

/// Why an attempt at storing a page failed.
enum PageError {
    /// A plain insert met a finding that is stored already.
    AlreadyStored,
    Store(StoreError),
}

impl PageError {
    fn into_store(self) -> StoreError {
        match self {
            PageError::AlreadyStored => StoreError::Backend(
                "storing a page of vulnerability findings: a finding of the page is stored \
                 already; nothing from this page was stored"
                    .to_string(),
            ),
            PageError::Store(e) => e,
        }
    }
}

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}

/// What one attempt at storing a page found.
struct PageOutcome {
    new: u64,
    reopened: u64,
    /// Whether the console held no findings before this page (only asked on a pass's first
    /// page in this process, else `false`).
    checked_fresh: bool,
}

impl PageOutcome {
    fn page(&self, observations: usize) -> FindingPageStats {
        FindingPageStats {
            new: self.new,
            reopened: self.reopened,
            updated: (observations as u64).saturating_sub(self.new + self.reopened),
        }
    }
}

impl PgStore {
    /// Whether pages of `pass_id` of `console` are plain inserts (`Some(true)`), upserts
    /// (`Some(false)`), or not yet known (`None`: the pass's first page in this process).
    fn fresh_finding_pass(&self, console: &str, pass_id: i64) -> Option<bool> {
        self.fresh_finding_passes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(console)
            .filter(|(pass, _)| *pass == pass_id)
            .map(|&(_, fresh)| fresh)
    }

    fn note_finding_pass(&self, console: &str, pass_id: i64, fresh: bool) {
        self.fresh_finding_passes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(console.to_string(), (pass_id, fresh));
    }
}

/// One transaction storing a page: plain inserts when `fresh` is `Some(true)`, upserts when
/// `Some(false)`, and when `None` upserts after asking whether the console holds any findings.
#[allow(clippy::too_many_arguments)]
async fn store_finding_page(
    store: &PgStore,
    console: &str,
    pass_id: i64,
    run_id: i64,
    at: DateTime<Utc>,
    cols: &FindingColumns<'_>,
    checkpoint: Option<&Checkpoint>,
    fresh: Option<bool>,
) -> std::result::Result<PageOutcome, PageError> {
    const DOING: &str = "storing a page of vulnerability findings";
    let failed = |e: tokio_postgres::Error| {
        if fresh == Some(true) && is_unique_violation(&e) {
            PageError::AlreadyStored
        } else {
            PageError::Store(db(DOING)(e))
        }
    };
    let mut client = store.client().await.map_err(PageError::Store)?;
    let tx = client.transaction().await.map_err(failed)?;
    let mut out = PageOutcome {
        new: 0,
        reopened: 0,
        checked_fresh: false,
    };
    if !cols.fid.is_empty() {
        // Shared with other pages; excludes `index_new_finding_ids` (see there).
        tx.execute(
            "SELECT pg_advisory_xact_lock_shared($1)",
            &[&FINDING_IDS_LOCK],
        )
        .await
        .map_err(failed)?;
        if fresh.is_none() {
            out.checked_fresh = tx
                .query_one(
                    "SELECT NOT EXISTS (SELECT 1 FROM findings WHERE console = $1)",
                    &[&console],
                )
                .await
                .map_err(failed)?
                .get(0);
        }
        let sql = if fresh == Some(true) {
            INSERT_NEW_FINDINGS
        } else {
            UPSERT_FINDINGS
        };
        let stmt = tx.prepare_cached(sql).await.map_err(failed)?;
        let t = &cols.text;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 28] = [
            &console,
            &pass_id,
            &at,
            &run_id,
            &cols.fid,
            &cols.key[0],
            &cols.key[1],
            &cols.key[2],
            &cols.cve_id,
            &t[0],
            &t[1],
            &t[2],
            &t[3],
            &cols.cvss_score,
            &t[4],
            &cols.published_at,
            &cols.detected_at,
            &cols.days_detected,
            &t[5],
            &t[6],
            &t[7],
            &cols.marked_at,
            &t[8],
            &cols.extra,
            &cols.priority,
            &cols.priority_rank,
            &cols.kev,
            &cols.factors,
        ];
        if fresh == Some(true) {
            out.new = tx.execute(&stmt, &params).await.map_err(failed)?;
        } else {
            let row = tx.query_one(&stmt, &params).await.map_err(failed)?;
            out.new = to_u64(col(&row, 0).map_err(PageError::Store)?);
            out.reopened = to_u64(col(&row, 1).map_err(PageError::Store)?);
        }
    }
    store_checkpoint(&tx, console, checkpoint)
        .await
        .map_err(PageError::Store)?;
    tx.commit().await.map_err(failed)?;
    Ok(out)
}

/// The lifecycle decisions of a complete pass, their transitions and the counts per new status,
/// in one statement. $1 console, $2 pass, $3 at, $4 run, $5 scope is empty, $6/$7/$8 the scope's
/// account/site/group ids. Scope limits only the absence decisions: a finding the pass saw is
/// evidence enough for `open` wherever its device is.
const COMPLETE_FINDINGS: &str = "
WITH ch AS (
    SELECT f.ctid AS tid, f.id, f.status AS from_status,
           CASE WHEN f.last_pass_id = $2 THEN 'open'
                WHEN EXISTS (SELECT 1 FROM devices d
                             WHERE d.console = f.console AND d.agent_id = f.agent_id
                               AND d.removed_at IS NULL) THEN 'fixed'
                ELSE 'device_removed' END AS to_status
    FROM findings f
    WHERE f.console = $1 AND f.status IN ('new', 'open', 'reopened')
      AND CASE WHEN f.last_pass_id = $2
               THEN f.status IN ('new', 'reopened') AND f.status_pass_id <> $2
               ELSE ($5 OR EXISTS (
                   SELECT 1 FROM devices d WHERE d.console = f.console AND d.agent_id = f.agent_id
                     AND (d.account_id = ANY($6::text[]) OR d.site_id = ANY($7::text[])
                          OR d.group_id = ANY($8::text[])))) END
), upd AS (
    UPDATE findings f SET status = ch.to_status, status_pass_id = $2,
        fixed_at = CASE WHEN ch.to_status = 'fixed' THEN $3::timestamptz END
    FROM ch WHERE f.ctid = ch.tid
    RETURNING ch.id, ch.from_status, ch.to_status
), tr AS (
    INSERT INTO finding_transitions (finding_ref, from_status, to_status, at, run_id, reason)
    SELECT id, from_status, to_status, $3, $4,
           CASE to_status
               WHEN 'open' THEN 'seen again'
               WHEN 'fixed' THEN 'absent from a complete pass; device present'
               ELSE 'absent; its device was removed from the console' END
    FROM upd ORDER BY id
)
SELECT to_status, count(*) FROM upd GROUP BY to_status";

pub(crate) async fn complete_finding_pass(
    store: &PgStore,
    console: &str,
    pass_id: i64,
    run_id: i64,
    scope: &Scope,
    at: DateTime<Utc>,
) -> Result<FindingPassSummary> {
    const DOING: &str = "completing a vulnerability findings pass";
    let mut client = store.client().await?;
    let tx = client.transaction().await.map_err(db(DOING))?;
    // Pages and completions of one console's findings do not interleave (one sync per console);
    // the lock keeps it so even if two processes disagree.
    lock_console(&tx, "findings", console, DOING).await?;
    let rows = tx
        .query(
            COMPLETE_FINDINGS,
            &[
                &console,
                &pass_id,
                &at,
                &run_id,
                &scope.is_empty(),
                &scope.account_ids,
                &scope.site_ids,
                &scope.group_ids,
            ],
        )
        .await
        .map_err(db(DOING))?;
    let mut summary = FindingPassSummary::default();
    for r in &rows {
        let to: String = col(r, 0)?;
        let n = to_u64(col(r, 1)?);
        match to.as_str() {
            "open" => summary.opened = n,
            "fixed" => summary.fixed = n,
            _ => summary.device_removed = n,
        }
    }
    let counts = tx
        .query_one(
            "SELECT count(*) FILTER (WHERE last_pass_id = $2),
                    count(*) FILTER (WHERE status IN ('new', 'open', 'reopened'))
             FROM findings WHERE console = $1",
            &[&console, &pass_id],
        )
        .await
        .map_err(db(DOING))?;
    summary.seen = to_u64(col(&counts, 0)?);
    summary.active = to_u64(col(&counts, 1)?);
    tx.execute(
        "DELETE FROM checkpoints WHERE console = $1 AND feature = $2",
        &[&console, &FINDINGS_FEATURE],
    )
    .await
    .map_err(db(DOING))?;
    index_new_finding_ids(&tx).await?;
    tx.commit().await.map_err(db(DOING))?;
    Ok(summary)
}

/// Key of the advisory lock between finding pages (shared) and the bulk id indexing
/// (exclusive): while the indexer holds it no page is in flight, so every finding id allocated
/// before it is committed or rolled back, and every one allocated after it is above the new
/// `upto` ("s1bfid" in ASCII).
const FINDING_IDS_LOCK: i64 = 0x7331_6266_6964;

/// Add the findings stored since the last merge to `finding_ids`, sorted by public id (one bulk
/// insert instead of a random index insert per row and page).
async fn index_new_finding_ids(tx: &deadpool_postgres::Transaction<'_>) -> Result<()> {
    const DOING: &str = "indexing the ids of new vulnerability findings";
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&FINDING_IDS_LOCK])
        .await
        .map_err(db(DOING))?;
    let row = tx
        .query_one(
            "WITH bounds AS (
                 SELECT (SELECT upto FROM finding_ids_upto) AS upto,
                        (SELECT coalesce(max(id), 0) FROM findings) AS max
             ), added AS (
                 INSERT INTO finding_ids (fid, finding_ref)
                 SELECT f.fid, f.id FROM findings f, bounds b
                 WHERE f.id > b.upto AND f.id <= b.max
                 ORDER BY f.fid, f.id
                 ON CONFLICT (fid) DO NOTHING
                 RETURNING 1
             ), moved AS (
                 UPDATE finding_ids_upto SET upto = (SELECT max FROM bounds)
                 WHERE (SELECT max FROM bounds) > upto
                 RETURNING 1
             )
             SELECT (SELECT count(*) FROM added),
                    (SELECT count(*) FROM findings f, bounds b
                     WHERE f.id > b.upto AND f.id <= b.max),
                    (SELECT count(*) FROM moved)",
            &[],
        )
        .await
        .map_err(db(DOING))?;
    let (added, pending): (i64, i64) = (col(&row, 0)?, col(&row, 1)?);
    if added != pending {
        // Two keys whose 64-bit ids collide (about 1 in 10^7 for a million findings): the
        // first one keeps the id.
        tracing::warn!(
            colliding = pending - added,
            "vulnerability findings whose finding id collides with another finding's; \
             only the first one can be looked up by id"
        );
    }
    Ok(())
}

/// The findings row id of public id `$1`: indexed ids first, then the findings added since the
/// last merge (the first one stored keeps a colliding id).
const FINDING_REF_SQL: &str = "coalesce(
    (SELECT finding_ref FROM finding_ids WHERE fid = $1),
    (SELECT min(id) FROM findings
     WHERE id > (SELECT upto FROM finding_ids_upto) AND fid = $1))";

pub(crate) async fn agents_with_active_findings(
    store: &PgStore,
    console: &str,
) -> Result<Vec<String>> {
    store
        .client()
        .await?
        .query(
            "SELECT DISTINCT agent_id FROM findings
             WHERE console = $1 AND status IN ('new', 'open', 'reopened') ORDER BY agent_id",
            &[&console],
        )
        .await
        .map_err(db("listing agents with active findings"))?
        .iter()
        .map(|r| col(r, 0))
        .collect()
}

/// Finding columns in [`read_finding`] order.
const FINDING_COLUMNS: &str = "fid, console, agent_id, computer_name, cve_id, application, \
    application_vendor, application_version, vendor_severity, cvss_score, cvss_version, \
    published_at, detected_at, days_detected, status, first_seen_at, last_seen_at, fixed_at, \
    priority, factors, console_row_id, console_status, mark_type, marked_by, marked_at, \
    mark_reason, extra, kev";

fn status(s: &str) -> Result<FindingStatus> {
    FindingStatus::parse(s).ok_or_else(|| bad_value("finding status", s))
}

fn read_finding(row: &Row) -> Result<Finding> {
    Ok(Finding {
        finding_id: finding_id_text(col(row, 0)?),
        console: col(row, 1)?,
        agent_id: col(row, 2)?,
        computer_name: col(row, 3)?,
        cve_id: col(row, 4)?,
        application: col(row, 5)?,
        application_vendor: col(row, 6)?,
        application_version: col(row, 7)?,
        vendor_severity: col(row, 8)?,
        cvss_score: col(row, 9)?,
        cvss_version: col(row, 10)?,
        published_at: col(row, 11)?,
        detected_at: col(row, 12)?,
        days_detected: col(row, 13)?,
        status: status(col(row, 14)?)?,
        first_seen_at: col(row, 15)?,
        last_seen_at: col(row, 16)?,
        fixed_at: col(row, 17)?,
        priority: col(row, 18)?,
        factors: json_text_col(row, 19)?,
        console_row_id: col(row, 20)?,
        console_status: col(row, 21)?,
        mark_type: col(row, 22)?,
        marked_by: col(row, 23)?,
        marked_at: col(row, 24)?,
        mark_reason: col(row, 25)?,
        extra: json_text_col(row, 26)?,
        kev: col(row, 27)?,
    })
}

pub(crate) async fn list_findings(store: &PgStore, filter: &FindingFilter) -> Result<Vec<Finding>> {
    const DOING: &str = "listing vulnerability findings";
    let min_rank = filter
        .min_priority
        .as_deref()
        .map(|p| {
            priority_rank(p).map(|r| r as i16).ok_or_else(|| {
                StoreError::Backend(format!(
                    "{DOING}: the minimum priority '{p}' is not one of critical, high, medium, \
                     low, info"
                ))
            })
        })
        .transpose()?;
    let statuses: Option<Vec<&str>> =
        (!filter.statuses.is_empty()).then(|| filter.statuses.iter().map(|s| s.as_str()).collect());
    let limit = filter.limit.map(i64::from);
    let client = store.client().await?;
    client
        .query(
            &format!(
                "SELECT {FINDING_COLUMNS} FROM findings
                 WHERE ($1::text IS NULL OR console = $1)
                   AND ($2::text[] IS NULL OR status = ANY($2))
                   AND ($3::int2 IS NULL OR priority_rank >= $3)
                   AND ($4::text IS NULL OR cve_id = upper($4))
                   AND ($5::text IS NULL OR lower(agent_id) = lower($5)
                        OR lower(computer_name) = lower($5))
                   AND (NOT $6 OR kev)
                 ORDER BY priority_rank DESC, cvss_score DESC NULLS LAST, fid < 0, fid
                 LIMIT $7"
            ),
            &[
                &filter.console,
                &statuses,
                &min_rank,
                &filter.cve_id,
                &filter.device,
                &filter.kev_only,
                &limit,
            ],
        )
        .await
        .map_err(db(DOING))?
        .iter()
        .map(read_finding)
        .collect()
}

pub(crate) async fn get_finding(store: &PgStore, finding_id: &str) -> Result<Option<Finding>> {
    let Some(fid) = parse_finding_id(finding_id) else {
        return Ok(None);
    };
    store
        .client()
        .await?
        .query_opt(
            &format!("SELECT {FINDING_COLUMNS} FROM findings WHERE id = {FINDING_REF_SQL}"),
            &[&fid],
        )
        .await
        .map_err(db("reading a vulnerability finding"))?
        .map(|r| read_finding(&r))
        .transpose()
}

pub(crate) async fn finding_history(
    store: &PgStore,
    finding_id: &str,
) -> Result<Vec<FindingTransition>> {
    const DOING: &str = "reading the history of a vulnerability finding";
    let Some(fid) = parse_finding_id(finding_id) else {
        return Ok(Vec::new());
    };
    // The "first seen" transition is the findings row itself (first_seen_at, first_run_id);
    // every later one is a stored transition.
    let rows = store
        .client()
        .await?
        .query(
            &format!(
                "WITH r AS (SELECT id, first_seen_at, first_run_id FROM findings
                        WHERE id = {FINDING_REF_SQL})
             SELECT NULL::text, 'new'::text, r.first_seen_at, r.first_run_id, 'first seen'::text,
                    0 AS ord, 0::int8 AS seq
             FROM r
             UNION ALL
             SELECT t.from_status, t.to_status, t.at, t.run_id, t.reason, 1, t.seq
             FROM finding_transitions t, r WHERE t.finding_ref = r.id
             ORDER BY ord, 3, seq"
            ),
            &[&fid],
        )
        .await
        .map_err(db(DOING))?;
    let canonical = finding_id_text(fid);
    rows.iter()
        .map(|r| {
            let from: Option<String> = col(r, 0)?;
            Ok(FindingTransition {
                finding_id: canonical.clone(),
                from: from.as_deref().map(status).transpose()?,
                to: status(col(r, 1)?)?,
                at: col(r, 2)?,
                run_id: col(r, 3)?,
                reason: col(r, 4)?,
            })
        })
        .collect()
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
        assert_eq!(parse_finding_id("f000000000000000z"), None);
    }
}
